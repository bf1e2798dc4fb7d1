"""fastai's ``fine_tune`` in Keras: freeze -> fit the head -> open groups with discriminative
rates and a schedule (one compile) -> fit everything."""

import shutil

import numpy as np
import tensorflow as tf

from tl_suite.fine_tuning.callbacks import GradualUnfreezing, StageMarker
from tl_suite.fine_tuning.freezing import is_frozen, layer_groups, unfreeze
from tl_suite.fine_tuning.schedules import SCHEDULES, make_schedule
from tl_suite.training.backup import load_arrays, save_arrays
from tl_suite.training.card_facts import record_training
from tl_suite.training.dashboards.run_logs import log_run
from tl_suite.training.fit import check_datasets, chief_of, fit_in_run, run_options
from tl_suite.training.runs import identity_of, open_run

_FROZEN_WEIGHTS = "frozen-stage.npz"  # the weights stage 1 ended with (a resume starts from them)
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
        self.history, self.epoch, self.stages, self.next_epoch = {}, [], [], 0

    def add(self, history, name, trainable):
        """A stage run by this call (a resumed stage's history starts at its resumed epoch)."""
        for key, values in history.history.items():
            self.history.setdefault(key, []).extend(values)
        self.epoch += list(history.epoch)
        last = history.epoch[-1] if history.epoch else self.next_epoch - 1
        self.stages.append((name, self.next_epoch, last, trainable))
        self.next_epoch = last + 1

    def add_record(self, name, epochs, trainable):
        """A stage that ran before a resume (its epochs are in the run's CSV log)."""
        self.stages.append((name, self.next_epoch, self.next_epoch + epochs - 1, trainable))
        self.next_epoch += epochs

    def merged(self, last):
        last.history, last.epoch, last.stages = self.history, self.epoch, self.stages
        return last


# What `fine_tune` does when an argument is left at None. Taggers get their own recipe,
# measured on Twitter NER with MiniLM-L6 (benchmarks/fine_tune_gain.py --parts ner, three model
# seeds, constrained decoding): 40 cheap head epochs on cached features, then 5 unfrozen epochs
# peaking at 2e-4 gave entity F1 0.540 (std 0.007), against 0.529 (std 0.007) at 1e-4, better
# on each seed; the per-word head starts from nothing and the data are a few thousand sentences.
_DEFAULTS = {"frozen_epochs": 1, "epochs": 3, "base_learning_rate": 1e-4}
_TASK_DEFAULTS = {
    "token_classification": {"frozen_epochs": 40, "epochs": 5, "base_learning_rate": 2e-4},
}


def get_recipe_defaults(task):
    """The values `fine_tune` takes for ``frozen_epochs``, ``epochs`` and
    ``base_learning_rate`` left at None, for a model of ``task`` (``model.task``).

    Example:
    >>> get_recipe_defaults("classification")
    {'frozen_epochs': 1, 'epochs': 3, 'base_learning_rate': 0.0001}
    """
    return {**_DEFAULTS, **_TASK_DEFAULTS.get(task, {})}


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
    frozen_epochs=None,
    epochs=None,
    base_learning_rate=None,
    learning_rate=None,
    layer_decay=0.8,
    unfreeze_groups=None,
    gradual=False,
    schedule="one_cycle",
    log_dir="logs",
    early_stopping_patience=None,
    callbacks=None,
    jit_compile="auto",
    seed=None,
    verbose="auto",
    resume="auto",
):
    """fastai's ``fine_tune`` in Keras: train the head on the frozen base, then unfreeze and
    train everything with discriminative learning rates and a one-cycle schedule.

    Stage 1 (``frozen_epochs``) is `fit` on the frozen base: the fast cached-feature path.
    Stage 2 (``epochs``) unfreezes the top ``unfreeze_groups`` groups of base layers (see
    `layer_groups`; ``None``: all) or, with ``gradual=True``, one more group per epoch from
    the top (ULMFiT); BatchNorm stays in inference mode. It recompiles with `DiscriminativeAdam`:
    the head peaks at ``learning_rate``, the top base group at ``base_learning_rate`` and each
    group below at ``layer_decay`` times the one above, all following ``schedule``.
    Both stages log into one run folder of ``log_dir`` (``log_dir/run-NNN``, as in `fit`):
    epochs continue across stages, the learning rate is logged per epoch, a ``stage`` scalar
    (0 frozen, 1 unfrozen) and a text note mark the stages; the recipe and the best epoch's
    logs go to the HParams tab, as in `fit`. ``best.keras`` holds the best model
    of the whole run (stage 2 must beat stage 1's best to replace it). Both stages are backed
    up after every epoch: calling `fine_tune` again with the same arguments after a crash
    resumes at the stage and epoch it reached (stage 1 is not rerun once it has finished; the
    returned history then holds the epochs of this call, with both stages in ``stages``).

    Args:
        model: A compiled tl_suite model (image or text).
        train: Training dataset (finite).
        validation: Optional validation dataset.
        frozen_epochs: Head-only epochs first (0 skips stage 1). Default (None): 1; 40 for
            taggers (`build_token_classifier`), whose per-word head trains on cached features.
        epochs: Epochs with the base unfrozen. Default (None): 3; 5 for taggers.
        base_learning_rate: Peak learning rate of the top base group in stage 2. Default
            (None): 1e-4; 2e-4 for taggers (see `get_recipe_defaults`).
        learning_rate: Peak learning rate of the head in stage 2 (default 10x
            ``base_learning_rate``).
        layer_decay: Learning-rate multiplier from one base group to the group below (1: same).
        unfreeze_groups: Number of top base groups to unfreeze (``None``: all).
        gradual: Open one more group per epoch (gradients of closed groups are computed but
            their learning rate is 0, so the graph is compiled once).
        schedule: ``"one_cycle"``, ``"cosine"`` (warm-up + cosine) or ``"constant"``.
        log_dir: Parent folder of the run folders (TensorBoard logs, checkpoint, CSV log,
            backups).
        early_stopping_patience: Patience in stage 2 (``None``: run all epochs, as one-cycle
            expects).
        callbacks: Extra Keras callbacks for both stages.
        jit_compile: Passed to ``compile`` in stage 2.
        seed: Seed of stage 1's cached-feature shuffling.
        verbose: Keras verbosity.
        resume: As in `fit`: ``"auto"``, True, False or a run folder name.

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
    defaults = get_recipe_defaults(getattr(model, "task", None))
    frozen_epochs = defaults["frozen_epochs"] if frozen_epochs is None else frozen_epochs
    epochs = defaults["epochs"] if epochs is None else epochs
    if base_learning_rate is None:
        base_learning_rate = defaults["base_learning_rate"]
    groups = _check_arguments(model, frozen_epochs, epochs, schedule, base_learning_rate,
                              unfreeze_groups)
    learning_rate = 10 * base_learning_rate if learning_rate is None else learning_rate
    check_datasets(model, train, validation)
    recipe = dict(frozen_epochs=frozen_epochs, epochs=epochs, base_learning_rate=base_learning_rate,
                  learning_rate=learning_rate, layer_decay=layer_decay, schedule=schedule,
                  unfreeze_groups=unfreeze_groups, gradual=gradual, seed=seed)
    identity = identity_of(model, fine_tune=recipe, monitor=run_options(validation)["monitor"])
    run = open_run(log_dir, identity, resume=resume, seed=seed, chief=chief_of(model),
                   verbose=verbose != 0)
    with run:  # finished, or failed on a non-finite loss; the lock released either way
        stages = _frozen_stage(model, train, validation, run, recipe, callbacks, verbose)
        history = _unfrozen_stage(model, train, validation, run, stages, groups, recipe, dict(
            early_stopping_patience=early_stopping_patience, jit_compile=jit_compile,
            callbacks=callbacks, verbose=verbose))
        log_run(run, model, train, validation, history,
                run_options(validation, early_stopping_patience=early_stopping_patience), recipe)
    record_training(model, train, validation, history)  # the model card's training facts
    return history


def _frozen_stage(model, train, validation, run, recipe, callbacks, verbose):
    """Stage 1, the head alone on cached features of the frozen base — or, when the run is
    resumed past it, the weights it ended with. Returns the `_Stages` so far."""
    stages, frozen_epochs = _Stages(), recipe["frozen_epochs"]
    trainable = count_parameters(model.trainable_weights)
    if not frozen_epochs:
        return stages
    if run.state.get("stage", 0) >= 1:  # resumed after stage 1 ended
        model.set_weights(load_arrays(run.path(_FROZEN_WEIGHTS)))
        stages.add_record("frozen", frozen_epochs, trainable)
        return stages
    note = (f"Stage 1: head only on the frozen base, {frozen_epochs} epochs, "
            f"{trainable:,} trainable parameters")
    if verbose != 0:
        print(f"Stage 1/2: head only ({trainable:,} trainable parameters), {frozen_epochs} epochs")
    options = run_options(validation, epochs=frozen_epochs, early_stopping_patience=None,
                          cached=is_frozen(model), backup_name="backup-frozen", keep_backup=True,
                          callbacks=[StageMarker(run.directory, 0, note), *(callbacks or [])],
                          verbose=verbose,
                          choose_branches=False)  # stage 2 fine-tunes the encoder: keep its columns
    history = fit_in_run(model, train, validation, run, options)
    save_arrays(run.path(_FROZEN_WEIGHTS), model.get_weights())
    run.update(stage=1, frozen_best=history.best.best)
    shutil.rmtree(run.path("backup-frozen"), ignore_errors=True)
    stages.add(history, "frozen", trainable)
    return stages


def _unfrozen_stage(model, train, validation, run, stages, groups, recipe, settings):
    """Stage 2: open the top groups with one compile (discriminative rates following the
    schedule), then train all that is open (with `gradual`, one more group per epoch)."""
    epochs, gradual = recipe["epochs"], recipe["gradual"]
    opened = groups if gradual or recipe["unfreeze_groups"] is None else groups[-recipe["unfreeze_groups"]:]
    rate = make_schedule(recipe["schedule"], recipe["learning_rate"], count_batches(train) * epochs)
    unfreeze(model, groups=len(opened), learning_rate=rate,
             base_learning_rate=recipe["base_learning_rate"], layer_decay=recipe["layer_decay"],
             jit_compile=settings["jit_compile"])
    trainable = count_parameters(model.trainable_weights)
    note = (f"Stage 2: {'gradual unfreezing of' if gradual else 'unfrozen'} "
            f"{len(opened)}/{len(groups)} base groups from {opened[0][0]!r}, "
            f"{epochs} epochs, {recipe['schedule']} schedule, head peak {recipe['learning_rate']:g}, "
            f"top base group {recipe['base_learning_rate']:g}, layer decay "
            f"{recipe['layer_decay']:g}, {trainable:,} trainable parameters; BatchNorm in inference mode")
    if settings["verbose"] != 0:
        print(note)
    first = stages.next_epoch
    stage_callbacks = [StageMarker(run.directory, 1, note)]
    if gradual:
        stage_callbacks.append(GradualUnfreezing(groups, first, settings["verbose"] != 0))
    options = run_options(
        validation, epochs=first + epochs, initial_epoch=first,
        early_stopping_patience=settings["early_stopping_patience"], cached=False,
        best=run.state.get("frozen_best"), verbose=settings["verbose"],
        callbacks=stage_callbacks + list(settings["callbacks"] or []),
    )
    history = fit_in_run(model, train, validation, run, options)
    stages.add(history, "unfrozen", trainable)
    return stages.merged(history)
