"""The plan (issue 7): both bounds, which binds, replacement dates, the table, the worked cases of docs/capacity.md.

Also cross-checks the reference's §3.2 table of the drive bound ``N_fn``. Its two larger rows leave out the
2 shift reports a register adds each day, although §3.2 says to count them. See test_reference_table_3_2.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fiscal_core.capacity import MEASURED_SERVICE_TIME_S, PlanInputError, Profile, plan
from fiscal_core.capacity.erlang import MMc
from fiscal_core.capacity.mdc import MDc
from fiscal_core.capacity.model import days_to_full, drive_registers

START = dt.date(2026, 1, 1)


def test_worked_case_one_million_a_day_200_per_second() -> None:
    p = plan(1_000_000, 200, start=START)
    assert p.by_speed == 205  # M/M/c: P(W > 1 s) ≤ 1 % (reference §3.3: 205)
    assert p.speed.mdc.registers == 203  # the same target with fixed service times
    # 15 months from 2026-01-01 = 455 days; (10⁶/N + 2)·455 ≤ 250,000  ⇔  N ≥ 455·10⁶/249,090 = 1826.6
    assert p.drive.lifetime_days == 455
    assert p.by_drive == 1827
    assert p.binding == "drive"
    assert p.registers == 1828
    assert p.replacements == (dt.date(2027, 4, 1), dt.date(2028, 7, 1))
    assert p.drive.days_to_full >= 455
    assert p.utilisation == pytest.approx(200 / 1828)
    assert p.p99_wait_s == 0.0  # 1,828 registers at 200/s: nobody waits
    assert p.speed.mmc.p99_wait_s == pytest.approx(0.8288, abs=1e-4) and p.speed.mmc.p99_wait_s <= 1.0
    d = p.to_dict()
    for key in ("registers", "by_speed", "by_drive", "binding", "p99_wait_s", "utilisation"):
        assert key in d
    json.dumps(d, allow_nan=False)


def test_worked_case_with_a_90_day_cadence_and_36_month_drives() -> None:
    p = plan(1_000_000, 200, start=START, validity_months=36, replace_every_days=90)
    assert p.drive.lifetime_days == 90
    assert p.by_drive == 361  # 90·10⁶ / (250,000 − 180) = 360.3
    assert p.binding == "drive" and p.registers == 362
    assert p.replacements[:3] == (dt.date(2026, 4, 1), dt.date(2026, 6, 30), dt.date(2026, 9, 28))
    assert len(p.replacements) == 12


def test_speed_binds_for_a_bursty_small_shop() -> None:
    p = plan(2_000, 5, start=START)  # 5/s at the peak, 2,000 a day
    assert p.by_drive == 4  # (2,000/N + 2)·455 ≤ 250,000 → N ≥ 3.65
    assert p.by_speed == 8 and p.binding == "speed" and p.registers == 9
    assert p.degraded.registers == 8 and p.degraded.p99_wait_s <= 1.0
    assert p.at_peak.p99_wait_s < p.degraded.p99_wait_s


def test_fixed_service_sizes_with_md_c() -> None:
    p = plan(2_000, 5, start=START, service="fixed")
    assert p.by_speed == p.speed.mdc.registers == 7
    assert MDc.of(7, 5.0, 1.0).tail(1.0) <= 0.01 < MDc.of(6, 5.0, 1.0).tail(1.0)


def test_both_bounds_equal() -> None:
    # Pick the daily volume so the drive bound is exactly the speed bound (8 at 5/s).
    daily = 8 * (250_000 - 2 * 455) / 455 - 1
    p = plan(daily, 5, start=START)
    assert p.by_drive == p.by_speed == 8 and p.binding == "both"


def test_measured_service_time_makes_the_drive_bind() -> None:
    p = plan(1_000_000, 200, start=START, measured=True)
    assert p.inputs.service_time_s == MEASURED_SERVICE_TIME_S
    assert p.by_speed == 1  # 200/s × 0.59 ms = 0.118 Erlangs
    assert p.binding == "drive"


def test_redundancy_and_target() -> None:
    none = plan(2_000, 5, start=START, redundancy=0)
    assert none.registers == none.by_speed and none.degraded == none.at_peak
    strict = plan(2_000, 5, start=START, target_wait_s=0.0)
    assert strict.by_speed > 8 and MMc.of(strict.by_speed, 5.0, 1.0).p_wait <= 0.01
    looser = plan(2_000, 5, start=START, quantile=0.9)
    assert looser.by_speed < 8 and looser.at_peak.quantile_wait_s <= 1.0


def test_profiles() -> None:
    per_second = plan(100_000, start=START, profile=Profile.checked("second", [1, 4, 20, 3]))
    assert per_second.inputs.peak == 20.0
    hourly = plan(100_000, start=START, profile=Profile.checked("hour", [3_600, 36_000, 7_200]))
    assert hourly.inputs.peak == 10.0
    assert hourly.to_dict()["inputs"]["profile"] == {"step": "hour", "steps": 3, "total": 46_800, "peak_per_s": 10.0}


def test_replacement_dates_follow_the_calendar() -> None:
    p = plan(1_000, 1, start=dt.date(2026, 1, 31))
    assert p.replacements[0] == dt.date(2027, 4, 30)  # 15 months on; April has no 31st
    assert p.drive.lifetime_days == (dt.date(2027, 4, 30) - dt.date(2026, 1, 31)).days
    long = plan(1_000, 1, start=START, validity_months=36)
    assert long.replacements == (dt.date(2029, 1, 1),)


def test_table() -> None:
    p = plan(1_000_000, 200, start=START)
    counts = [r.registers for r in p.table]
    assert counts == sorted(counts) and counts[0] == 201  # the first stable pool
    assert {205, 1827, 1828} <= set(counts)
    meets = [r.meets_target for r in p.table]
    assert meets == sorted(meets)  # no, no, …, yes, yes
    first_yes = counts[meets.index(True)]
    assert first_yes == p.by_speed
    for r in p.table:
        assert r.p99_wait_s_mdc <= r.p99_wait_s_mmc
        assert r.drive_ok == (r.registers >= p.by_drive)
        assert r.days_to_full == pytest.approx(days_to_full(1_000_000, r.registers, 250_000))
    custom = plan(1_000_000, 200, start=START, table=(150, 250, 50))
    assert [r.registers for r in custom.table] == [150, 200, 250]
    unstable = custom.to_dict()["table"][0]
    assert unstable["p99_wait_s_mmc"] is None and unstable["p99_wait_s_mdc"] is None and not unstable["meets_target"]
    json.dumps(custom.to_dict(), allow_nan=False)


# D, L → N_fn as printed in the reference (§3.2) and with the shift reports it says to include
REFERENCE_3_2 = [
    (1_000, 90, 1, 1),
    (1_000, 456, 2, 2),
    (10_000, 90, 4, 4),
    (10_000, 456, 19, 19),
    (100_000, 90, 36, 37),
    (100_000, 456, 183, 184),
    (1_000_000, 90, 360, 361),
    (1_000_000, 456, 1_824, 1_831),
]


@pytest.mark.parametrize(("daily", "days", "printed", "correct"), REFERENCE_3_2)
def test_reference_table_3_2(daily: int, days: int, printed: int, correct: int) -> None:
    assert drive_registers(daily, days, 250_000) == correct
    # The printed figures are ceil(D·L/C): the 2 shift reports per register per day were left out.
    assert math.ceil(daily * days / 250_000) == printed
    # Check "correct" the long way: N registers fit, N − 1 do not.
    assert (daily / correct + 2) * days <= 250_000 < (daily / max(correct - 1, 1e-9) + 2) * days or correct == 1


def test_drive_bound_from_the_plan_matches_the_table() -> None:
    p = plan(1_000_000, 200, start=START, validity_months=36, replace_every_days=456)
    assert p.drive.lifetime_days == 456 and p.by_drive == 1_831


@settings(max_examples=40, deadline=None)
@given(
    daily=st.floats(1, 1e8),
    burst=st.floats(1, 1e3),
    s=st.sampled_from([0.0005, 0.1, 0.5, 1.0, 2.0]),
    service=st.sampled_from(["exponential", "fixed"]),
    months=st.sampled_from([13, 15, 36]),
    target=st.sampled_from([0.0, 0.2, 1.0, 5.0]),
    redundancy=st.integers(0, 3),
)
def test_any_sane_input_gives_a_consistent_plan(
    daily: float, burst: float, s: float, service: str, months: int, target: float, redundancy: int
) -> None:
    peak = min(daily / 86_400 * burst, 2_000.0)
    try:
        p = plan(daily, max(peak, daily / 86_400), start=START, service_time_s=s, service=service,
                 validity_months=months, target_wait_s=target, redundancy=redundancy)  # fmt: skip
    except PlanInputError:
        return
    assert p.registers == max(p.by_speed, p.by_drive) + redundancy
    assert p.by_speed > p.inputs.peak * s
    model = MDc.of if service == "fixed" else MMc.of
    assert model(p.by_speed, p.inputs.peak, s).tail(target) <= 0.01 + 1e-12
    assert (p.inputs.daily / p.by_drive + 2) * p.drive.lifetime_days <= 250_000 * (1 + 1e-12)
    assert p.degraded.quantile_wait_s <= target + 1e-9
    json.dumps(p.to_dict(), allow_nan=False)
