"""The register-count calculator: how many registers a load needs, and why (issue 7; cloud-api §3.2–3.3).

Rules
- Layer 1: checked inputs in (:class:`~fiscal_core.capacity.inputs.PlanInputs`, dates as arguments), a
  :class:`Plan` out. No I/O, no clock.
- Two bounds, both shown (the reference's "you need X for peak speed, Y to avoid early drive replacement"):
  - **speed**: the fewest registers whose wait at the peak meets the target (``P(W > target) ≤ 1 − q``).
    ``service="exponential"`` uses M/M/c (Erlang C, one shared FIFO queue: the reference's §3.3 model).
    ``service="fixed"`` uses M/D/c (exact, :mod:`.mdc`). With equal fixed service times our dispatcher
    (JSQ, ties to the register that reached that queue length first) is FCFS M/D/c receipt for receipt.
    Both counts are always reported.
  - **drive**: each drive holds ``capacity`` documents and serves ``L`` days (its validity in calendar
    months from ``start``, or the replacement cadence when shorter). A register signs ``D/N`` receipts plus
    2 shift reports (open and close) a day, so it needs ``(D/N + 2)·L ≤ capacity``, i.e.
    ``N ≥ D·L / (capacity − 2L)``. That is the exact fixed point of the reference's "iterate once".
- ``registers = max(by_speed, by_drive) + redundancy``. ``binding`` says which bound set it ("both" on a tie).
- Waits at the peak are given twice: with all ``registers`` in rotation (what to expect) and with
  ``redundancy`` of them out (``degraded``: what the target is promised for).
- The table runs from the first stable pool size (c > λS) to where fewer than ``1 − q`` of receipts wait
  (about 9 rows), plus the rows of the answer. Both models are in every row.
- Cost: Erlang C is one recursion pass over the range; M/D/c is ~1–5 ms per pool size and each size is
  computed once per plan (memo). A plan of 10,000 registers answers in tens of milliseconds
  (bench/bench_capacity.py).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Literal

from fiscal_core.capacity.erlang import MMc, closed_form_from, erlang_b
from fiscal_core.capacity.inputs import PlanInputs, add_months
from fiscal_core.capacity.mdc import HeavyTrafficMDc, MDc, mdc_registers

__all__ = ["SHIFT_REPORTS_PER_DAY", "DriveBound", "Models", "Plan", "SpeedBound", "TableRow", "Waits", "build_plan"]

#: Every register opens and closes a shift at least daily (a shift is ≤ 24 h: driver errors 068/141, §3.1).
SHIFT_REPORTS_PER_DAY = 2
#: Replacement rounds listed: those within 3 years of the start, at most this many.
_MAX_ROUNDS = 12
_ROUNDS_HORIZON_MONTHS = 36
#: Rows in the automatic table, before the answer's own rows are added.
_TABLE_STEPS = 8

Binding = Literal["speed", "drive", "both"]
ModelName = Literal["mmc", "mdc"]
MODEL_TITLES = {"mmc": "M/M/c (Erlang C, exponential service)", "mdc": "M/D/c (fixed service, exact)"}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


@dataclass(frozen=True, slots=True)
class Waits:
    """One pool size at the peak under one model. Infinite waits (an unstable pool) are None in JSON."""

    registers: int
    utilisation: float
    p_wait: float
    p50_wait_s: float
    p99_wait_s: float
    mean_wait_s: float
    #: The wait at the plan's quantile (the p99 when the quantile is 0.99).
    quantile_wait_s: float

    @property
    def stable(self) -> bool:
        return math.isfinite(self.mean_wait_s)

    def to_dict(self) -> dict[str, Any]:
        return {
            "registers": self.registers,
            "utilisation": self.utilisation,
            "stable": self.stable,
            "p_wait": self.p_wait,
            "p50_wait_s": _finite(self.p50_wait_s),
            "p99_wait_s": _finite(self.p99_wait_s),
            "mean_wait_s": _finite(self.mean_wait_s),
            "quantile_wait_s": _finite(self.quantile_wait_s),
        }


class Models:
    """Both queueing models for one arrival rate and service time, each pool size computed once (a memo).

    Erlang B is kept as one growing run of the recursion from the first stable count, so the speed search,
    the table and the answer's rows share it (never O(c²)); counts far past the load use the closed form.
    """

    def __init__(self, arrival_rate: float, service_time_s: float, quantile: float) -> None:
        self.arrival_rate = arrival_rate
        self.service_time_s = service_time_s
        self.quantile = quantile
        self.load = arrival_rate * service_time_s
        self._b_first = math.floor(self.load) + 1
        self._b = [erlang_b(self._b_first, self.load)]
        self._b_last = closed_form_from(self.load)
        self._models: dict[tuple[ModelName, int], MMc | MDc | HeavyTrafficMDc] = {}
        self._p99: dict[tuple[ModelName, int], float] = {}

    def erlang_b(self, c: int) -> float:
        i = c - self._b_first
        if i < 0 or c > self._b_last:
            return erlang_b(c, self.load)
        b, a = self._b, self.load
        while len(b) <= i:
            k = self._b_first + len(b)
            b.append(a * b[-1] / (k + a * b[-1]))
        return b[i]

    def model(self, name: ModelName, c: int) -> MMc | MDc | HeavyTrafficMDc:
        key = (name, c)
        m = self._models.get(key)
        if m is None:
            if name == "mmc":
                m = MMc.from_b(c, self.arrival_rate, self.service_time_s, self.erlang_b(c) if c > self.load else 1.0)
            else:
                try:
                    m = MDc.of(c, self.arrival_rate, self.service_time_s)
                except OverflowError:
                    # Within 0.004 % of saturation (mdc.MAX_POINTS): waits of hours, heavy-traffic limit.
                    m = HeavyTrafficMDc(c, self.arrival_rate, self.service_time_s)
            self._models[key] = m
        return m

    def mdc(self, c: int) -> MDc:
        m = self.model("mdc", c)
        if not isinstance(m, MDc):
            raise OverflowError("pool too close to saturation for the exact M/D/c method")
        return m

    def p99(self, name: ModelName, c: int) -> float:
        key = (name, c)
        v = self._p99.get(key)
        if v is None:
            v = self._p99[key] = self.model(name, c).quantile(0.99)
        return v

    def waits(self, name: ModelName, c: int) -> Waits:
        m = self.model(name, c)
        p99 = self.p99(name, c)
        return Waits(
            registers=c,
            utilisation=min(self.load / c, 1.0),
            p_wait=m.p_wait,
            p50_wait_s=m.quantile(0.5),
            p99_wait_s=p99,
            mean_wait_s=m.mean(),
            quantile_wait_s=p99 if self.quantile == 0.99 else m.quantile(self.quantile),
        )

    def meets(self, name: ModelName, c: int, target_wait_s: float) -> bool:
        return c > self.load and self.model(name, c).tail(target_wait_s) <= 1.0 - self.quantile

    def registers_for(self, name: ModelName, target_wait_s: float, upper: int | None = None) -> int:
        if name == "mmc":
            c = self._b_first
            while not self.meets("mmc", c, target_wait_s):
                c += 1
            return c
        top = upper if upper is not None else self.registers_for("mmc", target_wait_s)
        return mdc_registers(self.arrival_rate, self.service_time_s, target_wait_s, self.quantile, top, self.mdc)

    def no_wait_from(self, start: int) -> int:
        """The fewest registers from ``start`` up where at most ``1 − q`` of receipts wait (Erlang C ≤ 1 − q)."""
        c = max(start, self._b_first)
        while self.model("mmc", c).p_wait > 1.0 - self.quantile:
            c += 1
        return c


@dataclass(frozen=True, slots=True)
class SpeedBound:
    service: str
    arrival_rate: float
    offered_load: float
    target_wait_s: float
    quantile: float
    registers: int
    mmc: Waits
    mdc: Waits

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "model": MODEL_TITLES["mdc" if self.service == "fixed" else "mmc"],
            "peak_per_s": self.arrival_rate,
            "offered_load": self.offered_load,
            "target_wait_s": self.target_wait_s,
            "quantile": self.quantile,
            "registers": self.registers,
            "mmc": self.mmc.to_dict(),
            "mdc": self.mdc.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class DriveBound:
    capacity: int
    lifetime_days: int
    lifetime_reason: str
    registers: int
    #: At the recommended pool size: documents a register's drive takes a day, and days until it is full.
    documents_per_register_per_day: float
    days_to_full: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "lifetime_days": self.lifetime_days,
            "lifetime_reason": self.lifetime_reason,
            "shift_reports_per_register_per_day": SHIFT_REPORTS_PER_DAY,
            "registers": self.registers,
            "documents_per_register_per_day": self.documents_per_register_per_day,
            "days_to_full": self.days_to_full,
        }


@dataclass(frozen=True, slots=True)
class TableRow:
    """One pool size at the peak: both models' P(wait) and p99 (None in JSON when unstable), and the drives."""

    registers: int
    utilisation: float
    p_wait_mmc: float
    p99_wait_s_mmc: float
    p_wait_mdc: float
    p99_wait_s_mdc: float
    meets_target: bool
    days_to_full: float
    drive_ok: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "registers": self.registers,
            "utilisation": self.utilisation,
            "p_wait_mmc": self.p_wait_mmc,
            "p99_wait_s_mmc": _finite(self.p99_wait_s_mmc),
            "p_wait_mdc": self.p_wait_mdc,
            "p99_wait_s_mdc": _finite(self.p99_wait_s_mdc),
            "meets_target": self.meets_target,
            "days_to_full": self.days_to_full,
            "drive_ok": self.drive_ok,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    """The answer and its working. :meth:`to_dict` is the JSON of ``fiscal-core plan --json``."""

    inputs: PlanInputs
    registers: int
    by_speed: int
    by_drive: int
    binding: Binding
    at_peak: Waits
    degraded: Waits
    speed: SpeedBound
    drive: DriveBound
    replacements: tuple[dt.date, ...]
    table: tuple[TableRow, ...]

    @property
    def utilisation(self) -> float:
        return self.at_peak.utilisation

    @property
    def p99_wait_s(self) -> float:
        return self.at_peak.p99_wait_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "registers": self.registers,
            "by_speed": self.by_speed,
            "by_drive": self.by_drive,
            "binding": self.binding,
            "redundancy": self.inputs.redundancy,
            "utilisation": self.at_peak.utilisation,
            "p_wait": self.at_peak.p_wait,
            "p50_wait_s": _finite(self.at_peak.p50_wait_s),
            "p99_wait_s": _finite(self.at_peak.p99_wait_s),
            "mean_wait_s": _finite(self.at_peak.mean_wait_s),
            "degraded": self.degraded.to_dict(),
            "speed": self.speed.to_dict(),
            "drive": self.drive.to_dict(),
            "replacements": [d.isoformat() for d in self.replacements],
            "table": [row.to_dict() for row in self.table],
            "inputs": self.inputs.to_dict(),
            "derived": True,  # reference §3.2: the peers' formulas are not public; this model is our own
        }


def drive_registers(daily: float, lifetime_days: int, capacity: int) -> int:
    """Fewest registers whose drives last ``lifetime_days``: ``(D/N + 2)·L ≤ C`` ⇔ ``N ≥ D·L/(C − 2L)``."""
    spare = capacity - SHIFT_REPORTS_PER_DAY * lifetime_days
    n = daily * lifetime_days / spare
    # Rounding: 36.0000000001 from float noise must not become 37.
    return max(1, math.ceil(n - 1e-9 * n))


def days_to_full(daily: float, registers: int, capacity: int) -> float:
    return capacity / (daily / registers + SHIFT_REPORTS_PER_DAY)


def _replacements(inputs: PlanInputs) -> tuple[dt.date, ...]:
    start = inputs.start
    horizon = add_months(start, _ROUNDS_HORIZON_MONTHS)
    out: list[dt.date] = []
    k = 1
    while len(out) < _MAX_ROUNDS:
        if inputs.replace_every_days is not None and inputs.replace_every_days < inputs.validity_days:
            day = start + dt.timedelta(days=k * inputs.replace_every_days)
        else:
            day = add_months(start, k * inputs.validity_months)
        if day > horizon and out:
            break
        out.append(day)
        k += 1
    return tuple(out)


def _table_counts(inputs: PlanInputs, models: Models, by_speed: int, extra: tuple[int, ...]) -> list[int]:
    if inputs.table is not None:
        lo, hi, step = inputs.table
        return list(range(lo, hi + 1, step))
    first = math.floor(models.load) + 1
    last = max(models.no_wait_from(by_speed), by_speed + 1)
    step = max(1, math.ceil((last - first) / _TABLE_STEPS))
    counts = set(range(first, last + 1, step)) | {by_speed, *extra}
    return sorted(counts)


def build_plan(inputs: PlanInputs) -> Plan:
    """The plan for checked inputs (see the module rules)."""
    lam, s = inputs.peak, inputs.service_time_s
    models = Models(lam, s, inputs.quantile)
    target = inputs.target_wait_s
    need_mmc = models.registers_for("mmc", target)
    need_mdc = models.registers_for("mdc", target, upper=need_mmc)
    chosen: ModelName = "mdc" if inputs.service == "fixed" else "mmc"
    by_speed = need_mdc if chosen == "mdc" else need_mmc

    life = inputs.lifetime_days
    by_drive = drive_registers(inputs.daily, life, inputs.drive_capacity)
    base = max(by_speed, by_drive)
    registers = base + inputs.redundancy
    binding: Binding = "both" if by_speed == by_drive else ("speed" if by_speed > by_drive else "drive")
    if inputs.replace_every_days is not None and inputs.replace_every_days < inputs.validity_days:
        reason = f"replaced every {inputs.replace_every_days} days"
    else:
        reason = f"validity {inputs.validity_months} months from {inputs.start.isoformat()}"
    drive = DriveBound(
        capacity=inputs.drive_capacity,
        lifetime_days=life,
        lifetime_reason=reason,
        registers=by_drive,
        documents_per_register_per_day=inputs.daily / registers + SHIFT_REPORTS_PER_DAY,
        days_to_full=days_to_full(inputs.daily, registers, inputs.drive_capacity),
    )
    speed = SpeedBound(
        service=inputs.service,
        arrival_rate=lam,
        offered_load=models.load,
        target_wait_s=target,
        quantile=inputs.quantile,
        registers=by_speed,
        mmc=models.waits("mmc", need_mmc),
        mdc=models.waits("mdc", need_mdc),
    )
    rows = [
        TableRow(
            registers=c,
            utilisation=min(models.load / c, 1.0),
            p_wait_mmc=models.model("mmc", c).p_wait,
            p99_wait_s_mmc=models.p99("mmc", c),
            p_wait_mdc=models.model("mdc", c).p_wait,
            p99_wait_s_mdc=models.p99("mdc", c),
            meets_target=models.meets(chosen, c, target),
            days_to_full=days_to_full(inputs.daily, c, inputs.drive_capacity),
            drive_ok=c >= by_drive,
        )
        for c in _table_counts(inputs, models, by_speed, (base, registers))
    ]
    return Plan(
        inputs=inputs,
        registers=registers,
        by_speed=by_speed,
        by_drive=by_drive,
        binding=binding,
        at_peak=models.waits(chosen, registers),
        degraded=models.waits(chosen, base),
        speed=speed,
        drive=drive,
        replacements=_replacements(inputs),
        table=tuple(rows),
    )
