"""mor: model-order reduction for linear time-invariant systems.

Dense, batched diagonal and large sparse systems, continuous and discrete time: Gramians
(dense, closed-form, low-rank), Hankel singular values, square-root balanced truncation (and
balanced singular perturbation), modal truncation, H2-optimal reduction (IRKA) and system norms.
Depends on numpy and scipy only (never on torch).

The code lives in five groups whose imports run one way (each imports only those before it),
with the ground floor (``errors``, ``validation``) below them all:

``linalg``     dense and structured linear-algebra kernels (Schur, Lyapunov, Hammarling, Cauchy)
``systems``    system types and conversion (``LTI``, ``DiagonalLTI``, ``SparseLTI``, discretisation)
``gramians``   Gramians (dense, closed-form, low-rank) and Hankel singular values
``analysis``   norms and responses
``reduction``  balanced truncation, singular perturbation, modal truncation, IRKA, finite-length fit

``models`` generates test systems.  Every public name is importable from ``mor`` itself; the
module paths of the flat layout before the groups (``mor.reduction.balanced``, ``mor.analysis.norms``, ...) keep
working as aliases of the modules in the groups (:mod:`mor._aliases`).

>>> from mor import balanced_truncation
"""

from . import errors, models
from ._aliases import register_old_paths
from .analysis import (
    TimeResponse,
    forced_response,
    frequency_response,
    h2_norm,
    hinf_norm,
    impulse_response,
    step_response,
    transfer_function,
)
from .errors import (
    AccuracyWarning,
    ArgumentConflictError,
    ArgumentTypeError,
    BackendUnavailableError,
    ConvergenceError,
    DimensionError,
    InvalidArgumentError,
    MemoryLimitError,
    MethodError,
    MorError,
    NonFiniteError,
    NumericalError,
    OrderError,
    RankWarning,
    SystemTypeError,
    UnstableSystemError,
)
from .gramians import (
    LowRankGramians,
    controllability_gramian,
    gramians,
    hankel_singular_values,
    low_rank_gramians,
    observability_gramian,
    order_for_tolerance,
    truncation_bound,
)
from .linalg import cauchy_cholesky, complex_schur, solve_lyapunov
from .reduction import (
    BalancedTruncationResult,
    BatchedBalancedTruncationResult,
    FiniteLengthResult,
    IrkaResult,
    LowRankCertificate,
    ModalTruncationResult,
    balanced_truncation,
    finite_length_reduction,
    irka,
    modal_dc_gain,
    modal_truncation,
    modred,
    residualize,
)
from .systems import (
    LTI,
    BatchedLTI,
    DiagonalLTI,
    SparseLTI,
    StableSplit,
    as_system,
    check_stable,
    discretize,
    eliminate_algebraic,
    feedback,
    parallel,
    series,
    stable_split,
)

register_old_paths()

__version__ = "0.1.0"

__all__ = [
    "LTI",
    "AccuracyWarning",
    "ArgumentConflictError",
    "ArgumentTypeError",
    "BalancedTruncationResult",
    "BatchedBalancedTruncationResult",
    "BatchedLTI",
    "BackendUnavailableError",
    "ConvergenceError",
    "DiagonalLTI",
    "DimensionError",
    "FiniteLengthResult",
    "InvalidArgumentError",
    "MemoryLimitError",
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
    "StableSplit",
    "SystemTypeError",
    "TimeResponse",
    "UnstableSystemError",
    "__version__",
    "as_system",
    "balanced_truncation",
    "cauchy_cholesky",
    "check_stable",
    "complex_schur",
    "controllability_gramian",
    "discretize",
    "eliminate_algebraic",
    "errors",
    "feedback",
    "forced_response",
    "finite_length_reduction",
    "frequency_response",
    "gramians",
    "h2_norm",
    "hankel_singular_values",
    "hinf_norm",
    "impulse_response",
    "irka",
    "low_rank_gramians",
    "modal_dc_gain",
    "modal_truncation",
    "modred",
    "models",
    "observability_gramian",
    "order_for_tolerance",
    "residualize",
    "parallel",
    "series",
    "solve_lyapunov",
    "stable_split",
    "step_response",
    "transfer_function",
    "truncation_bound",
]
