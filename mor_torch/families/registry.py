"""The registry of layer families: which family a module belongs to, and the layer -> system map of any family.

:data:`FAMILIES` lists the families in the order they are tried; :func:`recognise` and :func:`family_of` find a
module's family by its parameter names (class for DSS), :func:`near_miss` names a family whose parameters a
module partly holds (for error messages), and :func:`to_lti` converts a layer of any family exactly.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from mor import DiagonalLTI
from mor.errors import SystemTypeError

from .base import Family, own_parameters
from .dss import DSSFamily
from .lru import LRUFamily
from .s4d import S4DFamily
from .s5 import S5Family

__all__ = ["FAMILIES", "family_of", "near_miss", "recognise", "to_lti"]

#: The families, in the order they are tried.
FAMILIES: tuple[Family, ...] = (DSSFamily(), S4DFamily(), LRUFamily(), S5Family())


def recognise(module: nn.Module) -> Family | None:
    """The family of ``module``, or ``None``.

    Parameters
    ----------
    module : nn.Module

    Returns
    -------
    Family or None
    """
    return next((f for f in FAMILIES if f.matches(module)), None)


def near_miss(module: nn.Module) -> str | None:
    """A sentence naming a family whose parameter names ``module`` partly holds (for error messages).

    Parameters
    ----------
    module : nn.Module

    Returns
    -------
    str or None
    """
    names = set(own_parameters(module))
    for child in module.children():
        names |= set(own_parameters(child))
    for family in FAMILIES:
        have = [n for n in family.signature if n in names]
        if len(have) >= 2 and not family.matches(module):
            missing = [n for n in family.signature if n not in names]
            return (f"{type(module).__name__} holds {', '.join(have)} of the {family.name} parameters but not "
                    f"{', '.join(missing)}")  # fmt: skip
    return None


def family_of(module: nn.Module, what: str = "mor_torch") -> Family:
    """The family of ``module``.

    Parameters
    ----------
    module : nn.Module
    what : str
        The caller, for the error message.

    Returns
    -------
    Family

    Raises
    ------
    SystemTypeError
        ``module`` belongs to no family; the message names its type and any near miss.
    """
    family = recognise(module) if isinstance(module, nn.Module) else None
    if family is None:
        hint = near_miss(module) if isinstance(module, nn.Module) else None
        raise SystemTypeError(
            f"{what} expects a layer of a supported family ({', '.join(f.name for f in FAMILIES)}), got "
            f"{type(module).__name__}" + (f" ({hint})" if hint else "")
        )
    return family


def to_lti(layer: Any, *, time: str | None = None, length: int | None = None) -> DiagonalLTI:
    """A layer of any supported family as a :class:`mor.DiagonalLTI` (exact).

    Parameters
    ----------
    layer : nn.Module
        A :class:`DSS` layer or a module of another family (S4D, LRU, S5; see
        :mod:`mor_torch.families`), recognised by its parameter names.
    time : {"continuous", "discrete"}, optional
        The reading of the layer; default ``"continuous"`` for DSS (see
        :func:`mor_torch.convert.dss_to_lti`) and S4D, ``"discrete"`` for LRU and S5 (which have no
        continuous reading).
    length : int, optional
        Kernel length ``L``; required for DSS_SOFTMAX.

    Returns
    -------
    DiagonalLTI
        Channel families (DSS, S4D): batch ``(H,)`` of SISO systems; MIMO families (LRU, S5): one
        system with ``H`` inputs and outputs.  The layer outputs the real part; a discrete system's
        Markov parameters are the kernel shifted by one sample, ``K_j = Re(h[j+1])``, and ``D``
        holds the skip (see :mod:`mor_torch.families.base`).

    Raises
    ------
    SystemTypeError
        ``layer`` belongs to no family (the message names its type and any near miss).
    """
    family = family_of(layer, "to_lti")
    if time is None:
        time = "continuous" if "continuous" in family.gramians else "discrete"
    return family.to_lti(layer, time=family.check_time(time), length=length)
