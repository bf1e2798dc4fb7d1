"""The TF Serving REST request for an exported model (its ``serving_default`` signature).

TF Serving's REST API (``POST http://host:8501/v1/models/NAME:predict``) takes inputs in row
format (``"instances"``: one object per example, named inputs) or columnar format
(``"inputs"``: one list per named input). Binary strings such as image bytes travel as
``{"b64": "<base64>"}``. A row-format request is answered with ``{"predictions": [one object
of named outputs per example]}``, a columnar one with ``{"outputs": {name: list}}``.
"""

import json

from tl_suite.export.saved_model import SIGNATURE_NAME, model_kind, signature_inputs

_EXAMPLE_VALUES = {
    "images": {"b64": "<base64 of the JPEG or PNG file>"},
    "texts": "The text to classify.",
    "second_texts": "The second text of the pair.",
    "sentences": "Paris is big",
}


def rest_request(model, text_pairs=False):
    """The JSON body of a row-format predict request for one example of ``model``'s kind.

    Example:
    >>> import tl_suite
    >>> model = tl_suite.build_image_classifier(
    ...     "tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> print(rest_request(model))  # doctest: +NORMALIZE_WHITESPACE
    {"signature_name": "serving_default",
     "instances": [{"images": {"b64": "<base64 of the JPEG or PNG file>"}}]}
    """
    instance = {name: _EXAMPLE_VALUES[name] for name in signature_inputs(model, text_pairs)}
    return json.dumps({"signature_name": SIGNATURE_NAME, "instances": [instance]})


def curl_command(model, text_pairs=False, name="my_model"):
    """A ``curl`` line that sends `rest_request` to TF Serving on localhost."""
    body = rest_request(model, text_pairs)
    if model_kind(model) == "image":  # the real bytes, encoded by the shell
        body = body.replace('"<base64 of the JPEG or PNG file>"', '"\'"$(base64 -w0 image.jpg)"\'"')
    return f"curl -d '{body}' -X POST http://localhost:8501/v1/models/{name}:predict"
