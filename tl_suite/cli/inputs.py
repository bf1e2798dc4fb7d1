"""What `predict` reads, per model kind, with a name for each input (for the output's
``input`` column):

- image models: image files, and folders (every image file under them, sorted);
- text models: a .csv/.jsonl column (``path:line``), .txt files (the whole file is one text),
  folders of .txt files, ``-`` (one text per line of stdin);
- token classifiers: a .csv/.jsonl column, .conll files (the first column of each line; tags,
  if any, are ignored), other text files and ``-`` (one sentence per line).
"""

import os
import sys

from tl_suite.cli.data import TABLE_EXTENSIONS, check_path
from tl_suite.data.image_files import IMAGE_EXTENSIONS
from tl_suite.data.report import DataReport
from tl_suite.data.text_files import read_text_file, read_text_table


def read_inputs(kind, paths, text_column="text", stdin=None):
    """``(inputs, names)`` for `tl_suite.predict` on a model of ``kind`` (``"image"``,
    ``"text"`` or ``"tokens"``); skipped table rows are listed on stderr.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "reviews.csv")
    >>> _ = open(path, "w").write("text\\ngood film\\n\\nbad film\\n")
    >>> inputs, names = read_inputs("text", [path])
    >>> inputs, [name[-5:] for name in names]
    (['good film', 'bad film'], ['csv:2', 'csv:3'])
    """
    pairs = []
    for path in paths:
        pairs.extend(_read_one(kind, path, text_column, stdin or sys.stdin))
    if not pairs:
        raise ValueError(f"No inputs found: nothing to predict. Received: inputs={list(paths)}.")
    names, inputs = zip(*pairs)
    return list(inputs), list(names)


def _read_one(kind, path, text_column, stdin):
    """``[(name, input)]`` of one command-line input."""
    if path == "-":
        if kind == "image":
            raise ValueError("Image models read image files or folders, not stdin. "
                             "Received: inputs=['-'].")
        return [(f"stdin:{number}", line.rstrip("\n")) for number, line in enumerate(stdin, 1)
                if line.strip()]
    check_path(path, "inputs")
    if os.path.isdir(path):
        extensions = IMAGE_EXTENSIONS if kind == "image" else (".txt",)
        return [(file, _read_file(kind, file)) for file in _files_under(path, extensions)]
    if kind != "image" and path.lower().endswith(TABLE_EXTENSIONS):
        return _table_rows(path, text_column)
    if kind == "tokens":
        return _sentences(path)
    return [(path, _read_file(kind, path))]


def _files_under(folder, extensions):
    files = sorted(os.path.join(root, name) for root, _, names in os.walk(folder)
                   for name in names if name.lower().endswith(extensions))
    if not files:
        raise ValueError(f"{folder} holds no {'/'.join(extensions)} files. "
                         f"Received: inputs=[{folder!r}].")
    return files


def _read_file(kind, path):
    """An image is predicted from its path; a text file is read whole."""
    return path if kind == "image" else read_text_file(path, DataReport(source=path))


def _table_rows(path, text_column):
    report = DataReport(source=path)
    texts, _, where = read_text_table(path, text_column=text_column, label_column=None,
                                      report=report)
    for line, why in report.skipped:
        print(f"skipped {line}: {why}", file=sys.stderr)
    return list(zip(where, texts))


def _sentences(path):
    """Sentences of a text file: CoNLL blocks (.conll: first column = word) or one per line."""
    lines = read_text_file(path, DataReport(source=path)).splitlines()
    if not path.lower().endswith(".conll"):
        return [(f"{path}:{number}", line) for number, line in enumerate(lines, 1) if line.strip()]
    sentences, words, start = [], [], None
    for number, line in enumerate([*lines, ""], 1):
        columns = line.split()
        if columns and columns[0] != "-DOCSTART-":
            start, words = start or number, words + [columns[0]]
        elif words:
            sentences.append((f"{path}:{start}", words))
            words, start = [], None
    return sentences
