import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn import metrics as sk_metrics

import tl_suite
from tl_suite.training import evaluate as evaluate_module
from tl_suite.training import feature_cache
from tl_suite.training.calibration import calibrated_model_ece


def test_evaluate_classification_matches_sklearn(tmp_path, splits, make_model):
    train, validation = splits
    model = make_model(learning_rate=1e-2)
    model.fit(train, epochs=3, shuffle=False, verbose=0)
    result = tl_suite.evaluate(model, validation, log_dir=str(tmp_path), verbose=False)
    images = np.concatenate([x.numpy() for x, _ in validation])
    labels = np.concatenate([y.numpy() for _, y in validation])
    predicted = model.predict(images, verbose=0).argmax(axis=1)
    assert result["task"] == "classification"
    assert result["metrics"]["accuracy"] == pytest.approx(sk_metrics.accuracy_score(labels, predicted))
    np.testing.assert_array_equal(result["confusion_matrix"],
                                  sk_metrics.confusion_matrix(labels, predicted, labels=[0, 1, 2]))
    assert "red" in result["report"] and "blue" in result["report_dict"]  # names from the dataset
    assert result["figure"].axes[0].get_title() == "Confusion matrix"
    assert os.listdir(tmp_path / "evaluation")


def test_evaluate_multi_label_and_regression(tiny_arrays, make_model):
    images, labels = tiny_arrays
    multi_hot = np.stack([labels == 0, labels != 0], axis=1).astype("float32")
    dataset = tl_suite.image_dataset(images=images, labels=multi_hot, class_names=["red", "other"],
                                     shuffle=False, verbose=False)
    model = make_model(num_classes=2, task="multi_label")
    result = tl_suite.evaluate(model, dataset, verbose=False)
    predicted = (model.predict(images, verbose=0) >= 0.5).astype(int)
    assert result["metrics"]["micro_f1"] == pytest.approx(
        sk_metrics.f1_score(multi_hot.astype(int), predicted, average="micro", zero_division=0))
    assert result["metrics"]["hamming_loss"] == pytest.approx(sk_metrics.hamming_loss(multi_hot, predicted))
    assert "other" in result["report"] and result["figure"].axes[0].get_title() == "Per-label F1"

    targets = (labels * 1.5 + 2).astype("float32")
    regression_data = tl_suite.image_dataset(images=images, labels=targets, shuffle=False, verbose=False)
    regressor = make_model(num_classes=1, task="regression")
    result = tl_suite.evaluate(regressor, regression_data, verbose=False)
    outputs = regressor.predict(images, verbose=0)
    assert result["metrics"]["mae"] == pytest.approx(sk_metrics.mean_absolute_error(targets, outputs[:, 0]), rel=1e-5)
    assert result["metrics"]["r2"] == pytest.approx(sk_metrics.r2_score(targets, outputs[:, 0]), rel=1e-5)
    assert result["figure"].axes[0].get_xlabel() == "True"


def test_label_names_model_first_then_dataset_then_ids(tiny_arrays, make_model):
    images, labels = tiny_arrays
    bare = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    assert "red" in tl_suite.evaluate(make_model(class_names=["red", "green", "blue"]), bare,
                                      verbose=False)["report_dict"]
    named = tl_suite.with_info(bare.map(lambda x, y: (x, y)), kind="image", class_names=["r", "g", "b"])
    assert "g" in tl_suite.evaluate(make_model(), named, verbose=False)["report_dict"]
    assert {"0", "1", "2"} <= set(tl_suite.evaluate(make_model(), bare, verbose=False)["report_dict"])
    assert "x" in tl_suite.evaluate(make_model(), named, class_names=["x", "y", "z"], verbose=False)["report"]
    with pytest.raises(ValueError, match=r"3 outputs but 2 class names.*Received: class_names=\['x', 'y'\]"):
        tl_suite.evaluate(make_model(), bare, class_names=["x", "y"], verbose=False)
    with pytest.raises(ValueError, match=r"\['r', 'g', 'b'\].*\['red', 'green', 'blue'\]"):
        tl_suite.evaluate(make_model(class_names=["red", "green", "blue"]), named, verbose=False)


def test_evaluate_needs_a_tl_suite_model(splits):
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="model from a tl_suite builder.*Received: model=Sequential"):
        tl_suite.evaluate(plain, splits[1])


def test_predict_with_labels_matches_the_model_and_keeps_order_of_a_shuffled_dataset(tiny_arrays, make_model):
    images, labels = tiny_arrays
    model = make_model()
    shuffled = tl_suite.image_dataset(images=images, labels=labels, batch_size=8, verbose=False)
    y_true, y_pred = evaluate_module.predict_with_labels(model, shuffled, verbose=False)
    expected = model.predict(images, verbose=0)
    assert sorted(y_true) == sorted(labels)
    for true, row in zip(y_true, y_pred):  # each prediction sits next to its own label
        matches = np.flatnonzero(np.isclose(expected, row, atol=1e-5).all(axis=1))
        assert len(matches) >= 1 and labels[matches[0]] == true


def test_predict_with_labels_also_runs_plain_models():
    x = np.arange(12, dtype="float32").reshape(6, 2)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    data = tf.data.Dataset.from_tensor_slices((x, np.arange(6))).batch(4)
    y_true, y_pred = evaluate_module.predict_with_labels(model, data, verbose=False)
    np.testing.assert_array_equal(y_true, np.arange(6))
    np.testing.assert_allclose(y_pred, model.predict(x, verbose=0), rtol=1e-6)


def test_evaluate_reuses_validation_features_only_while_the_base_is_unchanged(tmp_path, tiny_arrays,
                                                                              make_model, monkeypatch):
    images, labels = tiny_arrays
    model = make_model(seed=3, learning_rate=1e-2)
    split = dict(images=images, labels=labels, batch_size=8, verbose=False, validation_split=0.25)
    train, validation = tl_suite.image_dataset(subset="both", **split)
    tl_suite.fit(model, train, validation, epochs=2, log_dir=str(tmp_path), verbose=0)
    passes = []
    real_make_forward = feature_cache.make_forward
    monkeypatch.setattr(feature_cache, "make_forward",
                        lambda *a, **k: passes.append(1) or real_make_forward(*a, **k))
    reused = tl_suite.evaluate(model, validation, verbose=False)
    assert passes == []  # no backbone pass: the features fit computed were reused
    fresh = tl_suite.evaluate(model, tl_suite.image_dataset(subset="validation", **split), verbose=False)
    assert passes == [1]  # another dataset object: computed again
    np.testing.assert_allclose(reused["y_pred"], fresh["y_pred"], atol=1e-5)
    np.testing.assert_array_equal(reused["y_true"], fresh["y_true"])
    # Once the base changes (unfrozen and trained), the remembered features are dropped.
    model.backbone.trainable = True
    tl_suite.recompile(model, keras.optimizers.Adam(1e-2))
    tl_suite.fit(model, train, epochs=1, log_dir=str(tmp_path / "unfrozen"), verbose=0)
    tl_suite.evaluate(model, validation, verbose=False)
    assert passes == [1, 1] and not feature_cache.is_remembered(model)


def test_text_classifier_evaluation(text_spec):
    texts = ["good film", "bad film", "good", "bad", "film is good", "bad bad"]
    labels = np.array([1, 0, 1, 0, 1, 0])
    data = tl_suite.with_info(tf.data.Dataset.from_tensor_slices((texts, labels)).batch(4),
                              kind="text", class_names=["neg", "pos"])
    model = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, seed=0)
    result = tl_suite.evaluate(model, data, verbose=False)
    predicted = model.predict(texts, verbose=0).argmax(axis=1)
    assert result["metrics"]["accuracy"] == pytest.approx(sk_metrics.accuracy_score(labels, predicted))
    assert "pos" in result["report_dict"]


def test_token_classification_is_entity_level_one_tag_per_word(text_spec, tmp_path):
    from seqeval.metrics import f1_score

    tags = ["O", "B-loc", "B-animal"]
    sentences = ["paris is big", "good fox", "paris fox", "big film is good"]
    tag_ids = [[1, 0, 0], [0, 2], [1, 2], [0, 0, 0, 0]]
    data = tf.data.Dataset.from_tensor_slices(
        (sentences, tf.ragged.constant(tag_ids).to_tensor(-1))).batch(3)
    data = tl_suite.with_info(data, kind="tokens", class_names=tags, label_mode="tags")
    model = tl_suite.build_token_classifier(text_spec, tags=tags, weights=None, seed=0)
    result = tl_suite.evaluate(model, data, log_dir=str(tmp_path), verbose=False)
    expected = [[tags[i] for i in row] for row in tag_ids]
    assert result["true_tags"] == expected
    assert result["predicted_tags"] == tl_suite.predict_tags(model, sentences)
    assert result["metrics"]["f1"] == pytest.approx(f1_score(expected, result["predicted_tags"]))
    words = sum(len(row) for row in expected)
    correct = sum(t == p for a, b in zip(expected, result["predicted_tags"]) for t, p in zip(a, b))
    assert result["metrics"]["token_accuracy"] == pytest.approx(correct / words)
    assert result["figure"].axes[0].get_title() == "Entity F1 per type"


BIO_TAGS = ["O", "B-per", "I-per"]


def test_token_report_decodes_the_best_valid_bio_sequence_by_default():
    # One sentence of three words (the middle word has two pieces: label -1 on the second).
    y_true = np.array([[-1, 1, 2, -1, 0, -1]])  # [CLS] B-per I-per (piece) O [SEP]
    y_pred = np.zeros((1, 6, 3))
    y_pred[0, 1] = [0.55, 0.40, 0.05]  # argmax O, B-per close behind
    y_pred[0, 2] = [0.10, 0.10, 0.80]  # argmax I-per: invalid after O
    y_pred[0, 3] = [0.90, 0.05, 0.05]  # an unlabelled piece: ignored
    y_pred[0, 4] = [0.70, 0.20, 0.10]
    argmax = evaluate_module.token_report(y_true, y_pred, BIO_TAGS, decoding="argmax")
    assert argmax["predicted_tags"] == [["O", "I-per", "O"]]
    constrained = evaluate_module.token_report(y_true, y_pred, BIO_TAGS)
    assert constrained["true_tags"] == [["B-per", "I-per", "O"]]
    assert constrained["predicted_tags"] == [["B-per", "I-per", "O"]]  # .40 * .80 > .55 * .10
    assert constrained["metrics"]["f1"] == 1.0 and constrained["metrics"]["token_accuracy"] == 1.0
    # seqeval reads the stray I-per as an entity of its own: right type, wrong start.
    assert argmax["metrics"]["f1"] == 0.0
    assert argmax["metrics"]["token_accuracy"] == pytest.approx(2 / 3)


def test_token_report_warns_when_the_true_tags_break_bio():
    y_true = np.array([[-1, 0, 2, -1]])  # O I-per: IOB1 data
    y_pred = np.tile([0.2, 0.2, 0.6], (1, 4, 1))
    with pytest.warns(UserWarning, match="1 of 1 sentences break the BIO scheme.*decoding='argmax'"):
        evaluate_module.token_report(y_true, y_pred, BIO_TAGS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = evaluate_module.token_report(y_true, y_pred, BIO_TAGS, decoding="argmax")
    assert result["predicted_tags"] == [["I-per", "I-per"]]


def test_evaluate_decoding_option_matches_predict_tags(text_spec):
    tags = ["O", "B-loc", "I-loc"]
    sentences = ["paris is big", "good fox", "paris fox", "big film is good"]
    tag_ids = [[1, 2, 0], [0, 0], [1, 0], [0, 1, 2, 2]]
    data = tf.data.Dataset.from_tensor_slices(
        (sentences, tf.ragged.constant(tag_ids).to_tensor(-1))).batch(3)
    data = tl_suite.with_info(data, kind="tokens", class_names=tags, label_mode="tags")
    model = tl_suite.build_token_classifier(text_spec, tags=tags, weights=None, seed=0)
    # A head that prefers I-loc everywhere: argmax breaks BIO, the default decoding never does.
    kernel, _ = model.head.get_layer("predictions").get_weights()
    model.head.get_layer("predictions").set_weights(
        [np.zeros_like(kernel), np.log([0.3, 0.2, 0.5]).astype("float32")])
    for decoding in ("constrained", "argmax"):
        result = tl_suite.evaluate(model, data, verbose=False, decoding=decoding)
        assert result["predicted_tags"] == tl_suite.predict_tags(model, sentences, decoding=decoding)
    assert result["predicted_tags"][0] == ["I-loc"] * 3  # the argmax result
    default = tl_suite.evaluate(model, data, verbose=False)
    assert default["predicted_tags"][0] == ["B-loc", "I-loc", "I-loc"]
    with pytest.raises(ValueError, match="Received: decoding='crf'"):
        tl_suite.evaluate(model, data, verbose=False, decoding="crf")


def test_evaluate_reports_the_calibration_error_an_honest_model_would_show():
    rng = np.random.default_rng(0)
    data = tl_suite.image_dataset(images=rng.integers(0, 255, (40, 32, 32, 3)), labels=np.arange(40) % 4,
                                  shuffle=False, verbose=False)
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=4, weights=None, seed=0)
    result = tl_suite.evaluate(model, data, verbose=False)
    noise = result["calibration_noise"]
    assert 0 <= noise["low"] <= noise["median"] <= noise["high"] <= 1
    expected = calibrated_model_ece(result["y_pred"], draws=200)
    assert (noise["median"], noise["low"], noise["high"]) == pytest.approx(expected)
    assert f"{noise['low']:.4f}-{noise['high']:.4f}" in result["report"].splitlines()[-1]
    assert "on these 40 predictions" in result["report"]
