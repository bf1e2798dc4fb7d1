"""`fit`: training with TensorBoard, checkpoints, early stopping, resumable runs and OOM retries.

A frozen tl_suite model trains its head on cached features (`cached_head`); any other model
(unfrozen, or a plain `keras.Model`) trains through its own ``model.fit``.
"""

import errno
import warnings

import keras
import tensorflow as tf

from tl_suite.data.info import dataset_info
from tl_suite.models.compiling import is_frozen, is_transfer_model
from tl_suite.progress import keras_progress
from tl_suite.training.backup import RunBackup
from tl_suite.training.best_model import BestModel
from tl_suite.training.card_facts import record_training
from tl_suite.training.cached_head import fit_head_on_cached_features
from tl_suite.training.dashboards.run_logs import log_run
from tl_suite.training.feature_cache import forget
from tl_suite.training.non_finite import StopOnNonFinite, check_learning_rate, recover
from tl_suite.training.runs import identity_of, open_run
from tl_suite.training.safe_files import DiskFullError


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


def _callbacks(run, model, options, trained_by_head):
    """The run's callbacks, in the order their epoch ends must happen: the non-finite guard
    first, the best model before the backup (which records its state), the CSV row last
    (the backup keeps each epoch's logs and restores a row lost to a crash)."""
    writer = run.writer
    guard = StopOnNonFinite()
    best = BestModel(
        options["monitor"], run.path("best.keras") if options["checkpoint"] and writer else None,
        full_model=model, patience=options["early_stopping_patience"],
        min_interval=60.0 if trained_by_head else 0.0, best=options.get("best"),
    )
    # write_graph=False: Keras 3 writes no graph of these models; `log_run` traces it instead.
    callbacks = [guard] + ([keras.callbacks.TensorBoard(log_dir=run.directory, write_graph=False)]
                           if writer else []) + [best]
    csv_path = run.path("training_log.csv") if options["csv_log"] and writer else None
    if options["backup"]:
        callbacks.append(RunBackup(
            run.path(options.get("backup_name", "backup")), best, csv_path,
            initial_epoch=options["initial_epoch"], extra_state=options.get("extra_state"),
            writer=writer, keep=options.get("keep_backup", False), verbose=options["verbose"] != 0,
        ))
    if csv_path:
        callbacks.append(keras.callbacks.CSVLogger(csv_path, append=True))
    return callbacks + list(options["callbacks"] or []), guard, best


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
            if any(text in str(error) for text in ("No space left", "Disk quota")):
                raise DiskFullError(
                    errno.ENOSPC,
                    "The disk is full: TensorFlow could not write a log or checkpoint file. "
                    "Free some space (or use another log_dir) and run again; the files written "
                    f"before are intact and an interrupted fit resumes from its backup. Received: {error}",
                ) from error
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


def chief_of(model):
    """None for one process; with a multi-worker strategy, whether this worker is the chief."""
    extended = model.distribute_strategy.extended
    in_multi_worker = getattr(extended, "_in_multi_worker_mode", None)
    if in_multi_worker is None or not in_multi_worker():
        return None
    return bool(extended.should_checkpoint)


def run_identity(model, train, cached, feature_views, seed, monitor):
    """The identity of a `fit` run: the model, its compile configuration and what in the
    arguments changes the computation (epochs and patience may change on a resume)."""
    info = dataset_info(train)
    return identity_of(
        model, seed=seed, monitor=monitor, cached_features=cached,
        feature_views=feature_views if cached else None,
        train=None if info is None else {"examples": info.num_examples, "kind": info.kind,
                                         "class_names": info.class_names},
    )


def check_datasets(model, train, validation):
    """`fit`'s checks of the datasets against a tl_suite ``model`` (tokenization, label names
    — adopted when the model has none — and a warning for a dataset without info); then what
    the preprocessor learns from the training data (a text model's TF-IDF vocabulary) is
    learnt, once."""
    if not is_transfer_model(model):
        return
    _warn_without_info(train)
    for dataset, argument in ((train, "train"), (validation, "validation")):
        if dataset is not None:
            check_tokenized(model, dataset, argument)
            match_label_names(model, dataset, argument, adopt=True)
    if getattr(model.preprocessor, "needs_adapt", False):
        model.preprocessor.adapt(train)


def run_options(validation, **given):
    """`fit`'s arguments as the ``options`` of `fit_in_run`: its defaults, updated by
    ``given`` (``cached`` says whether the head trains on cached features)."""
    options = dict(epochs=10, early_stopping_patience=3, monitor=None, checkpoint=True,
                   backup=True, csv_log=True, callbacks=None, initial_epoch=0, cached=False,
                   feature_views=4, feature_cache_memory=2**30, oom_retries=2, verbose="auto",
                   choose_branches=True)
    options.update(given)
    options["monitor"] = options["monitor"] or ("val_loss" if validation is not None else "loss")
    return options


def _choose_branches(model, options, callbacks):
    """Whether the cached path picks the head's branches first: asked for, a single replica,
    and not resuming (a resumed run restores the gate its first epochs trained with)."""
    resuming = any(isinstance(each, RunBackup) and each.has_state() for each in callbacks)
    single = model.distribute_strategy.num_replicas_in_sync == 1 and chief_of(model) is None
    return bool(options.get("choose_branches")) and single and not resuming


def fit_in_run(model, train, validation, run, options):
    """Train ``model`` in ``run`` (a `Run` from `open_run`) with ``options`` (`fit`'s
    arguments, plus ``best``, ``backup_name``, ``keep_backup``, ``extra_state`` for
    `fine_tune`'s stages). Returns the history, with ``run_dir``."""
    cached = options["cached"]
    callbacks, guard, best = _callbacks(run, model, options, trained_by_head=cached)
    choose = cached and _choose_branches(model, options, callbacks)

    def one_try(train, validation):
        common = dict(epochs=options["epochs"], callbacks=callbacks, verbose=options["verbose"],
                      initial_epoch=options["initial_epoch"])
        if cached:
            return fit_head_on_cached_features(
                model, train, validation, feature_views=options["feature_views"],
                memory_budget=options["feature_cache_memory"], seed=run.seed,
                choose_branches=choose, **common,
            )
        try:
            verbose, progress_callbacks = keras_progress(options["verbose"])  # one bar per epoch
            return model.fit(train, validation_data=validation, shuffle=False,
                             **{**common, "verbose": verbose,
                                "callbacks": [*callbacks, *progress_callbacks]})
        finally:
            model._initial_epoch = None  # set by a restored backup; not for the next fit

    try:
        history = _fit_with_oom_retries(one_try, train, validation, options["oom_retries"],
                                        options["backup"])
    except KeyboardInterrupt:
        best.flush()  # the best epoch so far is on disk when Ctrl-C stops a run
        raise
    if guard.tripped is not None:  # history.model: the model that was fit (the head trainer)
        recover(guard, best, history.model, _learning_rate(model))
    history.run_dir, history.best = run.directory, best
    history.branch_choice = getattr(history, "branch_choice", None)
    return history


def _learning_rate(model):
    try:
        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):
        return None


def fit(
    model,
    train,
    validation=None,
    epochs=10,
    log_dir="logs",
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
    resume="auto",
    choose_branches=True,
):
    """Train ``model`` with TensorBoard logging, best-model checkpoint, early stopping and a
    crash-safe backup, in a run folder of its own.

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
    (``steps_per_execution``; one under a multi-replica strategy). Validation features cached
    in memory are kept for `evaluate` on the same dataset while the base weights are unchanged.

    **Runs.** Each call trains in a run folder ``log_dir/run-NNN`` holding ``run.json`` (the
    run's configuration fingerprint, status and seed), TensorBoard event files (``train/``,
    ``validation/``: per-epoch loss, metrics, learning rate; ``train/`` also the model's graph;
    the run folder itself: its HParams session — the hyperparameters, from the model, the
    datasets' info and these arguments, and ``best/*`` scalars, the logs of the best epoch by
    ``monitor``), ``best.keras`` (the best model by
    ``monitor``, written atomically: a crash or a full disk never leaves a broken or worse
    file), ``training_log.csv`` and, while training, ``backup/`` (model, optimizer, epoch and
    best value after every epoch, written atomically with the previous one kept).
    ``tensorboard --logdir log_dir`` compares the runs. With ``resume="auto"``, calling `fit`
    again with the same model configuration and arguments after a crash or Ctrl-C continues the
    newest unfinished run of that configuration from its last finished epoch (the best value
    so far included); any other call starts a new run folder. A second process cannot train
    the same run at once (a lock). ``history.run_dir`` is the folder.

    What a resume reproduces: on the cached-feature path the batches of each epoch depend only
    on the run's seed and the epoch, so a resumed run computes exactly what an uninterrupted
    one would (the final weights are equal; with augmentation, equal when the augmented views
    are, i.e. seeded). On the plain path the model, optimizer and epoch are restored, but a
    shuffled dataset starts its shuffle order over (the order of tf.data's reshuffling cannot
    be continued), as do dropout draws: the result is as good, not bit-equal.

    **Wide-and-deep text heads.** Before the first epoch, the head's weights on the TF-IDF
    columns get their naive-Bayes ratios from the training data, once (`word_ratios`). A text
    model with a TF-IDF branch (``wide_tokens``) trained on cached features with ``validation`` first trains two heads for a few seconds — on both
    branches, and on the TF-IDF branch alone — and keeps the branches with the lower validation
    loss (``choose_branches``; ``model.branches`` and ``history.branch_choice`` say which); the
    run then trains that head. On a corpus where the encoder's view of the first
    ``sequence_length`` tokens says little (long reviews), its columns only add noise and the
    TF-IDF branch alone wins. Not on the plain path, under a multi-replica strategy, or when
    resuming (the restored head keeps the gate it trained with).

    **Non-finite values.** A NaN/inf learning rate is refused before training; when the loss
    or a metric becomes NaN/inf, training stops, the model is set back to its best finite
    weights (nothing non-finite is saved or backed up) and `NonFiniteLossError` says where and
    what to try.

    Args:
        model: A compiled `keras.Model` (e.g. from `build_image_classifier`); models that are
            not from a tl_suite builder train through their own ``model.fit``.
        train: Training `tf.data.Dataset` of ``(inputs, labels)`` batches.
        validation: Optional validation dataset.
        epochs: Maximum number of epochs.
        log_dir: Parent folder of the run folders.
        early_stopping_patience: Stop after this many epochs without improvement of
            ``monitor`` and restore the best weights (``None`` disables early stopping).
        monitor: Quantity to watch; ``"val_loss"`` with validation data, else ``"loss"``.
        checkpoint: Save the best model to ``<run>/best.keras``.
        backup: Back up after each epoch so an interrupted fit resumes.
        csv_log: Write per-epoch logs to ``<run>/training_log.csv``.
        callbacks: Extra Keras callbacks.
        initial_epoch: Epoch to start from (continues an earlier run's epoch numbering in
            TensorBoard; ``epochs`` is then the last epoch, as in ``model.fit``).
        cache_features: ``"auto"`` (cache when the base is frozen), ``True`` (require it) or
            ``False`` (run the whole model every epoch).
        feature_views: Augmented views cached per training example (augmented data only).
        feature_cache_memory: Bytes of features kept in memory; larger caches go to
            memory-mapped files on disk (removed when `fit` returns).
        seed: Seed of the cached path's shuffling and view draws (None: drawn once per run
            and recorded in ``run.json``, so a resume keeps it).
        oom_retries: On an out-of-memory error (``ResourceExhaustedError``, e.g. a GPU batch too
            large), halve the batch size (``Dataset.rebatch``) and try again up to this many
            times; with ``backup`` the retry resumes from the last finished epoch.
        verbose: Keras verbosity.
        resume: ``"auto"`` (continue an unfinished run of this configuration, else start a
            new one), ``True`` (continue one, or raise), ``False`` (always a new run) or the
            name of a run folder of ``log_dir`` to continue (refused if its configuration
            differs).
        choose_branches: With a wide-and-deep text model, cached features and ``validation``,
            keep the head's branches (both, or TF-IDF alone) that do better on validation data.

    Returns:
        The `keras.callbacks.History` of the run; ``history.run_dir`` is its folder.

    Example:
    >>> import numpy as np, os, tempfile, tl_suite
    >>> train = tl_suite.image_dataset(images=np.zeros((8, 32, 32), "uint8"),
    ...                                labels=np.arange(8) % 2, class_names=["no", "yes"],
    ...                                verbose=False)
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> history = tl_suite.fit(model, train, epochs=2, log_dir=tempfile.mkdtemp(), verbose=0)
    >>> len(history.history["loss"]), model.class_names, os.path.basename(history.run_dir)
    (2, ['no', 'yes'], 'run-001')
    >>> sorted(name for name in os.listdir(history.run_dir) if not name.startswith("events."))
    ['.lock', 'best.keras', 'run.json', 'train', 'training_log.csv']
    """
    monitor = monitor or ("val_loss" if validation is not None else "loss")
    _check_arguments(model, epochs, initial_epoch, monitor, validation, cache_features)
    check_learning_rate(model)
    check_datasets(model, train, validation)
    forget(model)  # features remembered by an earlier fit
    cached = bool(cache_features) and is_frozen(model)
    run = open_run(log_dir, run_identity(model, train, cached, feature_views, seed, monitor),
                   resume=resume, seed=seed, chief=chief_of(model), verbose=verbose != 0)
    options = run_options(
        validation, epochs=epochs, early_stopping_patience=early_stopping_patience,
        monitor=monitor, checkpoint=checkpoint, backup=backup, csv_log=csv_log,
        callbacks=callbacks, initial_epoch=initial_epoch, cached=cached,
        feature_views=feature_views, feature_cache_memory=feature_cache_memory,
        oom_retries=oom_retries, verbose=verbose, choose_branches=choose_branches,
    )
    with run:  # finished, or failed on a non-finite loss; the lock released either way
        history = fit_in_run(model, train, validation, run, options)
        log_run(run, model, train, validation, history, options)
    record_training(model, train, validation, history)
    return history
