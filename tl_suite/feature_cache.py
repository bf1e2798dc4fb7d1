"""Features of a frozen base, computed once and replayed to train the head.

With a frozen base, every epoch of the usual recipe recomputes the same backbone outputs. `fit`
instead runs the frozen part once per split (``views`` times for augmented training data, one
augmented view per pass), keeps the features in memory when they fit ``memory_budget`` bytes,
otherwise in memory-mapped files on disk, and trains only the head on them.
"""

import os
import shutil
import tempfile
import weakref

import keras
import numpy as np
import tensorflow as tf

from tl_suite._progress import progress
from tl_suite.models import head_inputs, input_preparer


def is_frozen(model):
    """True when only the ``"head"`` of a tl_suite model has trainable weights."""
    try:
        head = model.get_layer("head")
    except ValueError:
        return False
    head_ids = {id(weight) for weight in head.trainable_weights}
    return all(id(weight) in head_ids for weight in model.trainable_weights)


def feature_extractor(model):
    """A `keras.Model` from ``model``'s inputs to what its head receives."""
    return keras.Model(model.inputs, head_inputs(model), name="frozen_features")


def make_forward(network, model=None):
    """A traced ``forward(x, y) -> (outputs, y)`` that applies ``model``'s preprocessing first."""
    prepare = input_preparer(model if model is not None else network)

    @tf.function(reduce_retracing=True)
    def forward(x, y):
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


def _batches(dataset):
    cardinality = int(dataset.cardinality())
    return cardinality if cardinality > 0 else None


def _format_bytes(count):
    return f"{count / 2**20:,.1f} MiB"


class FeatureCache:
    """Per-example features (one array per head input) and labels, for ``views`` passes."""

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
        """Run the frozen part of ``model`` (its preprocessing included) over ``dataset``
        ``views`` times and keep the outputs."""
        extractor = extractor or feature_extractor(model)
        forward = make_forward(extractor, model=model)
        total = _batches(dataset)
        passes = []
        batch_size = None
        for view in range(views):
            label = f"Frozen features, {description}" + (f" (view {view + 1}/{views})" if views > 1 else "")
            bar = progress(total, label, verbose, unit="batch")
            outputs, labels = [], []
            for inputs, batch_labels in dataset:
                result, batch_labels = forward(inputs, batch_labels)
                result = result if isinstance(result, (list, tuple)) else [result]
                outputs.append([np.asarray(r) for r in result])
                labels.append(np.asarray(batch_labels))
                batch_size = batch_size or len(labels[-1])
                bar.update(1)
            bar.close()
            if not labels:
                raise ValueError(f"The {description} dataset is empty: nothing to train on.")
            passes.append(([pad_concatenate(parts, 0) for parts in zip(*outputs)],
                           pad_concatenate(labels, -1)))
        longest = max(p[1].shape[1] if p[1].ndim > 1 else 0 for p in passes)
        if any(p[1].ndim > 1 and p[1].shape[1] != longest for p in passes):  # token features
            passes = [([pad_to(a, longest, 0) for a in f], pad_to(l, longest, -1)) for f, l in passes]
        lengths = {len(labels) for _, labels in passes}
        if len(lengths) != 1:
            raise ValueError(f"The {description} dataset changed size between passes: {sorted(lengths)}.")
        nbytes = sum(a.nbytes for a in passes[0][0]) * views + passes[0][1].nbytes * views
        storage, directory = "memory", None
        if nbytes > memory_budget:
            storage, directory = "disk", tempfile.mkdtemp(prefix="tl_suite_features_")
        stacked = []
        for index in range(len(passes[0][0])):
            stacked.append(cls._stack([p[0][index] for p in passes], directory, f"features{index}"))
        labels = cls._stack([p[1] for p in passes], directory, "labels")
        ordered = not getattr(dataset, "shuffled", True)
        return cls(stacked, labels, views, batch_size, ordered, storage, directory)

    @staticmethod
    def _stack(arrays, directory, name):
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

    def describe(self, description):
        views = f" x {self.views} augmented views" if self.views > 1 else ""
        where = "in memory" if self.storage == "memory" else f"on disk ({self.directory})"
        shapes = ", ".join(str(tuple(a.shape[2:])) for a in self.features)
        return (f"Cached frozen features for {self.num_examples:,} {description} examples{views} "
                f"(feature shape {shapes}): {_format_bytes(self.nbytes)} {where}")

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
        indices = indices.batch(self.batch_size)
        flat_features = [a.reshape((-1, *a.shape[2:])) for a in self.features]
        flat_labels = self.labels.reshape((-1, *self.labels.shape[2:]))
        single = len(flat_features) == 1

        if self.storage == "memory":
            feature_tensors = [tf.constant(a) for a in flat_features]
            label_tensor = tf.constant(flat_labels)

            def gather(batch):
                gathered = [tf.gather(t, batch) for t in feature_tensors]
                return (gathered[0] if single else tuple(gathered)), tf.gather(label_tensor, batch)
        else:
            def read(batch):
                order = np.sort(batch)  # sequential reads from the memory map
                position = np.argsort(np.argsort(batch))
                return tuple(np.asarray(a[order])[position] for a in (*flat_features, flat_labels))

            def gather(batch):
                dtypes = [tf.as_dtype(a.dtype) for a in (*flat_features, flat_labels)]
                values = tf.numpy_function(read, [batch], dtypes)
                for value, array in zip(values, (*flat_features, flat_labels)):
                    value.set_shape((None, *array.shape[1:]))
                features = values[0] if single else tuple(values[:-1])
                return features, values[-1]

        return indices.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def close(self):
        """Free the cache (removes the files of a disk cache)."""
        self.features, self.labels = [], np.empty((0, 0))
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


def base_fingerprint(model):
    """A checksum of every weight outside the ``"head"`` (changes when the base trains)."""
    head_ids = {id(weight) for weight in model.get_layer("head").weights}
    return float(sum(np.sum(np.asarray(w, dtype=np.float64)) for w in model.weights
                     if id(w) not in head_ids))


def remember(model, dataset, cache):
    """Keep ``cache`` (features of ``dataset``) on ``model`` so that `evaluate` on the same
    dataset object reuses them while the base is unchanged. One cache per model: the previous
    one is freed."""
    forget(model)
    model._tl_suite_remembered = (weakref.ref(dataset), base_fingerprint(model), cache)


def forget(model):
    remembered = getattr(model, "_tl_suite_remembered", None)
    if remembered is not None:
        remembered[2].close()
        model._tl_suite_remembered = None


def recall(model, dataset):
    """The remembered cache of ``dataset`` if the base is still what computed it, else None."""
    remembered = getattr(model, "_tl_suite_remembered", None)
    if remembered is None or remembered[0]() is not dataset:
        return None
    if not is_frozen(model) or base_fingerprint(model) != remembered[1]:
        forget(model)
        return None
    return remembered[2]


def _conv_batch_norm_pairs(model):
    """``{conv layer: batch-norm layer}`` for each BatchNorm that only normalises one linear
    Conv2D/DepthwiseConv2D output (channels last) in functional ``model``."""
    pairs = {}
    for layer in model.layers:
        if type(layer) is not keras.layers.BatchNormalization or len(layer._inbound_nodes) != 1:
            continue
        parents = layer._inbound_nodes[0].parent_nodes
        if len(parents) != 1:
            continue
        conv = parents[0].operation
        if (type(conv) not in (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)
                or len(conv._inbound_nodes) != 1 or len(conv._outbound_nodes) != 1
                or conv.data_format != "channels_last"
                or conv.activation not in (None, keras.activations.linear)
                or layer.axis not in (-1, len(conv.output.shape) - 1)):
            continue
        pairs[conv] = layer
    return pairs


def _folded_weights(conv, norm):
    variance = np.asarray(norm.moving_variance, dtype=np.float64)
    scale = 1.0 / np.sqrt(variance + norm.epsilon)
    if norm.scale:
        scale = scale * np.asarray(norm.gamma, dtype=np.float64)
    shift = -np.asarray(norm.moving_mean, dtype=np.float64) * scale
    if norm.center:
        shift = shift + np.asarray(norm.beta, dtype=np.float64)
    kernel = np.asarray(conv.kernel, dtype=np.float64)
    if isinstance(conv, keras.layers.DepthwiseConv2D):  # output channel = input * multiplier + m
        kernel = kernel * scale.reshape(1, 1, kernel.shape[2], kernel.shape[3])
    else:
        kernel = kernel * scale
    bias = shift + (np.asarray(conv.bias, dtype=np.float64) * scale if conv.use_bias else 0.0)
    dtype = conv.kernel.dtype
    return kernel.astype(dtype), bias.astype(dtype)


class _FoldedBatchNorm(keras.layers.Layer):
    """Stands where a BatchNorm was folded into the convolution before it (identity)."""

    def call(self, inputs, training=None, mask=None):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


def fold_batch_norm(model):
    """An inference copy of functional ``model`` with each frozen BatchNorm folded into the
    convolution before it (kernel scaled, bias shifted), nested models included.

    BatchNorm in inference mode is an affine map per channel, so the copy computes the same
    function (to float rounding) with about a third fewer operations on EfficientNet/ResNet
    bases; it is what `fit` and `evaluate` run over frozen bases. Layers without a foldable
    BatchNorm are shared with ``model``, not copied. Returns ``model`` itself when there is
    nothing to fold.
    """
    if not isinstance(model, keras.Model) or not hasattr(model, "_inbound_nodes") \
            or isinstance(model, keras.Sequential) or not getattr(model, "_is_graph_network", True):
        return model
    pairs = _conv_batch_norm_pairs(model)
    norms = {id(norm) for norm in pairs.values()}
    folded = {}
    nested = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model) and layer is not model:
            copy = fold_batch_norm(layer)
            if copy is not layer:
                nested[id(layer)] = copy
    if not pairs and not nested:
        return model

    def clone(layer):
        if layer in pairs:
            config = layer.get_config()
            config["use_bias"] = True
            config["bias_initializer"] = "zeros"
            new = type(layer).from_config(config)
            folded[id(new)] = _folded_weights(layer, pairs[layer])
            return new
        if id(layer) in norms:
            return _FoldedBatchNorm(name=layer.name)
        return nested.get(id(layer), layer)

    copy = keras.models.clone_model(model, clone_function=clone)
    for layer in copy.layers:
        if id(layer) in folded:
            kernel, bias = folded[id(layer)]
            layer.kernel.assign(kernel)
            layer.bias.assign(bias)
    return copy
