"""Text files: class folders of .txt files, and CSV / JSONL tables with text and label columns.

A table may hold text pairs: ``text_column=("question", "answer")`` reads two text columns, and
each example is then a tuple ``(first, second)``.
"""

import os

import numpy as np

from tl_suite.data.report import DataReport

INVALID_UTF8 = "invalid UTF-8 bytes, decoded with replacement characters (U+FFFD)"


def read_text_file(path, report):
    """One file as text; invalid UTF-8 is replaced (U+FFFD) and counted in ``report``."""
    with open(path, "rb") as file:
        data = file.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        report.note(f"files with {INVALID_UTF8}")
        return data.decode("utf-8", errors="replace")


def _class_folders(directory, class_names):
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            "`directory` must be a folder with one sub-folder of .txt files per class. "
            f"Received: directory={directory!r}."
        )
    found = sorted(e for e in os.listdir(directory)
                   if os.path.isdir(os.path.join(directory, e)) and not e.startswith("."))
    class_names = list(class_names) if class_names is not None else found
    missing = [name for name in class_names if name not in found]
    if missing or not class_names:
        raise ValueError(
            f"No class folders {missing or ''} in {directory} (found {found}). Put texts in "
            f"{directory}/<class_name>/*.txt. Received: class_names={class_names}."
        )
    return class_names


def read_text_directory(directory, class_names=None, report=None):
    """Texts and label names from ``directory/<class_name>/*.txt``.

    Returns:
        ``(texts, labels, where, class_names)``: labels are class names, ``where`` the paths.
    """
    report = report if report is not None else DataReport(source=directory)
    class_names = _class_folders(directory, class_names)
    texts, labels, where = [], [], []
    for name in class_names:
        folder = os.path.join(directory, name)
        files = sorted(f for f in os.listdir(folder) if f.endswith(".txt") and not f.startswith("."))
        if not files:
            raise ValueError(
                f"Class folder {folder} has no .txt files. Add texts, remove the folder, or pass "
                "`class_names` without it."
            )
        for file_name in files:
            path = os.path.join(folder, file_name)
            texts.append(read_text_file(path, report))
            labels.append(name)
            where.append(path)
    return texts, labels, where, class_names


def text_columns(text_column):
    """``text_column`` as a list of one column name, or two for text pairs."""
    if isinstance(text_column, str):
        return [text_column]
    columns = list(text_column) if isinstance(text_column, (tuple, list)) else []
    if len(columns) != 2 or not all(isinstance(column, str) for column in columns):
        raise ValueError(
            "`text_column` must be a column name, or a pair of names for text pairs, e.g. "
            f"text_column=('question', 'answer'). Received: text_column={text_column!r}."
        )
    return columns


def _read_frame(path):
    import pandas as pd  # only needed for tables

    if not os.path.exists(path):
        raise FileNotFoundError(f"File not found. Received: path={path!r}.")
    if path.endswith((".jsonl", ".json")):
        return pd.read_json(path, lines=path.endswith(".jsonl"), dtype=False), 1
    # line 1 of a CSV file is its header
    return pd.read_csv(path, dtype=str, keep_default_na=True, encoding_errors="replace"), 2


def _is_missing(value):
    return value is None or (isinstance(value, float) and np.isnan(value))


def read_text_table(path, text_column="text", label_column="label", report=None):
    """Texts and labels from a CSV or JSONL file (pandas); rows with missing values are
    skipped (listed in ``report``).

    ``text_column`` is one column name, or two (``("question", "answer")``) for text pairs.

    Returns:
        ``(texts, labels, where)``: strings, or ``(first, second)`` tuples for pairs; the raw
        labels (None without ``label_column``); ``"path:line"`` of each row.
    """
    report = report if report is not None else DataReport(source=path)
    texts_in = text_columns(text_column)
    frame, first_row = _read_frame(path)
    columns = texts_in + ([label_column] if label_column is not None else [])
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path} has no column(s) {missing}. Its columns are {list(frame.columns)}; pass "
            f"`text_column=` / `label_column=`. Received: text_column={text_column!r}, "
            f"label_column={label_column!r}."
        )
    texts, labels, where, replaced = [], [], [], 0
    for position, row in enumerate(frame[columns].itertuples(index=False)):
        line = f"{path}:{position + first_row}"
        empty = next((name for name, value in zip(columns, row) if _is_missing(value)), None)
        if empty is not None:
            report.skip(line, f"missing value in column {empty!r}")
            continue
        parts = tuple(str(value) for value in row[:len(texts_in)])
        replaced += any("\ufffd" in part for part in parts)
        texts.append(parts if len(parts) == 2 else parts[0])
        labels.append(row[len(texts_in)] if label_column is not None else None)
        where.append(line)
    report.note(f"rows with {INVALID_UTF8}", replaced)
    return texts, labels, where
