import errno
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time

import keras
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


# Disk caches: free space checked, files reserved before writing, no folder left on failure.


@pytest.fixture
def temp_root(tmp_path, monkeypatch):
    """A private temporary folder (``tempfile.gettempdir()``) for the disk caches of a test."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _caches_in(root):
    return sorted(name for name in os.listdir(root) if name.startswith("tl_suite_features_"))


def test_disk_cache_folder_is_named_with_the_pid_and_its_files_are_reserved(tiny_arrays, make_model,
                                                                            temp_root):
    cache = FeatureCache.from_dataset(make_model(), _data(tiny_arrays, shuffle=False), memory_budget=0,
                                      verbose=False)
    name = os.path.basename(cache.directory)
    assert name.startswith(f"tl_suite_features_{os.getpid()}_") and _caches_in(temp_root) == [name]
    for file in os.listdir(cache.directory):  # every block allocated: no sparse file to fault on
        info = os.stat(os.path.join(cache.directory, file))
        assert info.st_blocks * 512 >= info.st_size
    cache.close()
    assert _caches_in(temp_root) == []


def test_too_little_free_space_is_refused_before_writing(tiny_arrays, make_model, temp_root, monkeypatch):
    usage = shutil.disk_usage(temp_root)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1000))
    with pytest.raises(OSError) as info:
        FeatureCache.from_dataset(make_model(), _data(tiny_arrays), memory_budget=0, verbose=False)
    message = str(info.value)
    assert info.value.errno == errno.ENOSPC and str(temp_root) in message
    # 60 examples x (16 features + 1 label) x 4 bytes, plus a block per file for its header
    assert "1,000 bytes are free" in message and "needs 12,272 bytes" in message
    assert "TMPDIR" in message and "feature_cache_memory=" in message and "cache_features=False" in message
    assert _caches_in(temp_root) == []


@pytest.mark.parametrize("failure", [errno.ENOSPC, errno.EDQUOT])
def test_a_disk_full_while_reserving_is_an_exception_and_leaves_nothing(tiny_arrays, make_model, temp_root,
                                                                        monkeypatch, failure):
    calls = []

    def full(descriptor, offset, length):
        calls.append(length)
        if len(calls) == 2:  # the features file fits, the labels file does not
            raise OSError(failure, os.strerror(failure))

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(OSError, match="the disk filled up while reserving it") as info:
        FeatureCache.from_dataset(make_model(), _data(tiny_arrays), memory_budget=0, verbose=False)
    assert info.value.errno == errno.ENOSPC and "cache_features=False" in str(info.value)
    assert len(calls) == 2 and _caches_in(temp_root) == []


def test_without_posix_fallocate_the_files_are_filled_with_zeros(tiny_arrays, make_model, temp_root,
                                                                 monkeypatch):
    train = _data(tiny_arrays, shuffle=False)
    model = make_model()
    expected = FeatureCache.from_dataset(model, train, verbose=False)

    def unsupported(descriptor, offset, length):
        raise OSError(errno.EOPNOTSUPP, "not supported")

    for replacement in (unsupported, None):
        if replacement is None:
            monkeypatch.delattr(os, "posix_fallocate")
        else:
            monkeypatch.setattr(os, "posix_fallocate", replacement)
        on_disk = FeatureCache.from_dataset(model, train, memory_budget=0, verbose=False)
        np.testing.assert_array_equal(on_disk.features[0], expected.features[0])
        np.testing.assert_array_equal(on_disk.labels, expected.labels)
        assert np.load(os.path.join(on_disk.directory, "labels.npy")).shape == (1, 60)  # header intact
        on_disk.close()


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real 4 KiB tmpfs (root only): one page, too small for the 60-image cache files."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(mount)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        gc.collect()
        if subprocess.run(["umount", str(mount)]).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=True)
            pytest.fail("the tmpfs was still in use after the test: a cache file stayed mapped")


def test_a_real_full_tmpfs_is_a_clear_error_not_sigbus(tiny_arrays, make_model, small_tmpfs, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(small_tmpfs))
    model, train = make_model(), _data(tiny_arrays, shuffle=False)
    with pytest.raises(OSError, match=r"are free\. Either point TMPDIR") as info:  # checked first
        FeatureCache.from_dataset(model, train, memory_budget=0, verbose=False)
    assert str(small_tmpfs) in str(info.value) and "4,096 bytes are free" in str(info.value)
    # A disk that looks big enough but fills up (as when another process writes) fails at
    # allocation time: an exception, where writing into the memory map would kill the process.
    usage = shutil.disk_usage(small_tmpfs)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=2**30))
    with pytest.raises(OSError, match="the disk filled up while reserving it") as info:
        FeatureCache.from_dataset(model, train, memory_budget=0, verbose=False)
    assert info.value.errno == errno.ENOSPC and os.listdir(small_tmpfs) == []


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_orphaned_caches_of_dead_processes_are_removed(tiny_arrays, make_model, temp_root, capsys):
    day = 24 * 3600
    folders = {
        "dead": tempfile.mkdtemp(prefix=f"tl_suite_features_{_dead_pid()}_"),
        "alive": tempfile.mkdtemp(prefix=f"tl_suite_features_{os.getpid()}_"),
        "parent": tempfile.mkdtemp(prefix=f"tl_suite_features_{os.getppid()}_"),
        "old_style_recent": tempfile.mkdtemp(prefix="tl_suite_features_"),
        "old_style_stale": tempfile.mkdtemp(prefix="tl_suite_features_"),
        "other": tempfile.mkdtemp(prefix="something_else_"),
    }
    open(os.path.join(folders["dead"], "features0.npy"), "wb").close()
    stale = time.time() - 2 * day
    os.utime(folders["old_style_stale"], (stale, stale))
    cache = FeatureCache.from_dataset(make_model(), _data(tiny_arrays), verbose=True)
    cache.close()
    kept = {name for name, path in folders.items() if os.path.exists(path)}
    assert kept == {"alive", "parent", "old_style_recent", "other"}
    printed = capsys.readouterr().out
    assert "Removed 2 feature cache folder(s) left by processes that no longer run" in printed
    assert folders["dead"] in printed and folders["old_style_stale"] in printed
    assert feature_cache.remove_orphaned_caches(verbose=False) == []  # nothing more to remove


# Exact data order on resume: the order is a function of (seed, epoch).


def _epochs(cache, seed, values, shuffle=None):
    """The labels and features of each epoch, each from a fresh dataset and epoch variable (as a
    resumed process would make them)."""
    seen = []
    for value in values:
        epoch = tf.Variable(value, dtype=tf.int64)
        batches = list(cache.dataset(seed=seed, shuffle=shuffle, epoch=epoch))
        seen.append((np.concatenate([y.numpy() for _, y in batches]),
                     np.concatenate([x.numpy() for x, _ in batches])))
    return seen


def _flat_cache(views=1):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(views, 30, 4)).astype("float32")
    return FeatureCache([features], np.tile(np.arange(30), (views, 1)), views=views, batch_size=8,
                        ordered=False, storage="memory")


def test_epoch_order_depends_only_on_seed_and_epoch():
    cache = _flat_cache(views=3)
    first, again = _epochs(cache, 5, [0, 1, 2]), _epochs(cache, 5, [2, 1, 0])[::-1]
    for (labels, features), (labels_again, features_again) in zip(first, again):
        np.testing.assert_array_equal(labels, labels_again)
        np.testing.assert_array_equal(features, features_again)  # the same views drawn too
        assert sorted(labels) == list(range(30))
    assert not np.array_equal(first[0][0], first[1][0])  # epochs differ from each other
    flat = cache.features[0].reshape(-1, 4)
    drawn_views = [np.flatnonzero((flat == row).all(axis=1))[0] // 30 for row in first[0][1]]
    assert set(drawn_views) == {0, 1, 2}
    assert not np.array_equal(first[0][0], _epochs(cache, 6, [0])[0][0])  # the seed matters
    np.testing.assert_array_equal(_epochs(cache, None, [1])[0][0], _epochs(cache, None, [1])[0][0])
    ordered = _epochs(cache, 5, [0, 1], shuffle=False)
    assert all(np.array_equal(labels, np.arange(30)) for labels, _ in ordered)
    assert int(cache.dataset(seed=5, epoch=tf.Variable(0, dtype=tf.int64)).cardinality()) == 4


def test_epoch_must_be_an_integer_variable():
    cache = _flat_cache()
    with pytest.raises(ValueError, match="Received: epoch=3"):
        cache.dataset(seed=1, epoch=3)
    with pytest.raises(ValueError, match="scalar integer tf.Variable"):
        cache.dataset(seed=1, epoch=tf.Variable(0.0))
    with pytest.raises(ValueError, match="Received: seed=1.5"):
        cache.dataset(seed=1.5, epoch=tf.Variable(0, dtype=tf.int64))


class _Recorder(keras.Model):
    """A linear head that keeps every training batch it sees (run eagerly)."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(30)
        self.batches = []

    def call(self, x):
        return self.dense(x)

    def train_step(self, data):
        self.batches.append(np.asarray(data[0]))
        return super().train_step(data)


class _SetEpoch(keras.callbacks.Callback):
    def __init__(self, variable):
        super().__init__()
        self.variable = variable

    def on_epoch_begin(self, epoch, logs=None):
        self.variable.assign(epoch)


def _fit_batches(cache, initial_epoch, epochs=3):
    """Per epoch, the batches a fresh keras fit from ``initial_epoch`` trains on."""
    variable = tf.Variable(-1, dtype=tf.int64)  # a stale value must never be what is read
    model = _Recorder()
    model.compile("sgd", "sparse_categorical_crossentropy", run_eagerly=True)
    model.fit(cache.dataset(seed=3, epoch=variable), epochs=epochs, initial_epoch=initial_epoch,
              callbacks=[_SetEpoch(variable)], shuffle=False, verbose=0)
    per_epoch = len(model.batches) // (epochs - initial_epoch)
    return [np.concatenate(model.batches[i:i + per_epoch]) for i in range(0, len(model.batches), per_epoch)]


def test_a_resumed_keras_fit_sees_the_batches_of_an_uninterrupted_one():
    cache = _flat_cache(views=2)
    uninterrupted, resumed = _fit_batches(cache, 0), _fit_batches(cache, 1)
    assert len(uninterrupted) == 3 and len(resumed) == 2
    np.testing.assert_array_equal(resumed[0], uninterrupted[1])
    np.testing.assert_array_equal(resumed[1], uninterrupted[2])
    assert not np.array_equal(uninterrupted[0], uninterrupted[1])
    expected = _epochs(cache, 3, [0, 1, 2])  # what the dataset gives for those epoch values
    for seen, (_, features) in zip(uninterrupted, expected):
        np.testing.assert_array_equal(seen, features)
