"""`export` to a SavedModel: loaded in a fresh process that imports only tensorflow (and
tensorflow_text), the served labels and numbers equal the Keras model's on raw bytes/strings.

Each fixture trains and exports its models, then serves them all from one new process (a
process start with TensorFlow costs seconds); each test compares one model's answers.
"""

import base64
import io
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import tl_suite
from tl_suite.backbones.text import tiny_bert_spec
from tl_suite.export import export

pytestmark = pytest.mark.filterwarnings("ignore:`train` carries no tl_suite dataset info")

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film", "paris", "is",
              "big", "london", "rain", "##y", "the", "fox", "jump", "##ed"]
TEXTS = ["good film", "bad film", "good good", "bad", "the fox", "paris is big", "bad rain",
         "good film good"]
COLOURS = ["red", "green", "blue"]

# The serving process: tl_suite and keras_hub (and, for image models, keras too) cannot be
# imported there at all, so each artifact must carry everything it needs.
_SERVE = textwrap.dedent("""
    import base64, json, sys
    blocked = sys.argv[2].split(",")
    for name in blocked:
        sys.modules[name] = None  # "import name" now fails, as if it were not installed
    import tensorflow as tf
    if "keras" not in blocked:
        import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)
    with open(sys.argv[1]) as file:
        requests = json.load(file)
    answers = {}
    for key, (folder, inputs) in requests.items():
        serve = tf.saved_model.load(folder).signatures["serving_default"]
        tensors = {name: tf.constant([base64.b64decode(v["b64"]) if isinstance(v, dict) else v
                                      for v in values]) for name, values in inputs.items()}
        answers[key] = {name: value.numpy().tolist() for name, value in serve(**tensors).items()}
    assert sys.modules["tl_suite"] is None and sys.modules["keras_hub"] is None
    print(json.dumps(answers, default=lambda value: value.decode()))  # bytes: string outputs
""")


def serve_in_fresh_process(requests, tmp_path, text=True):
    """``{key: outputs}`` of the SavedModels ``{key: (folder, {input name: values})}``
    (bytes values: images), computed in a new Python process."""
    def encode(value):
        return {"b64": base64.b64encode(value).decode()} if isinstance(value, bytes) else value

    encoded = {key: (str(folder), {name: [encode(v) for v in values] for name, values in inputs.items()})
               for key, (folder, inputs) in requests.items()}
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(encoded))
    blocked = "tl_suite,keras_hub" if text else "tl_suite,keras_hub,keras"
    result = subprocess.run(
        [sys.executable, "-c", _SERVE, str(path), blocked], cwd=tmp_path, capture_output=True,
        text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _dataset(x, y, batch_size=4):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


def _fit(model, dataset, folder):
    tl_suite.fit(model, dataset, epochs=1, log_dir=str(folder / "runs"), verbose=0)
    return model


def _sharpen(model, factor):
    """Scale the output layer so the tiny random model's answers are far from ties."""
    predictions = model.head.get_layer("predictions")
    predictions.set_weights([weight * factor for weight in predictions.get_weights()])


def _colour_images(count, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 80, size=(count, 24, 28, 3)).astype("uint8")
    for index in range(count):
        images[index, :, :, index % 3] += 150  # the class is readable from the colour
    return images


def _encoded(array, image_format):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, image_format)
    return buffer.getvalue()


def _client_images(folder):
    """Files a client holds: PNG, JPEG, gray PNG and RGBA PNG of several sizes."""
    rng = np.random.default_rng(3)
    colours = _colour_images(3, seed=5)
    arrays = [
        (colours[1], "PNG", "png"),
        (np.clip(colours[2].astype(int) + 20, 0, 255).astype("uint8"), "JPEG", "jpg"),
        (rng.integers(0, 255, size=(40, 17)).astype("uint8"), "PNG", "png"),  # gray
        (np.dstack([colours[0], rng.integers(0, 255, (24, 28)).astype("uint8")]), "PNG", "png"),  # RGBA
    ]
    paths = []
    for index, (array, image_format, suffix) in enumerate(arrays):
        path = folder / f"image{index}.{suffix}"
        path.write_bytes(_encoded(array, image_format))
        paths.append(str(path))
    return paths


def _image_models(folder):
    classifier = tl_suite.build_image_classifier("tiny_efficientnet_lite", class_names=COLOURS,
                                                 weights=None, seed=0)
    _fit(classifier, _dataset(_colour_images(12), np.arange(12) % 3), folder)
    multi_label = tl_suite.build_image_classifier(
        "tiny_efficientnet_lite", task="multi_label", class_names=COLOURS + ["dark"], weights=None, seed=0)
    for model in (classifier, multi_label):
        _sharpen(model, 20.0)
    classifier.head.get_layer("temperature").set_temperature(0.5)  # as `calibrate` sets it
    return {"classifier": classifier, "multi_label": multi_label}


@pytest.fixture(scope="module")
def image_exports(tmp_path_factory):
    """``(models, client image paths, served outputs)`` of tiny image models."""
    folder = tmp_path_factory.mktemp("image_exports")
    models, paths = _image_models(folder), _client_images(folder)
    images = {"images": [open(path, "rb").read() for path in paths]}
    requests = {
        "classifier": (export(models["classifier"], folder / "colours" / "1"), images),
        "multi_label": (export(models["multi_label"], folder / "multi", threshold=0.3), images),
    }
    return models, paths, serve_in_fresh_process(requests, folder, text=False)


def _text_models(folder, spec):
    text = dict(weights=None, seed=0)
    binary = dict(class_names=["negative", "positive"], **text)
    models = {
        "classifier": tl_suite.build_text_classifier(spec, wide_tokens=40, **binary),
        "multi_label": tl_suite.build_text_classifier(
            spec, multi_label=True, class_names=["film", "place", "weather"], wide_tokens=None, **text),
        "pair_regressor": tl_suite.build_text_regressor(
            spec, output_names=["rating"], wide_tokens=40, **text),
        "windowed": tl_suite.build_text_classifier(
            spec, sequence_length=8, max_windows=3, wide_tokens=None, **binary),
        "tagger": tl_suite.build_token_classifier(
            spec, tags=["O", "B-loc", "I-loc"], sequence_length=8, **text),
    }
    # The models with a TF-IDF branch learn its vocabulary in `fit`; the others serve as built.
    pairs = (np.array(TEXTS[:4]), np.array(TEXTS[4:]))
    _fit(models["classifier"], _dataset(np.array(TEXTS), np.array([1, 0, 1, 0, 1, 1, 0, 1])), folder)
    ratings = np.array([[4.0], [1.0], [3.5], [0.5]], "float32")
    _fit(models["pair_regressor"], _dataset(pairs, ratings), folder)
    for key in ("classifier", "multi_label", "windowed"):
        _sharpen(models[key], 20.0)
    # "I-loc" the likeliest tag of most words: argmax gives sequences BIO forbids, and only
    # decoding each whole sentence at once (windows joined) gets them right.
    predictions = models["tagger"].head.get_layer("predictions")
    kernel, bias = predictions.get_weights()
    predictions.set_weights([kernel, bias + np.array([0.0, 0.5, 3.0], "float32")])
    return models


TEXT_INPUTS = {
    "classifier": {"texts": ["Good film!", "bad, BAD rain", "", "unknown words only",
                             "the fox jumped " * 30, "Café naïve film"]},
    "multi_label": {"texts": ["good film", "paris is big", "london rain", "bad"]},
    "pair_regressor": {"texts": ["good film", "bad", ""],
                       "second_texts": ["paris is big", "london is rainy", "the fox"]},
    "windowed": {"texts": ["good film", "the fox jumped paris is big london is rainy film bad bad good"]},
    "tagger": {"sentences": ["paris is big", "the quick brown fox jumped over london and paris in the rain",
                             "", "London"]},
}


@pytest.fixture(scope="module")
def text_exports(tmp_path_factory):
    """``(models, served outputs)`` of tiny text models of every kind (see `TEXT_INPUTS`)."""
    folder = tmp_path_factory.mktemp("text_exports")
    models = _text_models(folder, tiny_bert_spec(VOCABULARY))
    requests = {key: (export(model, folder / key / "1", text_pairs=key == "pair_regressor"),
                      TEXT_INPUTS[key]) for key, model in models.items()}
    return models, serve_in_fresh_process(requests, folder)


def test_image_classifier_serves_labels_from_encoded_bytes(image_exports):
    models, paths, served = image_exports
    model, served = models["classifier"], served["classifier"]
    expected = model.predict(paths, verbose=0)  # PIL decodes the files here, TF there
    rows = tl_suite.predict(model, paths)
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-5)
    np.testing.assert_allclose(served["probability"], expected.max(axis=1), atol=1e-5)
    assert served["label"] == [row["label"] for row in rows]
    assert served["label_names"] == [COLOURS] * len(paths)
    assert model.temperature == 0.5  # the calibration temperature is served too


def test_image_multi_label_serves_the_labels_at_its_threshold(image_exports):
    models, paths, served = image_exports
    expected = models["multi_label"].predict(paths, verbose=0)
    served = served["multi_label"]
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-5)
    names = COLOURS + ["dark"]
    for row, probabilities in zip(served["labels"], expected):
        chosen = [name for name, p in zip(names, probabilities) if p >= 0.3]
        assert row == chosen + [""] * (len(names) - len(chosen))
    assert any(row[0] for row in served["labels"])


def test_text_classifier_with_tf_idf_branch_serves_raw_strings(text_exports):
    models, served = text_exports
    model, served = models["classifier"], served["classifier"]
    assert model.preprocessor.tf_idf.is_adapted and len(model.preprocessor.tf_idf.vocabulary) > 5
    texts = TEXT_INPUTS["classifier"]["texts"]
    rows = tl_suite.predict(model, texts)
    np.testing.assert_allclose(served["probabilities"], model.predict(texts, verbose=0), atol=1e-5)
    np.testing.assert_allclose(served["probability"], [row["probability"] for row in rows], atol=1e-5)
    assert served["label"] == [row["label"] for row in rows]
    assert served["label_names"] == [["negative", "positive"]] * len(texts)


def test_text_multi_label_serves_its_labels(text_exports):
    models, served = text_exports
    texts = TEXT_INPUTS["multi_label"]["texts"]
    rows = tl_suite.predict(models["multi_label"], texts)
    served = served["multi_label"]
    for row, labels, probabilities in zip(rows, served["labels"], served["probabilities"]):
        assert [label for label in labels if label] == row["labels"]
        np.testing.assert_allclose(probabilities, list(row["probabilities"].values()), atol=1e-5)
    assert any(row["labels"] for row in rows)
    assert not all(row["labels"] == rows[0]["labels"] for row in rows)


def test_text_pair_regressor_serves_values(text_exports):
    models, served = text_exports
    inputs = TEXT_INPUTS["pair_regressor"]
    rows = tl_suite.predict(models["pair_regressor"], list(zip(inputs["texts"], inputs["second_texts"])))
    np.testing.assert_allclose(np.array(served["pair_regressor"]["values"])[:, 0],
                               [row["rating"] for row in rows], atol=1e-5)
    assert served["pair_regressor"]["value_names"] == [["rating"]] * len(rows)


def test_windowed_text_classifier_reads_every_window(text_exports):
    models, served = text_exports
    texts = TEXT_INPUTS["windowed"]["texts"]
    np.testing.assert_allclose(served["windowed"]["probabilities"],
                               models["windowed"].predict(texts, verbose=0), atol=1e-5)


def test_token_classifier_serves_constrained_tags_per_word(text_exports):
    models, served = text_exports
    sentences, served = TEXT_INPUTS["tagger"]["sentences"], served["tagger"]
    expected = tl_suite.predict_tags(models["tagger"], sentences)
    argmax = tl_suite.predict_tags(models["tagger"], sentences, decoding="argmax")
    lengths = served["num_words"]
    assert lengths == [len(sentence.split()) for sentence in sentences]
    assert [row[:n] for row, n in zip(served["tags"], lengths)] == expected
    assert [row[:n] for row, n in zip(served["words"], lengths)] == [s.split() for s in sentences]
    assert expected != argmax  # the served tags are the constrained ones
