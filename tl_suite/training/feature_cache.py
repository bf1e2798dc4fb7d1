"""Features of a frozen base, computed once and replayed to train the head.

With a frozen base, every epoch of the usual recipe recomputes the same backbone outputs. `fit`
instead runs the frozen part (``model.features_model()``, BatchNorm folded) once per split
(``views`` times for augmented training data, one augmented view per pass), keeps the features
in memory when they fit ``memory_budget`` bytes, otherwise in memory-mapped files on disk, and
trains only the head on them. `remember` keeps a validation cache for `evaluate` to reuse.

Disk caches are made to fail cleanly: the free space of the temporary folder is checked first
and the files are reserved on disk before anything is written into them, so a full disk is an
``OSError`` (ENOSPC) naming the folder and the fixes, never a SIGBUS on a memory-mapped write,
and a failed cache leaves no folder behind. Folders are named ``tl_suite_features_<pid>_*``;
each `FeatureCache.from_dataset` first removes those of processes that no longer run (a
process killed before `FeatureCache.close`).
"""

import errno
import logging
import os
import re
import shutil
import stat
import tempfile
import time
import weakref

import keras
import numpy as np
import tensorflow as tf

from tl_suite.data.info import dataset_info
from tl_suite.models.compiling import is_frozen
from tl_suite.progress import progress
from tl_suite.training.batch_norm_folding import fold_batch_norm


def make_forward(network, prepare=None):
    """A traced ``forward(x, y) -> (network outputs, y)``, with ``prepare(x, y) -> (x, y)``
    (e.g. ``model.prepare``, the model's preprocessor) applied first."""

    @tf.function(reduce_retracing=True)
    def forward(x, y):
        if prepare is not None:
            x, y = prepare(x, y)
        return network(x, training=False), y

    return forward


def pad_to(array, length, value):
    """Pad axis 1 of ``array`` (a batch of sequences) to ``length`` with ``value``."""
    if array.ndim < 2 or array.shape[1] == length:
        return array
    widths = [(0, 0), (0, length - array.shape[1])] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, widths, constant_values=value)


def pad_concatenate(arrays, value):
    """Concatenate batches whose sequence axis differs (dynamic padding), padding with ``value``."""
    if arrays[0].ndim >= 2 and len({a.shape[1] for a in arrays}) > 1:
        longest = max(a.shape[1] for a in arrays)
        arrays = [pad_to(a, longest, value) for a in arrays]
    return np.concatenate(arrays)


def num_batches(dataset):
    """Batches in ``dataset`` when known (for progress bars), else None."""
    cardinality = int(dataset.cardinality())
    return cardinality if cardinality > 0 else None


def _one_pass(forward, dataset, bar):
    """``(features per output, labels, batch size)`` of one pass of ``forward`` over ``dataset``,
    counting batches on ``bar``."""
    outputs, labels = [], []
    for inputs, batch_labels in dataset:
        result, batch_labels = forward(inputs, batch_labels)
        result = result if isinstance(result, (list, tuple)) else [result]
        outputs.append([np.asarray(r) for r in result])
        labels.append(np.asarray(batch_labels))
        bar.update(1)
    if not labels:
        return None
    features = [pad_concatenate(parts, 0) for parts in zip(*outputs)]
    return features, pad_concatenate(labels, -1), len(labels[0])


def _same_lengths(passes, description):
    """Pad the passes' sequence axes to one length (token features); refuse a dataset whose
    size changed between passes."""
    longest = max(labels.shape[1] if labels.ndim > 1 else 0 for _, labels in passes)
    if any(labels.ndim > 1 and labels.shape[1] != longest for _, labels in passes):
        passes = [([pad_to(a, longest, 0) for a in features], pad_to(labels, longest, -1))
                  for features, labels in passes]
    sizes = sorted({len(labels) for _, labels in passes})
    if len(sizes) != 1:
        raise ValueError(f"The {description} dataset changed size between passes: {sizes}.")
    return passes


_PREFIX = "tl_suite_features_"
_OLD_STYLE_AGE = 24 * 3600  # seconds; folders named without a pid (older tl_suite) are kept this long
_DEFAULT_SEED = 0  # the order of `FeatureCache.dataset(epoch=...)` when no seed is given
_SPACE_ERRORS = (errno.ENOSPC, errno.EDQUOT)
_logger = logging.getLogger(__name__)


def _is_alive(pid):
    """False only when no process ``pid`` exists (another user's process counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):
        return True
    return True


def _is_orphan(name, path):
    """Whether ``path``, a folder of ours named ``name``, belongs to no running process."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISDIR(info.st_mode) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        return False
    # mkdtemp appends 8 characters: "<pid>_<8>" (this version) or "<8>" (older ones, no pid).
    suffix = name[len(_PREFIX):]
    match = re.fullmatch(r"(\d+)_[a-z0-9_]{8}", suffix)
    if match is not None:
        return not _is_alive(int(match.group(1)))
    return len(suffix) == 8 and time.time() - info.st_mtime > _OLD_STYLE_AGE


def remove_orphaned_caches(verbose=True):
    """Remove the disk caches that dead processes left in the temporary folder.

    A folder ``tl_suite_features_<pid>_*`` is removed when no process ``<pid>`` runs, an older
    ``tl_suite_features_*`` without a pid when it is more than a day old; only the current
    user's folders are considered. What was removed is logged (and printed with ``verbose``).
    Returns the removed paths.

    Example:
    >>> import os, tempfile
    >>> left = tempfile.mkdtemp(prefix="tl_suite_features_999999999_")  # no such process
    >>> left in remove_orphaned_caches(verbose=False), os.path.exists(left)
    (True, False)
    """
    root = tempfile.gettempdir()
    try:
        names = sorted(name for name in os.listdir(root) if name.startswith(_PREFIX))
    except OSError:
        return []
    removed = []
    for name in names:
        path = os.path.join(root, name)
        if _is_orphan(name, path):
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.exists(path):
                removed.append(path)
    if removed:
        message = (f"Removed {len(removed)} feature cache folder(s) left by processes that no "
                   f"longer run: {', '.join(removed)}")
        _logger.info(message)
        if verbose:
            print(message)
    return removed


def _disk_full_message(root, needed, free, memory_budget, what):
    return (
        f"Not enough free space in {root!r} for the on-disk feature cache ({what}): it needs "
        f"{needed:,} bytes ({needed / 2**20:,.1f} MiB), {free:,} bytes are free. Either point "
        "TMPDIR at a bigger disk (e.g. TMPDIR=/path/to/big/disk python ...), raise fit's "
        f"feature_cache_memory= (here memory_budget={memory_budget:,} bytes) above the cache "
        "size to keep the features in RAM, or pass cache_features=False to fit (the frozen base "
        "then runs every epoch)."
    )


def _check_free_space(root, needed, memory_budget):
    """Refuse a disk cache of ``needed`` bytes that the disk of ``root`` cannot hold."""
    free = shutil.disk_usage(root).free
    if needed > free:
        message = _disk_full_message(root, needed, free, memory_budget, "checked before writing")
        raise OSError(errno.ENOSPC, message)


def _reserve(path, start):
    """Allocate every block of file ``path`` on disk (a full disk raises ENOSPC here). Without
    ``posix_fallocate`` (or where the file system lacks it), bytes from ``start`` on (past the
    ``.npy`` header) are written as zeros instead."""
    size = os.path.getsize(path)
    with open(path, "r+b") as file:
        if hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(file.fileno(), 0, size)
                return
            except OSError as error:
                if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise
        file.seek(start)
        chunk = bytes(2**20)
        for offset in range(start, size, len(chunk)):
            file.write(chunk[:min(len(chunk), size - offset)])
        file.flush()
        os.fsync(file.fileno())


def _stack(arrays, directory, name):
    """``arrays`` stacked on a new first axis, in memory or memory-mapped in ``directory`` (the
    file reserved on disk before it is mapped for writing: a full disk is an exception there,
    not a SIGBUS at a later write)."""
    if directory is None:
        return np.stack(arrays)
    path = os.path.join(directory, f"{name}.npy")
    shape, dtype = (len(arrays), *arrays[0].shape), arrays[0].dtype
    np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape).flush()  # header; sparse
    _reserve(path, os.path.getsize(path) - int(np.prod(shape)) * dtype.itemsize)
    mapped = np.load(path, mmap_mode="r+")
    for index, array in enumerate(arrays):
        mapped[index] = array
    mapped.flush()
    return mapped


def _store(passes, memory_budget):
    """``(features, labels, directory)`` of the passes: in memory within ``memory_budget``
    bytes (``directory`` None), else in a fresh folder of memory-mapped files, removed again if
    anything fails."""
    views, (features, labels) = len(passes), passes[0]
    nbytes = (sum(a.nbytes for a in features) + labels.nbytes) * views
    if nbytes <= memory_budget:
        return ([np.stack([p[0][index] for p in passes]) for index in range(len(features))],
                np.stack([p[1] for p in passes]), None)
    root = tempfile.gettempdir()
    needed = nbytes + 4096 * (len(features) + 1)  # each file's header, rounded to a block
    _check_free_space(root, needed, memory_budget)
    directory, stacked = None, []
    try:
        directory = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}_")
        for index in range(len(features)):
            stacked.append(_stack([p[0][index] for p in passes], directory, f"features{index}"))
        stacked.append(_stack([p[1] for p in passes], directory, "labels"))
        return stacked[:-1], stacked[-1], directory
    except BaseException as error:
        stacked.clear()  # unmap the files (the traceback keeps this frame alive)
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
        if isinstance(error, OSError) and error.errno in _SPACE_ERRORS:
            free = shutil.disk_usage(root).free
            raise OSError(errno.ENOSPC, _disk_full_message(
                root, needed, free, memory_budget, f"the disk filled up while reserving it: {error}"
            )) from error
        raise


def _memory_gather(features, labels):
    feature_tensors = [tf.constant(a) for a in features]
    label_tensor = tf.constant(labels)

    def gather(batch):
        gathered = [tf.gather(t, batch) for t in feature_tensors]
        return (gathered[0] if len(gathered) == 1 else tuple(gathered)), tf.gather(label_tensor, batch)

    return gather


def _disk_gather(features, labels):
    arrays = (*features, labels)

    def read(batch):
        order = np.sort(batch)  # sequential reads from the memory map
        position = np.argsort(np.argsort(batch))
        return tuple(np.asarray(a[order])[position] for a in arrays)

    def gather(batch):
        values = tf.numpy_function(read, [batch], [tf.as_dtype(a.dtype) for a in arrays])
        for value, array in zip(values, arrays):
            value.set_shape((None, *array.shape[1:]))
        return (values[0] if len(features) == 1 else tuple(values[:-1])), values[-1]

    return gather


class FeatureCache:
    """Per-example features (one array per output of the frozen part) and labels, for
    ``views`` passes over a dataset.

    Example:
    >>> import numpy as np, tl_suite
    >>> data = tl_suite.image_dataset(images=np.zeros((6, 32, 32), "uint8"),
    ...                               labels=np.arange(6) % 2, batch_size=4, verbose=False)
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> cache = FeatureCache.from_dataset(model, data, verbose=False)
    >>> cache.features[0].shape, cache.storage, [len(y) for _, y in cache.dataset()]
    ((1, 6, 16), 'memory', [4, 2])
    >>> cache.close()
    """

    def __init__(self, features, labels, views, batch_size, ordered, storage, directory=None):
        self.features = features  # list of arrays shaped (views, examples, ...)
        self.labels = labels  # (views, examples, ...)
        self.views = views
        self.batch_size = batch_size
        self.ordered = ordered
        self.storage = storage
        self.directory = directory

    @property
    def num_examples(self):
        return self.labels.shape[1]

    @property
    def nbytes(self):
        return sum(array.nbytes for array in self.features) + self.labels.nbytes

    @classmethod
    def from_dataset(cls, model, dataset, views=1, memory_budget=2**30, description="data",
                     verbose=True, extractor=None):
        """Run the frozen part of tl_suite ``model`` (its preprocessor included) over
        ``dataset`` ``views`` times and keep the outputs.

        ``extractor`` is the network to run on preprocessed batches; by default
        ``model.features_model()`` with BatchNorm folded. The cache keeps the dataset's order
        (``dataset(shuffle=None)``) when its `DatasetInfo` says it is not shuffled.

        Features larger than ``memory_budget`` bytes go to memory-mapped files in a new folder
        of `tempfile.gettempdir()` (``TMPDIR``), after a check of its free space; too little
        space raises an ``OSError`` (errno ENOSPC) naming the folder, the bytes needed and free,
        and the fixes, and leaves no files behind. Orphaned caches of dead processes are removed
        first (`remove_orphaned_caches`).
        """
        remove_orphaned_caches(verbose)
        extractor = extractor or fold_batch_norm(model.features_model())
        forward = make_forward(extractor, model.prepare)
        passes, batch_size = [], None
        batches = num_batches(dataset)
        label = f"Frozen features, {description}" + (f" ({views} augmented views)" if views > 1 else "")
        # One bar for all the views: one line per split in logs, one widget in notebooks.
        with progress(None if batches is None else batches * views, label, verbose, unit="batch") as bar:
            for _ in range(views):
                result = _one_pass(forward, dataset, bar)
                if result is None:
                    raise ValueError(f"The {description} dataset is empty: nothing to train on.")
                passes.append(result[:2])
                batch_size = batch_size or result[2]
        features, labels, directory = _store(_same_lengths(passes, description), memory_budget)
        info = dataset_info(dataset)
        return cls(features, labels, views, batch_size, ordered=info is not None and not info.shuffled,
                   storage="memory" if directory is None else "disk", directory=directory)

    def describe(self, description):
        """One line: how many examples and views are cached, their shape, size and place."""
        views = f" x {self.views} augmented views" if self.views > 1 else ""
        where = "in memory" if self.storage == "memory" else f"on disk ({self.directory})"
        shapes = ", ".join(str(tuple(a.shape[2:])) for a in self.features)
        return (f"Cached frozen features for {self.num_examples:,} {description} examples{views} "
                f"(feature shape {shapes}): {self.nbytes / 2**20:,.1f} MiB {where}")

    def dataset(self, seed=None, shuffle=None, epoch=None):
        """A `tf.data.Dataset` of ``(features, labels)`` batches; a random view per example per
        epoch; shuffled every epoch unless the source dataset was not shuffled.

        Args:
            seed: Seed of the order and of the view draws.
            shuffle: Whether to shuffle; by default unless the source dataset was in order.
            epoch: Optional integer `tf.Variable` (int64) that the trainer sets to the epoch
                number before each epoch begins. Given, the order and the view draws of an
                epoch depend only on ``(seed, epoch value)`` (stateless random ops, the value
                read when an epoch's iteration starts), so a run resumed at epoch k sees exactly
                the batches an uninterrupted run saw at epoch k; ``seed=None`` then means a
                fixed default seed. Without it, each iteration draws a new order from a seeded
                generator: the same sequence of epochs from a fresh start, but a resumed run
                restarts that sequence.

        Example:
        >>> import numpy as np, tensorflow as tf
        >>> cache = FeatureCache([np.arange(5.0).reshape(1, 5, 1)], np.arange(5).reshape(1, 5),
        ...                      views=1, batch_size=5, ordered=False, storage="memory")
        >>> epoch = tf.Variable(0, dtype=tf.int64)
        >>> data = cache.dataset(seed=1, epoch=epoch)
        >>> first = [y.numpy().tolist() for _, y in data]
        >>> _ = epoch.assign(1)  # what the trainer does as epoch 1 begins
        >>> second = [y.numpy().tolist() for _, y in data]
        >>> _ = epoch.assign(0)
        >>> first != second, first == [y.numpy().tolist() for _, y in data]
        (True, True)
        """
        shuffle = (not self.ordered) if shuffle is None else shuffle
        if epoch is None:
            indices = self._drawn_indices(seed, shuffle)
        else:
            indices = self._epoch_indices(_DEFAULT_SEED if seed is None else seed, shuffle, epoch)
        features = [a.reshape((-1, *a.shape[2:])) for a in self.features]
        labels = self.labels.reshape((-1, *self.labels.shape[2:]))
        gather = (_memory_gather if self.storage == "memory" else _disk_gather)(features, labels)
        return (indices.batch(self.batch_size)
                .map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))

    def _drawn_indices(self, seed, shuffle):
        """Row indices (view * examples + example) from tf.data's seeded, per-iteration draws."""
        count = self.num_examples
        indices = tf.data.Dataset.range(count)
        if shuffle:
            indices = indices.shuffle(count, seed=seed, reshuffle_each_iteration=True)
        if self.views > 1:
            draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
            indices = tf.data.Dataset.zip(indices, draws).map(
                lambda index, draw: (draw % self.views) * count + index
            )
        return indices

    def _epoch_indices(self, seed, shuffle, epoch):
        """Row indices that are a function of ``(seed, epoch)``, ``epoch`` read as each
        iteration starts (after the trainer's ``on_epoch_begin``)."""
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise ValueError(f"`seed` must be an integer or None. Received: seed={seed!r}.")
        if not (isinstance(epoch, tf.Variable) and epoch.dtype.is_integer and epoch.shape.rank == 0):
            raise ValueError(
                "`epoch` must be a scalar integer tf.Variable that the trainer sets at each epoch "
                f"begin, e.g. tf.Variable(0, dtype=tf.int64). Received: epoch={epoch!r}."
            )
        count, views = self.num_examples, self.views

        def order(_):
            key = tf.stack([tf.constant(int(seed), tf.int64), tf.cast(epoch.read_value(), tf.int64)])
            shuffle_key, draw_key = tf.unstack(tf.random.experimental.stateless_split(key, 2))
            indices = tf.range(count, dtype=tf.int64)
            if shuffle:
                indices = tf.random.experimental.stateless_shuffle(indices, seed=shuffle_key)
            if views > 1:
                draws = tf.random.stateless_uniform([count], seed=draw_key, minval=0, maxval=views,
                                                    dtype=tf.int64)
                indices = draws * count + indices
            return indices

        # One element per iteration, computed when the iterator first pulls (not when the dataset
        # is built), so the trainer's epoch variable is read once the epoch has begun.
        indices = tf.data.Dataset.range(1).map(order).unbatch()
        return indices.apply(tf.data.experimental.assert_cardinality(count))

    def close(self):
        """Free the cache (removes the files of a disk cache)."""
        self.features, self.labels = [], np.empty((0, 0))
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


# model -> (weak reference to the dataset, base fingerprint, cache); at most one per model.
_REMEMBERED = weakref.WeakKeyDictionary()


def base_fingerprint(model):
    """A checksum of every weight outside the head (changes when the base trains)."""
    head_ids = {id(weight) for weight in model.head.weights}
    return float(sum(np.sum(np.asarray(w, dtype=np.float64)) for w in model.weights
                     if id(w) not in head_ids))


def remember(model, dataset, cache):
    """Keep ``cache`` (features of ``dataset``) for ``model`` so that `evaluate` on the same
    dataset object reuses them while the base is unchanged. One cache per model: the previous
    one is freed."""
    forget(model)
    _REMEMBERED[model] = (weakref.ref(dataset), base_fingerprint(model), cache)


def forget(model):
    """Free the cache remembered for ``model``, if any."""
    remembered = _REMEMBERED.pop(model, None)
    if remembered is not None:
        remembered[2].close()


def is_remembered(model):
    """True while a cache is remembered for ``model``."""
    return model in _REMEMBERED


def recall(model, dataset):
    """The remembered cache of ``dataset`` if the base is still what computed it, else None
    (a stale cache is freed)."""
    remembered = _REMEMBERED.get(model)
    if remembered is None or remembered[0]() is not dataset:
        return None
    if not is_frozen(model) or base_fingerprint(model) != remembered[1]:
        forget(model)
        return None
    return remembered[2]


class EpochCounter(keras.callbacks.Callback):
    """Sets ``variable`` to the epoch at each epoch begin (the cached features' batch order
    depends only on the seed and this, so a resumed run sees the same batches)."""

    def __init__(self, variable):
        super().__init__()
        self.variable = variable

    def on_epoch_begin(self, epoch, logs=None):
        self.variable.assign(epoch)
