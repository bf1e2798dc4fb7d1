"""`evaluate`: one pass over a dataset, then the metrics, report and figure of the model's task."""

import warnings

import numpy as np
import tensorflow as tf
from sklearn import metrics as sk_metrics

from tl_suite.data.info import dataset_info
from tl_suite.models.compiling import is_frozen, is_transfer_model
from tl_suite.models.decoding import (check_decoding, decode_tags, detect_tag_scheme,
                                      find_invalid_sequences)
from tl_suite.progress import progress
from tl_suite.training import feature_cache
from tl_suite.training.baselines import compare, run_baseline
from tl_suite.training.batch_norm_folding import fold_batch_norm
from tl_suite.training.calibration import (calibrated_model_ece, expected_calibration_error,
                                           flatten_predictions, reliability_diagram, uncalibrated)
from tl_suite.training.card_facts import record_evaluation
from tl_suite.training.dashboards.evaluation import log_evaluation
from tl_suite.training.dashboards.mistakes import Mistakes
from tl_suite.training.figures import confusion_matrix_figure, per_label_f1_figure, scatter_figure
from tl_suite.training.fit import check_tokenized, match_label_names


def _forward(model, dataset):
    """``(forward(x, y) -> (outputs, y), dataset to run it over)`` for ``model`` on ``dataset``."""
    cache = feature_cache.recall(model, dataset) if is_frozen(model) else None
    if cache is not None:  # features of this validation set were computed by `fit`
        head = model.head
        forward = tf.function(lambda x, y: (head(x, training=False), y), reduce_retracing=True)
        return forward, cache.dataset(shuffle=False)
    if not is_transfer_model(model):
        return feature_cache.make_forward(model), dataset
    # Inference only, so BatchNorm can be folded into the convolutions of the frozen part.
    features, head = fold_batch_norm(model.features_model()), model.head

    def network(x, training=False):
        return head(features(x, training=training), training=training)

    return feature_cache.make_forward(network, model.prepare), dataset


def predict_with_labels(model, dataset, verbose=True, on_batch=None):
    """Run ``model`` over ``dataset`` once; return ``(y_true, y_pred)`` in matching order.

    One pass gives inputs and labels together, so a reshuffling dataset cannot misalign them.
    For a tl_suite model the labels are those its preprocessor makes (per word piece for token
    classifiers, -1 where unlabelled); features `fit` cached for this dataset are reused while
    the base is unchanged. ``on_batch(raw inputs, labels, outputs)``, if given, sees each batch
    of a pass over the raw inputs (not called when cached features are reused).
    """
    forward, source = _forward(model, dataset)
    truths, predictions = [], []
    bar = progress(feature_cache.num_batches(source), "Predicting", verbose, unit="batch")
    for inputs, labels in source:
        outputs, labels = forward(inputs, labels)
        predictions.append(np.asarray(outputs))
        truths.append(np.asarray(labels))
        if on_batch is not None and source is dataset:
            on_batch(inputs, truths[-1], predictions[-1])
        bar.update(1)
    bar.close()
    if not truths:
        raise ValueError(
            "`dataset` is empty: there is nothing to evaluate. Pass a dataset with at least one "
            "batch. Received: an empty dataset."
        )
    return feature_cache.pad_concatenate(truths, -1), feature_cache.pad_concatenate(predictions, 0)


def classification_report(y_true, y_pred, names):
    """Single-label classification: accuracy, log loss, macro F1, report and confusion matrix."""
    if y_true.ndim == 2:  # one-hot labels (MixUp/CutMix datasets)
        y_true = y_true.argmax(axis=1)
    y_true, predicted = y_true.astype(int), y_pred.argmax(axis=1)
    labels = list(range(y_pred.shape[1]))
    common = dict(labels=labels, target_names=names, zero_division=0)
    matrix = sk_metrics.confusion_matrix(y_true, predicted, labels=labels)
    return {
        "metrics": {
            "accuracy": float(sk_metrics.accuracy_score(y_true, predicted)),
            "loss": float(sk_metrics.log_loss(y_true, np.clip(y_pred, 1e-7, 1.0), labels=labels)),
            "macro_f1": float(sk_metrics.f1_score(y_true, predicted, labels=labels,
                                                  average="macro", zero_division=0)),
        },
        "report": sk_metrics.classification_report(y_true, predicted, digits=4, **common),
        "report_dict": sk_metrics.classification_report(y_true, predicted, output_dict=True, **common),
        "confusion_matrix": matrix,
        "figure": confusion_matrix_figure(matrix, names),
        "y_true": y_true,
    }


def multi_label_report(y_true, y_pred, names, threshold=0.5):
    """Multi-label: micro/macro F1, Hamming loss, subset accuracy and a per-label report."""
    y_true, predicted = y_true.astype(int), (y_pred >= threshold).astype(int)
    report_dict = sk_metrics.classification_report(
        y_true, predicted, target_names=names, output_dict=True, zero_division=0
    )
    return {
        "metrics": {
            "micro_f1": float(sk_metrics.f1_score(y_true, predicted, average="micro", zero_division=0)),
            "macro_f1": float(sk_metrics.f1_score(y_true, predicted, average="macro", zero_division=0)),
            "hamming_loss": float(sk_metrics.hamming_loss(y_true, predicted)),
            "subset_accuracy": float(sk_metrics.accuracy_score(y_true, predicted)),
        },
        "report": sk_metrics.classification_report(
            y_true, predicted, target_names=names, digits=4, zero_division=0
        ),
        "report_dict": report_dict,
        "confusion_matrix": sk_metrics.multilabel_confusion_matrix(y_true, predicted),
        "figure": per_label_f1_figure(report_dict, names),
        "y_true": y_true,
    }


def regression_report(y_true, y_pred):
    """Regression: MAE, RMSE, R² and a predicted-vs-true scatter plot."""
    y_true = y_true.reshape(y_pred.shape).astype(float)
    metrics = {
        "mae": float(sk_metrics.mean_absolute_error(y_true, y_pred)),
        "rmse": float(np.sqrt(sk_metrics.mean_squared_error(y_true, y_pred))),
        "r2": float(sk_metrics.r2_score(y_true, y_pred)),
    }
    return {
        "metrics": metrics,
        "report": "\n".join(f"{name}: {value:.4f}" for name, value in metrics.items()),
        "figure": scatter_figure(y_true, y_pred),
        "y_true": y_true,
    }


def _tag_sequences(y_true, y_pred, tags, decoding="constrained"):
    """Per sentence, the true and predicted tag of each word (its first, labelled piece), the
    predicted tags decoded from the words' probabilities as ``decoding`` says (`decode_tags`)."""
    true_sequences, predicted_sequences = [], []
    for row_true, row_predicted in zip(y_true.astype(int), y_pred):
        words = row_true >= 0
        true_sequences.append([tags[t] for t in row_true[words]])
        predicted_sequences.append(decode_tags(row_predicted[words], tags, decoding))
    return true_sequences, predicted_sequences


def token_report(y_true, y_pred, tags, decoding="constrained"):
    """Token classification (NER): entity-level precision/recall/F1 (seqeval), token accuracy,
    a per-type report and figure. ``decoding``: ``"constrained"`` (the best tag sequence the
    BIO/BIOES scheme allows) or ``"argmax"`` (see `tl_suite.predict_tags`)."""
    from seqeval import metrics as seq_metrics

    true_tags, predicted_tags = _tag_sequences(y_true, y_pred, tags, decoding)
    invalid = find_invalid_sequences(true_tags, tags) if decoding == "constrained" else []
    if invalid:
        warnings.warn(
            f"The true tags of {len(invalid)} of {len(true_tags)} sentences break the "
            f"{detect_tag_scheme(tags).upper()} scheme (e.g. {true_tags[invalid[0]]}): they look "
            "like IOB1, where an entity may open with I-. Constrained decoding never predicts "
            "that; pass decoding='argmax' to score such data.", stacklevel=3)
    report_dict = seq_metrics.classification_report(
        true_tags, predicted_tags, output_dict=True, zero_division=0
    )
    types = sorted(name for name in report_dict if not name.endswith(" avg"))
    flat_true = [tag for sentence in true_tags for tag in sentence]
    flat_predicted = [tag for sentence in predicted_tags for tag in sentence]
    correct = sum(t == p for t, p in zip(flat_true, flat_predicted))
    return {
        "metrics": {
            "precision": float(seq_metrics.precision_score(true_tags, predicted_tags, zero_division=0)),
            "recall": float(seq_metrics.recall_score(true_tags, predicted_tags, zero_division=0)),
            "f1": float(seq_metrics.f1_score(true_tags, predicted_tags, zero_division=0)),
            "token_accuracy": correct / len(flat_true) if flat_true else 0.0,
        },
        "report": seq_metrics.classification_report(
            true_tags, predicted_tags, digits=4, zero_division=0
        ),
        "report_dict": report_dict,
        "true_tags": true_tags,
        "predicted_tags": predicted_tags,
        "figure": per_label_f1_figure(report_dict, types, title="Entity F1 per type"),
        "y_true": y_true,
    }


def _label_names(model, dataset, class_names):
    """``class_names``, else the model's label names, else the dataset's, else "0", "1", ..."""
    names = class_names or model.label_names
    if not names:
        info = dataset_info(dataset)
        names = info.class_names if info is not None else None
    names = [str(name) for name in names] if names else [str(i) for i in range(model.num_outputs)]
    if len(names) != model.num_outputs and model.task != "regression":
        raise ValueError(
            f"The model has {model.num_outputs} outputs but {len(names)} class names were given. "
            f"Received: class_names={names}."
        )
    return names


def evaluate(model, dataset, class_names=None, log_dir=None, threshold=0.5, step=0, verbose=True,
             decoding="constrained", baseline=None):
    """Evaluate ``model`` on ``dataset``: metrics, report and figures.

    Single-label classification gives accuracy, a scikit-learn classification report and a
    confusion matrix; multi-label gives a per-label report (at ``threshold``), micro/macro F1 and
    Hamming loss; regression gives MAE, RMSE and R² and a predicted-vs-true scatter plot; token
    classification (NER) gives entity-level precision/recall/F1 (seqeval) with a per-type table
    and figure, one tag per word (decoded as ``decoding`` says).

    With ``log_dir``, TensorBoard gets all of it in the run ``log_dir/evaluation``, every tag
    under ``test/`` (none collides with Keras' ``epoch_*`` and ``evaluation_*_vs_iterations``): the
    metrics (``test/accuracy``, ...), per-class ``test/precision|recall|f1/<class>`` (per entity
    type for taggers), the report as text (``test/report``), PR curves per class
    (``test/pr_curve/<class>``, classification and multi-label), the figure (the confusion
    matrix as row-normalised fractions with counts: ``test/confusion_matrix``) and the
    reliability diagram, and the most confident mistakes with their inputs: a grid of images
    with true / predicted labels and confidence (``test/misclassified``), a table of texts
    (``test/misclassified_texts``) or of mis-tagged sentences (``test/mistagged_sentences``).
    See `tl_suite.training.dashboards.evaluation`.

    Args:
        model: A model from a tl_suite builder (a `TransferModel`).
        dataset: `tf.data.Dataset` of ``(inputs, labels)`` batches, each seen once.
        class_names: Names of the classes/labels; defaults to ``model.label_names``, then the
            dataset's (its `DatasetInfo`), then ``"0"``, ``"1"``, ...
        log_dir: Optional TensorBoard log folder (usually the one given to `fit`); the
            results go to its run ``evaluation``.
        threshold: Decision threshold of multi-label outputs.
        step: TensorBoard step of the logged values.
        verbose: Show a progress bar while predicting.
        decoding: Token classification: ``"constrained"`` (the most likely tag sequence the
            BIO/BIOES scheme allows, as `predict_tags` does) or ``"argmax"`` (each word's most
            likely tag).
        baseline: Optional training dataset: the classical baseline (`run_baseline`: TF-IDF +
            logistic regression for text, logistic regression on pooled pixels for images,
            most frequent tag per word for NER) is trained on it, scored on ``dataset`` and
            printed beside the model's figures (``result["baseline"]``, the report); a warning
            says so when the model loses.

    Returns:
        A dict with ``"task"``, ``"metrics"`` (name → float; probability outputs also
        ``"expected_calibration_error"``, and ``"..._uncalibrated"`` for a model `calibrate`
        set a temperature on), ``"calibration_noise"`` (``{"median", "low", "high"}``: the
        error a perfectly calibrated model would show on this many predictions, 5th-95th
        percentile, `calibrated_model_ece`), ``"report"`` (text), ``"figure"`` (a matplotlib
        figure), ``"calibration_figure"`` (reliability diagram), ``"y_true"`` and ``"y_pred"``, and per task
        ``"report_dict"`` and ``"confusion_matrix"`` (classification, multi-label) or
        ``"true_tags"`` and ``"predicted_tags"`` (token classification).

    Example:
    >>> import numpy as np, tl_suite
    >>> test = tl_suite.image_dataset(images=np.zeros((6, 32, 32), "uint8"), labels=np.arange(6) % 3,
    ...                               class_names=["a", "b", "c"], shuffle=False, verbose=False)
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None)
    >>> result = tl_suite.evaluate(model, test, verbose=False)
    >>> int(result["confusion_matrix"].sum()), sorted(result["metrics"])
    (6, ['accuracy', 'expected_calibration_error', 'loss', 'macro_f1'])
    >>> "c" in result["report"]
    True
    """
    if not is_transfer_model(model):
        raise ValueError(
            "`evaluate` needs a model from a tl_suite builder (a TransferModel: it reads the "
            "model's task and label names); for other models use model.evaluate(dataset). "
            f"Received: model={type(model).__name__}."
        )
    check_decoding(decoding)
    check_tokenized(model, dataset)
    match_label_names(model, dataset)
    names = _label_names(model, dataset, class_names)
    mistakes = None if log_dir is None else Mistakes(model.task, names, threshold, decoding)
    y_true, y_pred = predict_with_labels(model, dataset, verbose=verbose,
                                         on_batch=mistakes and mistakes.observe)
    if model.task == "classification":
        result = classification_report(y_true, y_pred, names)
    elif model.task == "multi_label":
        result = multi_label_report(y_true, y_pred, names, threshold)
    elif model.task == "token_classification":
        result = token_report(y_true, y_pred, names, decoding)
    else:
        result = regression_report(y_true, y_pred)
    result.update(task=model.task, y_pred=y_pred)
    if model.task != "regression":
        _add_calibration(result, model, y_true, y_pred)
    record_evaluation(model, dataset, result["metrics"])
    if baseline is not None:
        _add_baseline(result, baseline, dataset, verbose)
    if log_dir is not None:
        log_evaluation(log_dir, model, dataset, result, names, mistakes, step=step)
    return result


def _add_calibration(result, model, y_true, y_pred):
    """The expected calibration error of the probabilities (and, for a calibrated model, of
    the same probabilities before its temperature), the reliability diagram, a report line."""
    temperature = model.temperature or 1.0
    ece = expected_calibration_error(y_true, y_pred, model.task)
    result["metrics"]["expected_calibration_error"] = ece
    line = f"Expected calibration error: {ece:.4f}"
    before = None
    if temperature != 1.0:
        before = uncalibrated(y_pred, temperature, model.task)
        result["metrics"]["expected_calibration_error_uncalibrated"] = expected_calibration_error(
            y_true, before, model.task)
        line += (f" (temperature {temperature:.3f}; "
                 f"{result['metrics']['expected_calibration_error_uncalibrated']:.4f} before it)")
    else:
        line += " (not calibrated: tl_suite.calibrate(model, validation) fits a temperature)"
    _, flat = flatten_predictions(y_true, y_pred, model.task)
    median, low, high = calibrated_model_ece(flat, draws=200)
    result["calibration_noise"] = {"median": median, "low": low, "high": high}
    line += (f"\n  a perfectly calibrated model would show {low:.4f}-{high:.4f} (median "
             f"{median:.4f}) on these {len(flat)} predictions: an error inside it cannot be "
             "told apart from perfect calibration")
    result["report"] = f"{result['report']}\n{line}"
    result["calibration_figure"] = reliability_diagram(y_true, y_pred, model.task, before=before)


def _add_baseline(result, train, test, verbose):
    """Train the classical baseline on ``train``, score it on ``test`` and put it beside the
    model's figures (``result["baseline"]``, the report); warn when the model loses."""
    reference = run_baseline(train, test)
    text, lost = compare(result["metrics"], reference, result["task"])
    result["baseline"] = {**reference, "model_lost": lost}
    result["report"] = f"{result['report']}\n\nBaseline on the same split:\n{text}"
    if verbose:
        print(text)
    if lost:
        warnings.warn(text.splitlines()[-1], stacklevel=3)
