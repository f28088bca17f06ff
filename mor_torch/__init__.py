"""mor_torch: a thin PyTorch adapter between DSS layers and :mod:`mor`.

* :class:`DSS` - diagonal state-space layer (DSS_EXP / DSS_SOFTMAX), fast chunked-power kernels.
* :func:`to_lti` / :func:`from_lti` - exact conversion between layers and batched
  :class:`mor.DiagonalLTI` systems (continuous or zero-order-hold discrete).
* :func:`reduce_layer` / :func:`compress` - reduction of a layer (balanced truncation, balanced
  singular perturbation, modal truncation or IRKA; batched ``mor`` calls) or of every DSS layer of
  a model, to one order, per-channel orders or a model-wide budget of states
  (:func:`allocate_states`, :func:`normalise_scores`).
* :meth:`DSS.step` / :func:`export_streaming` - streaming (recurrent) inference, token by token, and
  its export with ``torch.export`` (:mod:`mor_torch.streaming`).
* :mod:`mor_torch.families` - the layer families these accept besides :class:`DSS`: S4D, LRU and S5
  modules trained elsewhere, recognised by their parameter names; :func:`recurrent` streams any of
  them token by token.
* :func:`layer_hsv` / :func:`hsv_penalty` - differentiable Hankel singular values of a layer and
  the tail penalty that trains compressible models.

The training stack (model, training loop, data, pipeline) lives in :mod:`mor_torch.lra`;
``import mor_torch`` loads none of it.  The names below are loaded on first use, so
``import mor_torch`` does not even import torch until a name is touched (this lets
``python -m mor_torch.lra`` configure OpenMP before torch starts).

>>> import torch
>>> from mor_torch import DSS, compress
>>> model = torch.nn.Sequential(DSS(4, 16), DSS(4, 16))
>>> small, report = compress(model, 4, length=256)
>>> [m.d_state for m in small]
[4, 4]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

if TYPE_CHECKING:  # what the lazy loader below resolves, for static analysis
    from .allocate import allocate_states, normalise_scores
    from .convert import from_lti
    from .dss import DSS
    from .errors import (
        DeviceUnavailableError,
        LayerConversionError,
        LayerUnstableError,
        NoReducibleLayerError,
        SharedParameterError,
        UnknownLayerError,
    )
    from .families import recurrent, to_lti
    from .init import init_poles, random_poles, s4d_inv, s4d_lin, skew_hippo
    from .reduce import CompressionReport, LayerReduction, compress, reduce_layer
    from .regularize import hsv_penalty, layer_hsv
    from .streaming import DSSRecurrence, export_streaming

_EXPORTS = {
    "DSS": "dss",
    "DSSRecurrence": "streaming",
    "CompressionReport": "reduce",
    "DeviceUnavailableError": "errors",
    "LayerConversionError": "errors",
    "LayerReduction": "reduce",
    "LayerUnstableError": "errors",
    "NoReducibleLayerError": "errors",
    "SharedParameterError": "errors",
    "UnknownLayerError": "errors",
    "allocate_states": "allocate",
    "compress": "reduce",
    "export_streaming": "streaming",
    "from_lti": "convert",
    "hsv_penalty": "regularize",
    "init_poles": "init",
    "layer_hsv": "regularize",
    "normalise_scores": "allocate",
    "random_poles": "init",
    "recurrent": "families",
    "reduce_layer": "reduce",
    "s4d_inv": "init",
    "s4d_lin": "init",
    "skew_hippo": "init",
    "to_lti": "families",
}

__all__ = [
    "DSS",
    "DSSRecurrence",
    "CompressionReport",
    "DeviceUnavailableError",
    "LayerConversionError",
    "LayerReduction",
    "LayerUnstableError",
    "NoReducibleLayerError",
    "SharedParameterError",
    "UnknownLayerError",
    "allocate_states",
    "compress",
    "export_streaming",
    "from_lti",
    "hsv_penalty",
    "init_poles",
    "layer_hsv",
    "normalise_scores",
    "random_poles",
    "recurrent",
    "reduce_layer",
    "s4d_inv",
    "s4d_lin",
    "skew_hippo",
    "to_lti",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
