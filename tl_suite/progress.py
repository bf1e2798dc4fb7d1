"""Progress bars for long steps (weight conversion, dataset scans, feature passes)."""

import sys

from tqdm.auto import tqdm


def progress(total, description, verbose=True, unit="step"):
    """Return a tqdm bar; silent when ``verbose`` is false."""
    return tqdm(
        total=total, desc=description, unit=unit, disable=not verbose, file=sys.stderr,
        leave=True, dynamic_ncols=True,
    )
