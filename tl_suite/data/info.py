"""What a tl_suite dataset carries: one explicit `DatasetInfo`, not loose attributes.

`image_dataset`, `text_dataset` and `token_dataset` attach a `DatasetInfo` to each dataset they
return. A `tf.data` transformation (``map``, ``filter``, ``rebatch``, ...) returns a new dataset
object without it; `dataset_info` then finds it on the dataset the transformation started from,
so the metadata survives user transformations. `with_info` attaches it explicitly (to a dataset
made another way, or to change a field).
"""

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Metadata of a tl_suite dataset.

    Attributes:
        kind: ``"image"``, ``"text"`` or ``"tokens"``.
        class_names: Class / label names (tag names for ``"tokens"``), or None (regression).
        num_examples: Examples in this dataset (windows for long NER sentences).
        shuffled: Reshuffled every epoch (the cached-feature path keeps order otherwise).
        augmented: Random augmentation each epoch (`fit` caches several augmented views).
        label_mode: ``"int"``, ``"one_hot"``, ``"multi_hot"``, ``"float"`` or ``"tags"``.
        text_pairs: Examples are pairs of texts ``(first, second)``.
        tokenized: For ``tokenize=True`` datasets, ``{"backbone", "sequence_length",
            "vocabulary_size"}`` (`fit` checks the model matches); else None.
        report: What reading the data found (a `DataReport`), or None.
        split: ``{"validation_split", "seed", "subset"}`` for one side of a seeded split, or
            None (all the data that was read).
    """

    kind: str
    class_names: Optional[list] = None
    num_examples: Optional[int] = None
    shuffled: bool = False
    augmented: bool = False
    label_mode: str = "int"
    text_pairs: bool = False
    tokenized: Optional[dict] = None
    report: object = None
    split: Optional[dict] = None

    @property
    def tag_names(self):
        """Tag names of a ``"tokens"`` dataset (same list as ``class_names``)."""
        return self.class_names if self.kind == "tokens" else None

    def replace(self, **changes):
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def attach_info(dataset, info):
    """Attach ``info`` to ``dataset`` (and the convenience aliases users read: ``class_names``,
    ``tag_names``, ``report``, ``num_examples``); return ``dataset``."""
    dataset.info = info
    dataset.class_names = info.class_names
    dataset.report = info.report
    dataset.num_examples = info.num_examples
    if info.kind == "tokens":
        dataset.tag_names = info.class_names
    return dataset


def with_info(dataset, like=None, **fields):
    """Attach tl_suite metadata to ``dataset``: that of ``like`` (another dataset or a
    `DatasetInfo`), with ``fields`` changed. Returns ``dataset``.

    Example:
    >>> import tensorflow as tf, tl_suite
    >>> data = tl_suite.with_info(tf.data.Dataset.range(4).batch(2), kind="image",
    ...                           class_names=["cat", "dog"])
    >>> tl_suite.dataset_info(data.map(lambda x: x)).class_names
    ['cat', 'dog']
    """
    base = like if isinstance(like, DatasetInfo) or like is None else dataset_info(like)
    if like is not None and base is None:
        raise ValueError(
            "`like` carries no tl_suite dataset info. Pass a dataset made by image_dataset / "
            f"text_dataset / token_dataset, or a DatasetInfo. Received: like={like!r}."
        )
    if base is None and fields.get("kind") not in ("image", "text", "tokens"):
        raise ValueError(
            "Without `like`, give the dataset's `kind`: 'image', 'text' or 'tokens' (e.g. "
            f"with_info(dataset, kind='image', class_names=[...])). Received: kind={fields.get('kind')!r}."
        )
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(DatasetInfo)})
    if unknown:
        raise ValueError(
            f"Unknown DatasetInfo fields {unknown}; the fields are "
            f"{[f.name for f in dataclasses.fields(DatasetInfo)]}. Received: {unknown[0]}=..."
        )
    info = base.replace(**fields) if base is not None else DatasetInfo(**fields)
    return attach_info(dataset, info)


def _parents(dataset):
    # tf.data keeps a transformed dataset's sources only in the private `_inputs()`; it is the
    # one way to see through `map`/`filter`/`rebatch` to the dataset that carries the info.
    inputs = getattr(dataset, "_inputs", None)
    try:
        return list(inputs()) if callable(inputs) else []
    except (TypeError, NotImplementedError):
        return []


def dataset_info(dataset):
    """The `DatasetInfo` of ``dataset`` or of the dataset it was transformed from; None if
    neither was made by tl_suite (or given one with `with_info`)."""
    seen, pending = set(), [dataset]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        info = getattr(current, "info", None)
        if isinstance(info, DatasetInfo):
            return info
        pending.extend(_parents(current))
    return None
