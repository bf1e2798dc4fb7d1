"""Text files: class folders of .txt files, and CSV / JSONL tables with text and label columns.

A table may hold text pairs: ``text_column=("question", "answer")`` reads two text columns, and
each example is then a tuple ``(first, second)``.
"""

import codecs
import io
import os
import re

import numpy as np

from tl_suite.data.report import DataReport

BINARY = "binary file, not text"
# C0/C1 control characters that plain text does not hold (tab, newlines, form feed and ESC do).
_CONTROL = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
# More control characters than this share (or any NUL) marks a file as binary.
_BINARY_SHARE = 0.05
_SAMPLE = 1 << 16


class UnreadableTextError(ValueError):
    """A text file that is binary or does not decode. ``reason`` is the short form listed in
    a `DataReport` when the file is skipped."""

    def __init__(self, message, reason):
        super().__init__(message)
        self.reason = reason


def check_encoding(encoding="utf-8", encoding_errors="strict"):
    """Raise a clear `ValueError` unless ``encoding`` is a codec and ``encoding_errors`` an
    error handler Python knows (``"strict"``, ``"replace"``, ``"ignore"``, ...)."""
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise ValueError(
            "`encoding` must be a text encoding Python knows, e.g. 'utf-8', 'latin-1', "
            f"'cp1252', 'utf-16'. Received: encoding={encoding!r}."
        ) from None
    try:
        codecs.lookup_error(encoding_errors)
    except (LookupError, TypeError):
        raise ValueError(
            "`encoding_errors` must be 'strict' (undecodable files are refused), 'replace' (bad "
            f"bytes become U+FFFD) or 'ignore'. Received: encoding_errors={encoding_errors!r}."
        ) from None


def looks_binary(text):
    r"""True when decoded ``text`` holds a NUL or more than 5% control characters (in its first
    64k characters): data such as an image or an archive, not text.

    Example:
    >>> looks_binary("caf\u00e9 au lait\n"), looks_binary("PK\x03\x04\x00\x00")
    (False, True)
    """
    head = text[:_SAMPLE]
    return "\x00" in head or (bool(head) and len(_CONTROL.findall(head)) > _BINARY_SHARE * len(head))


def _bad_byte(data, error):
    line = data.count(b"\n", 0, error.start) + 1
    return f"byte {data[error.start:error.start + 1]!r} at line {line} (byte offset {error.start})"


def decode_text(data, path, encoding="utf-8", encoding_errors="strict"):
    r"""Bytes of the file ``path`` -> ``(text, bad)``.

    ``bad`` says where the first undecodable byte is (None if every byte decoded); with
    ``encoding_errors="strict"`` such a file raises `UnreadableTextError`, as does a binary
    file. A UTF-8 byte-order mark is dropped.

    Example:
    >>> decode_text(b"caf\xc3\xa9", "a.txt")
    ('café', None)
    >>> decode_text(b"caf\xe9", "a.txt", encoding_errors="replace")
    ('caf\ufffd', "byte b'\\xe9' at line 1 (byte offset 3)")
    >>> decode_text(b"caf\xe9", "a.txt", encoding="latin-1")
    ('café', None)
    >>> decode_text(b"caf\xe9", "a.txt")
    Traceback (most recent call last):
    ...
    tl_suite.data.text_files.UnreadableTextError: a.txt: not valid utf-8: byte b'\xe9' at line 1 (byte offset 3). Pass ...
    """
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    try:
        text, bad = data.decode(codec), None
    except UnicodeDecodeError as error:
        handler = "replace" if encoding_errors == "strict" else encoding_errors
        text, bad = data.decode(codec, errors=handler), _bad_byte(data, error)
    received = f"Received: encoding={encoding!r}, encoding_errors={encoding_errors!r}."
    if looks_binary(text):
        raise UnreadableTextError(
            f"{path}: {BINARY} (NUL or control bytes). Remove it from the text data, or pass "
            f"the file's `encoding` if it is text in another one (e.g. 'utf-16'). {received}",
            BINARY)
    if bad is not None and encoding_errors == "strict":
        reason = f"not valid {encoding}: {bad}"
        raise UnreadableTextError(
            f"{path}: {reason}. Pass the file's encoding (e.g. encoding='latin-1' or 'cp1252'), "
            "or encoding_errors='replace' to decode bad bytes as U+FFFD (the file is then named "
            f"in the report). {received}", reason)
    return text, bad


def read_text_file(path, report, encoding="utf-8", encoding_errors="strict"):
    """One file as text (see `decode_text`); a file decoded with ``encoding_errors`` other
    than ``"strict"`` is counted and named in ``report`` (``report.flagged``)."""
    with open(path, "rb") as file:
        text, bad = decode_text(file.read(), path, encoding, encoding_errors)
    if bad is not None:
        report.note(f"files not valid {encoding}, decoded with encoding_errors={encoding_errors!r}")
        report.flag(path, f"not valid {encoding} ({bad}); decoded with "
                          f"encoding_errors={encoding_errors!r}")
    return text


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


def read_text_directory(directory, class_names=None, report=None, encoding="utf-8",
                        encoding_errors="strict"):
    """Texts and label names from ``directory/<class_name>/*.txt``. Binary files and files that
    do not decode (with ``encoding_errors="strict"``) are skipped and listed in ``report``.

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
            try:
                texts.append(read_text_file(path, report, encoding, encoding_errors))
            except UnreadableTextError as error:
                report.skip(path, error.reason)
                continue
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


def _read_frame(path, report, encoding, encoding_errors):
    import pandas as pd  # only needed for tables

    if not os.path.exists(path):
        raise FileNotFoundError(f"File not found. Received: path={path!r}.")
    # Decoded here, not by pandas, so a bad byte is reported with its offset and the fix.
    text = io.StringIO(read_text_file(path, report, encoding, encoding_errors))
    if path.endswith((".jsonl", ".json")):
        return pd.read_json(text, lines=path.endswith(".jsonl"), dtype=False), 1
    # line 1 of a CSV file is its header
    return pd.read_csv(text, dtype=str, keep_default_na=True), 2


def _is_missing(value):
    return value is None or (isinstance(value, float) and np.isnan(value))


def read_text_table(path, text_column="text", label_column="label", report=None,
                    encoding="utf-8", encoding_errors="strict"):
    """Texts and labels from a CSV or JSONL file (pandas); rows with missing values are
    skipped (listed in ``report``). A binary file, or one that does not decode with
    ``encoding_errors="strict"``, is an `UnreadableTextError` naming the byte and the fix.

    ``text_column`` is one column name, or two (``("question", "answer")``) for text pairs.

    Returns:
        ``(texts, labels, where)``: strings, or ``(first, second)`` tuples for pairs; the raw
        labels (None without ``label_column``); ``"path:line"`` of each row.
    """
    report = report if report is not None else DataReport(source=path)
    texts_in = text_columns(text_column)
    frame, first_row = _read_frame(path, report, encoding, encoding_errors)
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
    report.note("rows with replacement characters (U+FFFD) from bytes that did not decode", replaced)
    return texts, labels, where
