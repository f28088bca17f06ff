"""Generated benchmark models, structurally like those of the SLICOT model-reduction collection.

The SLICOT benchmark collection (Chahlaoui & Van Dooren, SLICOT Working Note 2002-2) cannot be
downloaded here, so these *generated stand-ins* are built in code, deterministically, as
:class:`mor.SparseLTI` objects (``sys.to_dense()`` for the small ones):

=============================  ================================================  =========================
generator                      model                                             like (in the collection)
=============================  ================================================  =========================
:func:`heat_1d`                heated rod, finite differences                    ``heat-cont``
:func:`convection_diffusion_2d` 2-D convection-diffusion (heat for velocity 0),   ``flow``-type PDE models
                               finite differences on an ``m x m`` grid
:func:`spring_chain`           mass-spring-damper chain, first-order form        ``beam``, ``build``
:func:`iss_like`               lightly damped modal (block-diagonal) structure   ``iss`` (1R, 12A)
:func:`heat_fem_1d`            heated rod, linear finite elements with the       FEM models with a
                               consistent mass matrix (``M x' = -K x + b u``)    mass matrix
:func:`rc_network_dae`         RC ladder with purely resistive nodes: a          circuit DAEs (M-M.E.S.S.)
                               semi-explicit index-1 descriptor system
=============================  ================================================  =========================

All are asymptotically stable, real, continuous time; the last two are descriptor systems
(``sys.E`` is not ``None``).  The PDE models scale their inputs and
outputs by the grid (inputs are heat sources over a region, outputs are averages over a region),
so the transfer function converges as the grid is refined.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sps

from .systems.sparse import SparseLTI
from .validation import check_int, check_real

__all__ = ["convection_diffusion_2d", "heat_1d", "heat_fem_1d", "iss_like", "rc_network_dae", "spring_chain"]


def _second_difference(m: int, h: float) -> sps.csr_matrix:
    """``(u_{i-1} - 2 u_i + u_{i+1}) / h^2`` with homogeneous Dirichlet ends."""
    return sps.diags([np.ones(m - 1), -2.0 * np.ones(m), np.ones(m - 1)], [-1, 0, 1], format="csr") / h**2


def _first_difference(m: int, h: float) -> sps.csr_matrix:
    """Central difference ``(u_{i+1} - u_{i-1}) / (2 h)`` with homogeneous Dirichlet ends."""
    return sps.diags([-np.ones(m - 1), np.ones(m - 1)], [-1, 1], format="csr") / (2 * h)


def heat_1d(n: int = 1000, *, diffusion: float = 1.0) -> SparseLTI:
    """Heat equation on a rod, ``T_t = diffusion * T_xx`` on ``(0, 1)`` with ``T = 0`` at both ends.

    Parameters
    ----------
    n : int
        Number of interior grid points (``n >= 4``); the state dimension.
    diffusion : float
        Diffusion coefficient (positive).

    Returns
    -------
    SparseLTI
        ``A`` tridiagonal (``n`` states); one input, a heat source of unit total power on the
        cells in ``[0.2, 0.3]``; one output, the mean temperature on ``[0.6, 0.7]``.

    Examples
    --------
    >>> from mor.models import heat_1d
    >>> heat_1d(500)
    SparseLTI(n=500, nnz=1498, m=1, p=1, real, continuous)
    """
    n = check_int(n, "n (grid points)", minimum=4)
    diffusion = check_real(diffusion, "diffusion", minimum=0.0, include_min=False)
    h = 1.0 / (n + 1)
    x = h * np.arange(1, n + 1)
    A = diffusion * _second_difference(n, h)
    return SparseLTI(A, _region(x, 0.2, 0.3)[:, None] / h, _region(x, 0.6, 0.7)[None, :])


def _region(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Indicator of ``lo <= x <= hi`` normalised to unit sum (at least the nearest grid point)."""
    w = ((x >= lo) & (x <= hi)).astype(float)
    if not w.any():
        w[np.argmin(np.abs(x - (lo + hi) / 2))] = 1.0
    return w / w.sum()


def convection_diffusion_2d(
    m: int = 100,
    *,
    velocity: tuple[float, float] = (20.0, 10.0),
    diffusion: float = 1.0,
    inputs: int = 2,
    outputs: int = 2,
) -> SparseLTI:
    """2-D convection-diffusion ``T_t = diffusion (T_xx + T_yy) - v . grad T + u`` on the unit square.

    Central finite differences on the ``m x m`` interior grid (``n = m^2`` states, five non-zeros
    a row), ``T = 0`` on the boundary; ``velocity = (0, 0)`` is the 2-D heat equation.

    Parameters
    ----------
    m : int
        Interior grid points per direction (``m >= 4``).
    velocity : tuple of float
        Constant velocity ``(v_x, v_y)``.  Keep the cell Peclet number ``|v| h / (2 diffusion)``
        below 1 (``h = 1 / (m + 1)``) for a non-oscillatory discretisation.
    diffusion : float
        Diffusion coefficient (positive).
    inputs : int
        Number of inputs, 1 to 4: heat sources of unit total power on the squares
        ``[0.1, 0.3]^2``, ``[0.7, 0.9] x [0.1, 0.3]``, ``[0.1, 0.3] x [0.7, 0.9]``, ``[0.45, 0.55]^2``.
    outputs : int
        Number of outputs, 1 to 4: mean temperatures on ``[0.6, 0.8] x [0.7, 0.9]``,
        ``[0.2, 0.4] x [0.5, 0.7]``, ``[0.45, 0.55]^2``, ``[0.7, 0.9] x [0.2, 0.4]`` (``x`` first).

    Returns
    -------
    SparseLTI

    Notes
    -----
    With the ``x`` index fastest, ``A = I kron L_x + L_y kron I`` where
    ``L = diffusion D2 - v D1`` per direction (``D2``, ``D1`` the second and central first
    differences).  The Hermitian part of ``A`` is ``diffusion`` times the 2-D Dirichlet
    Laplacian, negative definite: :func:`mor.low_rank_gramians` certifies its Gramian error
    bounds for this model.

    Examples
    --------
    >>> from mor.models import convection_diffusion_2d
    >>> convection_diffusion_2d(100)
    SparseLTI(n=10000, nnz=49600, m=2, p=2, real, continuous)
    """
    m = check_int(m, "m (grid points per direction)", minimum=4)
    vx = check_real(velocity[0], "velocity[0]")
    vy = check_real(velocity[1], "velocity[1]")
    diffusion = check_real(diffusion, "diffusion", minimum=0.0, include_min=False)
    inputs = check_int(inputs, "inputs", minimum=1, maximum=4)
    outputs = check_int(outputs, "outputs", minimum=1, maximum=4)
    h = 1.0 / (m + 1)
    eye = sps.identity(m, format="csr")
    Lx = diffusion * _second_difference(m, h) - vx * _first_difference(m, h)
    Ly = diffusion * _second_difference(m, h) - vy * _first_difference(m, h)
    A = sps.kron(eye, Lx, format="csr") + sps.kron(Ly, eye, format="csr")
    x = h * np.arange(1, m + 1)
    boxes_in = [(0.1, 0.3, 0.1, 0.3), (0.7, 0.9, 0.1, 0.3), (0.1, 0.3, 0.7, 0.9), (0.45, 0.55, 0.45, 0.55)]
    boxes_out = [(0.6, 0.8, 0.7, 0.9), (0.2, 0.4, 0.5, 0.7), (0.45, 0.55, 0.45, 0.55), (0.7, 0.9, 0.2, 0.4)]
    B = np.stack([_box(x, *b) for b in boxes_in[:inputs]], axis=1)
    C = np.stack([_box(x, *b) for b in boxes_out[:outputs]], axis=0)
    return SparseLTI(A, B / h**2, C)


def _box(x: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    """Indicator of a rectangle on the grid (``x`` fastest), normalised to unit sum."""
    wx = ((x >= x0) & (x <= x1)).astype(float)
    wy = ((x >= y0) & (x <= y1)).astype(float)
    if not wx.any():
        wx[np.argmin(np.abs(x - (x0 + x1) / 2))] = 1.0
    if not wy.any():
        wy[np.argmin(np.abs(x - (y0 + y1) / 2))] = 1.0
    w = np.kron(wy, wx)
    return w / w.sum()


def spring_chain(
    masses: int = 500, *, stiffness: float = 1.0, mass: float = 1.0, alpha: float = 0.02, beta: float = 0.02
) -> SparseLTI:
    """Chain of equal masses joined by springs and dampers, the first one to a wall, in first-order form.

    With positions ``q`` and velocities ``v``: ``q' = v``, ``mass v' = -K q - E v + e_last u``,
    ``y = q_1``; ``K`` is the tridiagonal stiffness matrix (``stiffness * [2, -1]`` stencil, the
    last mass with one neighbour) and ``E = alpha * mass * I + beta * K`` (Rayleigh damping).

    Parameters
    ----------
    masses : int
        Number of masses (``>= 2``); the state dimension is ``2 * masses``.
    stiffness : float
        Spring constant (positive).
    mass : float
        Mass of each body (positive).
    alpha, beta : float
        Rayleigh damping coefficients (non-negative, not both zero): mode ``i`` with frequency
        ``w_i`` gets the damping ratio ``(alpha / w_i + beta * w_i) / 2``.

    Returns
    -------
    SparseLTI
        ``2 * masses`` states, one input (a force on the last mass), one output (the position
        of the first mass).

    Notes
    -----
    A second-order model like the ``beam`` and ``build`` models of the collection: its Hankel
    singular values decay slowly for light damping, where low-rank Gramians need many columns.

    Examples
    --------
    >>> from mor.models import spring_chain
    >>> spring_chain(100)
    SparseLTI(n=200, nnz=696, m=1, p=1, real, continuous)
    """
    n = check_int(masses, "masses", minimum=2)
    k = check_real(stiffness, "stiffness", minimum=0.0, include_min=False)
    mass = check_real(mass, "mass", minimum=0.0, include_min=False)
    alpha = check_real(alpha, "alpha", minimum=0.0)
    beta = check_real(beta, "beta", minimum=0.0)
    if alpha == 0 and beta == 0:
        from .errors import InvalidArgumentError

        raise InvalidArgumentError("alpha and beta are both zero: an undamped chain is not asymptotically stable")
    K = sps.diags([-np.ones(n - 1), 2.0 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="lil") * k
    K[n - 1, n - 1] = k
    K = K.tocsr()
    E = alpha * mass * sps.identity(n, format="csr") + beta * K
    A = sps.bmat([[None, sps.identity(n)], [-K / mass, -E / mass]], format="csr")
    B = np.zeros((2 * n, 1))
    B[-1, 0] = 1.0 / mass
    C = np.zeros((1, 2 * n))
    C[0, 0] = 1.0
    return SparseLTI(A, B, C)


def iss_like(
    modes: int = 700,
    *,
    inputs: int = 3,
    outputs: int = 3,
    damping: tuple[float, float] = (0.005, 0.05),
    frequencies: tuple[float, float] = (0.5, 80.0),
    seed: int = 0,
) -> SparseLTI:
    """Lightly damped structure in modal coordinates, like the ISS models (block-diagonal ``A``).

    Mode ``i`` has frequency ``w_i`` (log-uniform in ``frequencies``) and damping ratio
    ``z_i`` (log-uniform in ``damping``); its block is
    ``[[-z_i w_i, w_i], [-w_i, -z_i w_i]]`` (poles ``-z_i w_i +- j w_i``).  The modal input and
    output gains are standard normal scaled by ``1 / w_i``, so high-frequency modes are excited
    less, as in structural models.

    Parameters
    ----------
    modes : int
        Number of modes (``>= 1``); ``2 * modes`` states (the ISS 12A model has 1,412).
    inputs, outputs : int
        Numbers of inputs and outputs (``>= 1``; 3 and 3 for ISS).
    damping : tuple of float
        Range of the damping ratios, ``0 < low <= high < 1``.
    frequencies : tuple of float
        Range of the natural frequencies (rad per time unit), ``0 < low <= high``.
    seed : int
        Seed of the random gains, frequencies and damping ratios.

    Returns
    -------
    SparseLTI

    Examples
    --------
    >>> from mor.models import iss_like
    >>> iss_like(706)
    SparseLTI(n=1412, nnz=2824, m=3, p=3, real, continuous)
    """
    modes = check_int(modes, "modes", minimum=1)
    inputs = check_int(inputs, "inputs", minimum=1)
    outputs = check_int(outputs, "outputs", minimum=1)
    z0 = check_real(damping[0], "damping[0]", minimum=0.0, include_min=False, maximum=1.0, include_max=False)
    z1 = check_real(damping[1], "damping[1]", minimum=z0, maximum=1.0, include_max=False)
    w0 = check_real(frequencies[0], "frequencies[0]", minimum=0.0, include_min=False)
    w1 = check_real(frequencies[1], "frequencies[1]", minimum=w0)
    seed = check_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    w = np.sort(np.exp(rng.uniform(np.log(w0), np.log(w1), modes)))
    z = np.exp(rng.uniform(np.log(z0), np.log(z1), modes))
    re, im = -z * w, w
    rows = np.arange(2 * modes).reshape(modes, 2)
    i = np.concatenate([rows[:, 0], rows[:, 0], rows[:, 1], rows[:, 1]])
    j = np.concatenate([rows[:, 0], rows[:, 1], rows[:, 0], rows[:, 1]])
    A = sps.csr_matrix((np.concatenate([re, im, -im, re]), (i, j)), shape=(2 * modes, 2 * modes))
    gain = np.repeat(1.0 / w, 2)
    B = rng.standard_normal((2 * modes, inputs)) * gain[:, None]
    C = rng.standard_normal((outputs, 2 * modes)) * gain[None, :]
    return SparseLTI(A, B, C)


def _hat_integrals(x: np.ndarray, h: float, lo: float, hi: float) -> np.ndarray:
    """``int_lo^hi phi_i(t) dt`` of the hat functions ``phi_i`` centred at ``x`` with half-width ``h`` (exact)."""

    def primitive(u: np.ndarray) -> np.ndarray:  # int_{-inf}^{u} of the unit hat on [-1, 1]
        u = np.clip(u, -1.0, 1.0)
        return np.where(u < 0, (u + 1) ** 2 / 2, 1 - (1 - u) ** 2 / 2)

    return h * (primitive((hi - x) / h) - primitive((lo - x) / h))


def heat_fem_1d(n: int = 1000, *, diffusion: float = 1.0) -> SparseLTI:
    """Heat equation on a rod by linear finite elements with the consistent mass matrix: ``M x' = -K x + b u``.

    ``T_t = diffusion * T_xx`` on ``(0, 1)``, ``T = 0`` at both ends, ``n`` interior nodes
    (``h = 1 / (n + 1)``), hat functions ``phi_i``::

        M = h / 6 tridiag(1, 4, 1),   K = diffusion / h tridiag(-1, 2, -1),
        b_i = int phi_i f,   y = int w T = c^T x,   c_i = int phi_i w

    with ``f = 10`` on ``[0.2, 0.3]`` (a heat source of unit total power) and ``w = 10`` on
    ``[0.6, 0.7]`` (the mean temperature there); the integrals are exact.

    Parameters
    ----------
    n : int
        Number of interior nodes (``n >= 4``); the state dimension.
    diffusion : float
        Diffusion coefficient (positive).

    Returns
    -------
    SparseLTI
        ``E = M`` (symmetric positive definite, condition number below 3), ``A = -K``; one
        input, one output.  Same continuum model as :func:`heat_1d`.

    Examples
    --------
    >>> from mor.models import heat_fem_1d
    >>> heat_fem_1d(500)
    SparseLTI(n=500, nnz=1498, m=1, p=1, real, descriptor, continuous)
    """
    n = check_int(n, "n (interior nodes)", minimum=4)
    diffusion = check_real(diffusion, "diffusion", minimum=0.0, include_min=False)
    h = 1.0 / (n + 1)
    x = h * np.arange(1, n + 1)
    ones = np.ones(n - 1)
    M = sps.diags([ones, 4.0 * np.ones(n), ones], [-1, 0, 1], format="csr") * (h / 6)
    K = sps.diags([-ones, 2.0 * np.ones(n), -ones], [-1, 0, 1], format="csr") * (diffusion / h)
    b = 10.0 * _hat_integrals(x, h, 0.2, 0.3)
    c = 10.0 * _hat_integrals(x, h, 0.6, 0.7)
    return SparseLTI(-K, b[:, None], c[None, :], E=M)


def rc_network_dae(nodes: int = 1000, *, every: int = 3, resistance: float = 1.0, capacitance: float = 1.0,
                   leak: float = 0.01) -> SparseLTI:
    """An RC ladder in which every ``every``-th node has no capacitor: a semi-explicit index-1 DAE.

    Nodal analysis of a chain of ``nodes`` nodes: a resistor ``resistance`` between neighbours, a
    conductance ``leak`` from every node to ground, a capacitor ``capacitance`` to ground at every
    node except nodes ``0, every, 2 every, ...`` (purely resistive: their voltages are algebraic)::

        E v' = -G v + b u,   E = diag(c_i) (c_i = 0 at the resistive nodes),   G = L / resistance + leak I

    with ``L`` the path Laplacian.  The input is a current injected at node 0 (resistive), the
    outputs the voltages at node 0 (the driving-point impedance, which has a feedthrough) and at
    the last node.  ``G22`` (the resistive nodes) is diagonal and positive, so the index is 1.

    Parameters
    ----------
    nodes : int
        Number of nodes (``>= 4``); the state dimension of the DAE.
    every : int
        Spacing of the resistive nodes (``>= 2``).
    resistance, capacitance, leak : float
        Element values (positive).

    Returns
    -------
    SparseLTI
        ``E`` singular with zero rows and columns at the resistive nodes; one input, two outputs.

    Examples
    --------
    >>> from mor.models import rc_network_dae
    >>> rc_network_dae(300)
    SparseLTI(n=300, nnz=898, m=1, p=2, real, descriptor, continuous)
    """
    n = check_int(nodes, "nodes", minimum=4)
    every = check_int(every, "every", minimum=2)
    r = check_real(resistance, "resistance", minimum=0.0, include_min=False)
    cap = check_real(capacitance, "capacitance", minimum=0.0, include_min=False)
    leak = check_real(leak, "leak", minimum=0.0, include_min=False)
    deg = np.full(n, 2.0)
    deg[[0, -1]] = 1.0
    ones = np.ones(n - 1)
    G = sps.diags([-ones, deg, -ones], [-1, 0, 1], format="csr") / r + leak * sps.identity(n, format="csr")
    c = np.full(n, cap)
    c[::every] = 0.0
    B = np.zeros((n, 1))
    B[0, 0] = 1.0
    C = np.zeros((2, n))
    C[0, 0] = C[1, -1] = 1.0
    return SparseLTI(-G, B, C, E=sps.diags(c, format="csr"))
