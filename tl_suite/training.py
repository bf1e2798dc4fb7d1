"""Shared fit/evaluate: TensorBoard, checkpoints, early stopping, resumable fits, reports."""

import io
import os
import time

import keras
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure
from sklearn import metrics as sk_metrics

from tl_suite import feature_cache
from tl_suite._progress import progress
from tl_suite.models import infer_task


class _FullModelCheckpoint(keras.callbacks.Callback):
    """Best-model checkpoint of the end-to-end model while only its head is fit on features.

    Head epochs take milliseconds and saving the whole model takes about half a second, so the
    best head weights are kept in memory at each improvement and the end-to-end model is written
    when training ends and at most every ``min_interval`` seconds in between (an interrupted fit
    resumes from its backup, not from this file).
    """

    def __init__(self, full_model, filepath, monitor, min_interval=60.0):
        super().__init__()
        self.full_model, self.filepath, self.monitor = full_model, filepath, monitor
        self.min_interval = min_interval
        maximize = any(key in monitor for key in ("acc", "auc", "f1", "precision", "recall", "r2"))
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


def check_tokenized(model, dataset, argument="dataset"):
    """Refuse a dataset tokenized (``tokenize=True``) for another backbone or sequence length."""
    info = getattr(dataset, "tokenized", None)
    if not info:
        return
    preprocessor = getattr(model, "preprocessor", None)
    tokenizer = getattr(preprocessor, "tokenizer", None)
    length = getattr(preprocessor, "sequence_length", None)
    windows = getattr(preprocessor, "max_windows", 1)
    if windows > 1:
        raise ValueError(
            f"`{argument}` holds token ids (text_dataset(tokenize=True)), but this model reads "
            f"each text as up to max_windows={windows} windows and tokenizes raw strings itself. "
            "Make the dataset without tokenize=True."
        )
    if (tokenizer is None or int(tokenizer.vocabulary_size()) != info["vocabulary_size"]
            or length != info["sequence_length"]):
        model_says = ("takes no token ids" if tokenizer is None else
                      f"has a {int(tokenizer.vocabulary_size())}-token vocabulary and sequence_length={length}")
        raise ValueError(
            f"`{argument}` was tokenized for backbone={info['backbone']!r} with "
            f"sequence_length={info['sequence_length']} ({info['vocabulary_size']}-token vocabulary), "
            f"but the model {model_says}. Make the dataset with the model's backbone and "
            "sequence_length, or without tokenize=True (the model then tokenizes raw strings)."
        )


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

    When the base is frozen (only the ``"head"`` trains), `fit` by default runs the frozen part
    once per split with a progress bar, caches the features and trains the head on them: one
    backbone pass instead of one per epoch. The head is shared with ``model``, so ``model`` is
    trained end to end as usual. Without augmentation this is the same training as the plain
    path (same batches when the data is not shuffled; reshuffled each epoch otherwise). With
    an augmented training set (``image_dataset(augment=True)``) it caches ``feature_views``
    augmented views per example and draws one per example per epoch: not exact, since the head
    sees ``feature_views`` distinct augmentations instead of a new one every epoch — raise
    ``feature_views`` or pass ``cache_features=False`` for fresh augmentations every epoch.

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
        model: A compiled `keras.Model` (e.g. from `build_image_classifier`).
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
    ...                                labels=np.arange(8) % 2, verbose=False)
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> history = tl_suite.fit(model, train, epochs=2, log_dir=tempfile.mkdtemp(), verbose=0)
    >>> len(history.history["loss"])
    2
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"`epochs` must be a positive integer. Received: epochs={epochs!r}.")
    if not isinstance(initial_epoch, int) or not 0 <= initial_epoch < epochs:
        raise ValueError(
            "`initial_epoch` must be an integer in [0, epochs): `epochs` counts from the first "
            f"epoch of the run. Received: initial_epoch={initial_epoch!r}, epochs={epochs}."
        )
    if not getattr(model, "compiled", False):
        raise ValueError("`model` is not compiled. Build it with a tl_suite builder or call model.compile().")
    check_tokenized(model, train, "train")
    if validation is not None:
        check_tokenized(model, validation, "validation")
    monitor = monitor or ("val_loss" if validation is not None else "loss")
    if monitor.startswith("val_") and validation is None:
        raise ValueError(
            f"monitor={monitor!r} needs `validation` data. Pass validation=... or monitor='loss'."
        )
    os.makedirs(log_dir, exist_ok=True)
    all_callbacks = [keras.callbacks.TensorBoard(log_dir=log_dir, write_graph=False)]
    if backup:
        all_callbacks.append(
            keras.callbacks.BackupAndRestore(os.path.join(log_dir, "backup"), delete_checkpoint=True)
        )
    if checkpoint:
        all_callbacks.append(keras.callbacks.ModelCheckpoint(
            os.path.join(log_dir, "best.keras"), monitor=monitor, save_best_only=True
        ))
    if early_stopping_patience is not None:
        all_callbacks.append(keras.callbacks.EarlyStopping(
            monitor=monitor, patience=early_stopping_patience, restore_best_weights=True
        ))
    if csv_log:
        all_callbacks.append(
            keras.callbacks.CSVLogger(os.path.join(log_dir, "training_log.csv"), append=True)
        )
    all_callbacks.extend(callbacks or [])
    if cache_features not in ("auto", True, False):
        raise ValueError(
            f"`cache_features` must be 'auto', True or False. Received: cache_features={cache_features!r}."
        )
    feature_cache.forget(model)  # features remembered by an earlier fit
    frozen = feature_cache.is_frozen(model)
    if cache_features is True and not frozen:
        raise ValueError(
            "cache_features=True needs a tl_suite model whose base is frozen (only the 'head' "
            "trains), but other weights are trainable (after `unfreeze`?). Pass "
            "cache_features=False (or 'auto')."
        )
    for attempt in range(oom_retries + 1):
        try:
            if not (cache_features and frozen):
                return model.fit(
                    train, validation_data=validation, epochs=epochs, callbacks=all_callbacks,
                    verbose=verbose, shuffle=False,  # tf.data pipelines shuffle themselves
                    initial_epoch=initial_epoch,
                )
            return _fit_head_on_cached_features(
                model, train, validation, epochs, all_callbacks, feature_views, feature_cache_memory,
                seed, verbose, initial_epoch,
            )
        except tf.errors.ResourceExhaustedError as error:
            batch_size = _batch_size(train)
            if attempt == oom_retries or batch_size < 2:
                raise RuntimeError(
                    f"Out of memory at batch size {batch_size} after {attempt} retries with "
                    "smaller batches. Make the dataset with a smaller batch_size, raise "
                    f"oom_retries, or use a smaller image_size/sequence_length. Received: "
                    f"oom_retries={oom_retries}."
                ) from error
            smaller = batch_size // 2
            print(f"Out of memory at batch size {batch_size}; retrying with batch size {smaller}"
                  + (" from the last finished epoch (backup)." if backup else "."))
            train = _rebatch(train, smaller)
            validation = None if validation is None else _rebatch(validation, smaller)


def _batch_size(dataset):
    first = tf.nest.flatten(next(iter(dataset.take(1))))[0]
    return int(first.shape[0])


def _rebatch(dataset, batch_size):
    """``dataset`` in batches of ``batch_size``, keeping tl_suite's dataset attributes."""
    smaller = dataset.rebatch(batch_size)
    for attribute in ("class_names", "tag_names", "augmented", "shuffled", "tokenized", "report"):
        if hasattr(dataset, attribute):
            setattr(smaller, attribute, getattr(dataset, attribute))
    return smaller


def _distributed(model):
    strategy = getattr(model, "distribute_strategy", None)
    return strategy is not None and strategy.num_replicas_in_sync > 1


def _fit_head_on_cached_features(model, train, validation, epochs, callbacks, feature_views,
                                 memory_budget, seed, verbose, initial_epoch=0):
    show = verbose != 0
    # Built once, used for every split; BatchNorm folded into the convolutions (inference only).
    extractor = feature_cache.fold_batch_norm(feature_cache.feature_extractor(model))
    views = feature_views if getattr(train, "augmented", False) else 1
    caches = []
    try:
        train_cache = feature_cache.FeatureCache.from_dataset(
            model, train, views=views, memory_budget=memory_budget, description="training",
            verbose=show, extractor=extractor,
        )
        caches.append(train_cache)
        cached_validation = None
        if validation is not None:
            validation_cache = feature_cache.FeatureCache.from_dataset(
                model, validation, views=1, memory_budget=memory_budget,
                description="validation", verbose=show, extractor=extractor,
            )
            caches.append(validation_cache)
            cached_validation = validation_cache.dataset(shuffle=False)
        if show:
            for cache, name in zip(caches, ("training", "validation")):
                print(cache.describe(name))
        head = model.get_layer("head")
        config = model.get_compile_config()
        loss = config["loss"] if isinstance(config["loss"], str) else keras.losses.deserialize(config["loss"])
        head.compile(
            optimizer=model.optimizer,  # shared, so its state carries over to later fits
            loss=loss,
            metrics=[m if isinstance(m, str) else keras.metrics.deserialize(m) for m in config["metrics"] or []],
            # Head steps take about a millisecond: run several per call to cut Python overhead
            # (the same updates; per-batch callbacks then see every 16th batch). Keras' multi-step
            # loop fails on the last partial step under a distribution strategy: one step there.
            steps_per_execution=1 if _distributed(model) else 16,
        )
        callbacks = [
            _FullModelCheckpoint(model, c.filepath, monitor=c.monitor)
            if isinstance(c, keras.callbacks.ModelCheckpoint) else c
            for c in callbacks
        ]
        history = head.fit(
            train_cache.dataset(seed=seed), validation_data=cached_validation, epochs=epochs,
            callbacks=callbacks, verbose=verbose, shuffle=False, initial_epoch=initial_epoch,
        )
        if validation is not None and validation_cache.storage == "memory":
            # `evaluate(model, validation)` then reuses these features (base unchanged).
            feature_cache.remember(model, validation, caches.pop())
        return history
    finally:
        for cache in caches:
            cache.close()


def predict_with_labels(model, dataset, verbose=True):
    """Run ``model`` over ``dataset`` once; return ``(y_true, y_pred)`` in matching order."""
    # One pass gives inputs and labels together, so a reshuffling dataset cannot misalign them.
    # (`predict_on_batch` returns per-replica outputs under MirroredStrategy; a direct call doesn't.)
    cache = feature_cache.recall(model, dataset) if feature_cache.is_frozen(model) else None
    if cache is not None:  # features of this validation set were computed by `fit`
        network = model.get_layer("head")
        forward = tf.function(lambda x, y: (network(x, training=False), y), reduce_retracing=True)
        dataset = cache.dataset(shuffle=False)
    else:  # inference only, so BatchNorm can be folded into the convolutions
        forward = feature_cache.make_forward(feature_cache.fold_batch_norm(model), model=model)
    truths, predictions = [], []
    cardinality = int(dataset.cardinality())
    bar = progress(cardinality if cardinality > 0 else None, "Predicting", verbose, unit="batch")
    for inputs, labels in dataset:
        outputs, labels = forward(inputs, labels)
        predictions.append(np.asarray(outputs))
        truths.append(np.asarray(labels))
        bar.update(1)
    bar.close()
    if not truths:
        raise ValueError("`dataset` is empty: there is nothing to evaluate.")
    return (feature_cache.pad_concatenate(truths, -1),
            feature_cache.pad_concatenate(predictions, 0))


def confusion_matrix_figure(matrix, class_names, title="Confusion matrix"):
    """A matplotlib figure of a confusion matrix, with counts and row-normalised colours."""
    size = max(5.0, 0.55 * len(class_names) + 2.5)
    figure = Figure(figsize=(size, size))  # pyplot-free: no global state, no backend switch
    axis = figure.add_subplot()
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    axis.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("Predicted")
    axis.set_ylabel("True")
    axis.set_title(title)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            axis.text(j, i, int(matrix[i, j]), ha="center", va="center",
                      color="white" if normalised[i, j] > 0.5 else "black", fontsize=8)
    figure.tight_layout()
    return figure


def scatter_figure(y_true, y_pred, title="Predicted vs true"):
    """A predicted-vs-true scatter plot for regression outputs."""
    figure = Figure(figsize=(5, 5))
    axis = figure.add_subplot()
    axis.scatter(y_true.ravel(), y_pred.ravel(), s=8, alpha=0.5)
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    axis.plot([low, high], [low, high], "k--", linewidth=1)
    axis.set_xlabel("True")
    axis.set_ylabel("Predicted")
    axis.set_title(title)
    figure.tight_layout()
    return figure


def figure_to_image(figure):
    """Render a matplotlib figure to a ``(1, H, W, 4)`` uint8 array for `tf.summary.image`."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    image = tf.io.decode_png(buffer.getvalue(), channels=4)
    return tf.expand_dims(image, 0)


def log_figure(log_dir, tag, figure, step=0):
    """Write ``figure`` as an image into TensorBoard under ``log_dir/evaluation``."""
    writer = tf.summary.create_file_writer(os.path.join(log_dir, "evaluation"))
    with writer.as_default():
        tf.summary.image(tag, figure_to_image(figure), step=step)
    writer.flush()
    writer.close()


def _log_scalars(log_dir, values, step=0):
    writer = tf.summary.create_file_writer(os.path.join(log_dir, "evaluation"))
    with writer.as_default():
        for name, value in values.items():
            tf.summary.scalar(f"evaluation_{name}", value, step=step)
    writer.flush()
    writer.close()


def evaluate(model, dataset, class_names=None, log_dir=None, threshold=0.5, step=0, verbose=True):
    """Evaluate ``model`` on ``dataset``: metrics, report and figures.

    Single-label classification gives accuracy, a scikit-learn classification report and a
    confusion matrix; multi-label gives a per-label report (at ``threshold``), micro/macro F1 and
    Hamming loss; regression gives MAE, RMSE and R² and a predicted-vs-true scatter plot; token
    classification (NER) gives entity-level precision/recall/F1 (seqeval) with a per-type table
    and figure, one tag per word. With
    ``log_dir`` the scalars and the figure are also written to TensorBoard
    (``log_dir/evaluation``).

    Args:
        model: A model from a tl_suite builder.
        dataset: `tf.data.Dataset` of ``(inputs, labels)`` batches, each seen once.
        class_names: Names of classes/labels; defaults to ``dataset.class_names``.
        log_dir: Optional TensorBoard log folder (usually the one given to `fit`).
        threshold: Decision threshold of multi-label outputs.
        step: TensorBoard step of the logged values.
        verbose: Show a progress bar while predicting.

    Returns:
        A dict with ``"metrics"`` (name → float), and per task ``"report"`` (text),
        ``"report_dict"``, ``"confusion_matrix"`` and ``"figure"`` (a matplotlib figure).

    Example:
    >>> import numpy as np, tl_suite
    >>> test = tl_suite.image_dataset(images=np.zeros((6, 32, 32), "uint8"), labels=np.arange(6) % 3,
    ...                               class_names=["a", "b", "c"], shuffle=False, verbose=False)
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None)
    >>> result = tl_suite.evaluate(model, test, verbose=False)
    >>> int(result["confusion_matrix"].sum()), sorted(result["metrics"])
    (6, ['accuracy', 'loss', 'macro_f1'])
    """
    task = infer_task(model)
    check_tokenized(model, dataset)
    y_true, y_pred = predict_with_labels(model, dataset, verbose=verbose)
    class_names = class_names or getattr(dataset, "class_names", None)
    result = {"task": task}
    if task == "classification":
        if y_true.ndim == 2:  # one-hot labels (MixUp/CutMix datasets)
            y_true = y_true.argmax(axis=1)
        y_true = y_true.astype(int)
        predicted = y_pred.argmax(axis=1)
        num_classes = y_pred.shape[1]
        names = list(class_names) if class_names else [str(i) for i in range(num_classes)]
        if len(names) != num_classes:
            raise ValueError(
                f"The model has {num_classes} outputs but {len(names)} class names were given. "
                f"Received: class_names={names}."
            )
        labels = list(range(num_classes))
        probabilities = np.clip(y_pred, 1e-7, 1.0)
        result["metrics"] = {
            "accuracy": float(sk_metrics.accuracy_score(y_true, predicted)),
            "loss": float(sk_metrics.log_loss(y_true, probabilities, labels=labels)),
            "macro_f1": float(sk_metrics.f1_score(y_true, predicted, labels=labels, average="macro", zero_division=0)),
        }
        result["report"] = sk_metrics.classification_report(
            y_true, predicted, labels=labels, target_names=names, digits=4, zero_division=0
        )
        result["report_dict"] = sk_metrics.classification_report(
            y_true, predicted, labels=labels, target_names=names, output_dict=True, zero_division=0
        )
        matrix = sk_metrics.confusion_matrix(y_true, predicted, labels=labels)
        result["confusion_matrix"] = matrix
        result["figure"] = confusion_matrix_figure(matrix, names)
        figure_tag = "confusion_matrix"
    elif task == "multi_label":
        y_true = y_true.astype(int)
        predicted = (y_pred >= threshold).astype(int)
        names = list(class_names) if class_names else [str(i) for i in range(y_pred.shape[1])]
        result["metrics"] = {
            "micro_f1": float(sk_metrics.f1_score(y_true, predicted, average="micro", zero_division=0)),
            "macro_f1": float(sk_metrics.f1_score(y_true, predicted, average="macro", zero_division=0)),
            "hamming_loss": float(sk_metrics.hamming_loss(y_true, predicted)),
            "subset_accuracy": float(sk_metrics.accuracy_score(y_true, predicted)),
        }
        result["report"] = sk_metrics.classification_report(
            y_true, predicted, target_names=names, digits=4, zero_division=0
        )
        result["report_dict"] = sk_metrics.classification_report(
            y_true, predicted, target_names=names, output_dict=True, zero_division=0
        )
        result["confusion_matrix"] = sk_metrics.multilabel_confusion_matrix(y_true, predicted)
        result["figure"] = _per_label_f1_figure(result["report_dict"], names)
        figure_tag = "per_label_f1"
    elif task == "token_classification":
        result.update(_evaluate_tokens(model, y_true, y_pred, class_names))
        figure_tag = "per_type_f1"
    else:
        y_true = y_true.reshape(y_pred.shape).astype(float)
        result["metrics"] = {
            "mae": float(sk_metrics.mean_absolute_error(y_true, y_pred)),
            "rmse": float(np.sqrt(sk_metrics.mean_squared_error(y_true, y_pred))),
            "r2": float(sk_metrics.r2_score(y_true, y_pred)),
        }
        result["report"] = "\n".join(f"{k}: {v:.4f}" for k, v in result["metrics"].items())
        result["figure"] = scatter_figure(y_true, y_pred)
        figure_tag = "predicted_vs_true"
    result["y_true"], result["y_pred"] = y_true, y_pred
    if log_dir is not None:
        _log_scalars(log_dir, result["metrics"], step=step)
        log_figure(log_dir, figure_tag, result["figure"], step=step)
    return result


def _per_label_f1_figure(report_dict, names, title="Per-label F1"):
    figure = Figure(figsize=(max(5, 0.5 * len(names) + 2), 4))
    axis = figure.add_subplot()
    axis.bar(range(len(names)), [report_dict[name]["f1-score"] for name in names])
    axis.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axis.set_ylim(0, 1)
    axis.set_ylabel("F1")
    axis.set_title(title)
    figure.tight_layout()
    return figure


def _evaluate_tokens(model, y_true, y_pred, class_names):
    from seqeval import metrics as seq_metrics

    tags = list(getattr(model, "tags", None) or class_names)
    predicted = y_pred.argmax(axis=-1)
    true_sequences, predicted_sequences = [], []
    for row_true, row_predicted in zip(y_true.astype(int), predicted):
        words = row_true >= 0  # one labelled position (first word piece) per word
        true_sequences.append([tags[t] for t in row_true[words]])
        predicted_sequences.append([tags[p] for p in row_predicted[words]])
    report_dict = seq_metrics.classification_report(
        true_sequences, predicted_sequences, output_dict=True, zero_division=0
    )
    types = sorted(name for name in report_dict if not name.endswith(" avg"))
    flat_true = np.concatenate([np.asarray(s) for s in true_sequences]) if true_sequences else np.array([])
    flat_predicted = np.concatenate([np.asarray(s) for s in predicted_sequences]) if predicted_sequences else np.array([])
    return {
        "metrics": {
            "precision": float(seq_metrics.precision_score(true_sequences, predicted_sequences, zero_division=0)),
            "recall": float(seq_metrics.recall_score(true_sequences, predicted_sequences, zero_division=0)),
            "f1": float(seq_metrics.f1_score(true_sequences, predicted_sequences, zero_division=0)),
            "token_accuracy": float((flat_true == flat_predicted).mean()) if len(flat_true) else 0.0,
        },
        "report": seq_metrics.classification_report(
            true_sequences, predicted_sequences, digits=4, zero_division=0
        ),
        "report_dict": report_dict,
        "true_tags": true_sequences,
        "predicted_tags": predicted_sequences,
        "figure": _per_label_f1_figure(report_dict, types, title="Entity F1 per type"),
    }
