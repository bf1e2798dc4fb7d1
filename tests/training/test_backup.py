import csv
import os

import keras
import numpy as np
import pytest

from tl_suite.training import backup as backups
from tl_suite.training.best_model import BestModel


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.Adam(0.1), "mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")


class _Stop(keras.callbacks.Callback):
    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt


def _fit(model, directory, epochs, stop_at=None, best=None):
    x, y = _data()
    callbacks = ([best] if best is not None else []) + [backups.RunBackup(str(directory), best)]
    callbacks += [_Stop(stop_at)] if stop_at is not None else []
    return model.fit(x, y, batch_size=4, epochs=epochs, shuffle=False, callbacks=callbacks, verbose=0)


def test_resumed_training_equals_an_uninterrupted_run(tmp_path):
    reference = _model()
    _fit(reference, tmp_path / "a", 4)
    crashed = _model()
    with pytest.raises(KeyboardInterrupt):
        _fit(crashed, tmp_path / "b", 4, stop_at=1)
    assert sorted(os.listdir(tmp_path / "b")) == ["epoch-0001.weights.h5", "epoch-0002.weights.h5",
                                                  "state.json", "state.previous.json"]
    resumed = _model(seed=1)  # other initial weights: all comes from the backup
    history = _fit(resumed, tmp_path / "b", 4)
    assert history.epoch == [2, 3] and not os.path.exists(tmp_path / "b")
    for got, expected in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_a_torn_backup_falls_back_to_the_previous_one(tmp_path, capsys):
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), tmp_path, 5, stop_at=2)
    with open(tmp_path / "epoch-0003.weights.h5", "r+b") as file:
        file.truncate(300)  # a crash in the middle of writing (as with Keras' in-place writes)
    history = _fit(_model(), tmp_path, 5)
    assert history.epoch == [2, 3, 4]
    assert "unreadable" in capsys.readouterr().out


def test_no_readable_backup_moves_the_folder_aside_and_starts_over(tmp_path, capsys):
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), tmp_path / "backup", 5, stop_at=1)
    for name in ("epoch-0001.weights.h5", "epoch-0002.weights.h5"):
        (tmp_path / "backup" / name).write_bytes(b"garbage")
    history = _fit(_model(), tmp_path / "backup", 3)
    assert history.epoch == [0, 1, 2]
    printed = capsys.readouterr().out
    assert "No readable backup in" in printed and "starting this run over" in printed
    assert [n for n in os.listdir(tmp_path) if n.startswith("backup.corrupt-")]


def test_the_best_value_and_weights_survive_a_resume(tmp_path):
    best = BestModel("loss")
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), tmp_path, 4, stop_at=1, best=best)
    resumed_best = BestModel("loss")
    model = _model(seed=3)
    model.compile(keras.optimizers.Adam(0.0), "mse")  # nothing improves after the resume
    x, y = _data()
    callback = backups.RunBackup(str(tmp_path), resumed_best, verbose=False)
    callback.set_model(model)
    callback.on_train_begin()
    assert (resumed_best.best, resumed_best.best_epoch) == (best.best, best.best_epoch)
    for got, expected in zip(resumed_best.best_weights, best.best_weights):
        np.testing.assert_array_equal(got, expected)


def test_csv_rows_of_redone_epochs_are_dropped_and_a_lost_row_comes_back(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss\n0,0.9\n1,0.8\n2,0.7\n3,0.")  # row 3 torn by a crash
    backups.trim_csv(str(path), 2)
    assert path.read_text().split() == ["epoch,loss", "0,0.9", "1,0.8"]
    path.write_text("epoch,loss\n0,0.9\n")
    backups.add_missing_row(str(path), 1, {"loss": 0.8})
    backups.add_missing_row(str(path), 1, {"loss": 0.8})
    assert [row["loss"] for row in csv.DictReader(open(path))] == ["0.9", "0.8"]
