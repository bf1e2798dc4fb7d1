"""The scores an explanation follows: the head's logits, and the model's log-probabilities.

The head ends in a dense layer with its softmax / sigmoid inside, then a temperature. Grad-CAM
follows the class logit (the score before the softmax, as in the paper); integrated gradients
follow the log-probability of the explained class, ``log softmax(z / T)``, the quantity the
model's loss trains, computed from the logits so that it does not saturate at p = 1.
"""

import keras


def logits_function(head):
    """``features -> logits``: ``head`` (a tl_suite head) without its output activation
    (outputs of a regression head as they are).

    Example:
    >>> import numpy as np
    >>> from tl_suite.models.heads import build_head
    >>> head = build_head((4,), 3, dropout=0.0)
    >>> features = np.ones((2, 4), "float32")
    >>> logits = logits_function(head)(features)
    >>> np.allclose(keras.ops.softmax(logits), head(features), atol=1e-6)
    True
    """
    predictions = head.get_layer("predictions")
    hidden = None if predictions.input is head.input else keras.Model(head.input, predictions.input)

    def logits(features):
        x = features if hidden is None else hidden(features, training=False)
        return keras.ops.matmul(x, predictions.kernel) + predictions.bias

    return logits


def log_probabilities(model, logits):
    """The model's log-probabilities from ``logits``: ``log softmax(z / T)`` (classification,
    tagging), ``log sigmoid(z / T)`` per label (multi-label); regression values unchanged."""
    if model.task == "regression":
        return logits
    temperature = model.temperature or 1.0
    if model.task == "multi_label":
        return keras.ops.log_sigmoid(logits / temperature)
    return keras.ops.log_softmax(logits / temperature, axis=-1)


def resolve_target(model, target):
    """``target`` (a label name, an index or None for the predicted one) as an index or None."""
    if target is None:
        return None
    names = model.label_names or []
    if isinstance(target, str) and target in names:
        return names.index(target)
    if isinstance(target, int) and not isinstance(target, bool) and 0 <= target < model.num_outputs:
        return target
    raise ValueError(
        f"`target` must be one of the model's labels {names} or an index below "
        f"{model.num_outputs} (None: the predicted label). Received: target={target!r}."
    )
