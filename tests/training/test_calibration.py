import numpy as np
import pytest

from tl_suite.models.layers import TemperatureScaling
from tl_suite.training.calibration import (calibrated_model_ece, calibration_bins,
                                           expected_calibration_error,
                                           fit_temperature, reliability_diagram,
                                           scaled_probabilities, uncalibrated)


def _softmax(logits):
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def _overconfident(count=4000, temperature=3.0, seed=0):
    """Labels drawn from softmax(z), reported as softmax(z * temperature): over-confident by
    exactly ``temperature``."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (count, 4))
    labels = np.array([rng.choice(4, p=p) for p in _softmax(logits)])
    return labels, _softmax(logits * temperature)


def test_expected_calibration_error_by_hand():
    # two bins used: 0.9 (right 1 of 2 -> gap 0.4) and 0.6/0.8 (both right: gaps 0.4, 0.2)
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    assert expected_calibration_error([0, 1, 0, 1], probabilities) == pytest.approx(0.35)
    assert expected_calibration_error([0, 0], np.array([[1.0, 0.0], [1.0, 0.0]])) == 0.0
    count, confidence, accuracy = calibration_bins([0, 1, 0, 1], probabilities, bins=10)
    assert count.tolist() == [0, 0, 0, 0, 0, 0, 1, 0, 1, 2]
    assert accuracy[9] == 0.5 and confidence[9] == pytest.approx(0.9)


def test_multi_label_and_token_predictions_are_flattened():
    # multi-label: every output is a yes/no prediction
    assert expected_calibration_error(np.array([[1, 0]]), np.array([[0.9, 0.2]]), "multi_label") == pytest.approx(0.15)
    # tokens: -1 (unlabelled pieces) do not count
    tags = np.array([[0, 1, -1]])
    probabilities = np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]])
    assert expected_calibration_error(tags, probabilities, "token_classification") == 0.0


def test_the_fitted_temperature_undoes_a_known_over_confidence():
    labels, probabilities = _overconfident(temperature=3.0)
    temperature = fit_temperature(labels, probabilities)
    assert temperature == pytest.approx(3.0, rel=0.1)
    calibrated = scaled_probabilities(probabilities, temperature)
    assert expected_calibration_error(labels, calibrated) < expected_calibration_error(labels, probabilities) / 3
    assert (calibrated.argmax(axis=1) == probabilities.argmax(axis=1)).all()  # labels unchanged


def test_the_layer_and_the_numpy_scaling_agree_and_invert():
    probabilities = _softmax(np.random.default_rng(1).normal(0, 2, (5, 3))).astype("float32")
    layer = TemperatureScaling("softmax")
    np.testing.assert_array_equal(layer(probabilities), probabilities)  # T = 1: unchanged
    layer.set_temperature(2.5)
    scaled = np.asarray(layer(probabilities))
    np.testing.assert_allclose(scaled, scaled_probabilities(probabilities, 2.5), rtol=1e-5)
    np.testing.assert_allclose(uncalibrated(scaled, 2.5), probabilities, rtol=1e-4)
    sigmoid = TemperatureScaling("sigmoid")
    sigmoid.set_temperature(2.0)
    p = np.array([[0.9, 0.5, 0.1]], "float32")
    expected = 1 / (1 + np.exp(-np.log(p / (1 - p)) / 2.0))
    np.testing.assert_allclose(sigmoid(p), expected, rtol=1e-5)
    np.testing.assert_allclose(uncalibrated(np.asarray(sigmoid(p)), 2.0, "multi_label"), p, rtol=1e-4)


def test_reliability_diagram_draws_bars_per_used_bin():
    labels, probabilities = _overconfident(count=500)
    figure = reliability_diagram(labels, scaled_probabilities(probabilities, 3.0), before=probabilities)
    axis = figure.axes[0]
    legend = sorted(text.get_text() for text in axis.get_legend().get_texts())
    assert legend[0].startswith("after calibration (ECE") and legend[1].startswith("before calibration (ECE")
    assert legend[2] == "perfect calibration"
    heights = [patch.get_height() for patch in axis.patches]
    assert heights and all(0 <= h <= 1 for h in heights)


def test_calibrated_model_ece_is_the_sampling_noise_of_an_honest_model():
    rng = np.random.default_rng(1)
    probabilities = rng.dirichlet([0.3, 0.3, 0.3], size=300)
    median, low, high = calibrated_model_ece(probabilities, draws=300)
    assert 0 < low < median < high < 0.15
    # an honest model's measured errors fall inside the range about 90% of the time
    inside = []
    for _ in range(100):
        labels = np.array([rng.choice(3, p=p) for p in probabilities])
        inside.append(low <= expected_calibration_error(labels, probabilities) <= high)
    assert 0.8 <= np.mean(inside) <= 0.97
    # more examples, less noise; yes/no probabilities work too
    assert calibrated_model_ece(np.tile(probabilities, (10, 1)), draws=100)[0] < median / 2
    binary = calibrated_model_ece(np.full(500, 0.9), draws=200)
    assert 0 < binary[1] < binary[0] < binary[2] < 0.06
    # an overconfident model's error lies far above its range
    labels = np.array([rng.choice(3, p=p) for p in probabilities])
    overconfident = scaled_probabilities(probabilities, 0.3)
    assert expected_calibration_error(labels, overconfident) > calibrated_model_ece(overconfident, draws=200)[2]


def test_no_wrong_prediction_gives_temperature_one():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]])
    assert fit_temperature([0, 1, 2], probabilities) == 1.0  # the loss only falls toward T = 0
    assert 0.05 < fit_temperature([0, 1, 0], probabilities) != 1.0  # one mistake: fitted
    assert fit_temperature(np.array([[1, 0]]), np.array([[0.8, 0.3]]), "multi_label") == 1.0
