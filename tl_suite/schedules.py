"""Learning-rate schedules and the discriminative (per-layer-group) learning-rate optimizer."""

import math

import keras

from tl_suite.models import base_of


@keras.saving.register_keras_serializable(package="tl_suite")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """fastai's one-cycle: cosine warm-up to ``maximal_learning_rate``, then cosine annealing.

    Starts at ``maximal_learning_rate / initial_divisor``, reaches the maximum after
    ``warmup_fraction * total_steps`` steps and ends at ``maximal_learning_rate /
    final_divisor`` after ``total_steps`` (and stays there).

    Example:
    >>> import tl_suite
    >>> schedule = tl_suite.OneCycle(1e-3, total_steps=100)
    >>> [round(float(schedule(step)), 6) for step in (0, 25, 100)]
    [4e-05, 0.001, 0.0]
    """

    def __init__(self, maximal_learning_rate, total_steps, warmup_fraction=0.25,
                 initial_divisor=25.0, final_divisor=1e5, name="one_cycle"):
        if not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"`total_steps` must be a positive integer. Received: total_steps={total_steps!r}.")
        if not 0 < warmup_fraction < 1:
            raise ValueError(f"`warmup_fraction` must be in (0, 1). Received: warmup_fraction={warmup_fraction!r}.")
        self.maximal_learning_rate = float(maximal_learning_rate)
        self.total_steps = total_steps
        self.warmup_fraction = float(warmup_fraction)
        self.initial_divisor = float(initial_divisor)
        self.final_divisor = float(final_divisor)
        self.name = name

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        top = self.maximal_learning_rate
        start, end = top / self.initial_divisor, top / self.final_divisor
        warmup = max(self.warmup_fraction * self.total_steps, 1.0)
        anneal = max(self.total_steps - warmup, 1.0)
        up = keras.ops.clip(step / warmup, 0.0, 1.0)
        down = keras.ops.clip((step - warmup) / anneal, 0.0, 1.0)

        def cosine(low, high, fraction):  # high at fraction 0, low at fraction 1
            return low + (high - low) * (1.0 + keras.ops.cos(math.pi * fraction)) / 2.0

        return keras.ops.where(step < warmup, cosine(top, start, up), cosine(end, top, down))

    def get_config(self):
        return {
            "maximal_learning_rate": self.maximal_learning_rate, "total_steps": self.total_steps,
            "warmup_fraction": self.warmup_fraction, "initial_divisor": self.initial_divisor,
            "final_divisor": self.final_divisor, "name": self.name,
        }


def warmup_cosine(learning_rate, total_steps, warmup_steps=None):
    """Linear warm-up from 0 to ``learning_rate`` over ``warmup_steps`` (default: 10% of
    ``total_steps``), then cosine decay to 0: Keras' own `CosineDecay` with its warm-up.

    Example:
    >>> import tl_suite
    >>> schedule = tl_suite.warmup_cosine(1e-3, total_steps=100)
    >>> [round(float(schedule(step)), 6) for step in (0, 10, 100)]
    [0.0, 0.001, 0.0]
    """
    if not isinstance(total_steps, int) or total_steps < 2:
        raise ValueError(f"`total_steps` must be an integer >= 2. Received: total_steps={total_steps!r}.")
    warmup_steps = max(1, total_steps // 10) if warmup_steps is None else warmup_steps
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(
            f"`warmup_steps` must be in [0, total_steps). Received: warmup_steps={warmup_steps!r}, "
            f"total_steps={total_steps}."
        )
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0, decay_steps=total_steps - warmup_steps,
        warmup_target=float(learning_rate), warmup_steps=warmup_steps,
    )


def make_schedule(schedule, learning_rate, total_steps):
    """``"one_cycle"``, ``"cosine"`` (warm-up + cosine) or ``"constant"`` → a Keras learning rate."""
    if schedule == "one_cycle":
        return OneCycle(learning_rate, total_steps=total_steps)
    if schedule == "cosine":
        return warmup_cosine(learning_rate, total_steps=max(total_steps, 2))
    if schedule == "constant":
        return float(learning_rate)
    raise ValueError(
        "Unknown `schedule`. Choose one of ['one_cycle', 'cosine', 'constant']. "
        f"Received: schedule={schedule!r}."
    )


@keras.saving.register_keras_serializable(package="tl_suite")
class DiscriminativeAdam(keras.optimizers.Adam):
    """Adam whose learning rate is scaled per layer: discriminative learning rates.

    ``learning_rate_multipliers`` maps layer names to multipliers of the (scheduled) learning
    rate; a variable takes the multiplier of the first layer name on its path (e.g.
    ``"transformer_layer_3/self_attention/query/kernel"`` → ``"transformer_layer_3"``), others
    (the head) take 1. The multipliers are also an optimizer variable, so they survive
    ``save``/``load`` and can be changed during training (gradual unfreezing sets a layer's
    multiplier to 0 until it opens). Works under distribution strategies: the scaling happens
    in ``update_step``, per variable, on every replica.

    Example:
    >>> import tl_suite
    >>> optimizer = tl_suite.DiscriminativeAdam(
    ...     learning_rate=1e-3, learning_rate_multipliers={"block0_dw_conv": 0.1})
    >>> optimizer.learning_rate_multipliers
    {'block0_dw_conv': 0.1}
    """

    def __init__(self, learning_rate_multipliers=None, name="discriminative_adam", **kwargs):
        super().__init__(name=name, **kwargs)
        self.learning_rate_multipliers = {
            str(layer): float(value) for layer, value in (learning_rate_multipliers or {}).items()
        }

    def multiplier_for(self, variable):
        for part in variable.path.split("/")[:-1]:
            if part in self.learning_rate_multipliers:
                return self.learning_rate_multipliers[part]
        return 1.0

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        values = [self.multiplier_for(variable) for variable in var_list]
        self.multipliers = self.add_variable(
            shape=(len(values),), initializer=keras.initializers.Constant(values),
            dtype="float32", name="learning_rate_multipliers",
        )
        # `add_variable` ignores Constant's list for some shapes: assign to be sure.
        self.multipliers.assign(values)

    def set_multipliers(self, values_by_layer):
        """Assign new multipliers (``{layer name: multiplier}``) to the built optimizer."""
        rules = {**self.learning_rate_multipliers, **values_by_layer}
        saved, self.learning_rate_multipliers = self.learning_rate_multipliers, rules
        try:
            values = [self.multiplier_for(v) for v in self._trainable_variables]
        finally:
            self.learning_rate_multipliers = saved
        self.multipliers.assign(values)

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        scaled = keras.ops.cast(learning_rate, "float32") * self.multipliers[index]
        super().update_step(gradient, variable, scaled)

    def get_config(self):
        return {**super().get_config(), "learning_rate_multipliers": self.learning_rate_multipliers}


def layer_groups(model):
    """Groups of base layers with weights, from the stem to the top, for per-group learning rates.

    Text backbones: the embeddings, then one group per transformer layer (the pooler joins the
    top one). Image bases: consecutive layers sharing the name prefix before the first ``_``
    (``"stem"``, ``"block1"``, ... for EfficientNet-Lite; ``"conv1"``... ``"conv5"`` for
    ResNet50).

    Returns:
        A list of ``(group name, [layer names])``, stem first.

    Example:
    >>> import tl_suite
    >>> model = tl_suite.build_image_classifier(
    ...     "tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> [name for name, _ in tl_suite.layer_groups(model)]
    ['stem', 'block0', 'block1', 'top']
    """
    base = base_of(model)
    layers = [layer for layer in base.layers if layer.weights]
    transformer_layers = list(getattr(base, "transformer_layers", []) or [])
    groups = []
    if transformer_layers:
        names = [layer.name for layer in transformer_layers]
        first = layers.index(transformer_layers[0])
        last = layers.index(transformer_layers[-1])
        groups.append(("embeddings", [layer.name for layer in layers[:first]]))
        groups += [(name, [name]) for name in names]
        groups[-1][1].extend(layer.name for layer in layers[last + 1:])
        return [(name, members) for name, members in groups if members]
    for layer in layers:
        key = layer.name.split("_")[0]
        if groups and groups[-1][0] == key:
            groups[-1][1].append(layer.name)
        else:
            groups.append((key, [layer.name]))
    return groups


def group_multipliers(groups, top_multiplier, layer_decay):
    """``{layer name: multiplier}``: the top group gets ``top_multiplier``, each group below it
    ``layer_decay`` times the one above (geometric from the head to the stem)."""
    multipliers = {}
    for depth, (_, members) in enumerate(reversed(groups)):
        for name in members:
            multipliers[name] = float(top_multiplier * layer_decay ** depth)
    return multipliers
