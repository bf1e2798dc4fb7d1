"""The most confident mistakes of an evaluation, kept with their raw inputs.

`evaluate` runs the model once over the dataset. While it does, `Mistakes.observe` sees each
batch's raw inputs, labels and outputs and keeps the ``limit`` worst mistakes (so a test set
of any size costs ``limit`` examples of memory, and a reshuffling dataset is no problem).
When `evaluate` reuses the features `fit` cached for a validation set, it never sees the raw
inputs; `Mistakes.gather` then picks the mistakes from the predictions and reads their inputs
in a second pass over the dataset, checking that its labels come in the same order.

A mistake's score orders them: the confidence of the wrong class (classification), the
largest gap between a probability and its label (multi-label), the number of mis-tagged
words (token classification).
"""

import dataclasses
import heapq
import itertools
import warnings

import numpy as np
import tensorflow as tf

from tl_suite.models.decoding import decode_tags

_TASKS = ("classification", "multi_label", "token_classification")


@dataclasses.dataclass
class Mistake:
    """One wrong prediction: its ``index`` in the evaluation order, raw ``inputs``, ``score``
    and ``true`` / ``predicted`` (class index, label indices or tag names) with
    ``probabilities`` (the model's outputs for the example; None for tags)."""

    index: int
    inputs: object
    score: float
    true: object
    predicted: object
    probabilities: object = None


def _as_array(labels):
    if isinstance(labels, tf.RaggedTensor):
        return labels.to_tensor(-1).numpy()
    return np.asarray(labels)


def _row(inputs, index):
    """Example ``index`` of a batch of raw inputs (tensors, ragged tensors or a structure)."""
    return tf.nest.map_structure(lambda tensor: np.asarray(tensor[index]), inputs)


class Mistakes:
    """Keeps the ``limit`` worst mistakes of an evaluation of a ``task`` model with label
    ``names`` (multi-label outputs at ``threshold``, tags decoded as ``decoding`` says).

    Example:
    >>> import numpy as np
    >>> mistakes = Mistakes("classification", ["cat", "dog"], limit=1)
    >>> mistakes.observe(np.array(["a", "b", "c"]), np.array([0, 1, 0]),
    ...                  np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]]))
    >>> [(m.index, str(m.inputs), int(m.true), int(m.predicted)) for m in mistakes.worst()]
    [(1, 'b', 1, 0)]
    """

    def __init__(self, task, names, threshold=0.5, decoding="constrained", limit=20):
        self.task, self.names, self.threshold, self.decoding = task, list(names), threshold, decoding
        self.limit, self.observed, self._heap, self._count = limit, 0, [], itertools.count()

    @property
    def applies(self):
        """Whether the task has mistakes to show (regression has none)."""
        return self.task in _TASKS

    def _scores(self, labels, outputs):
        """``(scores, true, predicted)`` of a batch; ``-inf`` where the prediction is right."""
        labels, outputs = _as_array(labels), np.asarray(outputs)
        if self.task == "classification":
            true = (labels.argmax(axis=1) if labels.ndim == 2 else labels.reshape(-1)).astype(int)
            predicted = outputs.argmax(axis=1)
            confidence = outputs[np.arange(len(predicted)), predicted]
            return np.where(predicted != true, confidence, -np.inf), true, predicted
        if self.task == "multi_label":
            true = labels.astype(int)
            predicted = (outputs >= self.threshold).astype(int)
            gap = np.abs(outputs - true).max(axis=1)
            wrong = (predicted != true).any(axis=1)
            return (np.where(wrong, gap, -np.inf), [np.flatnonzero(row) for row in true],
                    [np.flatnonzero(row) for row in predicted])
        true, predicted = [], []
        for row_labels, row_outputs in zip(labels.astype(int), outputs):
            words = row_labels >= 0  # a word's first piece; -1 elsewhere
            true.append([self.names[t] for t in row_labels[words]])
            predicted.append(decode_tags(row_outputs[words], self.names, self.decoding))
        wrong = np.array([sum(a != b for a, b in zip(t, p)) for t, p in zip(true, predicted)])
        return np.where(wrong > 0, wrong.astype(float), -np.inf), true, predicted

    def _keep(self, score, index, read_inputs, true, predicted, probabilities):
        # Ties go to the earlier example; the heap's smallest item is the first to drop.
        item = (score, -index, next(self._count))
        if len(self._heap) >= self.limit and item <= self._heap[0][:3]:
            return
        mistake = Mistake(index, read_inputs(), float(score), true, predicted, probabilities)
        entry = (*item, mistake)
        if len(self._heap) < self.limit:
            heapq.heappush(self._heap, entry)
        else:
            heapq.heapreplace(self._heap, entry)

    def observe(self, inputs, labels, outputs):
        """Look at one batch: raw ``inputs``, ``labels`` (as the model's preprocessor gives
        them) and the model's ``outputs``."""
        if not self.applies:
            return
        scores, true, predicted = self._scores(labels, outputs)
        for row in np.flatnonzero(np.isfinite(scores)):
            probabilities = None if self.task == "token_classification" else np.asarray(outputs[row])
            self._keep(scores[row], self.observed + int(row), lambda row=row: _row(inputs, row),
                       true[row], predicted[row], probabilities)
        self.observed += len(scores)

    def worst(self):
        """The kept mistakes, worst first."""
        return [entry[-1] for entry in sorted(self._heap, key=lambda entry: entry[:3], reverse=True)]

    def gather(self, dataset, y_true, y_pred):
        """Pick the worst mistakes from ``y_true`` / ``y_pred`` (a whole evaluation, in
        ``dataset``'s order) and read their raw inputs from a pass over ``dataset``. Returns
        False (keeping nothing) when ``dataset``'s labels come in another order this time."""
        if not self.applies:
            return True
        scores, true, predicted = self._scores(y_true, y_pred)
        order = sorted(np.flatnonzero(np.isfinite(scores)), key=lambda i: (-scores[i], i))
        wanted, offset = set(int(i) for i in order[:self.limit]), 0
        for batch in dataset:
            inputs, labels = batch[0], batch[1]
            size = len(_as_array(labels))
            if not self._aligned(labels, y_true[offset:offset + size]):
                warnings.warn(
                    "The evaluated dataset yields its examples in another order on a second pass "
                    "(it reshuffles), so its mistakes cannot be shown with their inputs. Evaluate "
                    "a dataset made with shuffle=False to see them.", stacklevel=4)
                self._heap = []
                return False
            for index in sorted(wanted & set(range(offset, offset + size))):
                probabilities = None if self.task == "token_classification" else y_pred[index]
                self._keep(scores[index], index, lambda: _row(inputs, index - offset),
                           true[index], predicted[index], probabilities)
            offset += size
            if offset > max(wanted, default=-1):
                break
        return True

    def _aligned(self, raw_labels, labels):
        """Whether a batch of raw labels is the same examples as ``labels`` (the evaluation's,
        as the preprocessor made them: per word piece for taggers, -1 between words)."""
        raw, labels = _as_array(raw_labels), _as_array(labels)
        if len(raw) != len(labels):
            return False
        if self.task == "token_classification":
            for raw_row, row in zip(raw.astype(int), labels.astype(int)):
                words = row[row >= 0]
                if not np.array_equal(raw_row[raw_row >= 0][:len(words)], words):
                    return False
            return True
        if self.task == "classification":
            raw = raw.argmax(axis=1) if raw.ndim == 2 else raw.reshape(-1)
            labels = labels.argmax(axis=1) if labels.ndim == 2 else labels.reshape(-1)
        return np.array_equal(raw.astype(int), labels.astype(int))
