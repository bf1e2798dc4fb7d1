"""Label encoding: class names or ids, multi-label rows, numbers and NER tags -> arrays.

A label outside the class list is always an error naming where it is, never a guess.
"""

import numpy as np

LABEL_MODES = ("auto", "int", "multi_hot", "float")


def unknown_labels_message(bad, names, what="labels", argument="class_names"):
    """The error for labels not in ``names``; ``bad`` lists ``(where, label)``."""
    shown = ", ".join(f"{where}: {label!r}" for where, label in bad[:5])
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    return (
        f"{len(bad)} {what} are not in the {'tag set' if what == 'tags' else 'class list'} "
        f"{list(names)}: {shown}{more}. Fix those rows or add the names to `{argument}`."
    )


def _resolve_mode(labels, class_names, label_mode):
    if label_mode not in LABEL_MODES:
        raise ValueError(
            "`label_mode` must be 'auto', 'int', 'multi_hot' or 'float'. "
            f"Received: label_mode={label_mode!r}."
        )
    if label_mode != "auto":
        return label_mode
    sample = next((label for label in labels if label is not None), None)
    if isinstance(sample, (list, tuple, set, np.ndarray)):
        return "multi_hot"
    if isinstance(sample, (float, np.floating)) and class_names is None:
        return "float"
    return "int"


def _where(where, index):
    return where[index] if where is not None else f"labels[{index}]"


def encode_ids(ids, class_names=None, where=None):
    """Integer class ids -> int32 array and class names (``"0"``, ``"1"``, ... by default);
    ids outside ``[0, len(class_names))`` are an error."""
    ids = np.asarray(ids).astype("int32")
    names = list(class_names) if class_names is not None else [
        str(i) for i in range(int(ids.max(initial=0)) + 1)]
    bad = np.flatnonzero((ids < 0) | (ids >= len(names)))
    if bad.size:
        raise ValueError(unknown_labels_message([(_where(where, i), int(ids[i])) for i in bad], names))
    return ids, names


def _encode_names(labels, class_names, where):
    as_text = [str(label) for label in labels]
    names = list(class_names) if class_names is not None else sorted(set(as_text))
    index = {str(name): i for i, name in enumerate(names)}
    bad = [(_where(where, i), label) for i, label in enumerate(as_text) if label not in index]
    if bad:
        raise ValueError(unknown_labels_message(bad, names))
    return np.asarray([index[label] for label in as_text], dtype="int32"), names


def _encode_multi_hot(labels, class_names, where):
    rows = [[str(name) for name in label] if isinstance(label, (list, tuple, set, np.ndarray)) else
            [part.strip() for part in str(label).split("|") if part.strip()] for label in labels]
    names = list(class_names) if class_names is not None else sorted({n for row in rows for n in row})
    index = {str(name): i for i, name in enumerate(names)}
    bad = [(_where(where, i), name) for i, row in enumerate(rows) for name in row if name not in index]
    if bad:
        raise ValueError(unknown_labels_message(bad, names))
    encoded = np.zeros((len(rows), len(names)), dtype="float32")
    for i, row in enumerate(rows):
        encoded[i, [index[name] for name in row]] = 1.0
    return encoded, names


def encode_labels(labels, where=None, class_names=None, label_mode="auto"):
    """Labels as int ids, multi-hot rows or floats.

    Args:
        labels: Class names or ids (single-label), lists of names or ``"a|b"`` strings
            (multi-label), or numbers (regression).
        where: Where each label comes from (``"file.csv:3"``), for error messages.
        class_names: Class order; defaults to the sorted names (``"0"``, ``"1"``, ... for ids).
        label_mode: ``"auto"``, ``"int"``, ``"multi_hot"`` or ``"float"``.

    Returns:
        ``(encoded, class_names, label_mode)``; ``class_names`` is None for ``"float"``.

    Example:
    >>> encoded, names, mode = encode_labels(["pos", "neg", "pos"])
    >>> encoded.tolist(), names, mode
    ([1, 0, 1], ['neg', 'pos'], 'int')
    >>> encode_labels(["a|b", "c"], label_mode="multi_hot")[0].tolist()
    [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    label_mode = _resolve_mode(labels, class_names, label_mode)
    if label_mode == "float":
        try:
            return np.asarray(labels, dtype="float32"), None, "float"
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"label_mode='float' needs numeric labels ({error}). Fix the labels or use "
                "label_mode='int' for class names. Received: label_mode='float'."
            ) from None
    if label_mode == "multi_hot":
        return (*_encode_multi_hot(labels, class_names, where), "multi_hot")
    if all(isinstance(label, (int, np.integer)) for label in labels):
        return (*encode_ids(labels, class_names, where), "int")
    return (*_encode_names(labels, class_names, where), "int")


def encode_label_array(labels, class_names=None):
    """An array of labels given with image arrays -> ``(labels, class_names, label_mode)``:
    integer ids (N,) -> int32 (``"int"``), multi-hot (N, K) of 0/1 -> float32
    (``"multi_hot"``), other floats -> float32 (``"float"``, regression)."""
    labels = np.asarray(labels)
    if labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer):
        ids, names = encode_ids(labels, class_names)
        return ids, names, "int"
    if (np.issubdtype(labels.dtype, np.number) or labels.dtype == bool) and labels.ndim in (1, 2):
        values = labels.astype("float32")
        binary = labels.ndim == 2 and bool(np.isin(values, (0.0, 1.0)).all())
        return values, (list(class_names) if class_names is not None else None), (
            "multi_hot" if binary else "float")
    raise ValueError(
        "`labels` must be integer class ids, a multi-hot (N, K) array or float targets. "
        f"Received: labels.dtype={labels.dtype}, labels.shape={labels.shape}."
    )


def sorted_tags(tag_lists):
    """NER tag names in a readable order: ``O``, then ``B-x``, ``I-x`` per entity type, then
    any other tags."""
    names = sorted({tag for tags in tag_lists for tag in tags})
    entity_types = sorted({name[2:] for name in names if name[:2] in ("B-", "I-")})
    ordered = (["O"] if "O" in names else []) + [
        f"{prefix}-{kind}" for kind in entity_types for prefix in ("B", "I")
        if f"{prefix}-{kind}" in names
    ]
    return ordered + [name for name in names if name not in ordered]


def encode_tags(tag_lists, where, tag_names=None):
    """Tag lists -> ``(tag id lists, tag_names)``; tags outside ``tag_names`` are an error
    naming the sentence (``where``)."""
    tag_names = list(tag_names) if tag_names is not None else sorted_tags(tag_lists)
    index = {name: i for i, name in enumerate(tag_names)}
    bad = [(place, tag) for place, tags in zip(where, tag_lists) for tag in tags if tag not in index]
    if bad:
        raise ValueError(unknown_labels_message(bad, tag_names, what="tags", argument="tag_names"))
    return [[index[tag] for tag in tags] for tags in tag_lists], tag_names
