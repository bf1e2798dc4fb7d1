import glob

import numpy as np
import tensorflow as tf

from tl_suite.training import figures


def test_confusion_matrix_figure_shows_row_normalised_fractions_with_counts():
    matrix = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    figure = figures.confusion_matrix_figure(matrix, ["a", "b", "c"], title="Test")
    axis = figure.axes[0]
    assert axis.get_title() == "Test" and axis.get_xlabel() == "Predicted"
    assert [t.get_text() for t in axis.get_xticklabels()] == ["a", "b", "c"]
    fractions = [[0.75, 0.25, 0], [0, 0, 0], [0.25, 0.25, 0.5]]
    assert [t.get_text() for t in axis.texts] == [
        f"{fraction:.2f}\n({count})" for fraction, count in zip(np.ravel(fractions), matrix.ravel())]
    np.testing.assert_allclose(axis.images[0].get_array(), fractions)


def test_scatter_figure_plots_every_point_and_the_diagonal():
    y_true, y_pred = np.array([[1.0], [2.0], [4.0]]), np.array([[1.5], [2.0], [3.0]])
    axis = figures.scatter_figure(y_true, y_pred).axes[0]
    np.testing.assert_allclose(axis.collections[0].get_offsets(), [[1, 1.5], [2, 2], [4, 3]])
    np.testing.assert_allclose(axis.lines[0].get_xdata(), [1.0, 4.0])
    assert axis.get_xlabel() == "True" and axis.get_ylabel() == "Predicted"


def test_per_label_f1_figure_has_one_bar_per_name():
    report = {"x": {"f1-score": 0.25}, "y": {"f1-score": 1.0}, "macro avg": {"f1-score": 0.6}}
    axis = figures.per_label_f1_figure(report, ["x", "y"]).axes[0]
    assert [bar.get_height() for bar in axis.patches] == [0.25, 1.0]
    assert [t.get_text() for t in axis.get_xticklabels()] == ["x", "y"]


def test_figure_to_image_and_log_figure_write_a_png_image_summary(tmp_path):
    figure = figures.confusion_matrix_figure(np.eye(2, dtype=int), ["a", "b"])
    image = figures.figure_to_image(figure)
    width, height = (figure.get_size_inches() * 100).round().astype(int)
    assert image.dtype == tf.uint8 and tuple(image.shape) == (1, height, width, 4)
    figures.log_figure(str(tmp_path), "matrix", figure, step=3)
    (events,) = glob.glob(str(tmp_path / "evaluation" / "events.out.tfevents.*"))
    tags = [(value.tag, event.step) for event in tf.compat.v1.train.summary_iterator(events)
            for value in event.summary.value]
    assert tags == [("matrix", 3)]
