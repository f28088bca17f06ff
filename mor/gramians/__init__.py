"""Gramians and Hankel singular values of every system type.

======================  ==============================================================
``dense``               controllability and observability Gramians (and factors) of dense
                        and diagonal systems: Bartels-Stewart / Hammarling, closed-form
                        Cauchy factors, finite horizons
``descriptor``          generalised Gramians of dense descriptor systems (``E x' = A x + B u``)
``lowrank``             low-rank Gramian factors of large sparse systems (ADI)
``hankel``              Hankel singular values from Gramian factors
``batched_modal``       Gramian factors of a stack of dense systems through their modal form
``frequency_limited``   Gramians of a frequency band (Gawronski-Juang, Gugercin-Antoulas)
======================  ==============================================================
"""

from .dense import controllability_gramian, gramians, observability_gramian
from .descriptor import descriptor_gramian_factors
from .hankel import factor_svd, hankel_singular_values, leading_factor_svd, order_for_tolerance, truncation_bound
from .lowrank import LowRankGramians, low_rank_gramians, lyapunov_inverse_bound

__all__ = [
    "LowRankGramians",
    "controllability_gramian",
    "descriptor_gramian_factors",
    "factor_svd",
    "gramians",
    "hankel_singular_values",
    "leading_factor_svd",
    "low_rank_gramians",
    "lyapunov_inverse_bound",
    "observability_gramian",
    "order_for_tolerance",
    "truncation_bound",
]
