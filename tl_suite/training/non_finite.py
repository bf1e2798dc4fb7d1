"""Guards against non-finite training: refuse NaN/inf learning rates, stop on a NaN/inf loss."""

import math

import keras
import numpy as np


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the model was set back to its last finite best."""


def check_learning_rate(model):
    """Raise a ValueError when ``model``'s optimizer has a NaN, infinite or negative learning
    rate (a schedule is read at its current step)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        return
    try:
        rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except (TypeError, ValueError):
        return
    if not math.isfinite(rate) or rate < 0:
        raise ValueError(
            "The optimizer's learning rate must be a finite number >= 0: with this one every "
            "weight update is NaN or infinite. Build or compile the model with a finite rate "
            f"(e.g. learning_rate=1e-3). Received: learning_rate={rate!r}."
        )


def _non_finite(logs):
    return {key: float(value) for key, value in (logs or {}).items()
            if np.ndim(value) == 0 and not math.isfinite(float(value))}


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training at the first batch or epoch whose loss or metrics are NaN/inf, and
    remembers where (``tripped``: ``(epoch, batch or None, {name: value})``).

    Put it first among the callbacks: the checkpoint and backup skip non-finite epochs, and
    `fit` then restores the last finite best weights and raises `NonFiniteLossError`.

    Example:
    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(1e30), "mse")
    >>> guard = StopOnNonFinite()
    >>> _ = model.fit(np.full((8, 1), 1e10), np.ones(8), epochs=5, callbacks=[guard], verbose=0)
    >>> epoch, batch, values = guard.tripped  # in the first epochs: the loss went to inf/NaN
    >>> epoch < 2, sorted(values), bool(model.stop_training)
    (True, ['loss'], True)
    """

    def __init__(self):
        super().__init__()
        self.tripped, self.epoch, self.start_weights = None, 0, None

    def on_train_begin(self, logs=None):
        self.tripped = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        if self.start_weights is None:  # the weights to fall back on when no epoch was finite
            self.start_weights = [np.array(w) for w in self.model.get_weights()]

    def on_train_batch_end(self, batch, logs=None):
        bad = _non_finite({k: v for k, v in (logs or {}).items() if "loss" in k})
        if bad and self.tripped is None:
            self.tripped, self.model.stop_training = (self.epoch, batch, bad), True

    def on_epoch_end(self, epoch, logs=None):
        bad = _non_finite(logs)
        if bad and self.tripped is None:
            self.tripped, self.model.stop_training = (epoch, None, bad), True


def _reset_non_finite_optimizer_state(model):
    optimizer = getattr(model, "optimizer", None)
    for variable in (optimizer.variables if optimizer is not None and optimizer.built else []):
        value = np.asarray(variable)
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            variable.assign(np.zeros_like(value))


def recover(guard, best_model, trained, learning_rate=None):
    """After a run ``guard`` stopped: set ``trained`` (the model that was fit) back to the
    best finite weights (or its weights before the run), clear non-finite optimizer state,
    and raise `NonFiniteLossError` saying where it happened and what to try."""
    epoch, batch, bad = guard.tripped
    if best_model is not None and best_model.best_weights is not None:
        trained.set_weights(best_model.best_weights)
        kept = (f"the best weights, epoch {best_model.best_epoch + 1} "
                f"({best_model.monitor}={best_model.best:.4g})")
    else:
        trained.set_weights(guard.start_weights)
        kept = "its weights from before this run"
    _reset_non_finite_optimizer_state(trained)
    where = f"epoch {epoch + 1}" + (f", batch {batch + 1}" if batch is not None else "")
    values = ", ".join(f"{name}={value}" for name, value in bad.items())
    rate = f" (learning rate {learning_rate:g})" if learning_rate is not None else ""
    raise NonFiniteLossError(
        f"Training stopped at {where}: {values}. The model holds {kept}; nothing non-finite "
        f"was saved as best or backed up. Usual causes: a learning rate too high{rate} - "
        "lower it, or clip gradients (e.g. keras.optimizers.Adam(1e-4, clipnorm=1.0)); NaN or "
        "infinite inputs or targets in a dataset not made by tl_suite's readers (they refuse "
        "them); a loss that does not fit the labels."
    )
