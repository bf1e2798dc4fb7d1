"""Tiny data of every kind the command line reads, a tiny BERT saved as a local keras-hub
preset folder (a text backbone `--backbone` reaches offline), and models trained once by
`tl-suite train` for the evaluate / predict / export tests."""

import contextlib
import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from tl_suite.cli import main

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film", "great",
              "awful", "plot", "anna", "lives", "in", "paris", "london", "is", "rainy", "big"]
REVIEWS = [("good film", "pos", 4.5), ("great plot", "pos", 5.0), ("bad film", "neg", 1.0),
           ("awful plot", "neg", 1.5)] * 4
SENTENCES = [[("Anna", "B-per"), ("lives", "O"), ("in", "O"), ("Paris", "B-loc")],
             [("London", "B-loc"), ("is", "O"), ("rainy", "O")],
             [("Paris", "B-loc"), ("is", "O"), ("big", "O")]] * 4
CLASSES = ["blue", "green", "red"]
TINY_IMAGE = ["--backbone", "tiny_efficientnet_lite", "--weights", "none"]


def run_cli(*args):
    """``main(args)`` -> ``(exit code, stdout, stderr)``, outside pytest's per-test capture
    (for session fixtures)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(arg) for arg in args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """``photos/`` (3 class folders of 6 coloured PNGs), ``reviews.csv`` (review, sentiment,
    stars), ``ratings.jsonl`` (text, numeric label), ``ner.conll`` and ``tinybert/``."""
    root = tmp_path_factory.mktemp("cli_data")
    rng = np.random.default_rng(0)
    for channel, name in enumerate(["red", "green", "blue"]):
        (root / "photos" / name).mkdir(parents=True)
        for index in range(6):
            pixels = rng.integers(0, 60, (20, 20, 3)).astype("uint8")
            pixels[:, :, channel] = 220
            Image.fromarray(pixels).save(root / "photos" / name / f"{index}.png")
    with open(root / "reviews.csv", "w", newline="") as file:
        csv.writer(file).writerows([("review", "sentiment", "stars"), *REVIEWS])
    with open(root / "ratings.jsonl", "w") as file:
        file.writelines(json.dumps({"text": text, "label": stars}) + "\n"
                        for text, _, stars in REVIEWS)
    with open(root / "ner.conll", "w") as file:
        file.writelines("".join(f"{word}\t{tag}\n" for word, tag in sentence) + "\n"
                        for sentence in SENTENCES)
    _save_tiny_bert(root / "tinybert")
    return root


def _save_tiny_bert(folder):
    import keras_hub

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(VOCABULARY), num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=32)
    backbone.save_to_preset(str(folder))
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCABULARY, lowercase=True)
    tokenizer.save_to_preset(str(folder))


@pytest.fixture(scope="session")
def tiny_text(data_dir):
    """Flags of a tiny text backbone (the local preset folder)."""
    return ["--backbone", data_dir / "tinybert", "--sequence-length", "16"]


@pytest.fixture(scope="session")
def trained_image(data_dir, tmp_path_factory):
    """``tl-suite train photos/``: ``{"model", "log_dir", "code", "out", "err"}``."""
    folder = tmp_path_factory.mktemp("image_run")
    model, log_dir = folder / "photos.keras", folder / "logs"
    code, out, err = run_cli("train", data_dir / "photos", *TINY_IMAGE, "--epochs", "3",
                             "--learning-rate", "0.05", "--output", model, "--log-dir", log_dir)
    return dict(model=model, log_dir=log_dir, code=code, out=out, err=err)


@pytest.fixture(scope="session")
def trained_text(data_dir, tiny_text, tmp_path_factory):
    """``tl-suite train reviews.csv`` (a text classifier on the tiny BERT folder)."""
    folder = tmp_path_factory.mktemp("text_run")
    model, log_dir = folder / "reviews.keras", folder / "logs"
    code, out, err = run_cli("train", data_dir / "reviews.csv", *tiny_text, "--epochs", "2",
                             "--text-column", "review", "--label-column", "sentiment",
                             "--output", model, "--log-dir", log_dir)
    return dict(model=model, log_dir=log_dir, code=code, out=out, err=err)


@pytest.fixture(scope="session")
def trained_tagger(data_dir, tiny_text, tmp_path_factory):
    """``tl-suite train ner.conll`` (a token classifier on the tiny BERT folder)."""
    folder = tmp_path_factory.mktemp("tagger_run")
    model, log_dir = folder / "tagger.keras", folder / "logs"
    code, out, err = run_cli("train", data_dir / "ner.conll", *tiny_text, "--epochs", "2",
                             "--output", model, "--log-dir", log_dir, "--quiet")
    return dict(model=model, log_dir=log_dir, code=code, out=out, err=err)


def error_lines(stderr):
    """The lines of ``stderr`` that are not TensorFlow's own start-up logging (absl/glog
    lines such as ``I0000 00:00:...`` that `import tensorflow` writes before any tl_suite code
    runs, and which no environment variable silences)."""
    return [line for line in stderr.splitlines()
            if line.strip() and not line.startswith("WARNING: All log messages before absl")
            and not (len(line) > 5 and line[0] in "IWEF" and line[1:5].isdigit())]


@pytest.fixture
def cli(capsys):
    """``cli(*args)`` -> ``(exit code, stdout, stderr)`` of ``main(args)`` in this process."""
    def run(*args):
        code = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path

