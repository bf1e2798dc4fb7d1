import os
import warnings

import keras
import numpy as np
import pytest

import tl_suite


def _split(tiny_arrays):
    """Every fifth label is wrong, so a head trained to a low loss is over-confident and makes
    mistakes on the validation half (nothing to calibrate against without them)."""
    images, labels = tiny_arrays
    labels = np.where(np.arange(len(labels)) % 5 == 0, (labels + 1) % 3, labels)
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


def test_calibrating_on_the_early_stopping_data_warns_and_the_card_says_so(make_model, tiny_arrays,
                                                                            tmp_path):
    train, validation = _split(tiny_arrays)
    model = make_model(seed=1)
    tl_suite.fit(model, train, validation, epochs=2, log_dir=str(tmp_path / "fit"), verbose=0)
    with pytest.warns(UserWarning, match="used for early stopping.*separate calibration split"):
        result = tl_suite.calibrate(model, validation, verbose=False)
    assert result["early_stopping_data"] and model.card["calibration"]["early_stopping_data"]
    path = tl_suite.export(model, str(tmp_path / "exported"))
    card = open(os.path.join(path, "MODEL_CARD.md")).read()
    assert "Fitted on the validation data training stopped early on" in card

    images, labels = tiny_arrays  # a part fit never saw: no warning
    held_out = tl_suite.image_dataset(images=images[::-1], labels=labels[::-1], verbose=False,
                                      class_names=["red", "green", "blue"], shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not tl_suite.calibrate(model, held_out, verbose=False)["early_stopping_data"]


def test_no_wrong_prediction_leaves_the_temperature_at_one_with_a_warning(make_model, tiny_arrays,
                                                                          tmp_path):
    train, _ = _split(tiny_arrays)
    model = _overconfident_model(make_model, train, tmp_path)
    images, _ = tiny_arrays
    unlabelled = tl_suite.image_dataset(images=images, labels=np.arange(len(images)) % 3,
                                        shuffle=False, verbose=False)
    predicted = tl_suite.evaluate(model, unlabelled, verbose=False)["y_pred"].argmax(1)
    all_right = tl_suite.image_dataset(images=images, labels=predicted, class_names=["0", "1", "2"],
                                       shuffle=False, verbose=False)  # labels = its own answers
    with pytest.warns(UserWarning, match="no wrong prediction"):
        result = tl_suite.calibrate(model, all_right, verbose=False)
    assert result["temperature"] == 1.0 and model.temperature == 1.0
