"""Text preprocessing: strings (or pairs of strings) -> padded token ids, for BERT-family bases."""

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from tl_suite.preprocessing.tf_idf import TfIdfVectorizer


def trim_to_longest(x):
    """Drop padding columns beyond the longest sequence of the batch (dynamic padding)."""
    lengths = tf.reduce_sum(tf.cast(x["padding_mask"], tf.int32), axis=-1)
    longest = tf.reduce_max(lengths)
    return {key: value if key == "tf_idf" else value[..., :longest] for key, value in x.items()}


def is_text_pair(x):
    """True for a batch of text pairs: a tuple ``(first_texts, second_texts)``."""
    return isinstance(x, tuple) and len(x) == 2


def is_text_pair_spec(element_spec):
    """True when a dataset's elements are text-pair batches (two string tensors), not
    ``(texts, labels)``."""
    return (is_text_pair(element_spec)
            and all(getattr(spec, "dtype", None) == tf.string for spec in element_spec))


def as_text_batch(texts, argument="texts"):
    """Raw user input -> a batch the text preprocessors take.

    A single string becomes a batch of one; a list of strings a string array; a pair
    ``("a", "b")`` of strings, a list of such pairs, or a tuple of two lists becomes a text-pair
    batch ``(first, second)``. Batches already made (arrays, tensors, dicts of token ids) pass
    through.
    """
    if isinstance(texts, (dict, tf.Tensor, tf.RaggedTensor, np.ndarray)):
        return texts  # already a batch: strings, or token ids from text_dataset(tokenize=True)
    if isinstance(texts, (str, bytes)):
        return np.asarray([texts], dtype=object).astype(str)
    if isinstance(texts, tuple) and len(texts) == 2 and all(isinstance(t, (str, bytes)) for t in texts):
        return tuple(np.asarray([t], dtype=object).astype(str) for t in texts)
    if isinstance(texts, tuple) and len(texts) == 2 and not isinstance(texts[0], (str, bytes)):
        first, second = (np.asarray(list(part), dtype=object).astype(str) for part in texts)
        _check_pair_lengths(first, second, argument)
        return first, second
    items = list(texts)
    if items and all(isinstance(item, (tuple, list)) and len(item) == 2 for item in items):
        first = np.asarray([item[0] for item in items], dtype=object).astype(str)
        second = np.asarray([item[1] for item in items], dtype=object).astype(str)
        return first, second
    bad = [i for i, item in enumerate(items) if not isinstance(item, (str, bytes))]
    if bad:
        raise ValueError(
            f"`{argument}` must be a string, a list of strings, a pair of strings or a list of "
            f"pairs. Received: {argument}[{bad[0]}]={items[bad[0]]!r}."
        )
    return np.asarray(items, dtype=object).astype(str)


def joined_texts(x):
    """One string per example: a text pair's two texts joined by a space."""
    return tf.strings.join(list(x), separator=" ") if is_text_pair(x) else x


def _check_pair_lengths(first, second, argument):
    if len(first) != len(second):
        raise ValueError(
            f"A text-pair batch needs as many second texts as first texts. Received: "
            f"{argument} with {len(first)} and {len(second)}."
        )


@keras.saving.register_keras_serializable(package="tl_suite")
class TextPreprocessor(keras_hub.models.TextClassifierPreprocessor):
    """keras-hub's text classifier preprocessing, padding only to the longest text of a batch.

    Takes a batch of strings, or a pair ``(first_texts, second_texts)`` packed as
    ``[CLS] first [SEP] second [SEP]`` with segment ids 0 and 1 (truncated round-robin).
    Batches already tokenized by ``text_dataset(tokenize=True)`` (dicts of token ids) pass
    through.

    Args:
        tokenizer: A keras-hub tokenizer.
        sequence_length: Longest sequence (texts are truncated to it).
        dynamic_padding: Pad to the longest sequence in each batch instead of
            ``sequence_length``, so short texts do not pay for long ones.
        wide_tokens: Also give each text's TF-IDF vector of this width (input ``"tf_idf"``,
            a `TfIdfVectorizer` over words and word pairs; a pair's texts count as one), for
            a model's wide branch. Learn its vocabulary with `adapt` (``fit`` does it). None:
            token ids only.

    Example:
    >>> from tl_suite.backbones.text import tiny_bert_spec
    >>> spec = tiny_bert_spec(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"])
    >>> preprocessor = TextPreprocessor(spec.tokenizer(), sequence_length=16)
    >>> x = preprocessor((["a a"], ["b"]), y=None)  # y=None: the tuple is one pair batch
    >>> x["token_ids"].numpy().tolist(), x["segment_ids"].numpy().tolist()
    ([[2, 5, 5, 3, 6, 3]], [[0, 0, 0, 0, 1, 1]])
    """

    def __init__(self, tokenizer, sequence_length=128, dynamic_padding=True, wide_tokens=None,
                 **kwargs):
        super().__init__(tokenizer=tokenizer, sequence_length=sequence_length, **kwargs)
        self.dynamic_padding = dynamic_padding
        self.wide_tokens = wide_tokens
        self.tf_idf = None if wide_tokens is None else TfIdfVectorizer(wide_tokens, name="tf_idf")

    @property
    def needs_adapt(self):
        """True while a TF-IDF vocabulary is still to be learnt (see `adapt`)."""
        return self.tf_idf is not None and not self.tf_idf.is_adapted

    def adapt(self, dataset):
        """Learn the TF-IDF vocabulary from the texts of ``dataset`` (a `tf.data.Dataset` of
        ``(texts, labels)`` batches, or strings); nothing to learn without ``wide_tokens``."""
        if self.tf_idf is None:
            return
        if isinstance(dataset, tf.data.Dataset):
            if dataset.cardinality() == tf.data.INFINITE_CARDINALITY:
                raise ValueError(
                    "The TF-IDF vocabulary is learnt from one pass over the training texts: give a "
                    "finite dataset (before .repeat()), or call model.preprocessor.adapt(texts) "
                    "first. Received: an infinitely repeating dataset."
                )
            element = dataset.element_spec
            if isinstance(element, tuple) and not is_text_pair_spec(element):
                dataset = dataset.map(lambda x, *_: x)
            if isinstance(dataset.element_spec, dict):
                raise self._tokenized_error(sorted(dataset.element_spec))
            dataset = dataset.map(lambda *parts: joined_texts(parts) if len(parts) == 2 else parts[0])
        self.tf_idf.adapt(dataset)

    def _tokenized_error(self, keys):
        return ValueError(
            "A text model with a TF-IDF branch (wide_tokens) reads raw texts: build the dataset "
            "without tokenize=True, or build the model with wide_tokens=None. Received: a batch "
            f"of token ids with keys {keys}."
        )

    def with_tf_idf(self, x, texts):
        """Add the TF-IDF vectors of ``texts`` to the model inputs ``x`` (with ``wide_tokens``;
        zeros until `adapt` has run)."""
        if self.tf_idf is None:
            return x
        return {**x, "tf_idf": self.tf_idf(joined_texts(texts))}

    def call(self, x, y=None, sample_weight=None):
        texts = x
        if isinstance(x, dict):  # dicts were tokenized once by text_dataset(tokenize=True)
            if self.tf_idf is not None and "tf_idf" not in x:
                raise self._tokenized_error(sorted(x))
        else:
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(
                super().call(x, y=y, sample_weight=sample_weight)
            )
        if self.dynamic_padding:
            x = trim_to_longest(x)
        if not isinstance(texts, dict):
            x = self.with_tf_idf(x, texts)
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def coerce(self, texts):
        """Users' texts (a string, strings, a pair or pairs) -> a batch this takes."""
        return as_text_batch(texts)

    def get_config(self):
        config = super().get_config()
        config["dynamic_padding"] = self.dynamic_padding
        config["wide_tokens"] = self.wide_tokens
        return config
