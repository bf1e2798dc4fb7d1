"""fastai-style fine-tuning in Keras: `fine_tune`, `find_learning_rate`, and LoRA adapters."""

import dataclasses
import os
import tempfile

import h5py
import keras
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

from tl_suite import feature_cache, schedules
from tl_suite.models import base_of, resolve_jit_compile, strategy_scope, unfreeze
from tl_suite.training import fit, log_figure

_SCHEDULES = ("one_cycle", "cosine", "constant")


def _count_batches(dataset, argument="train"):
    cardinality = int(dataset.cardinality())
    if cardinality == tf.data.INFINITE_CARDINALITY:
        raise ValueError(
            f"`{argument}` repeats forever, so epochs have no end. Pass a finite dataset "
            "(without .repeat()). Received: an infinite dataset."
        )
    if cardinality >= 0:
        return cardinality
    return sum(1 for _ in dataset)


def _compile_like(model, optimizer, **overrides):
    """Recompile ``model`` with its own loss and metrics and a new optimizer."""
    config = model.get_compile_config() or {}
    loss = config.get("loss", model.loss)
    if loss is not None and not isinstance(loss, str):
        loss = keras.losses.deserialize(loss)
    metrics = [m if isinstance(m, str) else keras.metrics.deserialize(m) for m in config.get("metrics") or []]
    options = {"jit_compile": getattr(model, "jit_compile", "auto"),
               "steps_per_execution": getattr(model, "steps_per_execution", 1), **overrides}
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, **options)


class _StageMarker(keras.callbacks.Callback):
    """Writes a ``stage`` scalar per epoch (0 = frozen head, 1 = unfrozen) and, when a stage
    starts, a text note, next to the TensorBoard scalars, so one run shows both stages."""

    def __init__(self, log_dir, stage, note):
        super().__init__()
        self.log_dir, self.stage, self.note, self.noted = log_dir, stage, note, False

    def on_epoch_end(self, epoch, logs=None):
        writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))
        with writer.as_default():
            tf.summary.scalar("stage", self.stage, step=epoch)
            if not self.noted:
                tf.summary.text("stage", self.note, step=epoch)
        writer.close()
        self.noted = True


class _GradualUnfreezing(keras.callbacks.Callback):
    """Opens one more base group (from the top) per epoch by setting the learning-rate
    multipliers of the groups still closed to 0 (the graph is compiled once)."""

    def __init__(self, optimizer, groups, multipliers, first_epoch, verbose):
        super().__init__()
        self.optimizer, self.groups, self.multipliers = optimizer, groups, multipliers
        self.first_epoch, self.verbose = first_epoch, verbose

    def open_count(self, epoch):
        return min(len(self.groups), epoch - self.first_epoch + 1)

    def on_epoch_begin(self, epoch, logs=None):
        count = self.open_count(epoch)
        values = {}
        for index, (_, members) in enumerate(self.groups):
            is_open = index >= len(self.groups) - count
            values.update({name: self.multipliers[name] if is_open else 0.0 for name in members})
        self.optimizer.set_multipliers(values)
        if self.verbose:
            print(f"Gradual unfreezing: top {count}/{len(self.groups)} base groups open "
                  f"(from {self.groups[len(self.groups) - count][0]!r})")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["open_groups"] = float(self.open_count(epoch))


def fine_tune(
    model,
    train,
    validation=None,
    frozen_epochs=1,
    epochs=3,
    base_learning_rate=1e-4,
    learning_rate=None,
    layer_decay=0.8,
    unfreeze_groups=None,
    gradual=False,
    schedule="one_cycle",
    log_dir="logs/fine_tune",
    early_stopping_patience=None,
    callbacks=None,
    jit_compile="auto",
    seed=None,
    verbose="auto",
):
    """fastai's ``fine_tune`` in Keras: train the head on the frozen base, then unfreeze and
    train everything with discriminative learning rates and a one-cycle schedule.

    Stage 1 (``frozen_epochs``) is `fit` on the frozen base: the fast cached-feature path.
    Stage 2 (``epochs``) unfreezes the top ``unfreeze_groups`` groups of base layers (see
    `layer_groups`; ``None``: all) or, with ``gradual=True``, one more group per epoch from
    the top (ULMFiT); BatchNorm stays in inference mode. It recompiles with `DiscriminativeAdam`:
    the head peaks at ``learning_rate``, the top base group at ``base_learning_rate`` and each
    group below at ``layer_decay`` times the one above, all following ``schedule``.
    Both stages log into ``log_dir`` as one run: epochs continue across stages, the learning
    rate is logged per epoch, a ``stage`` scalar (0 frozen, 1 unfrozen) and a text note mark the
    stages. Checkpoints/backups work as in `fit` (``best.keras`` holds the best model of the
    last stage).

    Args:
        model: A compiled tl_suite model (image or text).
        train: Training dataset (finite).
        validation: Optional validation dataset.
        frozen_epochs: Head-only epochs first (0 skips stage 1).
        epochs: Epochs with the base unfrozen.
        base_learning_rate: Peak learning rate of the top base group in stage 2.
        learning_rate: Peak learning rate of the head in stage 2 (default 10x
            ``base_learning_rate``).
        layer_decay: Learning-rate multiplier from one base group to the group below (1: same).
        unfreeze_groups: Number of top base groups to unfreeze (``None``: all).
        gradual: Open one more group per epoch (gradients of closed groups are computed but
            their learning rate is 0, so the graph is compiled once).
        schedule: ``"one_cycle"``, ``"cosine"`` (warm-up + cosine) or ``"constant"``.
        log_dir: Folder for TensorBoard logs, checkpoint, CSV log and backups.
        early_stopping_patience: Patience in stage 2 (``None``: run all epochs, as one-cycle
            expects).
        callbacks: Extra Keras callbacks for both stages.
        jit_compile: Passed to ``compile`` in stage 2.
        seed: Seed of stage 1's cached-feature shuffling.
        verbose: Keras verbosity.

    Returns:
        A `keras.callbacks.History` whose ``history`` holds both stages' epochs; its ``stages``
        attribute lists ``(name, first epoch, last epoch, trainable parameters)``.

    Example:
    >>> import numpy as np, tempfile, tl_suite
    >>> train = tl_suite.image_dataset(images=np.zeros((8, 32, 32), "uint8"),
    ...                                labels=np.arange(8) % 2, verbose=False)
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> history = tl_suite.fine_tune(model, train, frozen_epochs=1, epochs=2,
    ...                              log_dir=tempfile.mkdtemp(), verbose=0)
    >>> [stage[:3] for stage in history.stages]
    [('frozen', 0, 0), ('unfrozen', 1, 2)]
    """
    for argument, value, minimum in (("frozen_epochs", frozen_epochs, 0), ("epochs", epochs, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ValueError(f"`{argument}` must be an integer >= {minimum}. Received: {argument}={value!r}.")
    if schedule not in _SCHEDULES:
        raise ValueError(f"Unknown `schedule`. Choose one of {list(_SCHEDULES)}. Received: schedule={schedule!r}.")
    if not base_learning_rate > 0:
        raise ValueError(f"`base_learning_rate` must be > 0. Received: base_learning_rate={base_learning_rate!r}.")
    learning_rate = 10 * base_learning_rate if learning_rate is None else learning_rate
    groups = schedules.layer_groups(model)
    if unfreeze_groups is not None and (not isinstance(unfreeze_groups, int) or not 1 <= unfreeze_groups <= len(groups)):
        raise ValueError(
            f"`unfreeze_groups` must be an integer in [1, {len(groups)}] (the base has groups "
            f"{[name for name, _ in groups]}) or None for all. Received: unfreeze_groups={unfreeze_groups!r}."
        )
    show = verbose != 0
    merged, stages = {}, []

    def keep(history, name, first, trainable):
        for key, values in history.history.items():
            merged.setdefault(key, []).extend(values)
        ran = len(history.epoch)
        stages.append((name, first, first + ran - 1, trainable))
        return first + ran

    epoch = 0
    if frozen_epochs:
        if not feature_cache.is_frozen(model):
            raise ValueError(
                "Stage 1 trains the head on a frozen base, but the base of `model` is already "
                "(partly) trainable. Pass a model fresh from a builder, or frozen_epochs=0 to "
                "fine-tune it as it is."
            )
        trainable = _count(model.trainable_weights)
        if show:
            print(f"Stage 1/2: head only ({trainable:,} trainable parameters), {frozen_epochs} epochs")
        history = fit(
            model, train, validation, epochs=frozen_epochs, log_dir=log_dir,
            early_stopping_patience=None, backup=False, seed=seed, verbose=verbose,
            callbacks=[_StageMarker(log_dir, 0, f"Stage 1: head only on the frozen base, "
                                    f"{frozen_epochs} epochs, {trainable:,} trainable parameters"),
                       *(callbacks or [])],
        )
        epoch = keep(history, "frozen", 0, trainable)

    steps = _count_batches(train) * epochs
    rate = schedules.make_schedule(schedule, learning_rate, steps)
    opened_groups = groups if gradual or unfreeze_groups is None else groups[-unfreeze_groups:]
    multipliers = schedules.group_multipliers(groups, base_learning_rate / learning_rate, layer_decay)
    first_layer = opened_groups[0][1][0]
    unfreeze(model, from_layer=first_layer, learning_rate=rate)
    _exact_layer_start(model, first_layer)
    with strategy_scope(model):
        optimizer = schedules.DiscriminativeAdam(learning_rate=rate, learning_rate_multipliers=multipliers)
        _compile_like(model, optimizer, jit_compile=resolve_jit_compile(model, jit_compile),
                      steps_per_execution=1)
        optimizer.build(model.trainable_variables)
    trainable = _count(model.trainable_weights)
    note = (f"Stage 2: {'gradual unfreezing of' if gradual else 'unfrozen'} "
            f"{len(opened_groups)}/{len(groups)} base groups from {opened_groups[0][0]!r}, "
            f"{epochs} epochs, {schedule} schedule, head peak {learning_rate:g}, top base group "
            f"{base_learning_rate:g}, layer decay {layer_decay:g}, {trainable:,} trainable parameters; "
            "BatchNorm in inference mode")
    if show:
        print(note)
    stage_callbacks = [_StageMarker(log_dir, 1, note)]
    if gradual:
        stage_callbacks.append(_GradualUnfreezing(optimizer, groups, multipliers, epoch, show))
    history = fit(
        model, train, validation, epochs=epoch + epochs, initial_epoch=epoch, log_dir=log_dir,
        early_stopping_patience=early_stopping_patience, cache_features=False,
        callbacks=stage_callbacks + list(callbacks or []), verbose=verbose,
    )
    keep(history, "unfrozen", epoch, trainable)
    history.history, history.stages = merged, stages
    return history


def _exact_layer_start(model, first_layer):
    """`unfreeze(from_layer=...)` matches by substring: make sure nothing below opened."""
    base = base_of(model)
    layers = [layer for layer in base.layers if not isinstance(layer, keras.layers.InputLayer)]
    names = [layer.name for layer in layers]
    start = names.index(first_layer)
    for layer in layers[:start]:
        layer.trainable = False


def _count(weights):
    return int(sum(np.prod(w.shape) for w in weights))


@dataclasses.dataclass
class LearningRateSweep:
    """Result of `find_learning_rate`."""

    learning_rates: np.ndarray
    losses: np.ndarray  # smoothed (bias-corrected exponential moving average)
    raw_losses: np.ndarray
    suggestion: float
    figure: Figure


class _Sweep(keras.callbacks.Callback):
    def __init__(self, rates, smoothing, diverge_factor):
        super().__init__()
        self.rates, self.smoothing, self.diverge_factor = rates, smoothing, diverge_factor
        self.raw, self.smoothed, self.average, self.best = [], [], 0.0, np.inf

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate.assign(self.rates[epoch])

    def on_epoch_end(self, epoch, logs=None):
        loss = float(logs["loss"])
        self.raw.append(loss)
        self.average = self.smoothing * self.average + (1 - self.smoothing) * loss
        smoothed = self.average / (1 - self.smoothing ** (epoch + 1))
        self.smoothed.append(smoothed)
        self.best = min(self.best, smoothed)
        if not np.isfinite(loss) or smoothed > self.diverge_factor * self.best:
            self.model.stop_training = True


def _suggest(rates, losses):
    """The rate where the smoothed loss falls fastest (per log-rate), before its minimum."""
    lowest = int(np.argmin(losses))
    skip = max(1, len(losses) // 10)
    if lowest - skip < 2:  # the loss never fell: a tenth of where it was lowest
        return float(max(rates[lowest] / 10, rates[0]))
    slopes = np.gradient(losses[:lowest + 1], np.log(rates[:lowest + 1]))
    return float(rates[skip + int(np.argmin(slopes[skip:]))])


def find_learning_rate(model, train, start_learning_rate=1e-7, end_learning_rate=10.0, num_steps=100,
                       smoothing=0.9, diverge_factor=4.0, log_dir=None, verbose=True):
    """Learning-rate finder (Smith 2015, fastai's ``lr_find``): train with an exponentially
    growing learning rate, one batch per step, until the loss diverges; plot loss vs rate.

    It trains what is trainable now: the head on cached features when the base is frozen (a
    fresh builder model), the unfrozen layers otherwise, with a fresh Adam. Afterwards every
    weight of ``model`` is restored exactly and its own optimizer and compile settings are
    back, so the sweep leaves no trace.

    Args:
        model: A compiled tl_suite model.
        train: Training dataset (repeated as needed).
        start_learning_rate, end_learning_rate: Range of the sweep.
        num_steps: Number of batches (learning rates) tried.
        smoothing: Exponential smoothing of the loss curve.
        diverge_factor: Stop once the smoothed loss exceeds this multiple of its minimum.
        log_dir: If given, the plot goes into TensorBoard (``lr_finder`` image) and the loss per
            rate into scalars.
        verbose: Print the suggestion.

    Returns:
        A `LearningRateSweep` (rates, smoothed and raw losses, ``suggestion``, ``figure``).

    Example:
    >>> import numpy as np, tl_suite
    >>> train = tl_suite.image_dataset(images=np.zeros((8, 32, 32), "uint8"),
    ...                                labels=np.arange(8) % 2, batch_size=4, verbose=False)
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=2, weights=None)
    >>> sweep = tl_suite.find_learning_rate(model, train, num_steps=20, verbose=False)
    >>> bool(1e-7 <= sweep.suggestion <= 10)
    True
    """
    if not 0 < start_learning_rate < end_learning_rate:
        raise ValueError(
            "Need 0 < start_learning_rate < end_learning_rate. Received: "
            f"start_learning_rate={start_learning_rate!r}, end_learning_rate={end_learning_rate!r}."
        )
    if not isinstance(num_steps, int) or num_steps < 5:
        raise ValueError(f"`num_steps` must be an integer >= 5. Received: num_steps={num_steps!r}.")
    rates = start_learning_rate * (end_learning_rate / start_learning_rate) ** (np.arange(num_steps) / (num_steps - 1))
    saved = [np.array(v) for v in model.variables]
    original = model.optimizer
    cache = None
    try:
        if feature_cache.is_frozen(model):
            cache = feature_cache.FeatureCache.from_dataset(model, train, description="training", verbose=verbose)
            target, data = model.get_layer("head"), cache.dataset(seed=0)
            head_config = model.get_compile_config()
            loss = head_config["loss"]
            with strategy_scope(model):
                sweep_optimizer = keras.optimizers.Adam(start_learning_rate)
            target.compile(optimizer=sweep_optimizer,
                           loss=loss if isinstance(loss, str) else keras.losses.deserialize(loss))
        else:  # text models tokenize inside their own fit
            target, data = model, train
            with strategy_scope(model):
                sweep_optimizer = keras.optimizers.Adam(start_learning_rate)
            _compile_like(model, sweep_optimizer, steps_per_execution=1)
        sweep = _Sweep(rates, smoothing, diverge_factor)
        target.fit(data.repeat(), epochs=num_steps, steps_per_epoch=1, callbacks=[sweep], verbose=0,
                   shuffle=False)
    finally:
        for variable, value in zip(model.variables, saved):
            variable.assign(value)
        if cache is not None:
            cache.close()
        if model.optimizer is not original:
            _compile_like(model, original)
    tried = rates[:len(sweep.raw)]
    losses, raw = np.array(sweep.smoothed), np.array(sweep.raw)
    suggestion = _suggest(tried, losses)
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    axes.plot(tried, losses, label="smoothed loss")
    axes.plot(tried, raw, alpha=0.3, label="batch loss")
    axes.axvline(suggestion, color="red", linestyle="--", label=f"suggestion {suggestion:.2g}")
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("training loss")
    axes.set_ylim(top=min(float(np.nanmax(losses)), 4 * float(np.nanmin(losses)) + 1e-3) * 1.05)
    axes.set_title("Learning-rate finder")
    axes.legend()
    figure.tight_layout()
    if log_dir is not None:
        log_figure(log_dir, "lr_finder", figure)
        writer = tf.summary.create_file_writer(os.path.join(log_dir, "lr_finder"))
        with writer.as_default():
            for step, (rate, loss) in enumerate(zip(tried, losses)):
                tf.summary.scalar("lr_finder/loss", loss, step=step)
                tf.summary.scalar("lr_finder/learning_rate", rate, step=step)
        writer.close()
    if verbose:
        print(f"Learning-rate finder: {len(tried)} steps from {tried[0]:.1e} to {tried[-1]:.1e}; "
              f"lowest smoothed loss at {tried[int(np.argmin(losses))]:.1e}; suggestion {suggestion:.1e}")
    return LearningRateSweep(tried, losses, raw, suggestion, figure)


def _lora_backbone(model):
    backbone = getattr(model, "backbone", None)
    if backbone is None or not getattr(backbone, "_lora_enabled_layers", []):
        raise ValueError(
            "`model` has no LoRA adapters. Build it with lora_rank=... (e.g. "
            "tl_suite.build_text_classifier('minilm_l6', num_classes=5, lora_rank=8))."
        )
    return backbone


def save_adapter(model, filepath):
    """Save only the LoRA adapter weights and the head of a ``lora_rank=`` text model.

    The file (``*.lora.h5``) is small: for MiniLM-L6 at rank 8 about 74k LoRA parameters plus
    the head, instead of 22M base parameters. `load_adapter` puts them into a model built the
    same way. ``model.save(...)`` instead writes a full model with LoRA merged into the kernels.

    Example:
    >>> import tempfile, tl_suite
    >>> from tl_suite.backbones.text import tiny_bert_spec
    >>> spec = tiny_bert_spec(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad"])
    >>> model = tl_suite.build_text_classifier(spec, num_classes=2, weights=None, lora_rank=2)
    >>> path = tempfile.mkdtemp() + "/adapter.lora.h5"
    >>> tl_suite.save_adapter(model, path)
    >>> tl_suite.load_adapter(model, path)
    """
    if not str(filepath).endswith(".lora.h5"):
        raise ValueError(f"The adapter file name must end in `.lora.h5`. Received: filepath={filepath!r}.")
    backbone = _lora_backbone(model)
    backbone.save_lora_weights(str(filepath))
    head = model.get_layer("head")
    with h5py.File(filepath, "a") as store:
        group = store.create_group("tl_suite_head")
        for index, weight in enumerate(head.weights):
            group.create_dataset(str(index), data=np.array(weight))


def load_adapter(model, filepath):
    """Load `save_adapter`'s LoRA and head weights into ``model`` (built with the same backbone,
    head and ``lora_rank``)."""
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No adapter file at {filepath!r}. Received: filepath={filepath!r}.")
    backbone = _lora_backbone(model)
    backbone.load_lora_weights(str(filepath))
    head = model.get_layer("head")
    with h5py.File(filepath, "r") as store:
        group = store["tl_suite_head"]
        if len(group) != len(head.weights):
            raise ValueError(
                f"{filepath!r} holds {len(group)} head weights but the model's head has "
                f"{len(head.weights)}. Build the model with the same head (num_classes, hidden_units)."
            )
        for index, weight in enumerate(head.weights):
            value = group[str(index)][()]
            if value.shape != tuple(weight.shape):
                raise ValueError(
                    f"Head weight {weight.path} is {tuple(weight.shape)} in the model but "
                    f"{value.shape} in {filepath!r}. Build the model with the same head."
                )
            weight.assign(value)


def merge_lora(model):
    """Return a copy of ``model`` with each LoRA update merged into its kernel: no adapter
    variables, the same predictions. (``model.save`` writes this merged form too.)"""
    _lora_backbone(model)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "merged.keras")
        model.save(path)
        return keras.saving.load_model(path)
