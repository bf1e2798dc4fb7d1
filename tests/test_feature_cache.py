import glob
import os
import tempfile

import keras
import numpy as np
import pytest

import tl_suite
from tl_suite import feature_cache

TINY = "tiny_efficientnet_lite"


def _model(seed=3, **kwargs):
    return tl_suite.build_image_classifier(TINY, num_classes=3, weights=None, seed=seed,
                                           learning_rate=1e-2, **kwargs)


def _data(tiny_arrays, **kwargs):
    images, labels = tiny_arrays
    return tl_suite.image_dataset(images=images, labels=labels, batch_size=8, verbose=False, **kwargs)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_cached_and_plain_paths_train_the_same_head(tmp_path, tiny_arrays, dropout):
    train = _data(tiny_arrays, shuffle=False)
    heads = []
    for cache in (False, True):
        keras.utils.set_random_seed(7)
        model = _model(dropout=dropout)
        tl_suite.fit(model, train, epochs=3, log_dir=str(tmp_path / str(cache)),
                     cache_features=cache, early_stopping_patience=None, verbose=0)
        heads.append([np.array(w) for w in model.get_layer("head").weights])
    initial = [np.array(w) for w in _model(dropout=dropout).get_layer("head").weights]
    assert not np.allclose(heads[0][0], initial[0])  # training did move the head
    for plain, cached in zip(*heads):
        np.testing.assert_allclose(plain, cached, rtol=1e-4, atol=1e-5)


def test_cached_fit_leaves_base_and_batch_norm_untouched(tmp_path, tiny_arrays):
    model = _model()
    base_before = [np.array(w) for w in model.get_layer("backbone").weights]
    history = tl_suite.fit(model, _data(tiny_arrays), epochs=4, log_dir=str(tmp_path), verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for before, after in zip(base_before, model.get_layer("backbone").weights):
        np.testing.assert_array_equal(before, np.array(after))


def test_augmented_data_caches_views_and_draws_them_per_epoch(tiny_arrays):
    train = _data(tiny_arrays, augment=True)
    cache = feature_cache.FeatureCache.from_dataset(_model(), train, views=3, verbose=False)
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


def test_disk_cache_matches_memory_cache_and_is_removed(tiny_arrays):
    train = _data(tiny_arrays, shuffle=False)
    model = _model()
    in_memory = feature_cache.FeatureCache.from_dataset(model, train, verbose=False)
    on_disk = feature_cache.FeatureCache.from_dataset(model, train, memory_budget=0, verbose=False)
    assert in_memory.storage == "memory" and on_disk.storage == "disk"
    directory = on_disk.directory
    assert "on disk" in on_disk.describe("training") and os.path.isdir(directory)
    for (x1, y1), (x2, y2) in zip(in_memory.dataset(), on_disk.dataset()):
        np.testing.assert_array_equal(x1.numpy(), x2.numpy())
        np.testing.assert_array_equal(y1.numpy(), y2.numpy())
    on_disk.close()
    assert not os.path.exists(directory)


def test_repeated_fits_leave_no_cache_files(tmp_path, tiny_arrays):
    pattern = os.path.join(tempfile.gettempdir(), "tl_suite_features_*")
    before = set(glob.glob(pattern))
    model = _model()
    train, validation = _data(tiny_arrays, validation_split=0.2, subset="both")
    for run in range(2):
        tl_suite.fit(model, train, validation, epochs=1, log_dir=str(tmp_path / str(run)),
                     feature_cache_memory=0, verbose=0)
    assert set(glob.glob(pattern)) == before


def test_unfrozen_model_uses_the_plain_path(tmp_path, tiny_arrays):
    model = _model()
    assert feature_cache.is_frozen(model)
    tl_suite.unfreeze(model, layers=3)
    assert not feature_cache.is_frozen(model)
    with pytest.raises(ValueError, match="cache_features=False"):
        tl_suite.fit(model, _data(tiny_arrays), epochs=1, log_dir=str(tmp_path), cache_features=True)
    conv = np.array(model.get_layer("backbone").get_layer("top_conv").kernel)
    tl_suite.fit(model, _data(tiny_arrays), epochs=1, log_dir=str(tmp_path), verbose=0)
    assert not np.array_equal(conv, np.array(model.get_layer("backbone").get_layer("top_conv").kernel))


def test_cached_path_prints_what_it_cached(tmp_path, tiny_arrays, capsys):
    tl_suite.fit(_model(), _data(tiny_arrays), epochs=1, log_dir=str(tmp_path), verbose=2)
    printed = capsys.readouterr().out
    assert "Cached frozen features for 60 training examples" in printed and "in memory" in printed


def test_evaluate_reuses_validation_features_only_while_the_base_is_unchanged(tmp_path, tiny_arrays, monkeypatch):
    model = _model()
    train, validation = _data(tiny_arrays, validation_split=0.25, subset="both")
    tl_suite.fit(model, train, validation, epochs=2, log_dir=str(tmp_path), verbose=0)
    passes = []
    real_make_forward = feature_cache.make_forward
    monkeypatch.setattr(feature_cache, "make_forward",
                        lambda *a, **k: passes.append(1) or real_make_forward(*a, **k))
    reused = tl_suite.evaluate(model, validation, verbose=False)
    assert passes == []  # no backbone pass: the features fit computed were reused
    fresh = tl_suite.evaluate(model, _data(tiny_arrays, validation_split=0.25, subset="validation"),
                              verbose=False)
    assert passes == [1]  # another dataset object: computed again
    np.testing.assert_allclose(reused["y_pred"], fresh["y_pred"], atol=1e-5)
    np.testing.assert_array_equal(reused["y_true"], fresh["y_true"])
    # Once the base changes (unfreeze + fit), the remembered features are dropped.
    tl_suite.unfreeze(model, layers=3, learning_rate=1e-2)
    tl_suite.fit(model, train, epochs=1, log_dir=str(tmp_path / "unfrozen"), verbose=0)
    tl_suite.evaluate(model, validation, verbose=False)
    assert passes == [1, 1]
    assert getattr(model, "_tl_suite_remembered", None) is None


@pytest.mark.parametrize("backbone", [TINY, "resnet50"])
def test_folding_batch_norm_computes_the_same_function(backbone):
    keras.utils.set_random_seed(0)
    model = tl_suite.build_image_classifier(backbone, num_classes=3, weights=None)
    base = model.get_layer("backbone")
    norms = [l for l in base.layers if isinstance(l, keras.layers.BatchNormalization)]
    rng = np.random.default_rng(0)
    for norm in norms:  # non-trivial statistics, as after pretraining
        norm.moving_mean.assign(rng.normal(0, 0.5, norm.moving_mean.shape))
        norm.moving_variance.assign(rng.uniform(0.5, 2.0, norm.moving_variance.shape))
        norm.gamma.assign(rng.uniform(0.5, 1.5, norm.gamma.shape))
        norm.beta.assign(rng.normal(0, 0.2, norm.beta.shape))
    folded = feature_cache.fold_batch_norm(model)
    folded_base = folded.get_layer("backbone")
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in folded_base.layers)
    assert folded.get_layer("head") is model.get_layer("head")  # the head is shared, not copied
    images = rng.integers(0, 256, size=(4, 40, 40, 3)).astype("uint8")
    expected = np.asarray(model(images, training=False))
    np.testing.assert_allclose(np.asarray(folded(images, training=False)), expected, rtol=1e-4, atol=1e-5)
    features = feature_cache.feature_extractor(model)
    np.testing.assert_allclose(np.asarray(feature_cache.fold_batch_norm(features)(images)),
                               np.asarray(features(images)), rtol=1e-4, atol=1e-4)
    before = [np.array(w) for w in model.weights]
    for old, w in zip(before, model.weights):  # the original model is untouched
        np.testing.assert_array_equal(old, np.array(w))


def test_folding_leaves_models_without_batch_norm_alone():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert feature_cache.fold_batch_norm(model) is model
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.BatchNormalization()(keras.layers.ReLU()(keras.layers.Conv2D(2, 3)(inputs)))
    unfoldable = keras.Model(inputs, outputs)  # BatchNorm after an activation: not foldable
    assert feature_cache.fold_batch_norm(unfoldable) is unfoldable
