"""The backbone registry: names -> specs (image specs registered, text resolved on demand)."""

import os

from tl_suite.backbones import text
from tl_suite.backbones.spec import BackboneSpec

_REGISTRY = {}


def register_backbone(spec):
    """Add a `BackboneSpec` (or `TextBackboneSpec`) to the registry, replacing a spec of the
    same name; returns it. See `BackboneSpec` for a complete example.

    Example:
    >>> import dataclasses, tl_suite
    >>> spec = dataclasses.replace(tl_suite.get_backbone("tiny_efficientnet_lite"), name="my_net")
    >>> tl_suite.register_backbone(spec).name in tl_suite.list_backbones(include_test_only=True)
    True
    """
    if not isinstance(spec, (BackboneSpec, text.TextBackboneSpec)):
        raise ValueError(
            "`spec` must be a tl_suite.BackboneSpec (image) or a TextBackboneSpec. "
            f"Received: spec={spec!r}."
        )
    _REGISTRY[spec.name] = spec
    return spec


def list_backbones(kind=None, include_test_only=False):
    """Return the names of the registered backbones.

    Text backbones also accept any keras-hub BERT-family preset name (online) and any local
    keras-hub or Hugging Face BERT folder; those are not listed.

    Args:
        kind: ``"image"``, ``"text"`` or None for both.
        include_test_only: Also list tiny random test backbones.

    Example:
    >>> import tl_suite
    >>> tl_suite.list_backbones("text")
    ['minilm_l6']
    >>> "efficientnet_lite0" in tl_suite.list_backbones("image")
    True
    """
    if kind not in (None, "image", "text"):
        raise ValueError(f"`kind` must be 'image', 'text' or None. Received: kind={kind!r}.")
    specs = list(_REGISTRY.values()) + [text.MINILM_L6]
    return sorted({
        spec.name for spec in specs
        if (include_test_only or not spec.test_only) and kind in (None, spec.kind)
    })


def get_backbone(name):
    """Return the spec of an image or text backbone.

    ``name`` is a registered name, a spec, or (text) a keras-hub preset name or a local folder.

    Example:
    >>> import tl_suite
    >>> tl_suite.get_backbone("efficientnet_lite0").input_size
    (224, 224)
    >>> tl_suite.get_backbone("minilm_l6").pooling
    'mean'
    """
    if isinstance(name, (BackboneSpec, text.TextBackboneSpec)):
        return name
    if isinstance(name, str) and name in _REGISTRY:
        return _REGISTRY[name]
    text_spec = text.resolve(name)
    if text_spec is not None:
        return text_spec
    raise ValueError(
        f"Unknown backbone. Choose one of {list_backbones(include_test_only=True)}, a keras-hub "
        f"BERT preset name or a local model folder. Received: backbone={name!r}."
    )


_KIND_HINT = {
    "image": lambda: f"image models need one of {list_backbones('image')}",
    "text": lambda: "text models need 'minilm_l6', a keras-hub BERT preset or a local BERT folder",
}


def get_backbone_of_kind(name, kind):
    """`get_backbone` for ``kind`` (``"image"`` or ``"text"``) models: another kind is an error."""
    spec = get_backbone(name)
    if spec.kind != kind:
        article = "an" if spec.kind == "image" else "a"
        raise ValueError(
            f"{spec.name!r} is {article} {spec.kind} backbone; {_KIND_HINT[kind]()}. "
            f"Received: backbone={name!r}."
        )
    return spec


def get_image_backbone(name):
    """`get_backbone` for image models: a text backbone is an error."""
    return get_backbone_of_kind(name, "image")


def get_text_backbone(name):
    """`get_backbone` for text models: an image backbone is an error."""
    return get_backbone_of_kind(name, "text")


def build_base(spec, weights="imagenet", input_shape=None):
    """Build the headless base of image ``spec`` with ``weights`` ("imagenet", a file or None)."""
    spec = get_image_backbone(spec)
    if input_shape is None:
        input_shape = (*spec.input_size, 3)
    if weights is not None and weights != "imagenet" and not os.path.exists(weights):
        raise FileNotFoundError(
            f"Weights file not found. Pass an existing `.weights.h5`/`.h5` file, "
            f"weights='imagenet' or weights=None. Received: weights={weights!r}."
        )
    if spec.test_only and weights == "imagenet":
        raise ValueError(
            f"Backbone {spec.name!r} is a tiny random test model with no pretrained weights. "
            f"Use weights=None. Received: weights={weights!r}."
        )
    return spec.make_base(weights, input_shape)
