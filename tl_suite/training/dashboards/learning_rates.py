"""`find_learning_rate`'s sweep in TensorBoard, in its own run ``log_dir/lr_finder``.

TensorBoard's scalar charts plot against the step (or time), never against another scalar,
and their x axis is linear, while a sweep's rates span many decades. So the sweep is written
three ways:

- Images: ``lr_finder/loss_vs_learning_rate``, the curve against the learning rate on a log
  axis with the suggestion marked (the figure `find_learning_rate` returns).
- Scalars, at step = index of the batch in the sweep: ``lr_finder/loss`` (smoothed),
  ``lr_finder/batch_loss`` and ``lr_finder/learning_rate`` (hovering over a step shows both).
- Text: ``lr_finder/suggestion``, the suggested rate and a table of step, rate and losses.
"""

import os

import tensorflow as tf

from tl_suite.training.dashboards.writers import markdown_table, summary_writer, write_figure, write_text

RUN = "lr_finder"


def sweep_table(sweep):
    """The suggestion and a markdown table of one row per step of ``sweep`` (a
    `LearningRateSweep`)."""
    rows = [[step, f"{rate:.3g}", f"{loss:.4f}", f"{raw:.4f}"] for step, (rate, loss, raw)
            in enumerate(zip(sweep.learning_rates, sweep.losses, sweep.raw_losses))]
    return (f"Suggested learning rate: **{sweep.suggestion:.3g}** (where the smoothed loss falls "
            "fastest, before its minimum).\n\n"
            + markdown_table(["step", "learning rate", "smoothed loss", "batch loss"], rows))


def log_learning_rate_sweep(log_dir, sweep):
    """Write ``sweep`` (a `LearningRateSweep`) into ``log_dir/lr_finder``."""
    with summary_writer(os.path.join(log_dir, RUN)):
        for step, (rate, loss, raw) in enumerate(zip(sweep.learning_rates, sweep.losses,
                                                     sweep.raw_losses)):
            tf.summary.scalar("lr_finder/loss", loss, step=step)
            tf.summary.scalar("lr_finder/batch_loss", raw, step=step)
            tf.summary.scalar("lr_finder/learning_rate", rate, step=step)
        write_figure("lr_finder/loss_vs_learning_rate", sweep.figure)
        write_text("lr_finder/suggestion", sweep_table(sweep))
