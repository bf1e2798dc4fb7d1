"""Calibrated probabilities: temperature scaling, expected calibration error, reliability diagram.

`calibrate` (in `calibrate.py`) fits and sets the temperature; this module measures.

A network's confidence is often not its accuracy (a head trained to a low loss says 0.99 where
it is right 90% of the time). Temperature scaling (Guo et al., 2017) divides the logits by one
number ``T`` fitted on validation data by log loss: the ranking — and so the labels and the
accuracy — stays, the probabilities become honest. The temperature lives in the model's head
(`TemperatureScaling`), so it is saved and exported with the model.
"""

import numpy as np
from matplotlib.figure import Figure
from scipy.optimize import minimize_scalar

from tl_suite.models.layers import TemperatureScaling

_CALIBRATED_TASKS = ("classification", "multi_label", "token_classification")


def flatten_predictions(y_true, probabilities, task):
    """``(labels, probabilities)`` as examples x outputs: tokens flattened, unlabelled (-1)
    tokens dropped, multi-label outputs as independent yes/no predictions."""
    y_true, probabilities = np.asarray(y_true), np.asarray(probabilities, dtype=np.float64)
    if task == "token_classification":
        keep = y_true.reshape(-1) >= 0
        return y_true.reshape(-1)[keep].astype(int), probabilities.reshape(-1, probabilities.shape[-1])[keep]
    if task == "multi_label":
        return y_true.reshape(-1).astype(int), probabilities.reshape(-1)
    if y_true.ndim == 2 and probabilities.ndim == 2:  # one-hot (or mixed) labels
        y_true = y_true.argmax(axis=1)
    return y_true.reshape(-1).astype(int), probabilities


def _confidence_and_correct(labels, probabilities):
    if probabilities.ndim == 1:  # yes/no outputs
        predicted = probabilities >= 0.5
        return np.where(predicted, probabilities, 1 - probabilities), predicted == labels.astype(bool)
    return probabilities.max(axis=1), probabilities.argmax(axis=1) == labels


def count_mistakes(labels, probabilities):
    """How many predictions of flattened ``probabilities`` (see `flatten_predictions`) are
    wrong: top class other than the label, or yes/no decisions at 0.5 that differ."""
    return int((~_confidence_and_correct(labels, probabilities)[1]).sum())


def calibration_bins(y_true, probabilities, task="classification", bins=15):
    """Per confidence bin (``bins`` equal widths over [0, 1]): ``(count, mean confidence,
    accuracy)`` arrays; empty bins have count 0."""
    labels, probabilities = flatten_predictions(y_true, probabilities, task)
    confidence, correct = _confidence_and_correct(labels, probabilities)
    index = np.clip((confidence * bins).astype(int), 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, confidence, minlength=bins) / count
        accuracy = np.bincount(index, correct.astype(float), minlength=bins) / count
    return count, np.nan_to_num(mean_confidence), np.nan_to_num(accuracy)


def expected_calibration_error(y_true, probabilities, task="classification", bins=15):
    """Expected calibration error: the mean gap between confidence and accuracy over
    ``bins`` confidence bins, weighted by how many predictions fall in each (0 = honest).

    Example:
    >>> import numpy as np
    >>> probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    >>> round(expected_calibration_error([0, 1, 0, 1], probabilities), 4)  # says 0.9, right half the time
    0.35
    """
    count, confidence, accuracy = calibration_bins(y_true, probabilities, task, bins)
    return float(np.sum(count * np.abs(confidence - accuracy)) / max(count.sum(), 1))


def calibrated_model_ece(probabilities, bins=15, draws=1000, seed=0):
    """The expected calibration error a perfectly calibrated model giving these
    ``probabilities`` (examples x classes, or 1-D yes/no probabilities, as `flatten_predictions`
    gives them) would still show on this many examples: ``(median, 5th percentile, 95th
    percentile)`` over ``draws`` label sets drawn from the probabilities themselves.

    A measured error inside that range cannot be told apart from perfect calibration: on a few
    hundred examples of a model right 98% of the time the range reaches about 0.01.

    Example:
    >>> import numpy as np
    >>> probabilities = np.tile([[0.98, 0.01, 0.01]], (400, 1))
    >>> median, low, high = calibrated_model_ece(probabilities)  # says 0.98 on 400 examples
    >>> round(median, 3), round(high, 4)  # right on 392 of them: 0; on 397: 0.0125
    (0.005, 0.0125)
    """
    flat = np.asarray(probabilities, dtype=np.float64)
    # The error only asks whether each top label is right; for a calibrated model that is a
    # coin with the prediction's confidence, so each draw is one coin per prediction.
    confidence = np.maximum(flat, 1 - flat) if flat.ndim == 1 else flat.max(axis=1)
    index = np.clip((confidence * bins).astype(int), 0, bins - 1)
    confidence_sums = np.bincount(index, confidence, minlength=bins)
    rng = np.random.default_rng(seed)
    errors = [np.abs(confidence_sums - np.bincount(index, rng.random(len(flat)) < confidence,
                                                   minlength=bins)).sum() / max(len(flat), 1)
              for _ in range(draws)]
    return tuple(float(v) for v in np.percentile(errors, [50, 5, 95]))


def scaled_probabilities(probabilities, temperature):
    """Probabilities rescaled by ``temperature`` (as `TemperatureScaling` does)."""
    p = np.clip(probabilities, 1e-37, 1.0)
    if probabilities.ndim == 1:
        p = np.clip(p, 1e-7, 1 - 1e-7)
        return 1.0 / (1.0 + np.exp(-(np.log(p) - np.log1p(-p)) / temperature))
    logits = np.log(p) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def log_loss(labels, probabilities):
    if probabilities.ndim == 1:
        p = np.clip(probabilities, 1e-12, 1 - 1e-12)
        return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))
    return float(-np.mean(np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1))))


def fit_temperature(y_true, probabilities, task="classification"):
    """The temperature (in [0.05, 20]) that minimises the log loss of ``probabilities``
    (uncalibrated, i.e. at temperature 1) on ``y_true``; 1 when no prediction is wrong (the
    loss then only falls as the temperature goes to 0, infinitely sure: the data says
    nothing about how sure the model should be).

    Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 2, 2000)
    >>> right = rng.random(2000) < 0.8  # right 80% of the time, but says 0.99
    >>> predicted = np.where(right, labels, 1 - labels)
    >>> probabilities = np.where(predicted[:, None] == [0, 1], 0.99, 0.01)
    >>> bool(fit_temperature(labels, probabilities) > 2)  # softened
    True
    """
    labels, probabilities = flatten_predictions(y_true, probabilities, task)
    if not count_mistakes(labels, probabilities):
        return 1.0  # log loss falls all the way to T -> 0: nothing to calibrate against
    best = minimize_scalar(lambda log_t: log_loss(labels, scaled_probabilities(probabilities, np.exp(log_t))),
                           bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(best.x))


def uncalibrated(probabilities, temperature, task="classification"):
    """The probabilities the model gave before its ``temperature`` was set (inverse scaling)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if temperature == 1.0:
        return probabilities
    if task == "multi_label":
        return scaled_probabilities(probabilities.reshape(-1), 1.0 / temperature).reshape(probabilities.shape)
    flat = probabilities.reshape(-1, probabilities.shape[-1])
    return scaled_probabilities(flat, 1.0 / temperature).reshape(probabilities.shape)


def reliability_diagram(y_true, probabilities, task="classification", bins=15, before=None,
                        title="Reliability diagram"):
    """A matplotlib figure: accuracy per confidence bin against the diagonal of perfect
    calibration, with the expected calibration error; ``before`` (uncalibrated
    probabilities) adds their bars for comparison.

    Example:
    >>> import numpy as np
    >>> figure = reliability_diagram([0, 1, 1], np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]))
    >>> figure.axes[0].get_xlabel()
    'Confidence'
    """
    figure = Figure(figsize=(5.5, 5))
    axis = figure.add_subplot()
    width = 1.0 / bins
    centres = (np.arange(bins) + 0.5) * width
    series = [("before calibration", before, "lightgray")] if before is not None else []
    series.append(("after calibration" if before is not None else "model", probabilities, "tab:blue"))
    for label, values, colour in series:
        count, _, accuracy = calibration_bins(y_true, values, task, bins)
        ece = expected_calibration_error(y_true, values, task, bins)
        shown = count > 0
        axis.bar(centres[shown], accuracy[shown], width=width * 0.9, color=colour, alpha=0.8,
                 edgecolor="black", label=f"{label} (ECE {ece:.3f})")
    axis.plot([0, 1], [0, 1], "--", color="black", label="perfect calibration")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_xlabel("Confidence")
    axis.set_ylabel("Accuracy")
    axis.set_title(title)
    axis.legend(loc="upper left")
    figure.tight_layout()
    return figure


def temperature_layer(model):
    """The `TemperatureScaling` layer of tl_suite ``model``'s head, or None (regression)."""
    for layer in model.head.layers:
        if isinstance(layer, TemperatureScaling):
            return layer
    return None
