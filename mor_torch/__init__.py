"""mor_torch: a thin PyTorch adapter between DSS layers and :mod:`mor`.

* :class:`DSS` - diagonal state-space layer (DSS_EXP / DSS_SOFTMAX), fast chunked-power kernels.
* :func:`to_lti` / :func:`from_lti` - exact conversion between layers and batched
  :class:`mor.DiagonalLTI` systems (continuous or zero-order-hold discrete).
* :func:`reduce_layer` / :func:`compress` - balanced truncation of a layer (one batched ``mor``
  call) or of every DSS layer of a model.
* :class:`SequenceClassifier` / :func:`fit` / :func:`evaluate` - the S4-style classifier and its
  training loop; the full pipeline is ``python -m mor_torch.lra`` (:func:`mor_torch.lra.run_pipeline`).

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
from .model import SequenceClassifier, build_model
from .reduce import CompressionReport, LayerReduction, LayerUnstableError, compress, reduce_layer
from .train import TrainingDivergedError, evaluate, fit

__all__ = [
    "DSS",
    "CompressionReport",
    "LayerConversionError",
    "LayerReduction",
    "LayerUnstableError",
    "SequenceClassifier",
    "TrainingDivergedError",
    "build_model",
    "compress",
    "evaluate",
    "fit",
    "from_lti",
    "init_poles",
    "random_poles",
    "reduce_layer",
    "s4d_inv",
    "s4d_lin",
    "skew_hippo",
    "to_lti",
]
