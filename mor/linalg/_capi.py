"""BLAS and LAPACK routines of scipy's Cython interface as ``ctypes`` functions (internal).

scipy exposes its BLAS/LAPACK as PyCapsules in ``scipy.linalg.cython_blas`` and
``cython_lapack`` (Fortran calling convention: every argument a pointer, 32-bit ``int``).
Calling them through ``ctypes`` skips the per-call overhead of scipy's Python wrappers and allows
leading dimensions and sub-blocks the wrappers do not (Hammarling's leading-block solves, the
bidiagonal SVD route).  ``None`` when a routine is not available: callers then take a route
through the public wrappers (both routes are tested).
"""

from __future__ import annotations

import ctypes
from typing import Any

__all__ = ["scipy_routine"]


def scipy_routine(library: str, name: str, argtypes: list[Any]) -> Any:
    """``name`` from ``scipy.linalg.cython_blas`` or ``cython_lapack`` as a ``ctypes`` function, or ``None``."""
    try:
        from scipy.linalg import cython_blas, cython_lapack

        capsule = {"blas": cython_blas, "lapack": cython_lapack}[library].__pyx_capi__[name]
        get_name = ctypes.pythonapi.PyCapsule_GetName
        get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
        get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
        get_ptr.restype, get_ptr.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        return ctypes.CFUNCTYPE(None, *argtypes)(get_ptr(capsule, get_name(capsule)))
    except (ImportError, AttributeError, KeyError, ValueError, TypeError):  # pragma: no cover
        return None
