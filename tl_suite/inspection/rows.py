"""One row per example: its input, true and predicted label, probability and loss.

What `top_losses` sorts, `show_results` draws and `most_confused` counts. Losses are those the
model trains with, per example: cross-entropy of the true class (classification), mean binary
cross-entropy of the labels (multi-label), mean squared error (regression), and for a tagged
sentence the mean cross-entropy of its words' true tags.
"""

import numpy as np

from tl_suite.models.decoding import decode_tags

_EPSILON = 1e-7


def label_text(label, names, task):
    """How a label reads: a class name, the names of the labels set, values, or tag names."""
    label = np.asarray(label)
    names = names or [str(i) for i in range(max(label.size, 1))]
    if task == "token_classification":
        return [names[int(t)] for t in label.ravel()]
    if task == "regression":
        values = [round(float(v), 4) for v in label.ravel()]
        return values[0] if len(values) == 1 else values
    if task == "multi_label":
        return [name for name, value in zip(names, label.ravel()) if value >= 0.5]
    return names[int(label.argmax()) if label.ndim else int(label)]


def _classification(label, probabilities, names):
    label = np.asarray(label, dtype=np.float64)
    target = np.eye(len(probabilities))[int(label)] if label.ndim == 0 else label
    predicted = int(probabilities.argmax())
    loss = -float(np.sum(target * np.log(np.clip(probabilities, _EPSILON, 1.0))))
    true = names[int(target.argmax())]
    return true, names[predicted], float(probabilities[predicted]), loss


def _multi_label(label, probabilities, names):
    label, p = np.asarray(label, dtype=np.float64), np.clip(probabilities, _EPSILON, 1 - _EPSILON)
    loss = -float(np.mean(label * np.log(p) + (1 - label) * np.log(1 - p)))
    predicted = [name for name, value in zip(names, probabilities) if value >= 0.5]
    true = label_text(label, names, "multi_label")
    confidence = np.where(probabilities >= 0.5, probabilities, 1 - probabilities)  # of each decision
    return true, predicted, float(np.mean(confidence)), loss


def _regression(label, outputs, names):
    label = np.asarray(label, dtype=np.float64).reshape(outputs.shape)
    loss = float(np.mean((label - outputs) ** 2))
    return label_text(label, names, "regression"), label_text(outputs, names, "regression"), None, loss


def _tagged(tag_ids, probabilities, names, decoding):
    tag_ids = np.asarray(tag_ids, dtype=int)
    rows = np.arange(len(tag_ids))
    loss = -float(np.mean(np.log(np.clip(probabilities[rows, tag_ids], _EPSILON, 1.0))))
    predicted = decode_tags(probabilities, names, decoding)
    chosen = probabilities[rows, [names.index(tag) for tag in predicted]]
    return [names[t] for t in tag_ids], predicted, float(np.mean(chosen)), loss


def example_rows(examples, decoding="constrained"):
    """Score each example of ``examples`` (from `predict_examples`).

    Returns:
        One dict per example: ``"index"`` (position in the dataset), ``"input"`` (image array,
        text or words), ``"true"`` and ``"predicted"`` (a class name; label names for
        multi-label; values for regression; one tag per word for tagged sentences),
        ``"probability"`` (of the predicted class; for tagged sentences the mean over words of
        each predicted tag's probability; None for regression), ``"loss"`` and ``"correct"``.

    Example:
    >>> import numpy as np
    >>> from tl_suite.inspection.examples import Examples
    >>> examples = Examples("text", "classification", ["good", "bad"], [1, 1], ["neg", "pos"],
    ...                     [np.array([0.2, 0.8]), np.array([0.9, 0.1])])
    >>> [(row["predicted"], row["correct"], round(row["loss"], 3)) for row in example_rows(examples)]
    [('pos', True, 0.223), ('neg', False, 2.303)]
    """
    score = {"classification": _classification, "multi_label": _multi_label,
             "regression": _regression}.get(examples.task)
    rows = []
    for index, (item, label, outputs) in enumerate(
            zip(examples.inputs, examples.labels, examples.probabilities)):
        if examples.task == "token_classification":
            true, predicted, probability, loss = _tagged(label, outputs, examples.label_names, decoding)
        else:
            true, predicted, probability, loss = score(label, outputs, examples.label_names)
        correct = true == predicted if examples.task != "regression" else None
        rows.append({"index": index, "input": item, "true": true, "predicted": predicted,
                     "probability": probability, "loss": loss, "correct": correct})
    return rows
