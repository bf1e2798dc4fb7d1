import os

import keras
import numpy as np
import pytest

from tl_suite.training.best_model import BestModel, maximizes, save_model
from tl_suite.training.safe_files import DiskFullError


def _model(make_model):
    return make_model(num_classes=2)


def test_best_model_writes_the_best_epoch_of_the_whole_model(tmp_path, make_model):
    model = _model(make_model)
    path = tmp_path / "best.keras"
    best = BestModel("val_accuracy", str(path), full_model=model, min_interval=60)
    best.set_model(model.head)
    weights = [np.array(w) for w in model.head.get_weights()]
    best.on_epoch_end(0, {"val_accuracy": 0.5})
    assert path.exists()  # the first improvement is written at once
    first_write = path.stat().st_mtime_ns
    model.head.set_weights([w + 1 for w in weights])
    best.on_epoch_end(1, {"val_accuracy": 0.6})  # better (accuracy is maximised)
    kept = [w.copy() for w in model.head.get_weights()]
    model.head.set_weights([w + 2 for w in weights])
    best.on_epoch_end(2, {"val_accuracy": 0.4})
    assert path.stat().st_mtime_ns == first_write  # at most one write a minute in between
    best.on_train_end()
    saved = keras.saving.load_model(path)
    for got, expected in zip(saved.head.get_weights(), kept):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(model.head.get_weights()[0], weights[0] + 2)  # model untouched
    assert (best.best, best.best_epoch, best.wait) == (0.6, 1, 1)
    assert maximizes("val_auc") and not maximizes("val_loss")


def test_non_finite_values_and_weights_never_become_best(tmp_path, make_model):
    model = _model(make_model)
    best = BestModel("val_loss", str(tmp_path / "best.keras"), full_model=model)
    best.set_model(model.head)
    best.on_epoch_end(0, {"val_loss": float("nan")})
    assert best.best is None and not os.path.exists(tmp_path / "best.keras")
    good = [np.array(w) for w in model.head.get_weights()]
    best.on_epoch_end(1, {"val_loss": 0.7})
    model.head.set_weights([np.full_like(w, np.nan) for w in good])
    best.on_epoch_end(2, {"val_loss": 0.1})  # a finite value but NaN weights: refused
    assert (best.best, best.best_epoch) == (0.7, 1)
    saved = keras.saving.load_model(tmp_path / "best.keras")
    np.testing.assert_array_equal(saved.head.get_weights()[0], good[0])


def test_state_survives_a_resume_and_patience_counts_across_it(make_model):
    model = _model(make_model)
    first = BestModel("val_loss", patience=2)
    first.set_model(model.head)
    first.on_epoch_end(0, {"val_loss": 0.3})
    first.on_epoch_end(1, {"val_loss": 0.4})
    resumed = BestModel("val_loss", patience=2)
    resumed.set_model(model.head)
    resumed.set_state(first.get_state(), first.best_weights)
    resumed.on_epoch_end(2, {"val_loss": 0.35})  # worse than the best before the crash
    assert resumed.best == 0.3 and model.head.stop_training
    resumed.on_train_end()
    np.testing.assert_array_equal(model.head.get_weights()[0], first.best_weights[0])


def test_a_failed_save_keeps_the_previous_file(tmp_path, make_model, monkeypatch):
    model = _model(make_model)
    path = str(tmp_path / "best.keras")
    save_model(model, path)
    before = open(path, "rb").read()

    def full_disk(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as file:
            file.write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", full_disk)
    with pytest.raises(DiskFullError, match="previous version is intact"):
        save_model(model, path)
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["best.keras"]  # no partial file left
