"""fastai's ``fine_tune`` in Keras: freeze -> fit the head -> open groups with discriminative
rates and a schedule (one compile) -> fit everything."""

import numpy as np
import tensorflow as tf

from tl_suite.fine_tuning.callbacks import GradualUnfreezing, StageMarker
from tl_suite.fine_tuning.freezing import is_frozen, layer_groups, unfreeze
from tl_suite.fine_tuning.schedules import SCHEDULES, make_schedule
from tl_suite.training.fit import fit
from tl_suite.validation import check_choice, check_integer


def count_batches(dataset, argument="train"):
    """Batches in one pass over finite ``dataset`` (counted when its cardinality is unknown)."""
    cardinality = int(dataset.cardinality())
    if cardinality == tf.data.INFINITE_CARDINALITY:
        raise ValueError(
            f"`{argument}` repeats forever, so epochs have no end. Pass a finite dataset "
            "(without .repeat()). Received: an infinite dataset."
        )
    if cardinality >= 0:
        return cardinality
    return sum(1 for _ in dataset)


def count_parameters(weights):
    """Number of scalars in ``weights``."""
    return int(sum(np.prod(w.shape) for w in weights))


class _Stages:
    """Both stages' histories merged into one, with ``(name, first, last epoch, trainable
    parameters)`` per stage."""

    def __init__(self):
        self.history, self.stages, self.next_epoch = {}, [], 0

    def add(self, history, name, trainable):
        for key, values in history.history.items():
            self.history.setdefault(key, []).extend(values)
        ran = len(history.epoch)
        self.stages.append((name, self.next_epoch, self.next_epoch + ran - 1, trainable))
        self.next_epoch += ran

    def merged(self, last):
        last.history, last.stages = self.history, self.stages
        return last


def _check_arguments(model, frozen_epochs, epochs, schedule, base_learning_rate, unfreeze_groups):
    check_integer("frozen_epochs", frozen_epochs, 0)
    check_integer("epochs", epochs, 1)
    check_choice("schedule", schedule, SCHEDULES)
    if not base_learning_rate > 0:
        raise ValueError(
            f"`base_learning_rate` must be > 0. Received: base_learning_rate={base_learning_rate!r}."
        )
    groups = layer_groups(model)
    if unfreeze_groups is not None and (
            not isinstance(unfreeze_groups, int) or not 1 <= unfreeze_groups <= len(groups)):
        raise ValueError(
            f"`unfreeze_groups` must be an integer in [1, {len(groups)}] (the base has groups "
            f"{[name for name, _ in groups]}) or None for all. Received: unfreeze_groups={unfreeze_groups!r}."
        )
    if frozen_epochs and not is_frozen(model):
        raise ValueError(
            "Stage 1 trains the head on a frozen base, but the base of `model` is already "
            "(partly) trainable. Pass a model fresh from a builder (or tl_suite.freeze it), or "
            f"frozen_epochs=0 to fine-tune it as it is. Received: frozen_epochs={frozen_epochs}."
        )
    return groups


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
    groups = _check_arguments(model, frozen_epochs, epochs, schedule, base_learning_rate,
                              unfreeze_groups)
    learning_rate = 10 * base_learning_rate if learning_rate is None else learning_rate
    show, stages = verbose != 0, _Stages()

    if frozen_epochs:  # 1. the head alone, on cached features of the frozen base
        trainable = count_parameters(model.trainable_weights)
        note = (f"Stage 1: head only on the frozen base, {frozen_epochs} epochs, "
                f"{trainable:,} trainable parameters")
        if show:
            print(f"Stage 1/2: head only ({trainable:,} trainable parameters), {frozen_epochs} epochs")
        history = fit(model, train, validation, epochs=frozen_epochs, log_dir=log_dir,
                      early_stopping_patience=None, backup=False, seed=seed, verbose=verbose,
                      callbacks=[StageMarker(log_dir, 0, note), *(callbacks or [])])
        stages.add(history, "frozen", trainable)

    # 2. Open the top groups; one compile with discriminative rates following the schedule.
    opened = groups if gradual or unfreeze_groups is None else groups[-unfreeze_groups:]
    rate = make_schedule(schedule, learning_rate, count_batches(train) * epochs)
    unfreeze(model, groups=len(opened), learning_rate=rate, base_learning_rate=base_learning_rate,
             layer_decay=layer_decay, jit_compile=jit_compile)

    # 3. Train all that is open (with `gradual`, one more group per epoch).
    trainable = count_parameters(model.trainable_weights)
    note = (f"Stage 2: {'gradual unfreezing of' if gradual else 'unfrozen'} "
            f"{len(opened)}/{len(groups)} base groups from {opened[0][0]!r}, "
            f"{epochs} epochs, {schedule} schedule, head peak {learning_rate:g}, top base group "
            f"{base_learning_rate:g}, layer decay {layer_decay:g}, {trainable:,} trainable parameters; "
            "BatchNorm in inference mode")
    if show:
        print(note)
    first = stages.next_epoch
    stage_callbacks = [StageMarker(log_dir, 1, note)]
    if gradual:
        stage_callbacks.append(GradualUnfreezing(groups, first, show))
    history = fit(model, train, validation, epochs=first + epochs, initial_epoch=first,
                  log_dir=log_dir, early_stopping_patience=early_stopping_patience,
                  cache_features=False, callbacks=stage_callbacks + list(callbacks or []),
                  verbose=verbose)
    stages.add(history, "unfrozen", trainable)
    return stages.merged(history)
