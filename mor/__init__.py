"""mor: model-order reduction for linear time-invariant systems.

Dense, batched diagonal and large sparse systems, continuous and discrete time: Gramians
(dense, closed-form, low-rank), Hankel singular values, square-root balanced truncation (and
balanced singular perturbation), modal truncation, H2-optimal reduction (IRKA) and system norms.
Depends on numpy and scipy only (never on torch).

>>> from mor import balanced_truncation
"""

from . import errors, models
from .balanced import BalancedTruncationResult, balanced_truncation
from .cauchy import cauchy_cholesky
from .discretize import discretize
from .errors import (
    AccuracyWarning,
    ArgumentTypeError,
    BackendUnavailableError,
    ConvergenceError,
    DimensionError,
    InvalidArgumentError,
    MethodError,
    MorError,
    NonFiniteError,
    NumericalError,
    OrderError,
    RankWarning,
    SystemTypeError,
    UnstableSystemError,
)
from .finite_length import FiniteLengthResult, finite_length_reduction
from .gramians import controllability_gramian, gramians, observability_gramian
from .h2 import h2_norm
from .h2_optimal import IrkaResult, irka
from .hankel import hankel_singular_values
from .lowrank import LowRankGramians, low_rank_gramians
from .lowrank_bt import LowRankCertificate
from .lyapunov import solve_lyapunov
from .modal import ModalTruncationResult, modal_truncation
from .norms import hinf_norm
from .response import frequency_response, impulse_response, transfer_function
from .schur import complex_schur
from .sparse import SparseLTI
from .stability import check_stable
from .systems import LTI, DiagonalLTI, as_system

__version__ = "0.1.0"

__all__ = [
    "LTI",
    "AccuracyWarning",
    "ArgumentTypeError",
    "BalancedTruncationResult",
    "BackendUnavailableError",
    "ConvergenceError",
    "DiagonalLTI",
    "DimensionError",
    "FiniteLengthResult",
    "InvalidArgumentError",
    "IrkaResult",
    "LowRankCertificate",
    "LowRankGramians",
    "ModalTruncationResult",
    "MethodError",
    "MorError",
    "NonFiniteError",
    "NumericalError",
    "OrderError",
    "RankWarning",
    "SparseLTI",
    "SystemTypeError",
    "UnstableSystemError",
    "__version__",
    "as_system",
    "balanced_truncation",
    "cauchy_cholesky",
    "check_stable",
    "complex_schur",
    "controllability_gramian",
    "discretize",
    "errors",
    "finite_length_reduction",
    "frequency_response",
    "gramians",
    "h2_norm",
    "hankel_singular_values",
    "hinf_norm",
    "impulse_response",
    "irka",
    "low_rank_gramians",
    "modal_truncation",
    "models",
    "observability_gramian",
    "solve_lyapunov",
    "transfer_function",
]
