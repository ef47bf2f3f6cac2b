"""Erlang B and C for M/M/c, computed stably for any pool size (issue 7; cloud-api §3.3).

Rules
- Layer 1: numbers in, numbers out. No I/O, no clock.
- Offered load ``a = λ·S`` Erlangs on ``c`` registers. Erlang B comes from the recursion
  ``B(k) = a·B(k−1) / (k + a·B(k−1))``, never from ``a^c / c!`` (that overflows past c ≈ 170). The recursion
  is a contraction (its derivative is ``a·k/(k + a·B)² < 1``), so rounding errors shrink as it runs.
- Past the bulk of the load the recursion would spend its time where nothing happens: below
  ``k₀ = a − 12·√a`` it starts from the fluid value ``B(k₀) ≈ 1 − k₀/a`` (the start error is damped by
  about ``exp(−12²/2)`` before ``k`` reaches ``a``), and far above ``a`` it is replaced by the exact
  ``B = P(Pois(a) = c) / P(Pois(a) ≤ c)`` in log space, where ``P(Pois(a) ≤ c)`` is 1 to double precision.
  So one value costs O(√a + (c − a)) steps and a whole range ``c_lo…c_hi`` one pass, never O(c²).
- Erlang C (probability of waiting in the shared FIFO queue): ``C = B / (1 − ρ·(1 − B))``, ``ρ = a/c < 1``.
  The wait is then ``P(W > t) = C·exp(−(c − a)·t/S)`` (the reference's formula), so quantiles and the mean
  are closed forms. An unstable pool (``c ≤ a``) waits for ever: ``C = 1`` and infinite waits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MMc",
    "closed_form_from",
    "erlang_b",
    "erlang_b_range",
    "erlang_c",
    "erlang_c_range",
    "log_factorial",
    "mmc_registers",
]

#: Below this load the recursion simply starts at k = 0 (a few hundred steps at most).
_SKIP_FROM_LOAD = 400.0
#: Width of the start margin below the load, in standard deviations of Pois(a).
_SKIP_SIGMAS = 12.0
#: Above a + this many σ (+ a constant for small loads), B is the closed form P(Pois = c) / 1.
_FAR_SIGMAS = 40.0
_FAR_PLUS = 60.0
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def log_factorial(n: np.ndarray) -> np.ndarray:
    """``ln n!`` for an array of non-negative integers (floats welcome): Stirling's series past 20, exact below.

    The series to the 1/x⁷ term is accurate to a few ulps for x ≥ 20; numpy has no lgamma, and a cumulative
    sum of logs would drift by ~√n ulps of values as large as n·ln n.
    """
    x = np.asarray(n, dtype=np.float64) + 1.0
    out = np.empty_like(x)
    small = x < 21.0
    if small.any():
        out[small] = _LGAMMA_TABLE[x[small].astype(np.int64)]
    big = ~small
    if big.any():
        xb = x[big]
        inv = 1.0 / xb
        inv2 = inv * inv
        series = inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 / 1680)))
        out[big] = (xb - 0.5) * np.log(xb) - xb + _HALF_LOG_2PI + series
    return out


_LGAMMA_TABLE = np.array([math.lgamma(k) if k > 0 else 0.0 for k in range(22)])


def _log_poisson(k: float, a: float) -> float:
    return float(k * math.log(a) - a - math.lgamma(k + 1.0))


def closed_form_from(a: float) -> float:
    """From here on B(c, a) is the closed form (Pois(a) ≤ c has probability 1 − O(1e−300))."""
    return a + _FAR_SIGMAS * math.sqrt(a) + _FAR_PLUS


def erlang_b_range(a: float, c_lo: int, c_hi: int) -> np.ndarray:
    """Erlang B for every pool size ``c_lo … c_hi`` (inclusive) at offered load ``a``; one pass."""
    if c_lo < 0 or c_hi < c_lo:
        raise ValueError(f"bad range {c_lo}..{c_hi}")
    if not (a > 0 and math.isfinite(a)):
        raise ValueError(f"offered load must be finite and > 0, got {a!r}")
    out = np.empty(c_hi - c_lo + 1)
    rec_hi = min(c_hi, math.floor(closed_form_from(a)))
    done = 0
    if rec_hi >= c_lo:
        k, b = 0, 1.0
        if a >= _SKIP_FROM_LOAD:
            k0 = math.floor(a - _SKIP_SIGMAS * math.sqrt(a))
            if k0 <= c_lo:
                k, b = k0, 1.0 - k0 / a
        while k < c_lo:
            k += 1
            b = a * b / (k + a * b)
        values = [b]
        while k < rec_hi:
            k += 1
            b = a * b / (k + a * b)
            values.append(b)
        done = len(values)
        out[:done] = values
    if done < len(out):
        ks = np.arange(c_lo + done, c_hi + 1, dtype=np.float64)
        out[done:] = np.exp(ks * math.log(a) - a - log_factorial(ks))
    return out


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of an M/M/c/c loss system (the building block of Erlang C)."""
    if c > closed_form_from(a):
        return math.exp(_log_poisson(c, a))
    return float(erlang_b_range(a, c, c)[0])


def _c_from_b(b: np.ndarray, c: np.ndarray, a: float) -> np.ndarray:
    rho = a / c
    with np.errstate(divide="ignore", invalid="ignore"):
        out = b / (1.0 - rho * (1.0 - b))
    return np.where(c > a, out, 1.0)


def erlang_c_range(a: float, c_lo: int, c_hi: int) -> np.ndarray:
    """Erlang C (probability that a receipt waits) for every ``c`` in ``c_lo … c_hi``; 1 where ``c ≤ a``."""
    lo = max(c_lo, 1)
    out = np.ones(c_hi - c_lo + 1)
    if c_hi >= lo:
        cs = np.arange(lo, c_hi + 1, dtype=np.float64)
        out[lo - c_lo :] = _c_from_b(erlang_b_range(a, lo, c_hi), cs, a)
    return out


def erlang_c(c: int, a: float) -> float:
    if c <= a:
        return 1.0
    b = erlang_b(c, a)
    return b / (1.0 - (a / c) * (1.0 - b))


@dataclass(frozen=True, slots=True)
class MMc:
    """Waits in M/M/c with one shared FIFO queue: Poisson arrivals ``λ``, exponential service ``S``, ``c`` servers."""

    registers: int
    arrival_rate: float
    service_time_s: float
    p_wait: float

    @classmethod
    def of(cls, registers: int, arrival_rate: float, service_time_s: float) -> MMc:
        return cls(registers, arrival_rate, service_time_s, erlang_c(registers, arrival_rate * service_time_s))

    @classmethod
    def from_b(cls, registers: int, arrival_rate: float, service_time_s: float, erlang_b: float) -> MMc:
        """From a known Erlang B value (a caller walking the recursion over many pool sizes)."""
        a = arrival_rate * service_time_s
        if registers <= a:
            return cls(registers, arrival_rate, service_time_s, 1.0)
        return cls(registers, arrival_rate, service_time_s, erlang_b / (1.0 - (a / registers) * (1.0 - erlang_b)))

    @property
    def load(self) -> float:
        return self.arrival_rate * self.service_time_s

    @property
    def stable(self) -> bool:
        return self.registers > self.load

    @property
    def decay(self) -> float:
        """Rate of the conditional wait: ``(c − a)/S`` per second (the pool's spare service rate)."""
        return (self.registers - self.load) / self.service_time_s

    def tail(self, t: float) -> float:
        """``P(W > t)``."""
        if not self.stable:
            return 1.0
        return self.p_wait * math.exp(-self.decay * t) if t >= 0 else 1.0

    def quantile(self, q: float) -> float:
        """The ``q``-quantile of the wait: 0 when fewer than ``1 − q`` of the receipts wait at all."""
        if not self.stable:
            return math.inf
        if self.p_wait <= 1.0 - q:
            return 0.0
        return math.log(self.p_wait / (1.0 - q)) / self.decay

    def mean(self) -> float:
        return self.p_wait / self.decay if self.stable else math.inf


def mmc_registers(arrival_rate: float, service_time_s: float, target_wait_s: float, q: float) -> int:
    """The fewest registers whose ``q``-quantile wait is ≤ ``target_wait_s`` (M/M/c, Erlang C).

    P(W > t) falls as c grows, so this walks up from the first stable c; the Erlang B recursion carries
    from one c to the next, so the walk costs one step per register tried (O(√a) of them at large loads).
    """
    a = arrival_rate * service_time_s
    c = math.floor(a) + 1
    b = erlang_b(c, a)
    eps = 1.0 - q
    while True:
        cm = b / (1.0 - (a / c) * (1.0 - b))
        if cm * math.exp(-(c - a) * target_wait_s / service_time_s) <= eps:
            return c
        c += 1
        b = a * b / (c + a * b)
