"""The register-count calculator (issue 7): how many registers a load needs, with its working shown.

Rules
- Layer 1 (pure): numbers, dates and bytes in; a :class:`~.model.Plan` or JSON bytes out. The CLI
  (``fiscal-core plan``) and the HTTP route (``POST /api/v1/plan``) read files and the clock and pass dates in.
- ``plan(...)`` checks its inputs (a :class:`PlanInputError` naming the field) and builds the plan;
  :func:`plan_from_json` does the same for a JSON body and answers JSON.
- The models and how they were validated against a simulation of the real dispatcher: docs/capacity.md.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fiscal_core.capacity.inputs import (
    DEFAULT_SERVICE_TIME_S,
    DRIVE_CAPACITY,
    MEASURED_SERVICE_TIME_S,
    PlanInputError,
    PlanInputs,
    Profile,
    parse_json,
    parse_profile_csv,
)
from fiscal_core.capacity.model import Plan, build_plan

__all__ = [
    "DEFAULT_SERVICE_TIME_S",
    "DRIVE_CAPACITY",
    "MEASURED_SERVICE_TIME_S",
    "Plan",
    "PlanInputError",
    "PlanInputs",
    "Profile",
    "parse_profile_csv",
    "plan",
    "plan_from_json",
]


def plan(
    daily: float,
    peak: float | None = None,
    *,
    start: dt.date,
    profile: Profile | None = None,
    service_time_s: float | None = None,
    measured: bool = False,
    service: str = "exponential",
    drive_capacity: int = DRIVE_CAPACITY,
    validity_months: int = 15,
    replace_every_days: int | None = None,
    target_wait_s: float = 1.0,
    quantile: float = 0.99,
    redundancy: int = 1,
    table: tuple[int, int, int] | None = None,
) -> Plan:
    """How many registers ``daily`` receipts a day with ``peak`` receipts/s at the busiest second need.

    ``start`` is the day the drives are fitted (replacement dates count from it). Give ``peak`` or a
    ``profile`` (see :func:`parse_profile_csv`). ``service_time_s`` defaults to 1 s (a real device);
    ``measured=True`` takes our emulated drive's benchmark figure instead. ``service`` is ``"exponential"``
    (M/M/c, Erlang C) or ``"fixed"`` (M/D/c). Raises :class:`PlanInputError` naming the bad field.
    """
    args: dict[str, Any] = {
        "daily": daily,
        "peak": peak,
        "start": start,
        "profile": profile,
        "service_time_s": service_time_s,
        "measured": measured,
        "service": service,
        "drive_capacity": drive_capacity,
        "validity_months": validity_months,
        "replace_every_days": replace_every_days,
        "target_wait_s": target_wait_s,
        "quantile": quantile,
        "redundancy": redundancy,
        "table": table,
    }
    return build_plan(PlanInputs.checked(**args))


def plan_from_json(body: bytes, *, today: dt.date) -> bytes:
    """``POST /api/v1/plan``: a JSON object of inputs in (field names as :func:`plan`'s), the plan's JSON out.

    ``today`` is the default ``start`` (the HTTP layer owns the clock). Bad input raises
    :class:`PlanInputError` (status 400) with ``path`` naming the field, e.g. ``profile.values[3]``.
    """
    return json.dumps(build_plan(parse_json(body, today)).to_dict(), ensure_ascii=False).encode()
