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

:func:`family_of` (:mod:`~mor_torch.families.registry`) finds a module's family (first match in :data:`FAMILIES`);
:func:`to_lti` (exported as :func:`mor_torch.to_lti`), :func:`mor_torch.reduce_layer` and
:func:`mor_torch.compress` dispatch through it, and :func:`recurrent` gives any layer's streaming
form.  The families of foreign layers are implemented from their papers' formulas; nothing of the
authors' code is imported.
"""

from __future__ import annotations

from .base import Family
from .recurrent import DiagonalRecurrence, recurrent
from .registry import FAMILIES, family_of, near_miss, recognise, to_lti

__all__ = [
    "FAMILIES",
    "DiagonalRecurrence",
    "Family",
    "family_of",
    "near_miss",
    "recognise",
    "recurrent",
    "to_lti",
]
