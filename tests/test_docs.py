"""Docstring examples must run (offline) and stay true to the code."""

import doctest
import importlib

import pytest

MODULES = ["tl_suite.backbones", "tl_suite.models", "tl_suite.images", "tl_suite.datasets",
           "tl_suite.strategy", "tl_suite.training", "tl_suite.text_models", "tl_suite.text_data",
           "tl_suite.schedules", "tl_suite.fine_tuning"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
