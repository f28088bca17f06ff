"""Errors of the PyTorch adapter.

Each refines a :mod:`mor.errors` class, because they are about layers seen as LTI systems:

* :class:`LayerConversionError` (:class:`~mor.errors.InvalidArgumentError`, a ``ValueError``): a
  DSS layer and a system cannot be converted into each other as asked.
* :class:`LayerUnstableError` (:class:`~mor.errors.UnstableSystemError`): a layer has growing modes
  where infinite-horizon Gramians are needed; it names the layer, channel and mode.
* :class:`UnknownLayerError` (:class:`~mor.errors.InvalidArgumentError`): a layer name (a key of
  ``compress(order={...})``) that names no layer of the model (of a supported family).
* :class:`NoReducibleLayerError` (:class:`~mor.errors.SystemTypeError`): :func:`mor_torch.compress`
  found no layer of a supported family in a model; it names the module types it saw.
* :class:`SharedParameterError` (:class:`~mor.errors.InvalidArgumentError`): a parameter of a layer to
  reduce is also used outside it (tied parameters short of a whole shared module).
* :class:`DeviceUnavailableError` (:class:`~mor.errors.MorError`, a ``RuntimeError``): a layer was
  asked for on a device this machine does not have (``device="cuda"`` without CUDA).

Invalid arguments otherwise raise the :mod:`mor.errors` classes (``DimensionError``,
``MethodError``, ``ArgumentConflictError`` for options that cannot be combined,
``ArgumentTypeError``, ...).
"""

from __future__ import annotations

from mor.errors import InvalidArgumentError, MorError, SystemTypeError, UnstableSystemError

__all__ = [
    "DeviceUnavailableError",
    "LayerConversionError",
    "LayerUnstableError",
    "NoReducibleLayerError",
    "SharedParameterError",
    "UnknownLayerError",
]


class LayerConversionError(InvalidArgumentError):
    """A DSS layer and a system cannot be converted into each other as asked."""


class NoReducibleLayerError(SystemTypeError):
    """A model holds no layer that :func:`mor_torch.compress` can reduce (the message names the module
    types it saw, and any module that holds part of a family's parameter names)."""


class SharedParameterError(InvalidArgumentError):
    """A parameter of a layer to reduce is used outside that layer (reducing the layer would change the
    other use, or leave it with the old shape); whole shared modules are fine."""


class UnknownLayerError(InvalidArgumentError):
    """A layer name that names no layer of the model (of a supported family); the message lists the known
    names."""


class DeviceUnavailableError(MorError, RuntimeError):
    """A layer was asked for on a device that this machine does not have (or torch was built without)."""


class LayerUnstableError(UnstableSystemError):
    """A DSS layer has growing modes where infinite-horizon Gramians are needed.

    Parameters
    ----------
    message : str
        The error message.
    layer : str
        Name of the layer (as in ``model.named_modules()``).
    channel : int or None
        Channel of the first offending mode (``None`` for shared poles: every channel).
    mode : int
        Index of the first offending mode.
    poles, index
        As for :class:`~mor.errors.UnstableSystemError`: all offending poles and their
        ``(channel, mode)`` (or ``(mode,)``) indices.

    Attributes
    ----------
    layer : str
        Name of the layer (as in ``model.named_modules()``).
    channel : int or None
        Channel of the first offending mode (``None`` for shared poles: every channel).
    mode : int
        Index of the first offending mode.
    """

    def __init__(self, message: str, *, layer: str, channel: int | None, mode: int, poles=None, index=None):
        super().__init__(message, poles=poles, index=index)
        self.layer = layer
        self.channel = channel
        self.mode = mode
