"""Sentences in, one tag per word out: `tl_suite.predict_tags` as TensorFlow ops.

As in Python, sentences are split on whitespace and read in windows of whole words that fit
the model's sequence length; each word's tag probabilities come from its first word piece, and
the whole sentence is decoded at once (constrained BIO/BIOES Viterbi, `viterbi_decode`).
"""

import tensorflow as tf

from tl_suite.export.viterbi import viterbi_decode


def _window_ids(piece_counts, first_words, capacity):
    """The window of each word (flat over the batch): a new window at each sentence's first
    word and wherever the next word's pieces no longer fit (the greedy `word_windows`)."""

    def step(state, word):
        window, used = state
        count, first = word
        new = tf.logical_or(first, used + count > capacity)
        return tf.where(new, window + 1, window), tf.where(new, count, used + count)

    windows, _ = tf.scan(step, (piece_counts, first_words),
                         initializer=(tf.constant(-1, tf.int64), tf.constant(0, tf.int64)))
    return windows


def word_windows(preprocessor, words):
    """Ragged words ``(sentences, words)`` -> ragged windows ``(windows, words)`` (in order,
    none spanning two sentences, each within ``sequence_length - 2`` pieces)."""
    capacity = preprocessor.sequence_length - 2
    flat = words.flat_values
    pieces = preprocessor.tokenizer(flat).row_lengths()
    # A word of no pieces becomes [UNK] (1 piece); a giant word keeps its first pieces only.
    pieces = tf.minimum(tf.maximum(tf.cast(pieces, tf.int64), 1), capacity)
    first = tf.equal(tf.ragged.range(words.row_lengths()).flat_values, 0)
    window_ids = _window_ids(pieces, first, capacity)
    count = tf.reduce_max(tf.concat([[-1], window_ids], axis=0)) + 1
    return tf.RaggedTensor.from_value_rowids(flat, window_ids, nrows=count)


def word_probabilities(model, windows):
    """Tag probabilities ``(words, K)`` of every word of ``windows``, from its first piece."""
    x, word_ids, _ = model.preprocessor.align(windows)
    probabilities = model(x, training=False)
    return tf.boolean_mask(tf.cast(probabilities, tf.float32), word_ids >= 0)


def tag_sentences(model, sentences):
    """Sentences (strings ``(N,)``) -> ``{"tags", "words"}`` ``(N, most words)``, padded with
    empty strings, and ``"num_words"`` ``(N,)``."""
    words = tf.strings.split(sentences)
    probabilities = word_probabilities(model, word_windows(model.preprocessor, words))
    lengths = words.row_lengths()
    per_sentence = tf.RaggedTensor.from_row_lengths(probabilities, lengths)
    dense = per_sentence.to_tensor(shape=[None, None, model.num_outputs])
    path = viterbi_decode(dense, lengths, model.tag_names)
    present = tf.sequence_mask(lengths, tf.shape(path)[1])
    tags = tf.where(present, tf.gather(tf.constant(list(model.tag_names)), path), "")
    return {"tags": tags, "words": words.to_tensor(default_value=""), "num_words": lengths}
