"""Label encoding: class names or ids, multi-label rows, numbers and NER tags -> arrays.

A label outside the class list is always an error naming where it is, never a guess. When the
names are inferred from the labels, a name with very few examples is flagged as a likely typo
(`flag_rare_names`); non-finite regression targets are refused (`check_finite_labels`).
"""

import difflib
import math
import warnings

import numpy as np

LABEL_MODES = ("auto", "int", "multi_hot", "float")
# A name with fewer examples than this, and this many times fewer than the median other name,
# looks like a typo.
RARE_COUNT = 3
RARE_RATIO = 10


def unknown_labels_message(bad, names, what="labels", argument="class_names"):
    """The error for labels not in ``names``; ``bad`` lists ``(where, label)``."""
    shown = ", ".join(f"{where}: {label!r}" for where, label in bad[:5])
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    return (
        f"{len(bad)} {what} are not in the {'tag set' if what == 'tags' else 'class list'} "
        f"{list(names)}: {shown}{more}. Fix those rows or add the names to `{argument}`."
    )


def resolve_label_mode(labels, class_names, label_mode):
    """``label_mode`` with ``"auto"`` resolved from the first label (see `encode_labels`)."""
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
    label_mode = resolve_label_mode(labels, class_names, label_mode)
    if label_mode == "float":
        try:
            values = np.asarray(labels, dtype="float32")
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"label_mode='float' needs numeric labels ({error}). Fix the labels or use "
                "label_mode='int' for class names. Received: label_mode='float'."
            ) from None
        return check_finite_labels(values, where), None, "float"
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
        values = check_finite_labels(labels.astype("float32"))
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


def nonfinite_labels(labels):
    """Indices of the labels that are numbers (or numeric strings such as ``"inf"``) but not
    finite.

    Example:
    >>> nonfinite_labels([1.5, float("nan"), "inf", "cat", 2])
    [1, 2]
    """
    bad = []
    for index, label in enumerate(labels):
        try:
            value = float(label)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(value):
            bad.append(index)
    return bad


def check_finite_labels(values, where=None):
    """Return float ``values`` (N,) or (N, K) if all are finite, else raise a `ValueError`
    naming how many rows hold NaN/inf, the first of them and the fix."""
    rows = np.asarray(values).reshape(len(values), -1)
    bad = np.flatnonzero(~np.isfinite(rows).all(axis=1))
    if bad.size:
        shown = ", ".join(f"{_where(where, i)}={rows[i].tolist() if rows.shape[1] > 1 else rows[i, 0]}"
                          for i in bad[:5])
        raise ValueError(
            f"{bad.size} of {len(rows)} labels are not finite (NaN or inf): {shown}"
            f"{' ...' if bad.size > 5 else ''}. A model cannot learn from them: drop those "
            "examples (e.g. keep = np.isfinite(labels)) or fill in the missing targets. "
            f"Received: labels with non-finite values at indices {bad[:5].tolist()}."
        )
    return values


def _closest(name, others):
    """``(guess, likely)``: the closest other name in words, and whether it is close enough
    (difflib ratio >= 0.6) to call ``name`` a likely typo of it."""
    close = difflib.get_close_matches(name, others, n=1, cutoff=0.6)
    if close:
        return f"likely a typo of {close[0]!r}", True
    nearest = difflib.get_close_matches(name, others, n=1, cutoff=0.0)
    return (f"too rare to learn, or a typo? (closest name {nearest[0]!r})" if nearest
            else "too rare to learn, or a typo?"), False


def flag_rare_names(places, report=None, what="class", argument="class_names", counts=None):
    """Flag names with fewer than 3 examples that are at least 10 times rarer than the median
    other name: likely typos. Each is named in ``report.flagged`` with where its examples are
    and the closest other name; one close to another name (a likely typo) is also warned
    about. Nothing is dropped.

    Args:
        places: ``{name: [where each example is, ...]}``.
        report: A `DataReport` to flag them in (or None).
        what, argument: Words for the message (``"tag"``, ``"tag_names"`` for NER).
        counts: ``{name: number of examples}`` when ``places`` lists only the rare names.

    Returns:
        The messages.

    Example:
    >>> places = {"pos": [f"r.csv:{i}" for i in range(2, 32)], "neg": ["r.csv:40"] * 30,
    ...           "pso": ["r.csv:33"]}
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     print(flag_rare_names(places)[0])
    class 'pso' has only 1 example (r.csv:33) while the others have about 30: likely a typo of
    'pos'. Correct the label, or pass class_names=[...] to refuse unknown names.
    """
    counts = counts if counts is not None else {name: len(where) for name, where in places.items()}
    counts = {name: int(count) for name, count in counts.items() if count}
    messages = []
    for name, count in counts.items():
        others = [other for other in counts if other != name]
        typical = float(np.median([counts[other] for other in others])) if others else 0.0
        if count >= RARE_COUNT or count * RARE_RATIO > typical:
            continue
        guess, likely = _closest(name, others)
        message = (
            f"{what} {name!r} has only {count} example{'s' if count > 1 else ''} "
            f"({', '.join(places[name])}) while the others have about {typical:.0f}: {guess}. "
            f"Correct the label, or pass {argument}=[...] to refuse unknown names."
        )
        messages.append(message)
        if report is not None:
            report.flag(", ".join(places[name]), message)
        if likely:
            warnings.warn(message, UserWarning, stacklevel=3)
    return messages


def flag_rare_classes(encoded, class_names, where, report=None):
    """`flag_rare_names` for encoded labels: int ids (N,) or multi-hot rows (N, K) under
    ``class_names``, ``where[i]`` naming example ``i``. Numeric names (ids) are not checked."""
    encoded = np.asarray(encoded)
    if class_names is None or all(str(name).lstrip("-").isdigit() for name in class_names):
        return []
    hits = encoded > 0 if encoded.ndim == 2 else encoded[:, None] == np.arange(len(class_names))
    counts = dict(zip(class_names, hits.sum(axis=0).tolist()))
    places = {name: [where[i] for i in np.flatnonzero(hits[:, k])]
              for k, name in enumerate(class_names) if counts[name] < RARE_COUNT}
    return flag_rare_names(places, report, counts=counts)


def flag_rare_tags(tag_ids, tag_names, where, report=None):
    """`flag_rare_names` for NER tags: ``tag_ids`` per sentence, ``where`` per sentence; each
    example is named ``"<where> word <n>"``."""
    flat = np.concatenate([np.asarray(ids, dtype="int64") for ids in tag_ids] or [np.zeros(0, "int64")])
    counts = dict(zip(tag_names, np.bincount(flat, minlength=len(tag_names)).tolist()))
    rare = {k for k, name in enumerate(tag_names) if counts[name] < RARE_COUNT}
    places = {tag_names[k]: [] for k in rare}
    for place, ids in zip(where, tag_ids):
        for position, tag in enumerate(ids):
            if tag in rare:
                places[tag_names[tag]].append(f"{place} word {position + 1}")
    return flag_rare_names(places, report, what="tag", argument="tag_names", counts=counts)
