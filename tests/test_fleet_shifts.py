"""Issue 4 item 4 acceptance: shifts open by themselves, close at 23:55 local in every zone UTC+2 … UTC+12 and
always before 24 hours, with close reports whose counters match the receipts. An injected clock, real drives.

Expectations are computed here from the documents' own times (1012 of the open report) with zoneinfo, not
with :mod:`fiscal_core.registers.shifts`; counters are read from the shift close report's TLV (1118, 1111,
1194) and compared with the receipts the fleet returned and the receipt documents on the drive.
"""

from __future__ import annotations

import datetime as dt
import math
import pathlib
import zoneinfo
from collections import defaultdict
from typing import Any

import pytest

from fiscal_core import samples
from fiscal_core.drive.archive import documents, verify
from fiscal_core.ffd import tlv
from fiscal_core.registers import EventKind, Reason, Refusal
from fiscal_core.registers.fleet import Fleet, FleetEventKind, FleetSettings, Result
from fiscal_core.registers.model import FleetFile, parse_tax_systems
from fiscal_core.registers.provision import add_registers
from fiscal_core.registers.shifts import RUSSIAN_ZONES, ShiftPolicy

T0 = dt.datetime(2026, 3, 10, 6, 0, tzinfo=dt.UTC).timestamp()
MAX_AGE = 23 * 3600 + 50 * 60
RECEIPTS = [samples.receipt(1 + k % 2, k, sign=1 + k % 2) for k in range(41)]


def provision(root: pathlib.Path, zones: list[str]) -> list[str]:
    files = FleetFile(root)
    with files.edit() as model:
        model.add_tenant("shop", "pw", "7707083893", 'ООО "Магазин"', parse_tax_systems("osn"))
        model.add_group("shop", "shop", "1.2", capabilities=["marked"])
    return [add_registers(files, "shop", 1, timezone=z, clock=lambda: T0)[0].serial for z in zones]


def run(
    fleet: Fleet, start: float, end: float, every: float, per_tick: int
) -> tuple[list[Result], list[Any], list[Refusal]]:
    """Receipts every ``every`` s (a refused one comes back after its Retry-After); pumps at each tick, each
    wake-up the fleet asks for, and each second while work is pending."""
    results: list[Result] = []
    events: list[Any] = []
    refusals: list[Refusal] = []
    agenda: list[tuple[float, int]] = []  # (time, receipt index)
    k = 0
    tick = start
    while tick < end:
        for _ in range(per_tick):
            agenda.append((tick, k))
            k += 1
        tick += every
    agenda.reverse()
    t = start
    while agenda or fleet.pending():
        while agenda and agenda[-1][0] <= t:
            _, i = agenda.pop()
            got = fleet.submit(RECEIPTS[i % len(RECEIPTS)], "shop", t, ref=i)
            if isinstance(got, Refusal):
                assert got.retryable
                refusals.append(got)
                agenda.append((t + got.retry_after_s, i))
                agenda.sort(reverse=True)
        results += fleet.pump(t)
        events += fleet.drain_events()
        wake = fleet.next_wakeup()
        nxt = min(agenda[-1][0] if agenda else math.inf, wake if wake > t else math.floor(t) + 1.0)
        if fleet.pending():
            nxt = min(nxt, math.floor(t) + 1.0)
        assert t < nxt < end + 3 * 86400
        t = nxt
    assert sorted(r.ref for r in results) == list(range(k))  # every receipt once
    return results, events, refusals


def top(doc: bytes) -> dict[int, Any]:
    ((_form, nodes),) = tlv.decode(doc)
    return dict(nodes)


def shifts_of(fleet: Fleet, serial: str) -> list[dict[str, Any]]:
    """Shifts as the archive has them: open/close documents and the receipts between."""
    out: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for _fd, rec in documents(fleet.drive(serial)):
        t = top(rec.tlv)
        if rec.form == 2:
            current = {"open": t, "receipts": []}
        elif rec.form == 3:
            assert current is not None
            current["receipts"].append(t)
        elif rec.form == 5:
            assert current is not None
            current["close"] = t
            out.append(current)
            current = None
    return out


def utc(local: dt.datetime, zone: str) -> float:
    return local.replace(tzinfo=zoneinfo.ZoneInfo(zone)).timestamp()


def expected_close(opened_utc: float, zone: str, offset: int) -> float:
    tz = zoneinfo.ZoneInfo(zone)
    day = dt.datetime.fromtimestamp(opened_utc, tz).date()
    while True:
        at = dt.datetime.combine(day, dt.time(23, 55), tz).timestamp() + offset
        if at > opened_utc:
            return min(at, opened_utc + MAX_AGE)
        day += dt.timedelta(days=1)


@pytest.fixture(scope="module")
def zones_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("zones")
    zones = list(RUSSIAN_ZONES.values())
    serials = provision(root, zones)
    fleet = Fleet(root, T0)
    # 52 hours, a receipt per register every 7 minutes: two local midnights in every zone.
    results, events, refusals = run(fleet, T0, T0 + 52 * 3600, 420.0, len(zones))
    assert refusals == []  # the registers close one after another: the group always has some in rotation
    yield fleet, dict(zip(serials, zones, strict=True)), results, events
    fleet.close()


def test_the_zones_are_russias_utc_plus_2_to_12() -> None:
    moment = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)
    offsets = [zoneinfo.ZoneInfo(z).utcoffset(moment) for z in RUSSIAN_ZONES.values()]
    assert [o.total_seconds() / 3600 for o in offsets if o is not None] == list(range(2, 13))


def test_shifts_close_at_2355_local_and_before_24_hours(zones_run: Any) -> None:
    fleet, zone_of, results, events = zones_run
    assert not [e for e in events if e.kind == FleetEventKind.DRIVE_REFUSED]
    for position, (serial, zone) in enumerate(zone_of.items()):
        shifts = shifts_of(fleet, serial)
        assert len(shifts) >= 2, zone
        daily = 0
        dates = {r.when.date() for r in results if r.register == serial}
        assert len(dates) == 3, zone  # the run crossed two local midnights in this zone
        for s in shifts:
            opened = utc(s["open"][1012], zone)
            closed = utc(s["close"][1012], zone)
            assert closed == expected_close(opened, zone, 10 * position), (zone, s["open"][1012], s["close"][1012])
            assert 0 < closed - opened <= MAX_AGE < 24 * 3600
            if (
                s["close"][1012].time()
                == (dt.datetime(2000, 1, 1, 23, 55) + dt.timedelta(seconds=10 * position)).time()
            ):
                daily += 1
        assert daily >= 1, zone  # the daily close at 23:55 local (+ this register's stagger)
        assert verify(fleet.drive(serial)).ok


def test_close_report_counters_match_the_receipts(zones_run: Any) -> None:
    fleet, zone_of, results, _events = zones_run
    by_shift: dict[tuple[str, int], list[Result]] = defaultdict(list)
    for r in results:
        assert r.ok
        by_shift[(r.register, r.shift_number)].append(r)
    checked = 0
    for serial in zone_of:
        for s in shifts_of(fleet, serial):
            close = s["close"]
            mine = by_shift[(serial, close[1038])]
            receipts = s["receipts"]
            assert close[1118] == len(receipts) == len(mine)
            assert close[1111] == len(receipts) + 2  # the open report, the receipts, the close report
            counters = dict(close[1194])
            sale = dict(counters[1129])
            refund = dict(counters.get(1130, [(1135, 0), (1201, 0)]))
            for sign, got in ((1, sale), (2, refund)):
                docs = [t for t in receipts if t[1054] == sign]
                assert (
                    got[1135]
                    == len(docs)
                    == sum(1 for r in mine if RECEIPTS[r.ref % len(RECEIPTS)].settlement_sign == sign)
                )
                assert (
                    got[1201]
                    == sum(t[1020] for t in docs)
                    == sum(r.total for r in mine if RECEIPTS[r.ref % len(RECEIPTS)].settlement_sign == sign)
                )
            assert counters[1134] == len(receipts)
            checked += 1
    assert checked >= 2 * len(zone_of)


def test_a_closing_register_leaves_rotation_for_that_moment(zones_run: Any) -> None:
    _fleet, zone_of, _results, events = zones_run
    for serial in zone_of:
        mine = [e for e in events if e.register == serial]
        left = [e for e in mine if e.kind == EventKind.LEFT_ROTATION]
        back = [e for e in mine if e.kind == EventKind.RETURNED_TO_ROTATION]
        closed = [e for e in mine if e.kind == FleetEventKind.SHIFT_CLOSED]
        assert len(left) == len(back) == len(closed) >= 2
        for out, shut, returned in zip(left, closed, back, strict=True):
            assert Reason.SHIFT_CLOSE in out.detail
            assert out.at <= shut.at == returned.at <= out.at + 5.0  # the lead, then back at once


def test_the_24_hour_rule_alone(tmp_path: pathlib.Path) -> None:
    """No daily close time: every shift still ends at 23 h 50 min of age, and the drive never refuses."""
    serial = provision(tmp_path, ["Asia/Kamchatka"])[0]
    fleet = Fleet(tmp_path, T0, settings=FleetSettings(shift=ShiftPolicy(close_at=None)))
    results, events, refusals = run(fleet, T0, T0 + 3 * 86400, 600.0, 1)
    assert all(r.ok for r in results) and refusals == []  # an emulated register is out only within a pump
    assert not [e for e in events if e.kind == FleetEventKind.DRIVE_REFUSED]
    shifts = shifts_of(fleet, serial)
    assert len(shifts) == 3
    for s in shifts:
        age = utc(s["close"][1012], "Asia/Kamchatka") - utc(s["open"][1012], "Asia/Kamchatka")
        assert age == MAX_AGE
    fleet.close()


def test_a_shift_left_open_over_a_stop_is_closed_before_any_receipt(tmp_path: pathlib.Path) -> None:
    serials = provision(tmp_path, ["Europe/Moscow", "Europe/Moscow"])
    fleet = Fleet(tmp_path, T0)
    for k in range(4):
        fleet.submit(RECEIPTS[k], "shop", T0)
    assert len(fleet.pump(T0)) == 4
    fleet.close()
    later = T0 + 30 * 3600  # the service was down for longer than a shift may last
    fleet = Fleet(tmp_path, later)
    snap = fleet.snapshot(later)["shop"]
    assert not any(x.in_rotation for x in snap.registers)  # both are closing their overdue shifts
    assert fleet.pump(later) == []
    assert all(x.in_rotation for x in fleet.snapshot(later)["shop"].registers)
    results, events, _refusals = run(fleet, later, later + 60, 10.0, 2)
    assert all(r.ok and r.shift_number == 2 for r in results)
    assert not [e for e in events if e.kind == FleetEventKind.DRIVE_REFUSED]
    for serial in serials:
        forms = [rec.form for _fd, rec in documents(fleet.drive(serial))]
        assert forms[:6] == [1, 2, 3, 3, 5, 2]
    fleet.close()
