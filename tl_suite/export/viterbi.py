"""Constrained tag decoding (`tl_suite.models.decoding`) as TensorFlow ops, for a batch.

The same Viterbi as `decode_constrained`: the most likely tag sequence the scheme's masks
allow, scored by the sum of the words' log-probabilities in float64; a sentence no allowed
sequence fits decodes by argmax.
"""

import numpy as np
import tensorflow as tf

from tl_suite.models.decoding import build_transition_masks


def _forward(scores, lengths, start, penalty):
    """Best scores ``(B, K)`` after each sentence's last word, and the back pointers
    ``(T - 1, B, K)`` (the identity past a sentence's end, so backtracking keeps its last tag)."""
    tags = tf.shape(scores)[-1]
    first = tf.where(start, scores[:, 0], -np.inf)
    steps = tf.transpose(scores[:, 1:], [1, 0, 2])
    active = tf.range(1, tf.shape(scores)[1])[:, tf.newaxis] < lengths[tf.newaxis]
    identity = tf.broadcast_to(tf.range(tags, dtype=tf.int64)[tf.newaxis], tf.shape(first))

    def step(state, inputs):
        best, _ = state
        step_scores, step_active = inputs
        candidates = best[:, :, tf.newaxis] + penalty  # (batch, previous, next)
        back = tf.where(step_active[:, tf.newaxis], tf.argmax(candidates, axis=1), identity)
        new_best = tf.reduce_max(candidates, axis=1) + step_scores
        return tf.where(step_active[:, tf.newaxis], new_best, best), back

    best, backs = tf.scan(step, (steps, active), initializer=(first, identity))
    best = tf.concat([first[tf.newaxis], best], axis=0)[-1]
    return best, backs


def viterbi_decode(probabilities, lengths, tags):
    """Tag indices ``(B, T)`` of each sentence's most likely allowed tag sequence.

    Args:
        probabilities: Per-word tag probabilities ``(B, T, K)`` (rows past a sentence's
            length are ignored).
        lengths: Words per sentence ``(B,)``.
        tags: The tag names (their scheme gives the allowed sequences, see
            `build_transition_masks`).

    Example:
    >>> probabilities = tf.constant([[[0.6, 0.3, 0.1], [0.1, 0.4, 0.5]]])  # argmax: O I-per
    >>> viterbi_decode(probabilities, tf.constant([2]), ["O", "B-per", "I-per"]).numpy().tolist()
    [[0, 1]]
    """
    start, transitions, end = (tf.constant(mask) for mask in build_transition_masks(list(tags)))
    # One padding word keeps every step defined for empty batches and empty sentences.
    probabilities = tf.pad(probabilities, [[0, 0], [0, 1], [0, 0]], constant_values=1.0)
    scores = tf.math.log(tf.maximum(tf.cast(probabilities, tf.float64), 1e-12))
    lengths = tf.cast(lengths, tf.int32)
    penalty = tf.where(transitions, tf.constant(0.0, tf.float64), -np.inf)
    best, backs = _forward(scores, lengths, start, penalty)
    best = tf.where(end, best, -np.inf)
    last = tf.argmax(best, axis=-1)
    earlier = tf.scan(lambda tag, back: tf.gather(back, tag, batch_dims=1), backs,
                      initializer=last, reverse=True)
    path = tf.transpose(tf.concat([earlier, last[tf.newaxis]], axis=0))
    allowed = tf.math.is_finite(tf.reduce_max(best, axis=-1))
    path = tf.where(allowed[:, tf.newaxis], path, tf.argmax(scores, axis=-1))
    return path[:, :-1]
