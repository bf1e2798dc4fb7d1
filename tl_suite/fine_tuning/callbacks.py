"""Callbacks of `fine_tune`: stage markers in TensorBoard and gradual unfreezing (ULMFiT)."""

import os

import keras
import tensorflow as tf


class StageMarker(keras.callbacks.Callback):
    """Writes a ``stage`` scalar per epoch (0 = frozen head, 1 = unfrozen) and, when a stage
    starts, a text note ``stage_note``, next to the TensorBoard scalars, so one run shows both
    stages. (One tag holds one kind of summary: a text under ``stage`` would be read as the
    scalar's values.)"""

    def __init__(self, log_dir, stage, note):
        super().__init__()
        self.log_dir, self.stage, self.note, self.noted = log_dir, stage, note, False

    def on_epoch_end(self, epoch, logs=None):
        writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))
        with writer.as_default():
            tf.summary.scalar("stage", self.stage, step=epoch)
            if not self.noted:
                tf.summary.text("stage_note", self.note, step=epoch)
        writer.close()
        self.noted = True


class GradualUnfreezing(keras.callbacks.Callback):
    """Opens one more base group (from the top) per epoch, starting at ``first_epoch``.

    Every group is trainable from the start (the graph is compiled once); a group still closed
    has its learning-rate multipliers set to 0 in the model's `DiscriminativeAdam`, and an open
    one gets back the optimizer's own ``learning_rate_multipliers``. Logs ``open_groups``.
    """

    def __init__(self, groups, first_epoch, verbose=False):
        super().__init__()
        self.groups, self.first_epoch, self.verbose = groups, first_epoch, verbose

    def open_count(self, epoch):
        return min(len(self.groups), epoch - self.first_epoch + 1)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if not optimizer.built:  # `fit` builds it before this; direct callers may not have
            with self.model.distribute_strategy.scope():
                optimizer.build(self.model.trainable_variables)
        count = self.open_count(epoch)
        closed = self.groups[:len(self.groups) - count]
        optimizer.set_multipliers({name: 0.0 for _, members in closed for name in members})
        if self.verbose:
            print(f"Gradual unfreezing: top {count}/{len(self.groups)} base groups open "
                  f"(from {self.groups[len(self.groups) - count][0]!r})")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["open_groups"] = float(self.open_count(epoch))
