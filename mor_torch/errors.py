"""Errors of the PyTorch adapter.

Each refines a :mod:`mor.errors` class, because they are about layers seen as LTI systems:

* :class:`LayerConversionError` (:class:`~mor.errors.InvalidArgumentError`, a ``ValueError``): a
  DSS layer and a system cannot be converted into each other as asked.
* :class:`LayerUnstableError` (:class:`~mor.errors.UnstableSystemError`): a layer has growing modes
  where infinite-horizon Gramians are needed; it names the layer, channel and mode.
* :class:`UnknownLayerError` (:class:`~mor.errors.InvalidArgumentError`): a layer name (a key of
  ``compress(order={...})``) that names no DSS layer of the model.
* :class:`DeviceUnavailableError` (:class:`~mor.errors.MorError`, a ``RuntimeError``): a layer was
  asked for on a device this machine does not have (``device="cuda"`` without CUDA).

Invalid arguments otherwise raise the :mod:`mor.errors` classes (``DimensionError``,
``MethodError``, ``ArgumentConflictError`` for options that cannot be combined,
``ArgumentTypeError``, ...).
"""

from __future__ import annotations

from mor.errors import InvalidArgumentError, MorError, UnstableSystemError

__all__ = ["DeviceUnavailableError", "LayerConversionError", "LayerUnstableError", "UnknownLayerError"]


class LayerConversionError(InvalidArgumentError):
    """A DSS layer and a system cannot be converted into each other as asked."""


class UnknownLayerError(InvalidArgumentError):
    """A layer name that names no DSS layer of the model; the message lists the known names."""


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
