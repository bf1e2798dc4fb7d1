import keras
import numpy as np
import tensorflow as tf
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer as SklearnTfidf

from tl_suite.preprocessing.tf_idf import TfIdfVectorizer

CORPUS = ["the film was good", "the film was bad bad", "a good good good film", "rain in paris",
          "paris is big", "London rain, London fog."]


def test_weights_match_scikit_learn_sublinear_tf_idf():
    layer = TfIdfVectorizer(max_tokens=64, ngrams=1)
    layer.adapt(CORPUS)
    vocabulary = layer.vocabulary[1:]  # without the out-of-vocabulary slot
    reference = SklearnTfidf(sublinear_tf=True, vocabulary=vocabulary, token_pattern=r"\S+")
    reference.fit([t.lower().replace(",", "").replace(".", "") for t in CORPUS])
    texts = ["good good film", "rain rain rain in london", "paris"]
    ours = layer(texts).numpy()[:, 1:len(vocabulary) + 1]
    expected = reference.transform(texts).toarray()
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
    assert layer(texts).shape == (3, 64)  # padded to max_tokens


def test_vocabulary_is_the_most_frequent_terms_whatever_the_order():
    first, second = TfIdfVectorizer(max_tokens=6, ngrams=2), TfIdfVectorizer(max_tokens=6, ngrams=2)
    first.adapt(CORPUS)
    second.adapt(CORPUS[::-1])
    assert first.vocabulary == second.vocabulary
    assert first.vocabulary[:3] == ["[UNK]", "good", "film"] and len(first.vocabulary) == 6  # by count
    np.testing.assert_array_equal(first(CORPUS).numpy(), second(CORPUS).numpy())


def test_word_pairs_and_unknown_words():
    layer = TfIdfVectorizer(max_tokens=100, ngrams=2)
    layer.adapt(CORPUS)
    assert "good film" in layer.vocabulary and "paris is" in layer.vocabulary
    vector = layer(["zebra zebra"]).numpy()[0]
    assert vector[0] == pytest.approx(1.0) and np.count_nonzero(vector) == 1


def test_zeros_before_adapt_and_state_survives_saving(tmp_path):
    layer = TfIdfVectorizer(max_tokens=32)
    assert not layer.is_adapted
    np.testing.assert_array_equal(layer(["good film"]).numpy(), np.zeros((1, 32)))
    layer.adapt(CORPUS)
    model = keras.Sequential([keras.Input(shape=(), dtype="string"), layer])
    model.save(tmp_path / "tf_idf.keras")
    loaded = keras.saving.load_model(tmp_path / "tf_idf.keras")
    reloaded = loaded.layers[0]
    assert reloaded.is_adapted and reloaded.vocabulary == layer.vocabulary
    np.testing.assert_allclose(reloaded(CORPUS).numpy(), layer(CORPUS).numpy())


@pytest.mark.parametrize("arguments", [dict(max_tokens=1), dict(max_tokens=10, ngrams=0)])
def test_bad_arguments(arguments):
    with pytest.raises(ValueError, match="Received"):
        TfIdfVectorizer(**arguments)


def test_a_layer_saved_before_adapt_reloads_empty_and_can_still_learn(tmp_path):
    inputs = keras.Input(shape=(), dtype="string")
    model = keras.Model(inputs, TfIdfVectorizer(6, ngrams=1, name="tf_idf")(inputs))
    model.save(tmp_path / "empty.keras")  # Keras alone cannot reload an unadapted lookup
    reloaded = keras.saving.load_model(tmp_path / "empty.keras")
    layer = reloaded.get_layer("tf_idf")
    assert not layer.is_adapted
    np.testing.assert_array_equal(reloaded(tf.constant(["dog"])), np.zeros((1, 6)))
    layer.adapt(["dog cat", "dog"])
    assert layer.vocabulary[:2] == ["[UNK]", "dog"]
