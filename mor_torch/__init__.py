"""mor_torch: a thin PyTorch adapter between DSS layers and :mod:`mor`.

* :class:`DSS` - diagonal state-space layer (DSS_EXP / DSS_SOFTMAX), fast chunked-power kernels.
* :func:`to_lti` / :func:`from_lti` - exact conversion between layers and batched
  :class:`mor.DiagonalLTI` systems (continuous or zero-order-hold discrete).
* :func:`reduce_layer` / :func:`compress` - balanced truncation of a layer (one batched ``mor``
  call) or of every DSS layer of a model.

>>> import torch
>>> from mor_torch import DSS, compress
>>> model = torch.nn.Sequential(DSS(4, 16), DSS(4, 16))
>>> small, report = compress(model, 4, length=256)
>>> [m.d_state for m in small]
[4, 4]
"""

from .convert import LayerConversionError, from_lti, to_lti
from .dss import DSS
from .init import init_poles, random_poles, s4d_inv, s4d_lin, skew_hippo
from .reduce import CompressionReport, LayerReduction, LayerUnstableError, compress, reduce_layer

__all__ = [
    "DSS",
    "CompressionReport",
    "LayerConversionError",
    "LayerReduction",
    "LayerUnstableError",
    "compress",
    "from_lti",
    "init_poles",
    "random_poles",
    "reduce_layer",
    "s4d_inv",
    "s4d_lin",
    "skew_hippo",
    "to_lti",
]
