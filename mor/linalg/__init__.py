"""Dense and structured linear-algebra kernels (the ground floor of :mod:`mor`).

Nothing here knows a system type: the modules take and return arrays.

======================  ==============================================================
``schur``               complex Schur form with exact eigenvalues of 2 x 2 blocks
``lyapunov``            Bartels-Stewart solver of (dense) Lyapunov equations
``hammarling``          Hammarling's recurrence: a Cholesky factor of a Lyapunov solution
``pencil``              generalised Schur form and a Hammarling factor of a triangular pencil
``cauchy``              pivoted Cholesky of Cauchy-like (diagonal-system) Gramians
``_spectral_blocks``    block-diagonal Schur form with condition-aware clusters of eigenvalues
``_leading_svd``        leading singular triplets of a factor product (bidiagonal SVD)
``_shifted``            shifted sparse solves ``(A - p I)^-1 B`` for ADI iterations
``_arrays``             input conversion with typed errors, padding, stable norms
``_exact``              compensated arithmetic (``1 - |z|^2``, two-products)
``_expm1``              ``expm1`` of complex arguments and its ratios
``_capi``               scipy's Cython BLAS/LAPACK capsules as ctypes functions
======================  ==============================================================

Import direction: ``linalg`` <- ``systems`` <- ``gramians`` <- ``analysis`` <- ``reduction``.
"""

from .cauchy import cauchy_cholesky, cauchy_cholesky_pair
from .hammarling import triangular_lyapunov_factor
from .lyapunov import solve_lyapunov
from .pencil import check_stable_pencil, generalized_schur, triangular_pencil_factor
from .schur import SchurForm, complex_schur, quasi_triangular_eigvals

__all__ = [
    "SchurForm",
    "cauchy_cholesky",
    "cauchy_cholesky_pair",
    "check_stable_pencil",
    "complex_schur",
    "generalized_schur",
    "quasi_triangular_eigvals",
    "solve_lyapunov",
    "triangular_lyapunov_factor",
    "triangular_pencil_factor",
]
