"""Token ids made once in the data pipeline: ``tokenize=True`` and ``bucket_by_length=True``.

Tokenizing every text once (instead of inside the model in every epoch) keeps per-example rows
of only their real positions; each batch is then padded to its longest row, optionally with
rows of similar length bucketed together so padding stays small.
"""

import numpy as np
import tensorflow as tf


def token_lengths(tokenizer, texts, batch_size=256):
    """Number of word pieces of each text under ``tokenizer`` (no special tokens).

    Example:
    >>> from tl_suite.backbones.text import tiny_bert_spec
    >>> tokenizer = tiny_bert_spec(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"]).tokenizer()
    >>> token_lengths(tokenizer, ["a a a", "a"]).tolist()
    [3, 1]
    """
    texts = list(texts)
    if not texts:
        return np.zeros(0, dtype="int64")
    # A tf.data map, not a tf.function made per call: those warn about retracing when
    # text_dataset is called in a loop.
    batches = tf.data.Dataset.from_tensor_slices(tf.constant(texts, tf.string)).batch(batch_size)
    lengths = batches.map(lambda batch: tokenizer(batch).row_lengths())
    return np.concatenate([batch.numpy() for batch in lengths]).astype("int64")


def tokenized_info(backbone_name, sequence_length, tokenizer):
    """What a pre-tokenized dataset was made with (`fit` checks it against the model)."""
    return {"backbone": backbone_name, "sequence_length": int(sequence_length),
            "vocabulary_size": int(tokenizer.vocabulary_size())}


def pretokenize(run, inputs, chunk=256):
    """Run a preprocessor once over ``inputs`` in chunks; return ragged per-example rows.

    ``run(*batch_parts) -> (x_dict, labels_or_None)`` is traced (keras-hub's TensorFlow path).
    Rows keep only their real positions (``padding_mask``), so batches are padded later.

    Returns:
        ``(rows, labels)``: a dict of ragged tensors (one row per example) and ragged labels
        (or None).
    """
    traced = tf.function(run, reduce_retracing=True)
    columns, label_parts = {}, []
    count = int(inputs[0].shape[0])
    for start in range(0, count, chunk):
        x, labels = traced(*[part[start:start + chunk] for part in inputs])
        lengths = tf.reduce_sum(tf.cast(x["padding_mask"], tf.int32), axis=-1)
        for key, value in x.items():
            columns.setdefault(key, []).append(tf.RaggedTensor.from_tensor(value, lengths=lengths))
        if labels is not None:
            label_parts.append(tf.RaggedTensor.from_tensor(labels, lengths=lengths))
    rows = {key: tf.concat(parts, axis=0) for key, parts in columns.items()}
    return rows, (tf.concat(label_parts, axis=0) if label_parts else None)


def gather_rows(rows, indices):
    """The rows ``indices`` of a dict of ragged columns."""
    return {key: tf.gather(value, indices) for key, value in rows.items()}


def row_dataset(columns):
    """Dataset of per-example rows of ragged ``columns`` (as plain tensors, for padded_batch)."""
    identity = tf.autograph.experimental.do_not_convert(lambda *row: row)
    return tf.data.Dataset.from_tensor_slices(columns).map(identity)


def bucket_boundaries(sequence_length):
    """Length buckets for `bucketed_batches`, below ``sequence_length``."""
    return [b for b in (16, 32, 48, 64, 96, 128, 192, 256, 384) if b < sequence_length]


def bucketed_batches(dataset, length, sequence_length, batch_size, padding_values=None):
    """Batch elements of similar ``length(*element)`` together (padded to the longest of each
    batch with ``padding_values``)."""
    boundaries = bucket_boundaries(sequence_length)
    return dataset.bucket_by_sequence_length(
        length, boundaries, [batch_size] * (len(boundaries) + 1), padding_values=padding_values,
    )


def padded_batches(dataset, batch_size, pad_token_id, label_pad, sequence_length=None):
    """Pad each batch of ``(x_dict, labels)`` token rows to its longest row; with
    ``sequence_length``, bucket rows by length first."""
    x_spec, y_spec = dataset.element_spec
    padding_values = (
        {key: tf.constant(False if spec.dtype == tf.bool else (pad_token_id if key == "token_ids" else 0),
                          spec.dtype) for key, spec in x_spec.items()},
        tf.constant(label_pad, y_spec.dtype),
    )
    if sequence_length is not None:
        return bucketed_batches(dataset, lambda x, y: tf.shape(x["token_ids"])[0],
                                sequence_length, batch_size, padding_values)
    return dataset.padded_batch(batch_size, padding_values=padding_values)
