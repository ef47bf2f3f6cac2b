"""Issue 4 acceptance: a flash peak through the whole fleet — real drives, the `hardware` profile, an injected clock.

A group of 8 registers at ~1 receipt/s (the `hardware` profile) and 2 reserves takes Poisson arrivals at 0.6/s,
with a 60-second flash peak at 20× the mean (12/s, more than the 10/s the whole group can serve). One regular
register has a drive so small that it fills mid-peak. Clients honour Retry-After. Nothing sleeps: the test
pumps the fleet at the times it asks for (``next_wakeup``), each arrival and each second.

The test keeps its own account (which ticket is which receipt, when each was accepted and finished) and
checks the fleet against that and against the drives' archives, not against the fleet's own numbers.
``FISCAL_CORE_FLEET_SIM_SCALE`` stretches the run (default 1: about 1,000 receipts, a few seconds).
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import math
import os
import pathlib
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from fiscal_core import samples
from fiscal_core.drive.archive import verify
from fiscal_core.ffd import tlv
from fiscal_core.registers import EventKind, Reason, Refusal
from fiscal_core.registers.fleet import Fleet, FleetEventKind, FleetSettings, Result
from fiscal_core.registers.model import FleetFile, parse_tax_systems
from fiscal_core.registers.provision import add_registers

T0 = dt.datetime(2026, 6, 1, 7, 0, tzinfo=dt.UTC).timestamp()  # 10:00 in Moscow: no shift close in the run
SCALE = float(os.environ.get("FISCAL_CORE_FLEET_SIM_SCALE", "1"))
MEAN = 0.6
PEAK = (120.0, 120.0 + 60.0 * SCALE)
END = PEAK[1] + 220.0
SMALL_CAPACITY = 40  # the drive of the register that fills mid-peak
RECEIPTS = [samples.receipt(1 + k % 3, k) for k in range(97)]


@dataclass
class Run:
    fleet: Fleet
    regular: list[str]
    reserves: list[str]
    small: str
    accepted: dict[int, tuple[int, float]] = field(default_factory=dict)  # ticket -> (receipt index, time)
    arrivals: int = 0
    results: list[Result] = field(default_factory=list)
    refusals: list[tuple[float, Refusal, float]] = field(default_factory=list)  # (t, refusal, own wait)
    events: list[Any] = field(default_factory=list)


def _provision(root: pathlib.Path) -> tuple[list[str], list[str], str]:
    files = FleetFile(root)
    with files.edit() as model:
        model.add_tenant("shop", "pw", "7707083893", 'ООО "Магазин"', parse_tax_systems("osn"))
        model.add_group("shop", "shop", "1.2", capabilities=["marked"], target_wait_s=1.0, admission_margin_s=1.0)
    clock = lambda: T0  # noqa: E731
    regular = [r.serial for r in add_registers(files, "shop", 3, profile="hardware", clock=clock)]
    small = add_registers(files, "shop", 1, profile="hardware", capacity=SMALL_CAPACITY, clock=clock)[0].serial
    regular += [small]
    regular += [r.serial for r in add_registers(files, "shop", 4, profile="hardware", clock=clock)]
    reserves = [r.serial for r in add_registers(files, "shop", 2, reserve=True, profile="hardware", clock=clock)]
    return regular, reserves, small


def _arrivals(rng: random.Random) -> list[float]:
    times, t = [], 0.0
    while True:
        rate = MEAN * 20 if PEAK[0] <= t < PEAK[1] else MEAN
        t += rng.expovariate(rate)
        if t >= END - 60:
            return times
        times.append(t)


def simulate(root: pathlib.Path) -> Run:
    regular, reserves, small = _provision(root)
    run = Run(Fleet(root, T0, settings=FleetSettings(release_hold_s=20.0)), regular, reserves, small)
    fleet = run.fleet
    agenda: list[tuple[float, int, int]] = []  # (time, seq, receipt index)
    for k, t in enumerate(_arrivals(random.Random(5))):
        heapq.heappush(agenda, (T0 + t, k, k))
        run.arrivals += 1
    seq = run.arrivals
    in_system: dict[int, int] = {}  # ticket -> 1 while no result (the test's own backlog)

    def pump(t: float) -> None:
        for r in fleet.pump(t):
            run.results.append(r)
            in_system.pop(r.ticket, None)
        run.events += fleet.drain_events()

    def own_wait(t: float) -> float:
        snap = fleet.snapshot(t)["shop"]
        serving = sum(1 for x in snap.registers if x.in_rotation)
        return len(in_system) / serving if serving else math.inf

    t = T0
    while agenda or fleet.pending():
        nxt = min(agenda[0][0] if agenda else math.inf, fleet.next_wakeup(), math.floor(t) + 1.0)
        t = max(t, nxt)
        if agenda and agenda[0][0] <= t:
            _, _, k = heapq.heappop(agenda)
            got = fleet.submit(RECEIPTS[k % len(RECEIPTS)], "shop", t, ref=k)
            if isinstance(got, Refusal):
                assert got.retryable, got
                run.refusals.append((t - T0, got, own_wait(t)))
                seq += 1
                heapq.heappush(agenda, (t + got.retry_after_s, seq, k))  # the client honours Retry-After
            else:
                run.accepted[got] = (k, t)
                in_system[got] = 1
        pump(t)
        assert t < T0 + END + 600, "the fleet does not finish its work"
    for _ in range(40):  # let the peak's reserves go back to standby
        t += 1.0
        pump(t)
    return run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    r = simulate(tmp_path_factory.mktemp("peak"))
    yield r
    r.fleet.close()


def _top(doc: bytes) -> dict[int, Any]:
    ((_form, nodes),) = tlv.decode(doc)
    return {tag: value for tag, value in nodes}


def test_every_receipt_is_fiscalized_exactly_once(run: Run) -> None:
    # Every arrival was accepted once in the end (clients retried), and every ticket has exactly one result.
    assert sorted(k for k, _ in run.accepted.values()) == list(range(run.arrivals))
    tickets = Counter(r.ticket for r in run.results)
    assert set(tickets) == set(run.accepted) and set(tickets.values()) == {1}
    assert all(r.ok and r.form == 3 for r in run.results), "a drive refusal reached a client"
    # One document per receipt: (FN, FD) pairs are unique, and each document is that receipt (its total).
    assert len({(r.fn_number, r.fd_number) for r in run.results}) == len(run.results)
    receipts_on_drives = 0
    for serial in run.regular + run.reserves:
        drive = run.fleet.drive(serial)
        report = verify(drive)  # gapless FD numbers from 1, CRCs, fiscal and message signs
        assert report.ok, report.error
        receipts_on_drives += report.by_form.get(3, 0)
    assert receipts_on_drives == len(run.accepted)
    for r in run.results[:: max(1, len(run.results) // 200)]:
        k, _ = run.accepted[r.ticket]
        doc = _top(run.fleet.drive(r.register).document(r.fd_number).tlv)
        assert doc[1020] == RECEIPTS[k % len(RECEIPTS)].total == r.total
        assert (doc[1040], doc[1038], doc[1042]) == (r.fd_number, r.shift_number, r.receipt_number)


def test_per_register_numbering_is_gapless_and_serial(run: Run) -> None:
    by_reg: dict[str, list[Result]] = {}
    for r in run.results:
        by_reg.setdefault(r.register, []).append(r)
    for serial, results in by_reg.items():
        fds = sorted(r.fd_number for r in results)
        # FD 1 registration, FD 2 shift open, then the receipts one after another.
        assert fds == list(range(3, 3 + len(fds))), serial
        # hardware: one receipt a second per register, never two at once
        done = sorted(r.at for r in results)
        assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(done)), serial


def test_load_is_even_across_the_regular_registers(run: Run) -> None:
    counts = Counter(r.register for r in run.results)
    full = [counts[s] for s in run.regular if s != run.small]
    mean = sum(full) / len(full)
    assert all(abs(c - mean) <= 0.10 * mean for c in full), (full, mean)
    assert counts[run.small] < mean  # drained mid-peak


def test_reserves_are_activated_and_released(run: Run) -> None:
    counts = Counter(r.register for r in run.results)
    for serial in run.reserves:
        kinds = [e.kind for e in run.events if e.register == serial]
        assert EventKind.RESERVE_ACTIVATED in kinds and EventKind.RESERVE_RELEASED in kinds, kinds
        assert kinds.index(EventKind.RESERVE_ACTIVATED) < len(kinds) - 1 - kinds[::-1].index(EventKind.RESERVE_RELEASED)
        assert counts[serial] > 0
    activated = [e.at - T0 for e in run.events if e.kind == EventKind.RESERVE_ACTIVATED]
    assert activated and min(activated) >= PEAK[0] - 5  # not before the peak
    assert run.fleet.snapshot(T0 + END + 100)["shop"].active_reserves == ()


def test_retry_after_only_once_the_backlog_passes_the_target(run: Run) -> None:
    assert run.refusals, "the peak is more than the group can serve: some submissions must wait"
    for at, refusal, wait in run.refusals:
        assert PEAK[0] <= at < PEAK[1] + 60, at
        assert refusal.retryable and refusal.code == "group_overloaded"
        assert refusal.retry_after_s >= 1
        assert wait > 1.0, (at, wait)  # the test's own backlog / serving registers passed the 1 s target
    refusing = [e for e in run.events if e.kind == EventKind.GROUP_REFUSING]
    accepting = [e for e in run.events if e.kind == EventKind.GROUP_ACCEPTING]
    assert refusing and accepting and refusing[0].at < accepting[-1].at


def test_a_register_whose_drive_fills_is_drained_while_the_others_carry_on(run: Run) -> None:
    left = [e for e in run.events if e.kind == EventKind.LEFT_ROTATION and e.register == run.small]
    assert len(left) == 1 and Reason.DRIVE_FULL in left[0].detail
    assert not [e for e in run.events if e.kind == EventKind.RETURNED_TO_ROTATION and e.register == run.small]
    drained_at = left[0].at - T0
    assert PEAK[0] < drained_at < PEAK[1], drained_at
    drive = run.fleet.drive(run.small)
    # The drive never refused anything: no refusal event, and it kept room for its closing reports.
    assert not [e for e in run.events if e.kind == FleetEventKind.DRIVE_REFUSED]
    assert drive.state.next_fd - 1 <= SMALL_CAPACITY - 2
    later = [r for r in run.results if r.at - T0 > drained_at + 5]
    assert later and all(r.register != run.small for r in later)
    assert {r.register for r in later} >= set(run.regular) - {run.small}
    warned = [e for e in run.events if e.kind == EventKind.DRIVE_FILL_90 and e.register == run.small]
    assert warned and warned[0].at <= left[0].at
