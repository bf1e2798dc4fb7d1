"""`top_losses` and `plot_top_losses`: the examples the model gets most wrong."""

from tl_suite.inspection.examples import model_kind, predict_examples
from tl_suite.inspection.rows import example_rows
from tl_suite.inspection.show_results import results_figure
from tl_suite.training.figures import log_figure
from tl_suite.validation import check_integer


def top_losses(model, dataset, k=9, decoding="constrained", verbose=False):
    """The ``k`` examples of ``dataset`` with the highest loss under ``model``, highest first
    (like fastai's ``interp.top_losses``).

    The loss is the model's training loss per example: cross-entropy of the true class; for a
    tagged sentence, the mean cross-entropy of its words' true tags; mean binary cross-entropy
    (multi-label); squared error (regression).

    Args:
        model: A model from a tl_suite builder.
        dataset: A `tf.data.Dataset` of ``(inputs, labels)`` batches (each example is seen
            once; its position in the pass is ``"index"``).
        k: How many examples to return.
        decoding: Tagged sentences: ``"constrained"`` or ``"argmax"`` (see `predict_tags`).
        verbose: Show a progress bar while predicting.

    Returns:
        A list of ``k`` dicts (ready for ``pandas.DataFrame(rows)``): ``"index"``, ``"input"``
        (a uint8 image array, a text, or a sentence's words), ``"true"``, ``"predicted"``
        (class names; one tag per word for sentences), ``"probability"`` (of the predicted
        class), ``"loss"`` and ``"correct"``.

    Example:
    >>> import tl_suite
    >>> from tl_suite.backbones.text import tiny_bert_spec
    >>> from tl_suite.inspection.top_losses import top_losses
    >>> spec = tiny_bert_spec(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad"])
    >>> model = tl_suite.build_text_classifier(spec, class_names=["neg", "pos"], weights=None)
    >>> data = tl_suite.text_dataset(texts=["good", "bad", "good good"], labels=["pos", "neg", "pos"],
    ...                              verbose=False)
    >>> rows = top_losses(model, data, k=2)
    >>> len(rows), sorted(rows[0]), rows[0]["loss"] >= rows[1]["loss"]
    (2, ['correct', 'index', 'input', 'loss', 'predicted', 'probability', 'true'], True)
    """
    check_integer("k", k, 1)
    rows = example_rows(predict_examples(model, dataset, verbose=verbose), decoding)
    return sorted(rows, key=lambda row: -row["loss"])[:k]


def plot_top_losses(model, dataset, k=9, log_dir=None, step=0, columns=None,
                    decoding="constrained", verbose=False):
    """Draw the ``k`` examples with the highest loss (`top_losses`), titled with their index,
    true / predicted label and probability: images in a grid, texts in a table (with their
    loss), sentences with their true and predicted tags.

    Args:
        model, dataset, k, decoding, verbose: As in `top_losses`.
        log_dir: Also write the figure to TensorBoard (Images tab, tag ``top_losses``).
        step: TensorBoard step of the image.
        columns: Images per row of the grid.

    Returns:
        A matplotlib `Figure`.

    Example:
    >>> import numpy as np, tl_suite
    >>> from tl_suite.inspection.top_losses import plot_top_losses
    >>> data = tl_suite.image_dataset(images=np.zeros((4, 16, 16), "uint8"), labels=[0, 1, 0, 1],
    ...                               class_names=["cat", "dog"], verbose=False)
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", class_names=["cat", "dog"],
    ...                                         weights=None)
    >>> figure = plot_top_losses(model, data, k=3)
    >>> len(figure.axes), figure.axes[0].get_title().startswith("#")
    (3, True)
    """
    rows = top_losses(model, dataset, k=k, decoding=decoding, verbose=verbose)
    figure = results_figure(model_kind(model), rows, title="Top losses: true / predicted probability",
                            columns=columns)
    if log_dir is not None:
        log_figure(log_dir, "top_losses", figure, step=step)
    return figure
