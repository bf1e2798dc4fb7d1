import pytest

import tl_suite

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film", "paris", "is", "big", "fox"]


@pytest.fixture
def make_model():
    """Builds tiny random image classifiers (3 classes unless told), offline."""

    def make(**kwargs):
        kwargs.setdefault("num_classes", 3)
        return tl_suite.build_image_classifier("tiny_efficientnet_lite", weights=None, **kwargs)

    return make


@pytest.fixture
def splits(tiny_arrays):
    """(train, validation) of the 60 tiny images, named red / green / blue."""
    images, labels = tiny_arrays
    return tl_suite.image_dataset(
        images=images, labels=labels, class_names=["red", "green", "blue"],
        validation_split=0.25, subset="both", batch_size=8, verbose=False,
    )


@pytest.fixture
def text_spec():
    """A tiny random BERT (offline) whose vocabulary holds a few words."""
    from tl_suite.backbones.text import tiny_bert_spec

    return tiny_bert_spec(WORDS)
