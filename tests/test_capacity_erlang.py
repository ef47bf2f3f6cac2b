"""Erlang B/C (issue 7): exact against rational arithmetic, stable to 10⁴–10⁶ registers, and the reference's §3.3 table.

The reference's table (cloud-api.md §3.3, "c for P(W>1s) ≤ 1 %", M/M/c with S = 1 s unless noted) is checked
row by row, the stricter column (P(W > 0.5 s) ≤ 0.1 %) and the utilisation too: every figure is right.
"""

from __future__ import annotations

import decimal
import math
from fractions import Fraction

import numpy as np
import pytest

from fiscal_core.capacity.erlang import (
    MMc,
    closed_form_from,
    erlang_b,
    erlang_b_range,
    erlang_c,
    erlang_c_range,
    log_factorial,
    mmc_registers,
)


def exact_b(c: int, a: Fraction) -> float:
    """B(c, a) = (a^c/c!) / Σ_{k≤c} a^k/k! in 60-digit decimal arithmetic (no overflow: Decimal exponents)."""
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        x = decimal.Decimal(a.numerator) / decimal.Decimal(a.denominator)
        term = total = decimal.Decimal(1)
        for k in range(1, c + 1):
            term = term * x / k
            total += term
        return float(term / total)


@pytest.mark.parametrize(
    ("c", "a"),
    [
        (1, "1/2"),
        (2, "19/10"),
        (5, "16/5"),
        (105, "100"),
        (205, "200"),
        (450, "401/2"),
        (600, "580"),
        (700, "650"),
        (1000, "990"),
        (1200, "1000"),
        (2000, "1000"),
    ],
)
def test_erlang_b_is_exact(c: int, a: str) -> None:
    want = exact_b(c, Fraction(a))
    assert erlang_b(c, float(Fraction(a))) == pytest.approx(want, rel=1e-12)


def test_range_is_one_pass_of_the_same_values() -> None:
    a = 1000.0
    r = erlang_b_range(a, 900, 2600)  # crosses the start of the skipped recursion and the closed form
    edge = math.floor(closed_form_from(a))
    assert 900 < edge < 2600
    for c in (900, 950, 1000, 1100, 1400, edge, edge + 1, 2600):
        assert r[c - 900] == pytest.approx(exact_b(c, Fraction(1000)), rel=1e-12)
    positive = r[r > 0]
    assert np.all(np.diff(positive) < 0) and np.all(r[len(positive) :] == 0)  # underflow only at the far end
    small = erlang_b_range(3.2, 0, 10)
    assert small[0] == 1.0 and small[5] == pytest.approx(exact_b(5, Fraction(16, 5)), rel=1e-14)


@pytest.mark.parametrize("a", [0.01, 1.0, 450.0, 9_999.5, 250_000.0])
def test_stable_for_huge_pools(a: float) -> None:
    c_hi = int(a + 60 * math.sqrt(a) + 100)
    b = erlang_b_range(a, max(1, int(a) - 5), c_hi)
    assert np.all(np.isfinite(b)) and np.all(b >= 0) and np.all(b <= 1)
    assert np.all(np.diff(b) <= 0)
    lo = max(1, int(a) - 5)
    c = erlang_c_range(a, lo, c_hi)
    assert np.all((c >= 0) & (c <= 1))
    assert lo > a or c[0] == 1.0  # c ≤ a: every receipt waits


def test_erlang_c_known_values() -> None:
    # Textbook values (e.g. the call-centre standard 10 Erlangs on 12 agents: 0.4494).
    assert erlang_c(12, 10.0) == pytest.approx(0.449, abs=5e-4)
    assert erlang_c(1, 0.7) == pytest.approx(0.7)  # M/M/1: P(wait) = ρ
    assert erlang_c(5, 5.0) == 1.0 and erlang_c(4, 5.0) == 1.0
    assert erlang_c(10_000, 9_000.0) < 1e-20


def test_mmc_waits() -> None:
    m = MMc.of(105, 100.0, 1.0)
    assert m.decay == 5.0
    for q in (0.5, 0.9, 0.99, 0.999):
        t = m.quantile(q)
        assert (t == 0.0 and m.p_wait <= 1 - q) or m.tail(t) == pytest.approx(1 - q, rel=1e-12)
    assert m.mean() == pytest.approx(m.p_wait / 5.0)
    assert MMc.of(100, 100.0, 1.0).quantile(0.99) == math.inf and MMc.of(100, 100.0, 1.0).mean() == math.inf
    assert MMc.of(10, 1.0, 1.0).quantile(0.99) == 0.0


def test_log_factorial() -> None:
    n = np.array([0, 1, 2, 5, 19, 20, 21, 100, 12_345, 10**7])
    want = np.array([math.lgamma(k + 1) for k in n])
    assert np.allclose(log_factorial(n), want, rtol=2e-15, atol=1e-13)


# (λ, S, c for P(W>1s) ≤ 1 %, utilisation as printed, c for P(W>0.5s) ≤ 0.1 % or None)
REFERENCE_3_3 = [
    (1, 1, 4, 0.25, None),
    (5, 1, 8, 0.62, 11),
    (5, 2, 15, 0.67, None),
    (20, 1, 24, 0.83, 29),
    (50, 1, 54, 0.93, None),
    (100, 1, 105, 0.95, 111),
    (200, 1, 205, 0.98, None),
]


@pytest.mark.parametrize(("lam", "s", "c", "util", "c_strict"), REFERENCE_3_3)
def test_reference_table_3_3(lam: float, s: float, c: int, util: float, c_strict: int | None) -> None:
    assert mmc_registers(lam, s, 1.0, 0.99) == c
    assert MMc.of(c, lam, s).tail(1.0) <= 0.01 < MMc.of(c - 1, lam, s).tail(1.0)
    assert round(lam * s / c, 2) == util
    if c_strict is not None:
        assert mmc_registers(lam, s, 0.5, 0.999) == c_strict


def test_sizing_is_monotone_and_fast_to_compute() -> None:
    prev = 0
    for lam in (0.5, 2.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0):
        c = mmc_registers(lam, 1.0, 1.0, 0.99)
        assert c > lam and c > prev
        prev = c
    assert mmc_registers(10_000.0, 1.0, 1.0, 0.99) == 10_005
    assert mmc_registers(10.0, 1.0, 0.0, 0.99) > mmc_registers(10.0, 1.0, 1.0, 0.99)  # "no wait" needs more
