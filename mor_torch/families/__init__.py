"""Layer families: the state-space layers :mod:`mor_torch` converts, reduces and streams.

===========  ============================================  ===========  ==============================
family       recognised by                                  layout       module
===========  ============================================  ===========  ==============================
``dss``      class :class:`mor_torch.DSS`                   channel      :mod:`~mor_torch.families.dss`
``s4d``      ``D`` and ``log_dt``, ``C``, ``log_A_real``,   channel      :mod:`~mor_torch.families.s4d`
             ``A_imag`` (module or direct child)
``lru``      ``nu_log``, ``theta_log``, ``D``, ``B_re``/    MIMO         :mod:`~mor_torch.families.lru`
             ``B_im`` or ``B``, ``C_re``/``C_im`` or ``C``
``s5``       ``Lambda_re``/``Lambda_im`` or ``Lambda``,     MIMO         :mod:`~mor_torch.families.s5`
             ``B``, ``C``, ``D``, ``log_step``
===========  ============================================  ===========  ==============================

:func:`family_of` finds a module's family (first match in :data:`FAMILIES`);
:func:`mor_torch.to_lti`, :func:`mor_torch.reduce_layer` and :func:`mor_torch.compress` dispatch
through it, and :func:`recurrent` gives any layer's streaming form.  The families of foreign layers are
implemented from their papers' formulas; nothing of the authors' code is imported.
"""

from __future__ import annotations

from torch import nn

from mor.errors import SystemTypeError

from .base import Family, own_parameters
from .dss import DSSFamily
from .lru import LRUFamily
from .recurrent import DiagonalRecurrence, recurrent
from .s4d import S4DFamily
from .s5 import S5Family

__all__ = ["FAMILIES", "DiagonalRecurrence", "Family", "family_of", "near_miss", "recognise", "recurrent"]

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
