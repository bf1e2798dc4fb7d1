"""A TensorFlow SavedModel that takes what a client has and returns labels.

The serving signature holds the model's whole path from raw inputs: image decoding and the
model's own resizing and scaling, or its tokenizer (and the TF-IDF vocabulary of a wide
branch), then the network (with its calibration temperature), then the label map. It loads
with ``tf.saved_model.load`` in a process that imports only ``tensorflow`` (and
``tensorflow_text`` for text models, whose tokenizer runs its ops) and serves with TF Serving.
"""

import keras
import tensorflow as tf

from tl_suite.export.image_bytes import decode_images
from tl_suite.export.outputs import DEFAULT_THRESHOLD, task_outputs
from tl_suite.export.tagging import tag_sentences
from tl_suite.models.task import TransferModel
from tl_suite.preprocessing.image import ImagePreprocessor
from tl_suite.preprocessing.tokens import TokenClassifierPreprocessor
from tl_suite.preprocessing.windows import WindowedTextPreprocessor

SIGNATURE_NAME = "serving_default"
_OUTPUTS = {
    "classification": ("label", "probability", "probabilities", "label_names"),
    "multi_label": ("labels", "probabilities", "label_names"),
    "regression": ("values", "value_names"),
    "token_classification": ("tags", "words", "num_words"),
}


def model_kind(model):
    """``"image"``, ``"text"`` or ``"tokens"``: what the model's preprocessor reads."""
    if isinstance(model.preprocessor, ImagePreprocessor):
        return "image"
    if isinstance(model.preprocessor, TokenClassifierPreprocessor):
        return "tokens"
    return "text"


def resolve_text_pairs(model, text_pairs):
    """Whether the signature takes text pairs: ``text_pairs``, or when None what the model's
    card says its training data were (``card["training"]["text_pairs"]``), else False."""
    if text_pairs is None:
        training = (getattr(model, "card", None) or {}).get("training") or {}
        text_pairs = bool(training.get("text_pairs", False))
    if not isinstance(text_pairs, bool):
        raise ValueError(f"`text_pairs` must be True, False or None (from the model's card). "
                         f"Received: text_pairs={text_pairs!r}.")
    windowed = isinstance(model.preprocessor, WindowedTextPreprocessor)
    if text_pairs and (model_kind(model) != "text" or windowed):
        raise ValueError(
            "Only text classifiers and regressors built with max_windows=1 read text pairs; "
            f"pass text_pairs=False. Received: text_pairs=True for a {model.task} model "
            f"({type(model.preprocessor).__name__})."
        )
    return text_pairs


def signature_inputs(model, text_pairs=False):
    """The serving signature's input names (all strings of shape ``(None,)``)."""
    kind = model_kind(model)
    if kind == "image":
        return ["images"]
    if kind == "tokens":
        return ["sentences"]
    return ["texts", "second_texts"] if text_pairs else ["texts"]


def signature_outputs(model):
    """The serving signature's output names (each with the batch as its first axis)."""
    return list(_OUTPUTS[model.task])


def serving_function(model, text_pairs=False, threshold=DEFAULT_THRESHOLD):
    """The function the signature runs: raw string tensors (see `signature_inputs`) ->
    named outputs (see `signature_outputs`)."""
    kind, preprocessor = model_kind(model), model.preprocessor
    if kind == "tokens":
        return lambda sentences: tag_sentences(model, sentences)

    def predict(x):
        return task_outputs(model, model(x, training=False), threshold)

    if kind == "image":
        return lambda images: predict(preprocessor(decode_images(images, preprocessor.target_size)))
    if text_pairs:
        return lambda texts, second_texts: predict(preprocessor((texts, second_texts), y=None))
    return lambda texts: predict(preprocessor(texts))


def _check_model(model, threshold):
    if not isinstance(model, TransferModel):
        raise ValueError(
            "`export` needs a model from a tl_suite builder (or tl_suite.load_model); for "
            f"other Keras models use model.export(path). Received: model={type(model).__name__}."
        )
    if not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
        raise ValueError(f"`threshold` must be in (0, 1). Received: threshold={threshold!r}.")


def export_saved_model(model, path, text_pairs=None, threshold=DEFAULT_THRESHOLD):
    """Write ``model`` as a SavedModel whose ``serving_default`` signature takes raw inputs.

    Signature (inputs are string tensors of shape ``(None,)``; outputs keep the batch axis):

    - image models: ``images`` (encoded JPEG/PNG/GIF/BMP/WebP bytes; first frame, alpha on
      white, resized and scaled as the model does);
    - text models: ``texts`` (and ``second_texts`` for pair models);
    - token classifiers: ``sentences`` (split on whitespace).

    Outputs: classification ``label``, ``probability``, ``probabilities`` ``(N, K)``,
    ``label_names`` ``(N, K)``; multi-label ``labels`` ``(N, K)`` (names at or above
    ``threshold``, then ``""``), ``probabilities``, ``label_names``; regression ``values``,
    ``value_names``; token classification ``tags`` and ``words`` ``(N, most words)`` (padded
    with ``""``) and ``num_words``. Tags are decoded in the graph as `tl_suite.predict`
    decodes them (constrained BIO/BIOES Viterbi, windows of whole words).

    Args:
        model: A model from a tl_suite builder.
        path: Folder to write (TF Serving wants ``<base>/<version>``, e.g. ``models/news/1``).
        text_pairs: Take ``(texts, second_texts)``; None: what the model's card says.
        threshold: Multi-label decision threshold of ``labels``.

    Returns:
        ``path``.
    """
    _check_model(model, threshold)
    text_pairs = resolve_text_pairs(model, text_pairs)
    specs = [tf.TensorSpec([None], tf.string, name=name)
             for name in signature_inputs(model, text_pairs)]
    archive = keras.export.ExportArchive()
    archive.track(model)  # tracks the preprocessor's lookup tables (TF-IDF vocabulary) too
    archive.add_endpoint(SIGNATURE_NAME, serving_function(model, text_pairs, threshold),
                         input_signature=specs)
    archive.write_out(str(path), verbose=False)
    return str(path)
