"""`fit`: training with TensorBoard, checkpoints, early stopping, resumable runs and OOM retries.

A frozen tl_suite model trains its head on cached features (`cached_head`); any other model
(unfrozen, or a plain `keras.Model`) trains through its own ``model.fit``.
"""

import os
import warnings

import keras
import tensorflow as tf

from tl_suite.data.info import dataset_info
from tl_suite.models.compiling import is_frozen, is_transfer_model
from tl_suite.training.cached_head import fit_head_on_cached_features
from tl_suite.training.feature_cache import forget


def check_tokenized(model, dataset, argument="dataset"):
    """Refuse a dataset tokenized (``tokenize=True``) for another backbone or sequence length
    than tl_suite ``model`` reads (or for a windowed text model, which tokenizes itself)."""
    info = dataset_info(dataset)
    if info is None or not info.tokenized or not is_transfer_model(model):
        return
    tokenized = info.tokenized
    if model.max_windows > 1:
        raise ValueError(
            f"`{argument}` holds token ids (text_dataset(tokenize=True)), but this model reads "
            f"each text as up to max_windows={model.max_windows} windows and tokenizes raw "
            "strings itself. Make the dataset without tokenize=True."
        )
    tokenizer = model.preprocessor.tokenizer
    length = model.preprocessor.sequence_length if tokenizer is not None else None
    if (tokenizer is None or int(tokenizer.vocabulary_size()) != tokenized["vocabulary_size"]
            or length != tokenized["sequence_length"]):
        model_says = ("takes no token ids" if tokenizer is None else
                      f"has a {int(tokenizer.vocabulary_size())}-token vocabulary and "
                      f"sequence_length={length}")
        raise ValueError(
            f"`{argument}` was tokenized for backbone={tokenized['backbone']!r} with "
            f"sequence_length={tokenized['sequence_length']} ({tokenized['vocabulary_size']}-token "
            f"vocabulary), but the model {model_says}. Make the dataset with the model's backbone "
            "and sequence_length, or without tokenize=True (the model then tokenizes raw strings)."
        )


def match_label_names(model, dataset, argument="dataset", adopt=False):
    """Check that the label names in ``dataset``'s info agree with tl_suite ``model``'s.

    With ``adopt``, a model without label names takes the dataset's. Raises ValueError when
    both have names and they differ (the labels would be read under the wrong names). Names
    that are only the label ids (``"0"``, ``"1"``, ... made for unnamed integer labels) name
    nothing and are ignored.
    """
    info = dataset_info(dataset)
    if info is None or info.class_names is None or not is_transfer_model(model):
        return
    names = [str(name) for name in info.class_names]
    if names == [str(index) for index in range(len(names))]:
        return
    if model.label_names is None and len(names) == model.num_outputs:
        if adopt:
            model.label_names = names
    elif model.label_names is None or list(model.label_names) != names:
        model_names = model.label_names and list(model.label_names)
        raise ValueError(
            f"The label names of `{argument}` do not match the model's {model.num_outputs} "
            "outputs: label i of the data would be read as output i of the model. Make the data "
            "with the model's names (same order) or build the model for the data. Received: "
            f"{argument} label names {names}, model.label_names={model_names}."
        )


def _warn_without_info(train):
    if dataset_info(train) is None:
        warnings.warn(
            "`train` carries no tl_suite dataset info (it was not made by image_dataset, "
            "text_dataset or token_dataset). `fit` assumes it is not augmented (1 cached feature "
            "view), shuffled (cached features are reshuffled every epoch) and without label "
            "names. Attach the info with `tl_suite.with_info(dataset, like=original_dataset)` "
            "or `tl_suite.with_info(dataset, kind=..., augmented=..., shuffled=..., "
            "class_names=...)`.",
            UserWarning, stacklevel=3,
        )


def _check_arguments(model, epochs, initial_epoch, monitor, validation, cache_features):
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"`epochs` must be a positive integer. Received: epochs={epochs!r}.")
    if not isinstance(initial_epoch, int) or not 0 <= initial_epoch < epochs:
        raise ValueError(
            "`initial_epoch` must be an integer in [0, epochs): `epochs` counts from the first "
            f"epoch of the run. Received: initial_epoch={initial_epoch!r}, epochs={epochs}."
        )
    if not model.compiled:
        raise ValueError(
            "`model` is not compiled. Build it with a tl_suite builder or call model.compile(). "
            f"Received: an uncompiled model {model.name!r}."
        )
    if monitor.startswith("val_") and validation is None:
        raise ValueError(
            f"monitor={monitor!r} needs `validation` data. Pass validation=... or monitor='loss'. "
            f"Received: monitor={monitor!r}, validation=None."
        )
    if cache_features not in ("auto", True, False):
        raise ValueError(
            f"`cache_features` must be 'auto', True or False. Received: cache_features={cache_features!r}."
        )
    if cache_features is True and not is_frozen(model):
        raise ValueError(
            "cache_features=True needs a tl_suite model whose base is frozen (only the head "
            "trains), but other weights are trainable (after `unfreeze`?) or the model is not "
            "from a tl_suite builder. Pass cache_features=False (or 'auto'). Received: "
            "cache_features=True."
        )


def _callbacks(log_dir, monitor, checkpoint, backup, early_stopping_patience, csv_log, extra):
    callbacks = [keras.callbacks.TensorBoard(log_dir=log_dir, write_graph=False)]
    if backup:
        callbacks.append(keras.callbacks.BackupAndRestore(
            os.path.join(log_dir, "backup"), delete_checkpoint=True
        ))
    if checkpoint:
        callbacks.append(keras.callbacks.ModelCheckpoint(
            os.path.join(log_dir, "best.keras"), monitor=monitor, save_best_only=True
        ))
    if early_stopping_patience is not None:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=monitor, patience=early_stopping_patience, restore_best_weights=True
        ))
    if csv_log:
        callbacks.append(keras.callbacks.CSVLogger(
            os.path.join(log_dir, "training_log.csv"), append=True
        ))
    return callbacks + list(extra or [])


def batch_size_of(dataset):
    """The size of ``dataset``'s first batch."""
    first = tf.nest.flatten(next(iter(dataset.take(1))))[0]
    return int(first.shape[0])


def _fit_with_oom_retries(run, train, validation, oom_retries, backup):
    """``run(train, validation)``; on out-of-memory, again with half batches (at most
    ``oom_retries`` times). Dataset info is inherited through ``rebatch``."""
    for attempt in range(oom_retries + 1):
        try:
            return run(train, validation)
        except tf.errors.ResourceExhaustedError as error:
            batch_size = batch_size_of(train)
            if attempt == oom_retries or batch_size < 2:
                raise RuntimeError(
                    f"Out of memory at batch size {batch_size} after {attempt} retries with "
                    "smaller batches. Make the dataset with a smaller batch_size, raise "
                    "oom_retries, or use a smaller image_size/sequence_length. Received: "
                    f"oom_retries={oom_retries}."
                ) from error
            smaller = batch_size // 2
            print(f"Out of memory at batch size {batch_size}; retrying with batch size {smaller}"
                  + (" from the last finished epoch (backup)." if backup else "."))
            train = train.rebatch(smaller)
            validation = None if validation is None else validation.rebatch(smaller)
    return None


def fit(
    model,
    train,
    validation=None,
    epochs=10,
    log_dir="logs/run",
    early_stopping_patience=3,
    monitor=None,
    checkpoint=True,
    backup=True,
    csv_log=True,
    callbacks=None,
    initial_epoch=0,
    cache_features="auto",
    feature_views=4,
    feature_cache_memory=2**30,
    seed=None,
    oom_retries=2,
    verbose="auto",
):
    """Train ``model`` with TensorBoard logging, best-model checkpoint and early stopping.

    When the base is frozen (only the head trains), `fit` by default runs the frozen part
    once per split with a progress bar, caches the features and trains the head on them: one
    backbone pass instead of one per epoch. The head is shared with ``model``, so ``model`` is
    trained end to end as usual. Without augmentation this is the same training as the plain
    path (same batches when the data is not shuffled; reshuffled each epoch otherwise). With
    an augmented training set (``image_dataset(augment=True)``) it caches ``feature_views``
    augmented views per example and draws one per example per epoch: not exact, since the head
    sees ``feature_views`` distinct augmentations instead of a new one every epoch — raise
    ``feature_views`` or pass ``cache_features=False`` for fresh augmentations every epoch.
    Whether the data is augmented or shuffled is read from its `DatasetInfo` (kept through
    ``map``, ``filter``, ...; attach it to other datasets with `with_info`, else `fit` warns and
    assumes shuffled, not augmented).

    A model built without label names takes those of ``train`` (its `DatasetInfo`); when both
    have names and they differ, `fit` raises a ValueError instead of training on mislabelled
    outputs.

    The feature pass folds each BatchNorm into the convolution before it (inference-mode
    BatchNorm is an affine map, so this is the same function up to float rounding, ~1e-5) and
    runs about 1.9x faster on EfficientNet-Lite0. The head trains 16 steps per call
    (``steps_per_execution``; one under a multi-replica strategy). The best head is kept in
    memory at each improvement; ``best.keras`` is written when training ends and at most once a
    minute in between. Validation features cached in memory are kept for `evaluate` on the same
    dataset while the base weights are unchanged (a fingerprint of them is checked).

    Writes into ``log_dir``: TensorBoard event files (``train/``, ``validation/``; per-epoch
    loss, metrics and learning rate), ``best.keras`` (best model by ``monitor``),
    ``training_log.csv``, and while training ``backup/`` so that a fit that was interrupted
    resumes from its last finished epoch when called again with the same ``log_dir``.

    Args:
        model: A compiled `keras.Model` (e.g. from `build_image_classifier`); models that are
            not from a tl_suite builder train through their own ``model.fit``.
        train: Training `tf.data.Dataset` of ``(inputs, labels)`` batches.
        validation: Optional validation dataset.
        epochs: Maximum number of epochs.
        log_dir: Folder for logs, checkpoints and backups.
        early_stopping_patience: Stop after this many epochs without improvement of
            ``monitor`` and restore the best weights (``None`` disables early stopping).
        monitor: Quantity to watch; ``"val_loss"`` with validation data, else ``"loss"``.
        checkpoint: Save the best model to ``log_dir/best.keras``.
        backup: Back up after each epoch so an interrupted fit resumes.
        csv_log: Append per-epoch logs to ``log_dir/training_log.csv``.
        callbacks: Extra Keras callbacks.
        initial_epoch: Epoch to start from (continues an earlier run's epoch numbering in
            TensorBoard; ``epochs`` is then the last epoch, as in ``model.fit``).
        cache_features: ``"auto"`` (cache when the base is frozen), ``True`` (require it) or
            ``False`` (run the whole model every epoch).
        feature_views: Augmented views cached per training example (augmented data only).
        feature_cache_memory: Bytes of features kept in memory; larger caches go to
            memory-mapped files on disk (removed when `fit` returns).
        seed: Seed of the cached path's shuffling and view draws.
        oom_retries: On an out-of-memory error (``ResourceExhaustedError``, e.g. a GPU batch too
            large), halve the batch size (``Dataset.rebatch``) and try again up to this many
            times; with ``backup`` the retry resumes from the last finished epoch.
        verbose: Keras verbosity.

    Returns:
        The `keras.callbacks.History` of the run.

    Example:
    >>> import numpy as np, tempfile, tl_suite
    >>> train = tl_suite.image_dataset(images=np.zeros((8, 32, 32), "uint8"),
    ...                                labels=np.arange(8) % 2, class_names=["no", "yes"],
    ...                                verbose=False)
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> history = tl_suite.fit(model, train, epochs=2, log_dir=tempfile.mkdtemp(), verbose=0)
    >>> len(history.history["loss"]), model.class_names
    (2, ['no', 'yes'])
    """
    monitor = monitor or ("val_loss" if validation is not None else "loss")
    _check_arguments(model, epochs, initial_epoch, monitor, validation, cache_features)
    if is_transfer_model(model):
        _warn_without_info(train)
        for dataset, argument in ((train, "train"), (validation, "validation")):
            if dataset is not None:
                check_tokenized(model, dataset, argument)
                match_label_names(model, dataset, argument, adopt=True)
    os.makedirs(log_dir, exist_ok=True)
    all_callbacks = _callbacks(log_dir, monitor, checkpoint, backup, early_stopping_patience,
                               csv_log, callbacks)
    forget(model)  # features remembered by an earlier fit
    cached = bool(cache_features) and is_frozen(model)

    def run(train, validation):
        if cached:
            return fit_head_on_cached_features(
                model, train, validation, epochs=epochs, callbacks=all_callbacks,
                feature_views=feature_views, memory_budget=feature_cache_memory, seed=seed,
                verbose=verbose, initial_epoch=initial_epoch,
            )
        return model.fit(
            train, validation_data=validation, epochs=epochs, callbacks=all_callbacks,
            verbose=verbose, shuffle=False,  # tf.data pipelines shuffle themselves
            initial_epoch=initial_epoch,
        )

    return _fit_with_oom_retries(run, train, validation, oom_retries, backup)
