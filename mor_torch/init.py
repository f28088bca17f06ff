"""Pole initialisations for DSS layers.

A DSS layer keeps ``N`` complex modes *without* conjugate partners and takes the real part of
the output, so an ``N``-mode DSS layer represents the same real system as an S4D layer of state
size ``2N`` (which keeps ``N`` modes of its ``2N`` and takes ``2 Re``).  Every initialisation here
therefore returns ``N`` poles with positive (or zero) imaginary part, real part ``-1/2`` unless
stated otherwise:

========================  =======================================================================
``"skew-hippo"``          DSS paper: eigenvalues of the skew-symmetric part of the ``2N x 2N``
                          HiPPO-LegS matrix, the ``N`` with positive imaginary part, real part
                          ``-1/2``.
``"s4d-lin"``             ``-1/2 + i pi n``, ``n = 0..N-1`` (S4D-Lin of state size ``2N``).
``"s4d-inv"``             ``-1/2 + i (2N/pi) (2N/(2n+1) - 1)``, ``n = 0..N-1``: the S4D-Inv formula
                          for state size ``2N``.  (With ``N`` in place of ``2N`` and ``n`` running
                          to ``N-1`` half of the frequencies would be negative, i.e. duplicates of
                          the others once the real part is taken.)
``"random"``              ``-U(0.1, 1) + i pi U(0, N)``: real parts spread over one decade,
                          frequencies uniform over the S4D-Lin band; sorted by frequency.
========================  =======================================================================

All functions return complex128 numpy arrays of shape ``(N,)``.
"""

from __future__ import annotations

import numpy as np

from mor.validation import check_choice, check_int

__all__ = ["DEFAULT_INIT", "INITS", "init_poles", "random_poles", "s4d_inv", "s4d_lin", "skew_hippo"]


def _check_n(n: int) -> int:
    return check_int(n, "the number of modes N")


def skew_hippo(n: int) -> np.ndarray:
    """Skew-HiPPO poles (DSS): ``-1/2 + i w`` for the positive eigenvalue halves of ``S``.

    ``S = (A - A^T) / 2`` with the ``2N x 2N`` HiPPO-LegS matrix
    ``A_ij = -sqrt((2i+1)(2j+1))`` for ``i > j``, ``-(i+1)`` on the diagonal, ``0`` above.
    ``S`` is real skew-symmetric, so ``i S`` is Hermitian: its eigenvalues ``w`` (computed
    with ``eigvalsh``, accurate and sorted) give the eigenvalues ``-i w`` of ``S``, which come in
    ``+-`` pairs.  The ``N`` positive imaginary parts are kept.

    Parameters
    ----------
    n : int
        Number of modes ``N``.

    Returns
    -------
    poles : (N,) complex ndarray
        ``-1/2 + i w_k``, ``w`` ascending and positive.
    """
    n = _check_n(n)
    idx = np.arange(2 * n, dtype=np.float64)
    r = np.sqrt(2 * idx + 1)
    A = -np.tril(np.outer(r, r), -1)  # strictly lower part of LegS; the diagonal drops out of S
    S = (A - A.T) / 2
    w = np.linalg.eigvalsh(1j * S)  # eig(S) = -i w
    im = np.sort(-w)[n:]  # imaginary parts of eig(S), the positive half
    return -0.5 + 1j * im


def s4d_lin(n: int) -> np.ndarray:
    """S4D-Lin poles ``-1/2 + i pi k``, ``k = 0..N-1``.

    Parameters
    ----------
    n : int
        Number of poles ``N``.

    Returns
    -------
    (N,) ndarray, complex
    """
    n = _check_n(n)
    return -0.5 + 1j * np.pi * np.arange(n)


def s4d_inv(n: int) -> np.ndarray:
    """S4D-Inv poles for state size ``2N``: ``-1/2 + i (2N/pi)(2N/(2k+1) - 1)``, ``k = 0..N-1``.

    Parameters
    ----------
    n : int
        Number of poles ``N`` (S4D's formula at state size ``2N``, whose conjugate
        halves DSS does not keep).

    Returns
    -------
    (N,) ndarray, complex
    """
    n = _check_n(n)
    k = np.arange(n)
    m = 2 * n
    return -0.5 + 1j * (m / np.pi) * (m / (2 * k + 1) - 1)


def random_poles(n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Random poles ``-U(0.1, 1) + i pi U(0, N)``, sorted by imaginary part, shape ``(N,)``.

    Parameters
    ----------
    n : int
        Number of modes.
    rng : numpy Generator, int seed or None
        Source of randomness (``None``: fresh entropy).
    """
    n = _check_n(n)
    rng = np.random.default_rng(rng)
    re = -rng.uniform(0.1, 1.0, n)
    im = np.sort(np.pi * rng.uniform(0.0, n, n))
    return re + 1j * im


#: The initialisations by name (the allowed values of every ``init`` option).
INITS = {"skew-hippo": skew_hippo, "s4d-lin": s4d_lin, "s4d-inv": s4d_inv, "random": random_poles}
#: The default of every layer, block and model: Skew-HiPPO, as in DSS.
DEFAULT_INIT = "skew-hippo"


def init_poles(name: str, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Poles of the named initialisation (see the module docstring).

    Parameters
    ----------
    name : {"skew-hippo", "s4d-lin", "s4d-inv", "random"}
        The initialisation.
    n : int
        Number of poles ``N``.
    rng : numpy.random.Generator or int, optional
        Random source for ``"random"``.

    Returns
    -------
    (N,) ndarray, complex
    """
    check_choice(name, "init (the pole initialisation)", tuple(INITS))
    if name == "random":
        return random_poles(n, rng)
    return INITS[name](n)
