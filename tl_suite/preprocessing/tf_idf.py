"""Texts -> TF-IDF vectors, the bag-of-words evidence of a text model's wide branch."""

import os

import keras
import numpy as np
import tensorflow as tf

from tl_suite.validation import check_integer


def _saved_terms(dir_path):
    """The terms of a vocabulary file Keras saved, or None (no file, or only "[UNK]": saved
    before `adapt`, which Keras itself cannot load back)."""
    path = None if dir_path is None else os.path.join(dir_path, "vocabulary.txt")
    if path is None or not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as file:
        terms = [line for line in file.read().splitlines() if line]
    return terms if terms[1:] else None


class _Lookup(keras.layers.StringLookup):
    def load_assets(self, dir_path):
        if _saved_terms(dir_path) is not None:
            super().load_assets(dir_path)


class _Words(keras.layers.TextVectorization):
    """`TextVectorization` that also reloads when it was saved before `adapt` (Keras writes
    a vocabulary of "[UNK]" alone and then fails to read it; the layer stays empty instead)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._lookup_layer = _Lookup(**self._lookup_layer.get_config())

    def load_assets(self, dir_path):
        self._lookup_layer.load_assets(dir_path)


@keras.saving.register_keras_serializable(package="tl_suite")
class TfIdfVectorizer(keras.layers.Layer):
    """Strings -> L2-normalised TF-IDF vectors of fixed width ``max_tokens``.

    The weighting of scikit-learn's ``TfidfVectorizer(sublinear_tf=True)``: term frequency
    ``1 + log(count)``, smoothed inverse document frequency ``log((1 + n) / (1 + df)) + 1``,
    then unit length. Words (and word ``ngrams``) come from keras' `TextVectorization`
    (lower-cased, punctuation stripped), whose vocabulary — the ``max_tokens - 1`` most
    frequent terms of the texts given to `adapt`, ties broken by the term — is saved with the
    layer, like the document frequencies.

    Until `adapt` has run, every text gives a vector of zeros.

    Args:
        max_tokens: Width of the output: the vocabulary size, out-of-vocabulary slot included.
        ngrams: Largest n-gram (2: words and word pairs).

    Example:
    >>> layer = TfIdfVectorizer(max_tokens=8, ngrams=1)
    >>> layer.adapt(["a cat", "a dog", "a dog and a cat"])
    >>> vectors = layer(["dog dog", "zebra"]).numpy()
    >>> vectors.shape, round(float((vectors[0] ** 2).sum()), 4)
    ((2, 8), 1.0)
    >>> layer.vocabulary[:3], bool(vectors[1, 0] > 0)  # "zebra" counts as out of vocabulary
    (['[UNK]', 'a', 'dog'], True)
    """

    def __init__(self, max_tokens=20_000, ngrams=2, **kwargs):
        super().__init__(**kwargs)
        check_integer("max_tokens", max_tokens, 2)
        check_integer("ngrams", ngrams, 1)
        self.max_tokens, self.ngrams = max_tokens, ngrams
        self.words = _Words(
            max_tokens=max_tokens, output_mode="count", ngrams=ngrams if ngrams > 1 else None,
            pad_to_max_tokens=True, name="words",
        )
        self.idf = self.add_weight(shape=(max_tokens,), initializer="zeros", trainable=False,
                                   name="idf")
        self.adapted = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                       name="adapted", dtype="int32")
        self.built = True
        self._is_adapted = False  # a Python flag: checked while tf.data traces the preprocessor

    @property
    def is_adapted(self):
        """Whether `adapt` has set the vocabulary (a reloaded layer keeps it)."""
        return self._is_adapted

    def load_own_variables(self, store):
        super().load_own_variables(store)
        self._is_adapted = bool(int(keras.ops.convert_to_numpy(self.adapted)))

    @property
    def vocabulary(self):
        """The terms, one per output column (``"[UNK]"`` first)."""
        return [str(term) for term in self.words.get_vocabulary()]

    def adapt(self, data, batch_size=256):
        """Learn the vocabulary and document frequencies from ``data``: strings, or a
        `tf.data.Dataset` of string batches."""
        if not isinstance(data, tf.data.Dataset):
            data = tf.data.Dataset.from_tensor_slices(tf.constant(list(np.asarray(data).ravel()), tf.string))
            data = data.batch(batch_size)
        self.words.adapt(data)
        documents, frequencies = 0, np.zeros(self.max_tokens, "float64")
        for batch in data:
            counts = self.words(batch).numpy()
            documents += len(counts)
            frequencies += (counts > 0).sum(axis=0)
        idf = np.log((1.0 + documents) / (1.0 + frequencies)) + 1.0
        idf[len(self.vocabulary):] = 0.0  # unused columns (small corpora) stay zero
        self.idf.assign(idf.astype("float32"))
        self.adapted.assign(1)
        self._is_adapted = True

    def __call__(self, texts, *args, **kwargs):
        if isinstance(texts, (list, tuple, np.ndarray)):  # strings as users hold them
            texts = tf.constant(np.asarray(texts, dtype=object).astype(str))
        return super().__call__(texts, *args, **kwargs)

    def call(self, texts):
        if not self._is_adapted:  # an untrained model: no word evidence yet (zeros)
            return tf.zeros([tf.shape(texts)[0], self.max_tokens])
        counts = tf.cast(self.words(texts), "float32")
        term_frequency = tf.where(counts > 0, 1.0 + tf.math.log(tf.maximum(counts, 1.0)), 0.0)
        return tf.math.l2_normalize(term_frequency * self.idf, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:1], self.max_tokens)

    def get_config(self):
        return {**super().get_config(), "max_tokens": self.max_tokens, "ngrams": self.ngrams}
