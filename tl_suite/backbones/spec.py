"""`BackboneSpec`: what tl_suite needs to know about an image backbone.

A spec owns the base's weights source, its preprocessing (input size and scaling) and its layer
groups, so a dataset, a model and fine-tuning that name the same backbone cannot disagree.
"""

import dataclasses
import re
import warnings
from typing import Callable, Optional, Sequence, Tuple, Union

import keras

from tl_suite.preprocessing.image import ImagePreprocessor

Number = Union[float, Sequence[float]]


def group_by_prefix(layer_name):
    """Group of a layer named ``"<group>_..."`` (EfficientNet-Lite's ``stem``/``block3``/
    ``top``, ResNet50's ``conv1``...``conv5``, EfficientNetB0's ``block1a``...)."""
    return layer_name.split("_")[0]


def group_by_block_number(layer_name):
    """MobileNetV2-style names: ``block_<n>_...`` -> ``block_<n>``; ``expanded_conv_*`` and the
    first convolution -> ``stem``; the last convolution -> ``top``."""
    match = re.match(r"block_(\d+)_", layer_name)
    if match:
        return f"block_{match.group(1)}"
    return "top" if layer_name in ("Conv_1", "Conv_1_bn") else "stem"


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """An image backbone.

    Attributes:
        name: Registry name.
        input_size: ``(height, width)`` images are resized to.
        feature_dim: Channels of the feature map the base returns.
        description: One line for `list_backbones`.
        weights_source: Where ``weights="imagenet"`` comes from.
        make_base: ``make_base(weights, input_shape)`` returns the headless base `keras.Model`
            (``weights``: ``"imagenet"``, a weights file path, or None for random).
        scale, offset: The base's input scaling ``x * scale + offset`` of RGB pixels in
            [0, 255] (per channel or scalar; None: none).
        bgr: The base takes BGR (Caffe-style, e.g. ResNet50).
        group_of: ``group_of(layer_name)`` names the block a base layer belongs to; blocks are
            the units `unfreeze`/`fine_tune` open and give learning rates to.
        offline_weights: Whether ``weights="imagenet"`` works without internet.
        test_only: Tiny random spec for fast tests.
        make_preprocessing: Deprecated: a function returning Keras layers that scale float RGB
            in [0, 255] for the base (use ``scale``/``offset``/``bgr``); still applied.

    Example:
    >>> import keras, tl_suite
    >>> def tiny_base(weights, input_shape):
    ...     inputs = keras.Input(input_shape)
    ...     x = keras.layers.Conv2D(4, 3, name="stem_conv")(inputs)
    ...     return keras.Model(inputs, keras.layers.Conv2D(8, 1, name="top_conv")(x))
    >>> spec = tl_suite.register_backbone(tl_suite.BackboneSpec(
    ...     name="my_tiny_net", input_size=(16, 16), feature_dim=8, description="demo",
    ...     weights_source="none", make_base=tiny_base, scale=1 / 255, test_only=True))
    >>> model = tl_suite.build_image_classifier("my_tiny_net", num_classes=2, weights=None)
    >>> [name for name, _ in model.layer_groups]
    ['stem', 'top']
    """

    name: str
    input_size: Tuple[int, int]
    feature_dim: int
    description: str
    weights_source: str
    make_base: Callable[[Optional[str], tuple], keras.Model]
    scale: Optional[Number] = None
    offset: Optional[Number] = None
    bgr: bool = False
    group_of: Callable[[str], str] = group_by_prefix
    offline_weights: bool = False
    test_only: bool = False
    kind: str = "image"
    make_preprocessing: Optional[Callable[[], list]] = None

    def __post_init__(self):
        if self.make_preprocessing is not None:
            warnings.warn(
                "BackboneSpec(make_preprocessing=...) is deprecated: give the base's input "
                "scaling as scale=..., offset=... (and bgr=True for Caffe-style bases). Its "
                "layers still run after resizing, inside model.preprocessor.",
                DeprecationWarning, stacklevel=3,
            )

    def make_preprocessor(self, image_size=None):
        """The `ImagePreprocessor` of this backbone (resize to ``image_size`` or the input
        size, then this spec's scaling)."""
        extra = self.make_preprocessing() if self.make_preprocessing is not None else None
        return ImagePreprocessor(image_size or self.input_size, scale=self.scale,
                                 offset=self.offset, bgr=self.bgr, layers=extra)

    def layer_groups(self, base):
        """``[(group, [layer names])]`` of ``base``'s layers with weights, stem first."""
        groups = []
        for layer in base.layers:
            if not layer.weights:
                continue
            key = self.group_of(layer.name)
            if groups and groups[-1][0] == key:
                groups[-1][1].append(layer.name)
            elif any(name == key for name, _ in groups):
                raise ValueError(
                    f"Backbone {self.name!r}: group_of puts layer {layer.name!r} in group {key!r}, "
                    "which already ended lower in the base. Groups must be consecutive runs of "
                    f"layers, stem first: fix `group_of`. Received: group_of={self.group_of!r}."
                )
            else:
                groups.append((key, [layer.name]))
        return groups
