"""Freezing primitives: which layers train, and one `recompile` for every change of it.

Keras only applies a change of ``trainable`` after ``compile``; every place in tl_suite that
changes what trains, or needs a new optimizer, goes through `recompile`, which keeps the
model's loss and metrics (its own task defaults, or what the user compiled it with).

What opens is chosen by layer groups, declared by each backbone spec (``model.layer_groups``,
stem first): `freeze` closes the base, `open_groups` opens exactly the named groups (BatchNorm
stays frozen), `unfreeze` opens groups and recompiles once with (discriminative) learning rates.
"""

import warnings

import keras
import keras_hub

from tl_suite.fine_tuning.optimizers import unfrozen_optimizer
from tl_suite.models.compiling import (  # noqa: F401  (re-exported freezing primitives)
    compile_arguments,
    is_frozen,
    is_transfer_model,
    strategy_scope,
)
from tl_suite.validation import check_integer


def recompile(model, optimizer, jit_compile=None, steps_per_execution=None):
    """Compile ``model`` again with a new ``optimizer`` (an optimizer or a callable that makes
    one inside the model's strategy scope), keeping its loss, metrics, ``jit_compile`` and
    ``steps_per_execution`` unless given."""
    if callable(optimizer) and not isinstance(optimizer, keras.optimizers.Optimizer):
        with strategy_scope(model):
            optimizer = optimizer()
    if jit_compile is None:
        jit_compile = model.jit_compile
    if steps_per_execution is None:
        steps_per_execution = model.steps_per_execution
    if is_transfer_model(model):
        jit_compile = model.resolve_jit_compile(jit_compile)
    model.compile(optimizer=optimizer, jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution, **compile_arguments(model))
    return model


def layer_groups(model):
    """The groups of base layers of a tl_suite model, from the stem to the top, as declared by
    its backbone spec: the units `unfreeze` and `fine_tune` open and give learning rates to.

    Text backbones: the embeddings, then one group per transformer layer (BERT's unused pooler
    belongs to no group unless the model pools with it). Image backbones: the spec's blocks
    (``"stem"``, ``"block0"``, ..., ``"top"`` for EfficientNet-Lite).

    Returns:
        A list of ``(group name, [base layer names])``, stem first.

    Example:
    >>> import tl_suite
    >>> model = tl_suite.build_image_classifier(
    ...     "tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> [name for name, _ in tl_suite.layer_groups(model)]
    ['stem', 'block0', 'block1', 'top']
    """
    if not is_transfer_model(model):
        raise ValueError(
            "Layer groups are declared by the backbone spec of a model from a tl_suite builder "
            "(e.g. tl_suite.build_image_classifier). For another Keras model set `trainable` on "
            f"its layers yourself. Received: a {type(model).__name__}."
        )
    return [(name, list(members)) for name, members in model.layer_groups]


def select_groups(model, groups=None):
    """``[(group name, [layer names])]`` chosen by ``groups``: None (all), an integer (the top
    ``groups`` groups) or a list of exact names from `layer_groups` (kept stem first)."""
    available = layer_groups(model)
    names = [name for name, _ in available]
    if groups is None:
        return available
    if isinstance(groups, int) and not isinstance(groups, bool):
        if not 1 <= groups <= len(available):
            raise ValueError(
                f"`groups` as a number opens the top groups: it must be in [1, {len(available)}] "
                f"(the groups are {names}). Received: groups={groups!r}."
            )
        return available[-groups:]
    wanted = [groups] if isinstance(groups, str) else list(groups)
    unknown = [name for name in wanted if name not in names]
    if not wanted or unknown:
        raise ValueError(
            f"`groups` must name groups of the model exactly, from {names} (see "
            f"tl_suite.layer_groups(model)), or be None (all) or a number of top groups. "
            f"Received: groups={groups!r}."
        )
    return [(name, members) for name, members in available if name in wanted]


def base_layers(model):
    """The layers of ``model.backbone`` in order (input layers left out)."""
    return [layer for layer in model.backbone.layers if not isinstance(layer, keras.layers.InputLayer)]


def open_layers(model, names):
    """Make exactly the base layers in ``names`` trainable (BatchNorm excepted: it stays frozen,
    and in inference mode) and the head; every other base layer is frozen. Takes effect at the
    next `recompile`. Returns the names of the opened layers that have weights."""
    names = set(names)
    model.backbone.trainable = True
    opened = []
    for layer in base_layers(model):
        layer.trainable = layer.name in names and not isinstance(layer, keras.layers.BatchNormalization)
        if layer.trainable and layer.weights:
            opened.append(layer.name)
    model.head.trainable = True
    return opened


def open_groups(model, groups=None):
    """Open the layers of the groups chosen by ``groups`` (see `select_groups`) and freeze the
    rest of the base, without recompiling. Returns the opened layer names."""
    selected = select_groups(model, groups)
    return open_layers(model, [name for _, members in selected for name in members])


def freeze(model, learning_rate=None, jit_compile=None):
    """Freeze the base of a tl_suite model so that only the head trains, and recompile (a fresh
    Adam at ``learning_rate``, default the model's own; loss and metrics kept).

    A frozen model trains its head on cached features in `fit`.

    Example:
    >>> import tl_suite
    >>> from tl_suite.fine_tuning.freezing import is_frozen
    >>> model = tl_suite.build_image_classifier(
    ...     "tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> opened = tl_suite.unfreeze(model, groups=["top"])
    >>> tl_suite.freeze(model)
    >>> is_frozen(model)
    True
    """
    layer_groups(model)  # a tl_suite model, or a clear error
    learning_rate = model.learning_rate if learning_rate is None else learning_rate
    with strategy_scope(model):
        optimizer = keras.optimizers.Adam(learning_rate)
    for layer in model.layers:
        layer.trainable = layer is model.head
    recompile(model, optimizer, jit_compile=jit_compile)


def _deprecated_layer_names(model, layers, from_layer):
    """The base layers the old ``layers=`` / ``from_layer=`` arguments open (grouped ones only)."""
    if layers is not None and from_layer is not None:
        raise ValueError(
            "Pass either `layers` or `from_layer`, not both (better: `groups`). "
            f"Received: layers={layers!r}, from_layer={from_layer!r}."
        )
    argument = "layers=N" if from_layer is None else "from_layer=..."
    warnings.warn(
        f"`unfreeze({argument})` is deprecated: pass `groups` instead, a number of top groups or "
        "exact group names from tl_suite.layer_groups(model) (e.g. groups=2 or groups=['top']).",
        DeprecationWarning, stacklevel=3,
    )
    candidates = base_layers(model)
    if from_layer is not None:
        starts = [index for index, layer in enumerate(candidates) if from_layer in layer.name]
        if not starts:
            raise ValueError(
                f"No layer name contains {from_layer!r}. Names look like "
                f"{[layer.name for layer in candidates[-3:]]}. Received: from_layer={from_layer!r}."
            )
        candidates = candidates[starts[0]:]
    else:
        check_integer("layers", layers, 1)
        if isinstance(model.backbone, keras_hub.models.Backbone):
            # Text models counted transformer blocks: every group but the embeddings.
            top = select_groups(model, min(layers, len(model.layer_groups) - 1))
            return [name for _, members in top for name in members]
        candidates = candidates[-layers:]
    grouped = {name for _, members in layer_groups(model) for name in members}
    return [layer.name for layer in candidates if layer.name in grouped]


def unfreeze(model, layers=None, from_layer=None, learning_rate=1e-5, base_learning_rate=None,
             layer_decay=1.0, jit_compile="auto", *, groups=None):
    """Open groups of base layers (BatchNorm stays frozen) and recompile once.

    With ``base_learning_rate`` (or ``layer_decay`` below 1) the model is compiled with
    discriminative learning rates (`DiscriminativeAdam`): the head trains at ``learning_rate``,
    the top group of base layers (see `layer_groups`) at ``base_learning_rate`` and each group
    below at ``layer_decay`` times the group above, like fastai's ``slice(lo, hi)`` or timm's
    layer decay. Otherwise it is a plain Adam at ``learning_rate``. Base layers in no group
    (e.g. BERT's pooler when the model does not pool with it) stay frozen.

    Args:
        model: A model from a tl_suite builder.
        groups: Which groups to open: ``None`` (all), an integer (the top ``groups`` groups),
            or a list of exact names from `layer_groups` (e.g. ``["block1", "top"]``).
        learning_rate: Learning rate of the new optimizer (low, so pretrained features survive):
            a float or a Keras schedule (e.g. `OneCycle`); the head's rate when
            ``base_learning_rate`` is given.
        base_learning_rate: Learning rate of the top base group (``None``: ``learning_rate``).
            With a schedule, the base follows it scaled by ``base_learning_rate`` / its peak.
        layer_decay: Multiplier from one base group to the group below it (1: same rate).
        jit_compile: Passed to ``model.compile`` (``"auto"``: Keras decides; XLA on CPU is
            slower here).
        layers: Deprecated (use ``groups``): open the top ``layers`` base layers (for text
            backbones, the top ``layers`` transformer blocks).
        from_layer: Deprecated (use ``groups``): open from the first base layer whose name
            contains this string to the top.

    Returns:
        The list of base layer names now trainable.

    Example:
    >>> import tl_suite
    >>> model = tl_suite.build_image_classifier(
    ...     "tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> tl_suite.unfreeze(model, groups=["block1", "top"])[:2]
    ['block1_expand_conv', 'block1_dw_conv']
    """
    if layers is not None or from_layer is not None:
        if groups is not None:
            raise ValueError(
                "Pass `groups` alone: `layers` and `from_layer` are its deprecated forms. "
                f"Received: groups={groups!r}, layers={layers!r}, from_layer={from_layer!r}."
            )
        names = _deprecated_layer_names(model, layers, from_layer)
    else:
        names = [name for _, members in select_groups(model, groups) for name in members]
    with strategy_scope(model):  # checks the rates before anything changes
        optimizer = unfrozen_optimizer(layer_groups(model), learning_rate, base_learning_rate,
                                       layer_decay)
    opened = open_layers(model, names)
    recompile(model, optimizer, jit_compile=jit_compile)
    return opened
