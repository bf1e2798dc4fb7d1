"""The HParams tab: each `fit` / `fine_tune` run's hyperparameters and best-epoch metrics.

Each run folder (``log_dir/run-NNN``) is one HParams session (its trial id is the run's name)
holding the run's hyperparameters and, as scalars at the run's last epoch, the logs of its
best epoch by ``monitor`` (``best/val_loss``, ``best/val_accuracy``, ``best/loss``, ...) and
``best/epoch``.

No experiment configuration (``hparams_config``) is written: TensorBoard keeps the first one
it finds in a log folder, so it could not follow the runs added later. Without one,
TensorBoard reads the configuration from the sessions themselves: every hyperparameter with
its type (the values of text ones to tick), those whose values differ between runs first,
and as metrics every scalar of the run folders, ``best/*`` first (the five columns shown
before any is ticked).
"""

import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from tl_suite.data.info import dataset_info
from tl_suite.training.best_model import maximizes
from tl_suite.training.dashboards.writers import summary_writer

_RECIPE = ("frozen_epochs", "base_learning_rate", "learning_rate", "layer_decay", "schedule", "gradual")


def _plain(value):
    """``value`` as a bool, int, float or str (what an HParams value can be)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return "x".join(str(part) for part in value) if value else "none"
    return str(value)


def _learning_rate(optimizer):
    """``{"learning_rate": float}`` or, for a schedule, ``{"learning_rate_schedule": name}``."""
    if optimizer is None:
        return {}
    rate = optimizer.get_config().get("learning_rate")
    if isinstance(rate, dict):
        return {"learning_rate_schedule": rate.get("class_name", "schedule")}
    return {"learning_rate": float(f"{float(rate):.6g}")} if rate is not None else {}


def _model_values(model):
    """What a tl_suite model says of itself (a plain `keras.Model` says less)."""
    preprocessor = getattr(model, "preprocessor", None)
    text = hasattr(preprocessor, "sequence_length")
    return {
        "backbone": getattr(model, "backbone_name", None) or model.name,
        "task": getattr(model, "task", None),
        "optimizer": type(model.optimizer).__name__ if model.optimizer is not None else None,
        **_learning_rate(model.optimizer),
        "dropout": getattr(model, "dropout", None),
        "hidden_units": getattr(model, "hidden_units", None),
        "pooling": getattr(model, "pooling", None),
        "image_size": getattr(preprocessor, "target_size", None),
        "sequence_length": getattr(preprocessor, "sequence_length", None),
        "max_windows": getattr(model, "max_windows", None) if text else None,
        "wide_tokens": getattr(model, "wide_tokens", None),
        "branches": getattr(model, "branches", None),
    }


def _data_values(train, validation, batch_size):
    info, validation_info = dataset_info(train), validation and dataset_info(validation)
    return {
        "batch_size": batch_size,
        "augmented": info.augmented if info else None,
        "train_examples": info.num_examples if info else None,
        "validation_examples": validation_info.num_examples if validation_info else None,
    }


def run_hyperparameters(model, train, validation, seed, options, batch_size=None, recipe=None):
    """The hyperparameters of one run: ``{name: bool | int | float | str}`` (None left out)
    from ``model``, the datasets' `DatasetInfo`, `fit`'s ``options`` and `fine_tune`'s
    ``recipe`` (whose ``learning_rate`` is the head's peak rate)."""
    cached = bool(options.get("cached"))
    values = {
        "trainer": "fine_tune" if recipe else "fit",
        **_model_values(model),
        **_data_values(train, validation, batch_size),
        "epochs": options.get("epochs"), "seed": seed,
        "cached_features": None if recipe else cached,  # fine_tune: stage 1 only
        "feature_views": options.get("feature_views") if cached else None,
        "monitor": options.get("monitor"),
        "early_stopping_patience": options.get("early_stopping_patience"),
    }
    if recipe:
        values.update({name: recipe[name] for name in _RECIPE if name in recipe})
        values["unfreeze_groups"] = recipe.get("unfreeze_groups") or "all"
        values["epochs"] = recipe["frozen_epochs"] + recipe["epochs"]  # both stages
    return {name: _plain(value) for name, value in values.items() if value is not None}


def best_epoch_logs(history, monitor):
    """``(epoch, {name: value})``: the logs of ``history``'s best epoch by ``monitor`` (its
    finite values only); ``(None, {})`` when there is none.

    Example:
    >>> import keras
    >>> history = keras.callbacks.History()
    >>> history.epoch, history.history = [0, 1, 2], {"val_loss": [0.9, 0.4, 0.5], "loss": [1.0, 0.6, 0.3]}
    >>> best_epoch_logs(history, "val_loss")
    (1, {'loss': 0.6, 'val_loss': 0.4})
    """
    logs = {name: values for name, values in history.history.items()
            if len(values) == len(history.epoch)}
    watched = logs.get(monitor, [])
    finite = [index for index, value in enumerate(watched) if np.isfinite(value)]
    if not finite:
        return None, {}
    pick = max if maximizes(monitor) else min
    index = pick(finite, key=lambda i: watched[i])
    row = {name: float(values[index]) for name, values in sorted(logs.items())}
    return history.epoch[index], {name: value for name, value in row.items() if np.isfinite(value)}


def log_hparams(run_directory, run_name, hyperparameters, history, monitor):
    """Write one run's HParams session into ``run_directory``: ``hyperparameters`` and the
    ``best/*`` scalars of ``history``'s best epoch by ``monitor``."""
    epoch, logs = best_epoch_logs(history, monitor)
    metrics = {f"best/{name}": value for name, value in logs.items()}
    if epoch is not None:
        metrics["best/epoch"] = epoch
    last_epoch = history.epoch[-1] if history.epoch else 0
    with summary_writer(run_directory):
        hp.hparams(hyperparameters, trial_id=run_name)
        for tag, value in metrics.items():  # at the last epoch: a resumed run's values win
            tf.summary.scalar(tag, value, step=last_epoch)
