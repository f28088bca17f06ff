"""The examples in the docstrings of ``mor`` run and print what they show."""

import doctest
import importlib
import pkgutil

import pytest

import mor

MODULES = sorted(m.name for m in pkgutil.iter_modules(mor.__path__, "mor."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"


def test_examples_exist():
    attempted = sum(doctest.testmod(importlib.import_module(n)).attempted for n in MODULES)
    assert attempted >= 10
