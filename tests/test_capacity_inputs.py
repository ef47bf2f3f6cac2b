"""Issue 7 acceptance: zero, negative, absurd or missing inputs get a clear error naming the field, never a traceback.

Covers the Python API (``plan``), the JSON body of ``POST /api/v1/plan`` (``plan_from_json``, field paths such
as ``profile.values[2]``), and the CSV load profile.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import pytest

from fiscal_core.capacity import PlanInputError, plan, plan_from_json
from fiscal_core.capacity.inputs import Profile, add_months, parse_profile_csv
from fiscal_core.errors import FieldError

START = dt.date(2026, 1, 1)
GOOD: dict[str, Any] = {"daily": 100_000, "peak": 20}


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        ({"daily": 0}, "daily", "must be > 0"),
        ({"daily": -1}, "daily", "must be > 0"),
        ({"daily": math.nan}, "daily", "not a number"),
        ({"daily": math.inf}, "daily", "finite"),
        ({"daily": 1e30}, "daily", "past any plan"),
        ({"daily": None}, "daily", "required"),
        ({"daily": True}, "daily", "expected a number"),
        ({"daily": "100"}, "daily", "expected a number"),
        ({"peak": 0}, "peak", "must be > 0"),
        ({"peak": -3}, "peak", "must be > 0"),
        ({"peak": None}, "peak", "one of the two"),
        ({"peak": 1e12}, "peak", "past any plan"),
        ({"peak": 0.5}, "peak", "below the day's average"),
        ({"service_time_s": 0}, "service_time_s", "must be > 0"),
        ({"service_time_s": -1.0}, "service_time_s", "must be > 0"),
        ({"service_time_s": 1e-9}, "service_time_s", "below"),
        ({"service_time_s": 1e6}, "service_time_s", "past any plan"),
        ({"service_time_s": 1.0, "measured": True}, "service_time_s", "not both"),
        ({"measured": "yes"}, "measured", "true or false"),
        ({"service": "gamma"}, "service", "'exponential' or 'fixed'"),
        ({"drive_capacity": 0}, "drive_capacity", "from 1"),
        ({"drive_capacity": 250_000.5}, "drive_capacity", "whole number"),
        ({"drive_capacity": 900}, "drive_capacity", "shift reports"),
        ({"validity_months": 0}, "validity_months", "from 1 to 36"),
        ({"validity_months": 120}, "validity_months", "from 1 to 36"),
        ({"replace_every_days": 0}, "replace_every_days", "from 1"),
        ({"target_wait_s": -1}, "target_wait_s", "from 0"),
        ({"target_wait_s": math.nan}, "target_wait_s", "not a number"),
        ({"quantile": 1.0}, "quantile", "0.5 to 0.99999"),
        ({"quantile": 0.1}, "quantile", "0.5 to 0.99999"),
        ({"redundancy": -1}, "redundancy", "from 0"),
        ({"redundancy": 0.5}, "redundancy", "whole number"),
        ({"peak": 1e6, "service_time_s": 600}, "peak", "busy at once"),
        ({"table": (10, 5, 1)}, "table.to", "first count"),
        ({"table": (1, 10_000, 1)}, "table.step", "at most 200"),
        ({"table": (0, 10, 1)}, "table.from", "from 1"),
    ],
)
def test_bad_inputs_name_the_field(change: dict[str, Any], path: str, fragment: str) -> None:
    args = {**GOOD, **change}
    with pytest.raises(PlanInputError) as err:
        plan(args.pop("daily"), args.pop("peak"), start=START, **args)
    assert err.value.path == path
    assert fragment in err.value.reason
    assert str(err.value).startswith(f"{path}: ")
    assert isinstance(err.value, FieldError) and err.value.status_hint == 400 and not err.value.retryable


def test_zero_is_accepted_where_it_means_something() -> None:
    assert plan(**GOOD, start=START, redundancy=0).registers >= 1
    assert plan(**GOOD, start=START, target_wait_s=0).by_speed >= plan(**GOOD, start=START).by_speed


def test_peak_or_profile_not_both() -> None:
    with pytest.raises(PlanInputError) as err:
        plan(100_000, 20, start=START, profile=Profile.checked("second", [20]))
    assert err.value.path == "profile"


def test_start_must_be_a_date() -> None:
    with pytest.raises(PlanInputError) as err:
        plan(100_000, 20, start=dt.datetime(2026, 1, 1, 12))  # type: ignore[arg-type]
    assert err.value.path == "start"


def test_plan_from_json() -> None:
    body = json.dumps({"daily": 1_000_000, "peak": 200, "start": "2026-01-01"}).encode()
    out = json.loads(plan_from_json(body, today=dt.date(2030, 1, 1)))
    assert (out["registers"], out["by_speed"], out["by_drive"], out["binding"]) == (1828, 205, 1827, "drive")
    assert out["inputs"]["start"] == "2026-01-01"
    default_start = json.loads(plan_from_json(b'{"daily": 1000, "peak": 1}', today=dt.date(2030, 6, 1)))
    assert default_start["inputs"]["start"] == "2030-06-01"
    full = {
        "daily": 50_000,
        "profile": {"step": "hour", "values": [1_000, 18_000, 9_000]},
        "service": "fixed",
        "service_time_s": 1.5,
        "drive_capacity": 250_000,
        "validity_months": 36,
        "replace_every_days": 120,
        "target_wait_s": 0.5,
        "quantile": 0.995,
        "redundancy": 2,
        "table": {"from": 5, "to": 20, "step": 5},
    }
    out = json.loads(plan_from_json(json.dumps(full).encode(), today=START))
    assert out["inputs"]["peak"] == 5.0 and out["speed"]["service"] == "fixed"
    assert [r["registers"] for r in out["table"]] == [5, 10, 15, 20]


@pytest.mark.parametrize(
    ("body", "path", "fragment"),
    [
        (b"{not json", "", "not JSON"),
        (b"\xff\xfe", "", "not JSON"),
        (b"[1, 2]", "", "JSON object"),
        (b'{"daily": 1000}', "peak", "one of the two"),
        (b'{"peak": 5}', "daily", "required"),
        (b'{"daily": 1000, "peak": 5, "speed": 1}', "speed", "unknown field"),
        (b'{"daily": "1000", "peak": 5}', "daily", "expected a number"),
        (b'{"daily": 1000, "peak": 5, "start": "01.01.2026"}', "start", "YYYY-MM-DD"),
        (b'{"daily": 1000, "peak": 5, "start": 20260101}', "start", "YYYY-MM-DD"),
        (b'{"daily": 1000, "profile": [1, 2]}', "profile", "step"),
        (b'{"daily": 1000, "profile": {"step": "minute", "values": [1]}}', "profile.step", "'second' or 'hour'"),
        (b'{"daily": 1000, "profile": {"step": "second", "values": [1, 2, -3]}}', "profile.values[2]", ">= 0"),
        (b'{"daily": 1000, "profile": {"step": "second", "values": [1, null]}}', "profile.values[1]", "required"),
        (b'{"daily": 1000, "profile": {"step": "second", "values": []}}', "profile.values", "non-empty"),
        (b'{"daily": 1000, "profile": {"step": "second", "values": [0, 0]}}', "profile.values", "every step is 0"),
        (b'{"daily": 1000, "profile": {"step": "hour", "values": [1], "x": 1}}', "profile.x", "unknown field"),
        (b'{"daily": 1000, "peak": 5, "table": {"from": 5, "to": 2}}', "table.to", "first count"),
        (b'{"daily": 1000, "peak": 5, "table": {"from": 1, "to": 9, "by": 2}}', "table.by", "unknown field"),
        (b'{"daily": 1000, "peak": 5, "redundancy": false}', "redundancy", "expected a number"),
    ],
)
def test_json_errors_carry_the_path(body: bytes, path: str, fragment: str) -> None:
    with pytest.raises(PlanInputError) as err:
        plan_from_json(body, today=START)
    assert err.value.path == path
    assert fragment.replace(">= 0", "≥ 0") in err.value.reason
    assert err.value.to_dict()["path"] == path


def test_profile_csv() -> None:
    text = "second,receipts\n# a comment\n0,1.5\n1;4\n\n2,20  # the peak\n3,3\n"
    p = parse_profile_csv(text, "second")
    assert p.values == (1.5, 4.0, 20.0, 3.0) and p.peak_per_s == 20.0
    assert parse_profile_csv("3600\n7200\n", "hour").peak_per_s == 2.0
    assert parse_profile_csv('"t","n"\n"00:00","5"\n', "second").values == (5.0,)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "no values"),
        ("# only a comment\n", "no values"),
        ("header\n1\nabc\n", "line 3: 'abc' is not a number"),
        ("1\n-2\n", "line 2"),
        ("1\nnan\n", "line 2"),
        ("0\n0\n", "every step is 0"),
    ],
)
def test_profile_csv_errors(text: str, fragment: str) -> None:
    with pytest.raises(PlanInputError) as err:
        parse_profile_csv(text, "second")
    assert fragment in str(err.value)
    assert err.value.path.startswith("profile")


def test_add_months() -> None:
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2027, 11, 30), 3) == dt.date(2028, 2, 29)
    assert add_months(dt.date(2026, 12, 15), 15) == dt.date(2028, 3, 15)
    assert add_months(dt.date(2026, 1, 1), 36) == dt.date(2029, 1, 1)
