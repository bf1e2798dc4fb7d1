"""What a served model answers: labels, probabilities and names, as TensorFlow ops.

Every output keeps the batch as its first axis (names are repeated per row): TF Serving's row
format (``"instances"``) refuses a response whose named outputs differ in their first axis.
"""

import tensorflow as tf

DEFAULT_THRESHOLD = 0.5


def output_names(model):
    """The model's label names, or ``"0"``, ``"1"``, ... (``"value"`` for one unnamed
    regression output, as `tl_suite.predict` names it)."""
    if model.label_names is not None:
        return list(model.label_names)
    if model.task == "regression" and model.num_outputs == 1:
        return ["value"]
    return [str(index) for index in range(model.num_outputs)]


def _per_row(names, like):
    """``names`` ``(K,)`` repeated for every row of ``like`` ``(N, ...)``: ``(N, K)``."""
    return tf.tile(names[tf.newaxis], [tf.shape(like)[0], 1])


def classification_outputs(probabilities, names):
    """Single-label: the most likely ``label`` and its ``probability``, all ``probabilities``
    and the ``label_names`` they belong to.

    Example:
    >>> out = classification_outputs(tf.constant([[0.2, 0.8]]), ["cat", "dog"])
    >>> out["label"].numpy().tolist(), round(float(out["probability"][0]), 2)
    ([b'dog'], 0.8)
    """
    names = tf.constant(names)
    return {
        "label": tf.gather(names, tf.argmax(probabilities, axis=-1)),
        "probability": tf.reduce_max(probabilities, axis=-1),
        "probabilities": probabilities,
        "label_names": _per_row(names, probabilities),
    }


def multi_label_outputs(probabilities, names, threshold=DEFAULT_THRESHOLD):
    """Multi-label: ``labels`` ``(N, K)`` holds the names whose probability is at least
    ``threshold``, in label order, then empty strings; with ``probabilities``, ``label_names``.

    Example:
    >>> out = multi_label_outputs(tf.constant([[0.2, 0.9, 0.7]]), ["red", "green", "blue"])
    >>> out["labels"].numpy().tolist()
    [[b'green', b'blue', b'']]
    """
    names = tf.constant(names)
    chosen = probabilities >= threshold
    # A stable sort on "not chosen" puts the chosen labels first, each row in label order.
    order = tf.argsort(tf.cast(tf.logical_not(chosen), tf.int32), axis=-1, stable=True)
    packed = tf.gather(names, order)
    count = tf.reduce_sum(tf.cast(chosen, tf.int32), axis=-1, keepdims=True)
    kept = tf.range(tf.shape(names)[0])[tf.newaxis] < count
    return {
        "labels": tf.where(kept, packed, ""),
        "probabilities": probabilities,
        "label_names": _per_row(names, probabilities),
    }


def regression_outputs(values, names):
    """Regression: the ``values`` ``(N, K)`` and the ``value_names`` of their columns."""
    return {"values": values, "value_names": _per_row(tf.constant(names), values)}


def task_outputs(model, outputs, threshold=DEFAULT_THRESHOLD):
    """The served outputs of a classification, multi-label or regression ``model``."""
    outputs = tf.cast(outputs, tf.float32)
    names = output_names(model)
    if model.task == "classification":
        return classification_outputs(outputs, names)
    if model.task == "multi_label":
        return multi_label_outputs(outputs, names, threshold)
    return regression_outputs(outputs, names)
