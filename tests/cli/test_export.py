"""`tl-suite export`: a SavedModel (and a TFLite file) with labels and the model card."""

import os

import pytest

pytest.importorskip("tl_suite.export", reason="tl_suite.export (the exporter) is not installed")


def test_export_saved_model_serves_labels_and_carries_the_run_s_metrics(cli, trained_image,
                                                                         data_dir, tmp_path):
    import tensorflow as tf

    folder = tmp_path / "serving" / "photos" / "1"
    code, out, err = cli("export", trained_image["model"], folder)
    assert code == 0, err
    assert f"as saved_model to {folder}" in out
    assert {"saved_model.pb", "variables", "MODEL_CARD.md"} <= set(os.listdir(folder))
    served = tf.saved_model.load(str(folder)).signatures["serving_default"]
    png = (data_dir / "photos" / "red" / "0.png").read_bytes()
    outputs = served(images=tf.constant([png]))
    assert outputs["label_names"].numpy()[0].tolist() == [b"blue", b"green", b"red"]
    card = (folder / "MODEL_CARD.md").read_text()
    # train evaluated the validation split before saving: the card has those figures
    accuracy = next(line for line in trained_image["out"].splitlines()
                    if line.strip().startswith("accuracy")).split()[1]
    assert f"| accuracy | {accuracy} |" in card


def test_export_int8_tflite_reads_the_representative_data(cli, trained_image, data_dir, tmp_path):
    path = tmp_path / "photos.tflite"
    code, out, err = cli("export", trained_image["model"], path, "--quantization", "int8",
                         "--representative-data", data_dir / "photos")
    assert code == 0, err
    assert "as tflite to" in out and path.stat().st_size > 0
