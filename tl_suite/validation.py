"""Argument checks shared by the builders: clear `ValueError`s that echo what was received."""


def check_choice(argument, value, choices):
    """``value`` must be one of ``choices``."""
    if value not in choices:
        raise ValueError(
            f"Unknown `{argument}`. Choose one of {list(choices)}. Received: {argument}={value!r}."
        )


def check_integer(argument, value, minimum=1, hint=""):
    """``value`` must be an integer (not a bool) ``>= minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(
            f"`{argument}` must be an integer >= {minimum}{hint}. Received: {argument}={value!r}."
        )


def check_dropout(dropout):
    """``dropout`` must be in [0, 1)."""
    if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}.")


def label_count(argument, count, names, minimum):
    """The number of outputs from a count and/or a list of names (they must agree)."""
    if names is not None:
        if count is not None and count != len(names):
            raise ValueError(
                f"`{argument}` and the names disagree. Received: {argument}={count}, "
                f"names={list(names)} ({len(names)} names)."
            )
        count = len(names)
    if not isinstance(count, int) or isinstance(count, bool) or count < minimum:
        raise ValueError(
            f"`{argument}` must be an integer >= {minimum} (or give the label names). "
            f"Received: {argument}={count!r}."
        )
    return count
