"""Lazy package exports (PEP 562): a name is imported from its module on first use.

``mor_torch`` and ``mor_torch.lra`` export their names this way, so importing either package
imports neither torch nor the training stack until a name is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, str], namespace: dict[str, Any]) -> tuple[Callable, Callable]:
    """Module ``__getattr__`` and ``__dir__`` for ``package`` exporting ``{name: submodule}``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : dict of str to str
        Exported name -> submodule (relative to the package) that defines it.
    namespace : dict
        The package's ``globals()``; a resolved name is stored there, so later lookups are direct.

    Returns
    -------
    (__getattr__, __dir__)
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
