"""Training the head of a frozen tl_suite model on cached features (the fast path of `fit`).

The frozen part (preprocessor, backbone, pooling) runs once per split; the head, shared with
the model, then trains alone on the cached features, so the model is trained end to end as
usual. Checkpoints save the whole model, not just the head.
"""

import time

import keras
import numpy as np

from tl_suite.data.info import dataset_info
from tl_suite.models.compiling import compile_arguments, strategy_scope
from tl_suite.training.batch_norm_folding import fold_batch_norm
from tl_suite.training.feature_cache import FeatureCache, remember

_MAXIMIZED = ("acc", "auc", "f1", "precision", "recall", "r2")


class FullModelCheckpoint(keras.callbacks.Callback):
    """Best-model checkpoint of the whole model while only its head is fit on features.

    Head epochs take milliseconds and saving the whole model takes about half a second, so the
    best head weights are kept in memory at each improvement and the whole model is written
    when training ends and at most every ``min_interval`` seconds in between (an interrupted fit
    resumes from its backup, not from this file).

    Args:
        full_model: The model to save (the callback watches a model of its head's layers).
        filepath: Where to save it (``.keras``).
        monitor: Quantity to watch; higher is better for accuracy/AUC/F1/precision/recall/R²
            and lower for anything else (losses, errors).
        min_interval: Least seconds between two writes during training.
    """

    def __init__(self, full_model, filepath, monitor, min_interval=60.0):
        super().__init__()
        self.full_model, self.filepath, self.monitor = full_model, filepath, monitor
        self.min_interval = min_interval
        maximize = any(key in monitor for key in _MAXIMIZED)
        self.better = (lambda new, old: new > old) if maximize else (lambda new, old: new < old)
        self.best, self.best_weights, self.unsaved = None, None, False
        self.last_write = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        if self.best is None or self.better(float(value), self.best):
            self.best, self.unsaved = float(value), True
            self.best_weights = [np.array(w) for w in self.model.get_weights()]
        if self.unsaved and time.monotonic() - self.last_write >= self.min_interval:
            self._write()

    def on_train_end(self, logs=None):
        if self.unsaved:
            self._write()

    def _write(self):
        current = self.model.get_weights()
        self.model.set_weights(self.best_weights)
        try:
            self.full_model.save(self.filepath)
        finally:
            self.model.set_weights(current)
        self.unsaved, self.last_write = False, time.monotonic()


def head_trainer(model, steps_per_execution=None):
    """A compiled `keras.Model` of ``model.head``'s layers (weights shared) that trains on
    features, with the model's optimizer (shared, so its state carries over to later fits),
    loss and metrics.

    A separate model rather than ``model.head`` compiled itself: a compiled nested head would
    carry the shared optimizer into ``model.save``, and the saved model would lose its state.
    """
    head = model.head
    distributed = model.distribute_strategy.num_replicas_in_sync > 1
    with strategy_scope(model):  # the trainer, its metrics and the optimizer share one strategy
        trainer = keras.Model(head.inputs, head.outputs, name="head_on_features")
        trainer.compile(
            optimizer=model.optimizer,
            # Head steps take about a millisecond: run several per call to cut Python overhead
            # (the same updates; per-batch callbacks then see every 16th batch). Keras' multi-step
            # loop fails on the last partial step under a distribution strategy: one step there.
            steps_per_execution=steps_per_execution or (1 if distributed else 16),
            **compile_arguments(model),
        )
    return trainer


def _whole_model_checkpoints(model, callbacks):
    return [FullModelCheckpoint(model, c.filepath, monitor=c.monitor)
            if isinstance(c, keras.callbacks.ModelCheckpoint) else c for c in callbacks]


def _training_views(train, feature_views):
    info = dataset_info(train)
    return feature_views if info is not None and info.augmented else 1


def fit_head_on_cached_features(model, train, validation=None, epochs=10, callbacks=(),
                                feature_views=4, memory_budget=2**30, seed=None, verbose="auto",
                                initial_epoch=0):
    """Train the head of frozen tl_suite ``model`` on cached features of ``train`` (and
    ``validation``); arguments as in `fit`. Returns the `keras.callbacks.History`.

    ``feature_views`` augmented views are cached when the training dataset's `DatasetInfo`
    says it is augmented, one otherwise. A validation cache kept in memory is remembered for
    `evaluate` on the same dataset (while the base is unchanged); disk caches are removed.

    Example:
    >>> import numpy as np, tl_suite
    >>> train = tl_suite.image_dataset(images=np.zeros((8, 32, 32), "uint8"),
    ...                                labels=np.arange(8) % 2, verbose=False)
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> fit_head_on_cached_features(model, train, epochs=2, verbose=0).epoch
    [0, 1]
    """
    show = verbose != 0
    extractor = fold_batch_norm(model.features_model())  # built once, used for every split
    caches = []

    def cache(dataset, views, description):
        caches.append(FeatureCache.from_dataset(
            model, dataset, views=views, memory_budget=memory_budget, description=description,
            verbose=show, extractor=extractor,
        ))
        if show:
            print(caches[-1].describe(description))
        return caches[-1]

    try:
        train_cache = cache(train, _training_views(train, feature_views), "training")
        validation_cache = None if validation is None else cache(validation, 1, "validation")
        history = head_trainer(model).fit(
            train_cache.dataset(seed=seed), epochs=epochs, initial_epoch=initial_epoch,
            validation_data=None if validation_cache is None else validation_cache.dataset(shuffle=False),
            callbacks=_whole_model_checkpoints(model, callbacks), verbose=verbose, shuffle=False,
        )
        if validation_cache is not None and validation_cache.storage == "memory":
            remember(model, validation, caches.pop())  # `evaluate(model, validation)` reuses it
        return history
    finally:
        for each in caches:
            each.close()
