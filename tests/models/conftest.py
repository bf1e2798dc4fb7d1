"""Tiny models of every kind, and raw inputs / training data for each, shared by the model tests."""

import numpy as np
import pytest
import tensorflow as tf

import tl_suite
from tl_suite.backbones.text import tiny_bert_spec

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox", "jump",
              "##s", "##ed", "paris", "is", "big", "london", "rain", "##y", "good", "bad", "film"]
TINY_IMAGE = "tiny_efficientnet_lite"
TEXTS = ["good film", "bad film", "the quick brown fox", "paris is big", "london is rainy",
         "bad bad film", "good", "the fox jumped"]


@pytest.fixture(scope="session")
def text_spec():
    return tiny_bert_spec(VOCABULARY)


def _build(kind, spec):
    image = dict(weights=None, seed=0)
    text = dict(weights=None, seed=0)
    builders = {
        "image_classification": lambda: tl_suite.build_image_classifier(
            TINY_IMAGE, class_names=["cat", "dog", "fox"], **image),
        "image_multi_label": lambda: tl_suite.build_image_classifier(
            TINY_IMAGE, task="multi_label", class_names=["red", "green", "blue", "dark"], **image),
        "image_regression": lambda: tl_suite.build_image_classifier(
            TINY_IMAGE, task="regression", class_names=["brightness", "redness"], dropout=0.0,
            **image),
        "text_classifier": lambda: tl_suite.build_text_classifier(
            spec, class_names=["negative", "positive"], **text),
        "text_multi_label": lambda: tl_suite.build_text_classifier(
            spec, multi_label=True, class_names=["film", "place", "weather"], **text),
        "text_regressor": lambda: tl_suite.build_text_regressor(
            spec, output_names=["rating"], **text),
        "windowed_text": lambda: tl_suite.build_text_classifier(
            spec, class_names=["negative", "positive"], sequence_length=8, max_windows=3, **text),
        "token_classifier": lambda: tl_suite.build_token_classifier(
            spec, tags=["O", "B-loc", "I-loc"], **text),
    }
    return builders[kind]()


@pytest.fixture(scope="session")
def build_model(text_spec):
    """``build_model(kind)``: a fresh tiny compiled model of ``kind`` (one of `KINDS`)."""
    return lambda kind: _build(kind, text_spec)


@pytest.fixture(scope="session")
def built_models(text_spec):
    """One tiny model per kind, built once: only for tests that do not change the model."""
    cache = {}

    def get(kind):
        if kind not in cache:
            cache[kind] = _build(kind, text_spec)
        return cache[kind]

    return get


def _images(count, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 80, size=(count, 24, 28, 3)).astype("uint8")
    for index in range(count):
        images[index, :, :, index % 3] += 150  # the class is readable from the colour
    return images


def training_batch(kind):
    """``(x, y)``: a small raw training batch for a model of ``kind``."""
    if kind.startswith("image"):
        images = _images(6)
        colour = np.arange(6) % 3
        y = {"image_classification": colour.astype("int32"),
             "image_multi_label": np.eye(4, dtype="float32")[colour],
             "image_regression": np.stack([images.mean(axis=(1, 2, 3)) / 255,
                                           images[..., 0].mean(axis=(1, 2)) / 255], 1)}[kind]
        return images, y.astype("float32") if kind != "image_classification" else y
    if kind == "text_regressor":  # text pairs: first text + second text -> a rating
        first = np.array(["good film", "bad film", "good", "bad"])
        second = np.array(["paris is big", "london is rainy", "the fox", "the quick brown fox"])
        return (first, second), np.array([[4.0], [1.0], [3.5], [0.5]], "float32")
    if kind == "token_classifier":
        words = tf.ragged.constant([["paris", "is", "big"], ["london", "is", "rainy"],
                                    ["the", "fox", "jumped"]])
        tags = tf.ragged.constant([[1, 0, 0], [1, 0, 0], [0, 0, 0]])
        return words, tags
    texts = np.array(TEXTS[:4] if kind != "windowed_text" else
                     ["good film " * 5, "bad film " * 5, "good", "bad"])
    if kind == "text_multi_label":
        return texts, np.array([[1, 0, 0], [1, 0, 0], [0, 0, 0], [0, 1, 0]], "float32")
    return texts, np.array([1, 0, 1, 0], "int32")


def raw_inputs(kind):
    """A batch of raw inputs the model of ``kind`` takes (what ``model.predict`` accepts)."""
    if kind.startswith("image"):
        return _images(3, seed=1)
    if kind == "text_regressor":
        return [("good film", "paris is big"), ("bad", "london is rainy")]
    if kind == "token_classifier":
        return ["paris is big", "the quick brown fox jumped"]
    if kind == "windowed_text":
        return ["good film", "the quick brown fox paris is big london is rainy film"]
    return ["good film", "bad", "the quick brown fox"]


@pytest.fixture(scope="session")
def training_data():
    """``training_data(kind)``: see `training_batch`."""
    return training_batch


@pytest.fixture(scope="session")
def inputs_of():
    """``inputs_of(kind)``: see `raw_inputs`."""
    return raw_inputs
