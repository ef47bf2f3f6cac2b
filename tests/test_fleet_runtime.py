"""The fleet at run time (issue 4 items 2, 3, 5): submit → pump → fiscal data, group commit, service time,
refusals that never lose a receipt, health pushed into the dispatcher. Real drives, an injected clock.
"""

from __future__ import annotations

import datetime as dt
import math
import pathlib
from collections import Counter
from typing import Any

import msgspec
import pytest

from fiscal_core import samples
from fiscal_core.drive.archive import verify
from fiscal_core.drive.errors import StorageFull
from fiscal_core.drive.state import local_time
from fiscal_core.errors import InputError
from fiscal_core.ffd import tlv
from fiscal_core.ffd.enums import AgentType, ItemSubject
from fiscal_core.ffd.receipt import Agent
from fiscal_core.registers import EventKind, Reason, Refusal, UnknownGroup
from fiscal_core.registers import fleet as fleet_module
from fiscal_core.registers.fleet import Fleet, FleetEventKind, FleetSettings, Result
from fiscal_core.registers.model import FleetFile, parse_tax_systems, required_capabilities
from fiscal_core.registers.provision import add_registers

T0 = dt.datetime(2026, 6, 1, 7, 0, tzinfo=dt.UTC).timestamp()  # 10:00 Moscow
DAY = 86_400


def make_fleet(
    root: pathlib.Path,
    n: int = 3,
    *,
    ffd: str = "1.2",
    caps: tuple[str, ...] = ("marked",),
    profile: str = "emulated",
    settings: FleetSettings | None = None,
    **kw: Any,
) -> Fleet:
    files = FleetFile(root)
    with files.edit() as model:
        model.add_tenant("shop", "pw", "7707083893", 'ООО "Магазин"', parse_tax_systems("osn"))
        model.add_group("shop", "shop", ffd, capabilities=list(caps))
    add_registers(files, "shop", n, profile=profile, clock=lambda: T0, **kw)
    return Fleet(root, T0, settings=settings)


def receipts(count: int, ffd: int = 4, seed: int = 0) -> list[Any]:
    return [samples.receipt(1 + k % 3, seed + k, ffd=ffd) for k in range(count)]


def top(doc: bytes) -> dict[int, Any]:
    ((_form, nodes),) = tlv.decode(doc)
    return dict(nodes)


def drain(fleet: Fleet, t: float, limit: int = 1000) -> list[Result]:
    """Pump at the fleet's own wake-up times (and each second) until nothing is pending."""
    out: list[Result] = []
    for _ in range(limit):
        out += fleet.pump(t)
        if not fleet.pending():
            return out
        t = max(t, min(fleet.next_wakeup(), math.floor(t) + 1.0))
    raise AssertionError("the fleet did not finish")


def test_submit_and_pump_give_the_fiscal_data(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = make_fleet(tmp_path)
    commits: list[int] = []
    real = fleet_module._commit

    def counting(store: Any, batches: Any) -> None:
        commits.append(len(batches))
        real(store, batches)

    monkeypatch.setattr(fleet_module, "_commit", counting)
    rs = receipts(30)
    t = T0 + 17
    tickets = [fleet.submit(r, "shop", t, ref=("order", k)) for k, r in enumerate(rs)]
    assert all(isinstance(x, int) for x in tickets) and len(set(tickets)) == 30
    assert fleet.pending() == 30
    results = fleet.pump(t)
    assert fleet.pending() == 0
    # Three registers of one store: one durable commit carries the three batches.
    assert commits == [3]
    assert sorted(r.ticket for r in results) == sorted(tickets)  # type: ignore[type-var]
    model = FleetFile(tmp_path).load()
    by_reg = Counter(r.register for r in results)
    assert sorted(by_reg.values()) == [10, 10, 10]
    for r in results:
        k = r.ref[1]
        drive = fleet.drive(r.register)
        doc = top(drive.document(r.fd_number).tlv)
        assert r.ok and r.form == 3 and r.group == "shop" and r.at == t
        assert r.fn_number == drive.fn_number == doc[1041] == model.registers[r.register].fn_number
        assert r.registration_number == doc[1037] == model.registers[r.register].registration_number
        assert (doc[1040], doc[1038], doc[1042]) == (r.fd_number, r.shift_number, r.receipt_number)
        assert r.fiscal_sign == tlv.printed_fiscal_sign(doc[1077])
        assert r.when == doc[1012] == local_time(t, "Europe/Moscow")
        assert r.total == doc[1020] == rs[k].total
    for serial in by_reg:
        mine = sorted((r.fd_number, r.receipt_number) for r in results if r.register == serial)
        # FD 1 registration, FD 2 the shift opened in front of the first receipt, then receipts 1..10.
        assert mine == [(2 + i, i) for i in range(1, 11)]
        assert verify(fleet.drive(serial)).ok
    events = fleet.drain_events()
    assert sum(1 for e in events if e.kind == FleetEventKind.SHIFT_OPENED) == 3
    fleet.close()


def test_batches_are_bounded_and_each_register_is_serial(tmp_path: pathlib.Path) -> None:
    fleet = make_fleet(tmp_path, 2, settings=FleetSettings(max_batch=4))
    for r in receipts(20):
        fleet.submit(r, "shop", T0)
    sizes = []
    t = T0
    while fleet.pending():
        got = fleet.pump(t)
        sizes.append(Counter(r.register for r in got))
        t += 0.1
    # 10 receipts per register, at most 4 a batch: 4 + 4 + 2 over three pumps.
    assert len(sizes) == 3 and all(max(c.values()) <= 4 for c in sizes)
    fleet.close()


def test_a_hardware_register_is_busy_for_its_service_time(tmp_path: pathlib.Path) -> None:
    fleet = make_fleet(tmp_path, 1, profile="hardware")
    assert len(fleet.regs) == 1
    t = T0 + 100
    for r in receipts(3):
        assert isinstance(fleet.submit(r, "shop", t), int)
    assert fleet.pump(t) == []  # issued now, the result comes after a second of service
    assert fleet.next_wakeup() == t + 1
    assert fleet.pump(t + 0.99) == []
    got = fleet.pump(t + 1)
    assert [(r.receipt_number, r.at) for r in got] == [(1, t + 1)]
    assert fleet.pump(t + 1.5) == []
    assert [r.at for r in fleet.pump(t + 2)] == [t + 2]
    assert [r.at for r in fleet.pump(t + 3.2)] == [t + 3]
    assert fleet.pending() == 0
    snap = fleet.snapshot(t + 4)["shop"].registers[0]
    assert snap.service_time_s == pytest.approx(1.0)  # the dispatcher learnt the profile's speed
    fleet.close()


def test_a_bad_receipt_is_refused_at_submission_and_nothing_is_queued(tmp_path: pathlib.Path) -> None:
    fleet = make_fleet(tmp_path, 2, ffd="1.05", caps=())
    plain12 = next(r for r in (samples.receipt(3, k) for k in range(50)) if not any(i.marking for i in r.items))
    with pytest.raises(InputError):  # an FFD 1.2 receipt (2108) on an FFD 1.05 group
        fleet.submit(plain12, "shop", T0)
    with pytest.raises(UnknownGroup):
        fleet.submit(samples.receipt(2, 1, ffd=2), "elsewhere", T0)
    assert fleet.pending() == 0
    assert isinstance(fleet.submit(samples.receipt(2, 1, ffd=2), "shop", T0), int)
    assert fleet.pending() == 1
    fleet.close()


def test_a_receipt_needing_a_capability_the_group_lacks_is_refused_for_good(tmp_path: pathlib.Path) -> None:
    fleet = make_fleet(tmp_path, 2, caps=())
    marked = next(r for r in (samples.receipt(10, k) for k in range(50)) if any(i.marking for i in r.items))
    got = fleet.submit(marked, "shop", T0)
    assert isinstance(got, Refusal) and got.code == "no_capable_register" and not got.retryable
    assert "marked" in got.reason and fleet.pending() == 0
    plain = next(r for r in (samples.receipt(3, k) for k in range(50)) if not any(i.marking for i in r.items))
    assert isinstance(fleet.submit(plain, "shop", T0), int)
    fleet.close()


def test_a_prebuilt_body_is_issued_as_the_receipt_itself_would_be(tmp_path: pathlib.Path) -> None:
    fleet = make_fleet(tmp_path, 1)
    rs = receipts(6, seed=40)
    t = T0 + 5
    plain = [fleet.submit(r, "shop", t, ref=("plain", k)) for k, r in enumerate(rs)]
    pre = []
    for k, r in enumerate(rs):
        built = fleet.prebuild("shop", r)
        assert built is not None and built.group == "shop"
        pre.append(fleet.submit(built, "shop", t, ref=("pre", k)))
    assert all(isinstance(x, int) for x in plain + pre)
    results = drain(fleet, t)
    assert len(results) == 12 and all(r.ok for r in results)
    drive = fleet.drive(results[0].register)
    body = {r.ref: tlv.decode(drive.document(r.fd_number).tlv)[0][1] for r in results}
    for k, r in enumerate(rs):
        a, b = body[("plain", k)], body[("pre", k)]
        # Everything after the numbering block, 1038 and 1042 is the body: the same for both.
        assert a[8:] == b[8:] and dict(a)[1020] == dict(b)[1020] == r.total
        assert dict(a)[1042] != dict(b)[1042]
    assert verify(drive).ok
    fleet.close()


def test_prebuild_refuses_what_submit_refuses(tmp_path: pathlib.Path) -> None:
    fleet = make_fleet(tmp_path, 1, caps=())
    assert fleet.prebuild("elsewhere", receipts(1)[0]) is None
    marked = next(r for r in (samples.receipt(10, k) for k in range(50)) if any(i.marking for i in r.items))
    built = fleet.prebuild("shop", marked)
    assert built is not None and required_capabilities(marked) == {"marked"}
    got = fleet.submit(built, "shop", T0)  # the capabilities travel with the body
    assert isinstance(got, Refusal) and got.code == "no_capable_register" and "marked" in got.reason
    plain = next(r for r in (samples.receipt(3, k) for k in range(50)) if not any(i.marking for i in r.items))
    other = fleet.prebuild("shop", plain)
    assert other is not None
    with pytest.raises(ValueError, match="prebuilt for group 'elsewhere' submitted to 'shop'"):
        fleet.submit(other._replace(group="elsewhere"), "shop", T0)
    assert fleet.pending() == 0
    fleet.close()
    fleet105 = make_fleet(tmp_path / "v105", 1, ffd="1.05", caps=())
    with pytest.raises(InputError):  # an FFD 1.2 receipt (2108) on an FFD 1.05 group, as submit says
        fleet105.prebuild("shop", plain)
    fleet105.close()


def test_required_capabilities() -> None:
    r = samples.receipt(1, 3, ffd=2)
    assert required_capabilities(r) == frozenset()
    item = r.items[0]
    excise = msgspec.structs.replace(r, items=(msgspec.structs.replace(item, subject=ItemSubject.EXCISE_GOODS),))
    assert required_capabilities(excise) == {"excise"}
    agent = msgspec.structs.replace(r, agent=Agent(types=AgentType.PAYING_AGENT))
    assert required_capabilities(agent) == {"agent"}
    marked = msgspec.structs.replace(r, items=(msgspec.structs.replace(item, subject=ItemSubject.MARKED),))
    assert required_capabilities(marked) == {"marked"}


def test_a_drive_refusal_moves_the_receipts_and_takes_the_register_out(tmp_path: pathlib.Path) -> None:
    fleet = make_fleet(tmp_path, 3)
    t = T0 + 5
    first = [fleet.submit(r, "shop", t) for r in receipts(3)]
    assert len(fleet.pump(t)) == 3
    # Behind the fleet's back the drive of one register now has room for one more receipt only: the fleet's
    # own projection does not know, so the drive refuses (ArchiveFull, ФН 0x06) in the middle of a batch.
    victim = next(iter(fleet.regs))
    drive = fleet.drive(victim)
    drive.config = msgspec.structs.replace(drive.config, capacity=drive.state.next_fd + 2)
    rs = receipts(30, seed=100)
    tickets = [fleet.submit(r, "shop", t + 0.5) for r in rs]
    results = drain(fleet, t + 0.5)
    assert sorted(r.ticket for r in results) == sorted(tickets)  # type: ignore[type-var]
    assert all(r.ok for r in results)
    on_victim = [r for r in results if r.register == victim]
    assert len(on_victim) == 1  # it issued the one it had room for
    events = fleet.drain_events()
    refused = [e for e in events if e.kind == FleetEventKind.DRIVE_REFUSED]
    assert len(refused) == 1 and refused[0].register == victim and "0x06" in refused[0].detail
    snap = {x.register: x for x in fleet.snapshot(t + 1)["shop"].registers}
    assert not snap[victim].in_rotation and "drive_refused" in snap[victim].reasons
    # A full drive does not come back by itself (it waits for a new drive), even seconds later.
    drain(fleet, t + 60)
    assert not fleet.snapshot(t + 61)["shop"].registers[0].in_rotation
    for serial in fleet.regs:
        assert verify(fleet.drive(serial)).ok
    assert len(first) == 3
    fleet.close()


def test_a_failed_store_commit_loses_nothing_and_the_store_is_tried_again(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = make_fleet(tmp_path, 2, settings=FleetSettings(retry_s=5.0))
    real = fleet_module._commit
    failures = [1]

    def flaky(store: Any, batches: Any) -> None:
        if failures:
            failures.pop()
            raise StorageFull("drive storage is full, nothing was written: test")
        real(store, batches)

    monkeypatch.setattr(fleet_module, "_commit", flaky)
    t = T0 + 1
    tickets = [fleet.submit(r, "shop", t) for r in receipts(10)]
    assert fleet.pump(t) == []  # the commit failed: nothing written, every register of the store left rotation
    snap = fleet.snapshot(t)["shop"]
    assert not any(x.in_rotation for x in snap.registers)
    assert all("storage_failed" in x.reasons for x in snap.registers)
    assert fleet.pending() == 10
    got = isinstance(fleet.submit(samples.receipt(1, 99), "shop", t + 1), Refusal)
    assert got  # no register in rotation: new receipts wait with Retry-After
    assert fleet.pump(t + 4.5) == []
    results = drain(fleet, t + 5)
    assert sorted(r.ticket for r in results) == sorted(tickets)  # type: ignore[type-var]
    assert min(r.at for r in results) >= t + 5
    events = fleet.drain_events()
    assert [e.kind for e in events].count(FleetEventKind.STORAGE_FAILED) == 1
    for serial in fleet.regs:
        report = verify(fleet.drive(serial))
        assert report.ok and report.by_form.get(3, 0) == sum(1 for r in results if r.register == serial)
    fleet.close()


def test_health_is_reported_and_pushed_into_the_dispatcher(tmp_path: pathlib.Path) -> None:
    fleet = make_fleet(tmp_path, 2, capacity=100, validity_days=470)
    t = T0 + 3600
    for r in receipts(20):
        fleet.submit(r, "shop", t)
    fleet.pump(t)
    a, b = fleet.regs
    assert all(h.throughput > 0 and h.queue == 0 and h.in_rotation for h in fleet.health(t))
    fleet.drive(a).confirm(1, b"ack")
    health = {h.register: h for h in fleet.health(t + 600)}
    h = health[a]
    assert (h.documents, h.capacity, h.fill_percent) == (12, 100, 12.0)
    assert h.days_to_expiry == pytest.approx(470 - (3600 + 600) / DAY)
    assert h.unsent == 11 and h.oldest_unsent_age_s == 600  # FD 1 is confirmed, FD 2 on were issued at t
    assert health[b].unsent == 12 and health[b].oldest_unsent_age_s == 3600 + 600
    assert h.shift_open and h.shift_number == 1 and h.shift_age_s == 600
    assert h.shift_closes_at == dt.datetime(2026, 6, 1, 23, 55)
    assert health[b].shift_closes_at == dt.datetime(2026, 6, 1, 23, 55, 10)  # the next in the stagger
    # Pushed into the dispatcher: the fill counts the queue (a routed receipt is as good as issued), so the
    # registers are drained (99 %: 99 documents with the 2 kept for a shift open and close) before the drives
    # are full, and the receipts past that wait with Retry-After instead of meeting a refusing drive.
    outcomes = [fleet.submit(r, "shop", t + 601) for r in receipts(200, seed=50)]
    accepted = [x for x in outcomes if isinstance(x, int)]
    refused = [x for x in outcomes if isinstance(x, Refusal)]
    assert len(accepted) == 2 * (99 - 2 - 12)
    assert refused and all(x.code == "no_register_in_rotation" and x.retryable for x in refused)
    snaps = {x.register: x for x in fleet.snapshot(t + 601)["shop"].registers}
    assert snaps[a].fill_percent == pytest.approx(99.0) and not snaps[a].in_rotation
    results = drain(fleet, t + 601)
    assert len(results) == len(accepted) and all(r.ok for r in results)
    assert {fleet.drive(x).state.next_fd - 1 for x in (a, b)} == {97}
    events = fleet.drain_events()
    assert {e.register for e in events if e.kind == EventKind.DRIVE_FILL_90} == {a, b}
    assert not [e for e in events if e.kind == FleetEventKind.DRIVE_REFUSED]
    fleet.close()


def test_an_expiring_drive_is_drained_before_it_refuses(tmp_path: pathlib.Path) -> None:
    files = FleetFile(tmp_path)
    with files.edit() as model:
        model.add_tenant("shop", "pw", "7707083893", 'ООО "Магазин"', parse_tax_systems("osn"))
        model.add_group("shop", "shop", "1.2", capabilities=["marked"])
    short = add_registers(files, "shop", 1, validity_days=3, clock=lambda: T0)[0].serial
    add_registers(files, "shop", 2, clock=lambda: T0)
    fleet = Fleet(tmp_path, T0)
    seen: list[Any] = []
    results: list[Result] = []
    t = T0
    for hour in range(1, 4 * 24):
        t = T0 + hour * 3600.0
        for r in receipts(3, seed=hour):
            assert isinstance(fleet.submit(r, "shop", t), int)
        results += drain(fleet, t)
        seen += fleet.drain_events()
    on_short = [r.at - T0 for r in results if r.register == short]
    assert on_short and max(on_short) < 2 * DAY + 3600  # drained at a day of key life left
    kinds = [e.kind for e in seen if e.register == short]
    assert EventKind.EXPIRY_3_DAYS in kinds
    left = [
        e for e in seen if e.kind == EventKind.LEFT_ROTATION and e.register == short and "drive_expiring" in e.detail
    ]
    assert left and left[0].at - T0 == pytest.approx(2 * DAY, abs=3600)
    assert not [e for e in seen if e.kind == FleetEventKind.DRIVE_REFUSED]  # the drive never had to refuse
    assert all(r.ok for r in results) and len(results) == 3 * (4 * 24 - 1)
    assert Reason.DRIVE_EXPIRING in {x for x in fleet.snapshot(t)["shop"].registers[0].reasons}
    fleet.close()


def test_callbacks_receive_results_and_events(tmp_path: pathlib.Path) -> None:
    files = FleetFile(tmp_path)
    with files.edit() as model:
        model.add_tenant("shop", "pw", "7707083893", 'ООО "Магазин"', parse_tax_systems("osn"))
        model.add_group("shop", "shop", "1.2", capabilities=["marked"])
    add_registers(files, "shop", 1, clock=lambda: T0)
    got: list[Result] = []
    events: list[Any] = []
    fleet = Fleet(tmp_path, T0, on_result=got.append, on_event=events.append)
    ticket = fleet.submit(samples.receipt(2, 1), "shop", T0)
    returned = fleet.pump(T0)
    assert [r.ticket for r in got] == [r.ticket for r in returned] == [ticket]
    assert [e.kind for e in events] == [FleetEventKind.SHIFT_OPENED]
    assert fleet.drain_events() == []
    fleet.close()


def test_registers_provisioned_while_running_are_picked_up(tmp_path: pathlib.Path) -> None:
    fleet = make_fleet(tmp_path, 1)
    files = FleetFile(tmp_path)
    with files.edit() as model:
        model.add_group("shop", "other", "1.05")
    # Another process (the CLI) adds to a new shard; in this process, through the fleet (its stores are open).
    other = add_registers(files, "other", 1, clock=lambda: T0)
    assert fleet.refresh(T0 + 1) == [other[0].serial]
    added = fleet.add_registers("shop", 2, T0 + 1)
    assert len(added) == 2 and {fleet.regs[s].store for s in added} == {fleet.regs[next(iter(fleet.regs))].store}
    assert fleet.refresh(T0 + 2) == []
    plain = samples.receipt(2, 3, ffd=2)
    assert isinstance(fleet.submit(plain, "other", T0 + 2), int)
    for r in receipts(9):
        fleet.submit(r, "shop", T0 + 2)
    got = fleet.pump(T0 + 2)
    assert len(got) == 10 and len({r.register for r in got}) == 4
    assert FleetFile(tmp_path).load().authenticate("shop", "pw") is not None
    assert FleetFile(tmp_path).load().authenticate("shop", "nope") is None
    fleet.close()
