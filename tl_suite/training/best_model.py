"""`BestModel`: the best epoch so far — kept in memory, written to ``best.keras`` atomically,
restored at the end, and early stopping — in one callback whose state survives a resume."""

import math
import os
import time

import keras
import numpy as np

from tl_suite.training.safe_files import check_free_space, weights_nbytes, write_atomically

_MAXIMIZED = ("acc", "auc", "f1", "precision", "recall", "r2")


def maximizes(monitor):
    """True when higher values of ``monitor`` are better (accuracy, AUC, F1, R², ...)."""
    return any(key in monitor for key in _MAXIMIZED)


def all_finite(weights):
    """True when every array in ``weights`` is finite."""
    return all(np.isfinite(w).all() for w in weights if np.issubdtype(np.asarray(w).dtype, np.floating))


def save_model(model, path):
    """``model.save(path)`` atomically, after checking there is room: a failed save leaves
    the previous file intact and raises `DiskFullError` when the disk is full."""
    folder = os.path.dirname(os.path.abspath(path))
    check_free_space(folder, weights_nbytes(model), f"saving {path}")
    write_atomically(path, model.save, suffix=".keras")


class BestModel(keras.callbacks.Callback):
    """Tracks the best epoch by ``monitor``; writes it to ``filepath``; stops early.

    The best weights (of the model being fit — the whole model, or the head trainer on the
    cached path) are kept in memory at each improvement. ``full_model`` (default: the model
    being fit) is written to ``filepath`` atomically at an improvement when at least
    ``min_interval`` seconds passed since the last write, and when training ends or is
    interrupted (`flush`). Non-finite values never count as an improvement, and weights that
    are not finite are never written.

    Args:
        monitor: Quantity to watch (lower is better unless it is an accuracy, AUC, F1,
            precision, recall or R²).
        filepath: Where to write the best model (``.keras``); None writes nothing.
        full_model: The model to write (the callback may watch a model of its head's layers).
        patience: Stop after this many epochs without improvement (None: never).
        restore_best: At the end, set the best weights back (only with ``patience``).
        min_interval: Least seconds between two writes during training.
        best: The best value of an earlier stage (improvements must beat it).

    Example:
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> best = BestModel("val_loss", patience=2)
    >>> best.set_model(model)
    >>> for epoch, value in enumerate([0.5, 0.4, float("nan"), 0.45]):
    ...     best.on_epoch_end(epoch, {"val_loss": value})
    >>> best.best, best.best_epoch, model.stop_training
    (0.4, 1, True)
    """

    def __init__(self, monitor, filepath=None, full_model=None, patience=None, restore_best=True,
                 min_interval=0.0, best=None):
        super().__init__()
        self.monitor, self.filepath, self.full_model = monitor, filepath, full_model
        self.patience, self.restore_best, self.min_interval = patience, restore_best, min_interval
        self.maximize = maximizes(monitor)
        self.best, self.best_epoch, self.best_weights, self.wait = best, None, None, 0
        # The first improvement is written at once (a crash in the first minute leaves a file).
        self.unsaved, self.last_write, self.stopped_epoch = False, -math.inf, None

    def improves(self, value):
        if value is None or not math.isfinite(value):
            return False
        if self.best is None:
            return True
        return value > self.best if self.maximize else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        value = None if value is None else float(value)
        if self.improves(value):
            weights = [np.array(w) for w in self.model.get_weights()]
            if all_finite(weights):
                self.best, self.best_epoch, self.best_weights = value, epoch, weights
                self.wait, self.unsaved = 0, True
        elif value is not None:
            self.wait += 1
        if self.unsaved and time.monotonic() - self.last_write >= self.min_interval:
            self.write()
        if self.patience is not None and self.wait >= self.patience:
            self.stopped_epoch, self.model.stop_training = epoch, True

    def on_train_end(self, logs=None):
        self.flush()
        if self.patience is not None and self.restore_best and self.best_weights is not None:
            self.model.set_weights(self.best_weights)

    def flush(self):
        """Write the best model if it changed since the last write."""
        if self.unsaved:
            self.write()

    def write(self):
        if self.filepath is None or self.best_weights is None:
            self.unsaved = False
            return
        current = self.model.get_weights()
        self.model.set_weights(self.best_weights)
        try:
            save_model(self.full_model or self.model, self.filepath)
        finally:
            self.model.set_weights(current)
        self.unsaved, self.last_write = False, time.monotonic()

    def get_state(self):
        """What a backup keeps (the best weights are saved beside it)."""
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def set_state(self, state, best_weights=None):
        """Continue from a backup's state (and best weights, when the backup has them)."""
        self.best, self.best_epoch = state.get("best"), state.get("best_epoch")
        self.wait = state.get("wait", 0)
        if best_weights is not None:  # written when training ends (even with no epoch left)
            self.best_weights, self.unsaved = best_weights, True
