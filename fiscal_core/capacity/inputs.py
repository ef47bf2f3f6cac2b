"""The calculator's inputs: checked values, the JSON body of ``POST /api/v1/plan`` and the CSV load profile (issue 7).

Rules
- Layer 1: text and bytes in, values out; reading files and the wall clock belong to the caller (the CLI
  passes today's date as ``start`` when none is given, and so must the HTTP handler).
- Every bad value is a :class:`PlanInputError` naming the field (``daily``, ``profile.values[3]``,
  ``table.step``). The message says what was expected, what arrived and the unit. The CLI maps field names to its
  flags; the API answers 400 with the path.
- Zero, negative, NaN, infinite, boolean and absurd values are refused. Absurd means past a bound nobody
  plans for: more receipts a day than the whole country makes, or a pool of more than a million busy
  registers. Zero is accepted only where it means something: ``redundancy`` 0 (no spare) and
  ``target_wait_s`` 0 (the chosen share of receipts must not wait at all).
- A peak below the day's average rate (``daily / 86,400``) is refused: one of the two numbers is wrong.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fiscal_core.errors import FieldError

__all__ = [
    "DEFAULT_SERVICE_TIME_S",
    "DRIVE_CAPACITY",
    "MEASURED_SERVICE_TIME_S",
    "PlanInputError",
    "PlanInputs",
    "Profile",
    "Service",
    "add_months",
    "parse_json",
    "parse_profile_csv",
]

Service = Literal["exponential", "fixed"]
SERVICES: tuple[Service, ...] = ("exponential", "fixed")

#: A real register (ФН device): about one receipt a second (reference §3.1, Orange Data).
DEFAULT_SERVICE_TIME_S = 1.0
#: Our emulated drive, one receipt per durable commit, as the queueing model serves them (one at a time):
#: bench/RESULTS.md, "Fiscal drive (issue 3)", durable ``append_many`` with batch 1 = 1,710 documents/s,
#: "0.59 ms per commit". With group commit a loaded register does better (batch 100: 47,700/s ≈ 21 µs a
#: receipt), so this figure is the conservative one.
MEASURED_SERVICE_TIME_S = 0.00059
#: Documents per fiscal drive (help.atol.online/article/11253; reference §3.1).
DRIVE_CAPACITY = 250_000
DEFAULT_VALIDITY_MONTHS = 15

SECONDS_PER_DAY = 86_400
#: Bounds past which an input is a typo, not a plan.
MAX_DAILY = 1e9  # receipts a day: several times all of Russia's (~150 million)
MAX_PEAK = 1e6  # receipts a second
MAX_LOAD = 1e6  # peak × service time: registers busy at once
MAX_SERVICE_TIME_S = 600.0
MIN_SERVICE_TIME_S = 1e-6
MAX_TARGET_WAIT_S = 86_400.0
MAX_VALIDITY_MONTHS = 36
MAX_REDUNDANCY = 100_000
MAX_CAPACITY = 100_000_000
MAX_PROFILE_VALUES = 1_000_000
MAX_TABLE_ROWS = 200
MAX_TABLE_REGISTERS = 100_000_000
PROFILE_STEPS = {"second": 1, "hour": 3600}

_FIELDS = {
    "daily",
    "peak",
    "profile",
    "service_time_s",
    "measured",
    "service",
    "drive_capacity",
    "validity_months",
    "replace_every_days",
    "target_wait_s",
    "quantile",
    "redundancy",
    "start",
    "table",
}


class PlanInputError(FieldError):
    """A bad calculator input; ``path`` names the field (``daily``, ``profile.values[3]``)."""

    code = "invalid_plan_input"


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` calendar months later (the last day of a shorter month: 31 Jan + 1 = 28/29 Feb)."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return dt.date(year, month, min(day.day, (nxt - dt.timedelta(days=1)).day))


def _number(value: Any, path: str, what: str) -> float:
    if value is None:
        raise PlanInputError(f"required ({what})", path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanInputError(f"expected a number ({what}), got {type(value).__name__} {value!r}", path)
    x = float(value)
    if math.isnan(x):
        raise PlanInputError(f"not a number ({what})", path)
    if math.isinf(x):
        raise PlanInputError(f"must be finite ({what})", path)
    return x


def _positive(value: Any, path: str, what: str, top: float) -> float:
    x = _number(value, path, what)
    if x <= 0:
        raise PlanInputError(f"must be > 0 ({what}), got {x:g}", path)
    if x > top:
        raise PlanInputError(f"{x:g} is past any plan ({what}); at most {top:g}", path)
    return x


def _integer(value: Any, path: str, what: str, lo: int, hi: int) -> int:
    x = _number(value, path, what)
    if x != math.floor(x):
        raise PlanInputError(f"must be a whole number ({what}), got {x:g}", path)
    if not lo <= x <= hi:
        raise PlanInputError(f"must be from {lo:,} to {hi:,} ({what}), got {x:g}", path)
    return int(x)


@dataclass(frozen=True, slots=True)
class Profile:
    """Expected receipts per step (a second or an hour); its busiest step sets the peak rate."""

    step_s: int
    values: tuple[float, ...]

    @property
    def peak_per_s(self) -> float:
        return max(self.values) / self.step_s

    @property
    def total(self) -> float:
        return math.fsum(self.values)

    @classmethod
    def checked(cls, step: Any, values: Any, path: str = "profile") -> Profile:
        if step not in PROFILE_STEPS:
            raise PlanInputError(f"expected 'second' or 'hour', got {step!r}", f"{path}.step")
        if not isinstance(values, list | tuple) or not values:
            raise PlanInputError("expected a non-empty list of receipts per step", f"{path}.values")
        if len(values) > MAX_PROFILE_VALUES:
            raise PlanInputError(f"{len(values):,} steps; at most {MAX_PROFILE_VALUES:,}", f"{path}.values")
        out = []
        for i, v in enumerate(values):
            x = _number(v, f"{path}.values[{i}]", f"receipts per {step}")
            if x < 0:
                raise PlanInputError(f"must be ≥ 0 (receipts per {step}), got {x:g}", f"{path}.values[{i}]")
            out.append(x)
        if max(out) <= 0:
            raise PlanInputError("every step is 0: no peak to plan for", f"{path}.values")
        step_s = PROFILE_STEPS[step]
        if max(out) / step_s > MAX_PEAK:
            raise PlanInputError(f"its peak is over {MAX_PEAK:g} receipts/s", f"{path}.values")
        return cls(step_s, tuple(out))


@dataclass(frozen=True, slots=True)
class PlanInputs:
    """Everything :func:`fiscal_core.capacity.plan` needs, checked. Build it with :meth:`checked`."""

    daily: float
    peak: float
    start: dt.date
    service_time_s: float = DEFAULT_SERVICE_TIME_S
    service: Service = "exponential"
    drive_capacity: int = DRIVE_CAPACITY
    validity_months: int = DEFAULT_VALIDITY_MONTHS
    replace_every_days: int | None = None
    target_wait_s: float = 1.0
    quantile: float = 0.99
    redundancy: int = 1
    profile: Profile | None = None
    table: tuple[int, int, int] | None = None
    measured: bool = False

    @classmethod
    def checked(
        cls,
        *,
        daily: Any,
        start: Any,
        peak: Any = None,
        profile: Profile | None = None,
        service_time_s: Any = None,
        measured: Any = False,
        service: Any = "exponential",
        drive_capacity: Any = DRIVE_CAPACITY,
        validity_months: Any = DEFAULT_VALIDITY_MONTHS,
        replace_every_days: Any = None,
        target_wait_s: Any = 1.0,
        quantile: Any = 0.99,
        redundancy: Any = 1,
        table: Any = None,
    ) -> PlanInputs:
        d = _positive(daily, "daily", "average receipts per day", MAX_DAILY)
        if not isinstance(start, dt.date) or isinstance(start, dt.datetime):
            raise PlanInputError(f"expected a date, got {start!r}", "start")
        if (peak is None) == (profile is None):
            raise PlanInputError(
                "give the peak receipts per second or a load profile, one of the two",
                "peak" if peak is None else "profile",
            )
        p = profile.peak_per_s if profile is not None else _positive(peak, "peak", "peak receipts/s", MAX_PEAK)
        if p < d / SECONDS_PER_DAY * (1 - 1e-12):
            where = "profile" if profile is not None else "peak"
            raise PlanInputError(
                f"the peak {p:g}/s is below the day's average {d / SECONDS_PER_DAY:.4g}/s (daily / 86,400)", where
            )
        if not isinstance(measured, bool):
            raise PlanInputError(f"expected true or false, got {measured!r}", "measured")
        if measured and service_time_s is not None:
            raise PlanInputError("give a service time or ask for the measured one, not both", "service_time_s")
        if measured:
            s = MEASURED_SERVICE_TIME_S
        elif service_time_s is None:
            s = DEFAULT_SERVICE_TIME_S
        else:
            s = _positive(service_time_s, "service_time_s", "seconds per receipt on one register", MAX_SERVICE_TIME_S)
            if s < MIN_SERVICE_TIME_S:
                raise PlanInputError(f"{s:g} s is below {MIN_SERVICE_TIME_S:g} s per receipt", "service_time_s")
        if p * s > MAX_LOAD:
            raise PlanInputError(
                f"peak × service time = {p * s:.3g} registers busy at once; this calculator plans up to {MAX_LOAD:g}",
                "peak" if profile is None else "profile",
            )
        if service not in SERVICES:
            raise PlanInputError(f"expected 'exponential' or 'fixed', got {service!r}", "service")
        cap = _integer(drive_capacity, "drive_capacity", "documents per fiscal drive", 1, MAX_CAPACITY)
        months = _integer(validity_months, "validity_months", "fiscal drive validity, months", 1, MAX_VALIDITY_MONTHS)
        every = None
        if replace_every_days is not None:
            every = _integer(replace_every_days, "replace_every_days", "days between drive replacements", 1, 3660)
        target = _number(target_wait_s, "target_wait_s", "target wait, seconds")
        if not 0 <= target <= MAX_TARGET_WAIT_S:
            raise PlanInputError(f"must be from 0 to {MAX_TARGET_WAIT_S:g} s, got {target:g}", "target_wait_s")
        q = _number(quantile, "quantile", "share of receipts that meet the target wait")
        if not 0.5 <= q <= 0.99999:
            raise PlanInputError(f"must be from 0.5 to 0.99999, got {q:g}", "quantile")
        validity_days = (add_months(start, months) - start).days
        life = min(validity_days, every) if every is not None else validity_days
        if cap <= 2 * life:
            raise PlanInputError(
                f"{cap:,} documents cannot even hold the 2 shift reports a day over the drive's {life} days",
                "drive_capacity",
            )
        r = _integer(redundancy, "redundancy", "spare registers", 0, MAX_REDUNDANCY)
        rows = None
        if table is not None:
            if not isinstance(table, tuple | list) or len(table) != 3:
                raise PlanInputError("expected (from, to, step)", "table")
            lo = _integer(table[0], "table.from", "registers", 1, MAX_TABLE_REGISTERS)
            hi = _integer(table[1], "table.to", "registers", 1, MAX_TABLE_REGISTERS)
            step = _integer(table[2], "table.step", "registers", 1, MAX_TABLE_REGISTERS)
            if hi < lo:
                raise PlanInputError(f"must be ≥ the first count ({lo})", "table.to")
            if (hi - lo) // step + 1 > MAX_TABLE_ROWS:
                raise PlanInputError(f"{(hi - lo) // step + 1:,} rows; at most {MAX_TABLE_ROWS}", "table.step")
            rows = (lo, hi, step)
        return cls(
            daily=d,
            peak=p,
            start=start,
            service_time_s=s,
            service=service,
            drive_capacity=cap,
            validity_months=months,
            replace_every_days=every,
            target_wait_s=target,
            quantile=q,
            redundancy=r,
            profile=profile,
            table=rows,
            measured=measured,
        )

    @property
    def validity_days(self) -> int:
        """Days from ``start`` to the drive's expiry (``validity_months`` calendar months later)."""
        return (add_months(self.start, self.validity_months) - self.start).days

    @property
    def lifetime_days(self) -> int:
        """Planned days of service per drive: its validity, or the replacement cadence when that is shorter."""
        v = self.validity_days
        return min(v, self.replace_every_days) if self.replace_every_days is not None else v

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "daily": self.daily,
            "peak": self.peak,
            "service_time_s": self.service_time_s,
            "measured": self.measured,
            "service": self.service,
            "drive_capacity": self.drive_capacity,
            "validity_months": self.validity_months,
            "replace_every_days": self.replace_every_days,
            "target_wait_s": self.target_wait_s,
            "quantile": self.quantile,
            "redundancy": self.redundancy,
            "start": self.start.isoformat(),
        }
        if self.profile is not None:
            out["profile"] = {
                "step": "second" if self.profile.step_s == 1 else "hour",
                "steps": len(self.profile.values),
                "total": self.profile.total,
                "peak_per_s": self.profile.peak_per_s,
            }
        if self.table is not None:
            out["table"] = {"from": self.table[0], "to": self.table[1], "step": self.table[2]}
        return out


def parse_profile_csv(text: str, step: str, path: str = "profile") -> Profile:
    """A load profile from CSV text: one value per line, or rows whose last column is the value.

    Blank lines and ``#`` comments are skipped. A first line whose last column is not a number is a header.
    Errors name the line: ``profile: line 7: 'abc' is not a number``.
    """
    values: list[float] = []
    first = True
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        cell = line.replace(";", ",").split(",")[-1].strip().strip('"')
        try:
            x = float(cell)
        except ValueError:
            if first:
                first = False
                continue
            raise PlanInputError(f"line {n}: {cell!r} is not a number", path) from None
        first = False
        if not math.isfinite(x) or x < 0:
            raise PlanInputError(f"line {n}: {cell!r} must be a finite number ≥ 0", path)
        values.append(x)
    if not values:
        raise PlanInputError("no values in the profile", path)
    return Profile.checked(step, values, path)


def _date(value: Any, path: str) -> dt.date:
    if not isinstance(value, str):
        raise PlanInputError(f"expected a date as 'YYYY-MM-DD', got {value!r}", path)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise PlanInputError(f"expected a date as 'YYYY-MM-DD', got {value!r}", path) from None


def parse_json(body: bytes, today: dt.date) -> PlanInputs:
    """The inputs from a JSON object (the ``POST /api/v1/plan`` body); ``start`` defaults to ``today``."""
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PlanInputError(f"not JSON: {exc}") from None
    if not isinstance(obj, Mapping):
        raise PlanInputError(f"expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - _FIELDS)
    if unknown:
        raise PlanInputError(f"unknown field; expected one of {', '.join(sorted(_FIELDS))}", unknown[0])
    profile = None
    if obj.get("profile") is not None:
        raw = obj["profile"]
        if not isinstance(raw, Mapping):
            raise PlanInputError('expected {"step": "second" | "hour", "values": [...]}', "profile")
        extra = sorted(set(raw) - {"step", "values"})
        if extra:
            raise PlanInputError("unknown field; expected step, values", f"profile.{extra[0]}")
        profile = Profile.checked(raw.get("step"), raw.get("values"))
    table = None
    if obj.get("table") is not None:
        raw = obj["table"]
        if not isinstance(raw, Mapping):
            raise PlanInputError('expected {"from": N, "to": N, "step": N}', "table")
        extra = sorted(set(raw) - {"from", "to", "step"})
        if extra:
            raise PlanInputError("unknown field; expected from, to, step", f"table.{extra[0]}")
        table = (raw.get("from"), raw.get("to"), raw.get("step", 1))
    start = _date(obj["start"], "start") if obj.get("start") is not None else today
    kwargs = {
        k: obj[k]
        for k in (
            "peak",
            "service_time_s",
            "service",
            "drive_capacity",
            "validity_months",
            "replace_every_days",
            "target_wait_s",
            "quantile",
            "redundancy",
        )
        if obj.get(k) is not None
    }
    return PlanInputs.checked(
        daily=obj.get("daily"),
        start=start,
        profile=profile,
        measured=obj.get("measured", False),
        table=table,
        **kwargs,
    )
