"""Hankel singular values of DSS layers in torch, differentiable, and a penalty on their tail.

Channel ``h`` of a layer is the zero-order-hold system ``(diag(z), Bbar, W)`` of
:func:`mor_torch.to_lti` (``z = exp(mu)``, ``mu = lambda Delta_h``, ``Bbar = expm1(mu) / lambda``).
Its Gramians are Cauchy-like matrices in closed form::

    P_ij = Bbar_i conj(Bbar_j) / (1 - z_i conj(z_j)),      Q_ij = conj(W_i) W_j / (1 - conj(z_i) z_j)

formed from ``z`` directly (it loses about ``log10(1 / (1 - |z|^2))`` digits, 2-4 for DSS layers: far
below what a regulariser needs, and 3x cheaper than the cancellation-free ``expm1`` form).  With Cholesky
factors ``P + d_P I = L_P L_P^H``, ``Q + d_Q I = L_Q L_Q^H`` (a small relative jitter
``d = jitter * max_i P_ii``, since the Gramians of DSS layers are numerically singular) the Hankel
singular values are the singular values of ``L_Q^H L_P``.  Everything is torch arithmetic in
float64, so gradients reach the poles, ``W`` and the steps.  The jitter moves every value by about
``sqrt(jitter) * sigma_1`` at most; :func:`mor.hankel_singular_values` (no jitter, high relative
accuracy) is the reference for the large ones.

:func:`hsv_penalty` is the regulariser of Hankel-singular-value regularisation (after Schwerdtner,
Berman & Peherstorfer 2025): the normalised tail ``sum(sigma[r:]) / sum(sigma)`` of every channel,
averaged over the channels and the layers.  It is scale-free (``W -> c W`` leaves it unchanged) and
zero when every channel has at most ``r`` non-zero Hankel singular values, i.e. when balanced
truncation to ``r`` is exact.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mor.errors import NonFiniteError, NumericalError
from mor.validation import check_int, check_real

from .dss import DSS

__all__ = ["DEFAULT_JITTER", "hsv_penalty", "layer_hsv"]

#: Relative jitter added to the Gramians before their Cholesky factorisation.
DEFAULT_JITTER = 1e-10


def _factor(g: Tensor, denominator: Tensor, jitter: float) -> Tensor:
    """Lower Cholesky factor of ``G_ij = g_i conj(g_j) / denominator_ij`` plus relative jitter."""
    G = g[..., :, None] * g.conj()[..., None, :] / denominator
    diag = G.diagonal(dim1=-2, dim2=-1).real
    shift = jitter * diag.max(dim=-1, keepdim=True).values.clamp_min(torch.finfo(diag.dtype).tiny)
    eye = torch.eye(G.shape[-1], dtype=G.dtype, device=G.device)
    return torch.linalg.cholesky(G + shift[..., None] * eye)


def layer_hsv(layer: DSS, *, jitter: float = DEFAULT_JITTER, channels: Tensor | None = None) -> Tensor:
    """Hankel singular values of the channels of a DSS layer (its zero-order-hold systems).

    Parameters
    ----------
    layer : DSS
        A layer with stable poles (``Re lambda < 0``; always so for DSS_EXP).
    jitter : float
        Relative jitter of the Gramians before factorisation (see the module docstring).
    channels : (k,) Tensor of int64, optional
        Only these channels (default: all ``H``).

    Returns
    -------
    (H, N) or (k, N) Tensor, float64
        Decreasing along the last axis; differentiable with respect to the layer's parameters.

    Raises
    ------
    NonFiniteError
        A parameter of the layer holds NaN or infinity (as :func:`~mor_torch.to_lti` raises).
    NumericalError
        A Gramian could not be factorised although the parameters are finite.
    """
    jitter = check_real(jitter, "jitter", minimum=0.0)
    try:
        return _layer_hsv(layer, jitter, channels)
    except torch.linalg.LinAlgError as exc:  # checked only on failure: no device sync in the normal path
        for name, param in layer.named_parameters():
            if not bool(torch.isfinite(param).all()):
                raise NonFiniteError(f"DSS parameter {name} contains non-finite values") from exc
        raise NumericalError(f"the Gramians of the layer could not be factorised ({exc})") from exc


def _layer_hsv(layer: DSS, jitter: float, channels: Tensor | None) -> Tensor:
    """The arithmetic of :func:`layer_hsv` (arguments checked)."""
    lam = layer.poles().to(torch.complex128)
    step = layer.delta().to(torch.float64)
    W = layer.weights().to(torch.complex128)
    if channels is not None:
        step, W = step[channels], W[channels]
        lam = lam if layer.shared_poles else lam[channels]
    mu = lam * step[:, None]  # (H, N), shared poles broadcast
    bbar = torch.expm1(mu) / lam  # complex expm1, as in mor_torch.kernels: no cancellation for small |mu|
    z = torch.exp(mu)
    den = 1 - z[..., :, None] * z.conj()[..., None, :]  # 1 - z_i conj(z_j)
    LP = _factor(bbar, den, jitter)
    LQ = _factor(W.conj(), den.conj(), jitter)  # Q_ij = conj(W_i) W_j / (1 - conj(z_i) z_j)
    return torch.linalg.svdvals(LQ.mH @ LP)


def hsv_penalty(
    model: nn.Module, order: int, *, jitter: float = DEFAULT_JITTER, channels: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:  # fmt: skip
    """Mean normalised Hankel-singular-value tail ``sum(sigma[r:]) / sum(sigma)`` of every DSS layer.

    Parameters
    ----------
    model : nn.Module
        Its :class:`~mor_torch.DSS` submodules are penalised (a DSS layer itself works too).
    order : int
        ``r``: the state size the model should be compressible to (``>= 1``).
    jitter : float
        See :func:`layer_hsv`.
    channels : int, optional
        Average over this many channels of each layer drawn at random (without replacement)
        instead of all of them: an unbiased estimate of the full penalty at a fraction of the
        cost (a training step then penalises a different subset each time).
    generator : torch.Generator, optional
        The random source of ``channels`` (torch's global generator by default).

    Returns
    -------
    Tensor
        A float64 scalar in ``[0, 1)``: the average over layers of the average over channels;
        zero for a model without DSS layers or whose layers have ``N <= r`` states.
    """
    order = check_int(order, "order")
    if channels is not None:
        channels = check_int(channels, "channels")
    terms = []
    for layer in (m for m in model.modules() if isinstance(m, DSS)):
        if layer.d_state <= order:
            terms.append(torch.zeros((), dtype=torch.float64, device=layer.W.device))
            continue
        pick = None
        if channels is not None and channels < layer.d_model:
            pick = torch.randperm(layer.d_model, generator=generator)[:channels].to(layer.W.device)
        s = layer_hsv(layer, jitter=jitter, channels=pick)
        total = s.sum(dim=-1).clamp_min(torch.finfo(s.dtype).tiny)
        terms.append((s[:, order:].sum(dim=-1) / total).mean())
    if not terms:
        return torch.zeros((), dtype=torch.float64)
    return torch.stack(terms).mean()
