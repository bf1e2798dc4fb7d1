"""`most_confused`: which classes (or tags) the model mistakes for which, most often first."""

import collections

from tl_suite.inspection.examples import predict_examples
from tl_suite.inspection.rows import example_rows
from tl_suite.validation import check_integer


def most_confused(model, dataset, min_count=1, decoding="constrained", verbose=False):
    """The off-diagonal cells of the confusion matrix, largest first (like fastai's
    ``interp.most_confused``).

    For a tagger, each word counts once: its true tag against its predicted tag.

    Args:
        model: A classifier or tagger from a tl_suite builder.
        dataset: A `tf.data.Dataset` of ``(inputs, labels)`` batches.
        min_count: Leave out pairs seen fewer times.
        decoding: Tagged sentences: ``"constrained"`` or ``"argmax"`` (see `predict_tags`).
        verbose: Show a progress bar while predicting.

    Returns:
        A list of ``(true, predicted, count)`` tuples, by count (then by names).

    Example:
    >>> import numpy as np, tl_suite
    >>> from tl_suite.inspection.most_confused import most_confused
    >>> data = tl_suite.image_dataset(images=np.zeros((4, 16, 16), "uint8"), labels=[0, 1, 1, 2],
    ...                               class_names=["cat", "dog", "fox"], verbose=False)
    >>> model = tl_suite.build_image_classifier("tiny_efficientnet_lite", num_classes=3, weights=None)
    >>> pairs = most_confused(model, data)  # all-black images: one class predicted for all
    >>> sum(count for _, _, count in pairs) >= 2, all(t != p for t, p, _ in pairs)
    (True, True)
    """
    check_integer("min_count", min_count, 1)
    if model.task not in ("classification", "token_classification"):
        raise ValueError(
            "`most_confused` counts mistaken classes of single-label classifiers and taggers; "
            "for multi-label or regression models use `top_losses`. "
            f"Received: a {model.task} model."
        )
    counts = collections.Counter()
    for row in example_rows(predict_examples(model, dataset, verbose=verbose), decoding):
        if model.task == "token_classification":
            counts.update((t, p) for t, p in zip(row["true"], row["predicted"]) if t != p)
        elif not row["correct"]:
            counts[(row["true"], row["predicted"])] += 1
    pairs = [(true, predicted, count) for (true, predicted), count in counts.items() if count >= min_count]
    return sorted(pairs, key=lambda pair: (-pair[2], pair[0], pair[1]))
