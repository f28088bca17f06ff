"""The module paths of the flat layout, kept working as aliases of the modules in the groups.

Before the groups, every module sat directly in ``mor`` (``mor.balanced``, ``mor.norms``,
``mor.systems.LTI`` ...), and the documentation, notebooks and users' code name those paths.
:func:`register_old_paths` enters each old path in :data:`sys.modules` as the very module object
that now lives in a group, so ``import mor.balanced``, ``from mor.norms import hinf_norm`` and
``monkeypatch.setattr("mor.balanced.x", ...)`` act on the real module.  Where the old name is
free, it is also set as an attribute of :mod:`mor`; where ``mor`` already has a function of
that name (``mor.gramians``, ``mor.discretize``) the attribute stays the function, as before.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["OLD_PATHS", "register_old_paths"]

#: old module path (under ``mor``) -> the module's path in its group.
OLD_PATHS: dict[str, str] = {
    "_arrays": "linalg._arrays",
    "_capi": "linalg._capi",
    "_exact": "linalg._exact",
    "_expm1": "linalg._expm1",
    "_leading_svd": "linalg._leading_svd",
    "_shifted": "linalg._shifted",
    "schur": "linalg.schur",
    "hammarling": "linalg.hammarling",
    "cauchy": "linalg.cauchy",
    "lyapunov": "linalg.lyapunov",
    "_statespace": "systems._statespace",
    "sparse": "systems.sparse",
    "_diagonal_form": "systems._diagonal_form",
    "discretize": "systems.discretize",
    "stability": "systems.stability",
    "lowrank": "gramians.lowrank",
    "hankel": "gramians.hankel",
    "_frequency": "analysis._frequency",
    "norms": "analysis.norms",
    "h2": "analysis.h2",
    "response": "analysis.response",
    "balanced": "reduction.balanced",
    "lowrank_bt": "reduction.lowrank_bt",
    "spa": "reduction.spa",
    "modal": "reduction.modal",
    "h2_optimal": "reduction.h2_optimal",
}


def register_old_paths() -> None:
    """Make every old module path of :data:`OLD_PATHS` import the module of its group."""
    package = sys.modules[__package__]
    for old, new in OLD_PATHS.items():
        module = importlib.import_module(f"{__package__}.{new}")
        sys.modules.setdefault(f"{__package__}.{old}", module)
        if not hasattr(package, old):
            setattr(package, old, module)
