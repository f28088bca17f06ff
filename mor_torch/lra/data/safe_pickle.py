"""A restricted unpickler for the CIFAR-10 python batches.

``pickle`` runs whatever callables a file names, so an untrusted pickle can
execute code.  :class:`RestrictedUnpickler` resolves only the globals needed to
rebuild numpy arrays (and the latin-1 bytes shim of protocol-2 pickles written
by Python 3); every other global, ``os.system`` included, raises
:class:`~mor_torch.lra.errors.DatasetFormatError` before anything is called.
"""

from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path

import numpy as np

from ..errors import DatasetFormatError

__all__ = ["RestrictedUnpickler", "load_restricted_pickle"]

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
    from numpy._core.numeric import _frombuffer
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct
    from numpy.core.numeric import _frombuffer


def _latin1_encode(text, encoding="utf-8", errors="strict"):
    """``_codecs.encode`` limited to latin-1 (how Python 3 pickles bytes at protocol 2)."""
    if not isinstance(text, str) or codecs.lookup(encoding).name != "iso8859-1" or errors != "strict":
        raise DatasetFormatError(f"pickle asks for _codecs.encode with encoding {encoding!r}; only latin-1")
    return text.encode("latin-1")


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy's array-reconstruction globals.

    Allowed: ``numpy.core.multiarray._reconstruct`` (and its numpy 2 path
    ``numpy._core.multiarray``), ``numpy._core.numeric._frombuffer``,
    ``numpy.ndarray``, ``numpy.dtype`` and ``_codecs.encode`` for latin-1 only.
    Plain containers, numbers and strings need no global.
    """

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DatasetFormatError(
                f"refusing to unpickle global {module}.{name}: only numpy array reconstruction is allowed"
            ) from None

    def persistent_load(self, pid):
        raise DatasetFormatError("refusing a pickle with persistent ids")


def load_restricted_pickle(path: str | Path, encoding: str = "bytes"):
    """Load a pickle file with :class:`RestrictedUnpickler`.

    Parameters
    ----------
    path : str or Path
    encoding : str
        How Python 2 ``str`` objects are decoded; ``"bytes"`` keeps them as bytes
        (the CIFAR-10 batches were written by Python 2).

    Raises
    ------
    DatasetFormatError
        The file names a disallowed global or is not a valid pickle.
    """
    data = Path(path).read_bytes()
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding=encoding).load()
    except DatasetFormatError as exc:
        raise DatasetFormatError(f"{path}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise DatasetFormatError(f"{path}: not a valid pickle ({type(exc).__name__}: {exc})") from None
