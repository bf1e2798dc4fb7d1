"""Layers between a text backbone and the head: pooling, and long texts as windows."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tl_suite")
class MaskedMeanPooling(keras.layers.Layer):
    """Mean of the token vectors where ``padding_mask`` is true (padding never counts)."""

    def call(self, sequence, padding_mask):
        mask = keras.ops.expand_dims(keras.ops.cast(padding_mask, sequence.dtype), -1)
        total = keras.ops.sum(sequence * mask, axis=1)
        count = keras.ops.maximum(keras.ops.sum(mask, axis=1), 1.0)
        return total / count

    def compute_output_shape(self, sequence_shape, padding_mask_shape=None):
        return (sequence_shape[0], sequence_shape[-1])


@keras.saving.register_keras_serializable(package="tl_suite")
class ClsPooling(keras.layers.Layer):
    """The vector of the first ([CLS]) token."""

    def call(self, sequence):
        return sequence[:, 0, :]

    def compute_output_shape(self, sequence_shape):
        return (sequence_shape[0], sequence_shape[-1])


@keras.saving.register_keras_serializable(package="tl_suite")
class WindowsToBatch(keras.layers.Layer):
    """``(batch, windows, length)`` inputs -> ``(present windows, length)``: the windows with
    at least one token, one after the other, so the base never encodes padding windows."""

    def call(self, inputs):
        present = tf.reduce_any(tf.cast(inputs["padding_mask"], tf.bool), axis=-1)
        return {key: tf.boolean_mask(value, present) for key, value in inputs.items()}

    def compute_output_shape(self, input_shape):
        return {key: (None, shape[-1]) for key, shape in input_shape.items()}


@keras.saving.register_keras_serializable(package="tl_suite")
class WindowMean(keras.layers.Layer):
    """Mean of each text's window vectors (the inverse of `WindowsToBatch`)."""

    def call(self, window_vectors, padding_mask):
        present = tf.reduce_any(tf.cast(padding_mask, tf.bool), axis=-1)  # (batch, windows)
        texts, windows = tf.shape(present)[0], tf.shape(present)[1]
        owner = tf.boolean_mask(tf.tile(tf.range(texts)[:, None], [1, windows]), present)
        return tf.math.unsorted_segment_mean(window_vectors, owner, num_segments=texts)

    def compute_output_shape(self, window_vectors_shape, padding_mask_shape=None):
        return (None, window_vectors_shape[-1])




def pool(pooling, outputs, inputs, name="pool"):
    """Pool a BERT backbone's ``outputs``: ``"mean"`` (masked), ``"cls"`` or ``"pooler"``."""
    if pooling == "mean":
        return MaskedMeanPooling(name=name)(outputs["sequence_output"], inputs["padding_mask"])
    if pooling == "cls":
        return ClsPooling(name=name)(outputs["sequence_output"])
    return keras.layers.Identity(name=name)(outputs["pooled_output"])


@keras.saving.register_keras_serializable(package="tl_suite")
class BranchGate(keras.layers.Layer):
    """Scales the first ``columns`` features (a text model's encoder features, before the
    TF-IDF columns of the wide branch) by the non-trainable weight ``gate``: 1 keeps both
    branches, 0 leaves the head the TF-IDF columns only. `fit` sets it on validation data.

    With ``dropout``, dropout (training only) applies to those ``columns`` alone: dropping
    entries of a mostly-zero TF-IDF vector regularises nothing measurable (the same accuracy
    on three corpora) and made each head epoch about 4x slower at 50,000 columns.

    Example:
    >>> import numpy as np
    >>> gate = BranchGate(columns=2)
    >>> gate.set_gate(0.0)
    >>> gate(np.ones((1, 4), "float32")).numpy().tolist()
    [[0.0, 0.0, 1.0, 1.0]]
    """

    def __init__(self, columns, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.columns, self.rate = int(columns), float(dropout)
        self.dropout = keras.layers.Dropout(self.rate) if self.rate else None
        self.gate = self.add_weight(shape=(), initializer="ones", trainable=False, name="gate")

    def set_gate(self, value):
        self.gate.assign(float(value))

    def call(self, features, training=None):
        deep = features[:, :self.columns] * keras.ops.cast(self.gate, features.dtype)
        if self.dropout is not None:
            deep = self.dropout(deep, training=training)
        return keras.ops.concatenate([deep, features[:, self.columns:]], axis=-1)

    def load_own_variables(self, store):
        """Models saved before this layer existed hold no ``gate``: it stays 1."""
        if len(store.keys()):
            super().load_own_variables(store)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "columns": self.columns, "dropout": self.rate}


@keras.saving.register_keras_serializable(package="tl_suite")
class TemperatureScaling(keras.layers.Layer):
    """Calibrates probabilities by a temperature (the non-trainable weight ``temperature``,
    set by `calibrate`): softmax outputs become ``softmax(log(p) / T)`` (= ``softmax(z / T)``
    of the logits ``z``), sigmoid outputs ``sigmoid(logit(p) / T)``. ``T = 1`` (the default)
    passes the probabilities through unchanged; ``T > 1`` softens over-confident ones.

    Example:
    >>> import numpy as np
    >>> layer = TemperatureScaling(activation="softmax")
    >>> [round(float(p), 4) for p in layer(np.array([[0.8, 0.2]], "float32"))[0]]
    [0.8, 0.2]
    >>> layer.set_temperature(2.0)
    >>> [round(float(p), 4) for p in layer(np.array([[0.8, 0.2]], "float32"))[0]]
    [0.6667, 0.3333]
    """

    def __init__(self, activation="softmax", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if activation not in ("softmax", "sigmoid"):
            raise ValueError("`activation` must be 'softmax' or 'sigmoid'. "
                             f"Received: activation={activation!r}.")
        self.activation = activation
        self.temperature = self.add_weight(shape=(), initializer="ones", trainable=False,
                                           name="temperature")

    def set_temperature(self, value):
        self.temperature.assign(float(value))

    def call(self, probabilities):
        p = keras.ops.clip(keras.ops.cast(probabilities, "float32"), 1e-37, 1.0)
        t = keras.ops.cast(self.temperature, "float32")
        if self.activation == "softmax":
            scaled = keras.ops.softmax(keras.ops.log(p) / t, axis=-1)
        else:
            p = keras.ops.clip(p, 1e-7, 1.0 - 1e-7)
            scaled = keras.ops.sigmoid((keras.ops.log(p) - keras.ops.log(1.0 - p)) / t)
        return keras.ops.where(keras.ops.equal(t, 1.0), keras.ops.cast(probabilities, "float32"),
                               scaled)

    def load_own_variables(self, store):
        """Models saved before this layer existed hold no ``temperature``: it stays 1."""
        if len(store.keys()):
            super().load_own_variables(store)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}
