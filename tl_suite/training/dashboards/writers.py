"""Writing one TensorBoard run folder with TensorBoard's own summary plugins."""

import contextlib

import numpy as np
import tensorflow as tf

from tl_suite.training.figures import figure_to_image


@contextlib.contextmanager
def summary_writer(directory):
    """Make ``directory`` (a TensorBoard run) the default summary writer inside the block;
    flushed and closed after it.

    Example:
    >>> import os, tempfile
    >>> folder = os.path.join(tempfile.mkdtemp(), "evaluation")
    >>> with summary_writer(folder):
    ...     write_text("test/report", "**hello**")
    >>> any(name.startswith("events") for name in os.listdir(folder))
    True
    """
    writer = tf.summary.create_file_writer(directory)
    try:
        with writer.as_default():
            yield writer
    finally:
        writer.flush()
        writer.close()


def write_text(tag, markdown, step=0):
    """A markdown text summary (Text tab)."""
    tf.summary.text(tag, tf.constant(markdown), step=step)


def write_figure(tag, figure, step=0):
    """A matplotlib ``figure`` as an image summary (Images tab)."""
    tf.summary.image(tag, figure_to_image(figure), step=step)


def write_pr_curve(tag, labels, probabilities, step=0, num_thresholds=101):
    """A precision-recall curve of binary ``labels`` against ``probabilities`` (PR Curves tab),
    with TensorBoard's own ``pr_curve`` summary under exactly ``tag``."""
    from tensorboard.plugins.pr_curve import summary as pr_curve

    summary = pr_curve.pb(tag, labels=np.asarray(labels, bool),
                          predictions=np.clip(np.asarray(probabilities, np.float32), 0.0, 1.0),
                          num_thresholds=num_thresholds)
    summary.value[0].tag = tag  # pb() appends "/pr_curves" to the name; keep ours
    tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=step)


def markdown_cell(value, limit=300):
    """``value`` as one markdown table cell: one line, ``|`` escaped, at most ``limit`` characters.

    Example:
    >>> markdown_cell("a | b\\nc", limit=6)
    'a \\\\| b…'
    """
    text = " ".join(str(value).split())
    text = text if len(text) <= limit else text[:limit - 1] + "…"
    return text.replace("|", "\\|")


def markdown_table(header, rows):
    """A markdown table of ``rows`` (each a sequence of cells) under ``header``.

    Example:
    >>> print(markdown_table(["text", "true"], [["good film", "pos"]]))
    | text | true |
    | --- | --- |
    | good film | pos |
    """
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(markdown_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def tag_part(name):
    """A class name as one part of a tag path (a ``/`` would nest it one level deeper)."""
    return str(name).replace("/", "_")
