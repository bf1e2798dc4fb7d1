"""The TFDS loader, with `tfds.load` replaced: these tests never touch the network."""

import types

import numpy as np
import pytest
import tensorflow as tf

from tl_suite.data import tfds as tfds_loader
from tl_suite.data.images import image_dataset
from tl_suite.data.texts import text_dataset

tfds = pytest.importorskip("tensorflow_datasets")


def _fake_load(examples, labels, names, calls=None):
    """A `tfds.load` that returns a tiny in-memory split and a TFDS-like info object."""
    def load(name, split, as_supervised, with_info):
        if calls is not None:
            calls.append((name, split, as_supervised, with_info))
        dataset = tf.data.Dataset.from_tensor_slices((examples, np.asarray(labels, "int64")))
        info = types.SimpleNamespace(
            features={"label": types.SimpleNamespace(names=names)},
            splits={"train": types.SimpleNamespace(num_examples=len(labels))},
        )
        return dataset, info
    return load


@pytest.mark.parametrize("kind, call, alternatives", [
    ("image", lambda: image_dataset(tfds_name="tf_flowers"), ["load_fashion_mnist", "directory="]),
    ("text", lambda: text_dataset(tfds_name="imdb_reviews"), ["texts=", "path='data.csv'", "directory="]),
])
def test_offline_fails_fast_naming_the_offline_alternatives(monkeypatch, kind, call, alternatives):
    def offline(*args, **kwargs):
        raise OSError("Failed to resolve host www.tensorflow.org")

    monkeypatch.setattr(tfds, "load", offline)
    with pytest.raises(RuntimeError) as info:
        call()
    message = str(info.value)
    assert "no internet?" in message and "Failed to resolve host" in message
    assert all(alternative in message for alternative in alternatives)


def test_unknown_dataset_is_a_value_error(monkeypatch):
    def not_found(name, **kwargs):
        raise tfds.core.DatasetNotFoundError(f"Dataset {name} not found.")

    monkeypatch.setattr(tfds, "load", not_found)
    with pytest.raises(ValueError, match="Unknown TFDS dataset 'flowerz'.*Received: tfds_name='flowerz'"):
        image_dataset(tfds_name="flowerz")
    with pytest.raises(ValueError, match="Received: kind='audio'"):
        tfds_loader.load_tfds("mnist", kind="audio")


def test_load_tfds_converts_examples_and_reads_label_names(monkeypatch):
    calls = []
    monkeypatch.setattr(tfds, "load", _fake_load(np.array([b"x", b"yy"]), [1, 0], ["neg", "pos"], calls))
    examples, labels, names = tfds_loader.load_tfds("fake", "train", "text", lambda t: t.decode() * 2,
                                                    verbose=False)
    assert examples == ["xx", "yyyy"] and labels.tolist() == [1, 0] and labels.dtype == np.int32
    assert names == ["neg", "pos"] and calls == [("fake", "train", True, True)]


def test_image_dataset_from_tfds_resizes_to_uint8_rgb(monkeypatch):
    images = np.zeros((3, 8, 6, 3), "uint8")
    images[1] = 200
    monkeypatch.setattr(tfds, "load", _fake_load(images, [0, 1, 1], ["cat", "dog"]))
    data = image_dataset(tfds_name="fake", image_size=(4, 4), shuffle=False, verbose=False)
    x, y = next(iter(data))
    assert x.dtype == tf.uint8 and x.shape == (3, 4, 4, 3)
    assert x.numpy()[1].min() == 200 and x.numpy()[0].max() == 0 and y.numpy().tolist() == [0, 1, 1]
    assert data.info.class_names == ["cat", "dog"] and data.info.num_examples == 3


def test_text_dataset_from_tfds_decodes_bad_bytes(monkeypatch):
    texts = np.array([b"good film", b"bad \xff film", b"   "])
    monkeypatch.setattr(tfds, "load", _fake_load(texts, [1, 0, 1], ["neg", "pos"]))
    data = text_dataset(tfds_name="fake", shuffle=False, verbose=False)
    x, y = next(iter(data))
    assert [t.decode() for t in x.numpy()] == ["good film", "bad \ufffd film"] and y.numpy().tolist() == [1, 0]
    assert data.class_names == ["neg", "pos"]
    assert data.report.source == "tfds:fake" and data.report.skipped == [("fake[2]", "empty or whitespace-only text")]
