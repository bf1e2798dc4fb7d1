"""Integrated gradients (Sundararajan et al., 2017): how much each input value moved a score
from a baseline to the input.

Along the straight path from the baselines to the inputs, the gradients of the score are
averaged (midpoint rule over ``steps`` points) and multiplied by ``input - baseline``. The
attributions then add up to ``score(input) - score(baseline)`` (completeness): the gap left is
reported as ``delta`` and shrinks with more steps.
"""

import numpy as np
import tensorflow as tf

from tl_suite.validation import check_integer


def _path(inputs, baselines, alphas):
    """The points ``baseline + alpha * (input - baseline)`` of each input, batched on axis 0."""
    return [tf.constant(b + alphas.reshape((-1,) + (1,) * x.ndim) * (x - b), tf.float32)
            for x, b in zip(inputs, baselines)]


def integrated_gradients(score, inputs, baselines, steps=50, batch_size=25):
    """Attribute ``score`` to each value of ``inputs``.

    Args:
        score: ``score(points) -> (n,)`` scores, where ``points`` is a list of tensors with a
            leading batch axis of ``n`` (one entry per input: ``n`` points on its path).
        inputs, baselines: Lists of arrays of the same shapes (one example, no batch axis).
        steps: Points on the path (more: a smaller ``delta``).
        batch_size: Points per forward and backward pass (memory).

    Returns:
        ``(attributions, scores)``: one array per input, shaped like it; and a dict with
        ``"score"`` (at the input), ``"baseline_score"`` and ``"delta"`` (sum of all
        attributions minus the score difference).

    Example:
    >>> import numpy as np
    >>> square = lambda points: tf.reduce_sum(points[0] ** 2, axis=1)
    >>> attributions, scores = integrated_gradients(square, [np.array([1.0, 2.0])],
    ...                                             [np.zeros(2)], steps=8)
    >>> attributions[0].round(4).tolist(), round(scores["delta"], 6)
    ([1.0, 4.0], 0.0)
    """
    check_integer("steps", steps, 1)
    inputs = [np.asarray(x, dtype=np.float32) for x in inputs]
    baselines = [np.asarray(b, dtype=np.float32) for b in baselines]
    alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps
    totals = [np.zeros_like(x) for x in inputs]
    for start in range(0, steps, batch_size):
        points = _path(inputs, baselines, alphas[start:start + batch_size])
        with tf.GradientTape() as tape:
            tape.watch(points)
            values = score(points)
        for total, gradient in zip(totals, tape.gradient(values, points)):
            total += np.asarray(gradient).sum(axis=0)
    attributions = [(x - b) * total / steps for x, b, total in zip(inputs, baselines, totals)]
    ends = np.asarray(score(_path(inputs, baselines, np.array([1.0, 0.0], np.float32))))
    difference = float(ends[0] - ends[1])
    delta = float(sum(a.sum(dtype=np.float64) for a in attributions) - difference)
    return attributions, {"score": float(ends[0]), "baseline_score": float(ends[1]), "delta": delta}
