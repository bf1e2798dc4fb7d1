"""Progress for long steps (weight conversion, dataset scans, feature passes, training).

Where the output goes decides how progress looks (`display_mode`):

- ``"notebook"`` — a Jupyter kernel with ipywidgets: one live widget bar per step
  (``tqdm.notebook``), and one bar over the epochs of a Keras ``fit`` (`EpochProgress`) instead
  of Keras' per-epoch text bars.
- ``"terminal"`` — stderr is a terminal: live text bars (tqdm), Keras' own progress bar.
- ``"lines"`` — logs, CI, pipes, notebooks without ipywidgets: one line per finished step
  ("Frozen features, training: 28/28 batches in 3.1 s"), not one per update, and one line per
  epoch from Keras (``verbose=2``).
"""

import contextlib
import importlib.util
import numbers
import sys
import time

import keras

_REFRESH_SECONDS = 0.5  # the epoch bar's step count, at most this often


def _in_jupyter_kernel():
    """Whether this process is an IPython kernel (Jupyter, nbclient, VS Code, Colab)."""
    if "IPython" not in sys.modules:  # not imported by us: a plain script never pays for it
        return False
    ipython = sys.modules["IPython"].get_ipython()
    return ipython is not None and "IPKernelApp" in getattr(ipython, "config", {})


def display_mode(stream=None):
    """``"notebook"``, ``"terminal"`` or ``"lines"`` (see the module docstring) for progress
    written to ``stream`` (default ``sys.stderr``)."""
    if _in_jupyter_kernel():
        return "notebook" if importlib.util.find_spec("ipywidgets") is not None else "lines"
    stream = sys.stderr if stream is None else stream
    try:
        return "terminal" if stream is not None and stream.isatty() else "lines"
    except (AttributeError, ValueError):  # a closed or file-like stream
        return "lines"


def _line_stream():
    # In a kernel, stderr is drawn as a red box: progress is not an error.
    return sys.stdout if _in_jupyter_kernel() else sys.stderr


class StageLine:
    """A progress bar that writes one line when its step ends (the ``"lines"`` mode): the
    subset of tqdm's interface that tl_suite uses (``update``, ``close``, ``set_description``,
    ``set_postfix_str``, ``n``, ``total``, a context manager)."""

    def __init__(self, total, description, unit="step", file=None):
        self.total, self.description, self.unit, self.file = total, description, unit, file
        self.n, self.postfix, self.closed = 0, "", False
        self._started = time.perf_counter()

    def update(self, n=1):
        self.n += n

    def set_description(self, description, refresh=True):
        self.description = description

    def set_postfix_str(self, postfix="", refresh=True):
        self.postfix = postfix

    def line(self):
        """The line `close` writes."""
        count = f"{self.n:g}/{self.total:g}" if self.total else f"{self.n:g}"
        unit = self.unit if (self.total or self.n) == 1 else _plural(self.unit)
        postfix = f" ({self.postfix})" if self.postfix else ""
        return (f"{self.description}: {count} {unit} in "
                f"{time.perf_counter() - self._started:.1f} s{postfix}")

    def close(self):
        if self.closed:
            return
        self.closed = True
        file = self.file or _line_stream()
        with contextlib.suppress(Exception):  # progress must never break the work it reports
            print(self.line(), file=file, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _plural(unit):
    return unit + ("es" if unit == "batch" or unit.endswith(("s", "x", "sh")) else "s")


def progress(total, description, verbose=True, unit="step"):
    """A progress bar over ``total`` units (None: unknown) for `display_mode`'s output: a
    widget in notebooks, a live bar in terminals, one line at the end otherwise; silent when
    ``verbose`` is false. Call ``update(n)`` and ``close()`` (or use it as a context manager).

    Example:
    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as log:  # not a terminal: one line
    ...     with progress(3, "Counting", unit="item") as bar:
    ...         for _ in range(3):
    ...             bar.update(1)
    >>> log.getvalue()
    'Counting: 3/3 items in ... s\\n'
    """
    if not verbose:
        from tqdm.std import tqdm

        return tqdm(total=total, disable=True)
    mode = display_mode()
    if mode == "notebook":
        from tqdm.notebook import tqdm as notebook_tqdm

        return notebook_tqdm(total=total, desc=description, unit=unit, leave=True)
    if mode == "terminal":
        from tqdm.std import tqdm

        return tqdm(total=total, desc=description, unit=unit, file=sys.stderr, leave=True,
                    dynamic_ncols=True)
    return StageLine(total, description, unit)


class StepProgbarLogger(keras.callbacks.ProgbarLogger):
    """Keras' progress bar with the step count clipped to the epoch's batches.

    With ``steps_per_execution=k`` Keras reports the last step of each execution as
    ``start + k - 1`` even when the epoch has fewer batches left (keras 3.15,
    ``EpochIterator._enumerate_iterator``), so its bar read "16/1" for a one-batch epoch.
    Passed to ``fit`` among the callbacks, it replaces Keras' default logger.
    """

    def on_train_batch_end(self, batch, logs=None):
        if self.target is not None:
            batch = min(batch, self.target - 1)
        super().on_train_batch_end(batch, logs)


def _format_logs(logs):
    shown = [(name, value) for name, value in (logs or {}).items()
             if name != "learning_rate" and isinstance(value, numbers.Real)]
    return ", ".join(f"{name} {value:.4g}" for name, value in shown)


class EpochProgress(keras.callbacks.Callback):
    """One bar over the epochs of a ``fit`` (``progress`` decides its look), showing the step
    within the epoch and the last epoch's loss and metrics. Used in notebooks instead of Keras'
    text bars, which leave two lines per epoch there."""

    def __init__(self, description="Training"):
        super().__init__()
        self.description = description
        self.bar, self._shown_at, self._last = None, 0.0, ""

    def on_train_begin(self, logs=None):
        self.bar, self._last = None, ""

    def on_epoch_begin(self, epoch, logs=None):
        if self.bar is None:  # the first epoch of this fit (``initial_epoch`` when resuming)
            total = max(self.params.get("epochs", epoch + 1) - epoch, 1)
            self.bar = progress(total, self.description, unit="epoch")

    def on_train_batch_end(self, batch, logs=None):
        steps, now = self.params.get("steps"), time.perf_counter()
        if self.bar is None or now - self._shown_at < _REFRESH_SECONDS:
            return
        self._shown_at = now
        step = f"step {min(batch + 1, steps)}/{steps}" if steps else f"step {batch + 1}"
        self.bar.set_postfix_str(", ".join(part for part in (step, self._last) if part))

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is None:
            return
        self._last = _format_logs(logs)
        self.bar.set_postfix_str(self._last, refresh=False)
        self.bar.update(1)

    def on_train_end(self, logs=None):
        if self.bar is None:
            return
        if self.bar.total and self.bar.n < self.bar.total:  # early stopping: done, not failed
            self.bar.set_description(f"{self.description} (stopped early)", refresh=False)
            _shorten(self.bar, self.bar.n)
        self.bar.close()
        self.bar = None


def _shorten(bar, total):
    """Make ``total`` the end of ``bar``, so a finished bar is not drawn as failed
    (``tqdm.notebook`` draws a bar closed before its total in red)."""
    bar.total = total
    container = getattr(bar, "container", None)  # tqdm.notebook's widget: label, bar, label
    if container is not None:
        container.children[1].max = max(total, 1)


def keras_progress(verbose="auto"):
    """``(verbose, callbacks)`` for a Keras ``fit``: with ``"auto"``, an `EpochProgress` bar in
    notebooks, Keras' progress bar in a terminal, one line per epoch in logs (Keras'
    ``verbose=2``); other values are Keras' own. The callbacks include a `StepProgbarLogger`
    whenever Keras prints."""
    if verbose == "auto":
        mode = display_mode(sys.stdout)  # Keras prints to stdout
        if mode == "notebook":
            return 0, [EpochProgress()]
        verbose = 1 if mode == "terminal" else 2
    return verbose, ([StepProgbarLogger()] if verbose else [])
