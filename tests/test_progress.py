"""Progress: one line per step in logs, Keras' bar counting the right steps, one bar over epochs."""

import io
import re

import keras
import numpy as np

import tl_suite
from tl_suite import progress as progress_module
from tl_suite.progress import EpochProgress, StepProgbarLogger, display_mode, keras_progress, progress
from tl_suite.training.cached_head import fit_head_on_cached_features


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_display_mode_follows_the_stream():
    assert display_mode(io.StringIO()) == "lines"  # a log file, a pipe, CI
    assert display_mode(_Terminal()) == "terminal"


def test_a_kernel_without_ipywidgets_gets_lines_on_stdout(monkeypatch, capsys):
    monkeypatch.setattr(progress_module, "_in_jupyter_kernel", lambda: True)
    monkeypatch.setattr(progress_module.importlib.util, "find_spec", lambda name: None)
    assert display_mode() == "lines"
    with progress(2, "Frozen features, training", unit="batch") as bar:
        bar.update(2)
    printed = capsys.readouterr()
    assert printed.err == ""  # a kernel draws stderr as a red box
    assert printed.out.startswith("Frozen features, training: 2/2 batches in ")


def test_a_step_writes_one_line_when_output_is_not_a_terminal(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    with progress(250, "Checking images in photos/", unit="img") as bar:
        for _ in range(250):
            bar.update(1)
    lines = log.getvalue().splitlines()
    assert len(lines) == 1, lines  # not one per update
    assert re.fullmatch(r"Checking images in photos/: 250/250 imgs in \d+\.\d s", lines[0])
    with progress(None, "Predicting", unit="batch") as bar:
        bar.update(3)
    assert log.getvalue().splitlines()[1].startswith("Predicting: 3 batches in ")


def test_silent_when_not_verbose(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    with progress(5, "Quiet", verbose=False) as bar:
        bar.update(5)
    assert log.getvalue() == ""


def test_keras_progress_picks_the_verbosity(monkeypatch):
    monkeypatch.setattr("sys.stdout", io.StringIO())
    verbose, callbacks = keras_progress("auto")
    assert verbose == 2 and [type(c) for c in callbacks] == [StepProgbarLogger]  # a line per epoch
    monkeypatch.setattr("sys.stdout", _Terminal())
    assert keras_progress("auto")[0] == 1  # Keras' live bar
    monkeypatch.setattr(progress_module, "display_mode", lambda stream=None: "notebook")
    verbose, callbacks = keras_progress("auto")
    assert verbose == 0 and [type(c) for c in callbacks] == [EpochProgress]
    assert keras_progress(0) == (0, [])  # the user's choice stands


def _tiny_model(steps_per_execution):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    model.compile("adam", "sparse_categorical_crossentropy", steps_per_execution=steps_per_execution)
    return model


def test_step_count_never_passes_the_epoch(capsys):
    x, y = np.zeros((24, 4), "float32"), np.zeros(24, "int32")
    _tiny_model(16).fit(x, y, batch_size=8, epochs=1, verbose=1, callbacks=[StepProgbarLogger()])
    shown = re.findall(r"(\d+)/(\d+) ", re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out))
    assert shown and all(int(step) <= int(total) == 3 for step, total in shown), shown


def test_cached_head_bar_counts_batches_not_executions(capsys, tiny_arrays):
    images, labels = tiny_arrays
    train = tl_suite.image_dataset(images=images[:20], labels=labels[:20], batch_size=8, verbose=False)
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None)
    fit_head_on_cached_features(model, train, epochs=2, verbose=1)  # 3 batches, 16 steps a call
    printed = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    assert "3/3" in printed and "16/" not in printed


def test_epoch_bar_is_one_line_in_logs_and_says_when_training_stopped_early(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    x, y = np.zeros((16, 4), "float32"), np.zeros(16, "int32")
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9)
    _tiny_model(1).fit(x, y, batch_size=8, epochs=10, verbose=0, callbacks=[EpochProgress(), stop])
    lines = log.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert re.match(r"Training \(stopped early\): 2/2 epochs in \d+\.\d s \(loss \d", lines[0]), lines
