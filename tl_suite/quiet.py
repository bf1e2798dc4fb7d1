"""TensorFlow's C++ log lines, silenced when tl_suite is imported (unless the user chose a level).

``import tensorflow`` prints, on every start, lines such as::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 ... port.cc:153] oneDNN custom operations are on. ...
    I0000 ... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.

and later ``E0000 ... failed call to cuInit`` (no GPU driver) or ``E0000 ... util.cc:131]
oneDNN supports DT_INT64 only on platforms with AVX-512`` (an "error" that only says it falls
back to Eigen). In notebooks each becomes a red stderr box. ``TF_CPP_MIN_LOG_LEVEL=3``,
TensorFlow's own switch, hides the later ones; but TensorFlow 2.21 writes the first ones
through absl's C++ logging while its libraries load, before anything reads that variable, and
no environment variable reaches absl there (``ABSL_MIN_LOG_LEVEL`` is a compile-time macro;
``TF_ENABLE_ONEDNN_OPTS=1``, ``CUDA_VISIBLE_DEVICES`` and ``GLOG_minloglevel`` change
nothing). So, only when the user has not set ``TF_CPP_MIN_LOG_LEVEL``, `quiet_tensorflow`
sets it to ``"3"`` and, while it imports TensorFlow, points file descriptor 2 at a temporary
file; it then writes back every captured line except absl's own (``I``/``W``/``E`` lines and
its "before InitializeLog" notice: what level 3 stands for). Anything else (Python warnings,
fatal lines) is written back as it came; if the import fails, everything is.

One Python warning is dropped too: TensorFlow's "N out of the last M calls to <function ...>
triggered tf.function retracing" when the function is one of Keras' per-model training
functions or tl_suite's feature pass. TensorFlow counts the calls of every function made from
the same code together, so training another model (``fit``'s branch choice trains two heads
before the run's own, ``evaluate`` makes its own feature pass) reads as retracing, although each function is traced once per
input signature. The warning stays for every other function.

Errors that matter still reach the user as Python exceptions. To see TensorFlow's C++ lines,
set ``TF_CPP_MIN_LOG_LEVEL`` yourself (``0``: everything) before importing tl_suite: then
nothing is redirected or changed. Do the same if the process dies while TensorFlow loads (a
CPU without the instructions the build needs aborts there): its last words are in the
redirected stream. oneDNN stays on as TensorFlow sets it (no numerical change).
"""

import contextlib
import logging
import os
import re
import sys
import tempfile

LEVEL = "3"  # TensorFlow's C++ INFO, WARNING and ERROR lines hidden (Python errors are not)
_ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# absl's prefix, "I0000 00:00:1795491063.883845    2691 port.cc:153] " (I: INFO, W: WARNING,
# E: ERROR; F, FATAL, is kept)
_ABSL_LINE = re.compile(r"^[IWE]\d{4} \d+:\d+:\d+\.\d+ +\d+ [^\]\s]+:\d+\] ")


def is_noise(line):
    """Whether ``line`` (no newline) is one TensorFlow hides at ``TF_CPP_MIN_LOG_LEVEL=3``."""
    return line == _ABSL_NOTICE or bool(_ABSL_LINE.match(line))


def filter_lines(text):
    """``text`` without the lines `is_noise` names."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if not is_noise(line.rstrip("\r\n")))


@contextlib.contextmanager
def _filtered_stderr():
    """Capture file descriptor 2 and write back `filter_lines` of it (all of it on an error)."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (some service managers): nothing to silence
        yield
        return
    _flush()
    failed = False
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            _flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = text if failed else filter_lines(text)
            if kept:
                os.write(2, kept.encode("utf-8"))


def _flush():
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


_SPURIOUS_RETRACING = re.compile(
    r"calls to <function (TensorFlowTrainer\.|make_forward\.).*triggered tf\.function retracing")


class SpuriousRetracingFilter(logging.Filter):
    """Drops TensorFlow's retracing warning for functions that are made once per model (see
    the module docstring)."""

    def filter(self, record):
        return not _SPURIOUS_RETRACING.search(record.getMessage())


def _drop_spurious_retracing_warnings():
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(each, SpuriousRetracingFilter) for each in logger.filters):
        logger.addFilter(SpuriousRetracingFilter())


def quiet_tensorflow():
    """Import TensorFlow without its C++ start-up lines unless ``TF_CPP_MIN_LOG_LEVEL`` is set
    (see the module docstring). Returns the level in force (None: TensorFlow was imported
    before, with its lines and the level it read then; nothing is changed)."""
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return os.environ["TF_CPP_MIN_LOG_LEVEL"]
    if "tensorflow" in sys.modules:
        return None
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = LEVEL
    with _filtered_stderr():
        import tensorflow  # noqa: F401
    return LEVEL


quiet_tensorflow()
_drop_spurious_retracing_warnings()
