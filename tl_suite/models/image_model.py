"""Image models: a frozen pretrained CNN (BatchNorm in inference mode) + pooling + new head."""

import keras

from tl_suite import backbones
from tl_suite.models.task import TransferModel
from tl_suite.validation import check_choice, check_dropout

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

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling}


def _check_image_arguments(task, pooling, num_classes, dropout):
    check_choice("task", task, IMAGE_TASKS)
    check_choice("pooling", pooling, ("avg", "max"))
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(
            "`num_classes` must be a positive integer (number of classes, labels or regression "
            f"outputs), or give `class_names`. Received: num_classes={num_classes!r}."
        )
    if task == "classification" and num_classes < 2:
        raise ValueError(
            "Single-label classification needs at least 2 classes; for one yes/no label use "
            f"task='multi_label'. Received: num_classes={num_classes}."
        )
    check_dropout(dropout)


def _num_outputs(num_classes, class_names):
    if class_names is None:
        return num_classes
    if num_classes is not None and num_classes != len(class_names):
        raise ValueError(
            f"`num_classes` and `class_names` disagree. Received: num_classes={num_classes}, "
            f"class_names={list(class_names)} ({len(class_names)} names)."
        )
    return len(class_names)


def build_image_classifier(
    backbone="efficientnet_lite0",
    num_classes=None,
    task="classification",
    class_names=None,
    weights="imagenet",
    image_size=None,
    pooling="avg",
    dropout=0.2,
    hidden_units=(),
    hidden_activation="relu",
    learning_rate=1e-3,
    seed=None,
    jit_compile="auto",
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
        class_names: Names of the outputs, saved with the model (``fit`` also takes them from
            the training dataset when not given here).
        weights: ``"imagenet"``, a path to a weights file for the base, or ``None`` (random).
        image_size: ``(height, width)`` to resize to; defaults to the backbone's input size.
        pooling: ``"avg"`` or ``"max"`` global pooling of the feature map.
        dropout: Dropout rate before each dense layer of the head (0 disables it).
        hidden_units: Sizes of optional hidden dense layers, e.g. ``(256,)``.
        hidden_activation: Activation of the hidden layers.
        learning_rate: Adam learning rate of the compiled model.
        seed: Seed for the head's initial weights (reproducible heads).
        jit_compile: Passed to ``compile`` (``"auto"``: Keras decides; XLA on CPU is slower here).

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
    num_classes = _num_outputs(num_classes, class_names)
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

