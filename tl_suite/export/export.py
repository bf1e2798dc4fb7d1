"""`export`: one call from a trained model to a deployable artifact and its model card."""

from tl_suite.export.model_card import write_model_card
from tl_suite.export.outputs import DEFAULT_THRESHOLD
from tl_suite.export.saved_model import export_saved_model, resolve_text_pairs
from tl_suite.validation import check_choice

FORMATS = ("saved_model", "tflite")


def _check_format_arguments(format, quantization, representative_data, threshold, text_pairs):
    check_choice("format", format, FORMATS)
    if format == "saved_model" and (quantization is not None or representative_data is not None):
        given = "quantization" if quantization is not None else "representative_data"
        value = quantization if quantization is not None else "<data>"
        raise ValueError(
            f"`{given}` applies to format='tflite' only (a SavedModel keeps float32 weights). "
            f"Pass format='tflite' or drop it. Received: {given}={value!r}, format='saved_model'."
        )
    if format == "tflite" and (threshold != DEFAULT_THRESHOLD or text_pairs is not None):
        given, value = (("threshold", threshold) if threshold != DEFAULT_THRESHOLD
                        else ("text_pairs", text_pairs))
        raise ValueError(
            f"`{given}` shapes the SavedModel's serving signature; a TFLite file returns the raw "
            "outputs. Use format='saved_model' or drop it. "
            f"Received: {given}={value!r}, format='tflite'."
        )


def export(model, path, format="saved_model", quantization=None, representative_data=None,
           threshold=DEFAULT_THRESHOLD, text_pairs=None, model_card=True):
    """Export ``model`` for serving, with its preprocessing and labels inside, and write its
    ``MODEL_CARD.md``.

    ``format="saved_model"`` writes a TensorFlow SavedModel folder whose ``serving_default``
    signature takes what a client has and returns labels (see `export_saved_model`). Inputs
    are batches of strings: ``images`` (encoded JPEG/PNG/GIF/BMP/WebP bytes), ``texts`` (and
    ``second_texts`` for text pairs) or ``sentences`` (token classifiers, split on whitespace).
    Outputs, each with the batch as its first axis:

    - classification: ``label``, ``probability``, ``probabilities`` and ``label_names`` (N, K);
    - multi-label: ``labels`` (N, K: the names at or above ``threshold``, then ``""``),
      ``probabilities``, ``label_names``;
    - regression: ``values``, ``value_names``;
    - token classification: ``tags`` and ``words`` (N, most words; padded with ``""``),
      ``num_words``.

    It loads with ``tf.saved_model.load(path)`` in a process that imports only ``tensorflow``
    (text models: also ``import tensorflow_text``, whose ops the tokenizer uses), and serves
    with TF Serving (``tensorflow_model_server --rest_api_port=8501 --model_name=NAME
    --model_base_path=/abs/models/NAME``, with the export in ``/abs/models/NAME/1``)::

        POST http://host:8501/v1/models/NAME:predict
        {"signature_name": "serving_default", "instances": [{"images": {"b64": "<base64 JPEG>"}}]}
        {"signature_name": "serving_default", "instances": [{"texts": "A text."}]}
        {"signature_name": "serving_default", "instances": [{"texts": "A", "second_texts": "B"}]}
        {"signature_name": "serving_default", "inputs": {"sentences": ["Paris is big"]}}

    answered ``{"predictions": [{"label": ..., "probability": ..., ...}]}`` (row format,
    ``"instances"``) or ``{"outputs": {"label": [...], ...}}`` (columnar, ``"inputs"``).

    ``format="tflite"`` writes a LiteRT / TFLite file (see `tl_suite.export.tflite`).

    ``MODEL_CARD.md`` (task, labels, backbone and its weights' licence, training data, held-out
    metrics with split and seed, calibration, intended inputs, limits, the REST request) goes
    inside a SavedModel folder (TF Serving ignores it) and beside a TFLite file (one card per
    folder: give each variant its own folder to keep each card).

    Args:
        model: A model from a tl_suite builder (trained; `fit`, `evaluate` and `calibrate`
            fill in what its card says).
        path: The SavedModel folder (for TF Serving ``<base>/<version>``) or the ``.tflite`` file.
        format: ``"saved_model"`` or ``"tflite"``.
        quantization: TFLite only, see `tl_suite.export.tflite`.
        representative_data: TFLite only (full-integer quantization), see there.
        threshold: Multi-label decision threshold of the ``labels`` output (SavedModel).
        text_pairs: Text models: take ``texts`` and ``second_texts`` (SavedModel); None: as
            the model's card says it was trained, else single texts.
        model_card: Also write ``MODEL_CARD.md``.

    Returns:
        The path of the artifact written.

    Example:
    >>> import os, tempfile, numpy as np, tl_suite
    >>> from tl_suite.export import export
    >>> model = tl_suite.build_image_classifier(
    ...     "tiny_efficientnet_lite", class_names=["cat", "dog"], weights=None)
    >>> folder = export(model, os.path.join(tempfile.mkdtemp(), "pets", "1"))
    >>> sorted(name for name in os.listdir(folder) if not name.startswith("fingerprint"))
    ['MODEL_CARD.md', 'assets', 'saved_model.pb', 'variables']
    >>> import tensorflow as tf, io
    >>> from PIL import Image
    >>> png = io.BytesIO()
    >>> Image.fromarray(np.zeros((20, 30, 3), "uint8")).save(png, "PNG")
    >>> served = tf.saved_model.load(folder).signatures["serving_default"]
    >>> served(images=tf.constant([png.getvalue()]))["label_names"].numpy().tolist()
    [[b'cat', b'dog']]
    """
    _check_format_arguments(format, quantization, representative_data, threshold, text_pairs)
    if format == "tflite":
        from tl_suite.export.tflite import export_tflite  # the TFLite converter loads on demand

        artifact = export_tflite(model, path, quantization=quantization,
                                 representative_data=representative_data)
        text_pairs = False
    else:
        artifact = export_saved_model(model, path, text_pairs=text_pairs, threshold=threshold)
        text_pairs = resolve_text_pairs(model, text_pairs)
    if model_card:
        write_model_card(model, artifact, format=format, quantization=quantization,
                         text_pairs=text_pairs, threshold=threshold)
    return artifact
