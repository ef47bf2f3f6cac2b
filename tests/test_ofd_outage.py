"""Issue 6 acceptance, outages: a register fleet under steady load in injected time, the sender beside it in its
own thread (as ``fiscal-core serve`` runs it), the emulator in another; and a sender SIGKILLed mid-send.

- 72 hours of simulated time with the OFD down: nothing is lost or duplicated, everything is confirmed in FD
  order once the OFD is back, the one-day warning comes on time (and not the 7-day one), and the shift-close
  reports carry 1053 from the first day of silence on.
- 31 days with one register's OFD down: that register is drained at 29 days (the dispatcher's margin before
  the drive's 30-day block), its drive refuses documents from exactly day 30, the other register takes every
  receipt, and after the OFD comes back the register is confirmed up and back in rotation.
- A sender process SIGKILLed while documents are in flight: a new sender confirms every document exactly once
  and never sends one the drive had already confirmed.
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import ROOT
from test_ofd_exchange import FAST, SECRET, check_exactly_once, make_drives, record_confirms, unsent

from fiscal_core import samples
from fiscal_core.drive.drive import FiscalDrive
from fiscal_core.drive.errors import OfdWaitExhausted
from fiscal_core.drive.state import DAY
from fiscal_core.drive.store import DriveStore
from fiscal_core.ffd import tlv
from fiscal_core.ofd.client import OfdSender, backlog, operator_keys
from fiscal_core.ofd.emulator import Faults, OfdEmulator
from fiscal_core.registers import EventKind
from fiscal_core.registers.fleet import Fleet
from fiscal_core.registers.model import FleetFile, parse_tax_systems
from fiscal_core.registers.provision import add_registers

T0 = dt.datetime(2026, 6, 1, 7, 0, tzinfo=dt.UTC).timestamp()  # 10:00 in Moscow
HOUR = 3600


def make_fleet(root: pathlib.Path, n: int) -> Fleet:
    files = FleetFile(root)
    with files.edit() as model:
        model.add_tenant("shop", "pw", "7707083893", 'ООО "Магазин"', parse_tax_systems("osn"))
        model.add_group("shop", "shop", "1.2", capabilities=["marked"])
    add_registers(files, "shop", n, profile="emulated", clock=lambda: T0)
    return Fleet(root, T0)


def wait_for(pred: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {pred}")
        time.sleep(0.02)


def simulate(
    fleet: Fleet, start: float, end: float, step: float, settle: Callable[[], None] = lambda: None
) -> tuple[int, list[Any], list[Any]]:
    """One receipt per ``step`` of fleet time; (submitted, results, events). ``settle`` runs after each step:
    fleet time races ahead of the real-time sender, so a working OFD is modelled by waiting for it."""
    submitted, results, events = 0, [], []
    t = start
    while t < end:
        got = fleet.submit(samples.receipt(1, submitted), "shop", t)
        assert isinstance(got, int), got
        submitted += 1
        results += fleet.pump(t)
        settle()
        events += fleet.drain_events()
        t += step
    for _ in range(100):  # let the last batches finish
        results += fleet.pump(t)
        events += fleet.drain_events()
        if not fleet.pending():
            break
        t += 1
    return submitted, results, events


def shift_closes(drive: FiscalDrive) -> list[tuple[dt.datetime, int]]:
    """(1012, 1053) of every shift-close report of a drive."""
    out = []
    for fd in range(1, drive.state.next_fd):
        rec = drive.document(fd)
        if rec.form == 5:
            ((_form, nodes),) = tlv.decode(rec.tlv)
            values = dict(nodes)
            out.append((values[1012], values.get(1053, 0)))
    return out


def test_a_72_hour_outage_under_steady_load(tmp_path: pathlib.Path) -> None:
    fleet = make_fleet(tmp_path / "fleet", 2)
    serials = sorted(fleet.regs)
    drives = [fleet.drive(s) for s in serials]
    order = record_confirms(drives)
    emu = OfdEmulator(tmp_path / "ofd", secret=SECRET, durable=False)
    address = emu.start_in_thread()
    emu.call(emu.down_for(None))
    sender = OfdSender(lambda: drives, lambda d: address, operator_keys(SECRET), settings=FAST)
    sender.start_in_thread()
    try:
        step = 10 * 60
        submitted, results, events = simulate(fleet, T0, T0 + 72 * HOUR, step)
        assert len(results) == submitted and not [r for r in results if r.error]
        assert sender.totals().confirmed == 0 and sender.totals().errors > 0  # it kept trying
        assert all(c.warning and not c.blocked for c in sender.counters().values())
        # The one-day warning, per register, at the first pump a day after its oldest unsent document.
        day1 = {e.register: e.at for e in events if e.kind == EventKind.OFD_BACKLOG_1_DAY}
        assert set(day1) == set(serials)
        assert all(T0 + DAY <= at < T0 + DAY + step + 1 for at in day1.values()), day1
        assert not [e for e in events if e.kind in (EventKind.OFD_BACKLOG_7_DAYS, EventKind.REGISTER_BLOCKED)]
        # 1053 in the shift-close reports from a day of silence on, not before.
        for drive in drives:
            closes = shift_closes(drive)
            assert len(closes) >= 2
            for when, flag in closes:
                first_day = when < dt.datetime(2026, 6, 2, 10, 0)  # local time of T0 + 1 day
                assert flag == (0 if first_day else 1), (when, flag)
        total = unsent(drives)
        assert total == sum(d.state.next_fd - 1 for d in drives)  # nothing reached the OFD
        emu.call(emu.up())
        sender.notify()
        wait_for(lambda: unsent(drives) == 0 and sender.totals().confirmed == total)
        emu.call(_check(drives, emu, order))
        assert emu.stats.repeats == 0 and emu.stats.messages == total
    finally:
        sender.stop_thread()
        emu.stop_thread()
        fleet.close()


async def _check(drives: list[FiscalDrive], emu: OfdEmulator, order: dict[str, list[int]]) -> None:
    check_exactly_once(drives, emu, order)


def test_a_31_day_outage_blocks_one_register_on_day_30_and_the_fleet_routes_around_it(
    tmp_path: pathlib.Path,
) -> None:
    fleet = make_fleet(tmp_path / "fleet", 2)
    a, b = sorted(fleet.regs)
    drive_a, drive_b = fleet.drive(a), fleet.drive(b)
    emu = OfdEmulator(tmp_path / "ofd", secret=SECRET, durable=False)
    address = emu.start_in_thread()
    refused = socket.socket()  # bound and never listening: A's OFD refuses every connection
    refused.bind(("127.0.0.1", 0))
    endpoints: dict[str, Any] = {drive_a.fn_number: refused.getsockname(), drive_b.fn_number: address}
    sender = OfdSender(
        lambda: [drive_a, drive_b], lambda d: endpoints[d.fn_number], operator_keys(SECRET), settings=FAST
    )
    sender.start_in_thread()
    try:
        step = 2 * HOUR

        def b_is_confirmed() -> None:  # B's OFD works: its documents are confirmed as they are issued
            sender.notify()
            wait_for(lambda: unsent([drive_b]) == 0)

        submitted, results, events = simulate(fleet, T0, T0 + 31 * DAY, step, b_is_confirmed)
        assert len(results) == submitted and not [r for r in results if r.error]  # no receipt lost
        by_kind: dict[str, list[float]] = {}
        for e in events:
            if e.register == a:
                by_kind.setdefault(str(e.kind), []).append(e.at)
        for kind, days in (("ofd_backlog_1_day", 1), ("ofd_backlog_7_days", 7), ("ofd_backlog_25_days", 25)):
            assert T0 + days * DAY <= by_kind[kind][0] < T0 + days * DAY + step + 1, kind
        left = [e for e in events if e.register == a and e.kind == EventKind.LEFT_ROTATION and "ofd" in e.detail]
        assert left and T0 + 29 * DAY <= left[0].at < T0 + 29 * DAY + step + 1, left
        # After the drain every receipt went to B.
        late = [r for r in results if r.at > left[0].at + step]
        assert late and {r.register for r in late} == {b}
        assert not [e for e in events if e.register == b and "ofd" in str(e.kind)]
        # A's drive: blocked exactly from day 30 after its oldest unsent document (its registration, at T0).
        assert backlog(drive_a, T0 + 30 * DAY - 1).blocked is False
        assert backlog(drive_a, T0 + 30 * DAY).blocked is True
        assert sender.counters()[drive_a.fn_number].blocked
        with pytest.raises(OfdWaitExhausted):
            drive_a.status_report()
        assert unsent([drive_b]) == 0 and backlog(drive_b, T0 + 31 * DAY).unsent == 0
        # The OFD comes back: A is confirmed up and returns to rotation.
        endpoints[drive_a.fn_number] = address
        sender.notify()
        wait_for(lambda: unsent([drive_a]) == 0)
        t = T0 + 31 * DAY + step
        fleet.pump(t)
        back = [e for e in fleet.drain_events() if e.register == a and e.kind == EventKind.RETURNED_TO_ROTATION]
        assert back
        got = fleet.submit(samples.receipt(1, 10_000), "shop", t)
        assert isinstance(got, int)
        emu.call(_check_all(emu, [drive_a, drive_b]))
    finally:
        sender.stop_thread()
        emu.stop_thread()
        refused.close()
        fleet.close()


async def _check_all(emu: OfdEmulator, drives: list[FiscalDrive]) -> None:
    check_exactly_once(drives, emu)


# --------------------------------------------------------------------------- SIGKILL mid-send

CHILD = r"""
import asyncio, sys
from fiscal_core.drive.drive import FiscalDrive
from fiscal_core.drive.store import DriveStore
from fiscal_core.ofd.client import OfdSender, SenderSettings, new_event_loop, operator_keys

store = DriveStore(sys.argv[1])
drives = [FiscalDrive.open(store, fn) for fn in sorted(store.drive_ids())]
address = (sys.argv[2], int(sys.argv[3]))
settings = SenderSettings(poll_s=0.02, pipeline=8, chunk=4, backoff_initial_s=0.01, backoff_max_s=0.05)
sender = OfdSender(lambda: drives, lambda d: address, operator_keys(bytes.fromhex(sys.argv[4])), settings=settings)
print("ready", flush=True)
with asyncio.Runner(loop_factory=new_event_loop) as runner:
    runner.run(sender.run())
"""


def test_a_sender_killed_mid_send_loses_and_duplicates_nothing(tmp_path: pathlib.Path) -> None:
    clock = lambda: float(T0)  # noqa: E731
    made = make_drives(tmp_path, 3, 60, clock)
    total = unsent(made)
    made[0].store.close()
    emu = OfdEmulator(tmp_path / "ofd", secret=SECRET, faults=Faults(delay_s=0.005), durable=False)
    host, port = emu.start_in_thread()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "drives"), host, str(port), SECRET.hex()],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    store = None
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        wait_for(lambda: emu.stats.messages >= total // 3)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        assert child.returncode == -signal.SIGKILL
        store = DriveStore(tmp_path / "drives")
        drives = [FiscalDrive.open(store, fn, clock=clock) for fn in sorted(store.drive_ids())]
        left = unsent(drives)
        received = emu.call(_count(emu))
        assert 0 < left < total
        assert received > total - left, "documents were in flight: the OFD had them, the drives had no confirmation"
        order = record_confirms(drives)
        sender = OfdSender(lambda: drives, lambda d: (host, port), operator_keys(SECRET), settings=FAST)
        sender.start_in_thread()
        try:
            wait_for(lambda: unsent(drives) == 0 and sender.totals().confirmed == left)
        finally:
            sender.stop_thread()
        t = sender.totals()
        assert t.sent == left  # no document the drive had confirmed was sent again
        assert sum(c.duplicates for c in sender.counters().values()) == 0
        assert all(o == sorted(o) for o in order.values())
        emu.call(_check_all(emu, drives))
        assert emu.store.count() == total
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
        emu.stop_thread()
        if store is not None:
            store.close()


async def _count(emu: OfdEmulator) -> int:
    return emu.store.count()
