"""Figures of evaluation results (matplotlib, pyplot-free) and writing them to TensorBoard."""

import io
import os

import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure


def confusion_matrix_figure(matrix, class_names, title="Confusion matrix"):
    """A matplotlib figure of a confusion matrix, normalised by row: each cell shows the
    fraction of the true class's examples (its colour too) and, below it, the count.

    Example:
    >>> import numpy as np
    >>> figure = confusion_matrix_figure(np.array([[3, 1], [0, 2]]), ["cat", "dog"])
    >>> [text.get_text() for text in figure.axes[0].texts]
    ['0.75\\n(3)', '0.25\\n(1)', '0.00\\n(0)', '1.00\\n(2)']
    """
    size = max(5.0, 0.55 * len(class_names) + 2.5)
    figure = Figure(figsize=(size, size))  # pyplot-free: no global state, no backend switch
    axis = figure.add_subplot()
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    axis.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("Predicted")
    axis.set_ylabel("True (cells: fraction of the row, count)")
    axis.set_title(title)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            axis.text(j, i, f"{normalised[i, j]:.2f}\n({int(matrix[i, j])})", ha="center",
                      va="center", color="white" if normalised[i, j] > 0.5 else "black", fontsize=8)
    figure.tight_layout()
    return figure


def scatter_figure(y_true, y_pred, title="Predicted vs true"):
    """A predicted-vs-true scatter plot (regression outputs), with the diagonal."""
    figure = Figure(figsize=(5, 5))
    axis = figure.add_subplot()
    axis.scatter(np.ravel(y_true), np.ravel(y_pred), s=8, alpha=0.5)
    low = float(min(np.min(y_true), np.min(y_pred)))
    high = float(max(np.max(y_true), np.max(y_pred)))
    axis.plot([low, high], [low, high], "k--", linewidth=1)
    axis.set_xlabel("True")
    axis.set_ylabel("Predicted")
    axis.set_title(title)
    figure.tight_layout()
    return figure


def per_label_f1_figure(report_dict, names, title="Per-label F1"):
    """A bar chart of the F1 of each of ``names`` in a scikit-learn/seqeval ``report_dict``."""
    figure = Figure(figsize=(max(5, 0.5 * len(names) + 2), 4))
    axis = figure.add_subplot()
    axis.bar(range(len(names)), [report_dict[name]["f1-score"] for name in names])
    axis.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axis.set_ylim(0, 1)
    axis.set_ylabel("F1")
    axis.set_title(title)
    figure.tight_layout()
    return figure


def figure_to_image(figure):
    """Render a matplotlib figure to a ``(1, H, W, 4)`` uint8 tensor for `tf.summary.image`."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    image = tf.io.decode_png(buffer.getvalue(), channels=4)
    return tf.expand_dims(image, 0)


def log_figure(log_dir, tag, figure, step=0, run="evaluation"):
    """Write ``figure`` as an image into TensorBoard under ``log_dir/<run>``."""
    writer = tf.summary.create_file_writer(os.path.join(log_dir, run))
    with writer.as_default():
        tf.summary.image(tag, figure_to_image(figure), step=step)
    writer.flush()
    writer.close()
