"""Word-level tagging: words -> word pieces, one label per word on its first piece."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tl_suite.preprocessing.tokens import TokenClassifierPreprocessor, word_windows

CLS, SEP, UNK = 2, 3, 1


def _numpy(value):
    return keras.ops.convert_to_numpy(value)


def test_word_piece_alignment_labels_first_piece_only(tokenizer):
    preprocessor = TokenClassifierPreprocessor(tokenizer, sequence_length=16)
    words = tf.ragged.constant([["paris", "jumps"], ["fox", "jumped", "zzz"]])
    tags = tf.ragged.constant([[1, 0], [0, 0, 1]])
    x, word_ids, labels = preprocessor.align(words, tags)
    jump, s, ed = 9, 10, 11
    np.testing.assert_array_equal(x["token_ids"][0][:5], [CLS, 12, jump, s, SEP])
    np.testing.assert_array_equal(x["token_ids"][1][:6], [CLS, 8, jump, ed, UNK, SEP])
    np.testing.assert_array_equal(word_ids[0][:5], [-1, 0, 1, -1, -1])
    np.testing.assert_array_equal(labels[0][:5], [-1, 1, 0, -1, -1])  # "##s" masked out
    np.testing.assert_array_equal(labels[1][:6], [-1, 0, 0, -1, 1, -1])
    assert x["token_ids"].shape[1] == 6  # dynamic padding: longest sentence, not 16
    assert not _numpy(x["segment_ids"]).any()


def test_word_that_tokenizes_to_nothing_still_gets_a_position(tokenizer):
    preprocessor = TokenClassifierPreprocessor(tokenizer, sequence_length=16)
    x, word_ids, _ = preprocessor.align(tf.ragged.constant([["paris", "\x00", "big"]]))
    assert sorted(w for w in _numpy(word_ids)[0] if w >= 0) == [0, 1, 2]
    np.testing.assert_array_equal(_numpy(x["token_ids"])[0], [CLS, 12, UNK, 14, SEP])


def test_strings_are_split_on_whitespace_and_labels_follow_through_call(tokenizer):
    preprocessor = TokenClassifierPreprocessor(tokenizer, sequence_length=16)
    x, labels = preprocessor(np.array(["paris is big", "london"]),
                             y=tf.ragged.constant([[1, 0, 0], [1]]))
    np.testing.assert_array_equal(_numpy(x["token_ids"]), [[CLS, 12, 13, 14, SEP],
                                                           [CLS, 15, SEP, 0, 0]])
    np.testing.assert_array_equal(_numpy(labels), [[-1, 1, 0, 0, -1], [-1, 1, -1, -1, -1]])
    np.testing.assert_array_equal(_numpy(x["padding_mask"]), [[1] * 5, [1, 1, 1, 0, 0]])


def test_sentences_are_truncated_to_the_sequence_length(tokenizer):
    preprocessor = TokenClassifierPreprocessor(tokenizer, sequence_length=4, dynamic_padding=False)
    x, word_ids, _ = preprocessor.align(np.array(["the quick brown fox", "paris"]))
    np.testing.assert_array_equal(_numpy(x["token_ids"]), [[CLS, 5, 6, SEP], [CLS, 12, SEP, 0]])
    np.testing.assert_array_equal(_numpy(word_ids), [[-1, 0, 1, -1], [-1, 0, -1, -1]])


def test_pre_aligned_batches_are_only_trimmed(tokenizer):
    """Dicts come from token_dataset(tokenize=True): trimmed to the longest, labels too."""
    preprocessor = TokenClassifierPreprocessor(tokenizer, sequence_length=8)
    padded = TokenClassifierPreprocessor(tokenizer, sequence_length=8, dynamic_padding=False)
    x, labels = padded(np.array(["paris is big", "london"]), y=tf.ragged.constant([[1, 0, 0], [1]]))
    assert x["token_ids"].shape == (2, 8)
    trimmed, trimmed_labels = preprocessor(x, y=labels)
    assert trimmed["token_ids"].shape == (2, 5) and trimmed_labels.shape == (2, 5)
    np.testing.assert_array_equal(_numpy(trimmed_labels), _numpy(labels)[:, :5])


def test_coerce_turns_user_sentences_into_a_batch(tokenizer):
    preprocessor = TokenClassifierPreprocessor(tokenizer)
    assert preprocessor.coerce("paris is big").tolist() == ["paris is big"]
    assert preprocessor.coerce(["a b", "c"]).tolist() == ["a b", "c"]
    words = preprocessor.coerce([["paris", "is"], ["big"]])
    assert isinstance(words, tf.RaggedTensor) and words.to_list() == [[b"paris", b"is"], [b"big"]]


def test_piece_counts_and_word_windows_never_cut_a_word(tokenizer):
    preprocessor = TokenClassifierPreprocessor(tokenizer, sequence_length=6)  # 4 pieces a window
    assert preprocessor.piece_counts(["jumped", "fox", "zzz", "\x00"]).tolist() == [2, 1, 1, 1]
    assert preprocessor.piece_counts([]).tolist() == []
    sentences = [["the", "fox", "jumped", "paris"], ["big"], [], ["jumped", "jumped", "jumped"]]
    windows, owners = word_windows(preprocessor, sentences)
    assert windows == [["the", "fox", "jumped"], ["paris"], ["big"], [], ["jumped", "jumped"],
                       ["jumped"]]  # the, fox: 1 piece each; jumped: jump ##ed
    assert owners == [0, 0, 1, 2, 3, 3]


def test_config_keeps_the_settings(tokenizer):
    preprocessor = TokenClassifierPreprocessor(tokenizer, sequence_length=12, dynamic_padding=False)
    config = preprocessor.get_config()
    assert (config["sequence_length"], config["dynamic_padding"]) == (12, False)


@pytest.mark.parametrize("batch", [["paris is big"], [["paris", "is", "big"]]])
def test_align_works_inside_tf_data(tokenizer, batch):
    preprocessor = TokenClassifierPreprocessor(tokenizer, sequence_length=8)
    data = tf.data.Dataset.from_tensors(preprocessor.coerce(batch)).map(lambda x: preprocessor(x))
    x = next(iter(data))
    np.testing.assert_array_equal(_numpy(x["token_ids"]), [[CLS, 12, 13, 14, SEP]])
