"""`calibrate`: fit the temperature of a model's probabilities on validation data and set it
inside the model (see `calibration` for the measures: expected calibration error, reliability
diagram, the temperature fit)."""

import os
import warnings

import tensorflow as tf

from tl_suite.training.calibration import (count_mistakes, expected_calibration_error,
                                           fit_temperature, flatten_predictions, log_loss,
                                           reliability_diagram, scaled_probabilities,
                                           temperature_layer)
from tl_suite.training.card_facts import data_fingerprint
from tl_suite.training.evaluate import predict_with_labels
from tl_suite.training.figures import log_figure


def calibrate(model, validation, verbose=True, log_dir=None, bins=15):
    """Fit the temperature of ``model``'s probabilities on ``validation`` data (temperature
    scaling), set it inside the model (saved and exported with it) and return what changed.

    Labels and accuracy stay the same; the probabilities become honest. Use data the model
    did not train on and `fit` did not stop early on: a model chosen for its validation loss
    looks better on that split than on new data, and a temperature fitted there sharpens too
    much (calibrating on it warns). Set a calibration part aside before making the datasets:
    some of the arrays / texts, or a folder of its own, made into a dataset like the
    validation split. Calibrating again starts from the uncalibrated model. `evaluate` then
    reports the expected calibration error with and without it.

    Args:
        model: A tl_suite classifier, multi-label model or token classifier.
        validation: `tf.data.Dataset` of ``(inputs, labels)`` batches.
        verbose: Print the temperature and the error before/after.
        log_dir: Optional TensorBoard folder: the reliability diagram and the scalars go to
            ``log_dir/calibration`` (tags ``calibration/...``).
        bins: Confidence bins of the expected calibration error.

    Returns:
        ``{"temperature", "ece_before", "ece_after", "log_loss_before", "log_loss_after",
        "examples", "early_stopping_data", "figure"}`` (``early_stopping_data``: whether
        ``validation`` was `fit`'s early-stopping data; ``figure``: the reliability diagram
        before/after).

    Example:
    >>> import numpy as np, tl_suite
    >>> data = tl_suite.image_dataset(images=np.random.default_rng(0).integers(0, 255, (12, 32, 32)),
    ...                               labels=np.arange(12) % 2, verbose=False)
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> result = tl_suite.calibrate(model, data, verbose=False)
    >>> model.temperature == round(result["temperature"], 6), result["ece_after"] <= result["ece_before"] + 1e-9
    (True, True)
    """
    layer = _checked_layer(model)
    early_stopping_data = _is_early_stopping_data(model, validation)
    layer.set_temperature(1.0)
    y_true, probabilities = predict_with_labels(model, validation, verbose=verbose)
    temperature = fit_temperature(y_true, probabilities, model.task)
    _warn_if_no_mistakes(y_true, probabilities, model.task)
    layer.set_temperature(temperature)
    result = _calibration_result(y_true, probabilities, temperature, model.task, bins)
    result["early_stopping_data"] = early_stopping_data
    model.card = {**model.card, "calibration": {k: v for k, v in result.items() if k != "figure"}}
    if verbose:
        print(f"Temperature {temperature:.3f}: expected calibration error "
              f"{result['ece_before']:.4f} -> {result['ece_after']:.4f}, log loss "
              f"{result['log_loss_before']:.4f} -> {result['log_loss_after']:.4f} "
              f"({result['examples']} validation predictions).")
    if log_dir is not None:
        _log_calibration(log_dir, result)
    return result


def _is_early_stopping_data(model, validation):
    """Whether ``validation`` is the data `fit` chose the epoch on (recorded in the card);
    warns, since the temperature then comes out too low (too sharp) for new data."""
    recorded = (getattr(model, "card", None) or {}).get("training", {}).get("validation_data")
    given = data_fingerprint(validation) if isinstance(validation, tf.data.Dataset) else None
    if not recorded or recorded != given:
        return False
    warnings.warn(
        "`calibrate` got the validation data `fit` used for early stopping: the model was "
        "chosen for doing well on it, so the temperature fitted there tends to be too low "
        "(over-sharp) for new data. Hold out a separate calibration split (see "
        "`tl_suite.calibrate`'s docstring). Received: validation with "
        f"{given['examples']} examples, split {given['split']}.", stacklevel=3)
    return True


def _warn_if_no_mistakes(y_true, probabilities, task):
    labels, flat = flatten_predictions(y_true, probabilities, task)
    if not count_mistakes(labels, flat):
        warnings.warn(
            "`calibrate` found no wrong prediction in the validation data, so it cannot tell "
            "how sure the model should be (the fitted temperature would go to 0, infinitely "
            "sure); the temperature stays 1. Calibrate on more held-out examples. Received: "
            f"validation with {len(labels)} predictions, all right.", stacklevel=3)


def _checked_layer(model):
    layer = temperature_layer(model) if hasattr(model, "head") else None
    if layer is None:
        raise ValueError(
            "`calibrate` needs a tl_suite model with probability outputs (a classifier, "
            "multi-label model or token classifier); regression outputs have no temperature. "
            f"Received: model={getattr(model, 'name', type(model).__name__)!r} "
            f"(task={getattr(model, 'task', None)!r})."
        )
    return layer


def _calibration_result(y_true, probabilities, temperature, task, bins):
    labels, flat = flatten_predictions(y_true, probabilities, task)
    after = scaled_probabilities(flat, temperature)
    return {
        "temperature": temperature,
        "ece_before": expected_calibration_error(y_true, probabilities, task, bins),
        "ece_after": expected_calibration_error(labels, after, "flat", bins),
        "log_loss_before": log_loss(labels, flat),
        "log_loss_after": log_loss(labels, after),
        "examples": int(len(labels)),
        "figure": reliability_diagram(labels, after, "flat", bins, before=flat),
    }


def _log_calibration(log_dir, result):
    """The validation reliability diagram and the temperature / errors, in ``log_dir/calibration``."""
    log_figure(log_dir, "calibration/reliability_diagram", result["figure"], run="calibration")
    writer = tf.summary.create_file_writer(os.path.join(log_dir, "calibration"))
    with writer.as_default():
        for name in ("temperature", "ece_before", "ece_after"):
            tf.summary.scalar(f"calibration/{name}", result[name], step=0)
    writer.close()
