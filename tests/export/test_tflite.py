"""TFLite files of tiny tl_suite models: every quantization converts, runs in the TFLite
interpreter and agrees with the Keras model; text models by token ids and by raw strings."""

import os

import numpy as np
import pytest
import tensorflow as tf

import tl_suite
from tl_suite.backbones.text import tiny_bert_spec
from tl_suite.export.tflite import (check_tflite, export_tflite, input_specs, load_tflite,
                                    run_tflite, tflite_inputs)

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox", "jump",
              "##s", "##ed", "paris", "is", "big", "london", "rain", "##y", "good", "bad", "film",
              ",", "."]
TEXTS = ["good film", "Bad film.", "the quick brown fox", "paris is big", "london is rainy,",
         "bad bad film", "good", "the fox jumped and jumped over the quick brown fox again and again"]


def _colour_images(count, seed, size=(20, 24)):
    """Images whose class (red / green / blue) is readable from the pixels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    images = rng.integers(0, 60, size=(count, *size, 3)).astype("uint8")
    for index, label in enumerate(labels):
        images[index, :, :, label] = rng.integers(150, 250)
    return images, labels.astype("int32")


@pytest.fixture(scope="module")
def image_data():
    (train_images, train_labels), (test_images, test_labels) = _colour_images(60, 0), _colour_images(36, 1)
    train = tl_suite.image_dataset(images=train_images, labels=train_labels, batch_size=16,
                                   verbose=False)
    held_out = tl_suite.image_dataset(images=test_images, labels=test_labels, batch_size=16,
                                      shuffle=False, verbose=False)
    return train, held_out


@pytest.fixture(scope="module")
def image_model(image_data):
    """A tiny image classifier trained until its predictions are confident (so int8 argmax
    agreement means something)."""
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None,
                                            seed=0, learning_rate=0.3, dropout=0.0)
    model.fit(image_data[0], epochs=15, verbose=0, shuffle=False)
    return model


@pytest.fixture(scope="module")
def held_out_images():
    return _colour_images(12, 2)[0]


def _run(path, model, x):
    runner = load_tflite(path)
    return run_tflite(runner, tflite_inputs(model, x, input_specs(runner)))


@pytest.mark.parametrize("quantization, atol", [(None, 1e-4), ("float16", 2e-2), ("dynamic_int8", 5e-2)])
def test_float_and_dynamic_image_files_match_keras(tmp_path, image_model, held_out_images,
                                                   quantization, atol):
    path = export_tflite(image_model, tmp_path / "m.tflite", quantization=quantization,
                         input_size=(20, 24))
    expected = image_model.predict(held_out_images, verbose=0)
    got = _run(path, image_model, held_out_images)
    assert got.shape == expected.shape == (12, 3)
    np.testing.assert_allclose(got, expected, atol=atol)
    assert (got.argmax(-1) == expected.argmax(-1)).mean() >= 11 / 12


def test_full_integer_image_file_takes_uint8_pixels_and_agrees(tmp_path, image_model, image_data,
                                                               held_out_images):
    path = export_tflite(image_model, tmp_path / "int8.tflite", quantization="int8",
                         representative_data=image_data[0], input_size=(20, 24))
    runner = load_tflite(path)
    images = runner.get_input_details()["images"]
    assert images["dtype"] == np.uint8 and list(images["shape_signature"]) == [-1, 20, 24, 3]
    output = runner.get_output_details()["probabilities"]
    assert output["dtype"] == np.uint8 and output["quantization"][0] == pytest.approx(1 / 256)
    expected = image_model.predict(held_out_images, verbose=0)
    got = run_tflite(runner, {"images": held_out_images})
    assert (got.argmax(-1) == expected.argmax(-1)).mean() >= 10 / 12
    assert np.abs(got - expected).max() < 0.15
    assert np.allclose(got.sum(-1), 1.0, atol=0.05)  # still probabilities after dequantizing


def test_quantized_files_are_smaller(tmp_path, image_data):
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None,
                                            hidden_units=(1024,), seed=0)  # weights dominate the file
    sizes = {quantization: os.path.getsize(export_tflite(
        model, tmp_path / f"{quantization}.tflite", quantization=quantization,
        representative_data=image_data[0], calibration_examples=20))
        for quantization in (None, "float16", "dynamic_int8", "int8")}
    assert sizes["float16"] < 0.6 * sizes[None], sizes
    assert sizes["dynamic_int8"] < 0.5 * sizes[None] and sizes["int8"] < 0.5 * sizes[None], sizes


@pytest.mark.parametrize("input_size", [None, (20, 24), "any"])
def test_image_input_sizes_resize_inside_as_the_model_does(tmp_path, image_model, held_out_images,
                                                           input_size):
    path = export_tflite(image_model, tmp_path / "m.tflite", input_size=input_size)
    shape = input_specs(load_tflite(path))["images"][0]
    assert shape == {None: [None, 32, 32, 3], "any": [None, None, None, 3]}.get(input_size,
                                                                              [None, 20, 24, 3])
    got = _run(path, image_model, held_out_images)
    expected = image_model.predict(held_out_images, verbose=0)
    # The model's own size: the client resizes to 32 x 32 and rounds to uint8 first.
    np.testing.assert_allclose(got, expected, atol=2e-2 if input_size is None else 1e-4)


def test_the_calibration_temperature_travels_inside(tmp_path, image_data, held_out_images):
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None,
                                            seed=1, learning_rate=1e-2)
    model.fit(image_data[0], epochs=3, verbose=0, shuffle=False)
    before = model.predict(held_out_images, verbose=0)
    model.head.get_layer("temperature").set_temperature(2.5)
    after = model.predict(held_out_images, verbose=0)
    assert not np.allclose(before, after, atol=1e-3)
    path = export_tflite(model, tmp_path / "calibrated.tflite", input_size=(20, 24))
    np.testing.assert_allclose(_run(path, model, held_out_images), after, atol=1e-5)


@pytest.mark.parametrize("task, names", [("multi_label", ["red", "green", "blue"]),
                                         ("regression", ["brightness", "redness"])])
def test_multi_label_and_regression_image_files(tmp_path, held_out_images, task, names):
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", task=task, class_names=names,
                                            weights=None, seed=0)
    path = export_tflite(model, tmp_path / f"{task}.tflite", input_size=(20, 24))
    assert list(load_tflite(path).get_output_details()) == [
        "values" if task == "regression" else "probabilities"]
    np.testing.assert_allclose(_run(path, model, held_out_images),
                               model.predict(held_out_images, verbose=0), atol=1e-4)


def test_check_tflite_compares_scores_on_held_out_data(tmp_path, image_model, image_data, capsys):
    path = export_tflite(image_model, tmp_path / "f.tflite", input_size=(20, 24))
    result = check_tflite(image_model, path, image_data[1])
    keras_accuracy = tl_suite.evaluate(image_model, image_data[1], verbose=0)["metrics"]["accuracy"]
    assert result["metric"] == "accuracy" and result["examples"] == 36
    assert result["keras"] == pytest.approx(keras_accuracy, abs=1e-6) and result["keras"] > 0.9
    assert result["tflite"] == result["keras"] and result["change"] == 0.0
    assert result["agreement"] == 1.0 and result["max_difference"] < 1e-4
    printed = capsys.readouterr().out
    assert "accuracy Keras" in printed and "(change +0.0000)" in printed
    int8 = export_tflite(image_model, tmp_path / "q.tflite", quantization="int8",
                         representative_data=image_data[0], input_size=(20, 24))
    quantized = check_tflite(image_model, int8, image_data[1], max_examples=16, verbose=False)
    assert quantized["examples"] == 16 and quantized["agreement"] >= 0.8
    assert abs(quantized["change"]) <= 0.2 and 0 < quantized["max_difference"] < 0.2


# ---- text ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def text_data():
    labels = [int("bad" in text.lower()) for text in TEXTS]
    return tl_suite.text_dataset(texts=TEXTS * 3, labels=labels * 3, shuffle=False, batch_size=8,
                                 verbose=False)


def _text_model(text_data, **options):
    model = tl_suite.build_text_classifier(tiny_bert_spec(VOCABULARY), class_names=["ok", "bad"],
                                           weights=None, seed=0, sequence_length=16, **options)
    model.fit(text_data, epochs=4, verbose=0, shuffle=False)
    return model


@pytest.fixture(scope="module")
def wide_text_model(text_data):
    """A text classifier with the TF-IDF wide branch (its vocabulary learnt by fit)."""
    return _text_model(text_data, wide_tokens=32)


@pytest.mark.parametrize("quantization, atol", [(None, 1e-5), ("float16", 1e-2),
                                                ("dynamic_int8", 5e-2), ("int8", 0.1)])
def test_text_files_take_token_ids_and_tf_idf(tmp_path, wide_text_model, text_data, quantization, atol):
    path = export_tflite(wide_text_model, tmp_path / "text.tflite", quantization=quantization,
                         representative_data=text_data)
    specs = input_specs(load_tflite(path))
    assert specs["token_ids"][0] == [None, 16] and specs["tf_idf"][0] == [None, 32]
    assert sorted(specs) == ["padding_mask", "segment_ids", "tf_idf", "token_ids"]
    expected = wide_text_model.predict(np.array(TEXTS), verbose=0)
    got = _run(path, wide_text_model, np.array(TEXTS))
    np.testing.assert_allclose(got, expected, atol=atol)
    assert (got.argmax(-1) == expected.argmax(-1)).mean() >= 7 / 8


def test_text_file_takes_raw_strings_with_the_tokenizer_inside(tmp_path, text_data):
    model = _text_model(text_data, wide_tokens=None)
    # FastBertTokenizer lowercases and strips accents together, as MiniLM's tokenizer does.
    model.preprocessor.tokenizer.strip_accents = True
    path = export_tflite(model, tmp_path / "strings.tflite", text_inputs="strings")
    runner = load_tflite(path)
    assert input_specs(runner) == {"texts": ([None], tf.string)}
    got = run_tflite(runner, {"texts": np.array(TEXTS, dtype=object)})
    np.testing.assert_allclose(got, model.predict(np.array(TEXTS), verbose=0), atol=1e-5)
    one = run_tflite(runner, {"texts": np.array(["the quick brown fox"], dtype=object)})
    np.testing.assert_allclose(one, got[2:3], atol=1e-5)  # texts longer than 16 pieces truncate
    assert check_tflite(model, path, text_data, verbose=False)["max_difference"] < 1e-5


def test_text_pairs_go_in_as_segments_of_the_token_ids(tmp_path):
    model = tl_suite.build_text_regressor(tiny_bert_spec(VOCABULARY), weights=None, seed=0,
                                          sequence_length=16, wide_tokens=None)
    path = export_tflite(model, tmp_path / "pairs.tflite")
    pairs = (np.array(TEXTS[:4]), np.array(TEXTS[4:]))
    runner = load_tflite(path)
    inputs = tflite_inputs(model, pairs, input_specs(runner))
    assert inputs["segment_ids"].max() == 1 and inputs["token_ids"].shape == (4, 16)
    np.testing.assert_allclose(run_tflite(runner, inputs), model.predict(pairs, verbose=0), atol=1e-5)


def test_text_strings_refuse_the_wide_branch_with_the_fix(tmp_path, wide_text_model):
    with pytest.raises(ValueError, match=r"StringNGrams.*wide_tokens=None.*text_inputs='token_ids'"):
        export_tflite(wide_text_model, tmp_path / "s.tflite", text_inputs="strings")


# ---- errors --------------------------------------------------------------------------------

def test_bad_arguments_name_themselves(tmp_path, image_model):
    with pytest.raises(ValueError, match=r"Received: quantization='int4'"):
        export_tflite(image_model, tmp_path / "m.tflite", quantization="int4")
    with pytest.raises(ValueError, match=r"representative_data=train.*Received: representative_data=None"):
        export_tflite(image_model, tmp_path / "m.tflite", quantization="int8")
    with pytest.raises(ValueError, match=r"Received: input_size=\(20,\)"):
        export_tflite(image_model, tmp_path / "m.tflite", input_size=(20,))
    with pytest.raises(ValueError, match=r"Received: text_inputs='ids'"):
        export_tflite(image_model, tmp_path / "m.tflite", text_inputs="ids")
    assert not os.path.exists(tmp_path / "m.tflite")


def test_token_classifiers_and_windowed_models_point_to_the_saved_model(tmp_path):
    spec = tiny_bert_spec(VOCABULARY)
    tagger = tl_suite.build_token_classifier(spec, tags=["O", "B-loc", "I-loc"], weights=None)
    with pytest.raises(ValueError, match="format='saved_model'"):
        export_tflite(tagger, tmp_path / "t.tflite")
    windowed = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, sequence_length=8,
                                              max_windows=3, wide_tokens=None)
    with pytest.raises(ValueError, match=r"max_windows=1.*Received: max_windows=3"):
        export_tflite(windowed, tmp_path / "w.tflite")
