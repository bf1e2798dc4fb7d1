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
