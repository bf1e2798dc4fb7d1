"""Text models saved before the one-model contract (commit 6b6db71: tiny random BERT, saved
with that commit's tl_suite) still load, predict the same and join the contract."""

import pathlib

import numpy as np

import tl_suite

LEGACY = pathlib.Path(__file__).resolve().parent / "legacy"


def test_old_text_classifier_loads_with_equal_predictions_and_the_new_contract():
    model = tl_suite.load_model(LEGACY / "text_classifier_6b6db71.keras")
    assert isinstance(model, tl_suite.TransferModel) and model.task == "classification"
    expected = np.load(LEGACY / "text_classifier_6b6db71_predictions.npy")
    np.testing.assert_allclose(model.predict(["good bad", "bad"], verbose=0), expected, atol=1e-6)
    row, = tl_suite.predict(model, "good")
    assert row["label"] in ("0", "1") and abs(sum(row["top_probabilities"]) - 1) < 1e-5


def test_old_token_classifier_keeps_its_tags():
    model = tl_suite.load_model(LEGACY / "token_classifier_6b6db71.keras")
    assert model.tag_names == ["O", "B-x"]
    row, = tl_suite.predict(model, "good bad")
    assert row["words"] == ["good", "bad"] and set(row["tags"]) <= {"O", "B-x"}
