"""Acceptance: every kind of model is built, trained a few steps, saved, loaded in a fresh Python
process with ``safe_mode=True`` and predicts the same, with its label names, on raw inputs.

One subprocess loads all saved models (importing TensorFlow costs seconds). It starts first and
loads each model as soon as it is saved, while the next one trains.
"""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

import tl_suite

# Multi-label text differs from the text classifier by its head only (covered by images).
KINDS = ("image_classification", "image_multi_label", "image_regression", "text_classifier",
         "text_regressor", "windowed_text", "token_classifier")
REPOSITORY = pathlib.Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: only `import tl_suite, keras`, then load and predict.
LOAD_AND_PREDICT = '''
import json, os, sys, time
import numpy as np
import keras, tl_suite

def wait_for(path, seconds=600):
    deadline = time.time() + seconds
    while not os.path.exists(path):
        if time.time() > deadline:
            sys.exit(f"timed out waiting for {path}")
        time.sleep(0.05)
    return json.load(open(path))

def load_inputs(spec):
    if spec["type"] == "npy":
        return np.load(spec["path"])
    if spec["type"] == "npy_list":
        return [np.load(path) for path in spec["paths"]]
    if spec["type"] == "pairs":
        return [tuple(pair) for pair in spec["value"]]
    return spec["value"]

root, kinds = sys.argv[1], sys.argv[2].split(",")
results = {}
for kind in kinds:
    entry = wait_for(os.path.join(root, kind, "entry.json"))
    model = keras.saving.load_model(entry["model"], safe_mode=True)
    results[kind] = {
        "class": type(model).__name__, "task": model.task, "label_names": model.label_names,
        "max_windows": model.max_windows, "backbone_name": model.backbone_name,
        "jit_compile": model.jit_compile,
        "layer_groups": [[name, members] for name, members in model.layer_groups],
        "loss": type(model.loss).__name__ if not isinstance(model.loss, str) else model.loss,
        "optimizer": type(model.optimizer).__name__ if model.optimizer else None,
        "rows": {name: tl_suite.predict(model, load_inputs(spec), top_k=10)
                 for name, spec in entry["cases"].items()},
    }
json.dump(results, open(os.path.join(root, "results.json"), "w"))
'''


def _write_images(folder):
    """PNG files (RGB, gray, RGBA; different sizes) and arrays of mixed sizes and channels."""
    rng = np.random.default_rng(3)
    arrays = {"rgb.png": rng.integers(0, 256, (30, 20, 3), dtype=np.uint8),
              "gray.png": rng.integers(0, 256, (16, 16), dtype=np.uint8),
              "rgba.png": rng.integers(0, 256, (40, 24, 4), dtype=np.uint8)}
    paths = []
    for name, array in arrays.items():
        Image.fromarray(array).save(folder / name)
        paths.append(str(folder / name))
    mixed = [rng.integers(0, 256, (20, 30), dtype=np.uint8),  # gray 2-D
             rng.integers(0, 256, (40, 40, 4), dtype=np.uint8),  # RGBA
             rng.integers(0, 256, (10, 50, 3), dtype=np.uint8)]
    mixed_paths = []
    for index, array in enumerate(mixed):
        np.save(folder / f"mixed{index}.npy", array)
        mixed_paths.append(str(folder / f"mixed{index}.npy"))
    return paths, mixed, mixed_paths


def _cases(kind, folder, raw):
    """``{case: (inputs, json spec)}``: raw inputs of every form a user holds. Text cases are
    the batch of `raw_inputs` and one of its examples alone (so one in-process prediction
    gives the expected values of both)."""
    if kind.startswith("image"):
        np.save(folder / "batch.npy", raw)
        paths, mixed, mixed_paths = _write_images(folder)
        return {"batch": (raw, {"type": "npy", "path": str(folder / "batch.npy")}),
                "paths": (paths, {"type": "value", "value": paths}),
                "mixed_arrays": (mixed, {"type": "npy_list", "paths": mixed_paths})}
    if kind == "text_regressor":
        return {"pairs": (raw, {"type": "pairs", "value": raw})}
    if kind == "token_classifier":
        return {"sentences": (raw, {"type": "value", "value": raw}),
                "one_sentence": (raw[1], {"type": "value", "value": raw[1]})}
    if kind == "windowed_text":
        return {"texts": (raw, {"type": "value", "value": raw})}
    return {"texts": (raw, {"type": "value", "value": raw}),
            "one_text": (raw[1], {"type": "value", "value": raw[1]})}


def _train_a_few_steps(model, x, y):
    head_before = [np.array(w) for w in model.head.weights]
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    assert any(not np.array_equal(a, np.array(b)) for a, b in zip(head_before, model.head.weights))


def _expected(kind, model, cases):
    """In-process predictions the reloaded model must reproduce, per case. Text models are
    called on prepared inputs (what ``model.predict`` does, see test_task.py, without the
    seconds keras-hub's predict spends tracing a new tf.data pipeline per call)."""
    if kind.startswith("image"):
        return {name: model.predict(inputs, verbose=0) for name, (inputs, _) in cases.items()}
    batch = next(iter(cases.values()))[0]
    if kind == "token_classifier":
        rows = tl_suite.predict(model, batch)
        return {"sentences": rows, "one_sentence": rows[1:2]}
    x, _ = model.prepare(model.preprocessor.coerce(batch))
    outputs = keras.ops.convert_to_numpy(model(x))
    by_case = {"texts": outputs, "pairs": outputs, "one_text": outputs[1:2]}
    return {name: by_case[name] for name in cases}


@pytest.fixture(scope="module")
def saved(tmp_path_factory, build_model, training_data, inputs_of):
    """Train and save one model per kind; a fresh Python process loads each once saved."""
    root = tmp_path_factory.mktemp("saved_models")
    (root / "load_and_predict.py").write_text(LOAD_AND_PREDICT)
    process = subprocess.Popen(
        [sys.executable, str(root / "load_and_predict.py"), str(root), ",".join(KINDS)],
        cwd=REPOSITORY, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        manifest, expected, models = {}, {}, {}
        for kind in KINDS:
            folder = root / kind
            folder.mkdir()
            models[kind] = build_model(kind)
            _train_a_few_steps(models[kind], *training_data(kind))
            models[kind].save(folder / "model.keras")
            cases = _cases(kind, folder, inputs_of(kind))
            manifest[kind] = {"model": str(folder / "model.keras"),
                              "cases": {name: spec for name, (_, spec) in cases.items()}}
            (folder / "entry.partial").write_text(json.dumps(manifest[kind]))
            os.replace(folder / "entry.partial", folder / "entry.json")  # seen whole or not at all
            expected[kind] = _expected(kind, models[kind], cases)
        _, stderr = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr[-3000:]
    results = json.loads((root / "results.json").read_text())
    return {kind: (models[kind], manifest[kind], expected[kind], results[kind]) for kind in KINDS}


def _row_scores(model, row):
    """The scores a `tl_suite.predict` row holds, in the order of the model's outputs."""
    names = model.label_names
    if model.task == "classification":
        by_name = dict(zip(row["top_labels"], row["top_probabilities"]))
        assert row["label"] == row["top_labels"][0] and len(by_name) == len(names)
        return [by_name[name] for name in names]
    if model.task == "multi_label":
        return [row["probabilities"][name] for name in names]
    return [row[name] for name in names]


@pytest.mark.parametrize("kind", KINDS)
def test_reloaded_model_keeps_its_contract(saved, kind):
    model, _, _, reloaded = saved[kind]
    assert reloaded["class"] == type(model).__name__
    assert reloaded["task"] == model.task and reloaded["backbone_name"] == model.backbone_name
    assert reloaded["label_names"] == model.label_names is not None
    assert reloaded["max_windows"] == model.max_windows
    if kind == "windowed_text":
        assert reloaded["jit_compile"] is False  # still never XLA after reloading
    assert reloaded["layer_groups"] == [[name, members] for name, members in model.layer_groups]
    assert reloaded["optimizer"] == "Adam"  # recompiled with the saved compile arguments
    expected_loss = {"classification": "sparse_categorical_crossentropy",
                     "multi_label": "binary_crossentropy", "regression": "mean_squared_error",
                     "token_classification": "SparseCategoricalCrossentropy"}[model.task]
    assert reloaded["loss"] == expected_loss


@pytest.mark.parametrize("kind", KINDS)
def test_reloaded_model_predicts_what_the_trained_one_did(saved, kind):
    model, _, expected, reloaded = saved[kind]
    assert set(reloaded["rows"]) == set(expected)
    for case, rows in reloaded["rows"].items():
        if kind == "token_classifier":
            assert rows == [{"words": row["words"], "tags": row["tags"]} for row in expected[case]]
        else:
            # Text cases compare one text alone with the same text in a padded batch.
            np.testing.assert_allclose([_row_scores(model, row) for row in rows], expected[case],
                                       rtol=1e-5, atol=1e-5, err_msg=f"{kind}: {case}")


@pytest.mark.parametrize("kind", KINDS)
def test_predict_on_raw_inputs_returns_labels_after_reload(saved, kind):
    model, entry, _, reloaded = saved[kind]
    rows = reloaded["rows"]
    names = model.label_names
    if kind.startswith("image"):
        assert [row["input"] for row in rows["paths"]] == entry["cases"]["paths"]["value"]
        assert len(rows["mixed_arrays"]) == 3 and "input" not in rows["mixed_arrays"][0]
        assert len(rows["batch"]) == 3
    if kind == "token_classifier":
        assert [row["words"] for row in rows["sentences"]] == [
            ["paris", "is", "big"], ["the", "quick", "brown", "fox", "jumped"]]
        assert [row["words"] for row in rows["one_sentence"]] == [
            ["the", "quick", "brown", "fox", "jumped"]]
        assert all(len(row["tags"]) == len(row["words"]) and set(row["tags"]) <= set(names)
                   for case in rows.values() for row in case)
        return
    if kind == "text_regressor":
        assert [row["input"] for row in rows["pairs"]] == [["good film", "paris is big"],
                                                           ["bad", "london is rainy"]]
        assert set(rows["pairs"][0]) == {"input", "rating"}
    elif kind.startswith("text") or kind == "windowed_text":
        assert [row["input"] for row in rows["texts"]] == entry["cases"]["texts"]["value"]
        if "one_text" in rows:
            assert [row["input"] for row in rows["one_text"]] == [entry["cases"]["texts"]["value"][1]]
    for row in (row for case in rows.values() for row in case):
        if model.task == "classification":
            assert row["label"] in names and sorted(row["top_labels"]) == sorted(names)
            assert sum(row["top_probabilities"]) == pytest.approx(1.0, abs=1e-5)
        elif model.task == "multi_label":
            assert set(row["labels"]) <= set(names) and set(row["probabilities"]) == set(names)
        else:
            assert all(isinstance(row[name], float) for name in names)


def test_image_file_predicts_like_its_pixels(saved, tmp_path):
    model = saved["image_classification"][0]
    gray = np.random.default_rng(5).integers(0, 256, (18, 26), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    from_file = model.predict(str(tmp_path / "gray.png"), verbose=0)
    np.testing.assert_allclose(from_file, model.predict(gray, verbose=0), rtol=1e-6)
    # A 4-D batch is resized once in float; single images are first resized to uint8.
    np.testing.assert_allclose(from_file, model.predict(np.stack([gray] * 3, -1)[None], verbose=0),
                               atol=1e-5)
