"""The examples in the docstrings of ``mor_torch`` run and print what they show."""

import doctest
import importlib
import pkgutil

import pytest

torch = pytest.importorskip("torch")

import mor_torch  # noqa: E402

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(mor_torch.__path__, "mor_torch.")
    if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"
