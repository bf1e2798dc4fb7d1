"""`tl-suite train`: image folders, CSV, JSONL and CoNLL files -> saved models, logs, reports."""

import os

import numpy as np
import pytest

import tl_suite
from tl_suite.cli import train as train_module
from tests.cli.conftest import CLASSES, TINY_IMAGE, error_lines


def test_train_image_folder_saves_the_model_logs_and_prints_the_validation_report(trained_image):
    assert trained_image["code"] == 0, trained_image["err"]
    out = trained_image["out"]
    assert "Read " in out and "18 images used in 3 classes" in out      # the data report
    assert "Epoch 3/3" in out                                           # Keras progress
    assert "Validation split (4 examples" in out and "accuracy" in out  # the report
    model = tl_suite.load_model(trained_image["model"])
    assert model.class_names == CLASSES and model.task == "classification"
    runs = os.listdir(trained_image["log_dir"])
    assert runs == ["run-001"]
    run_files = os.listdir(trained_image["log_dir"] / "run-001")
    assert {"train", "validation", "evaluation", "best.keras"} <= set(run_files)  # TensorBoard


def test_train_csv_columns_gives_a_text_classifier(trained_text):
    assert trained_text["code"] == 0, trained_text["err"]
    assert "Read " in trained_text["out"] and "16 examples used in 2 classes" in trained_text["out"]
    model = tl_suite.load_model(trained_text["model"])
    assert model.class_names == ["neg", "pos"] and model.task == "classification"


def test_train_conll_file_gives_a_tagger_quietly(trained_tagger):
    assert trained_tagger["code"] == 0, trained_tagger["err"]
    assert "Epoch" not in trained_tagger["out"]                          # --quiet
    assert "Validation split" in trained_tagger["out"]
    model = tl_suite.load_model(trained_tagger["model"])
    assert model.task == "token_classification"
    assert sorted(model.tag_names) == ["B-loc", "B-per", "O"]


def test_train_jsonl_numbers_gives_a_regressor_without_a_split(cli, data_dir, tiny_text, in_tmp):
    code, out, err = cli("train", data_dir / "ratings.jsonl", *tiny_text, "--epochs", "1",
                         "--validation-split", "0", "--quiet")
    assert code == 0, err
    assert "Validation split" not in out and "Saved the model to model.keras" in out
    model = tl_suite.load_model(in_tmp / "model.keras")
    assert model.task == "regression" and model.label_names == ["label"]


def test_fine_tune_epochs_unfreeze_the_base_after_the_head(cli, data_dir, in_tmp):
    code, out, err = cli("train", data_dir / "photos", *TINY_IMAGE, "--epochs", "1",
                         "--fine-tune-epochs", "1", "--output", "tuned.keras", "--calibrate",
                         "--batch-size", "2")  # 4 validation images: 2 batches, one calibrates
    assert code == 0, err
    assert "Stage 2" in out and "Epoch 2/2" in out
    model = tl_suite.load_model(in_tmp / "tuned.keras")
    assert model.temperature is not None and "early stopping" not in err
    assert model.card["calibration"]["examples"] == 2 and not model.card["calibration"]["early_stopping_data"]
    assert model.card["training"]["validation_examples"] == 2


def test_calibration_part_alternates_validation_batches():
    validation = tl_suite.image_dataset(images=np.zeros((7, 4, 4), "uint8"), labels=np.arange(7),
                                        class_names=[str(i) for i in range(7)], batch_size=2,
                                        shuffle=False, verbose=False)
    early_stopping, calibration = train_module._calibration_part(validation)
    seen = [[int(label) for _, labels in part for label in labels]
            for part in (early_stopping, calibration)]
    assert seen == [[0, 1, 4, 5], [2, 3, 6]]  # batches 0 and 2 / 1 and 3: disjoint, all seven
    assert (early_stopping.num_examples, calibration.num_examples) == (4, 3)
    assert tl_suite.dataset_info(calibration).split["subset"] == "validation (calibration)"


@pytest.mark.parametrize("arguments, message", [
    (["missing/"], "No such file or folder. Received: data='missing/'."),
    (["{photos}", "--task", "regression"], "trains classification models"),
    (["{photos}", "--backbone", "tiny_efficientnet_lite"], "Use --weights none"),
    (["{photos}", "--backbone", "minilm_l6"], "needs an image backbone"),
    (["{photos}", "--backbone", "no_such_net"], "Unknown backbone"),
    (["{photos}", "--output", "model.h5"], "--output must be a .keras file"),
    (["{photos}", "--validation-split", "0", "--calibrate"], "--calibrate fits the temperature"),
    (["{photos}", "--epochs", "0"], "argument --epochs: must be an integer >= 1"),
    (["{photos}", "--validation-split", "1.5"], "argument --validation-split: must be a number"),
    (["{reviews}", "--backbone", "{bert}", "--text-column", "body"], "has no column(s) ['body'"),
])
def test_bad_arguments_are_one_line_errors_with_exit_code_2(cli, data_dir, in_tmp, arguments,
                                                           message):
    paths = dict(photos=data_dir / "photos", reviews=data_dir / "reviews.csv",
                 bert=data_dir / "tinybert")
    code, out, err = cli("train", *[argument.format(**paths) for argument in arguments])
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("tl-suite train: error: ") and message in lines[0]
    assert not os.path.exists(in_tmp / "model.keras")
