"""Discriminative learning rates: one optimizer whose rate is scaled per group of base layers.

Why not Keras' `MultiOptimizer` (Keras 3.15): it needs one Adam per group, each with its own
scaled copy of the schedule, and it hides ``learning_rate`` (reading it raises), which the
learning-rate finder and per-epoch logging read; gradual unfreezing would still need per-group
rates that change during training. `DiscriminativeAdam` keeps one Adam, one schedule and one
vector of multipliers (an optimizer variable, so it is saved with the model and mirrored by
distribution strategies).
"""

import keras


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
        self.variable_paths = []

    def multiplier_for(self, path, rules=None):
        """The multiplier of the variable at ``path`` under ``rules`` (default: the optimizer's
        ``learning_rate_multipliers``)."""
        rules = self.learning_rate_multipliers if rules is None else rules
        for part in path.split("/")[:-1]:
            if part in rules:
                return rules[part]
        return 1.0

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        # The paths in the order of `var_list`, the order of Adam's own slots.
        self.variable_paths = [variable.path for variable in var_list]
        values = [self.multiplier_for(path) for path in self.variable_paths]
        self.multipliers = self.add_variable(
            shape=(len(values),), initializer=keras.initializers.Constant(values),
            dtype="float32", name="learning_rate_multipliers",
        )
        # `add_variable` ignores Constant's list for some shapes: assign to be sure.
        self.multipliers.assign(values)

    def set_multipliers(self, values_by_layer):
        """Assign new multipliers (``{layer name: multiplier}``, on top of
        ``learning_rate_multipliers``) to the built optimizer."""
        if not self.built:
            raise ValueError(
                "The optimizer is not built yet. Call optimizer.build(model.trainable_variables) "
                "or train one step first."
            )
        rules = {**self.learning_rate_multipliers, **values_by_layer}
        self.multipliers.assign([self.multiplier_for(path, rules) for path in self.variable_paths])

    def update_step(self, gradient, variable, learning_rate):
        # `_get_variable_index` is how Keras' own Adam finds a variable's slots (no public
        # equivalent); the multipliers are stored in the same order.
        index = self._get_variable_index(variable)
        scaled = keras.ops.cast(learning_rate, "float32") * self.multipliers[index]
        super().update_step(gradient, variable, scaled)

    def get_config(self):
        return {**super().get_config(), "learning_rate_multipliers": self.learning_rate_multipliers}


def group_multipliers(groups, top_multiplier, layer_decay):
    """``{layer name: multiplier}``: the top group gets ``top_multiplier``, each group below it
    ``layer_decay`` times the one above (geometric from the head to the stem).

    Example:
    >>> from tl_suite.fine_tuning.optimizers import group_multipliers
    >>> group_multipliers([("stem", ["stem_conv"]), ("top", ["top_conv"])], 0.1, 0.5)
    {'top_conv': 0.1, 'stem_conv': 0.05}
    """
    multipliers = {}
    for depth, (_, members) in enumerate(reversed(groups)):
        for name in members:
            multipliers[name] = float(top_multiplier * layer_decay ** depth)
    return multipliers


def peak_learning_rate(learning_rate):
    """The highest value of ``learning_rate``: a float, `OneCycle`, or a Keras schedule with a
    peak (warm-up target or initial rate)."""
    for attribute in ("maximal_learning_rate", "warmup_target", "initial_learning_rate"):
        value = getattr(learning_rate, attribute, None)
        if value:
            return float(value)
    if isinstance(learning_rate, (int, float)) and not isinstance(learning_rate, bool):
        return float(learning_rate)
    raise ValueError(
        "With `base_learning_rate`, `learning_rate` must be a float, `OneCycle`, or a Keras "
        f"schedule with a peak rate. Received: learning_rate={learning_rate!r}."
    )


def unfrozen_optimizer(groups, learning_rate, base_learning_rate=None, layer_decay=1.0):
    """The optimizer of an unfrozen model: plain Adam at ``learning_rate`` when every layer
    trains at the same rate, else a `DiscriminativeAdam` (head at ``learning_rate``, the top of
    ``groups`` at ``base_learning_rate``, ``layer_decay`` per group below). Create it inside the
    model's strategy scope."""
    if not isinstance(layer_decay, (int, float)) or not 0 < layer_decay <= 1:
        raise ValueError(f"`layer_decay` must be in (0, 1]. Received: layer_decay={layer_decay!r}.")
    if base_learning_rate is None and layer_decay == 1:
        return keras.optimizers.Adam(learning_rate=learning_rate)
    top = 1.0 if base_learning_rate is None else base_learning_rate / peak_learning_rate(learning_rate)
    multipliers = group_multipliers(groups, top, layer_decay)
    return DiscriminativeAdam(learning_rate=learning_rate, learning_rate_multipliers=multipliers)
