import keras
import numpy as np
import pytest

import tl_suite


def _split(tiny_arrays):
    images, labels = tiny_arrays
    return tl_suite.image_dataset(images=images, labels=labels, class_names=["red", "green", "blue"],
                                  validation_split=0.5, subset="both", batch_size=8, seed=2,
                                  shuffle=False, verbose=False)


def _overconfident_model(make_model, train, tmp_path):
    model = make_model(seed=1, learning_rate=0.05, dropout=0.0)
    tl_suite.fit(model, train, epochs=30, log_dir=str(tmp_path / "fit"), verbose=0,
                 early_stopping_patience=None)
    return model


def test_calibrate_sets_a_temperature_that_lowers_the_error_and_keeps_labels(
        make_model, tiny_arrays, tmp_path):
    train, validation = _split(tiny_arrays)
    model = _overconfident_model(make_model, train, tmp_path)
    assert model.temperature == 1.0
    before = tl_suite.evaluate(model, validation, verbose=False)
    result = tl_suite.calibrate(model, validation, verbose=False, log_dir=str(tmp_path / "logs"))
    assert model.temperature == pytest.approx(result["temperature"], rel=1e-5) and result["temperature"] != 1.0
    assert result["ece_after"] <= result["ece_before"] and result["log_loss_after"] <= result["log_loss_before"]
    assert result["ece_before"] == pytest.approx(before["metrics"]["expected_calibration_error"], abs=1e-6)
    after = tl_suite.evaluate(model, validation, verbose=False)
    assert (after["y_pred"].argmax(1) == before["y_pred"].argmax(1)).all()  # same labels
    metrics = after["metrics"]
    assert metrics["expected_calibration_error"] == pytest.approx(result["ece_after"], abs=1e-5)
    assert metrics["expected_calibration_error_uncalibrated"] == pytest.approx(result["ece_before"], abs=1e-5)
    assert "before it" in after["report"]
    assert model.card["calibration"]["temperature"] == result["temperature"]


def test_the_temperature_is_saved_with_the_model(make_model, tiny_arrays, tmp_path):
    train, validation = _split(tiny_arrays)
    model = _overconfident_model(make_model, train, tmp_path)
    tl_suite.calibrate(model, validation, verbose=False)
    images = tiny_arrays[0][:4]
    expected = model.predict(images, verbose=0)
    model.save(tmp_path / "calibrated.keras")
    reloaded = keras.saving.load_model(tmp_path / "calibrated.keras")
    assert reloaded.temperature == model.temperature
    assert reloaded.card["calibration"] == model.card["calibration"]
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_calibrating_again_starts_from_the_uncalibrated_model(make_model, tiny_arrays, tmp_path):
    train, validation = _split(tiny_arrays)
    model = _overconfident_model(make_model, train, tmp_path)
    first = tl_suite.calibrate(model, validation, verbose=False)["temperature"]
    assert tl_suite.calibrate(model, validation, verbose=False)["temperature"] == pytest.approx(first, rel=1e-4)


def test_regression_models_are_refused(text_spec):
    model = tl_suite.build_text_regressor(text_spec, weights=None, wide_tokens=None)
    assert model.temperature is None
    with pytest.raises(ValueError, match="regression outputs have no temperature"):
        tl_suite.calibrate(model, None)
