import os

import numpy as np
import pytest
import tensorflow as tf

import tl_suite
from tl_suite.training import feature_cache
from tl_suite.training.feature_cache import FeatureCache


def _data(tiny_arrays, **kwargs):
    images, labels = tiny_arrays
    return tl_suite.image_dataset(images=images, labels=labels, batch_size=8, verbose=False, **kwargs)


def test_cache_holds_the_features_model_outputs_in_dataset_order(tiny_arrays, make_model):
    images, labels = tiny_arrays
    model = make_model()
    cache = FeatureCache.from_dataset(model, _data(tiny_arrays, shuffle=False), verbose=False)
    x, _ = model.prepare(images)
    expected = np.asarray(model.features_model()(x, training=False))
    assert cache.features[0].shape == (1, 60, 16) and cache.batch_size == 8 and cache.ordered
    np.testing.assert_allclose(cache.features[0][0], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(cache.labels[0], labels)
    replay = list(cache.dataset())  # not shuffled: same order, same batches
    assert [len(y) for _, y in replay] == [8] * 7 + [4]
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in replay]), labels)


def test_shuffled_or_unknown_datasets_are_reshuffled_every_epoch(tiny_arrays, make_model):
    images, labels = tiny_arrays
    model = make_model()
    bare = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)  # no info: assumed shuffled
    for dataset in (_data(tiny_arrays), bare):
        cache = FeatureCache.from_dataset(model, dataset, verbose=False)
        assert not cache.ordered
        replay = cache.dataset(seed=1)
        epochs = [np.concatenate([y.numpy() for _, y in replay]) for _ in range(2)]
        assert sorted(epochs[0]) == sorted(labels) and not np.array_equal(epochs[0], epochs[1])


def test_augmented_data_caches_views_and_draws_them_per_epoch(tiny_arrays, make_model):
    train = _data(tiny_arrays, augment=True)
    cache = FeatureCache.from_dataset(make_model(), train, views=3, verbose=False)
    assert cache.views == 3 and cache.features[0].shape == (3, 60, 16)
    assert not np.allclose(cache.features[0][0], cache.features[0][1])  # distinct augmentations
    dataset = cache.dataset(seed=1)
    epoch1 = np.concatenate([x.numpy() for x, _ in dataset])
    epoch2 = np.concatenate([x.numpy() for x, _ in dataset])
    assert epoch1.shape == (60, 16) and not np.allclose(np.sort(epoch1, 0), np.sort(epoch2, 0))
    flat = cache.features[0].reshape(-1, 16)
    for row in epoch1[:10]:  # every drawn row is one of the cached views
        assert np.isclose(flat, row).all(axis=1).any()
    assert "3 augmented views" in cache.describe("training")
    cache.close()


def test_disk_cache_matches_memory_cache_and_is_removed(tiny_arrays, make_model):
    train = _data(tiny_arrays, shuffle=False)
    model = make_model()
    in_memory = FeatureCache.from_dataset(model, train, verbose=False)
    on_disk = FeatureCache.from_dataset(model, train, memory_budget=0, verbose=False)
    assert in_memory.storage == "memory" and on_disk.storage == "disk"
    directory = on_disk.directory
    assert "on disk" in on_disk.describe("training") and os.path.isdir(directory)
    for (x1, y1), (x2, y2) in zip(in_memory.dataset(), on_disk.dataset()):
        np.testing.assert_array_equal(x1.numpy(), x2.numpy())
        np.testing.assert_array_equal(y1.numpy(), y2.numpy())
    on_disk.close()
    assert not os.path.exists(directory)


def test_empty_dataset_is_refused(make_model):
    empty = tf.data.Dataset.from_tensor_slices((np.zeros((0, 8, 8, 3), "uint8"), np.zeros(0, "int32"))).batch(4)
    with pytest.raises(ValueError, match="The training dataset is empty"):
        FeatureCache.from_dataset(make_model(), empty, description="training", verbose=False)


def test_token_features_of_different_lengths_are_padded(text_spec):
    model = tl_suite.build_token_classifier(text_spec, tags=["O", "B-loc"], weights=None)
    sentences = np.array(["paris", "paris is big", "good", "good film is big fox"])
    tags = tf.ragged.constant([[1], [1, 0, 0], [0], [0, 0, 0, 0, 0]]).to_tensor(-1)
    data = tf.data.Dataset.from_tensor_slices((sentences, tags)).batch(2)
    cache = FeatureCache.from_dataset(model, data, verbose=False)
    assert cache.labels.shape == (1, 4, 7)  # [CLS] + 5 words + [SEP] in the longest batch
    np.testing.assert_array_equal(cache.labels[0, 0], [-1, 1, -1, -1, -1, -1, -1])
    assert cache.features[0].shape[:3] == (1, 4, 7)


def test_remember_recall_forget(tiny_arrays, make_model):
    model = make_model()
    validation = _data(tiny_arrays, shuffle=False)
    cache = FeatureCache.from_dataset(model, validation, verbose=False)
    feature_cache.remember(model, validation, cache)
    assert feature_cache.recall(model, validation) is cache
    assert feature_cache.recall(model, _data(tiny_arrays, shuffle=False)) is None  # another dataset
    assert feature_cache.is_remembered(model)
    model.backbone.weights[0].assign(model.backbone.weights[0] + 1.0)  # the base changed
    assert feature_cache.recall(model, validation) is None
    assert not feature_cache.is_remembered(model) and cache.features == []  # freed
    other = FeatureCache.from_dataset(model, validation, verbose=False)
    feature_cache.remember(model, validation, other)
    feature_cache.forget(model)
    assert not feature_cache.is_remembered(model) and other.features == []
