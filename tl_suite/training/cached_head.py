"""Training the head of a frozen tl_suite model on cached features (the fast path of `fit`).

The frozen part (preprocessor, backbone, pooling) runs once per split; the head, shared with
the model, then trains alone on the cached features, so the model is trained end to end as
usual. The callbacks watch a model of the head's layers (the "head trainer"); `fit`'s best-model
callback saves the whole model, not just the head.
"""

import keras
import tensorflow as tf

from tl_suite.data.info import dataset_info
from tl_suite.models.compiling import compile_arguments, strategy_scope
from tl_suite.models.multi_worker import HeadTrainer
from tl_suite.models.word_ratios import ratios_from_cache
from tl_suite.progress import keras_progress
from tl_suite.training.batch_norm_folding import fold_batch_norm
from tl_suite.training.branch_choice import choose_branches as choose
from tl_suite.training.feature_cache import EpochCounter, FeatureCache, remember


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
        trainer = HeadTrainer(head.inputs, head.outputs, name="head_on_features")
        trainer.compile(
            optimizer=model.optimizer,
            # Head steps take about a millisecond: run several per call to cut Python overhead
            # (the same updates; per-batch callbacks then see every 16th batch). Keras' multi-step
            # loop fails on the last partial step under a distribution strategy: one step there.
            steps_per_execution=steps_per_execution or (1 if distributed else 16),
            **compile_arguments(model),
        )
    return trainer


def _training_views(train, feature_views):
    info = dataset_info(train)
    return feature_views if info is not None and info.augmented else 1


def fit_head_on_cached_features(model, train, validation=None, epochs=10, callbacks=(),
                                feature_views=4, memory_budget=2**30, seed=None, verbose="auto",
                                initial_epoch=0, choose_branches=False):
    """Train the head of frozen tl_suite ``model`` on cached features of ``train`` (and
    ``validation``); arguments as in `fit`. Returns the `keras.callbacks.History`.

    ``feature_views`` augmented views are cached when the training dataset's `DatasetInfo`
    says it is augmented, one otherwise. The order of the batches of each epoch (and the view
    drawn per example) depends only on ``seed`` and the epoch. A validation cache kept in memory is remembered for
    `evaluate` on the same dataset (while the base is unchanged); disk caches are removed.

    With ``choose_branches`` and validation data, a text model with a wide branch first picks
    the branches its head reads (`choose_branches`); ``history.branch_choice`` says which.

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
        ratios_from_cache(model, train_cache)  # a wide head's naive-Bayes ratios, once
        choice = None
        if choose_branches and validation_cache is not None:
            choice = choose(model, train_cache, validation_cache, seed=seed, epochs=epochs,
                            verbose=show)
        epoch = tf.Variable(initial_epoch, dtype="int64", trainable=False)
        # Keras' bar counts steps in executions of 16: `keras_progress` adds one that does not
        # overshoot the epoch ("16/1"), or one bar over the epochs in notebooks.
        keras_verbose, progress_callbacks = keras_progress(verbose)
        history = head_trainer(model).fit(
            train_cache.dataset(seed=seed, epoch=epoch), epochs=epochs, initial_epoch=initial_epoch,
            validation_data=None if validation_cache is None else validation_cache.dataset(shuffle=False),
            callbacks=[EpochCounter(epoch), *callbacks, *progress_callbacks], verbose=keras_verbose,
            shuffle=False,
        )
        if validation_cache is not None and validation_cache.storage == "memory":
            remember(model, validation, caches.pop())  # `evaluate(model, validation)` reuses it
        history.branch_choice = choice
        return history
    finally:
        for each in caches:
            each.close()
