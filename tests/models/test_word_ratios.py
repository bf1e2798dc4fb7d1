import keras
import numpy as np
import pytest

import tl_suite
from tl_suite.models.heads import build_head
from tl_suite.models.naive_bayes import NaiveBayesDense, naive_bayes_ratios
from tl_suite.models.word_ratios import naive_bayes_layer, ratios_from_texts, set_word_ratios

TEXTS = ["good film", "bad film", "good good film", "bad bad film", "the film is good",
         "the film is bad", "paris is good", "fox is bad"]
LABELS = ["positive", "negative"] * 4


def _data(**kwargs):
    return tl_suite.text_dataset(texts=TEXTS, labels=LABELS, batch_size=4, verbose=False,
                                 class_names=["negative", "positive"], **kwargs)


def test_ratios_are_log_count_ratios_of_each_output_against_the_rest():
    sums = np.array([[4.0, 0.0, 2.0, 0.0], [0.0, 2.0, 2.0, 0.0]])  # term 3 never occurs
    ratios = naive_bayes_ratios(sums, sums.sum(axis=0), alpha=1.0)
    positive, negative = 1 + sums, 1 + (sums.sum(axis=0) - sums)
    raw = np.log(positive / positive.sum(1, keepdims=True)) - np.log(negative / negative.sum(1, keepdims=True))
    np.testing.assert_allclose(ratios, (raw / np.abs(raw[:, :3]).mean()).T, rtol=1e-6)
    assert np.abs(ratios[:3]).mean() == pytest.approx(1.0)  # scaled over the terms that occur
    np.testing.assert_array_equal(naive_bayes_ratios(np.zeros((2, 4)), np.zeros(4)), np.ones((4, 2)))


def test_layer_scales_only_the_wide_rows_and_round_trips(tmp_path):
    layer = NaiveBayesDense(3, columns=2, activation="softmax")
    x = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    layer(x)
    ratios = np.random.default_rng(1).normal(size=(4, 3)).astype("float32")
    layer.set_ratios(ratios)
    raw, bias = layer.weights[0].numpy(), layer.bias.numpy()
    expected = np.concatenate([raw[:2], raw[2:] * ratios])
    np.testing.assert_allclose(layer.kernel, expected, rtol=1e-6)
    np.testing.assert_allclose(layer(x), keras.ops.softmax(x @ expected + bias), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"Received: ratios with shape \(2, 3\)"):
        layer.set_ratios(np.ones((2, 3)))
    # the ratios are weights: a saved head keeps them
    head = build_head((6,), 3, gated_columns=2)
    naive_bayes_layer(type("M", (), {"head": head})()).set_ratios(ratios)
    head.save(tmp_path / "head.keras")
    loaded = keras.saving.load_model(tmp_path / "head.keras")
    np.testing.assert_allclose(loaded.get_layer("predictions").ratios, ratios)
    assert loaded.get_layer("predictions").has_ratios
    np.testing.assert_allclose(loaded(x), head(x), rtol=1e-6)


def test_only_wide_class_and_label_heads_without_hidden_layers_get_ratios():
    assert isinstance(build_head((6,), 2, gated_columns=2).get_layer("predictions"), NaiveBayesDense)
    assert isinstance(build_head((6,), 2, task="multi_label", gated_columns=2).get_layer("predictions"),
                      NaiveBayesDense)
    for kwargs in ({}, {"task": "regression"}, {"hidden_units": (4,)}):
        head = build_head((6,), 2, gated_columns=None if not kwargs else 2, **kwargs)
        assert type(head.get_layer("predictions")) is keras.layers.Dense


def test_multi_hot_labels_give_one_ratio_column_per_label():
    model = type("M", (), {"head": build_head((5,), 2, task="multi_label", gated_columns=1)})()
    tf_idf = np.eye(4, dtype="float32")[[0, 1, 2]]
    labels = np.array([[1, 0], [0, 1], [1, 1]])  # term 0 label 0 only, term 1 label 1 only, 2 both
    assert set_word_ratios(model, [(tf_idf, labels)])
    ratios = naive_bayes_layer(model).ratios.numpy()
    assert ratios[0, 0] > 0 > ratios[1, 0] and ratios[1, 1] > 0 > ratios[0, 1]


@pytest.mark.parametrize("cache_features", [True, False])
def test_fit_sets_the_ratios_once_from_the_training_texts(text_spec, tmp_path, cache_features):
    model = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, wide_tokens=20,
                                           seed=1)
    layer = naive_bayes_layer(model)
    assert not layer.has_ratios
    tl_suite.fit(model, _data(), epochs=1, log_dir=str(tmp_path / "a"), verbose=0,
                 cache_features=cache_features)
    assert layer.has_ratios
    vocabulary = model.preprocessor.tf_idf.vocabulary
    ratios = layer.ratios.numpy()  # columns: negative, positive
    good, bad, film = (vocabulary.index(word) for word in ("good", "bad", "film"))
    assert ratios[good, 1] > 0 > ratios[bad, 1] and ratios[bad, 0] > 0 > ratios[good, 0]
    assert abs(ratios[film, 1]) < min(ratios[good, 1], -ratios[bad, 1])  # in both classes
    # from the model's own TF-IDF vectors of the training texts, the same on either path
    tf_idf = model.preprocessor.tf_idf(TEXTS).numpy()
    labels = np.array([["negative", "positive"].index(label) for label in LABELS])
    sums = np.stack([tf_idf[labels == c].sum(0) for c in (0, 1)])
    np.testing.assert_allclose(ratios, naive_bayes_ratios(sums, tf_idf.sum(0)), rtol=1e-4, atol=1e-5)
    # a second fit continues the same head: the ratios stay
    tl_suite.fit(model, _data(), epochs=1, log_dir=str(tmp_path / "b"), verbose=0, resume=False)
    np.testing.assert_array_equal(layer.ratios.numpy(), ratios)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(np.array(TEXTS), verbose=0),
                               model.predict(np.array(TEXTS), verbose=0), rtol=1e-5, atol=1e-6)


def test_keras_fit_on_a_dataset_sets_the_ratios_too(text_spec):
    model = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, wide_tokens=20)
    model.fit(_data(), epochs=1, verbose=0)
    assert naive_bayes_layer(model).has_ratios


def test_a_repeating_dataset_is_read_for_steps_per_epoch_batches(text_spec):
    """The learning-rate finder fits on ``data.repeat()`` with ``steps_per_epoch``: the ratios
    come from that many batches, and an endless dataset without steps leaves them unset with a
    warning instead of reading forever."""
    finite = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None, wide_tokens=20,
                                            seed=0)
    finite.fit(_data(), epochs=1, verbose=0)
    repeated = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None,
                                              wide_tokens=20, seed=0)
    repeated.preprocessor.adapt(_data())  # adapt needs a dataset that ends
    steps = int(_data().cardinality())
    repeated.fit(_data().repeat(), epochs=1, steps_per_epoch=steps, verbose=0)
    np.testing.assert_allclose(naive_bayes_layer(repeated).ratios.numpy(),
                               naive_bayes_layer(finite).ratios.numpy(), rtol=1e-5)

    filtered = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None,
                                              wide_tokens=20, seed=0)
    filtered.preprocessor.adapt(_data())
    endless_unknown_length = _data().repeat().filter(lambda texts, labels: True)
    assert ratios_from_texts(filtered, endless_unknown_length, steps=steps)  # ends: steps batches
    np.testing.assert_allclose(naive_bayes_layer(filtered).ratios.numpy(),
                               naive_bayes_layer(finite).ratios.numpy(), rtol=1e-5)

    endless = tl_suite.build_text_classifier(text_spec, num_classes=2, weights=None,
                                             wide_tokens=20)
    endless.preprocessor.adapt(_data())
    with pytest.warns(UserWarning, match="steps_per_epoch"):
        assert not ratios_from_texts(endless, _data().repeat())
    assert not naive_bayes_layer(endless).has_ratios
