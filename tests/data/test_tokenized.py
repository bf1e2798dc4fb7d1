import logging

import numpy as np
import tensorflow as tf

from tl_suite.backbones.text import tiny_bert_spec
from tl_suite.data.tokenized import (
    bucket_boundaries,
    bucketed_batches,
    gather_rows,
    padded_batches,
    pretokenize,
    row_dataset,
    token_lengths,
    tokenized_info,
)
from tl_suite.preprocessing.text import TextPreprocessor


def test_token_lengths_count_word_pieces(spec):
    tokenizer = spec.tokenizer()
    assert token_lengths(tokenizer, ["the fox jumps", "jumped", "Paris"]).tolist() == [4, 2, 1]
    assert token_lengths(tokenizer, ["a"] * 5, batch_size=2).tolist() == [1] * 5
    assert token_lengths(tokenizer, []).tolist() == []
    assert tokenized_info("tiny_bert", 16, tokenizer) == {
        "backbone": "tiny_bert", "sequence_length": 16, "vocabulary_size": 22}


def _rows(spec, texts, chunk=256):
    preprocessor = TextPreprocessor(spec.tokenizer(), sequence_length=8, dynamic_padding=False)
    return pretokenize(lambda batch: (preprocessor(batch), None), [np.array(texts)], chunk=chunk)


def test_pretokenize_keeps_only_the_real_positions_of_each_row(spec):
    rows, labels = _rows(spec, ["the fox", "good", "a b c d a b c d"], chunk=2)
    assert labels is None and set(rows) == {"token_ids", "padding_mask", "segment_ids"}
    assert rows["token_ids"].to_list() == [[2, 5, 8, 3], [2, 15, 3], [2, 18, 19, 20, 21, 18, 19, 3]]
    assert rows["padding_mask"].row_lengths().numpy().tolist() == [4, 3, 8]
    assert gather_rows(rows, [2, 0])["token_ids"].to_list()[1] == [2, 5, 8, 3]


def test_padded_batches_pad_each_batch_to_its_longest_row(spec):
    rows, _ = _rows(spec, ["the fox", "good", "a b c d a b c d"])
    labels = tf.ragged.constant([[1, 1, 1, 1], [0, 0, 0], [2] * 8])
    batches = list(padded_batches(row_dataset((rows, labels)), 2, pad_token_id=0, label_pad=-1))
    (first, first_labels), (second, _) = batches
    assert first["token_ids"].numpy().tolist() == [[2, 5, 8, 3], [2, 15, 3, 0]]
    assert first["padding_mask"].numpy().tolist() == [[True] * 4, [True, True, True, False]]
    assert first_labels.numpy().tolist() == [[1, 1, 1, 1], [0, 0, 0, -1]]
    assert second["token_ids"].shape == (1, 8)


def test_bucketing_batches_similar_lengths_together():
    assert bucket_boundaries(64) == [16, 32, 48] and bucket_boundaries(16) == []
    lengths = [3, 40, 5, 45, 4, 41]
    dataset = tf.data.Dataset.from_tensor_slices((tf.range(6), lengths))
    batches = [x.numpy().tolist() for x, _ in bucketed_batches(
        dataset, lambda index, length: length, sequence_length=64, batch_size=3)]
    assert sorted(map(sorted, batches)) == [[0, 2, 4], [1, 3, 5]]
    # Token rows of 2, 20, 3 and 21 pieces: bucketed, the short ones pad to 3, not 20.
    token_ids = tf.ragged.constant([[7] * n for n in (2, 20, 3, 21)])
    rows = {"token_ids": token_ids, "padding_mask": tf.ones_like(token_ids, dtype=tf.bool)}
    labels = tf.zeros_like(token_ids)
    sizes = [x["token_ids"].shape[1] for x, _ in padded_batches(
        row_dataset((rows, labels)), 2, pad_token_id=0, label_pad=-1, sequence_length=64)]
    assert sorted(sizes) == [3, 21]


def test_token_lengths_in_a_loop_does_not_retrace(caplog):
    """text_dataset counts tokens on every call; a loop over corpora / seeds must not fill the
    log with tf.function retracing warnings."""
    tokenizer = tiny_bert_spec(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"]).tokenizer()
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        counts = [token_lengths(tokenizer, ["a a a", "a", ""] * size, batch_size=2).tolist()
                  for size in range(1, 9)]
    assert counts[-1] == [3, 1, 0] * 8
    assert not [record for record in caplog.records if "retracing" in record.getMessage()]
