"""Argument types and the flags several commands share (same names as the Python API's).

An argument type raises `argparse.ArgumentTypeError`, which argparse prints as one line naming
the flag: ``tl-suite train: error: argument --epochs: must be an integer >= 1. Received: 0.``
"""

import argparse

TASKS = ("classification", "multi_label", "regression", "token_classification")


def positive_integer(text):
    """An integer >= 1.

    Example:
    >>> positive_integer("3")
    3
    """
    return _integer(text, minimum=1)


def non_negative_integer(text):
    """An integer >= 0.

    Example:
    >>> non_negative_integer("0")
    0
    """
    return _integer(text, minimum=0)


def _integer(text, minimum):
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}. Received: {text!r}.")
    return value


def integer_or_none(text):
    """An integer >= 1, or ``none`` (None).

    Example:
    >>> integer_or_none("none") is None, integer_or_none("5")
    (True, 5)
    """
    return None if text.lower() == "none" else _integer(text, minimum=1)


def fraction(text):
    """A number strictly between 0 and 1 (a share of the data), or ``0`` / ``none`` (None).

    Example:
    >>> fraction("0.2"), fraction("0")
    (0.2, None)
    """
    if text.lower() in ("0", "none"):
        return None
    value = _number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"must be a number between 0 and 1 (0 or none: no split). Received: {text!r}.")
    return value


def positive_number(text):
    """A number > 0 (a learning rate).

    Example:
    >>> positive_number("1e-3")
    0.001
    """
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0. Received: {text!r}.")
    return value


def dropout_rate(text):
    """A number in [0, 1).

    Example:
    >>> dropout_rate("0.1")
    0.1
    """
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1). Received: {text!r}.")
    return value


def probability(text):
    """A number in [0, 1] (a decision threshold).

    Example:
    >>> probability("0.5")
    0.5
    """
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1]. Received: {text!r}.")
    return value


def _number(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number. Received: {text!r}.") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number. Received: {text!r}.")
    return value


def image_size(text):
    """``224`` (square) or ``HEIGHTxWIDTH`` -> ``(height, width)``.

    Example:
    >>> image_size("224"), image_size("96x128")
    ((224, 224), (96, 128))
    """
    parts = text.lower().split("x")
    try:
        size = tuple(int(part) for part in parts)
    except ValueError:
        size = ()
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 8:
        raise argparse.ArgumentTypeError(
            f"must be SIZE or HEIGHTxWIDTH in pixels (at least 8), e.g. 224 or 96x128. "
            f"Received: {text!r}.")
    return size


def text_columns(text):
    """A column name, or two comma-separated names for text pairs.

    Example:
    >>> text_columns("text"), text_columns("question,answer")
    ('text', ('question', 'answer'))
    """
    names = tuple(name.strip() for name in text.split(","))
    if not all(names) or len(names) > 2:
        raise argparse.ArgumentTypeError(
            f"must be one column name, or two separated by a comma for text pairs "
            f"(question,answer). Received: {text!r}.")
    return names[0] if len(names) == 1 else names


def add_model_argument(parser):
    """The ``MODEL`` positional of the commands that read a trained model."""
    parser.add_argument("model", metavar="MODEL", help="a .keras model saved by `tl-suite train`")


def add_command(subparsers, name, summary, formatter_class, epilog=None):
    """The sub-parser of command ``name``: ``summary`` is its line in ``tl-suite --help`` and
    (as a sentence) the start of its own help."""
    description = summary[0].upper() + summary[1:] + "."
    return subparsers.add_parser(name, help=summary, description=description, epilog=epilog,
                                 formatter_class=formatter_class)


def add_text_columns(parser, label_column=True):
    """``--text-column`` (and ``--label-column``) for CSV / JSONL data."""
    parser.add_argument(
        "--text-column", type=text_columns, default="text", metavar="NAME",
        help="column of the texts in a CSV/JSONL file; two names separated by a comma "
             "(question,answer) read text pairs (default: text)")
    if label_column:
        parser.add_argument(
            "--label-column", default="label", metavar="NAME",
            help="column of the labels in a CSV/JSONL file: class names, 'a|b' lists "
                 "(multi-label) or numbers (regression) (default: label)")


def add_batch_size(parser, default=32, what="examples per batch"):
    parser.add_argument("--batch-size", type=positive_integer, default=default, metavar="N",
                        help=f"{what} (default: {default})")


def add_quiet(parser):
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars and no data report (default: shown)")
