"""Exact M/D/c (issue 7) against independent oracles.

The oracles: the embedded Markov chain solved by brute-force Lindley iteration, M/D/1's closed forms
(Pollaczek–Khinchine and Erlang's 1909 waiting-time formula), and continuity at multiples of the service time.
Pools of 10⁴–10⁶ registers, next to saturation and far from it, are also run.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fiscal_core.capacity.erlang import MMc, mmc_registers
from fiscal_core.capacity.mdc import HeavyTrafficMDc, MDc, mdc_registers, tau_root


def _poisson(mu: float, n: int) -> np.ndarray:
    k = np.arange(n)
    return np.exp(k * math.log(mu) - mu - np.array([math.lgamma(x + 1) for x in k]))


def lindley_excess(c: int, a: float) -> np.ndarray:
    """Stationary Y = max(N − c, 0) of the chain Y' = max(Y + A − c, 0), by a dense linear solve (the oracle).

    Truncated where Y's geometric tail (ratio 1/τ) is below 1e−16, so the lost mass is negligible.
    """
    theta = math.log(tau_root(c, a))
    size = int(40 / theta) + 60
    p = _poisson(a, size + c + 1)
    cdf = np.cumsum(p)
    i = np.arange(size)[:, None]
    j = np.arange(size)[None, :]
    steps = j + c - i  # A needed to go from i to j ≥ 1
    chain = np.where(steps >= 0, p[np.clip(steps, 0, len(p) - 1)], 0.0)
    chain[:, 0] = cdf[np.clip(c - np.arange(size), 0, None)] * (c - np.arange(size) >= 0)
    system = chain.T - np.eye(size)
    system[-1, :] = 1.0  # replace one balance equation by Σπ = 1
    rhs = np.zeros(size)
    rhs[-1] = 1.0
    return np.linalg.solve(system, rhs)


def oracle_tail(y: np.ndarray, lam: float, d: float, c: int, t: float) -> float:
    """P(W > t) = P(Y + Pois(λ(D − u)) > (k+1)c − 1), t = kD + u (Franx 2001)."""
    k = math.floor(t / d)
    u = t - k * d
    m = (k + 1) * c - 1
    mu = lam * (d - u)
    f = np.cumsum(_poisson(mu, m + 1)) if mu > 0 else np.ones(m + 1)
    ys = y[: m + 1]
    return float(1.0 - np.dot(ys, f[::-1][: len(ys)]))


@pytest.mark.parametrize(("c", "a"), [(1, 0.5), (2, 1.0), (3, 2.9), (7, 5.0), (22, 20.0), (105, 100.0), (40, 20.0)])
def test_against_the_embedded_chain(c: int, a: float) -> None:
    y = lindley_excess(c, a)
    m = MDc.of(c, a, 1.0)
    for t in (0.0, 0.05, 0.3, 0.999, 1.0, 1.7, 2.5, 4.0):
        want = oracle_tail(y, a, 1.0, c, t)
        assert m.tail(t) == pytest.approx(want, rel=1e-8, abs=1e-11), t
    assert m.mean() == pytest.approx(float(np.dot(np.arange(len(y)), y)) / a, rel=1e-9)


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.8, 0.95])
def test_md1_closed_forms(rho: float) -> None:
    d = 2.0
    lam = rho / d
    m = MDc.of(1, lam, d)
    assert m.p_wait == pytest.approx(rho, rel=1e-12)
    assert m.mean() == pytest.approx(rho * d / (2 * (1 - rho)), rel=1e-10)  # Pollaczek–Khinchine
    for t in (0.3, 1.0, 2.0, 3.7, 9.0):
        # Erlang (1909): P(W ≤ t) = (1 − ρ) Σ_{k=0}^{⌊t/D⌋} e^{−λ(kD − t)} (λ(kD − t))^k / k!
        cdf = (1 - rho) * sum(
            math.exp(-lam * (k * d - t)) * (lam * (k * d - t)) ** k / math.factorial(k) for k in range(int(t // d) + 1)
        )
        assert m.tail(t) == pytest.approx(1 - cdf, rel=1e-8, abs=1e-12)


def test_continuous_at_multiples_of_the_service_time() -> None:
    m = MDc.of(7, 5.0, 1.0)
    for k in (1, 2, 3):
        assert m.tail(k - 1e-12) == pytest.approx(m.tail(float(k)), rel=1e-9)


@pytest.mark.parametrize(("c", "lam", "s"), [(8, 5.0, 1.0), (205, 200.0, 1.0), (3, 1.0, 2.0), (600, 580.0, 1.0)])
def test_quantile_inverts_the_tail(c: int, lam: float, s: float) -> None:
    m = MDc.of(c, lam, s)
    for q in (0.5, 0.9, 0.99, 0.999):
        t = m.quantile(q)
        if t == 0.0:
            assert m.p_wait <= 1 - q
        else:
            assert m.tail(t) == pytest.approx(1 - q, rel=1e-7)
    assert m.quantile(0.99) <= MMc.of(c, lam, s).quantile(0.99)  # fixed service never waits longer


def test_tau_root() -> None:
    for c, a in [(1, 0.5), (10, 9.99), (10_003, 10_000.0), (10_000, 0.5), (3, 0.001)]:
        t = tau_root(c, a)
        assert t > 1 and c * math.log(t) == pytest.approx(a * (t - 1), rel=1e-12)
    with pytest.raises(ValueError):
        tau_root(5, 5.0)


def test_large_pools() -> None:
    near = MDc.of(10_001, 10_000.0, 1.0)  # one register above saturation
    assert 0.9 < near.p_wait < 1 and math.isfinite(near.quantile(0.99)) and near.quantile(0.99) > 1
    far = MDc.of(10_000, 0.5, 1.0)
    assert far.p_wait == 0.0 and far.quantile(0.99) == 0.0 and far.mean() < 1e-12
    big = MDc.of(1_000_300, 1e6, 1.0)
    assert 0 < big.p_wait < 1 and 0 < big.quantile(0.99) < 0.1
    unstable = MDc.of(100, 100.0, 1.0)
    assert unstable.p_wait == 1.0 and unstable.quantile(0.99) == math.inf and unstable.tail(5.0) == 1.0
    prev = 1.0
    for c in range(10_001, 10_400, 37):
        p = MDc.of(c, 10_000.0, 1.0).p_wait
        assert p < prev
        prev = p


def test_saturation_falls_back_to_heavy_traffic() -> None:
    with pytest.raises(OverflowError):
        MDc.of(100_000, 99_999.9999, 1.0)
    h = HeavyTrafficMDc(100_000, 99_999.9999, 1.0)
    assert h.p_wait == 1.0 and h.quantile(0.99) == pytest.approx(math.log(100) / h.decay)
    assert h.tail(h.quantile(0.5)) == pytest.approx(0.5) and h.mean() == pytest.approx(1 / h.decay)


@pytest.mark.parametrize(
    ("lam", "s", "target"), [(5.0, 1.0, 1.0), (200.0, 1.0, 1.0), (0.5, 2.0, 0.5), (10_000.0, 1.0, 1.0)]
)
def test_sizing(lam: float, s: float, target: float) -> None:
    upper = mmc_registers(lam, s, target, 0.99)
    c = mdc_registers(lam, s, target, 0.99, upper)
    assert c <= upper
    assert MDc.of(c, lam, s).tail(target) <= 0.01
    if c - 1 > lam * s:
        assert MDc.of(c - 1, lam, s).tail(target) > 0.01
    assert mdc_registers(lam, s, target, 0.99, max(1, int(lam * s) + 1)) == c  # a low guess widens the bracket
