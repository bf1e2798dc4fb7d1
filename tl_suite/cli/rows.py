"""Prediction rows (`tl_suite.predict`'s dicts) written as CSV or JSON lines, one per input."""

import csv
import json

FORMATS = ("csv", "jsonl")


def output_format(output, format=None):
    """``format``, else the one ``output``'s extension names (``.jsonl``/``.json``), else CSV.

    Example:
    >>> output_format("out.jsonl"), output_format(None), output_format("out.txt", "jsonl")
    ('jsonl', 'csv', 'jsonl')
    """
    if format is not None:
        return format
    return "jsonl" if output and output.lower().endswith((".jsonl", ".json")) else "csv"


def flatten(row):
    """One CSV record: lists joined with ``|``, a dict as one column per key
    (``probabilities.cat``), floats to 6 significant digits.

    Example:
    >>> flatten({"label": "cat", "probability": 0.912345678, "top_labels": ["cat", "dog"]})
    {'label': 'cat', 'probability': '0.912346', 'top_labels': 'cat|dog'}
    >>> flatten({"labels": ["red"], "probabilities": {"red": 0.7, "blue": 0.1}})
    {'labels': 'red', 'probabilities.red': '0.7', 'probabilities.blue': '0.1'}
    """
    record = {}
    for key, value in row.items():
        if isinstance(value, dict):
            record.update({f"{key}.{name}": _cell(item) for name, item in value.items()})
        else:
            record[key] = _cell(value)
    return record


def _cell(value):
    if isinstance(value, float):
        return format(value, ".6g")
    if isinstance(value, (list, tuple)):
        return "|".join(_cell(item) for item in value)
    return str(value)


def write_rows(rows, file, format="csv"):
    """Write ``rows`` to the open text ``file`` as CSV (a header line first) or JSON lines.

    Example:
    >>> import sys
    >>> write_rows([{"input": "a.txt", "value": 0.5}], sys.stdout)
    input,value
    a.txt,0.5
    >>> write_rows([{"input": "a.txt", "value": 0.5}], sys.stdout, "jsonl")
    {"input": "a.txt", "value": 0.5}
    """
    if format == "jsonl":
        for row in rows:
            file.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    records = [flatten(row) for row in rows]
    columns = list(dict.fromkeys(key for record in records for key in record))
    writer = csv.DictWriter(file, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
