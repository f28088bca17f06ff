"""Model-order reduction methods (the top floor of :mod:`mor`).

======================  ==============================================================
``balanced``            balanced truncation (square root, balancing-free), every route
``batched_bt``          balanced truncation of a stack of dense systems to one common order
``lowrank_bt``          the low-rank route of balanced truncation and its certificate
``spa``                 balanced singular perturbation (residualisation, DC matching)
``modal``               modal truncation
``modred``              elimination of chosen states (truncation or DC matching)
``unstable_bt``         balanced truncation that keeps the unstable part
``h2_optimal``          H2-optimal reduction (IRKA)
``finite_length``       a stable least-squares fit of the first ``L`` Markov parameters
======================  ==============================================================
"""

from .balanced import BalancedTruncationResult, balanced_truncation
from .batched_bt import BatchedBalancedTruncationResult
from .finite_length import FiniteLengthResult, finite_length_reduction
from .h2_optimal import IrkaResult, irka
from .lowrank_bt import LowRankCertificate
from .modal import ModalTruncationResult, modal_truncation
from .modred import modal_dc_gain, modred
from .spa import residualize

__all__ = [
    "BalancedTruncationResult",
    "BatchedBalancedTruncationResult",
    "FiniteLengthResult",
    "IrkaResult",
    "LowRankCertificate",
    "ModalTruncationResult",
    "balanced_truncation",
    "finite_length_reduction",
    "irka",
    "modal_dc_gain",
    "modal_truncation",
    "modred",
    "residualize",
]
