"""Docstring examples must run (offline) and stay true to the code."""

import doctest
import importlib
import pkgutil

import pytest

import tl_suite

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(tl_suite.__path__, prefix="tl_suite.")
    if info.name != "tl_suite.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_public_verbs_show_an_example():
    verbs = ["build_image_classifier", "build_text_classifier", "build_text_regressor",
             "build_token_classifier", "predict", "load_model", "image_dataset", "text_dataset",
             "token_dataset", "fit", "evaluate", "fine_tune", "find_learning_rate", "unfreeze",
             "list_backbones", "get_backbone", "register_backbone", "with_info"]
    missing = [name for name in verbs
               if ">>>" not in (getattr(tl_suite, name).__doc__ or "")
               and ">>>" not in (importlib.import_module(getattr(tl_suite, name).__module__).__doc__ or "")]
    assert not missing, f"public verbs without a runnable example: {missing}"
