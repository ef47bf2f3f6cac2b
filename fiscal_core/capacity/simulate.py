"""A discrete-event simulation of a register pool under the real dispatcher, to check the formulas (issue 7).

Rules
- Layer 1: no I/O, no clock, no threads. Time is the simulated ``now`` passed to
  :class:`~fiscal_core.registers.dispatch.Dispatcher`; randomness is a seeded numpy generator, so every run is
  reproducible.
- ``discipline="dispatcher"``: every receipt is routed on arrival by the real dispatcher (JSQ, one group,
  ``c`` registers) and joins that register's FIFO queue. Each register starts one receipt at a time
  (``take_batch(register, 1, now)``) and reports it ``done`` after its service time, so a register is an M/x/1
  server and the pool is the real routing policy. Admission refusal is switched off: the target wait and the
  admission margin are far beyond any backlog. Reserves are none, and service-time learning is off because
  routing does not read it.
- ``discipline="shared"``: the textbook pool with one shared FIFO queue, where the first free register takes the
  oldest receipt. This is what M/M/c and M/D/c describe. It separates "is the formula right" from "is our
  dispatcher the formula's queue".
- The simulation keeps its own account of which receipt waits where. The dispatcher only counts, and the run
  checks that its routing never refuses and that every ``take_batch`` starts the receipt the account expects.
- Statistics: the first ``warmup`` share of receipts is dropped (the pool starts empty). The 95 % interval of
  the p99 comes from batch means over ``batches`` consecutive blocks.
- Findings (docs/capacity.md):
  - With equal fixed service times the dispatcher *is* FCFS M/D/c, receipt for receipt. JSQ sends a receipt to
    the shortest queue, and among equal queues to the register that reached that length first, which is the
    one whose current receipt started first, so the one that frees first.
  - With exponential service it is not M/M/c. A receipt bound to a register waits for that register's
    residual service (mean S), not for the first of c (mean S/c). Fewer receipts wait, but they wait much
    longer. :class:`JsqBound` is the resulting tail if queues stay balanced, ``C·exp(−(1 − ρ^c)·t/S)``.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from heapq import heappop, heappush, heapreplace
from typing import Literal, Protocol

import numpy as np

from fiscal_core.capacity.erlang import MMc, erlang_c
from fiscal_core.capacity.mdc import MDc
from fiscal_core.registers.dispatch import Dispatcher, GroupSettings, Refusal

__all__ = [
    "Agreement",
    "Discipline",
    "GridPoint",
    "JsqBound",
    "SimResult",
    "WaitModel",
    "compare",
    "receipts_for",
    "simulate",
    "validation_grid",
    "waits",
]

Discipline = Literal["dispatcher", "shared"]
ServiceKind = Literal["exponential", "fixed"]

_GROUP = "pool"
#: Student's t for a two-sided 95 % interval with 19 degrees of freedom (20 batches).
_T_95_19 = 2.093


class WaitModel(Protocol):
    """What :func:`compare` needs of an analytic model."""

    @property
    def p_wait(self) -> float: ...

    def tail(self, t: float) -> float: ...

    def quantile(self, q: float) -> float: ...


@dataclass(frozen=True, slots=True)
class JsqBound:
    """Exponential service under our dispatcher, if every register's queue stayed balanced.

    Queues balanced means the number in the pool moves as in M/M/c. A receipt that arrives with ``k·c + j`` in
    the pool joins a register with k receipts ahead and waits Erlang(k, 1/S). Summing over the M/M/c states
    gives ``P(W > t) = C·exp(−(1 − ρ^c)·t/S)``, with C from Erlang C. That is exact for c = 1. For c > 1 the
    simulation finds it an upper bound, because real JSQ lets fewer receipts wait.
    """

    registers: int
    arrival_rate: float
    service_time_s: float

    @property
    def p_wait(self) -> float:
        return erlang_c(self.registers, self.arrival_rate * self.service_time_s)

    @property
    def decay(self) -> float:
        rho = self.arrival_rate * self.service_time_s / self.registers
        return (1.0 - rho**self.registers) / self.service_time_s

    def tail(self, t: float) -> float:
        return self.p_wait * math.exp(-self.decay * t) if t >= 0 else 1.0

    def quantile(self, q: float) -> float:
        p = self.p_wait
        return 0.0 if p <= 1.0 - q else math.log(p / (1.0 - q)) / self.decay


def _draws(
    arrival_rate: float, service_time_s: float, service: ServiceKind, receipts: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Arrival times and service times. The same seed gives the same stream, so a longer run extends a shorter one."""
    # Two streams from one seed: arrivals and service times each stay a prefix of a longer run's.
    arrivals = np.cumsum(np.random.default_rng([seed, 0]).exponential(1.0 / arrival_rate, receipts))
    if service == "exponential":
        services = np.random.default_rng([seed, 1]).exponential(service_time_s, receipts)
    elif service == "fixed":
        services = np.full(receipts, service_time_s)
    else:
        raise ValueError(f"service must be 'exponential' or 'fixed', got {service!r}")
    return arrivals, services


def _doubles(x: np.ndarray) -> array[float]:
    """A compact array of floats that plain Python indexes fast (numpy scalar access is several times slower)."""
    out = array("d")
    out.frombytes(np.ascontiguousarray(x, dtype=np.float64).tobytes())
    return out


def _dispatched(arrivals: np.ndarray, services: np.ndarray, registers: int, service_time_s: float) -> np.ndarray:
    """Start times under the real dispatcher (module rules)."""
    d = Dispatcher()
    d.add_group(
        _GROUP,
        GroupSettings(target_wait_s=1e6, admission_margin_s=1e9, learn_service_time=False),
    )
    ids = [f"r{k}" for k in range(registers)]
    for rid in ids:
        d.add_register(_GROUP, rid, service_time_s=service_time_s)
    index = {rid: k for k, rid in enumerate(ids)}
    held: list[deque[int]] = [deque() for _ in range(registers)]
    svc = _doubles(services)
    start = _doubles(np.zeros(len(arrivals)))
    busy: list[tuple[float, int]] = []  # (finish time, register) of the receipt in service
    route, take, done = d.route, d.take_batch, d.done
    for i, t_arrive in enumerate(_doubles(arrivals)):
        while busy and busy[0][0] <= t_arrive:
            t, r = heappop(busy)
            rid = ids[r]
            done(rid, 1, t)
            queue = held[r]
            queue.popleft()
            if queue:
                k = queue[0]
                if take(rid, 1, t) != 1:
                    raise RuntimeError(f"take_batch({rid}) did not start the next queued receipt")
                start[k] = t
                heappush(busy, (t + svc[k], r))
        got = route(_GROUP, t_arrive)
        if isinstance(got, Refusal):
            raise RuntimeError(f"the dispatcher refused a receipt in the simulation: {got.reason}")
        r = index[got]
        queue = held[r]
        queue.append(i)
        if len(queue) == 1:
            if take(got, 1, t_arrive) != 1:
                raise RuntimeError(f"take_batch({got}) did not start a receipt on an idle register")
            start[i] = t_arrive
            heappush(busy, (t_arrive + svc[i], r))
    while busy:  # finish what is left, so the dispatcher's books close
        t, r = heappop(busy)
        done(ids[r], 1, t)
        queue = held[r]
        queue.popleft()
        if queue:
            k = queue[0]
            take(ids[r], 1, t)
            start[k] = t
            heappush(busy, (t + svc[k], r))
    return np.frombuffer(start, dtype=np.float64).copy()


def _shared(arrivals: np.ndarray, services: np.ndarray, registers: int) -> np.ndarray:
    """Start times with one shared FIFO queue: the register free first takes the next receipt."""
    free = [0.0] * registers  # a heap of the times each register becomes free
    svc = _doubles(services)
    start = _doubles(np.zeros(len(arrivals)))
    for k, t in enumerate(_doubles(arrivals)):
        f = free[0]
        st = f if f > t else t
        heapreplace(free, st + svc[k])
        start[k] = st
    return np.frombuffer(start, dtype=np.float64).copy()


def waits(
    arrival_rate: float,
    service_time_s: float,
    registers: int,
    *,
    service: ServiceKind,
    discipline: Discipline = "dispatcher",
    receipts: int = 200_000,
    seed: int = 0,
) -> np.ndarray:
    """The wait of every receipt, in arrival order, warm-up included (the pool starts empty)."""
    if not (arrival_rate > 0 and service_time_s > 0 and registers >= 1 and receipts >= 1):
        raise ValueError("arrival_rate, service_time_s > 0 and registers, receipts ≥ 1 are required")
    arrivals, services = _draws(arrival_rate, service_time_s, service, receipts, seed)
    if discipline == "dispatcher":
        start = _dispatched(arrivals, services, registers, service_time_s)
    elif discipline == "shared":
        start = _shared(arrivals, services, registers)
    else:
        raise ValueError(f"discipline must be 'dispatcher' or 'shared', got {discipline!r}")
    start -= arrivals
    return start


@dataclass(frozen=True, slots=True)
class SimResult:
    arrival_rate: float
    service_time_s: float
    registers: int
    service: ServiceKind
    discipline: Discipline
    receipts: int  #: counted (after the warm-up)
    p_wait: float
    p50_wait_s: float
    p99_wait_s: float
    mean_wait_s: float
    #: Half-widths of the 95 % intervals (batch means).
    p99_ci_s: float
    p_wait_ci: float
    #: The sample, for tail probabilities at any t.
    sample: np.ndarray

    def tail(self, t: float) -> float:
        return float(np.mean(self.sample > t))


def simulate(
    arrival_rate: float,
    service_time_s: float,
    registers: int,
    *,
    service: ServiceKind,
    discipline: Discipline = "dispatcher",
    receipts: int = 200_000,
    seed: int = 0,
    warmup: float = 0.1,
    batches: int = 20,
) -> SimResult:
    """Simulate ``receipts`` arrivals and summarise the waits after the warm-up (see the module rules)."""
    w = waits(
        arrival_rate, service_time_s, registers, service=service, discipline=discipline, receipts=receipts, seed=seed
    )
    w = w[int(len(w) * warmup) :]
    blocks = np.array_split(w, batches)
    p99s = np.array([np.quantile(b, 0.99) for b in blocks])
    pws = np.array([np.mean(b > 0) for b in blocks])
    return SimResult(
        arrival_rate=arrival_rate,
        service_time_s=service_time_s,
        registers=registers,
        service=service,
        discipline=discipline,
        receipts=len(w),
        p_wait=float(np.mean(w > 0)),
        p50_wait_s=float(np.quantile(w, 0.5)),
        p99_wait_s=float(np.quantile(w, 0.99)),
        mean_wait_s=float(w.mean()),
        p99_ci_s=_T_95_19 * float(p99s.std(ddof=1)) / math.sqrt(batches),
        p_wait_ci=_T_95_19 * float(pws.std(ddof=1)) / math.sqrt(batches),
        sample=w,
    )


@dataclass(frozen=True, slots=True)
class Agreement:
    """The analytic p99 against the simulated one.

    Agreement within ``tolerance`` (10 %) holds when any of these does:
    - ``both zero``: both p99s are 0 (fewer than 1 % of receipts wait in model and simulation).
    - ``relative``: |model p99 − simulated p99| ≤ 10 % of the simulated p99.
    - ``level``: the model's P(W > simulated p99) is within 10 % of 1 %. Near P(wait) ≈ 1 % the p99 sits on
      the atom at zero, where a few per cent of probability moves it by a large factor (or to 0). There a
      relative error says nothing, and the same 10 % is applied to the tail level it estimates. Away from the
      atom (P(wait) > e·1 %) the relative test is the tighter of the two.
    """

    model_p99: float
    sim_p99: float
    sim_p99_ci: float
    model_p_wait: float
    sim_p_wait: float
    relative_error: float | None
    level_error: float
    agrees: bool
    how: str


def compare(model: WaitModel, sim: SimResult, q: float = 0.99, tolerance: float = 0.10) -> Agreement:
    m, s = model.quantile(q), sim.p99_wait_s if q == 0.99 else float(np.quantile(sim.sample, q))
    eps = 1.0 - q
    level = abs(model.tail(s) - eps) / eps if s > 0 else abs(min(model.p_wait, 1.0) - eps) / eps
    rel = abs(m - s) / s if s > 0 else (None if m == 0 else math.inf)
    if m == 0 and s == 0:
        agrees, how = True, "both zero"
    elif rel is not None and rel <= tolerance:
        agrees, how = True, "relative"
    elif level <= tolerance:
        agrees, how = True, "level"
    else:
        agrees, how = False, "none"
    return Agreement(m, s, sim.p99_ci_s, model.p_wait, sim.p_wait, rel, level, agrees, how)


@dataclass(frozen=True, slots=True)
class GridPoint:
    arrival_rate: float
    service_time_s: float
    registers: int
    service: ServiceKind
    #: The model's P(wait) level the pool size was picked for.
    level: float

    def model(self) -> WaitModel:
        if self.service == "fixed":
            return MDc.of(self.registers, self.arrival_rate, self.service_time_s)
        return MMc.of(self.registers, self.arrival_rate, self.service_time_s)


def _size_for_level(model: Callable[[int], WaitModel], load: float, level: float) -> int:
    c = math.floor(load) + 1
    while model(c).p_wait > level:
        c += 1
    return c


def validation_grid(
    rates: Iterable[float],
    service_times: Iterable[float],
    levels: Iterable[float],
    service: ServiceKind,
    max_registers: int = 600,
) -> list[GridPoint]:
    """Pool sizes picked so the model's P(wait) is just under each level (30 % … 0.3 %), c ≤ ``max_registers``."""
    points: dict[tuple[float, float, int], GridPoint] = {}
    for lam in rates:
        for s in service_times:
            load = lam * s
            for level in levels:

                def make(c: int, lam: float = lam, s: float = s, level: float = level) -> WaitModel:
                    return GridPoint(lam, s, c, service, level).model()

                c = _size_for_level(make, load, level)
                if c <= max_registers:
                    points.setdefault((lam, s, c), GridPoint(lam, s, c, service, level))
    return sorted(points.values(), key=lambda p: (p.arrival_rate, p.service_time_s, p.registers))


def receipts_for(point: GridPoint, *, relaxations: float, least: int, most: int) -> int:
    """How many receipts to simulate: enough relaxation times of the pool, and enough for the 1 % tail.

    The relaxation time of M/M/c is about S/(√c − √a)² (the spectral gap of the birth–death chain in the
    Halfin–Whitt scaling), so a run of n receipts spans n/(λ·that) of them.
    """
    lam, s, c = point.arrival_rate, point.service_time_s, point.registers
    relax = s / (math.sqrt(c) - math.sqrt(lam * s)) ** 2
    return int(min(most, max(least, relaxations * lam * relax)))
