"""Attributions back to the words people wrote: word pieces merged into their words, and the
TF-IDF branch's terms (words and word pairs) spread over the words that make them (an out-of-vocabulary
word or pair counts in the ``[UNK]`` column, shared by all of them)."""

import collections

import numpy as np
import tensorflow as tf

# Keras' `TextVectorization` standardization ("lower_and_strip_punctuation"), which the
# TF-IDF branch uses: its terms are words lowercased with this punctuation removed.
_PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'


def piece_counts(tokenizer, words):
    """Word pieces of each whitespace-separated word (0 for a word the tokenizer drops).

    BERT tokenizers split on whitespace before anything else, so a text's pieces are its words'
    pieces one after the other.
    """
    if not words:
        return np.zeros(0, dtype=int)
    pieces = tokenizer(tf.constant(list(words)))
    if isinstance(pieces, tf.RaggedTensor):
        return np.asarray(pieces.row_lengths(), dtype=int)
    return np.array([len(row) for row in pieces], dtype=int)  # eager keras-hub: Python lists


def pieces_to_words(piece_values, counts, first=1):
    """Sum ``piece_values`` (one per position of the packed sequence; the text's pieces start at
    ``first``, after ``[CLS]``) into one value per word of ``counts`` pieces each. Words past
    the end of the sequence (truncated) get 0.

    Example:
    >>> pieces_to_words(np.array([9.0, 1.0, 2.0, 3.0, 9.0]), [2, 1]).tolist()  # [CLS] a ##b c [SEP]
    [3.0, 3.0]
    """
    piece_values = np.asarray(piece_values, dtype=np.float64)
    ends = first + np.cumsum(counts)
    starts = ends - np.asarray(counts)
    stop = len(piece_values) - 1  # the closing [SEP]
    return np.array([piece_values[start:min(end, stop)].sum() if start < stop else 0.0
                     for start, end in zip(starts, ends)])


def standardized(words):
    """Each word as the TF-IDF vectorizer reads it (lowercased, punctuation removed; "" when
    nothing is left)."""
    if not words:
        return []
    lowered = tf.strings.regex_replace(tf.strings.lower(tf.constant(list(words))), _PUNCTUATION, "")
    return [term.decode("utf-8") for term in lowered.numpy().tolist()]


def _term_occurrences(words, ngrams):
    """``{term: [tuple of word indices per occurrence]}`` of the words' n-grams, n <= ``ngrams``."""
    kept = [(index, term) for index, term in enumerate(standardized(words)) if term]
    occurrences = collections.defaultdict(list)
    for n in range(1, ngrams + 1):
        for start in range(len(kept) - n + 1):
            span = kept[start:start + n]
            occurrences[" ".join(term for _, term in span)].append(tuple(i for i, _ in span))
    return occurrences


def terms_to_words(words, vocabulary, term_values, ngrams=2):
    """Spread the TF-IDF branch's attributions (``term_values``, one per vocabulary column)
    over ``words``: a term's value is shared by its occurrences, and an occurrence's by its
    words; out-of-vocabulary terms share the ``[UNK]`` column (column 0).

    Returns:
        ``(per word values, [(term, value)] of the text's terms, largest magnitude first)``.

    Example:
    >>> values, terms = terms_to_words(["Goal!", "goal", "now"], ["[UNK]", "goal", "goal goal"],
    ...                                np.array([0.5, 2.0, 1.0]))
    >>> values.tolist(), terms
    ([1.5, 1.625, 0.375], [('goal', 2.0), ('goal goal', 1.0), ('[UNK]', 0.5)])
    """
    columns = {term: column for column, term in enumerate(vocabulary)}
    by_column = collections.defaultdict(list)
    for term, spans in _term_occurrences(words, ngrams).items():
        by_column[columns.get(term, 0)].extend(spans)
    values = np.zeros(len(words))
    for column, spans in by_column.items():
        for span in spans:
            values[list(span)] += term_values[column] / len(spans) / len(span)
    terms = [(vocabulary[column], float(term_values[column])) for column in by_column]
    return values, sorted(terms, key=lambda item: -abs(item[1]))
