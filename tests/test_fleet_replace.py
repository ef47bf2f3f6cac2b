"""Issue 4 item 6 acceptance: replacing a register's drive in a running fleet — the old drive is closed (5, 6) and
stays readable and verifiable, the new one starts with the re-registration report (11, «замена ФН») as FD 1, and
the register carries on with its registration number and the new FN number. FFD 1.05 and 1.2.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from typing import Any

import pytest

from fiscal_core import samples
from fiscal_core.drive.archive import documents, verify
from fiscal_core.drive.drive import FiscalDrive
from fiscal_core.ffd import tlv
from fiscal_core.registers import EventKind
from fiscal_core.registers.fleet import Fleet, FleetEventKind, Result
from fiscal_core.registers.model import FleetFile, parse_tax_systems
from fiscal_core.registers.provision import add_registers

T0 = dt.datetime(2026, 6, 1, 7, 0, tzinfo=dt.UTC).timestamp()


def top(doc: bytes) -> dict[int, Any]:
    ((_form, nodes),) = tlv.decode(doc)
    return dict(nodes)


@pytest.mark.parametrize(("ffd", "code", "reason_tag"), [("1.05", 2, 1101), ("1.2", 4, 1205)])
def test_replace_drive_in_a_running_fleet(tmp_path: pathlib.Path, ffd: str, code: int, reason_tag: int) -> None:
    files = FleetFile(tmp_path)
    with files.edit() as model:
        model.add_tenant("shop", "pw", "7707083893", 'ООО "Магазин"', parse_tax_systems("osn"))
        model.add_group("shop", "shop", ffd, capabilities=["marked"] if ffd == "1.2" else [])
    add_registers(files, "shop", 2, profile="hardware", capacity=60, clock=lambda: T0)
    fleet = Fleet(tmp_path, T0)
    serial = next(iter(fleet.regs))
    before = fleet.drive(serial)
    old_fn, rnm = before.fn_number, before.identity.registration_number
    rs = [samples.receipt(1 + k % 2, k, ffd=code) for k in range(12)]
    results: list[Result] = []
    t = T0 + 10
    tickets = [fleet.submit(r, "shop", t) for r in rs[:4]]
    results += fleet.pump(t)
    results += fleet.pump(t + 1)
    tickets += [fleet.submit(r, "shop", t + 1) for r in rs[4:6]]
    assert all(isinstance(x, int) for x in tickets)
    # Mid-run: a batch being served on it, receipts queued behind. Nothing is lost.
    assert fleet.pending() > 0
    gone, fitted = fleet.replace_drive(serial, t + 1.5)
    assert gone == old_fn and fitted != old_fn and fitted.startswith("9999")
    t += 2
    tickets += [fleet.submit(r, "shop", t) for r in rs[6:8]]
    assert all(isinstance(x, int) for x in tickets), tickets
    while fleet.pending():
        results += fleet.pump(t)
        t += 0.5
    assert sorted(r.ticket for r in results) == sorted(tickets)  # type: ignore[type-var]
    assert all(r.ok for r in results)

    # The old drive: closed, shift closed first, archive verifies and holds what was issued on it.
    old = FiscalDrive.open(fleet.regs[serial].store.store, old_fn)
    report = verify(old)
    assert report.ok, report.error
    forms = [rec.form for _fd, rec in documents(old)]
    assert forms[0] == 1 and forms[-2:] == [5, 6] and old.state.phase == "closed"
    assert forms.count(3) == sum(1 for r in results if r.fn_number == old_fn) > 0
    # The new drive: FD 1 is the re-registration report «замена ФН», same register, numbering from 1.
    new = fleet.drive(serial)
    assert new.fn_number == fitted and new.identity.registration_number == rnm
    assert verify(new).ok
    first = top(new.document(1).tlv)
    assert new.document(1).form == 11
    assert (first[1040], first[1041], first[1037], first[1209], first[reason_tag]) == (1, fitted, rnm, code, 1)
    later = sorted(r.fd_number for r in results if r.fn_number == fitted)
    assert later == list(range(3, 3 + len(later)))  # FD 2 opened the shift, then the receipts
    assert all(r.registration_number == rnm for r in results if r.register == serial)
    # The model knows both drives; a restart opens the new one.
    m = FleetFile(tmp_path).load().registers[serial]
    assert m.drives == [old_fn, fitted] and m.fn_number == fitted
    events = fleet.drain_events()
    assert [e.register for e in events if e.kind == FleetEventKind.DRIVE_REPLACED] == [serial]
    fleet.close()
    again = Fleet(tmp_path, t)
    assert again.drive(serial).fn_number == fitted
    again.close()


def test_a_full_drive_is_replaced_and_the_register_returns(tmp_path: pathlib.Path) -> None:
    files = FleetFile(tmp_path)
    with files.edit() as model:
        model.add_tenant("shop", "pw", "7707083893", 'ООО "Магазин"', parse_tax_systems("osn"))
        model.add_group("shop", "shop", "1.2", capabilities=["marked"])
    small = add_registers(files, "shop", 1, capacity=20, clock=lambda: T0)[0].serial
    add_registers(files, "shop", 1, clock=lambda: T0)
    fleet = Fleet(tmp_path, T0)
    t = T0 + 1
    for k in range(60):
        fleet.submit(samples.receipt(1, k), "shop", t)
    fleet.pump(t)
    snap = {x.register: x for x in fleet.snapshot(t)["shop"].registers}
    assert not snap[small].in_rotation and "drive_full" in snap[small].reasons
    fleet.replace_drive(small, t + 5)
    snap = {x.register: x for x in fleet.snapshot(t + 5)["shop"].registers}
    assert snap[small].in_rotation and snap[small].reasons == () and snap[small].fill_percent < 50
    events = fleet.drain_events()
    assert any(e.kind == EventKind.RETURNED_TO_ROTATION and e.register == small for e in events)
    for k in range(10):
        fleet.submit(samples.receipt(1, 100 + k), "shop", t + 6)
    got = fleet.pump(t + 6)
    assert {r.register for r in got} == set(fleet.regs)
    fleet.close()
