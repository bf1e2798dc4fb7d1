import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import keras
import numpy as np
import pytest
from sklearn import metrics as sk_metrics

import tl_suite

TINY = "tiny_efficientnet_lite"


@pytest.fixture
def splits(tiny_arrays):
    images, labels = tiny_arrays
    return tl_suite.image_dataset(
        images=images, labels=labels, class_names=["red", "green", "blue"],
        validation_split=0.25, subset="both", batch_size=8, verbose=False,
    )


def _tiny(**kwargs):
    kwargs.setdefault("num_classes", 3)
    return tl_suite.build_image_classifier(TINY, weights=None, **kwargs)


def _rows(path):
    with open(path) as file:
        return list(csv.DictReader(file))


def test_fit_writes_logs_checkpoint_and_csv(tmp_path, splits):
    train, validation = splits
    model = _tiny(learning_rate=1e-2)
    history = tl_suite.fit(model, train, validation, epochs=3, log_dir=str(tmp_path), verbose=0)
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 3
    assert os.listdir(tmp_path / "train") and os.listdir(tmp_path / "validation")
    rows = _rows(tmp_path / "training_log.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    np.testing.assert_allclose([float(r["val_loss"]) for r in rows], history.history["val_loss"], rtol=1e-5)
    best = keras.saving.load_model(tmp_path / "best.keras")
    best_epoch = int(np.argmin(history.history["val_loss"]))
    assert best.evaluate(validation, verbose=0, return_dict=True)["loss"] == pytest.approx(
        history.history["val_loss"][best_epoch], rel=1e-4)
    assert not os.path.exists(tmp_path / "backup")  # removed after a finished fit


def test_early_stopping_stops_when_nothing_improves(tmp_path, splits):
    train, validation = splits
    model = _tiny(learning_rate=0.0)
    history = tl_suite.fit(model, train, validation, epochs=10, log_dir=str(tmp_path),
                           early_stopping_patience=1, verbose=0)
    assert len(history.history["loss"]) == 2


def test_interrupted_fit_resumes_from_backup(tmp_path, splits):
    train, validation = splits

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    model = _tiny(learning_rate=1e-2)
    with pytest.raises(KeyboardInterrupt):
        tl_suite.fit(model, train, validation, epochs=4, log_dir=str(tmp_path),
                     early_stopping_patience=None, callbacks=[Interrupt()], verbose=0)
    assert os.path.isdir(tmp_path / "backup")
    saved_head = [np.array(w) for w in model.get_layer("head").weights]
    fresh = _tiny(learning_rate=1e-2)  # e.g. a new process after a crash
    history = tl_suite.fit(fresh, train, validation, epochs=4, log_dir=str(tmp_path),
                           early_stopping_patience=None, verbose=0)
    assert history.epoch == [2, 3]
    assert [int(r["epoch"]) for r in _rows(tmp_path / "training_log.csv")] == [0, 1, 2, 3]
    assert not np.allclose(saved_head[0], np.array(fresh.get_layer("head").weights[0]))


def test_fit_argument_errors(tmp_path, splits):
    train, _ = splits
    with pytest.raises(ValueError, match="Received: epochs=0"):
        tl_suite.fit(_tiny(), train, epochs=0, log_dir=str(tmp_path))
    with pytest.raises(ValueError, match="needs `validation`"):
        tl_suite.fit(_tiny(), train, monitor="val_accuracy", log_dir=str(tmp_path))


def test_evaluate_classification_matches_sklearn(tmp_path, splits):
    train, validation = splits
    model = _tiny(learning_rate=1e-2)
    model.fit(train, epochs=3, verbose=0)
    result = tl_suite.evaluate(model, validation, log_dir=str(tmp_path))
    images = np.concatenate([x.numpy() for x, _ in validation])
    labels = np.concatenate([y.numpy() for _, y in validation])
    predicted = model.predict(images, verbose=0).argmax(axis=1)
    assert result["metrics"]["accuracy"] == pytest.approx(sk_metrics.accuracy_score(labels, predicted))
    np.testing.assert_array_equal(result["confusion_matrix"], sk_metrics.confusion_matrix(labels, predicted, labels=[0, 1, 2]))
    assert "red" in result["report"] and "blue" in result["report_dict"]
    assert result["figure"].axes[0].get_title() == "Confusion matrix"
    assert os.listdir(tmp_path / "evaluation")


def test_evaluate_multi_label_and_regression(tiny_arrays):
    images, labels = tiny_arrays
    multi_hot = np.stack([labels == 0, labels != 0], axis=1).astype("float32")
    dataset = tl_suite.image_dataset(images=images, labels=multi_hot, class_names=["red", "other"],
                                     shuffle=False, verbose=False)
    model = _tiny(num_classes=2, task="multi_label")
    result = tl_suite.evaluate(model, dataset)
    predicted = (model.predict(images, verbose=0) >= 0.5).astype(int)
    assert result["metrics"]["micro_f1"] == pytest.approx(
        sk_metrics.f1_score(multi_hot.astype(int), predicted, average="micro", zero_division=0))
    assert result["metrics"]["hamming_loss"] == pytest.approx(sk_metrics.hamming_loss(multi_hot, predicted))
    assert "other" in result["report"]

    targets = (labels * 1.5 + 2).astype("float32")
    regression_data = tl_suite.image_dataset(images=images, labels=targets, shuffle=False, verbose=False)
    regressor = _tiny(num_classes=1, task="regression")
    result = tl_suite.evaluate(regressor, regression_data)
    outputs = regressor.predict(images, verbose=0)
    assert result["metrics"]["mae"] == pytest.approx(sk_metrics.mean_absolute_error(targets, outputs[:, 0]), rel=1e-5)
    assert result["metrics"]["r2"] == pytest.approx(sk_metrics.r2_score(targets, outputs[:, 0]), rel=1e-5)
    assert result["figure"].axes[0].get_xlabel() == "True"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def test_tensorboard_server_serves_scalars_and_confusion_matrix(tmp_path, splits):
    train, validation = splits
    model = _tiny(learning_rate=1e-2)
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
                if "epoch_learning_rate" in tags.get("train", {}) and "evaluation" in tags:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= set(tags["train"])
        assert "epoch_loss" in tags["validation"]
        loss = json.loads(_get(f"{base}/scalars/scalars?run=train&tag=epoch_loss"))
        assert [step for _, step, _ in loss] == [0, 1]
        learning_rate = json.loads(_get(f"{base}/scalars/scalars?run=train&tag=epoch_learning_rate"))
        assert learning_rate[0][2] == pytest.approx(1e-2)
        image_tags = json.loads(_get(f"{base}/images/tags"))
        assert "confusion_matrix" in image_tags["evaluation"]
        query = urllib.parse.urlencode({"run": "evaluation", "tag": "confusion_matrix", "sample": 0})
        entries = json.loads(_get(f"{base}/images/images?{query}"))
        png = _get(f"{base}/images/individualImage?{entries[0]['query']}")
        assert png.startswith(b"\x89PNG") and len(png) > 5000
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_out_of_memory_retries_with_half_batches(tmp_path, splits, monkeypatch):
    import tensorflow as tf

    train, validation = splits
    model = _tiny(learning_rate=1e-2)
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
    model2 = _tiny()
    with pytest.raises(RuntimeError, match="Out of memory at batch size 4 after 1 retries"):
        tl_suite.fit(model2, train, epochs=1, log_dir=str(tmp_path / "b"), cache_features=False,
                     oom_retries=1, verbose=0)


def test_initial_epoch_continues_the_epoch_numbering(tmp_path, splits):
    train, validation = splits
    model = _tiny()
    history = tl_suite.fit(model, train, validation, epochs=3, initial_epoch=1, log_dir=str(tmp_path),
                           verbose=0, early_stopping_patience=None)
    assert history.epoch == [1, 2]
    assert [row["epoch"] for row in _rows(tmp_path / "training_log.csv")] == ["1", "2"]
    with pytest.raises(ValueError, match="Received: initial_epoch=3, epochs=3"):
        tl_suite.fit(model, train, epochs=3, initial_epoch=3, log_dir=str(tmp_path))
