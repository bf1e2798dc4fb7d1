"""Image models: a frozen pretrained CNN (BatchNorm in inference mode) + pooling + new head."""

import keras
import numpy as np
import tensorflow as tf

from tl_suite import backbones
from tl_suite.models.task import TransferModel
from tl_suite.validation import check_choice, check_dropout, label_count

IMAGE_TASKS = ("classification", "multi_label", "regression")


@keras.saving.register_keras_serializable(package="tl_suite")
class ImageModel(TransferModel):
    """An image backbone, global pooling and a dense head (see `build_image_classifier`).

    The model's inputs are preprocessed images (``model.preprocessor`` resizes and scales raw
    pixels, inside ``fit``/``evaluate``/``predict``); the base always runs with
    ``training=False``, so BatchNorm stays in inference mode even after `unfreeze`.
    """

    def __init__(self, backbone, preprocessor, num_outputs, task="classification", pooling="avg",
                 **kwargs):
        height, width = preprocessor.target_size
        inputs = keras.Input(shape=(height, width, 3), name="images")
        feature_map = backbone(inputs, training=False)
        pool_layer = (keras.layers.GlobalAveragePooling2D(name="pool") if pooling == "avg"
                      else keras.layers.GlobalMaxPooling2D(name="pool"))
        super().__init__(backbone, preprocessor, inputs, pool_layer(feature_map), num_outputs,
                         task, **kwargs)
        self.pooling = pooling

    def __call__(self, *args, **kwargs):
        inputs = args[0] if args else kwargs.get("inputs")
        if getattr(inputs, "dtype", None) in ("uint8", np.uint8, tf.uint8):
            raise ValueError(
                "Calling an image model directly, e.g. `model(x)`, takes preprocessed images, "
                "but received raw uint8 pixels. Use `model.predict(x)` / `tl_suite.predict(model, "
                "x)` (they preprocess), or `model(model.prepare(x)[0])`. Received: a uint8 batch "
                f"of shape {tuple(inputs.shape)}."
            )
        return super().__call__(*args, **kwargs)

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling}


def _check_image_arguments(task, pooling, num_classes, dropout):
    check_choice("task", task, IMAGE_TASKS)
    check_choice("pooling", pooling, ("avg", "max"))
    if task == "classification" and num_classes < 2:
        raise ValueError(
            "Single-label classification needs at least 2 classes; for one yes/no label use "
            f"task='multi_label'. Received: num_classes={num_classes}."
        )
    check_dropout(dropout)


def build_image_classifier(
    backbone="efficientnet_lite0",
    num_classes=None,
    task="classification",
    weights="imagenet",
    image_size=None,
    pooling="avg",
    dropout=0.2,
    hidden_units=(),
    hidden_activation="relu",
    learning_rate=1e-3,
    seed=None,
    jit_compile="auto",
    class_names=None,
):
    """Build a compiled image model: raw images in, predictions out.

    ``model.preprocessor`` turns raw pixels (uint8 or float in [0, 255], gray, RGB or RGBA, any
    size) into what the base takes: resize with a center crop to the aspect ratio, then the
    backbone spec's scaling. `tl_suite.predict(model, ...)` also takes file paths, PIL images
    and lists of images of mixed sizes, and returns label names.

    Args:
        backbone: A name from `list_backbones("image")` or a `BackboneSpec`.
        num_classes: Number of classes (``"classification"``), of labels (``"multi_label"``) or
            of regression outputs (``"regression"``); optional when ``class_names`` is given.
        task: ``"classification"`` (softmax), ``"multi_label"`` (sigmoid per label) or
            ``"regression"`` (linear outputs).
        weights: ``"imagenet"``, a path to a weights file for the base, or ``None`` (random).
        image_size: ``(height, width)`` to resize to; defaults to the backbone's input size.
        pooling: ``"avg"`` or ``"max"`` global pooling of the feature map.
        dropout: Dropout rate before each dense layer of the head (0 disables it).
        hidden_units: Sizes of optional hidden dense layers, e.g. ``(256,)``.
        hidden_activation: Activation of the hidden layers.
        learning_rate: Adam learning rate of the compiled model.
        seed: Seed for the head's initial weights (reproducible heads).
        jit_compile: Passed to ``compile`` (``"auto"``: Keras decides; XLA on CPU is slower here).
        class_names: Names of the outputs, saved with the model (``fit`` also takes them from
            the training dataset when not given here).

    Returns:
        A compiled `ImageModel` (a `TransferModel`): ``model.backbone``, ``model.preprocessor``,
        ``model.head``, ``model.task``, ``model.class_names``, ``model.layer_groups``.

    Example:
    >>> import numpy as np, tl_suite
    >>> model = tl_suite.build_image_classifier(
    ...     "tiny_efficientnet_lite", class_names=["cat", "dog", "fox"], weights=None)
    >>> model.predict(np.zeros((2, 50, 40, 3), "uint8"), verbose=0).shape
    (2, 3)
    >>> model.task, model.class_names
    ('classification', ['cat', 'dog', 'fox'])
    """
    num_classes = label_count("num_classes", num_classes, class_names, 1)
    _check_image_arguments(task, pooling, num_classes, dropout)
    spec = backbones.get_image_backbone(backbone)
    preprocessor = spec.make_preprocessor(image_size)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    base = backbones.build_base(spec, weights=weights, input_shape=(*preprocessor.target_size, 3))
    base.name = "backbone"
    base.trainable = False
    model = ImageModel(
        base, preprocessor, num_classes, task=task, pooling=pooling, label_names=class_names,
        dropout=dropout, hidden_units=hidden_units, hidden_activation=hidden_activation,
        learning_rate=learning_rate, backbone_name=spec.name,
        layer_groups=spec.layer_groups(base), name=f"{spec.name}_{task}",
    )
    model.compile(jit_compile=jit_compile)
    return model

