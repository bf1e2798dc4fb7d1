"""`import tl_suite` prints none of TensorFlow's C++ start-up lines, unless the user set a level."""

import logging
import os
import re
import subprocess
import sys

from tl_suite.quiet import SpuriousRetracingFilter, filter_lines

_ABSL_PREFIX = re.compile(r"^[IWEF]\d{4} \S+ +\d+ ")


def _run(code, **env):
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environment, timeout=300, check=True)


def test_import_prints_nothing_to_stderr():
    done = _run("import os, tl_suite; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])")
    assert done.stderr == ""
    assert done.stdout.strip() == "3"


def test_a_level_the_user_set_is_respected():
    plain = _run("import tensorflow", TF_CPP_MIN_LOG_LEVEL="0")
    ours = _run("import os, tl_suite; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])",
                TF_CPP_MIN_LOG_LEVEL="0")
    assert ours.stdout.strip() == "0"

    def messages(text):  # absl lines without their time stamp and thread id
        return {_ABSL_PREFIX.sub("", line) for line in text.splitlines() if _ABSL_PREFIX.match(line)}

    assert messages(plain.stderr) <= messages(ours.stderr)  # nothing hidden


def test_only_the_lines_tensorflow_hides_at_level_3_are_dropped():
    captured = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1795491063.883845    2691 port.cc:153] oneDNN custom operations are on.\n"
        "W0000 00:00:1795491063.884204    2691 cudart_stub.cc:31] Could not find cuda drivers.\n"
        "E0000 00:00:1795491095.539600    2773 cuda_platform.cc:52] failed call to cuInit: 303\n"
        "/site-packages/x.py:3: UserWarning: kept\n"
        "F0000 00:00:1795491095.539600    2773 check.cc:1] fatal: kept\n"
    )
    assert filter_lines(captured) == ("/site-packages/x.py:3: UserWarning: kept\n"
                                      "F0000 00:00:1795491095.539600    2773 check.cc:1] fatal: kept\n")


def test_retracing_warning_dropped_only_for_per_model_functions():
    def record(function):
        message = (f"5 out of the last 9 calls to <function {function} at 0x7f78> triggered "
                   "tf.function retracing. Tracing is expensive")
        return logging.LogRecord("tensorflow", logging.WARNING, "x.py", 1, message, None, None)

    keep = SpuriousRetracingFilter().filter
    assert not keep(record("TensorFlowTrainer._make_function.<locals>.multi_step_on_iterator"))
    assert not keep(record("make_forward.<locals>.forward"))
    assert keep(record("my_step"))
