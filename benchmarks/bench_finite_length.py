"""Reduction that knows the kernel length: the ``kernel`` reducer against BT, BSP, modal and IRKA on
trained models, as kernel error over the kernel length ``L`` and as accuracy without retraining.

For every model (``--model LABEL=PATH``, a ``model.pt`` of a pipeline run; its run directory's
``config.json`` names the task), every order ``r`` (``--orders``) and every reducer of
:data:`mor_torch.reducers.REDUCERS`, the model is compressed with
``compress(model, r, reducer=..., length=L)`` and measured:

``kernel err median / max``
    per channel of every DSS layer, ``||K - K_r||_2 / ||K||_2`` over the ``L`` samples of the
    layer's kernel (the skip ``D`` left out; the change of the skip that ``bsp`` makes is counted
    at ``k = 0``), float64; the median and the largest over all channels.
``test acc`` / ``val acc``
    the compressed model on the task's test and validation splits, no retraining.
``s``
    wall time of ``compress``.

The variants of balanced truncation that use the length, which the ``kernel`` reducer was chosen
over, are measured on the same layers' systems (``mor`` only, channel by channel; they are not
library features):

``tlbt``      time-limited BT, Gramians over ``L`` steps (``balanced_truncation(horizon=L)``)
``ga-tlbt``   Gugercin & Antoulas' modification: the indefinite right-hand side
              ``B B^H - A^L B B^H A^LH`` of the time-limited Lyapunov equation replaced by its
              absolute value (so both Gramians solve Lyapunov equations with positive
              semi-definite right-hand sides and the truncation is stable)
``disc-BT``   exponentially discounted BT: BT of ``(rho A, B, C)`` with ``rho = tol^(1/L)``, poles
              scaled back by ``1/rho``

with the number of reduced poles ``|z| >= 1`` (which a stable layer cannot take).

Run:  python benchmarks/bench_finite_length.py --model dss=/tmp/fl/smnist_dss/seed0/pretrained/model.pt \\
          --model s4d=/tmp/fl/smnist_s4d/seed0/pretrained/model.pt [--orders 4 8 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import pathlib
import sys
import time
import warnings

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common  # noqa: F401  (pins one BLAS thread: must precede numpy)

# isort: split
import numpy as np
import torch

from mor import DiagonalLTI, balanced_truncation, impulse_response
from mor_torch import DSS, compress, to_lti
from mor_torch.lra.data.registry import load_task
from mor_torch.lra.loaders import make_eval_loader
from mor_torch.lra.model import load_model
from mor_torch.lra.train import evaluate
from mor_torch.reducers import REDUCERS


def kernels(model: torch.nn.Module, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Every DSS layer's kernel ``(channels, L)`` and skip ``(channels,)``, float64."""
    Ks, Ds = [], []
    for layer in (m for m in model.modules() if isinstance(m, DSS)):
        with torch.no_grad():
            Ks.append(copy.deepcopy(layer).double().kernel(length).numpy())
        Ds.append(layer.D.detach().double().numpy())
    return np.concatenate(Ks), np.concatenate(Ds)


def relative_errors(K: np.ndarray, Kr: np.ndarray) -> np.ndarray:
    return np.linalg.norm(K - Kr, axis=-1) / np.linalg.norm(K, axis=-1)


def reduced_kernel_errors(full: tuple, model: torch.nn.Module, length: int) -> np.ndarray:
    """``||K - K_r||_2 / ||K||_2`` per channel, a change of the skip counted at lag 0 (``bsp``)."""
    (K, D), (Kr, Dr) = full, kernels(model, length)
    Kr = Kr.copy()
    Kr[:, 0] += Dr - D
    return relative_errors(K, Kr)


def task_loaders(path: pathlib.Path):
    config = json.loads((path.parent.parent.parent / "config.json").read_text())
    task = load_task(config["task"]["name"], config["task"]["data_dir"] or None, **config["task"]["options"])
    return make_eval_loader(task.val, 250), make_eval_loader(task.test, 250)


def reducer_rows(label: str, model, orders, loaders) -> list[dict]:
    L = model.hparams["length"]
    full = kernels(model, L)
    val, test = (evaluate(model, loader)["accuracy"] for loader in loaders)
    rows = [{"model": label, "r": model.hparams["d_state"], "reducer": "full", "val": val, "test": test,
             "median": 0.0, "max": 0.0, "s": 0.0}]  # fmt: skip
    for r in orders:
        for reducer in REDUCERS:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # non-convergence (h2, kernel) is counted in the report
                new, _ = compress(model, r, reducer=reducer, length=L)
            wall = time.perf_counter() - t0
            err = reduced_kernel_errors(full, new, L)
            rows.append({"model": label, "r": r, "reducer": reducer, "median": float(np.median(err)),
                         "max": float(err.max()), "val": evaluate(new, loaders[0])["accuracy"],
                         "test": evaluate(new, loaders[1])["accuracy"], "s": wall})  # fmt: skip
            print(_fmt(rows[-1]), flush=True)
    return rows


def _fmt(row: dict) -> str:
    return (f"{row['model']:>6} r={row['r']:<3} {row['reducer']:<7} kernel err median {row['median']:.3f} "
            f"max {row['max']:.3f} | val {row['val']:.3f} test {row['test']:.3f} | {row['s']:.1f} s")  # fmt: skip


# ------------------------------------------------------------------ the variants of BT (mor level)
def _factor(X: np.ndarray) -> np.ndarray:
    w, V = np.linalg.eigh((X + X.conj().T) / 2)
    return V * np.sqrt(np.clip(w, 0, None))


def _square_root_bt(P, Q, z, b, c, r):
    """Balancing-free square-root truncation of ``(diag(z), b, c)`` with the Gramians ``P``, ``Q``."""
    R, S = _factor(P), _factor(Q)
    U, _, Vh = np.linalg.svd(S.conj().T @ R)
    V, W = np.linalg.qr(R @ Vh.conj().T[:, :r])[0], np.linalg.qr(S @ U[:, :r])[0]
    W = W @ np.linalg.inv(W.conj().T @ V).conj().T
    lam, X = np.linalg.eig(W.conj().T @ (z[:, None] * V))
    return lam, np.linalg.solve(X, W.conj().T @ b), c @ V @ X


def _absolute(M: np.ndarray) -> np.ndarray:
    w, V = np.linalg.eigh(M)
    return (V * np.abs(w)) @ V.conj().T


def bt_variant(sys: DiagonalLTI, r: int, L: int, kind: str, tol: float = 0.1) -> DiagonalLTI:
    """``ga-tlbt`` or ``disc-BT`` (see the module docstring), channel by channel."""
    rho = tol ** (1 / L) if kind == "disc" else 1.0
    out = []
    for z, b, c in zip(sys.poles, sys.B, sys.C, strict=True):
        z = z * rho
        cross = 1 - z[:, None] * z.conj()[None, :]
        if kind == "ga":
            fb, fc = z[:, None] ** L * b, (z.conj()[:, None] ** L * c.conj().T)
            P = _absolute(b @ b.conj().T - fb @ fb.conj().T) / cross
            Q = _absolute(c.conj().T @ c - fc @ fc.conj().T) / cross.T
        else:
            P, Q = (b @ b.conj().T) / cross, (c.conj().T @ c) / cross.T
        lam, br, cr = _square_root_bt(P, Q, z, b, c, r)
        out.append((lam / rho, br, cr))
    return DiagonalLTI(*(np.array(x) for x in zip(*out, strict=True)), None, 1.0)


def variant_rows(label: str, model, orders) -> list[dict]:
    L = model.hparams["length"]
    systems = [to_lti(m, time="discrete", length=L) for m in model.modules() if isinstance(m, DSS)]
    systems = [DiagonalLTI.from_log_poles(s.log_poles, s.B, s.C, None, 1.0) for s in systems]
    kernel = [impulse_response(s, L + 1)[:, 1:, 0, 0].real for s in systems]
    rows = []
    for r in orders:
        reducers = {"bt": lambda s, r=r: balanced_truncation(s, r, method="bfsr").reduced,
                    "tlbt": lambda s, r=r: balanced_truncation(s, r, method="bfsr", horizon=L).reduced,
                    "ga-tlbt": lambda s, r=r: bt_variant(s, r, L, "ga"),
                    "disc-BT 0.1": lambda s, r=r: bt_variant(s, r, L, "disc", 0.1),
                    "disc-BT 0.01": lambda s, r=r: bt_variant(s, r, L, "disc", 0.01)}  # fmt: skip
        for name, fn in reducers.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reduced = [fn(s) for s in systems]
            err = np.concatenate([relative_errors(K, impulse_response(red, L + 1)[:, 1:, 0, 0].real)
                                  for K, red in zip(kernel, reduced, strict=True)])  # fmt: skip
            unstable = int(sum(np.sum(np.abs(red.poles) >= 1) for red in reduced))
            total = int(sum(red.poles.size for red in reduced))
            rows.append({"model": label, "r": r, "variant": name, "median": float(np.median(err)),
                         "max": float(err.max()), "unstable": unstable, "poles": total})  # fmt: skip
            print(f"{label:>6} r={r:<3} {name:<12} kernel err median {rows[-1]['median']:.3f} max {rows[-1]['max']:.3f}"
                  f" | poles |z| >= 1: {unstable} of {rows[-1]['poles']}", flush=True)  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="LABEL=PATH of a pipeline model.pt")
    parser.add_argument("--orders", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--json", type=pathlib.Path, help="write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = {"reducers": [], "variants": []}
    for spec in args.model:
        label, _, path = spec.partition("=")
        path = pathlib.Path(path)
        model = load_model(path).eval()
        out["variants"] += variant_rows(label, model, args.orders)
        out["reducers"] += reducer_rows(label, model, args.orders, task_loaders(path))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
