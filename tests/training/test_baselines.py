import numpy as np
import pytest

import tl_suite
from tl_suite.training.baselines import compare, run_baseline as baseline

TEXTS = ["good film", "bad film", "a good one", "a bad one", "good good", "bad bad"] * 3
LABELS = ["pos", "neg"] * 9


def test_text_baseline_is_tf_idf_logistic_regression_and_reads_pairs():
    data = tl_suite.text_dataset(texts=TEXTS, labels=LABELS, verbose=False)
    result = baseline(data, data)
    assert result["name"] == "TF-IDF + logistic regression" and result["task"] == "classification"
    assert result["metrics"]["accuracy"] == 1.0 and result["seconds"] >= 0
    pairs = tl_suite.text_dataset(texts=[(t, "same tail") for t in TEXTS], labels=LABELS, verbose=False)
    assert baseline(pairs, pairs)["metrics"]["accuracy"] == 1.0
    # words it never saw: no evidence, so it cannot beat chance on them
    unseen = tl_suite.text_dataset(texts=["zebra zebra", "yak yak"] * 3, labels=["pos", "neg"] * 3,
                                   class_names=["neg", "pos"], verbose=False)
    assert baseline(data, unseen)["metrics"]["accuracy"] == 0.5


def test_multi_label_and_regression_text_baselines():
    multi = tl_suite.text_dataset(texts=["red car", "blue car", "red sky", "blue sky"] * 4,
                                  labels=[["red", "car"], ["blue", "car"], ["red", "sky"], ["blue", "sky"]] * 4,
                                  label_mode="multi_hot", verbose=False)
    result = baseline(multi, multi)
    assert result["task"] == "multi_label" and result["metrics"]["micro_f1"] == 1.0
    rated = tl_suite.text_dataset(texts=["good", "bad", "good good", "bad bad"] * 4,
                                  labels=[4.0, 1.0, 5.0, 0.0] * 4, label_mode="float", verbose=False)
    result = baseline(rated, rated)
    assert result["name"] == "TF-IDF + ridge regression" and result["metrics"]["rmse"] < 1.0


def test_image_baseline_reads_pooled_pixels():
    rng = np.random.default_rng(0)
    dark = rng.integers(0, 60, size=(10, 16, 16), dtype=np.uint8)
    bright = rng.integers(190, 255, size=(10, 16, 16), dtype=np.uint8)
    data = tl_suite.image_dataset(images=np.concatenate([dark, bright]), labels=[0] * 10 + [1] * 10,
                                  class_names=["dark", "bright"], verbose=False)
    result = baseline(data, data)
    assert result["name"] == "logistic regression on pooled pixels"
    assert result["metrics"]["accuracy"] == 1.0


def test_tagger_baseline_is_the_most_frequent_tag_per_word():
    train = tl_suite.token_dataset(
        sentences=[["Paris", "is", "big"], ["I", "love", "paris"], ["Paris", "Hilton", "sings"]],
        tags=[["B-loc", "O", "O"], ["O", "O", "B-loc"], ["B-per", "I-per", "O"]], verbose=False)
    test = tl_suite.token_dataset(sentences=[["paris", "sings"], ["Hilton", "is", "here"], ["Berlin", "is", "big"]],
                                  tags=[["B-loc", "O"], ["B-per", "O", "O"], ["B-loc", "O", "O"]],
                                  tag_names=train.tag_names, verbose=False)
    result = baseline(train, test)
    # "paris" -> B-loc (2 of 3, case ignored); "hilton" -> I-per, which seqeval (conlleval mode)
    # reads as a person starting there: right; "Berlin" unseen -> O: missed.
    assert result["name"] == "most frequent training tag per word"
    assert result["metrics"]["precision"] == pytest.approx(1.0)
    assert result["metrics"]["recall"] == pytest.approx(2 / 3)
    assert result["metrics"]["f1"] == pytest.approx(0.8)


def test_compare_warns_only_when_the_model_loses():
    reference = {"name": "TF-IDF + logistic regression", "metrics": {"accuracy": 0.9, "rmse": 1.0},
                 "seconds": 2.0}
    text, lost = compare({"accuracy": 0.95}, reference, "classification")
    assert not lost and "model 0.9500 vs baseline (TF-IDF + logistic regression" in text
    text, lost = compare({"accuracy": 0.80}, reference, "classification")
    assert lost and "WARNING: the transfer model loses to the baseline on accuracy" in text
    assert compare({"rmse": 1.5}, reference, "regression")[1]  # lower is better
    assert not compare({"rmse": 0.5}, reference, "regression")[1]


def test_token_ids_and_plain_datasets_are_refused(text_spec):
    tokenized = tl_suite.text_dataset(texts=TEXTS, labels=LABELS, backbone=text_spec, tokenize=True,
                                      verbose=False)
    with pytest.raises(ValueError, match="without tokenize=True"):
        baseline(tokenized, tokenized)
    import tensorflow as tf
    plain = tf.data.Dataset.from_tensor_slices((["a"], [0])).batch(1)
    with pytest.raises(ValueError, match="DatasetInfo"):
        baseline(plain, plain)


def test_evaluate_prints_the_baseline_beside_the_model_and_warns_when_it_loses(text_spec, tmp_path):
    data = tl_suite.text_dataset(texts=TEXTS, labels=LABELS, class_names=["neg", "pos"], verbose=False)
    model = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, seed=0,
                                           wide_tokens=None)  # untrained: chance level
    with pytest.warns(UserWarning, match="loses to the baseline on accuracy"):
        result = tl_suite.evaluate(model, data, baseline=data, verbose=False, log_dir=str(tmp_path))
    assert result["baseline"]["metrics"]["accuracy"] == 1.0 and result["baseline"]["model_lost"]
    assert "Baseline on the same split:\naccuracy: model" in result["report"]
    assert (tmp_path / "evaluation").is_dir()
