"""System types and their conversion: what every other group of :mod:`mor` takes as input.

======================  ==============================================================
``lti``                 dense :class:`LTI` and batched diagonal :class:`DiagonalLTI`
``sparse``              large sparse :class:`SparseLTI`
``descriptor``          descriptor systems: index-1 elimination and the standard form
``interconnect``        series, parallel and feedback connections (the operators of the types)
``realform``            a real realisation of a diagonal system with real data
``convert``             :func:`as_system`: every accepted input to one of the types
``batched``             :class:`BatchedLTI`, a stack of dense systems of one size, and the member-wise driver
``discretize``          zero-order hold and bilinear discretisation
``stability``           :func:`check_stable`, the one stability test
``stable_split``        ``G = G_stable + G_unstable`` (ordered Schur form and one Sylvester equation)
``_statespace``         the immutable base of ``LTI`` and ``SparseLTI``
``_diagonal_form``      a reduced dense system back to diagonal form
======================  ==============================================================

Inside the group the arrows run ``realform`` <- ``lti`` <- ``sparse`` <- ``descriptor`` <- ``convert``
<- ``batched``/``interconnect``/``discretize``/``stability``.  The operators of the types that need modules above
``lti`` (``*``, ``+``, ``-``, ``feedback``, ``sys(s)``, ``to_control`` of a descriptor system)
call them through the registry :data:`mor.systems.lti.OPERATIONS`, which those modules fill
when imported; importing this package imports ``descriptor`` and ``interconnect``.
"""

from .batched import BatchedLTI, as_batch
from .convert import as_system
from .descriptor import eliminate_algebraic, standard_form
from .discretize import discretize
from .interconnect import feedback, parallel, series
from .lti import DENSIFY_LIMIT, LTI, UNSPECIFIED_DT, DiagonalLTI, as_dense_system
from .sparse import SparseLTI, as_sparse_system, is_sparse
from .stability import check_stable, unstable_mask
from .stable_split import StableSplit, stable_split

__all__ = [
    "BatchedLTI",
    "DENSIFY_LIMIT",
    "LTI",
    "DiagonalLTI",
    "SparseLTI",
    "StableSplit",
    "UNSPECIFIED_DT",
    "as_batch",
    "as_dense_system",
    "as_sparse_system",
    "as_system",
    "check_stable",
    "discretize",
    "eliminate_algebraic",
    "feedback",
    "is_sparse",
    "parallel",
    "series",
    "stable_split",
    "standard_form",
    "unstable_mask",
]
