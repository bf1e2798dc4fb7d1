"""`DataReport`: what reading images or texts found (used, skipped with where and why, notes).

Bad input never crashes an epoch: it is either a clear error naming the file/row, or a skip or
a note counted here. The datasets keep their report in ``dataset_info(dataset).report`` (also
``dataset.report``).
"""

import dataclasses

import numpy as np

_SHOWN = 20


@dataclasses.dataclass
class DataReport:
    """What reading the data found.

    Attributes:
        source: Where the data came from (a folder, a file, ``"texts"``, ``"tfds:<name>"``).
        unit: What an example is, for the summary line (``"images"``, ``"examples"``, ...).
        class_names: Class names, when known while reading.
        used: Examples kept.
        skipped: ``(where, why)`` of each example left out.
        notes: ``{message: count}`` of what was changed or counted (images converted to RGB,
            texts cut at ``max_characters``, invalid UTF-8 replaced, ...).
        per_class: ``{class name: examples kept}``.
        ignored_files: Files not read at all (another file type).
        flagged: ``(where, why)`` of what was kept but needs a look: files decoded with
            replacement characters, a rare label that looks like a typo of another.

    Example:
    >>> report = DataReport(source="reviews.csv")
    >>> report.skip("reviews.csv:3", "missing value in column 'text'")
    >>> report.note("texts longer than max_characters=10, cut there", 2)
    >>> report.flag("reviews.csv:7", "class 'pso' has 1 example: likely a typo of 'pos'")
    >>> report.used = 5
    >>> print(report)
    Read reviews.csv: 5 examples used.
      2: texts longer than max_characters=10, cut there
      skipped 1:
        reviews.csv:3: missing value in column 'text'
      check 1 (kept):
        reviews.csv:7: class 'pso' has 1 example: likely a typo of 'pos'
    """

    source: str
    unit: str = "examples"
    class_names: list = None
    used: int = 0
    skipped: list = dataclasses.field(default_factory=list)
    notes: dict = dataclasses.field(default_factory=dict)
    per_class: dict = dataclasses.field(default_factory=dict)
    ignored_files: list = dataclasses.field(default_factory=list)
    flagged: list = dataclasses.field(default_factory=list)

    def note(self, message, count=1):
        """Count ``count`` more cases of ``message`` (nothing for a count of 0)."""
        if count:
            self.notes[message] = self.notes.get(message, 0) + int(count)

    def skip(self, where, why):
        """Record one example left out: ``where`` it was and ``why``."""
        self.skipped.append((where, why))

    def flag(self, where, why):
        """Record something kept that the user should check: ``where`` it is and ``why``."""
        self.flagged.append((where, why))

    def count_classes(self, labels, class_names):
        """Fill ``per_class`` from integer ids or multi-hot rows under ``class_names``."""
        labels = np.asarray(labels)
        if class_names is None or not np.issubdtype(labels.dtype, np.number):
            return
        if labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer):
            counts = np.bincount(labels, minlength=len(class_names))
        elif labels.ndim == 2 and labels.shape[1] == len(class_names):
            counts = (labels > 0).sum(axis=0)
        else:
            return
        self.class_names = list(class_names)
        self.per_class = {name: int(count) for name, count in zip(class_names, counts)}

    def __str__(self):
        summary = f"Read {self.source}: {self.used} {self.unit} used"
        if self.per_class:
            classes = ", ".join(f"{name}: {count}" for name, count in self.per_class.items())
            summary += f" in {len(self.per_class)} classes ({classes})"
        lines = [summary + "."]
        lines += [f"  {count}: {message}" for message, count in sorted(self.notes.items())]
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)}:")
            lines += [f"    {where}: {why}" for where, why in self.skipped[:_SHOWN]]
            if len(self.skipped) > _SHOWN:
                lines.append(f"    ... and {len(self.skipped) - _SHOWN} more (see report.skipped)")
        if self.flagged:
            lines.append(f"  check {len(self.flagged)} (kept):")
            lines += [f"    {where}: {why}" for where, why in self.flagged[:_SHOWN]]
            if len(self.flagged) > _SHOWN:
                lines.append(f"    ... and {len(self.flagged) - _SHOWN} more (see report.flagged)")
        if self.ignored_files:
            lines.append(
                f"  ignored {len(self.ignored_files)} files of another type (see report.ignored_files)"
            )
        return "\n".join(lines)
