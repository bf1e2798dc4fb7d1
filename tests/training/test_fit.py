import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tl_suite
from tl_suite.data.info import dataset_info


def _rows(path):
    with open(path) as file:
        return list(csv.DictReader(file))


def test_fit_writes_logs_checkpoint_and_csv(tmp_path, splits, make_model):
    train, validation = splits
    model = make_model(learning_rate=1e-2)
    history = tl_suite.fit(model, train, validation, epochs=3, log_dir=str(tmp_path), verbose=0)
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 3
    run = tmp_path / "run-001"
    assert history.run_dir == str(run)
    assert os.listdir(run / "train") and os.listdir(run / "validation")
    rows = _rows(run / "training_log.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    np.testing.assert_allclose([float(r["val_loss"]) for r in rows], history.history["val_loss"], rtol=1e-5)
    best = keras.saving.load_model(run / "best.keras")
    best_epoch = int(np.argmin(history.history["val_loss"]))
    assert best.evaluate(validation, verbose=0, return_dict=True)["loss"] == pytest.approx(
        history.history["val_loss"][best_epoch], rel=1e-4)
    assert best.class_names == ["red", "green", "blue"]
    assert not os.path.exists(run / "backup")  # removed after a finished fit
    assert json.loads((run / "run.json").read_text())["status"] == "finished"


def test_early_stopping_stops_when_nothing_improves(tmp_path, splits, make_model):
    train, validation = splits
    model = make_model(learning_rate=0.0)
    history = tl_suite.fit(model, train, validation, epochs=10, log_dir=str(tmp_path),
                           early_stopping_patience=1, verbose=0)
    assert len(history.history["loss"]) == 2


def test_interrupted_fit_resumes_from_backup(tmp_path, splits, make_model):
    train, validation = splits

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    model = make_model(learning_rate=1e-2)
    with pytest.raises(KeyboardInterrupt):
        tl_suite.fit(model, train, validation, epochs=4, log_dir=str(tmp_path),
                     early_stopping_patience=None, callbacks=[Interrupt()], verbose=0)
    assert os.path.isdir(tmp_path / "run-001" / "backup")
    saved_head = [np.array(w) for w in model.head.weights]
    fresh = make_model(learning_rate=1e-2)  # e.g. a new process after a crash
    history = tl_suite.fit(fresh, train, validation, epochs=4, log_dir=str(tmp_path),
                           early_stopping_patience=None, verbose=0)
    assert history.epoch == [2, 3] and history.run_dir == str(tmp_path / "run-001")
    assert [int(r["epoch"]) for r in _rows(tmp_path / "run-001" / "training_log.csv")] == [0, 1, 2, 3]
    assert not np.allclose(saved_head[0], np.array(fresh.head.weights[0]))


def test_fit_argument_errors(tmp_path, splits, make_model):
    train, _ = splits
    model = make_model()
    with pytest.raises(ValueError, match="Received: epochs=0"):
        tl_suite.fit(model, train, epochs=0, log_dir=str(tmp_path))
    with pytest.raises(ValueError, match="needs `validation`"):
        tl_suite.fit(model, train, monitor="val_accuracy", log_dir=str(tmp_path))
    with pytest.raises(ValueError, match="Received: cache_features='yes'"):
        tl_suite.fit(model, train, cache_features="yes", log_dir=str(tmp_path))
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="not compiled"):
        tl_suite.fit(plain, train, log_dir=str(tmp_path))
    plain.compile(loss="mse")
    with pytest.raises(ValueError, match="cache_features=False"):
        tl_suite.fit(plain, train, cache_features=True, log_dir=str(tmp_path))


def test_plain_keras_model_trains_through_its_own_fit(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, x @ np.arange(4, dtype="float32"))).batch(8)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no dataset-info warning for plain models
        history = tl_suite.fit(model, data, epochs=5, log_dir=str(tmp_path), verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 2
    run = tmp_path / "run-001"
    assert os.path.exists(run / "best.keras") and len(_rows(run / "training_log.csv")) == 5


def test_fit_warns_on_a_dataset_without_info_and_still_trains(tmp_path, tiny_arrays, make_model):
    images, labels = tiny_arrays
    bare = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
    model = make_model(learning_rate=1e-2)
    with pytest.warns(UserWarning, match=r"assumes it is not augmented.*tl_suite.with_info"):
        history = tl_suite.fit(model, bare, epochs=3, log_dir=str(tmp_path / "bare"), verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.label_names is None  # nothing to take them from
    named = tl_suite.with_info(bare, kind="image", class_names=["r", "g", "b"], shuffled=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        tl_suite.fit(model, named, epochs=1, log_dir=str(tmp_path / "named"), verbose=0)
    assert model.label_names == ["r", "g", "b"]


def test_info_survives_a_user_map_so_fit_caches_augmented_views(tmp_path, tiny_arrays, make_model, capsys):
    images, labels = tiny_arrays
    train = tl_suite.image_dataset(images=images, labels=labels, augment=True, batch_size=16, verbose=False)
    mapped = train.map(lambda x, y: (x, y))
    assert dataset_info(mapped).augmented
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        tl_suite.fit(make_model(), mapped, epochs=1, log_dir=str(tmp_path), verbose=2)
    printed = capsys.readouterr().out
    assert "Cached frozen features for 60 training examples x 4 augmented views" in printed
    tl_suite.fit(make_model(), mapped, epochs=1, log_dir=str(tmp_path / "2"), feature_views=2, verbose=2)
    assert "x 2 augmented views" in capsys.readouterr().out


def test_label_names_come_from_the_dataset_and_a_mismatch_raises(tmp_path, splits, make_model):
    train, validation = splits
    model = make_model()
    assert model.label_names is None
    tl_suite.fit(model, train, validation, epochs=1, log_dir=str(tmp_path / "a"), verbose=0)
    assert model.label_names == ["red", "green", "blue"]
    other = make_model(class_names=["red", "blue", "green"])
    with pytest.raises(ValueError, match=r"\['red', 'green', 'blue'\].*\['red', 'blue', 'green'\]"):
        tl_suite.fit(other, train, epochs=1, log_dir=str(tmp_path / "b"), verbose=0)
    wider = make_model(num_classes=4)
    with pytest.raises(ValueError, match="do not match the model's 4 outputs"):
        tl_suite.fit(wider, train, epochs=1, log_dir=str(tmp_path / "c"), verbose=0)
    unnamed = tl_suite.with_info(train.map(lambda x, y: (x, y)), like=train, class_names=["0", "1", "2"])
    named = make_model(class_names=["a", "b", "c"])  # label ids as names name nothing: no clash
    tl_suite.fit(named, unnamed, epochs=1, log_dir=str(tmp_path / "d"), verbose=0)
    assert named.label_names == ["a", "b", "c"]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def test_tensorboard_server_serves_scalars_and_confusion_matrix(tmp_path, splits, make_model):
    train, validation = splits
    model = make_model(learning_rate=1e-2)
    tl_suite.fit(model, train, validation, epochs=2, log_dir=str(tmp_path), verbose=0)
    tl_suite.evaluate(model, validation, log_dir=str(tmp_path))
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(tmp_path), "--host", "127.0.0.1",
         "--port", str(port), "--load_fast", "false", "--reload_interval", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/data/plugin"
    try:
        deadline, tags = time.time() + 90, {}
        while time.time() < deadline:
            try:
                tags = json.loads(_get(f"{base}/scalars/tags"))
                if "epoch_learning_rate" in tags.get("run-001/train", {}) and "evaluation" in tags:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= set(tags["run-001/train"])
        assert "epoch_loss" in tags["run-001/validation"]
        loss = json.loads(_get(f"{base}/scalars/scalars?run=run-001/train&tag=epoch_loss"))
        assert [step for _, step, _ in loss] == [0, 1]
        learning_rate = json.loads(_get(f"{base}/scalars/scalars?run=run-001/train&tag=epoch_learning_rate"))
        assert learning_rate[0][2] == pytest.approx(1e-2)
        image_tags = json.loads(_get(f"{base}/images/tags"))
        assert "test/confusion_matrix" in image_tags["evaluation"]
        query = urllib.parse.urlencode({"run": "evaluation", "tag": "test/confusion_matrix", "sample": 0})
        entries = json.loads(_get(f"{base}/images/images?{query}"))
        png = _get(f"{base}/images/individualImage?{entries[0]['query']}")
        assert png.startswith(b"\x89PNG") and len(png) > 5000
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_out_of_memory_retries_with_half_batches(tmp_path, splits, make_model, monkeypatch):
    train, validation = splits
    model = make_model(learning_rate=1e-2)
    seen = []
    original_fit = keras.Model.fit

    def fit_that_runs_out_of_memory(self, x=None, *args, **kwargs):
        size = int(next(iter(x.take(1)))[0].shape[0])
        seen.append(size)
        if size > 2:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
        return original_fit(self, x, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", fit_that_runs_out_of_memory)
    history = tl_suite.fit(model, train, validation, epochs=2, log_dir=str(tmp_path),
                           cache_features=False, verbose=0)
    assert seen == [8, 4, 2] and len(history.history["loss"]) == 2
    with pytest.raises(RuntimeError, match="Out of memory at batch size 4 after 1 retries"):
        tl_suite.fit(make_model(), train, epochs=1, log_dir=str(tmp_path / "b"),
                     cache_features=False, oom_retries=1, verbose=0)


def test_out_of_memory_on_the_cached_path_keeps_the_dataset_info(tmp_path, tiny_arrays, make_model,
                                                                  monkeypatch, capsys):
    from tl_suite.training import feature_cache

    images, labels = tiny_arrays
    train = tl_suite.image_dataset(images=images, labels=labels, augment=True, batch_size=8, verbose=False)
    original = feature_cache.FeatureCache.from_dataset.__func__
    sizes = []

    def from_dataset(cls, model, dataset, views=1, **kwargs):
        sizes.append((int(next(iter(dataset))[0].shape[0]), views))
        if sizes[-1][0] > 4:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
        return original(cls, model, dataset, views=views, **kwargs)

    monkeypatch.setattr(feature_cache.FeatureCache, "from_dataset", classmethod(from_dataset))
    tl_suite.fit(make_model(), train, epochs=1, log_dir=str(tmp_path), verbose=0)
    assert sizes == [(8, 4), (4, 4)]  # still augmented (4 views) after rebatch
    assert "retrying with batch size 4" in capsys.readouterr().out


def test_initial_epoch_continues_the_epoch_numbering(tmp_path, splits, make_model):
    train, validation = splits
    model = make_model()
    history = tl_suite.fit(model, train, validation, epochs=3, initial_epoch=1, log_dir=str(tmp_path),
                           verbose=0, early_stopping_patience=None)
    assert history.epoch == [1, 2]
    assert [row["epoch"] for row in _rows(tmp_path / "run-001" / "training_log.csv")] == ["1", "2"]
    with pytest.raises(ValueError, match="Received: initial_epoch=3, epochs=3"):
        tl_suite.fit(model, train, epochs=3, initial_epoch=3, log_dir=str(tmp_path))


class _InterruptAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("cache_features", [True, False])
def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, tiny_arrays, make_model,
                                                                   cache_features):
    images, labels = tiny_arrays
    def train():  # each run reads its data from the start, as a new process would
        return tl_suite.image_dataset(images=images, labels=labels, batch_size=8,
                                      shuffle=cache_features, verbose=False)

    # The base is random here (weights=None): the same seed gives it the same weights, as
    # pretrained weights would. Dropout draws are not part of a backup (see `fit`): none here.
    keras.utils.set_random_seed(0)
    reference = make_model(learning_rate=1e-2, dropout=0.0)
    arguments = dict(epochs=5, early_stopping_patience=None, seed=3, verbose=0,
                     cache_features=cache_features)
    tl_suite.fit(reference, train(), log_dir=str(tmp_path / "a"), **arguments)
    keras.utils.set_random_seed(0)
    crashed = make_model(learning_rate=1e-2, dropout=0.0)
    with pytest.raises(KeyboardInterrupt):
        tl_suite.fit(crashed, train(), log_dir=str(tmp_path / "b"), callbacks=[_InterruptAt(2)], **arguments)
    keras.utils.set_random_seed(0)
    resumed = make_model(learning_rate=1e-2, dropout=0.0)
    resumed.head.set_weights([w + 1 for w in resumed.head.get_weights()])  # all from the backup
    history = tl_suite.fit(resumed, train(), log_dir=str(tmp_path / "b"), **arguments)
    assert history.epoch == [3, 4]
    for got, expected in zip(resumed.head.get_weights(), reference.head.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    rows = _rows(tmp_path / "b" / "run-001" / "training_log.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3, 4]


def test_best_keras_is_the_best_epoch_of_the_csv_across_a_resume(tmp_path, splits, make_model):
    train, validation = splits
    arguments = dict(epochs=6, early_stopping_patience=None, verbose=0, log_dir=str(tmp_path))
    keras.utils.set_random_seed(0)  # the same random base in both runs, as pretrained weights
    with pytest.raises(KeyboardInterrupt):
        tl_suite.fit(make_model(learning_rate=5e-2), train, validation, callbacks=[_InterruptAt(3)],
                     **arguments)
    keras.utils.set_random_seed(0)
    model = make_model(learning_rate=5e-2)
    tl_suite.fit(model, train, validation, **arguments)
    rows = _rows(tmp_path / "run-001" / "training_log.csv")
    losses = [float(r["val_loss"]) for r in rows]
    best = keras.saving.load_model(tmp_path / "run-001" / "best.keras")
    assert best.evaluate(validation, verbose=0, return_dict=True)["loss"] == pytest.approx(min(losses), rel=1e-4)


def test_another_learning_rate_in_the_same_log_dir_is_a_new_run(tmp_path, splits, make_model, capsys):
    train, validation = splits
    with pytest.raises(KeyboardInterrupt):
        tl_suite.fit(make_model(learning_rate=1e-2), train, epochs=3, log_dir=str(tmp_path),
                     callbacks=[_InterruptAt(0)], verbose=2)
    history = tl_suite.fit(make_model(learning_rate=0.3), train, epochs=2, log_dir=str(tmp_path), verbose=2)
    printed = capsys.readouterr().out
    assert history.run_dir == str(tmp_path / "run-002") and history.epoch == [0, 1]
    assert "Left unfinished run" in printed and "learning_rate: 0.01 -> 0.3" in printed
    again = tl_suite.fit(make_model(learning_rate=0.3), train, epochs=2, log_dir=str(tmp_path), verbose=0)
    assert again.run_dir == str(tmp_path / "run-003")  # a finished run is never appended to
    assert len(_rows(tmp_path / "run-002" / "training_log.csv")) == 2


def test_a_nan_run_stops_with_a_clear_message_and_keeps_no_nan_model(tmp_path, tiny_arrays):
    images, _ = tiny_arrays
    targets = np.linspace(0, 1, len(images)).astype("float32")
    train = tl_suite.image_dataset(images=images, labels=targets, batch_size=8,
                                   verbose=False)
    for cache_features in (True, False):
        model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=1,
                                                task="regression", weights=None)
        model.optimizer.learning_rate.assign(1e30)
        log_dir = tmp_path / str(cache_features)
        with pytest.raises(tl_suite.NonFiniteLossError, match="Training stopped at epoch 1"):
            tl_suite.fit(model, train, epochs=3, log_dir=str(log_dir), cache_features=cache_features, verbose=0)
        assert all(np.isfinite(w).all() for w in model.get_weights())
        run = log_dir / "run-001"
        assert not (run / "best.keras").exists() and not (run / "backup").exists()
        assert json.loads((run / "run.json").read_text())["status"] == "failed"
    model.compile(optimizer=keras.optimizers.Adam(float("inf")), loss="mse")
    with pytest.raises(ValueError, match="Received: learning_rate=inf"):
        tl_suite.fit(model, train, epochs=1, log_dir=str(tmp_path / "inf"), verbose=0)


def test_a_full_disk_leaves_the_previous_best_model_and_says_so(tmp_path, splits, make_model, monkeypatch):
    train, validation = splits
    model = make_model(learning_rate=1e-2)
    history = tl_suite.fit(model, train, validation, epochs=1, log_dir=str(tmp_path), verbose=0)
    best_file = os.path.join(history.run_dir, "best.keras")
    before = open(best_file, "rb").read()

    def full_disk(self, filepath, *args, **kwargs):
        open(filepath, "wb").write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", full_disk)
    with pytest.raises(tl_suite.DiskFullError, match="previous version is intact"):
        tl_suite.fit(model, train, validation, epochs=2, log_dir=str(tmp_path), resume="run-001",
                     verbose=0)
    assert open(best_file, "rb").read() == before
