"""The seam between a layer family and :mod:`mor`: what every family provides, and the parameter helpers.

A *family* (:class:`Family`) recognises its modules by their parameter names, maps a module's
parameters exactly to a :class:`mor.DiagonalLTI` (:meth:`Family.to_lti`) and writes a reduced
system back into a module of the same class (:meth:`Family.rebuild`).  Every family uses one
output convention, that of :func:`mor_torch.to_lti`: the ``mor`` system is *complex* and the layer
outputs its real part; a discrete system is sample-indexed (``dt = 1``) and its Markov parameters
are the layer's kernel shifted by one sample::

    y_layer[k] = Re(C x[k+1]) + D u[k],    K_j = Re(h[j+1])   (j >= 0; h[0] = D is the skip)

A conjugate-pair layer (``y = 2 Re(C x)``) is the complex system with ``C_mor = 2 C``.

Two layouts:

* ``"channel"`` (DSS, S4D): ``H`` SISO channels, a :class:`~mor.DiagonalLTI` of batch ``(H,)``;
  reduced channel by channel (:func:`mor_torch.reducers.reduce_channels`).
* ``"mimo"`` (LRU, S5): one system with ``H`` inputs and outputs sharing its modes; reduced as one
  system with one bound (:func:`mor_torch.reducers.reduce_mimo`).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from mor import DiagonalLTI
from mor.errors import ArgumentConflictError, DimensionError, NonFiniteError, UnstableSystemError
from mor.validation import check_choice

from .._tensors import to_numpy
from ..errors import LayerConversionError, LayerUnstableError

__all__ = [
    "LAYOUTS",
    "Family",
    "check_log_poles",
    "complex_parameter",
    "holder",
    "own_parameters",
    "real_parameter",
    "replace_parameters",
    "unstable_reduction",
    "update_size_attributes",
]

#: How a family's layer is one system: ``H`` SISO channels, or one MIMO system.
LAYOUTS = ("channel", "mimo")

#: Integer attributes that layer implementations use for their state size; updated on write-back.
SIZE_ATTRIBUTES = ("n", "N", "d_state", "P", "state_size", "state_features", "d_hidden", "ssm_size")


class Family:
    """One layer family (subclasses: :mod:`mor_torch.families.dss`, ``s4d``, ``lru``, ``s5``).

    Class attributes: ``name`` (``"dss"``, ``"s4d"``, ``"lru"``, ``"s5"``); ``layout``
    (``"channel"`` or ``"mimo"``, see the module docstring); ``gramians`` (the ``gramians=``
    choices of :func:`mor_torch.reduce_layer` the family supports); ``signature`` (parameter
    names that mark the family, used to name near misses in errors).  A subclass method without a
    docstring takes the base class's.
    """

    name = ""
    layout = "channel"
    gramians: tuple[str, ...] = ("discrete", "finite")
    signature: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for attr, value in vars(cls).items():
            base = getattr(Family, attr, None)
            if callable(value) and value.__doc__ is None and base is not None:
                value.__doc__ = base.__doc__

    def matches(self, module: nn.Module) -> bool:
        """Whether ``module`` is a layer of this family (by its parameter names, or class for DSS).

        Parameters
        ----------
        module : nn.Module

        Returns
        -------
        bool
        """
        raise NotImplementedError

    def to_lti(self, module: nn.Module, *, time: str = "discrete", length: int | None = None) -> DiagonalLTI:
        """The layer as a ``mor`` system, exactly (see the module docstring for the convention).

        Parameters
        ----------
        module : nn.Module
            A layer of this family.
        time : {"continuous", "discrete"}
            The reading; ``"continuous"`` only for the families that have one (DSS, S4D).
        length : int, optional
            Kernel length (DSS_SOFTMAX only).

        Returns
        -------
        DiagonalLTI
            Batch ``(H,)`` of SISO systems (``"channel"``) or one MIMO system (``"mimo"``).
        """
        raise NotImplementedError

    def rebuild(self, module: nn.Module, system: DiagonalLTI, skip: np.ndarray, *, length: int | None,
                name: str) -> nn.Module:  # fmt: skip
        """A copy of ``module`` holding the reduced ``system``, its skip ``D`` plus ``skip``.

        Parameters
        ----------
        module : nn.Module
            The original layer (left untouched).
        system : DiagonalLTI
            The reduced system, in the form of :meth:`reduction_system` (``D = 0``).
        skip : ndarray
            Real correction of the skip: ``(H,)`` (``"channel"``) or ``(p, m)`` (``"mimo"``).
        length : int or None
            Kernel length (DSS_SOFTMAX).
        name : str
            The layer's name, for error messages.

        Returns
        -------
        nn.Module
            Of ``module``'s class, with new parameter tensors of the reduced shapes (same dtype,
            device, ``requires_grad`` and storage: complex or real pairs).

        Raises
        ------
        LayerUnstableError
            The reduced system has modes the family cannot hold (non-decaying).
        """
        raise NotImplementedError

    def state_size(self, module: nn.Module) -> int:
        """Stored complex modes per channel (``"channel"``) or in all (``"mimo"``).

        Parameters
        ----------
        module : nn.Module

        Returns
        -------
        int
        """
        raise NotImplementedError

    def describe(self, module: nn.Module) -> tuple[str, bool]:
        """``(mode, shared_poles)`` for :class:`mor_torch.LayerReduction`.

        Parameters
        ----------
        module : nn.Module

        Returns
        -------
        mode : str
            DSS: ``"exp"`` / ``"softmax"``; S4D and S5: the discretisation; LRU: ``"discrete"``.
        shared_poles : bool
            One set of poles for all channels (always for the MIMO families).
        """
        return self.name, self.layout == "mimo"

    def reduction_system(self, module: nn.Module, gramians: str, structure: str, length: int | None,
                         name: str) -> DiagonalLTI:  # fmt: skip
        """The system whose Gramians a reduction uses.

        Parameters
        ----------
        module : nn.Module
        gramians : {"discrete", "continuous", "finite"}
            ``"continuous"`` reads the layer in continuous time, the others in discrete time.
        structure : {"channel", "shared"}
            ``"shared"`` (one single-input ``H``-output system) is for DSS only.
        length : int or None
            Kernel length (DSS_SOFTMAX).
        name : str
            The layer's name, for error messages.

        Returns
        -------
        DiagonalLTI
        """
        if structure != "channel":
            raise ArgumentConflictError(f"layer {name!r}: structure={structure!r} is for DSS layers only")
        return self.to_lti(module, time="continuous" if gramians == "continuous" else "discrete", length=length)

    def check_stable(self, module: nn.Module, name: str, gramians: str) -> None:
        """Infinite-horizon Gramians need decaying modes.

        Parameters
        ----------
        module : nn.Module
        name : str
            The layer's name, for the error.
        gramians : str
            What needs the stability, for the error.

        Raises
        ------
        LayerUnstableError
            Naming the layer, channel and mode of the first non-decaying mode.
        """
        sys = self.to_lti(module, time="discrete")
        check_log_poles(sys.log_poles, name, f"{gramians} Gramians (infinite horizon)", self.layout)

    def check_time(self, time: str) -> str:
        """``time`` checked against the family's readings.

        Parameters
        ----------
        time : str

        Returns
        -------
        str
            ``time``; :class:`~mor.errors.MethodError` if the family has no such reading.
        """
        return check_choice(time, "time", ("continuous", "discrete") if "continuous" in self.gramians else
                            ("discrete",))  # fmt: skip


def holder(module: nn.Module, names: tuple[str, ...]) -> nn.Module | None:
    """``module`` itself if it holds every parameter in ``names`` directly, else its first direct child
    that does, else ``None``.

    Parameters
    ----------
    module : nn.Module
    names : tuple of str

    Returns
    -------
    nn.Module or None
    """
    for candidate in (module, *module.children()):
        if set(names) <= set(own_parameters(candidate)):
            return candidate
    return None


def own_parameters(module: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters and buffers ``module`` holds itself (not its children's), by name.

    Buffers count: a layer may hold frozen values as buffers (S4D's kernel registers ``log_dt``,
    ``log_A_real``, ``A_imag`` as buffers when their learning rate is 0).

    Parameters
    ----------
    module : nn.Module

    Returns
    -------
    dict of str to Tensor
    """
    return {**dict(module.named_buffers(recurse=False)), **dict(module.named_parameters(recurse=False))}


def _values(owner: nn.Module, name: str) -> np.ndarray:
    arr = to_numpy(own_parameters(owner)[name])
    if not np.all(np.isfinite(arr)):
        raise NonFiniteError(f"parameter {name!r} holds non-finite values")
    return arr


def real_parameter(owner: nn.Module, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A real parameter as float64, checked finite and, if given, of ``shape``.

    Parameters
    ----------
    owner : nn.Module
        The module holding the parameter.
    name : str
    shape : tuple of int, optional

    Returns
    -------
    ndarray of float64
    """
    arr = _values(owner, name)
    if np.iscomplexobj(arr):
        raise LayerConversionError(f"parameter {name!r} must be real, got {arr.dtype}")
    if shape is not None and arr.shape != shape:
        raise DimensionError(f"parameter {name!r} must have shape {shape}, got {arr.shape}")
    return arr.astype(np.float64)


def complex_parameter(owner: nn.Module, name: str, ndim: int) -> np.ndarray:
    """A complex parameter stored complex (``ndim`` axes) or as real pairs (``ndim + 1`` axes, last 2).

    Parameters
    ----------
    owner : nn.Module
        The module holding the parameter.
    name : str
    ndim : int
        Axes of the complex value.

    Returns
    -------
    ndarray of complex128
    """
    arr = _values(owner, name)
    if np.iscomplexobj(arr):
        if arr.ndim != ndim:
            raise DimensionError(f"parameter {name!r} must have {ndim} axes, got shape {arr.shape}")
        return arr.astype(np.complex128)
    if arr.ndim != ndim + 1 or arr.shape[-1] != 2:
        raise DimensionError(
            f"parameter {name!r} must be complex with {ndim} axes or real pairs of shape (..., 2) with {ndim + 1}, "
            f"got {arr.dtype} {arr.shape}"
        )
    return arr[..., 0].astype(np.float64) + 1j * arr[..., 1]


def _like(old: torch.Tensor, value: np.ndarray) -> torch.Tensor:
    """``value`` stored like ``old`` (complex, or real pairs when ``old`` is real with a last axis 2 and
    ``value`` is complex), same dtype and device; a parameter with ``old``'s ``requires_grad`` and extra
    attributes, or a plain tensor for a buffer."""
    value = np.asarray(value)
    if np.iscomplexobj(value) and not old.is_complex():
        value = np.stack([value.real, value.imag], axis=-1)
    # a fresh tensor with standard strides (torch.tensor of an empty array has all-zero strides)
    t = torch.zeros(value.shape, dtype=old.dtype, device=old.device)
    t.copy_(torch.from_numpy(np.array(value, order="C")))  # a writable copy
    if not isinstance(old, nn.Parameter):
        return t
    new = nn.Parameter(t, requires_grad=old.requires_grad)
    for key, attr in vars(old).items():  # e.g. the per-parameter optimiser settings S4 attaches (_optim)
        if not key.startswith("_grad") and key != "grad":
            setattr(new, key, copy.copy(attr))
    return new


def replace_parameters(owner: nn.Module, values: dict[str, np.ndarray]) -> None:
    """Replace parameters (or buffers) of ``owner`` by new ones of the values' shapes, stored like the old ones.

    Parameters
    ----------
    owner : nn.Module
    values : dict of str to ndarray
        New values; a complex value replacing a real parameter is stored as real pairs ``(..., 2)``.
        Dtype, device, ``requires_grad`` and extra attributes (such as S4's ``_optim``) are kept.
    """
    for pname, value in values.items():
        setattr(owner, pname, _like(own_parameters(owner)[pname], value))


def update_size_attributes(module: nn.Module, old: int, new: int) -> None:
    """Integer state-size attributes (:data:`SIZE_ATTRIBUTES`) of ``module`` equal to ``old`` (or to
    ``2 old``, the real state size of a conjugate-pair layer) become ``new`` (``2 new``).

    Parameters
    ----------
    module : nn.Module
    old, new : int
        Stored modes before and after the reduction.
    """
    for attr in SIZE_ATTRIBUTES:
        value = getattr(module, attr, None)
        if type(value) is int and value == old:
            setattr(module, attr, new)
        elif type(value) is int and value == 2 * old:
            setattr(module, attr, 2 * new)


def check_log_poles(mu: np.ndarray, name: str, purpose: str, layout: str) -> None:
    """:class:`LayerUnstableError` when a discrete log-pole has ``Re(mu) >= 0`` (``|z| >= 1``) or is NaN.

    Parameters
    ----------
    mu : (H, N) or (N,) ndarray, complex
        Log-poles ``log z`` (per channel, or of one MIMO system).
    name : str
        The layer's name.
    purpose : str
        What needs decaying modes, for the message.
    layout : {"channel", "mimo"}
        How the indices are named in the message.
    """
    bad = np.argwhere(~(np.real(mu) < 0))
    if bad.size == 0:
        return
    first = tuple(int(i) for i in bad[0])
    channel, mode = (first[0], first[1]) if len(first) == 2 else (None, first[0])
    where = "every channel (one MIMO system)" if channel is None else f"channel {channel}"
    raise LayerUnstableError(
        f"layer {name!r}: {where}, mode {mode}: |z| = exp(Re mu) = {np.exp(np.real(mu[first])):.17g} is not below 1 "
        f"({len(bad)} non-decaying mode(s) in total); {purpose} need a stable layer: use gramians='finite' "
        "(time-limited over the kernel length)",
        layer=name,
        channel=channel,
        mode=mode,
        poles=np.exp(mu[tuple(bad.T)]),
        index=[tuple(int(i) for i in b) for b in bad],
    )


def unstable_reduction(exc: UnstableSystemError, name: str, family: str, remedy: str) -> LayerUnstableError:
    """The :class:`LayerUnstableError` for a reduced system with growing modes that a family cannot hold.

    Parameters
    ----------
    exc : UnstableSystemError
        What the conversion back to the family raised (its ``index``: ``(channel, mode)`` or ``(mode,)``).
    name : str
        The layer's name.
    family : str
        The parameterisation that cannot represent the growing modes, for the message.
    remedy : str
        What to do instead, for the message.

    Returns
    -------
    LayerUnstableError
    """
    first = exc.index[0] if exc.index else (-1,)
    return LayerUnstableError(
        f"layer {name!r}: the reduced system has growing modes, which {family} cannot represent ({exc}); {remedy}",
        layer=name, channel=first[0] if len(first) == 2 else None, mode=first[-1], poles=exc.poles, index=exc.index,
    )  # fmt: skip
