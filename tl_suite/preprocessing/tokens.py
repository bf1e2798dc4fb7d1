"""Word-level tagging: words in, word pieces out, one label per word on its first piece."""

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from tl_suite.preprocessing.text import trim_to_longest


def _trim_with_labels(x, *labels):
    """`trim_to_longest` for token inputs and the per-position labels that go with them."""
    longest = tf.reduce_max(tf.reduce_sum(tf.cast(x["padding_mask"], tf.int32), axis=-1))
    return (trim_to_longest(x), *(None if y is None else y[:, :longest] for y in labels))


@keras.saving.register_keras_serializable(package="tl_suite")
class TokenClassifierPreprocessor(keras_hub.models.Preprocessor):
    """Words in, word pieces out; word-level tags become labels on each word's first piece.

    Inputs are sentences as strings (split on whitespace) or ragged batches of words. The other
    pieces of a word, [CLS], [SEP] and padding get label -1, which the loss ignores. A word that
    tokenizes to nothing becomes [UNK], so every word keeps exactly one labelled position.
    """

    def __init__(self, tokenizer, sequence_length=128, dynamic_padding=True, **kwargs):
        super().__init__(**kwargs)
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.dynamic_padding = dynamic_padding

    def build(self, input_shape):
        super().build(input_shape)
        common = dict(sequence_length=self.sequence_length)
        self.token_packer = keras_hub.layers.StartEndPacker(
            start_value=self.tokenizer.start_token_id, end_value=self.tokenizer.end_token_id,
            pad_value=self.tokenizer.pad_token_id, return_padding_mask=True, **common,
        )
        self.label_packer = keras_hub.layers.StartEndPacker(
            start_value=-1, end_value=-1, pad_value=-1, **common
        )

    @property
    def unknown_token_id(self):
        return self.tokenizer.token_to_id(getattr(self.tokenizer, "oov_token", "[UNK]"))

    def _words(self, x):
        x = tf.convert_to_tensor(x) if not isinstance(x, tf.RaggedTensor) else x
        if isinstance(x, tf.RaggedTensor):
            return x
        if x.shape.rank == 1:
            return tf.strings.split(x)
        return tf.RaggedTensor.from_tensor(x, padding="")

    def align(self, x, tags=None):
        """Return packed ``(x_dict, word_ids, labels)``; ``word_ids`` is each position's word
        index (-1 where not a word's first piece)."""
        if not self.built:
            self.build(None)
        if tf.executing_eagerly():
            # keras-hub tokenizers take a pure-Python path when called eagerly; traced, they
            # use TensorFlow ops like they do inside tf.data.
            return self._traced("align", self._align_words)(self._words(x), tags)
        return self._align(x, tags)

    def _align_words(self, words, tags):
        return self._align(words, tags)

    def _traced(self, key, method):
        """``method`` as a `tf.function`, made once per preprocessor. (Not `@tf.function` on
        the method: keras-hub preprocessors route attributes through their own ``__setattr__``,
        and a decorated method there can lose its instance in a notebook kernel.)"""
        functions = self.__dict__.get("_traced_functions")
        if functions is None:
            functions = {}
            object.__setattr__(self, "_traced_functions", functions)
        if key not in functions:
            functions[key] = tf.function(method, reduce_retracing=True)
        return functions[key]

    def _align(self, x, tags):
        words = self._words(x)
        pieces = self.tokenizer(words).values  # (total words, pieces)
        keep = tf.maximum(pieces.row_lengths(), 1)
        unknown = tf.fill([tf.shape(keep)[0], 1], tf.cast(self.unknown_token_id, pieces.dtype))
        padded = tf.concat([pieces.to_tensor(default_value=self.unknown_token_id), unknown], axis=1)
        fixed = tf.RaggedTensor.from_tensor(padded, lengths=keep).values
        first = tf.ragged.range(keep).values == 0
        word_index = tf.ragged.range(words.row_lengths()).values
        per_sentence = tf.math.unsorted_segment_sum(
            keep, words.value_rowids(), num_segments=words.nrows()
        )
        word_ids = tf.where(first, tf.repeat(word_index, keep), -1)
        token_ids, padding_mask = self.token_packer(
            tf.RaggedTensor.from_row_lengths(fixed, per_sentence)
        )
        word_ids = self.label_packer(tf.RaggedTensor.from_row_lengths(word_ids, per_sentence))
        x = {
            "token_ids": token_ids,
            "padding_mask": padding_mask,
            "segment_ids": tf.zeros_like(token_ids),
        }
        labels = None
        if tags is not None:
            tags = tags if isinstance(tags, tf.RaggedTensor) else tf.RaggedTensor.from_tensor(
                tf.convert_to_tensor(tags), padding=-1)
            piece_tags = tf.where(first, tf.repeat(tf.cast(tags.values, tf.int32), keep), -1)
            labels = self.label_packer(tf.RaggedTensor.from_row_lengths(piece_tags, per_sentence))
        if self.dynamic_padding:
            x, word_ids, labels = _trim_with_labels(x, word_ids, labels)
        return x, word_ids, labels

    def call(self, x, y=None, sample_weight=None):
        if isinstance(x, dict):  # aligned once by token_dataset(tokenize=True)
            if self.dynamic_padding:
                x, y = _trim_with_labels(x, y)
            return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
        x, _, labels = self.align(x, y)
        return keras.utils.pack_x_y_sample_weight(x, labels, sample_weight)

    def coerce(self, sentences):
        """Users' sentences (a string, strings, or lists of words) -> a batch this takes."""
        if isinstance(sentences, str):
            sentences = [sentences]
        if isinstance(sentences, (tf.Tensor, tf.RaggedTensor, np.ndarray)):
            return sentences
        items = list(sentences)
        if all(isinstance(item, str) for item in items):
            return np.asarray(items, dtype=object).astype(str)
        return tf.ragged.constant([list(item) for item in items], dtype=tf.string, ragged_rank=1)

    def piece_counts(self, words):
        """Number of word pieces of each word of a flat Python list (at least 1)."""
        if not words:
            return np.zeros(0, dtype=int)
        counts = self._traced("piece_counts", self._piece_counts)(tf.constant(list(words)))
        return np.maximum(counts.numpy(), 1)

    def _piece_counts(self, words):
        return self.tokenizer(words).row_lengths()

    def get_config(self):
        config = super().get_config()
        config.update({"sequence_length": self.sequence_length, "dynamic_padding": self.dynamic_padding})
        return config


def word_windows(preprocessor, sentences):
    """Split word lists into windows that fit the sequence length (no word is ever cut).

    Returns ``(windows, owners)``: lists of words, and the index of the sentence each came from.
    """
    capacity = preprocessor.sequence_length - 2
    unique = sorted({word for sentence in sentences for word in sentence})
    counts = dict(zip(unique, preprocessor.piece_counts(unique)))
    windows, owners = [], []
    for index, sentence in enumerate(sentences):
        current, used = [], 0
        for word in sentence:
            pieces = min(counts[word], capacity)  # a single giant word keeps its first pieces
            if current and used + pieces > capacity:
                windows.append(current)
                owners.append(index)
                current, used = [], 0
            current.append(word)
            used += pieces
        windows.append(current)
        owners.append(index)
    return windows, owners
