"""Which branches a wide-and-deep text head reads, chosen on validation data.

A text model with a wide branch (``wide_tokens``) feeds its head the encoder's pooled features
and the text's TF-IDF vector. On most corpora the two together beat either alone; on some (long
reviews whose first 128 tokens say little: the frozen encoder alone is near chance there) the
encoder's columns only add noise, and the TF-IDF columns alone generalise better. Both heads
train in seconds on cached features, so `fit` trains each on the training cache, compares their
best validation loss and keeps the better branches (the head's `BranchGate`); the run then
trains the chosen head as usual.
"""

import keras
import numpy as np
import tensorflow as tf

from tl_suite.models.compiling import compile_arguments
from tl_suite.training.feature_cache import EpochCounter

CANDIDATES = (("encoder+tf_idf", 1.0), ("tf_idf", 0.0))
PROBE_EPOCHS = 10  # enough to rank the two heads; the run then trains the chosen one fully


def branch_gate(model):
    """The `BranchGate` of tl_suite ``model``'s head, or None (no wide branch)."""
    head = getattr(model, "head", None)
    try:
        return head.get_layer("branch_gate")
    except (AttributeError, ValueError):
        return None


def _candidate(model, gate_value):
    """A copy of ``model.head`` (same starting weights) with its gate set, compiled with a fresh
    optimizer of the model's kind and the model's loss."""
    head = model.head
    candidate = keras.models.clone_model(head)
    candidate.set_weights(head.get_weights())
    candidate.get_layer("branch_gate").set_gate(gate_value)
    optimizer = model.optimizer.__class__.from_config(model.optimizer.get_config())
    candidate.compile(optimizer=optimizer, loss=compile_arguments(model)["loss"],
                      steps_per_execution=16)
    return candidate


def _best_validation_loss(candidate, train_cache, validation_cache, seed, epochs, patience):
    epoch = tf.Variable(0, dtype="int64", trainable=False)
    stop = keras.callbacks.EarlyStopping("val_loss", patience=patience)
    history = candidate.fit(
        train_cache.dataset(seed=seed, epoch=epoch), epochs=epochs, verbose=0, shuffle=False,
        validation_data=validation_cache.dataset(shuffle=False),
        callbacks=[EpochCounter(epoch), stop],
    )
    losses = [value for value in history.history["val_loss"] if np.isfinite(value)]
    return min(losses) if losses else float("inf")


def choose_branches(model, train_cache, validation_cache, seed=None, epochs=10, patience=3,
                    verbose=True):
    """Train a head on both branches and one on the TF-IDF branch alone (each a copy of
    ``model.head`` from its current weights, on the cached features, early stopping on the
    validation loss; at most ``epochs`` and `PROBE_EPOCHS` epochs), set ``model``'s
    `BranchGate` to the one with the lower best validation loss and return ``{"chosen": name, "validation_loss": {name: loss}}``.

    Returns None (nothing changed) for a model without a wide branch. The model's own head
    weights are left as they were: the run trains the chosen head next.
    """
    gate = branch_gate(model)
    if gate is None:
        return None
    losses = {}
    for name, value in CANDIDATES:
        candidate = _candidate(model, value)
        losses[name] = _best_validation_loss(candidate, train_cache, validation_cache, seed,
                                             min(epochs, PROBE_EPOCHS), patience)
    chosen = min(CANDIDATES, key=lambda item: losses[item[0]])  # a tie keeps both branches
    gate.set_gate(chosen[1])
    if verbose:
        print(f"Head branches: {chosen[0]} (best validation loss "
              + ", ".join(f"{name} {loss:.4f}" for name, loss in losses.items()) + ").")
    return {"chosen": chosen[0], "validation_loss": losses}
