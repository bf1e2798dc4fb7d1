"""Long texts as several windows of ``sequence_length`` tokens, each packed on its own."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tl_suite.preprocessing.windows import WindowedTextPreprocessor, trim_windows

CLS, SEP = 2, 3


def test_windowed_preprocessor_splits_long_texts_into_packed_windows(tokenizer):
    preprocessor = WindowedTextPreprocessor(tokenizer, sequence_length=6, max_windows=3)
    x = preprocessor(tf.constant(["good", "the quick brown fox paris is big", "",
                                  " ".join(["rain"] * 20)]))
    ids, mask = x["token_ids"].numpy(), x["padding_mask"].numpy()
    assert ids.shape == (4, 3, 6)  # 3 windows: the most any text of the batch has
    np.testing.assert_array_equal(ids[0, 0], [CLS, 18, SEP, 0, 0, 0])
    assert not mask[0, 1:].any()  # a short text gets one window, the rest is padding
    # 7 pieces -> windows of 4 + 3, each with its own [CLS] ... [SEP].
    np.testing.assert_array_equal(ids[1, 0], [CLS, 5, 6, 7, 8, SEP])
    np.testing.assert_array_equal(ids[1, 1], [CLS, 12, 13, 14, SEP, 0])
    np.testing.assert_array_equal(ids[2, 0], [CLS, SEP, 0, 0, 0, 0])  # empty text: one empty window
    assert mask[3].sum() == 3 * 6  # 20 pieces: 3 full windows, the last 8 pieces dropped
    assert not x["segment_ids"].numpy().any()
    short = preprocessor(tf.constant(["good", "bad film"]))
    assert short["token_ids"].shape == (2, 1, 4)  # dynamic padding: one window, 4 positions


def test_without_dynamic_padding_every_batch_has_the_full_shape(tokenizer):
    preprocessor = WindowedTextPreprocessor(tokenizer, sequence_length=6, max_windows=3,
                                            dynamic_padding=False)
    x = preprocessor(np.array(["good", "bad film"]))
    assert x["token_ids"].shape == (2, 3, 6)
    np.testing.assert_array_equal(x["token_ids"].numpy()[1, 0], [CLS, 19, 20, SEP, 0, 0])


def test_labels_pass_through_and_tf_data_map_works(tokenizer):
    preprocessor = WindowedTextPreprocessor(tokenizer, sequence_length=6, max_windows=2)
    data = tf.data.Dataset.from_tensor_slices((["good film", "the quick brown fox paris"], [1, 0]))
    x, y = next(iter(data.batch(2).map(preprocessor)))
    assert x["token_ids"].shape == (2, 2, 6) and y.numpy().tolist() == [1, 0]


def test_trim_windows_drops_empty_windows_and_padding_columns():
    mask = np.zeros((2, 3, 5), bool)
    mask[0, 0, :3] = True
    mask[1, :2, :2] = True
    x = {"token_ids": tf.constant(mask.astype("int32")), "padding_mask": tf.constant(mask)}
    trimmed = trim_windows(x)
    assert trimmed["token_ids"].shape == (2, 2, 3)
    np.testing.assert_array_equal(trimmed["padding_mask"].numpy(), mask[:, :2, :3])


def test_pairs_and_token_id_dicts_are_refused_with_the_fix(tokenizer):
    preprocessor = WindowedTextPreprocessor(tokenizer, sequence_length=6, max_windows=2)
    with pytest.raises(ValueError, match="text pairs need max_windows=1"):
        preprocessor((np.array(["good"]), np.array(["bad"])), y=None)
    ids = {"token_ids": np.zeros((1, 4), "int32"), "padding_mask": np.ones((1, 4), bool),
           "segment_ids": np.zeros((1, 4), "int32")}
    with pytest.raises(ValueError, match="without tokenize=True"):
        preprocessor(ids)


def test_config_keeps_max_windows(tokenizer):
    preprocessor = WindowedTextPreprocessor(tokenizer, sequence_length=6, max_windows=5)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(preprocessor))
    assert type(again) is WindowedTextPreprocessor
    assert (again.max_windows, again.sequence_length, again.dynamic_padding) == (5, 6, True)
