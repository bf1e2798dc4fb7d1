"""Learning-rate schedules: fastai's one-cycle, warm-up + cosine, and `make_schedule` by name."""

import math

import keras

from tl_suite.validation import check_choice

SCHEDULES = ("one_cycle", "cosine", "constant")


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
            raise ValueError(
                f"`total_steps` must be a positive integer. Received: total_steps={total_steps!r}."
            )
        if not 0 < warmup_fraction < 1:
            raise ValueError(
                f"`warmup_fraction` must be in (0, 1). Received: warmup_fraction={warmup_fraction!r}."
            )
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
    """``"one_cycle"``, ``"cosine"`` (warm-up + cosine) or ``"constant"`` → a Keras learning rate
    peaking at ``learning_rate`` over ``total_steps`` steps."""
    check_choice("schedule", schedule, SCHEDULES)
    if schedule == "one_cycle":
        return OneCycle(learning_rate, total_steps=total_steps)
    if schedule == "cosine":
        return warmup_cosine(learning_rate, total_steps=max(total_steps, 2))
    return float(learning_rate)
