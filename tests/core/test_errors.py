"""Every error's class names the problem: the exact class (not just a base) for each kind of misuse."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_dense, random_diagonal

import mor
from mor import LTI, DiagonalLTI
from mor.errors import (
    ArgumentConflictError,
    ArgumentTypeError,
    DimensionError,
    InvalidArgumentError,
    MethodError,
    OrderError,
    SystemTypeError,
)

CONT = random_dense(4, seed=1)
DISC = random_dense(4, seed=1, discrete=True)
DIAG = random_diagonal(2, 3)

CASES = {
    # values out of range: InvalidArgumentError itself (neither DimensionError nor OrderError)
    "LTI dt < 0": (lambda: LTI([[-1.0]], [[1.0]], [[1.0]], dt=-0.5), InvalidArgumentError),
    "LTI dt nan": (lambda: LTI([[-1.0]], [[1.0]], [[1.0]], dt=np.nan), InvalidArgumentError),
    "discretize dt < 0": (lambda: mor.discretize(CONT, -1.0), InvalidArgumentError),
    "impulse dt < 0": (lambda: mor.impulse_response(CONT, 3, dt=-0.1), InvalidArgumentError),
    "impulse length 0": (lambda: mor.impulse_response(DISC, 0), InvalidArgumentError),
    "gramian horizon 0": (lambda: mor.controllability_gramian(DISC, horizon=0), InvalidArgumentError),
    "bt tol < 0": (lambda: mor.balanced_truncation(CONT, tol=-1.0), InvalidArgumentError),
    "bt rank_tol 1": (lambda: mor.balanced_truncation(CONT, rank_tol=1.0), InvalidArgumentError),
    "hinf tol 0": (lambda: mor.hinf_norm(CONT, tol=0.0), InvalidArgumentError),
    "schur not of A": (
        lambda: mor.solve_lyapunov(CONT.A, np.eye(4), schur=mor.complex_schur(DISC.A)),
        InvalidArgumentError,
    ),
    # wrong types
    "hinf return_peak 1": (lambda: mor.hinf_norm(CONT, return_peak=1), ArgumentTypeError),
    "bt order 1.5": (lambda: mor.balanced_truncation(CONT, 1.5), ArgumentTypeError),
    "impulse length 2.0": (lambda: mor.impulse_response(DISC, 2.0), ArgumentTypeError),
    "LTI dt '0.1'": (lambda: LTI([[-1.0]], [[1.0]], [[1.0]], dt="0.1"), ArgumentTypeError),
    "complex omega": (lambda: mor.frequency_response(CONT, [1j]), ArgumentTypeError),
    "schur not a pair": (lambda: mor.solve_lyapunov(CONT.A, np.eye(4), schur=(CONT.A,)), ArgumentTypeError),
    "non-numeric matrix": (lambda: mor.solve_lyapunov([["a"]], [[1.0]]), ArgumentTypeError),
    # arguments that cannot be given together: ArgumentConflictError
    "bt order and tol": (lambda: mor.balanced_truncation(CONT, 1, tol=1.0), ArgumentConflictError),
    "schur with scipy": (
        lambda: mor.solve_lyapunov(CONT.A, np.eye(4), schur=mor.complex_schur(CONT.A), method="scipy"),
        ArgumentConflictError,
    ),
    "log_poles without dt": (lambda: DiagonalLTI(None, [[1.0]], [[1.0]], log_poles=[-1.0]), ArgumentConflictError),
    "poles vs log_poles": (
        lambda: DiagonalLTI([0.5], [[1.0]], [[1.0]], dt=1.0, log_poles=[-1.0]),
        ArgumentConflictError,
    ),
    "different dt": (lambda: CONT - DISC, ArgumentConflictError),
    "dense method for batch": (lambda: mor.controllability_gramian(DIAG, method="dense"), ArgumentConflictError),
    "bt match_dc with horizon": (
        lambda: mor.balanced_truncation(DISC, 1, match_dc=True, horizon=5),
        ArgumentConflictError,
    ),
    "bilinear of a diagonal system": (lambda: mor.discretize(DIAG, 0.1, method="bilinear"), ArgumentConflictError),
    "horizon on the low-rank route": (
        lambda: mor.balanced_truncation(CONT, 1, route="low-rank", horizon=5),
        ArgumentConflictError,
    ),
    # the precise subclasses keep their meaning
    "order 0": (lambda: mor.balanced_truncation(CONT, 0), OrderError),
    "unknown method": (lambda: mor.balanced_truncation(CONT, 1, method="magic"), MethodError),
    "B rows": (lambda: LTI([[-1.0]], [[1.0], [2.0]], [[1.0]]), DimensionError),
    "not a system": (lambda: mor.hinf_norm([[1.0]]), SystemTypeError),
    "log_poles of continuous": (lambda: DIAG.log_poles, SystemTypeError),
}


@pytest.mark.parametrize("case", list(CASES))
def test_error_class_is_exact(case):
    call, expected = CASES[case]
    with pytest.raises(expected) as info:
        call()
    assert type(info.value) is expected, f"{case}: {type(info.value).__name__}: {info.value}"


def test_new_classes_exported():
    assert mor.InvalidArgumentError is InvalidArgumentError and mor.ArgumentTypeError is ArgumentTypeError
    assert issubclass(mor.AccuracyWarning, UserWarning)
    assert issubclass(ArgumentTypeError, TypeError) and issubclass(ArgumentTypeError, ValueError)
