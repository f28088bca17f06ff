"""Skew-HiPPO frequencies: the dense route, the O(N)-memory structured route, and where each is used.

The reference values are 40-digit eigenvalues of ``i S`` (mpmath) at small ``N``; at larger ``N``
the two routes, which share no code but the final Newton polish, must agree on every frequency
to a few units of rounding *relative to that frequency* (the dense route alone, without the
polish, is off by ~1e-12 on the lowest ones at N = 500).
"""

import tracemalloc

import numpy as np
import pytest

torch = pytest.importorskip("torch")
mpmath = pytest.importorskip("mpmath")

import mor.validation  # noqa: E402
from mor.errors import InvalidArgumentError, MemoryLimitError  # noqa: E402
from mor_torch import DSS  # noqa: E402
from mor_torch import init as inits  # noqa: E402

RTOL = 1e-14  # measured: ~2e-16 for both routes; rounding differs across CPUs, not by 50x


def _mp_frequencies(n: int) -> np.ndarray:
    """The ``N`` positive eigenvalues of ``i S`` to 40 digits."""
    m = 2 * n
    with mpmath.workdps(40):
        S = mpmath.matrix(m, m)
        for i in range(m):
            for j in range(m):
                if i != j:
                    S[i, j] = (1 if j > i else -1) * mpmath.sqrt((2 * i + 1) * (2 * j + 1)) / 2
        ev = mpmath.eigh(S * mpmath.mpc(0, 1), eigvals_only=True)
        return np.sort(np.array([float(mpmath.re(e)) for e in ev]))[n:]


@pytest.mark.parametrize("n", [1, 2, 3, 6, 13])
@pytest.mark.parametrize("method", ["dense", "structured"])
def test_both_routes_match_40_digit_eigenvalues_on_every_frequency(n, method):
    p = inits.skew_hippo(n, method=method)
    np.testing.assert_allclose(p.imag, _mp_frequencies(n), rtol=RTOL, atol=0)
    assert np.all(p.real == -0.5) and np.all(np.diff(p.imag) > 0)


def test_the_routes_agree_on_every_frequency_at_moderate_n():
    n = 500  # lowest ~0.19, highest ~3.2e5; the unpolished dense route is off by ~1e-12 at the bottom
    dense, structured = inits.skew_hippo(n, method="dense"), inits.skew_hippo(n, method="structured")
    np.testing.assert_allclose(structured.imag, dense.imag, rtol=10 * RTOL, atol=0)
    assert np.array_equal(inits.skew_hippo(n), structured)  # auto: structured above DENSE_MAX_N


def test_auto_takes_the_structured_route_above_the_threshold_and_never_builds_the_matrix(monkeypatch):
    def refuse(n):
        raise AssertionError(f"the dense builder was called for N = {n}")

    monkeypatch.setattr(inits, "_dense", refuse)
    monkeypatch.setattr(inits, "DENSE_MAX_N", 40)
    p = inits.skew_hippo(41)
    assert p.shape == (41,) and np.all(np.diff(p.imag) > 0)
    with pytest.raises(AssertionError, match="N = 40"):
        inits.skew_hippo(40)


def test_the_structured_route_needs_o_n_memory():
    n = 1200  # the dense matrix would take 36 N^2 = 52 MB
    tracemalloc.start()
    try:
        inits.skew_hippo(n, method="structured")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    per_mode, fixed = inits._STRUCTURED_BYTES  # the estimate its memory check uses
    assert peak < per_mode * n + fixed
    assert peak < 36 * n * n / 10


def test_memory_checks_name_each_route_footprint(monkeypatch):
    monkeypatch.setattr(mor.validation, "available_memory", lambda: 5_000_000)
    with pytest.raises(MemoryLimitError, match=r"dense skew-HiPPO route with N = 400 .* needs about"):
        inits.skew_hippo(400, method="dense")  # 36 N^2 = 5.8 MB
    assert inits.skew_hippo(400, method="structured").shape == (400,)  # 400 N + 4 MB = 4.2 MB
    with pytest.raises(MemoryLimitError, match=r"N = 3000 modes needs about"):
        inits.skew_hippo(3000)  # 5.2 MB, refused before anything is allocated
    with pytest.raises(MemoryLimitError, match=r"N = 100000000000 modes needs about 36.4 TiB"):
        inits.skew_hippo(10**11)


@pytest.fixture
def structured_calls(monkeypatch):
    """The structured route replaced by a recorder of its argument (cheap stand-in frequencies
    ``0.2 + k``); the cache of large answers is emptied before and after (no stand-in is kept)."""
    calls = []

    def structured(n):
        calls.append(n)
        return 0.2 + np.arange(n, dtype=np.float64)

    monkeypatch.setattr(inits, "_structured", structured)
    inits._remembered.cache_clear()
    yield calls
    inits._remembered.cache_clear()


def test_a_layer_with_100001_modes_is_built_on_the_structured_route(structured_calls):
    # was MemoryLimitError (the 336 GiB dense matrix); the route itself takes ~an hour on one core
    # at this size, so it is replaced here by a recorder of its argument.
    layer = DSS(4, 100001)
    assert structured_calls == [100001] and layer.d_state == 100001


def test_bad_method_is_refused():
    with pytest.raises(InvalidArgumentError, match="method"):
        inits.skew_hippo(4, method="qr")


def test_threads_share_the_shifts_without_changing_a_bit(monkeypatch):
    one = inits.skew_hippo(450, method="structured")
    monkeypatch.setattr(inits, "_LANES_PER_THREAD", 64)
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        three = inits.skew_hippo(450, method="structured")
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(one, three)  # each shift's recurrence is the same arithmetic on any thread


def test_large_sizes_are_computed_once_for_all_layers(structured_calls):
    n = inits._REMEMBER_MIN_N
    first = inits.skew_hippo(n)
    first[0] = 7.0  # the caller's copy; the remembered answer is not touched
    second = inits.skew_hippo(n)
    inits.skew_hippo(n - 1)  # below the threshold: not remembered
    inits.skew_hippo(n - 1)
    assert structured_calls == [n, n - 1, n - 1]
    assert second[0] == -0.5 + 0.2j
