"""One entry for every kind of system a routine accepts: :func:`as_system`.

The system types sit below this module (``lti`` <- ``sparse`` <- ``descriptor`` <- ``convert``),
so that no type module imports another one back: :func:`mor.systems.lti.as_dense_system` handles
the dense and diagonal types and the foreign objects (python-control, scipy, tuples), and this
module adds the sparse case and the descriptor systems' standard form on top.
"""

from __future__ import annotations

from typing import Any

from .descriptor import eliminate_algebraic, standard_form
from .lti import LTI, DiagonalLTI, as_dense_system
from .sparse import SparseLTI, is_sparse

__all__ = ["as_system"]


def as_system(sys: Any, *, keep_sparse: bool = False, descriptor: bool = False) -> LTI | DiagonalLTI | SparseLTI:
    """Interpret ``sys`` as an :class:`LTI` or :class:`DiagonalLTI` (or a :class:`mor.SparseLTI`).

    Parameters
    ----------
    sys : object
        The system.  Accepted: ``LTI`` and ``DiagonalLTI`` (returned unchanged),
        :class:`mor.SparseLTI`, :class:`control.StateSpace`, :mod:`scipy.signal`
        ``StateSpace``/``lti``/``dlti``, and tuples ``(A, B, C)``, ``(A, B, C, D)`` or
        ``(A, B, C, D, dt)`` whose entries may be :mod:`scipy.sparse` matrices or arrays.
    keep_sparse : bool
        ``False`` (for routines that work on dense matrices): a sparse system is densified
        when ``n <= DENSIFY_LIMIT`` and refused with :class:`~mor.errors.SystemTypeError`
        above.  ``True`` (for the routines that keep sparsity): a ``SparseLTI`` is returned as
        it is, and a tuple with a sparse ``A`` becomes a ``SparseLTI`` whatever its size.
    descriptor : bool
        ``False`` (for the routines without a descriptor formulation): a system with a
        descriptor matrix ``E`` is returned in its standard form ``(E^-1 A, E^-1 B, C, D)``
        (:func:`mor.systems.descriptor.standard_form`; the same transfer function), after
        eliminating the algebraic states of a semi-explicit index-1 system
        (:func:`mor.systems.descriptor.eliminate_algebraic`).  A sparse descriptor system kept
        sparse (``keep_sparse=True``) keeps ``E`` (its algebraic states eliminated).  ``True``
        (the Gramian routines): ``E`` is kept as it is.

    Returns
    -------
    LTI, DiagonalLTI or SparseLTI

    Raises
    ------
    SystemTypeError
        When ``sys`` is none of these, a transfer function that is improper (no state-space
        realisation), or sparse with ``n > DENSIFY_LIMIT`` and ``keep_sparse`` is false; a
        singular ``E`` that is not of semi-explicit index 1 (without ``descriptor=True``).
    """
    if isinstance(sys, tuple) and 3 <= len(sys) <= 5 and is_sparse(sys[0]):
        sys = SparseLTI(*sys)
    if isinstance(sys, SparseLTI) and sys.E is not None and not descriptor:
        sys = eliminate_algebraic(sys)
    if keep_sparse and isinstance(sys, SparseLTI):
        return sys
    sys = as_dense_system(sys)
    if isinstance(sys, LTI) and sys.E is not None and not descriptor:
        return standard_form(eliminate_algebraic(sys))
    return sys
