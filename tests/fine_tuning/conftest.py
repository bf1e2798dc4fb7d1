import os

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import tl_suite
from tl_suite.backbones import text as text_backbones

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film", "the", "plot"]


@pytest.fixture
def image_splits(tiny_arrays):
    images, labels = tiny_arrays
    return tl_suite.image_dataset(images=images, labels=labels, validation_split=0.25, subset="both",
                                  batch_size=15, seed=0, verbose=False)


@pytest.fixture
def image_model():
    """A fresh tiny image classifier (3 classes, no dropout: steps are comparable)."""
    return tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None,
                                           dropout=0.0, seed=0)


@pytest.fixture
def text_spec():
    return text_backbones.tiny_bert_spec(VOCABULARY)


@pytest.fixture
def text_data():
    texts = ["good film", "bad film", "good plot", "bad plot", "the good", "the bad"] * 4
    labels = [1, 0, 1, 0, 1, 0] * 4
    return texts, labels, tl_suite.text_dataset(texts=texts, labels=labels, batch_size=8, seed=0,
                                                verbose=False)


@pytest.fixture
def scalar_tags():
    """``scalar_tags(directory)``: every TensorBoard scalar tag written below ``directory``."""

    def read(directory):
        tags = set()
        for root, _, files in os.walk(directory):
            if any(name.startswith("events") for name in files):
                accumulator = EventAccumulator(root, size_guidance={"tensors": 0})
                accumulator.Reload()
                tags |= set(accumulator.Tags()["tensors"])
        return tags

    return read
