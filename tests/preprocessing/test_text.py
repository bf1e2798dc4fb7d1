"""Text preprocessing: strings and text pairs -> padded token ids; the MiniLM tokenizer."""

import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

import tl_suite
from tl_suite.backbones import text as text_backbones
from tl_suite.preprocessing.text import TextPreprocessor, as_text_batch, is_text_pair, trim_to_longest

CLS, SEP = 2, 3


def _numpy(x):
    return {key: keras.ops.convert_to_numpy(value) for key, value in x.items()}


def test_pairs_are_packed_with_segment_ids(tokenizer):
    # y=None: keras-hub reads a lone tuple argument as (x, y); with y given it is one pair batch.
    x = _numpy(TextPreprocessor(tokenizer, sequence_length=16)(
        (np.array(["good film", "the fox"]), np.array(["paris", "london is big"])), y=None))
    np.testing.assert_array_equal(x["token_ids"], [[CLS, 18, 20, SEP, 12, SEP, 0, 0],
                                                   [CLS, 5, 8, SEP, 15, 13, 14, SEP]])
    np.testing.assert_array_equal(x["segment_ids"], [[0, 0, 0, 0, 1, 1, 0, 0],
                                                     [0, 0, 0, 0, 1, 1, 1, 1]])
    np.testing.assert_array_equal(x["padding_mask"], [[1] * 6 + [0] * 2, [1] * 8])


def test_long_pairs_are_truncated_round_robin(tokenizer):
    x = _numpy(TextPreprocessor(tokenizer, sequence_length=8)(
        (np.array(["the quick brown fox"]), np.array(["paris is big london"])), y=None))
    np.testing.assert_array_equal(x["token_ids"], [[CLS, 5, 6, 7, SEP, 12, 13, SEP]])
    np.testing.assert_array_equal(x["segment_ids"], [[0, 0, 0, 0, 0, 1, 1, 1]])


def test_single_texts_are_packed_and_padded_to_the_longest_of_the_batch(tokenizer):
    texts = np.array(["good", "the fox jumped", "Zebra"])
    x = _numpy(TextPreprocessor(tokenizer, sequence_length=16)(texts))
    np.testing.assert_array_equal(x["token_ids"], [[CLS, 18, SEP, 0, 0, 0],
                                                   [CLS, 5, 8, 9, 11, SEP],
                                                   [CLS, 1, SEP, 0, 0, 0]])  # unknown: [UNK]
    assert not x["segment_ids"].any()
    full = _numpy(TextPreprocessor(tokenizer, sequence_length=16, dynamic_padding=False)(texts))
    assert full["token_ids"].shape == (3, 16)
    np.testing.assert_array_equal(full["token_ids"][:, :6], x["token_ids"])
    truncated = _numpy(TextPreprocessor(tokenizer, sequence_length=4)(np.array(["the quick brown"])))
    np.testing.assert_array_equal(truncated["token_ids"], [[CLS, 5, 6, SEP]])


def test_labels_pass_through_and_token_id_dicts_are_only_trimmed(tokenizer):
    preprocessor = TextPreprocessor(tokenizer, sequence_length=16)
    x, y = preprocessor(np.array(["good", "bad"]), y=np.array([1, 0]))
    np.testing.assert_array_equal(y, [1, 0])
    padded = _numpy(TextPreprocessor(tokenizer, sequence_length=16, dynamic_padding=False)(
        np.array(["good film", "bad"])))
    again = _numpy(preprocessor(padded))  # what text_dataset(tokenize=True) hands over
    assert again["token_ids"].shape == (2, 4)
    np.testing.assert_array_equal(again["token_ids"], padded["token_ids"][:, :4])


def test_trim_to_longest_drops_padding_columns_only():
    x = {"token_ids": tf.constant([[2, 5, 3, 0, 0], [2, 3, 0, 0, 0]]),
         "padding_mask": tf.constant([[1, 1, 1, 0, 0], [1, 1, 0, 0, 0]]) > 0}
    trimmed = _numpy(trim_to_longest(x))
    np.testing.assert_array_equal(trimmed["token_ids"], [[2, 5, 3], [2, 3, 0]])
    assert trimmed["padding_mask"].shape == (2, 3)


def test_preprocessor_maps_over_tf_data_and_keeps_its_settings_in_the_config(tokenizer):
    preprocessor = TextPreprocessor(tokenizer, sequence_length=12, dynamic_padding=False)
    # The vocabulary is saved as an asset of the model (see tests/models/test_saving.py).
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(preprocessor))
    assert type(again) is TextPreprocessor
    assert (again.sequence_length, again.dynamic_padding) == (12, False)
    data = tf.data.Dataset.from_tensor_slices((["good film", "paris"], ["bad", "is big"]))
    x = _numpy(next(iter(data.batch(2).map(lambda a, b: preprocessor((a, b), y=None)))))
    np.testing.assert_array_equal(x["token_ids"], [[CLS, 18, 20, SEP, 19, SEP] + [0] * 6,
                                                   [CLS, 12, SEP, 13, 14, SEP] + [0] * 6])
    np.testing.assert_array_equal(x["segment_ids"][:, :6], [[0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 1]])


def test_as_text_batch_forms():
    single = as_text_batch("one text")
    assert isinstance(single, np.ndarray) and single.tolist() == ["one text"]
    assert as_text_batch(["a", "b"]).tolist() == ["a", "b"]
    assert as_text_batch(np.array(["a", "b"])).tolist() == ["a", "b"]
    first, second = as_text_batch(("question", "answer"))  # one pair
    assert (first.tolist(), second.tolist()) == (["question"], ["answer"])
    first, second = as_text_batch([("q1", "a1"), ["q2", "a2"]])  # a list of pairs
    assert (first.tolist(), second.tolist()) == (["q1", "q2"], ["a1", "a2"])
    first, second = as_text_batch((["q1", "q2"], ["a1", "a2"]))  # two columns
    assert (first.tolist(), second.tolist()) == (["q1", "q2"], ["a1", "a2"])
    assert is_text_pair(as_text_batch(("q", "a"))) and not is_text_pair(as_text_batch("q"))


def test_as_text_batch_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"Received: texts\[1\]=3"):
        as_text_batch(["fine", 3])
    with pytest.raises(ValueError, match="Received: texts with 2 and 1"):
        as_text_batch((["q1", "q2"], ["a1"]))
    with pytest.raises(ValueError, match=r"Received: inputs\[0\]=None"):
        as_text_batch([None], argument="inputs")


@pytest.fixture(scope="module")
def minilm_folder():
    return text_backbones.minilm_path()


@pytest.fixture(scope="module")
def reference_tokenizer(minilm_folder):
    tokenizers = pytest.importorskip("tokenizers")
    reference = tokenizers.Tokenizer.from_file(os.path.join(minilm_folder, "tokenizer.json"))
    reference.no_padding()
    reference.no_truncation()
    return reference


@pytest.mark.parametrize("text, pieces", [
    ("Café crème", ["cafe", "cr", "##eme"]),
    ("résumé naïve Zürich", ["resume", "naive", "zurich"]),
    ("José García", ["jose", "garcia"]),
])
def test_minilm_tokenizer_strips_accents_like_its_tokenizer_json(
        minilm_folder, reference_tokenizer, text, pieces):
    tokenizer = tl_suite.get_backbone("minilm_l6").tokenizer()
    ids = keras.ops.convert_to_numpy(tokenizer(text)).tolist()
    assert [tokenizer.id_to_token(i) for i in ids] == pieces
    assert ids == reference_tokenizer.encode(text, add_special_tokens=False).ids
    with open(os.path.join(minilm_folder, "vocab.txt"), encoding="utf-8") as file:
        vocabulary = [line.rstrip("\n") for line in file]
    assert ids == [vocabulary.index(piece) for piece in pieces]
    assert vocabulary.index("[UNK]") not in ids


def test_minilm_preprocessor_packs_accented_text_without_unk():
    preprocessor = TextPreprocessor(tl_suite.get_backbone("minilm_l6").tokenizer(), sequence_length=16)
    x = _numpy(preprocessor(np.array(["Café crème", "José García"])))
    tokenizer = preprocessor.tokenizer
    assert [tokenizer.id_to_token(int(i)) for i in x["token_ids"][0]] == [
        "[CLS]", "cafe", "cr", "##eme", "[SEP]"]
    assert tokenizer.token_to_id("[UNK]") not in x["token_ids"]


def test_folder_tokenizer_follows_its_own_strip_accents_setting(minilm_folder, tmp_path):
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
                 "special_tokens_map.json"):
        shutil.copy(os.path.join(minilm_folder, name), tmp_path)
    config_path = tmp_path / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    assert config["strip_accents"] is None and config["do_lower_case"]  # null: follows lowercase
    config["strip_accents"] = False
    config_path.write_text(json.dumps(config))
    tokenizer = text_backbones.tokenizer_from_preset(str(tmp_path))
    assert tokenizer.strip_accents is False
    assert "cafe" not in [tokenizer.id_to_token(int(i)) for i in tokenizer("Café")]
