"""The seeded train/validation split shared by `image_dataset`, `text_dataset` and `token_dataset`.

Like `keras.utils.image_dataset_from_directory`: ``validation_split=0.2`` with
``subset="training"``, ``"validation"`` or ``"both"``; the same ``seed`` gives the same split,
and the two subsets never overlap.
"""

import numpy as np

from tl_suite.data.info import attach_info, dataset_info

SUBSETS = ("training", "validation", "both")


def check_split(validation_split, subset):
    """Raise a clear `ValueError` unless ``validation_split`` and ``subset`` fit together."""
    if subset not in (None, *SUBSETS):
        raise ValueError(
            "`subset` must be 'training', 'validation', 'both' or None. "
            f"Received: subset={subset!r}."
        )
    if (validation_split is None) != (subset is None):
        raise ValueError(
            "`validation_split` and `subset` go together (e.g. validation_split=0.2, "
            f"subset='both'). Received: validation_split={validation_split!r}, subset={subset!r}."
        )
    if validation_split is not None and not (
            isinstance(validation_split, (int, float)) and 0 < validation_split < 1):
        raise ValueError(
            f"`validation_split` must be in (0, 1). Received: validation_split={validation_split!r}."
        )


def split_indices(count, validation_split=None, subset=None, seed=1337):
    """Indices of the examples in each part.

    Returns:
        ``{"all": [0, ..., count - 1]}`` without ``validation_split``; otherwise
        ``{"training": ..., "validation": ...}``: a seeded permutation cut at
        ``1 - validation_split``.

    Example:
    >>> parts = split_indices(10, validation_split=0.2, subset="both", seed=0)
    >>> len(parts["training"]), len(parts["validation"])
    (8, 2)
    >>> sorted(parts["training"].tolist() + parts["validation"].tolist()) == list(range(10))
    True
    """
    check_split(validation_split, subset)
    if validation_split is None:
        return {"all": np.arange(count)}
    order = np.random.default_rng(seed).permutation(count)
    cut = int(round(count * (1 - validation_split)))
    if cut in (0, count):
        raise ValueError(
            f"validation_split={validation_split} leaves an empty subset of {count} examples. "
            f"Use more data or another split. Received: validation_split={validation_split}."
        )
    return {"training": order[:cut], "validation": order[cut:]}


def select_subset(parts, make, subset, validation_split=None, seed=None):
    """Build the requested subset(s) from `split_indices` ``parts``.

    ``make(indices, training)`` builds one dataset (``training`` says whether it may be
    shuffled and augmented). Returns one dataset, or ``(train, validation)`` for
    ``subset="both"``; each side's `DatasetInfo` records the split (``validation_split``,
    ``seed``, which subset).
    """
    if "all" in parts:
        return make(parts["all"], True)

    def side(name):
        dataset = make(parts[name], name == "training")
        info = dataset_info(dataset)
        if info is None:
            return dataset
        split = {"validation_split": validation_split, "seed": seed, "subset": name}
        return attach_info(dataset, info.replace(split=split))

    if subset in ("training", "validation"):
        return side(subset)
    return side("training"), side("validation")


def sample_indices(count, max_examples, seed):
    """Sorted indices of a seeded random subset of ``max_examples`` out of ``count`` (all of
    them when ``max_examples`` is None or not smaller)."""
    if max_examples is None:
        return np.arange(count)
    if not isinstance(max_examples, int) or isinstance(max_examples, bool) or max_examples < 1:
        raise ValueError(
            f"`max_examples` must be a positive integer or None. Received: max_examples={max_examples!r}."
        )
    if max_examples >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, max_examples, replace=False))
