"""System types and their conversion: what every other group of :mod:`mor` takes as input.

======================  ==============================================================
``lti``                 dense :class:`LTI` and batched diagonal :class:`DiagonalLTI`
``sparse``              large sparse :class:`SparseLTI`
``convert``             :func:`as_system`: every accepted input to one of the types
``discretize``          zero-order hold and bilinear discretisation
``stability``           :func:`check_stable`, the one stability test
``stable_split``        ``G = G_stable + G_unstable`` (ordered Schur form and one Sylvester equation)
``_statespace``         the immutable base of ``LTI`` and ``SparseLTI``
``_diagonal_form``      a reduced dense system back to diagonal form
======================  ==============================================================

Inside the group the arrows run ``lti`` <- ``sparse`` <- ``convert`` <- ``discretize``/``stability``.
"""

from .convert import as_system
from .discretize import discretize
from .lti import DENSIFY_LIMIT, LTI, DiagonalLTI, as_dense_system
from .sparse import SparseLTI, as_sparse_system, is_sparse
from .stability import check_stable, unstable_mask
from .stable_split import StableSplit, stable_split

__all__ = [
    "DENSIFY_LIMIT",
    "LTI",
    "DiagonalLTI",
    "SparseLTI",
    "StableSplit",
    "as_dense_system",
    "as_sparse_system",
    "as_system",
    "check_stable",
    "discretize",
    "is_sparse",
    "stable_split",
    "unstable_mask",
]
