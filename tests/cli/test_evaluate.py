"""`tl-suite evaluate`: a saved model's report on data read as `train` reads it."""

import os

from tests.cli.conftest import error_lines


def test_evaluate_the_validation_split_train_held_out(cli, trained_image, data_dir, tmp_path):
    code, out, err = cli("evaluate", trained_image["model"], data_dir / "photos",
                         "--validation-split", "0.2", "--log-dir", tmp_path / "eval")
    assert code == 0, err
    assert "on 4 examples" in out and "(validation split 0.2, seed 1337)" in out
    # the same held-out images, hence the same per-class table as the one train printed
    table = [line for line in out.splitlines() if line.strip().startswith(("blue", "accuracy"))]
    assert len(table) == 2 and all(line in trained_image["out"].splitlines() for line in table)
    assert os.listdir(tmp_path / "eval" / "evaluation")  # TensorBoard event file


def test_evaluate_text_and_tagger_on_whole_files(cli, trained_text, trained_tagger, data_dir):
    code, out, err = cli("evaluate", trained_text["model"], data_dir / "reviews.csv",
                         "--text-column", "review", "--label-column", "sentiment", "--quiet")
    assert code == 0, err
    assert "on 16 examples" in out and "neg" in out and "pos" in out
    code, out, err = cli("evaluate", trained_tagger["model"], data_dir / "ner.conll", "--quiet")
    assert code == 0, err
    assert "token_classification model" in out and "loc" in out and "per" in out


def test_evaluate_refuses_data_of_another_kind(cli, trained_image, data_dir):
    code, out, err = cli("evaluate", trained_image["model"], data_dir / "reviews.csv")
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1, err
    assert "This is an image model" in lines[0] and "reviews.csv holds text data" in lines[0]
