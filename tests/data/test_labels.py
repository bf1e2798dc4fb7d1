import numpy as np
import pytest

from tl_suite.data.labels import (
    encode_ids,
    encode_label_array,
    encode_labels,
    encode_tags,
    sorted_tags,
    unknown_labels_message,
)


def test_names_become_ids_in_class_order():
    encoded, names, mode = encode_labels(["pos", "neg", "pos"])
    assert encoded.tolist() == [1, 0, 1] and encoded.dtype == np.int32 and names == ["neg", "pos"]
    assert mode == "int"
    encoded, names, _ = encode_labels(["pos", "neg"], class_names=["pos", "neg"])
    assert encoded.tolist() == [0, 1] and names == ["pos", "neg"]


def test_integer_ids_get_default_names_and_are_checked():
    encoded, names, mode = encode_labels([2, 0, np.int64(1)])
    assert encoded.tolist() == [2, 0, 1] and names == ["0", "1", "2"] and mode == "int"
    with pytest.raises(ValueError, match=r"1 labels are not in the class list \['a', 'b'\]: row3: 2"):
        encode_labels([0, 1, 2], where=["row1", "row2", "row3"], class_names=["a", "b"])
    ids, names = encode_ids(np.array([1, 1]))
    assert ids.tolist() == [1, 1] and names == ["0", "1"]
    with pytest.raises(ValueError, match=r"labels\[0\]: -1"):
        encode_ids(np.array([-1, 0]))


def test_multi_hot_from_lists_and_pipe_strings():
    encoded, names, mode = encode_labels([["b", "a"], ["c"]])
    assert mode == "multi_hot" and names == ["a", "b", "c"]
    assert encoded.tolist() == [[1, 1, 0], [0, 0, 1]] and encoded.dtype == np.float32
    encoded, names, _ = encode_labels(["a | b", "c"], label_mode="multi_hot", class_names=["c", "b", "a"])
    assert encoded.tolist() == [[0, 1, 1], [1, 0, 0]] and names == ["c", "b", "a"]
    with pytest.raises(ValueError, match=r"x.csv:3: 'z'.*add the names to `class_names`"):
        encode_labels(["a", "z"], where=["x.csv:2", "x.csv:3"], label_mode="multi_hot", class_names=["a"])


def test_floats_are_regression_targets():
    encoded, names, mode = encode_labels([4.5, 1.0])
    assert encoded.tolist() == [4.5, 1.0] and encoded.dtype == np.float32 and names is None
    assert mode == "float"
    assert encode_labels(["1.5", "2"], label_mode="float")[0].tolist() == [1.5, 2.0]
    with pytest.raises(ValueError, match="label_mode='float' needs numeric labels"):
        encode_labels(["good"], label_mode="float")
    with pytest.raises(ValueError, match="Received: label_mode='binary'"):
        encode_labels([1], label_mode="binary")


def test_unknown_label_message_shows_five_and_counts_the_rest():
    message = unknown_labels_message([(f"r{i}", "x") for i in range(8)], ["a"])
    assert message.startswith("8 labels are not in the class list ['a']: r0: 'x'")
    assert "r4: 'x' and 3 more." in message and "r5" not in message


def test_label_arrays_given_with_images():
    ids, names, mode = encode_label_array(np.array([0, 2, 1], "int64"))
    assert ids.dtype == np.int32 and names == ["0", "1", "2"] and mode == "int"
    values, names, mode = encode_label_array(np.array([0.5, 2.0]))
    assert values.dtype == np.float32 and names is None and mode == "float"
    rows, names, mode = encode_label_array(np.array([[1, 0], [1, 1]]), class_names=["a", "b"])
    assert rows.dtype == np.float32 and mode == "multi_hot" and names == ["a", "b"]
    assert encode_label_array(np.array([[0.2, 3.0]]))[2] == "float"
    with pytest.raises(ValueError, match="integer class ids, a multi-hot"):
        encode_label_array(np.array(["cat", "dog"]))


def test_tags_in_reading_order_and_unknown_tags():
    assert sorted_tags([["O", "I-per", "B-loc"], ["B-per", "X"]]) == ["O", "B-loc", "B-per", "I-per", "X"]
    ids, names = encode_tags([["B-loc", "O"], ["O"]], ["s0", "s1"])
    assert ids == [[1, 0], [0]] and names == ["O", "B-loc"]
    with pytest.raises(ValueError, match=r"1 tags are not in the tag set \['O'\]: s0: 'B-loc'.*`tag_names`"):
        encode_tags([["B-loc", "O"]], ["s0"], tag_names=["O"])
