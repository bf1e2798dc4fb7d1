"""Dataset metadata: one `DatasetInfo` per dataset, surviving user transformations."""

import numpy as np
import pytest
import tensorflow as tf

from tl_suite.data.info import DatasetInfo, dataset_info, with_info
from tl_suite.data.images import image_dataset
from tl_suite.data.texts import text_dataset
from tl_suite.data.tokens import token_dataset


def test_image_info_per_subset_and_no_loose_attributes(tiny_arrays):
    images, labels = tiny_arrays
    train, validation = image_dataset(images=images, labels=labels, class_names=["r", "g", "b"],
                                      validation_split=0.25, subset="both", augment=True, verbose=False)
    split = {"validation_split": 0.25, "seed": 1337, "subset": "training"}
    assert train.info == DatasetInfo(kind="image", class_names=["r", "g", "b"], num_examples=45,
                                     shuffled=True, augmented=True, label_mode="int", split=split)
    assert validation.info.split == {**split, "subset": "validation"}
    assert validation.info.replace(num_examples=45, shuffled=True, augmented=True, split=split) == train.info
    assert train.class_names == ["r", "g", "b"] and train.num_examples == 45 and train.report is None
    for name in ("augmented", "shuffled", "tokenized", "tag_names"):
        assert not hasattr(train, name)


def test_info_survives_user_transformations(tiny_arrays):
    images, labels = tiny_arrays
    train = image_dataset(images=images, labels=labels, augment=True, verbose=False)
    transformed = (train.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y))
                   .filter(lambda x, y: tf.shape(x)[0] > 0).unbatch().batch(7).prefetch(1))
    assert dataset_info(transformed) is train.info and dataset_info(transformed).augmented
    assert not hasattr(transformed, "info")  # found through the transformations, not copied
    assert dataset_info(tf.data.Dataset.range(3)) is None


def test_with_info_attaches_or_changes_fields(tiny_arrays):
    images, labels = tiny_arrays
    train = image_dataset(images=images, labels=labels, augment=True, verbose=False)
    plain = with_info(train.map(lambda x, y: (x, y)), like=train, augmented=False)
    assert plain.info.augmented is False and plain.info.class_names == ["0", "1", "2"]
    assert train.info.augmented is True  # the original is unchanged
    fresh = with_info(tf.data.Dataset.range(4).batch(2), kind="text", class_names=["a", "b"], shuffled=True)
    assert dataset_info(fresh.map(lambda x: x)) == DatasetInfo(kind="text", class_names=["a", "b"], shuffled=True)
    with pytest.raises(ValueError, match="carries no tl_suite dataset info"):
        with_info(tf.data.Dataset.range(2), like=tf.data.Dataset.range(2))


def test_label_modes_of_image_labels(tiny_arrays):
    images, labels = tiny_arrays
    regression = image_dataset(images=images, labels=labels.astype("float32") / 2, verbose=False)
    assert regression.info.label_mode == "float" and regression.info.class_names is None
    multi_hot = image_dataset(images=images, labels=np.eye(3, dtype="int32")[labels], class_names=list("abc"),
                              verbose=False)
    assert multi_hot.info.label_mode == "multi_hot" and multi_hot.info.class_names == ["a", "b", "c"]
    train, validation = image_dataset(images=images, labels=labels, validation_split=0.5, subset="both",
                                      augment=True, mixup=True, verbose=False)
    assert train.info.label_mode == validation.info.label_mode == "one_hot"


def test_text_and_token_infos(spec):
    data = text_dataset(texts=["good film", "bad film", "good"], labels=["pos", "neg", "pos"],
                        backbone=spec, sequence_length=16, tokenize=True, verbose=False)
    info = dataset_info(data.map(lambda x, y: (x, y)))
    assert info.kind == "text" and info.class_names == ["neg", "pos"] and info.num_examples == 3
    assert info.tokenized == {"backbone": "tiny_bert", "sequence_length": 16, "vocabulary_size": 22}
    assert info.shuffled and not info.augmented and not info.text_pairs and info.label_mode == "int"
    assert info.report.per_class == {"neg": 1, "pos": 2}
    tokens = token_dataset(sentences=[["paris", "is", "big"]], tags=[["B-loc", "O", "O"]], verbose=False)
    assert tokens.info.kind == "tokens" and tokens.info.label_mode == "tags" and tokens.info.tokenized is None
    assert tokens.tag_names == tokens.class_names == tokens.info.tag_names == ["O", "B-loc"]
