"""`show_results`: examples with their true and predicted labels, wrong ones marked."""

from tl_suite.inspection.examples import predict_examples
from tl_suite.inspection.figures import RIGHT, WRONG, image_grid, text_table, words_figure
from tl_suite.inspection.rows import example_rows
from tl_suite.inspection.show_batch import tagged_sentence
from tl_suite.training.figures import log_figure
from tl_suite.validation import check_integer


def _outcome(row):
    """``"true / predicted 0.93"`` (values for regression)."""
    probability = "" if row["probability"] is None else f" {row['probability']:.2f}"
    return f"{_short(row['true'])} / {_short(row['predicted'])}{probability}"


def _short(label):
    return ", ".join(map(str, label)) if isinstance(label, list) else str(label)


def _color(row):
    return None if row["correct"] is None else (RIGHT if row["correct"] else WRONG)


def _sentences(row):
    wrong = [t != p for t, p in zip(row["true"], row["predicted"])]
    mark = "" if row["correct"] else "  (wrong)"
    return [tagged_sentence(row["input"], row["true"], caption=f"#{row['index']} true"),
            tagged_sentence(row["input"], row["predicted"], wrong=wrong,
                            caption=f"#{row['index']} predicted (mean p {row['probability']:.2f}){mark}")]


def results_figure(kind, rows, title=None, columns=None):
    """The figure of scored rows (`example_rows`): an image grid titled ``true / predicted
    probability``, a table of texts, or each sentence's true and predicted tags."""
    if kind == "image":
        titles = [f"#{row['index']} {_outcome(row)}" if title else _outcome(row) for row in rows]
        return image_grid([row["input"] for row in rows], titles, [_color(row) for row in rows],
                          columns=columns, title=title)
    if kind == "text":
        table = [[row["input"] if isinstance(row["input"], str) else " [SEP] ".join(row["input"]),
                  _short(row["true"]), _short(row["predicted"]),
                  "" if row["probability"] is None else f"{row['probability']:.2f}",
                  f"{row['loss']:.3f}"] for row in rows]
        return text_table(table, ["text", "true", "predicted", "probability", "loss"],
                          [_color(row) for row in rows], title=title)
    return words_figure([sentence for row in rows for sentence in _sentences(row)], title=title)


def show_results(model, dataset, max_examples=9, log_dir=None, step=0, columns=None,
                 decoding="constrained"):
    """Draw the first ``max_examples`` examples of ``dataset`` with true and predicted labels.

    Images: a grid titled ``true / predicted probability`` (green when right, red when wrong);
    texts: a table of text, true and predicted label, probability and loss (wrong rows red);
    tagged sentences: each sentence twice, with its true and its predicted tags (wrongly
    tagged words in red).

    Args:
        model: A model from a tl_suite builder (image, text or token classifier).
        dataset: A `tf.data.Dataset` of ``(inputs, labels)`` batches the model takes (not
            ``tokenize=True``: the texts are shown).
        max_examples: How many examples to draw.
        log_dir: Also write the figure to TensorBoard (Images tab, tag ``show_results``).
        step: TensorBoard step of the image.
        columns: Images per row of the grid.
        decoding: Tagged sentences: ``"constrained"`` or ``"argmax"`` (see `predict_tags`).

    Returns:
        A matplotlib `Figure`.

    Example:
    >>> import numpy as np, tl_suite
    >>> from tl_suite.inspection.show_results import show_results
    >>> data = tl_suite.image_dataset(images=np.zeros((4, 16, 16), "uint8"), labels=[0, 1, 0, 1],
    ...                               class_names=["cat", "dog"], shuffle=False, verbose=False)
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", class_names=["cat", "dog"],
    ...                                         weights=None)
    >>> figure = show_results(model, data, max_examples=2)
    >>> [axis.get_title().split(" / ")[0] for axis in figure.axes]
    ['cat', 'dog']
    """
    check_integer("max_examples", max_examples, 1)
    examples = predict_examples(model, dataset, max_examples)
    figure = results_figure(examples.kind, example_rows(examples, decoding), columns=columns)
    if log_dir is not None:
        log_figure(log_dir, "show_results", figure, step=step)
    return figure
