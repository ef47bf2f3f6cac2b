"""M/D/c waits, computed exactly (to ~1e−12): the model of our dispatcher when service times are fixed (issue 7).

Why exact and not an approximation: a plan sits near P(wait) ≈ 1 %, where the p99 goes from 0 to a whole
service time on a few per cent of error in P(wait). Cosmetatos and the Kingman/Allen–Cunneen "half of Erlang C"
corrections get the mean right, not this tail. The method below costs well under a millisecond per pool size,
10,000 registers included.

Rules (the derivation, so a reader can check it)
- FCFS with a fixed service time ``D`` and ``c`` servers. Receipts in service at time τ are gone by τ + D;
  waiting ones and new arrivals are still there. So the number in system obeys exactly
  ``N(τ + D) = max(N(τ) − c, 0) + A`` with ``A ~ Poisson(a)``, ``a = λ·D`` (Crommelin 1932). Then
  ``Y = max(N − c, 0)`` follows the Lindley walk ``Y' = max(Y + A − c, 0)``. Its stationary law (it exists
  when ``c > a``) is the law of the all-time maximum of the random walk with steps ``A − c``.
- Spitzer's identity gives that law: ``E z^Y = exp(Σ_{k≥1} b_k (z^k − 1))`` with ``b_k = Σ_n P(S_n = k)/n``.
  Since ``Σ_n G^n/n = −ln(1 − G)`` for the step's generating function ``G(z) = e^{a(z−1)} z^{−c}``, the
  ``b_k`` are the positive Laurent coefficients of ``−ln(1 − G)`` on a circle ``1 < |z| < τ``. Here ``τ > 1``
  solves ``τ^c = e^{a(τ−1)}``.
- Near saturation (large c, c − a of a few) τ is 1.0006 and those coefficients decay like τ^{−k}. Reading them
  by FFT would need ~10⁵ points. So the two singularities that pinch the annulus are taken out in closed form:
  ``−ln(1 − G(z)) = −ln(1 − z/τ) − ln(1 − 1/z) + H(z)``. The first term is ``Σ z^k/(kτ^k)``, the second has
  only negative powers, and ``H`` is analytic out to the next roots of ``G = 1`` (|z| ≈ 0.98…1.03 at
  c = 10,003, a = 10,000, against 1…1.0006). That makes
  ``E z^Y = (1 − 1/τ)/(1 − z/τ) · exp(Σ h_k (z^k − 1))``: Y is a geometric variable (ratio 1/τ, exact) plus a
  short correction ``Z`` whose coefficients come from two small FFTs. The FFT size doubles until H's
  coefficients at the middle of the transform are below 1e−13 (aliasing checked, not assumed).
- The wait (Franx 2001, "A simple solution for the M/D/c waiting time distribution", re-derived here): a receipt
  arriving at t has started by t + kD + u (0 ≤ u < D) iff at most (k + 1)·c receipts that came no later than
  it are still there at t + u. Those are ``max(N(t + u − D) − c, 0)``, plus the arrivals in (t + u − D, t),
  plus itself. By PASTA and independent increments, ``P(W ≤ kD + u) = P(Y + Pois(λ(D − u)) ≤ (k+1)c − 1)``.
  So ``P(W > 0) = P(N ≥ c)`` and, by Little's law on the waiting line, ``E W = E Y / λ``.
- Quantiles: the service-time interval k comes from the tail of Y. Within it, Newton on u: the derivative is
  ``−λ·P(Y + Pois(μ) = m)``, because ``d/dμ P(X + Pois(μ) > m) = P(X + Pois(μ) = m)``. A bracket keeps Newton
  inside the interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["MAX_POINTS", "HeavyTrafficMDc", "MDc", "mdc_registers", "tau_root"]

_MIN_POINTS = 256
#: Beyond this transform size the pool is within a hair of saturation; it counts as "waits for ever".
MAX_POINTS = 1 << 20
#: The middle of H's transform must be this small against its largest coefficient (the aliasing check;
#: rounding alone leaves ~1e−15 there).
_ALIAS = 1e-13
#: Correction coefficients below this are cut off the end of Z.
_NEGLIGIBLE = 1e-17


def tau_root(c: int, a: float) -> float:
    """The root τ > 1 of ``c·ln τ = a·(τ − 1)`` (it exists when c > a): the queue's tail decays like τ^{−n}."""
    if not c > a:
        raise ValueError("unstable pool: c must exceed the offered load")

    def f(t: float) -> float:
        return c * math.log(t) - a * (t - 1.0)

    # f is concave, f(1) = 0, f'(1) = c − a > 0: one root above 1. Bracket it, then Newton kept inside.
    lo, hi = 1.0, 2.0
    while f(hi) > 0:
        lo, hi = hi, hi * 2.0
    t = min(1.0 + 2.0 * (c - a) / c, 0.5 * (lo + hi)) if lo == 1.0 else 0.5 * (lo + hi)
    for _ in range(300):
        ft = f(t)
        if ft > 0:
            lo = t
        else:
            hi = t
        slope = c / t - a
        nt = t - ft / slope if slope != 0 else 0.5 * (lo + hi)
        if not lo < nt < hi:
            nt = 0.5 * (lo + hi)
        if abs(nt - t) <= 2e-16 * t:
            return nt
        t = nt
    return t


def _h_values(c: int, a: float, theta: float, j: np.ndarray, m: int) -> np.ndarray:
    """H at z = √τ·e^{2πij/m} (see the module rules): −ln(1 − G) + ln(1 − z/τ) + ln(1 − 1/z)."""
    log_r = 0.5 * theta
    log_z = log_r + 1j * (j * (2.0 * math.pi / m))
    # ln G = a(z − 1) − c·ln z; the phase c·φ is reduced mod 2π in integers so huge pools lose no digits.
    turns = ((c % m) * j) % m
    log_g = a * np.expm1(log_z) - c * log_r - 1j * (turns * (2.0 * math.pi / m))
    out: np.ndarray = -np.log(-np.expm1(log_g)) + np.log1p(-np.exp(log_z - theta)) + np.log(-np.expm1(-log_z))
    return out


def _correction(c: int, a: float, tau: float) -> np.ndarray:
    """Coefficients of ``Z(z) = exp(Σ_{k≥1} h_k (z^k − 1))`` (see the module rules); they sum to 1."""
    theta = math.log(tau)
    # H has real Laurent coefficients, so H(z̄) = conj H(z): the upper half circle (m/2 + 1 points) is enough,
    # and when m doubles the old points are every other new one.
    m = _MIN_POINTS
    h = _h_values(c, a, theta, np.arange(m // 2 + 1, dtype=np.int64), m)
    while True:
        d = np.fft.irfft(np.conj(h), m)  # d_k = Σ_{i ≡ k mod m} h_i r^i (real: H's coefficients are real)
        big = float(np.abs(d).max())
        mid = float(np.abs(d[3 * m // 8 : 5 * m // 8]).max())
        if mid <= _ALIAS * max(big, 1.0):
            break
        if m >= MAX_POINTS:
            raise OverflowError("pool too close to saturation for the exact M/D/c method")
        m *= 2
        doubled = np.empty(m // 2 + 1, dtype=np.complex128)
        doubled[0::2] = h
        doubled[1::2] = _h_values(c, a, theta, np.arange(1, m // 2, 2, dtype=np.int64), m)
        h = doubled
    half = m // 2
    hk = np.zeros(m)
    hk[1:half] = d[1:half] * np.exp(-np.arange(1, half) * (0.5 * theta))
    # Z on the unit circle, then its coefficients. Z is analytic past τ, so they decay at least like τ^{−n}.
    zc = np.fft.irfft(np.exp(np.fft.rfft(hk) - hk.sum()), m)
    keep = np.nonzero(np.abs(zc) > _NEGLIGIBLE)[0]
    n = int(keep[-1]) + 1 if len(keep) else 1
    return zc[:n]


def _poisson_window(mu: float) -> tuple[int, np.ndarray]:
    """(first index, P(Pois(μ) = n) from there) over μ ± (12σ + 30): the mass outside is < 1e−30.

    The log-probabilities are one exact value (lgamma) at the window's start and a running sum of the small
    steps ``ln μ − ln n`` from there: cheap, and the sum's rounding stays near 1e−13 over the window.
    """
    if mu <= 0.0:
        return 0, np.ones(1)
    spread = 12.0 * math.sqrt(mu) + 30.0
    lo = max(0, math.floor(mu - spread))
    hi = math.ceil(mu + spread)
    log_mu = math.log(mu)
    steps = np.empty(hi - lo + 1)
    steps[0] = lo * log_mu - mu - math.lgamma(lo + 1.0)
    steps[1:] = log_mu - np.log(np.arange(lo + 1, hi + 1, dtype=np.float64))
    return lo, np.exp(np.cumsum(steps))


def _geo_poisson(theta: float, lo: int, pmf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Over n = lo … lo + len(pmf) − 1: ``P(A > n)`` and ``T(n) = Σ_{j ≤ n} P(A = j)·τ^{−(n − j + 1)}``.

    ``T`` is the geometric part: ``P(Geo + A > n) = P(A > n) + T(n)`` and ``P(Geo + A = n) = (τ − 1)·T(n)``.
    It is a running sum with a decay; done in blocks short enough that ``τ^{block}`` cannot overflow.
    """
    over = np.empty_like(pmf)
    over[:-1] = np.cumsum(pmf[::-1])[::-1][1:]
    over[-1] = 0.0
    t = np.empty_like(pmf)
    block = max(1, int(600.0 / theta))
    carry = 0.0  # T at the end of the previous block
    for i0 in range(0, len(pmf), block):
        seg = pmf[i0 : i0 + block]
        k = np.arange(len(seg), dtype=np.float64)
        # T(i0 + k) = τ^{−(k+1)}·(T(i0 − 1) + Σ_{j ≤ k} pmf[i0 + j]·τ^{j})
        t[i0 : i0 + len(seg)] = np.exp(-theta * (k + 1.0)) * (carry + np.cumsum(seg * np.exp(theta * k)))
        carry = float(t[i0 + len(seg) - 1])
    return over, t


@dataclass(frozen=True)
class MDc:
    """Waits in FCFS M/D/c: Poisson arrivals ``λ``, fixed service ``D``, ``c`` registers. See the module rules."""

    registers: int
    arrival_rate: float
    service_time_s: float
    #: τ of :func:`tau_root` (∞ for an unstable pool).
    tau: float
    _z: np.ndarray = field(repr=False, compare=False)
    p_wait: float = 1.0
    mean_excess: float = math.inf

    @classmethod
    def of(cls, registers: int, arrival_rate: float, service_time_s: float) -> MDc:
        a = arrival_rate * service_time_s
        if registers <= a:
            return cls(registers, arrival_rate, service_time_s, math.inf, np.ones(1))
        tau = tau_root(registers, a)
        z = _correction(registers, a, tau)
        self = cls(registers, arrival_rate, service_time_s, tau, z)
        # E Y = E Geo + E Z = 1/(τ − 1) + Σ n·z_n.
        mean_excess = 1.0 / math.expm1(math.log(tau)) + float(np.dot(np.arange(len(z)), z))
        object.__setattr__(self, "mean_excess", max(mean_excess, 0.0))
        object.__setattr__(self, "p_wait", self._parts(0, 0.0)[0])
        return self

    @property
    def load(self) -> float:
        return self.arrival_rate * self.service_time_s

    @property
    def stable(self) -> bool:
        return self.registers > self.load

    def _parts(self, k: int, u: float) -> tuple[float, float]:
        """P(W > kD + u) and its derivative in u (0 ≤ u < D).

        ``P(Y + A > m) = Σ_i z_i·P(Geo + A > m − i)`` with ``A ~ Pois(λ(D − u))``; the derivative is
        ``−λ·P(Y + A = m)`` (module rules).
        """
        m = (k + 1) * self.registers - 1
        theta = math.log(self.tau)
        lo, pmf = _poisson_window(self.arrival_rate * (self.service_time_s - u))
        over, t = _geo_poisson(theta, lo, pmf)
        hi = lo + len(pmf) - 1
        x = m - np.arange(len(self._z))  # the n at which each z_i is weighed
        inside = (x >= lo) & (x <= hi)
        i = np.clip(x - lo, 0, len(pmf) - 1)
        # Below the Poisson window Geo + A > n surely (P(A < lo) < 1e−30); above it only the decay of T is left.
        beyond = t[-1] * np.exp(-theta * np.maximum(x - hi, 0).astype(np.float64))
        greater = np.where(inside, over[i] + t[i], np.where(x < lo, 1.0, beyond))
        equal = np.where(inside, t[i], np.where(x < lo, 0.0, beyond)) * math.expm1(theta)
        value = float(np.dot(self._z, greater))
        at = float(np.dot(self._z, equal))
        return min(max(value, 0.0), 1.0), -self.arrival_rate * max(at, 0.0)

    def _y_over(self, n: int) -> float:
        """P(Y > n) = Σ_i z_i·P(Geo > n − i), P(Geo > j) = τ^{−(j+1)} for j ≥ 0."""
        gap = n - np.arange(len(self._z))
        weights = np.where(gap < 0, 1.0, np.exp(-math.log(self.tau) * (np.maximum(gap, 0) + 1.0)))
        return min(max(float(np.dot(self._z, weights)), 0.0), 1.0)

    def tail(self, t: float) -> float:
        """``P(W > t)``."""
        if not self.stable or t < 0:
            return 1.0
        k = math.floor(t / self.service_time_s)
        return self._parts(k, t - k * self.service_time_s)[0]

    def quantile(self, q: float) -> float:
        """The ``q``-quantile of the wait (0 when fewer than ``1 − q`` of the receipts wait)."""
        if not self.stable:
            return math.inf
        eps = 1.0 - q
        if self.p_wait <= eps:
            return 0.0
        # P(W > t) → P(Y > (k+1)c − 1) as t ↑ (k+1)D: the first interval whose end is ≤ eps holds the quantile.
        c = self.registers
        k = 0
        while self._y_over((k + 1) * c - 1) > eps:
            k += 1
        d = self.service_time_s
        # Start Newton where the tail, taken as exponential, meets eps: along the straight line in log P(W > t)
        # across the interval, or at the local rate −P'/P at its start, whichever is nearer. Two or three
        # Newton steps then finish.
        first, slope0 = self._parts(k, 0.0)
        last = self._y_over((k + 1) * c - 1)
        lo, hi = 0.0, d
        guesses = [d]
        if last > 0:
            guesses.append(d * math.log(first / eps) / math.log(first / last))
        if slope0 < 0:
            guesses.append(math.log(first / eps) * first / -slope0)
        u = min(guesses)
        if not 0.0 < u < d:
            u = 0.5 * d
        for _ in range(200):
            value, slope = self._parts(k, u)
            if value > eps:
                lo = u
            else:
                hi = u
            nu = u - (value - eps) / slope if slope < 0 else 0.5 * (lo + hi)
            if not lo < nu < hi:
                nu = 0.5 * (lo + hi)
            if abs(nu - u) <= 1e-11 * d or hi - lo <= 1e-11 * d:
                return k * d + nu
            u = nu
        return k * d + 0.5 * (lo + hi)

    def mean(self) -> float:
        return self.mean_excess / self.arrival_rate if self.stable else math.inf


def mdc_registers(
    arrival_rate: float,
    service_time_s: float,
    target_wait_s: float,
    q: float,
    upper: int,
    of: Callable[[int], MDc] | None = None,
) -> int:
    """The fewest registers whose ``q``-quantile wait is ≤ ``target_wait_s`` (M/D/c, exact).

    ``upper`` is a count expected to be enough (the M/M/c answer: fixed service never waits longer). The
    search gallops down from it (1, 2, 4, … below) and then bisects, so it evaluates counts near the
    answer. A count too close to saturation to evaluate (see MAX_POINTS) counts as not meeting the target.
    ``of`` makes the model for a count (a memo of the caller's; default :meth:`MDc.of`).
    """
    a = arrival_rate * service_time_s
    eps = 1.0 - q

    def make(c: int) -> MDc:
        return MDc.of(c, arrival_rate, service_time_s)

    model = of or make

    def ok(c: int) -> bool:
        try:
            return model(c).tail(target_wait_s) <= eps
        except OverflowError:
            return False

    floor_a = math.floor(a)
    hi = max(upper, floor_a + 1)
    while not ok(hi):
        hi += max(1, hi - floor_a)
    lo = floor_a  # never enough: unstable
    step = 1
    while hi - step > lo:
        if ok(hi - step):
            hi -= step
            step *= 2
        else:
            lo = hi - step
            break
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


@dataclass(frozen=True, slots=True)
class HeavyTrafficMDc:
    """M/D/c within a hair of saturation (past :data:`MAX_POINTS`): Kingman's heavy-traffic limit.

    There the exact method would need transforms of millions of points, and waits are hours anyway. Every
    receipt waits (P(W > 0) → 1 as ρ → 1) and the wait is exponential with mean ``S/(2(c − a))``, half of
    M/M/c's (Kingman: the factor is (1 + cs²)/2, and cs² = 0 for a fixed service time).
    """

    registers: int
    arrival_rate: float
    service_time_s: float
    p_wait: float = 1.0

    @property
    def decay(self) -> float:
        return 2.0 * (self.registers - self.arrival_rate * self.service_time_s) / self.service_time_s

    def tail(self, t: float) -> float:
        return math.exp(-self.decay * t) if t > 0 else 1.0

    def quantile(self, q: float) -> float:
        return math.log(1.0 / (1.0 - q)) / self.decay

    def mean(self) -> float:
        return 1.0 / self.decay
