"""`tl-suite predict`: one row per input (CSV or JSON lines) to stdout or a file."""

import csv
import io
import json

from tests.cli.conftest import CLASSES, error_lines


def _csv_rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_predict_image_folder_and_file_to_stdout_csv(cli, trained_image, data_dir):
    photo = data_dir / "photos" / "red" / "0.png"
    code, out, err = cli("predict", trained_image["model"], data_dir / "photos" / "blue", photo,
                         "--top-k", "2")
    assert code == 0, err
    rows = _csv_rows(out)
    assert [row["input"] for row in rows] == [
        *[str(data_dir / "photos" / "blue" / f"{i}.png") for i in range(6)], str(photo)]
    assert list(rows[0]) == ["input", "label", "probability", "top_labels", "top_probabilities"]
    for row in rows:
        assert row["label"] in CLASSES and len(row["top_labels"].split("|")) == 2
        assert 0 < float(row["probability"]) <= 1


def test_predict_csv_column_to_a_jsonl_file(cli, trained_text, data_dir, tmp_path):
    output = tmp_path / "out" / "predictions.jsonl"
    code, out, err = cli("predict", trained_text["model"], data_dir / "reviews.csv",
                         "--text-column", "review", "--output", output)
    assert code == 0, err
    assert out == "" and "Wrote 16 predictions" in err
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["input"] for row in rows[:2]] == [f"{data_dir / 'reviews.csv'}:2",
                                                  f"{data_dir / 'reviews.csv'}:3"]
    assert all(row["label"] in ("neg", "pos") for row in rows)
    assert abs(sum(rows[0]["top_probabilities"]) - 1) < 1e-4


def test_predict_texts_from_stdin(cli, trained_text, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("good film\n\nawful plot\n"))
    code, out, err = cli("predict", trained_text["model"], "-", "--format", "jsonl")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["input"] for row in rows] == ["stdin:1", "stdin:3"]


def test_predict_tags_of_a_conll_file(cli, trained_tagger, data_dir):
    code, out, err = cli("predict", trained_tagger["model"], data_dir / "ner.conll")
    assert code == 0, err
    rows = _csv_rows(out)
    assert len(rows) == 12 and rows[0]["words"] == "Anna|lives|in|Paris"
    assert len(rows[0]["tags"].split("|")) == 4


def test_predict_refuses_stdin_for_an_image_model(cli, trained_image):
    code, out, err = cli("predict", trained_image["model"], "-")
    lines = error_lines(err)
    assert code == 2 and len(lines) == 1 and out == ""
    assert lines[0].startswith("tl-suite predict: error: Image models read image files")
