"""Features of a frozen base, computed once and replayed to train the head.

With a frozen base, every epoch of the usual recipe recomputes the same backbone outputs. `fit`
instead runs the frozen part (``model.features_model()``, BatchNorm folded) once per split
(``views`` times for augmented training data, one augmented view per pass), keeps the features
in memory when they fit ``memory_budget`` bytes, otherwise in memory-mapped files on disk, and
trains only the head on them. `remember` keeps a validation cache for `evaluate` to reuse.
"""

import os
import shutil
import tempfile
import weakref

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


def _one_pass(forward, dataset, label, verbose):
    """``(features per output, labels, batch size)`` of one pass of ``forward`` over ``dataset``."""
    outputs, labels = [], []
    bar = progress(num_batches(dataset), label, verbose, unit="batch")
    for inputs, batch_labels in dataset:
        result, batch_labels = forward(inputs, batch_labels)
        result = result if isinstance(result, (list, tuple)) else [result]
        outputs.append([np.asarray(r) for r in result])
        labels.append(np.asarray(batch_labels))
        bar.update(1)
    bar.close()
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


def _stack(arrays, directory, name):
    """``arrays`` stacked on a new first axis, in memory or memory-mapped in ``directory``."""
    if directory is None:
        return np.stack(arrays)
    mapped = np.lib.format.open_memmap(
        os.path.join(directory, f"{name}.npy"), mode="w+", dtype=arrays[0].dtype,
        shape=(len(arrays), *arrays[0].shape),
    )
    for index, array in enumerate(arrays):
        mapped[index] = array
    mapped.flush()
    return mapped


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
        """
        extractor = extractor or fold_batch_norm(model.features_model())
        forward = make_forward(extractor, model.prepare)
        passes, batch_size = [], None
        for view in range(views):
            label = f"Frozen features, {description}" + (f" (view {view + 1}/{views})" if views > 1 else "")
            result = _one_pass(forward, dataset, label, verbose)
            if result is None:
                raise ValueError(f"The {description} dataset is empty: nothing to train on.")
            passes.append(result[:2])
            batch_size = batch_size or result[2]
        passes = _same_lengths(passes, description)
        nbytes = sum(a.nbytes for a in passes[0][0]) * views + passes[0][1].nbytes * views
        directory = tempfile.mkdtemp(prefix="tl_suite_features_") if nbytes > memory_budget else None
        features = [_stack([p[0][index] for p in passes], directory, f"features{index}")
                    for index in range(len(passes[0][0]))]
        labels = _stack([p[1] for p in passes], directory, "labels")
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

    def dataset(self, seed=None, shuffle=None):
        """A `tf.data.Dataset` of ``(features, labels)`` batches; a random view per example per
        epoch; shuffled every epoch unless the source dataset was not shuffled."""
        shuffle = (not self.ordered) if shuffle is None else shuffle
        count = self.num_examples
        indices = tf.data.Dataset.range(count)
        if shuffle:
            indices = indices.shuffle(count, seed=seed, reshuffle_each_iteration=True)
        if self.views > 1:
            draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
            indices = tf.data.Dataset.zip(indices, draws).map(
                lambda index, draw: (draw % self.views) * count + index
            )
        features = [a.reshape((-1, *a.shape[2:])) for a in self.features]
        labels = self.labels.reshape((-1, *self.labels.shape[2:]))
        gather = (_memory_gather if self.storage == "memory" else _disk_gather)(features, labels)
        return (indices.batch(self.batch_size)
                .map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))

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
