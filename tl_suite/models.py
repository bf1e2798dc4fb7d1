"""Builders: pretrained base (frozen, BatchNorm in inference mode) + new dense head."""

import contextlib

import keras

from tl_suite import backbones

TASKS = ("classification", "multi_label", "regression")
_HEAD_ACTIVATION = {"classification": "softmax", "multi_label": "sigmoid", "regression": None}


def _check_choice(argument, value, choices):
    if value not in choices:
        raise ValueError(
            f"Unknown `{argument}`. Choose one of {list(choices)}. Received: {argument}={value!r}."
        )


def _compile_arguments(task, num_outputs):
    if task == "classification":
        return {
            "loss": "sparse_categorical_crossentropy",
            "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        }
    if task == "multi_label":
        return {
            "loss": "binary_crossentropy",
            "metrics": [
                keras.metrics.BinaryAccuracy(name="binary_accuracy"),
                keras.metrics.AUC(multi_label=True, num_labels=num_outputs, name="auc"),
            ],
        }
    return {
        "loss": "mean_squared_error",
        "metrics": [
            keras.metrics.MeanAbsoluteError(name="mae"),
            keras.metrics.RootMeanSquaredError(name="rmse"),
        ],
    }


def build_head(input_shape, num_outputs, task="classification", dropout=0.2, hidden_units=(),
               hidden_activation="relu", name="head"):
    """The new head: dropout, optional hidden dense layers, output dense.

    It is its own `keras.Model` (layer ``"head"`` of the full model) and takes the pooled
    features, so `fit` can train it alone on features the frozen base computed once.
    """
    features = keras.Input(shape=input_shape, name="features")
    x = features
    for index, units in enumerate(hidden_units):
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"hidden{index}_dropout")(x)
        x = keras.layers.Dense(units, activation=hidden_activation, name=f"hidden{index}")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(
        num_outputs, activation=_HEAD_ACTIVATION[task], dtype="float32", name="predictions"
    )(x)
    return keras.Model(features, outputs, name=name)


def head_inputs(model):
    """The tensors of ``model``'s graph that feed its ``"head"`` (what the frozen part computes)."""
    head = model.get_layer("head")
    return list(head._inbound_nodes[0].input_tensors)


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
):
    """Build a compiled image model: raw uint8 RGB images in, predictions out.

    The model resizes (center crop to the aspect ratio, then resize) and scales images itself,
    as the backbone spec says, so it takes images of any size. The base is frozen and always
    called with ``training=False``, so BatchNorm stays in inference mode even after `unfreeze`.

    Args:
        backbone: A name from `list_backbones()` or a `BackboneSpec`.
        num_classes: Number of classes (``"classification"``), of labels (``"multi_label"``) or
            of regression outputs (``"regression"``).
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

    Returns:
        A compiled `keras.Model`; its layers ``"backbone"``, ``"pool"`` and ``"head"`` are the
        parts.

    Example:
    >>> import numpy as np, tl_suite
    >>> model = tl_suite.build_image_classifier(
    ...     "tiny_efficientnet_lite", num_classes=3, weights=None)
    >>> model.predict(np.zeros((2, 50, 40, 3), "uint8"), verbose=0).shape
    (2, 3)
    """
    _check_choice("task", task, TASKS)
    _check_choice("pooling", pooling, ("avg", "max"))
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(
            "`num_classes` must be a positive integer (number of classes, labels or regression "
            f"outputs). Received: num_classes={num_classes!r}."
        )
    if task == "classification" and num_classes < 2:
        raise ValueError(
            "Single-label classification needs at least 2 classes; for one yes/no label use "
            f"task='multi_label'. Received: num_classes={num_classes}."
        )
    if not 0 <= dropout < 1:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}.")
    spec = backbones.get_image_backbone(backbone)
    height, width = image_size or spec.input_size
    if seed is not None:
        keras.utils.set_random_seed(seed)

    base = backbones.build_base(spec, weights=weights, input_shape=(height, width, 3))
    base.name = "backbone"
    base.trainable = False

    images = keras.Input(shape=(None, None, 3), dtype="uint8", name="images")
    x = keras.layers.Rescaling(1.0, name="to_float")(images)
    x = keras.layers.Resizing(height, width, crop_to_aspect_ratio=True, name="resize")(x)
    for layer in spec.make_preprocessing():
        x = layer(x)
    feature_map = base(x, training=False)
    if pooling == "avg":
        features = keras.layers.GlobalAveragePooling2D(name="pool")(feature_map)
    else:
        features = keras.layers.GlobalMaxPooling2D(name="pool")(feature_map)
    head = build_head(
        features.shape[1:], num_classes, task=task, dropout=dropout,
        hidden_units=hidden_units, hidden_activation=hidden_activation,
    )
    outputs = head(features)
    model = keras.Model(images, outputs, name=f"{spec.name}_{task}")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate), jit_compile=jit_compile,
        **_compile_arguments(task, num_classes),
    )
    return model


def infer_task(model):
    """Return the task of a tl_suite model, read from its head's output layer."""
    head = model.get_layer("head")
    if len(head.output.shape) == 3:
        return "token_classification"
    activation = keras.activations.serialize(head.get_layer("predictions").activation)
    if "softmax" in str(activation):
        return "classification"
    if "sigmoid" in str(activation):
        return "multi_label"
    return "regression"


def base_of(model):
    """The pretrained base of a tl_suite model (image ``"backbone"`` layer or text backbone)."""
    backbone = getattr(model, "backbone", None)
    return backbone if backbone is not None else model.get_layer("backbone")


def resolve_jit_compile(model, jit_compile):
    """``jit_compile`` for ``model``: windowed text models (``max_windows > 1``) pick their
    non-empty windows with data-dependent shapes, which XLA cannot compile, so they never use it."""
    if getattr(model, "max_windows", 1) > 1:
        if jit_compile is True:
            raise ValueError(
                "A text model with max_windows > 1 cannot be XLA-compiled (it selects the windows "
                "present in each batch, a data-dependent shape). Pass jit_compile='auto' or False, "
                "or build with max_windows=1. Received: jit_compile=True."
            )
        return False
    return jit_compile


def input_preparer(model):
    """``prepare(x, y) -> (x, y)``: the model's own preprocessing (tokenizer, word alignment)
    for models that carry one (keras-hub Tasks), else identity. Traced, so it runs the
    TensorFlow path of keras-hub preprocessors."""
    preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is None:
        return lambda x, y: (x, y)

    def prepare(x, y):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(preprocessor(x, y=y))
        return x, y

    return prepare


def unfreeze(model, layers=None, from_layer=None, learning_rate=1e-5, base_learning_rate=None,
             layer_decay=1.0, jit_compile="auto"):
    """Unfreeze the top of the base, keep BatchNorm frozen, and recompile.

    With ``base_learning_rate`` (or ``layer_decay`` below 1) the model is compiled with
    discriminative learning rates (`DiscriminativeAdam`): the head trains at ``learning_rate``,
    the top group of base layers (see `layer_groups`) at ``base_learning_rate`` and each group
    below at ``layer_decay`` times the group above, like fastai's ``slice(lo, hi)`` or timm's
    layer decay.

    Args:
        model: A model from a tl_suite builder.
        layers: Unfreeze the top ``layers`` layers of the base (for text backbones, the top
            ``layers`` transformer blocks); ``None`` with no ``from_layer``: the whole base.
        from_layer: Unfreeze from the first base layer whose name contains this string
            (e.g. ``"block11"``, or ``"transformer_layer_4"`` for BERT) to the top.
        learning_rate: Learning rate of the new optimizer (low, so pretrained features survive):
            a float or a Keras schedule (e.g. `OneCycle`); the head's rate when
            ``base_learning_rate`` is given.
        base_learning_rate: Learning rate of the top base group (``None``: ``learning_rate``).
            With a schedule, the base follows it scaled by ``base_learning_rate`` / its peak.
        layer_decay: Multiplier from one base group to the group below it (1: same rate).
        jit_compile: Passed to ``model.compile`` (``"auto"``: Keras decides; XLA on CPU is
            slower here).

    Returns:
        The list of base layer names now trainable.

    Example:
    >>> import tl_suite
    >>> model = tl_suite.build_image_classifier(
    ...     "tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> tl_suite.unfreeze(model, from_layer="block1")[:2]
    ['block1_expand_conv', 'block1_dw_conv']
    """
    if layers is not None and from_layer is not None:
        raise ValueError(
            "Pass either `layers` or `from_layer`, not both. "
            f"Received: layers={layers!r}, from_layer={from_layer!r}."
        )
    base = base_of(model)
    base_layers = [layer for layer in base.layers if not isinstance(layer, keras.layers.InputLayer)]
    transformer_layers = list(getattr(base, "transformer_layers", []) or [])
    if from_layer is not None:
        matches = [i for i, layer in enumerate(base_layers) if from_layer in layer.name]
        if not matches:
            raise ValueError(
                f"No layer name contains {from_layer!r}. Names look like "
                f"{[layer.name for layer in base_layers[-3:]]}. Received: from_layer={from_layer!r}."
            )
        start = matches[0]
    elif layers is not None:
        if not isinstance(layers, int) or layers < 1:
            raise ValueError(f"`layers` must be a positive integer. Received: layers={layers!r}.")
        if transformer_layers:  # text: count transformer blocks, not sub-layers
            first_open = transformer_layers[max(len(transformer_layers) - layers, 0)]
            start = base_layers.index(first_open)
        else:
            start = max(len(base_layers) - layers, 0)
    else:
        start = 0
    compile_config = model.get_compile_config()
    base.trainable = True
    opened = []
    for index, layer in enumerate(base_layers):
        is_batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = index >= start and not is_batch_norm
        if layer.name == "pooled_dense" and getattr(model, "pooling", None) != "pooler":
            layer.trainable = False  # BERT's pooler: unused by mean/[CLS] pooling and taggers
        if layer.trainable and layer.weights:
            opened.append(layer.name)
    loss, metrics = model.loss, None
    if compile_config:
        loss = compile_config["loss"]
        if not isinstance(loss, str):
            loss = keras.losses.deserialize(loss)
        metrics = [m if isinstance(m, str) else keras.metrics.deserialize(m) for m in compile_config["metrics"] or []]
    with strategy_scope(model):  # optimizers belong to the strategy they are made under
        optimizer = _unfrozen_optimizer(model, learning_rate, base_learning_rate, layer_decay)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                  jit_compile=resolve_jit_compile(model, jit_compile))
    return opened


def strategy_scope(model):
    """The scope of the distribution strategy ``model`` was built under."""
    strategy = getattr(model, "distribute_strategy", None)
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def _peak_learning_rate(learning_rate):
    for attribute in ("maximal_learning_rate", "warmup_target", "initial_learning_rate"):
        value = getattr(learning_rate, attribute, None)
        if value:
            return float(value)
    if isinstance(learning_rate, (int, float)):
        return float(learning_rate)
    raise ValueError(
        "With `base_learning_rate`, `learning_rate` must be a float, `OneCycle`, or a Keras "
        f"schedule with a peak rate. Received: learning_rate={learning_rate!r}."
    )


def _unfrozen_optimizer(model, learning_rate, base_learning_rate, layer_decay):
    from tl_suite import schedules  # schedules imports this module

    if not 0 < layer_decay <= 1:
        raise ValueError(f"`layer_decay` must be in (0, 1]. Received: layer_decay={layer_decay!r}.")
    if base_learning_rate is None and layer_decay == 1:
        return keras.optimizers.Adam(learning_rate=learning_rate)
    top = 1.0 if base_learning_rate is None else base_learning_rate / _peak_learning_rate(learning_rate)
    multipliers = schedules.group_multipliers(schedules.layer_groups(model), top, layer_decay)
    return schedules.DiscriminativeAdam(learning_rate=learning_rate, learning_rate_multipliers=multipliers)
