"""Issue 6 items 2–4 over real TCP on 127.0.0.1 (free ports): the OFD emulator, the sender, real drives.

What every end-to-end case checks at the end (:func:`check_exactly_once`), computed from the drives and the
emulator's LMDB store, not from the sender's counters: each drive's outbox is empty; every FD 1..n has one
stored confirmation that verifies under the drive's operator key; the emulator holds each FD exactly once, with
the drive's exact document bytes and message sign, and they first arrived in FD order; the drive stored the
confirmations in FD order (a recorder around ``confirm_many``).

Faults are injected into the emulator (:class:`Faults`) or the bytes (a raw socket), with a seeded generator.
Every test stops the servers, tasks, threads and LMDB environments it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import replace
from typing import Any

import pytest
from conftest import ROOT

from fiscal_core import samples
from fiscal_core.crypto.sign import operator_key
from fiscal_core.drive.drive import FiscalDrive, make_fn_number
from fiscal_core.drive.errors import OfdWaitExhausted, WrongState
from fiscal_core.drive.state import DAY
from fiscal_core.drive.store import DriveStore
from fiscal_core.ffd import tlv
from fiscal_core.ofd import protocol as P
from fiscal_core.ofd.client import Endpoint, OfdSender, SenderSettings, backlog, new_event_loop, operator_keys
from fiscal_core.ofd.emulator import Faults, OfdEmulator

T0 = int(dt.datetime(2026, 6, 1, 6, 0, 17, tzinfo=dt.UTC).timestamp())
SECRET = bytes(range(32))
FAST = SenderSettings(
    poll_s=0.02,
    backoff_initial_s=0.005,
    backoff_max_s=0.05,
    answer_timeout_s=3.0,
    stop_grace_s=2.0,
    pipeline=32,
    chunk=16,
)


class Clock:
    def __init__(self, t: int = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return float(self.t)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(coro)


def make_drives(root: pathlib.Path, count: int, receipts: int, clock: Callable[[], float]) -> list[FiscalDrive]:
    """``count`` registered drives in one store, each with a shift open and ``receipts`` receipts."""
    store = DriveStore(root / "drives")
    drives = []
    for k in range(count):
        ident = samples.identity(make_fn_number(k + 1), ffd=4 if k % 2 == 0 else 2)
        drive = FiscalDrive.create(store, ident, clock=clock)
        drive.open_shift("Кассир Иванова")
        if receipts:
            source = samples.receipts(receipts, n_items=2, seed=k, ffd=int(ident.ffd_version))
            drive.append_many([(3, r) for r in source])
        drives.append(drive)
    return drives


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def drives(tmp_path: pathlib.Path, clock: Clock) -> Any:
    made = make_drives(tmp_path, 3, 40, clock)
    yield made
    made[0].store.close()


def record_confirms(drives: list[FiscalDrive]) -> dict[str, list[int]]:
    """FD numbers each drive stored a confirmation for, in the order it stored them."""
    order: dict[str, list[int]] = {}
    for drive in drives:
        seen = order[drive.fn_number] = []
        real = drive.confirm_many

        def wrapped(items: Any, real: Any = real, seen: list[int] = seen, **kw: Any) -> Any:
            results = real(items, **kw)
            seen.extend(fd for (fd, _), r in zip(items, results, strict=False) if r is True)
            return results

        drive.confirm_many = wrapped  # type: ignore[method-assign]
    return order


def check_exactly_once(
    drives: list[FiscalDrive],
    emu: OfdEmulator,
    order: dict[str, list[int]] | None = None,
    *,
    stored_in_order: bool = True,
) -> None:
    for drive in drives:
        n = drive.state.next_fd - 1
        assert drive.outbox() == [], drive.fn_number
        key = operator_key(SECRET, drive.fn_number)
        for fd in range(1, n + 1):
            with drive.store.read() as txn:
                conf = drive.store.get_confirmation(txn, drive.drive_id, fd)
            assert conf is not None, (drive.fn_number, fd)
            assert drive.verify_confirmation(fd, conf, key).fd_number == fd
        got = list(emu.store.documents(drive.fn_number))
        assert [fd for _, fd, _ in got] == list(range(1, n + 1)), drive.fn_number
        seqs = [r.seq for _, _, r in got]
        # Sent in FD order, stored at first arrival; a document the OFD refused is stored when it comes again.
        assert seqs == sorted(seqs) or not stored_in_order, "the documents were stored in FD order"
        for _, fd, received in got:
            rec = drive.document(fd)
            assert (received.document, received.message_sign) == (rec.tlv, rec.message_sign)
        if order is not None:
            assert order[drive.fn_number] == list(range(1, n + 1)), "confirmations stored in FD order, once each"


async def until(pred: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or pred}")
        await asyncio.sleep(0.01)


def unsent(drives: list[FiscalDrive]) -> int:
    return sum(len(d.outbox()) for d in drives)


@contextlib.asynccontextmanager
async def rig(
    tmp_path: pathlib.Path,
    drives: list[FiscalDrive],
    *,
    faults: Faults | None = None,
    settings: SenderSettings = FAST,
    endpoint: Callable[[FiscalDrive], Any] | None = None,
    key: Callable[[FiscalDrive], bytes | None] | None = None,
    clock: Callable[[], float] | None = None,
    start_sender: bool = True,
) -> AsyncIterator[tuple[OfdEmulator, OfdSender]]:
    emu = OfdEmulator(tmp_path / "ofd", secret=SECRET, faults=faults, durable=False)
    address = await emu.start()
    sender = OfdSender(
        lambda: drives,
        endpoint or (lambda d: address),
        key or operator_keys(SECRET),
        settings=settings,
        clock=clock,
        seed=7,
    )
    task = asyncio.create_task(sender.run()) if start_sender else None
    try:
        yield emu, sender
    finally:
        await sender.stop()
        if task is not None:
            await task
        await emu.stop()


# --------------------------------------------------------------------------- the plain path


def test_every_document_is_confirmed_once_in_fd_order(tmp_path: pathlib.Path, drives: list[FiscalDrive]) -> None:
    order = record_confirms(drives)
    total = unsent(drives)
    assert total == 3 * 42  # registration, shift open, 40 receipts each

    async def main() -> None:
        async with rig(tmp_path, drives) as (emu, sender):
            await until(lambda: sender.totals().confirmed == total, what="all confirmations")
            check_exactly_once(drives, emu, order)
            t = sender.totals()
            assert (t.sent, t.confirmed, t.errors, t.unsent) == (total, total, 0, 0)
            assert (emu.stats.accepted, emu.stats.repeats, emu.stats.answers) == (total, 0, total)
            fn = drives[0].fn_number
            await until(lambda: sender.counters()[fn].oldest_unsent_fd is None, what="the scan after the round")
            c = sender.counters()[fn]
            assert c.connected and c.unsent == 0 and not c.warning and not c.blocked
            # New documents go out without a restart, on the same connection.
            ffd = int(drives[1].identity.ffd_version)
            issued = drives[1].append_many([(3, r) for r in samples.receipts(5, n_items=1, seed=99, ffd=ffd)])
            assert all(i.fd_number for i in issued)  # type: ignore[union-attr]
            sender.notify()
            await until(lambda: sender.totals().confirmed == total + 5, what="the new documents")
            assert emu.stats.connections == 3
            check_exactly_once(drives, emu, order)

    run(main())


@pytest.mark.parametrize(
    "endpoint",
    [Endpoint("", 0, pipeline=1), Endpoint("", 0, persistent=False), Endpoint("", 0, session_crc=P.CRC_NONE)],
    ids=["one-at-a-time", "connection-per-document", "no-session-crc"],
)
def test_endpoints_that_do_not_pipeline(tmp_path: pathlib.Path, drives: list[FiscalDrive], endpoint: Endpoint) -> None:
    order = record_confirms(drives)
    total = unsent(drives)
    box: dict[str, Any] = {}

    async def main() -> None:
        async with rig(tmp_path, drives, endpoint=lambda d: box["ep"]) as (emu, sender):
            host, port = emu.address  # type: ignore[misc]
            box["ep"] = endpoint._replace(host=host, port=port)
            sender.notify()
            await until(lambda: sender.totals().confirmed == total)
            check_exactly_once(drives, emu, order)
            assert sender.totals().errors == 0
            if not endpoint.persistent:
                assert emu.stats.connections >= total

    run(main())


# --------------------------------------------------------------------------- faults, each ends exactly once


@pytest.mark.parametrize(
    ("faults", "stat", "error"),
    [
        (Faults(drop=0.2, seed=1), "dropped", "closed the connection"),
        (Faults(truncate=0.2, seed=2), "truncated", "in the middle of a frame"),
        (Faults(corrupt_crc=0.2, seed=3), "corrupted", "container CRC: stored"),
        (Faults(bad_sign=0.2, seed=4), "bad_signs", "does not verify"),
        (Faults(reject=0.2, seed=5), "injected_rejects", "1022 = 14"),
    ],
    ids=["dropped-answers", "cut-mid-frame", "corrupted-crc", "bad-operator-sign", "rejected-14"],
)
def test_each_fault_ends_with_every_document_confirmed_once(
    tmp_path: pathlib.Path, drives: list[FiscalDrive], faults: Faults, stat: str, error: str
) -> None:
    order = record_confirms(drives)
    total = unsent(drives)

    async def main() -> None:
        async with rig(tmp_path, drives, faults=faults) as (emu, sender):
            done = lambda: unsent(drives) == 0 and sender.totals().confirmed == total  # noqa: E731
            await until(done, 60.0, "every document confirmed despite the fault")
            assert getattr(emu.stats, stat) > 0
            counters = sender.counters().values()
            assert sum(c.errors for c in counters) > 0
            assert any(error in c.last_error for c in counters), [c.last_error for c in counters]
            check_exactly_once(drives, emu, order, stored_in_order=stat != "injected_rejects")
            assert sum(c.duplicates for c in counters) == 0
            if stat == "bad_signs":
                assert sum(c.bad_signs for c in counters) > 0
            if stat == "injected_rejects":
                assert sum(c.rejected for c in counters) > 0
                assert any(reason.startswith("rejected on purpose") for _, _, reason in emu.store.refused())

    run(main())


def test_refused_connections_then_recovery(tmp_path: pathlib.Path, drives: list[FiscalDrive]) -> None:
    order = record_confirms(drives)

    async def main() -> None:
        async with rig(tmp_path, drives, faults=Faults(refuse=True)) as (emu, sender):
            await until(lambda: sender.totals().errors >= 6, what="refusals")
            assert sender.totals().confirmed == 0 and emu.stats.refused_connections > 0 and emu.stats.messages == 0
            emu.set_faults(refuse=False)
            await until(lambda: unsent(drives) == 0)
            check_exactly_once(drives, emu, order)

    run(main())


def test_down_for_a_period_then_back_by_itself(tmp_path: pathlib.Path, drives: list[FiscalDrive]) -> None:
    order = record_confirms(drives)

    async def main() -> None:
        async with rig(tmp_path, drives, start_sender=False) as (emu, sender):
            await emu.down_for(0.4)
            assert emu.is_down
            task = asyncio.create_task(sender.run())
            await until(lambda: sender.totals().errors >= 3, what="refused connects")
            assert any("cannot connect" in c.last_error for c in sender.counters().values())
            await until(lambda: unsent(drives) == 0)
            assert not emu.is_down
            check_exactly_once(drives, emu, order)
            await sender.stop()
            await task

    run(main())


def test_slow_answers_time_out_and_are_sent_again(tmp_path: pathlib.Path, drives: list[FiscalDrive]) -> None:
    order = record_confirms(drives)
    impatient = replace(FAST, answer_timeout_s=0.1)  # type: ignore[type-var]

    async def main() -> None:
        async with rig(tmp_path, drives, faults=Faults(delay_s=0.3), settings=impatient) as (emu, sender):
            await until(lambda: sender.totals().errors >= 3, what="timeouts")
            assert any("no answer from the OFD" in c.last_error for c in sender.counters().values())
            emu.set_faults(delay_s=0.02)  # slower than usual, within the timeout
            await until(lambda: unsent(drives) == 0)
            check_exactly_once(drives, emu, order)
            assert emu.stats.repeats > 0  # stored on the first try, confirmed on a later one

    run(main())


def test_a_bad_operator_sign_leaves_the_document_unconfirmed(tmp_path: pathlib.Path, drives: list[FiscalDrive]) -> None:
    before = {d.fn_number: d.outbox() for d in drives}

    async def main() -> None:
        async with rig(tmp_path, drives, faults=Faults(bad_sign=1.0)) as (emu, sender):
            await until(lambda: sum(c.bad_signs for c in sender.counters().values()) >= 6, what="bad signs")
            # The OFD stored everything it got, the drives took no confirmation.
            assert {d.fn_number: d.outbox() for d in drives} == before
            assert emu.stats.accepted > 0
            emu.set_faults(bad_sign=0.0)
            await until(lambda: unsent(drives) == 0)
            check_exactly_once(drives, emu)
            assert emu.stats.repeats > 0

    run(main())


def test_a_sender_with_the_wrong_operator_key_confirms_nothing(
    tmp_path: pathlib.Path, drives: list[FiscalDrive]
) -> None:
    before = unsent(drives)

    async def main() -> None:
        async with rig(tmp_path, drives, key=operator_keys(bytes(32))) as (_emu, sender):
            await until(lambda: sender.totals().errors >= 6)
            assert unsent(drives) == before and sender.totals().confirmed == 0
            assert all("does not verify" in c.last_error for c in sender.counters().values())

    run(main())


def test_no_endpoint_or_no_key_sends_nothing_and_says_why(tmp_path: pathlib.Path, drives: list[FiscalDrive]) -> None:
    async def main() -> None:
        async with rig(
            tmp_path,
            drives,
            endpoint=lambda d: None if d is drives[0] else ("127.0.0.1", 1),
            key=lambda d: None,
        ) as (emu, sender):
            await until(lambda: len(sender.counters()) == 3 and all(c.last_error for c in sender.counters().values()))
            errors = {fn: c.last_error for fn, c in sender.counters().items()}
            assert "no OFD endpoint" in errors[drives[0].fn_number]
            assert "no operator key" in errors[drives[1].fn_number]
            assert sender.totals().sent == 0 and emu.stats.connections == 0

    run(main())


# --------------------------------------------------------------------------- the emulator's side, byte by byte


async def _exchange(address: tuple[str, int], data: bytes, *, eof: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(data)
        if eof:
            writer.write_eof()
        return await asyncio.wait_for(reader.read(), 10.0)
    finally:
        writer.close()
        await writer.wait_closed()


def _frame(drive: FiscalDrive, fd: int, document: bytes | None = None, crc_mode: int = P.CRC_HEADER) -> bytes:
    rec = drive.document(fd)
    return P.document_message(drive.fn_number, fd, document or rec.tlv, rec.message_sign, crc_mode=crc_mode)


def _answers(data: bytes) -> list[P.Message]:
    reader = P.MessageReader()
    reader.feed(data)
    out = list(reader)
    assert reader.buffered == 0
    return out


def test_format_check_failures_are_answered_14_and_undecodable_ones_11(
    tmp_path: pathlib.Path, drives: list[FiscalDrive]
) -> None:
    drive = drives[0]
    key = operator_key(SECRET, drive.fn_number)
    rec = drive.document(3)
    ((form, nodes),) = tlv.decode(rec.tlv)
    total = dict(nodes)[1020]
    bad_sum = tlv.encode([(form, [(t, total + 1 if t == 1020 else v) for t, v in nodes])])
    no_1077 = tlv.encode([(form, [(t, v) for t, v in nodes if t != 1077])])
    undecodable = rec.tlv[:4] + b"\x99\x99" + rec.tlv[6:]  # an unknown tag right after the document header

    async def main() -> None:
        async with rig(tmp_path, drives, start_sender=False) as (emu, _sender):
            assert emu.address is not None
            stream = b"".join(_frame(drive, 3, doc) for doc in (bad_sum, no_1077, undecodable))
            answers = _answers(await _exchange(emu.address, stream))
            codes = []
            for msg in answers:
                assert msg.container is not None and msg.container.header.fd_number == 3
                conf = P.decode_confirmation(msg.container.document)
                codes.append(conf.code)
                # A refusal is signed like a confirmation: the drive sees "rejected", not a forgery.
                with pytest.raises(P.ConfirmationError) as info:
                    drive.verify_confirmation(3, msg.container.document, key)
                assert info.value.reason == "rejected"
            assert codes == [14, 14, 11]
            reasons = [reason for _, _, reason in emu.store.refused()]
            assert "payments add up" in reasons[0] and "1077" in reasons[1] and "does not decode" in reasons[2]
            assert emu.store.count() == 0 and (emu.stats.rejected, emu.stats.unrecognised) == (2, 1)

    run(main())


def test_a_corrupted_crc_from_the_register_closes_the_connection_unanswered(
    tmp_path: pathlib.Path, drives: list[FiscalDrive]
) -> None:
    drive = drives[0]
    good = _frame(drive, 1)
    bad = bytearray(_frame(drive, 2))
    bad[30 + 40] ^= 0x01  # a document byte: the container CRC no longer matches

    async def main() -> None:
        async with rig(tmp_path, drives, start_sender=False) as (emu, _sender):
            assert emu.address is not None
            answers = _answers(await _exchange(emu.address, good + bytes(bad) + _frame(drive, 3), eof=False))
            assert [m.container.header.fd_number for m in answers] == [1]  # type: ignore[union-attr]
            assert emu.stats.crc_errors == 1 and "container CRC" in emu.stats.last_error
            # A frame cut in the middle, then EOF: nothing stored, nothing answered.
            assert await _exchange(emu.address, _frame(drive, 4)[:50]) == b""
            assert [fd for _, fd, _ in emu.store.documents(drive.fn_number)] == [1]

    run(main())


def test_a_repeat_gets_the_stored_confirmation_and_a_conflict_is_refused(
    tmp_path: pathlib.Path, drives: list[FiscalDrive]
) -> None:
    drive = drives[0]
    rec = drive.document(3)
    at = rec.tlv.index(b"\x35\x04\x06\x00") + 9  # the last byte of 1077: the format check does not see it
    other = rec.tlv[:at] + bytes((rec.tlv[at] ^ 1,)) + rec.tlv[at + 1 :]

    async def main() -> None:
        async with rig(tmp_path, drives, start_sender=False) as (emu, _sender):
            assert emu.address is not None
            first = _answers(await _exchange(emu.address, _frame(drive, 3)))
            emu.clock = lambda: time.time() + 3600  # a later answer would carry another 1012...
            again = _answers(await _exchange(emu.address, _frame(drive, 3)))
            assert again[0].container == first[0].container  # ...but a repeat gets the stored one
            conflict = _answers(await _exchange(emu.address, _frame(drive, 3, other)))
            assert P.decode_confirmation(conflict[0].container.document).code == 14  # type: ignore[union-attr]
            assert (emu.stats.accepted, emu.stats.repeats) == (1, 1)
            (stored,) = list(emu.store.documents(drive.fn_number))
            assert stored[2].times == 2 and stored[2].document == rec.tlv

    run(main())


def test_admin_endpoint_sets_faults_and_takes_the_ofd_down(tmp_path: pathlib.Path, drives: list[FiscalDrive]) -> None:
    async def main() -> None:
        async with rig(tmp_path, drives, start_sender=False) as (emu, _sender):
            admin = await emu.start_admin()
            reader, writer = await asyncio.open_connection(*admin)

            async def ask(command: dict[str, Any]) -> dict[str, Any]:
                writer.write(json.dumps(command).encode() + b"\n")
                reply: dict[str, Any] = json.loads(await reader.readline())
                return reply

            try:
                got = await ask({"faults": {"reject": 0.5, "delay_s": 0.1, "seed": 3}})
                assert got["ok"] and got["faults"]["reject"] == 0.5 and emu.faults.delay_s == 0.1
                assert (await ask({"faults": {"nonsense": 1}}))["ok"] is False
                assert (await ask({"down": None}))["down"] is True
                assert emu.address is not None
                with pytest.raises(OSError):
                    await asyncio.open_connection(*emu.address)
                assert (await ask({"up": True}))["down"] is False
                assert "stats" in await ask({})
                _r, w = await asyncio.open_connection(*emu.address)
                w.close()
                await w.wait_closed()
            finally:
                writer.close()
                await writer.wait_closed()

    run(main())


def test_faults_parse_from_the_command_line() -> None:
    f = Faults.parse("reject=0.1,delay_s=0.5,refuse=1,seed=4")
    assert (f.reject, f.delay_s, f.refuse, f.seed) == (0.1, 0.5, True, 4)
    assert Faults.parse('{"drop": 0.25}').drop == 0.25
    for bad in ("reject=2", "nope=1", "reject"):
        with pytest.raises(ValueError):
            Faults.parse(bad)


# --------------------------------------------------------------------------- restarts and the drive's own checks


def test_a_restarted_sender_resumes_and_never_resends_a_confirmed_document(
    tmp_path: pathlib.Path, drives: list[FiscalDrive]
) -> None:
    order = record_confirms(drives)
    total = unsent(drives)
    slow = replace(FAST, pipeline=4, chunk=2)  # type: ignore[type-var]

    async def main() -> None:
        async with rig(tmp_path, drives, faults=Faults(delay_s=0.01), settings=slow, start_sender=False) as (emu, _s):
            first = OfdSender(lambda: drives, lambda d: emu.address, operator_keys(SECRET), settings=slow)
            task = asyncio.create_task(first.run())
            await until(lambda: first.totals().confirmed >= total // 3)
            await first.stop()  # in-flight answers are awaited and stored
            await task
            done = first.totals().confirmed
            assert 0 < done < total and unsent(drives) == total - done
            second = OfdSender(lambda: drives, lambda d: emu.address, operator_keys(SECRET), settings=FAST)
            task = asyncio.create_task(second.run())
            await until(lambda: unsent(drives) == 0)
            await second.stop()
            await task
            assert second.totals().sent == total - done  # nothing confirmed went again
            assert emu.stats.repeats == 0 and emu.stats.messages == total
            check_exactly_once(drives, emu, order)

    run(main())


def test_confirm_many_stops_at_the_first_confirmation_that_fails(drives: list[FiscalDrive]) -> None:
    drive = drives[0]
    key = operator_key(SECRET, drive.fn_number)
    signer = P.OperatorSigner(key)

    def conf(fd: int, code: int = 0, ms: bytes | None = None) -> bytes:
        head = P.confirmation_head("7704358518", drive.fn_number, fd, T0, code)
        sign = drive.document(fd).message_sign if ms is None else ms
        return P.encode_confirmation(head, signer.sign(head + sign))

    results = drive.confirm_many([(1, conf(1)), (2, conf(2, 14)), (3, conf(3))], operator_key=key)
    assert results[0] is True and len(results) == 2 and isinstance(results[1], P.ConfirmationError)
    assert [fd for fd, _ in drive.outbox()][:2] == [2, 3]
    with pytest.raises(P.ConfirmationError):
        drive.confirm(2, conf(2, ms=b"\x81\x06" + bytes(6)), operator_key=key)
    with pytest.raises(WrongState):
        drive.confirm(999, conf(999, ms=b""), operator_key=key)
    assert drive.confirm(2, conf(2), operator_key=key) is True
    assert drive.confirm_many([(2, conf(2)), (3, conf(3))], operator_key=key) == [False, True]
    assert drive.confirm(4, b"unchecked") is True  # without a key the drive stores what it is given (as before)


def test_the_sender_runs_in_its_own_thread_beside_a_thread_issuing_documents(
    tmp_path: pathlib.Path, drives: list[FiscalDrive]
) -> None:
    """The embedding ``fiscal-core serve`` uses: emulator and sender each on a loop thread, the fleet's
    thread issuing documents on the same drives meanwhile (drive lock + LMDB writer lock)."""
    emu = OfdEmulator(tmp_path / "ofd", secret=SECRET, durable=False)
    address = emu.start_in_thread()
    sender = OfdSender(lambda: drives, lambda d: address, operator_keys(SECRET), settings=FAST)
    sender.start_in_thread()
    stop = threading.Event()
    issued = [0]

    def issue() -> None:
        source = samples.receipts(20, n_items=1, seed=5)
        while not stop.is_set() and issued[0] < 300:
            for drive in drives:
                drive.append_many([(3, r) for r in source[: 1 + issued[0] % 3]])
                issued[0] += 1 + issued[0] % 3
            sender.notify()

    worker = threading.Thread(target=issue)
    worker.start()
    try:
        worker.join(60)
        deadline = time.monotonic() + 60
        while unsent(drives) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert unsent(drives) == 0
        assert sender.totals().errors == 0
        emu.call(_check(drives, emu))
    finally:
        stop.set()
        worker.join()
        sender.stop_thread()
        emu.stop_thread()


async def _check(drives: list[FiscalDrive], emu: OfdEmulator) -> None:
    check_exactly_once(drives, emu)


# --------------------------------------------------------------------------- backlog and the 30-day rule


def test_backlog_warns_after_a_day_and_blocks_exactly_at_30_days(tmp_path: pathlib.Path) -> None:
    clock = Clock()
    (drive,) = make_drives(tmp_path, 1, 0, clock)  # FD 1 registration, FD 2 shift open, both at T0
    closed = socket.socket()  # bound, never listening: connections to it are refused
    closed.bind(("127.0.0.1", 0))
    try:
        box = {"ep": closed.getsockname()}

        async def main() -> None:
            async with rig(tmp_path, [drive], endpoint=lambda d: box["ep"], clock=clock) as (emu, sender):

                async def state(at: int) -> Any:
                    clock.t = at
                    sender.notify()
                    await until(lambda: sender.counters().get(drive.fn_number, None) is not None)
                    await asyncio.sleep(0.1)  # one more scan at this time
                    c = sender.counters()[drive.fn_number]
                    b = backlog(drive, at)
                    assert (c.unsent, c.oldest_unsent_fd, c.warning, c.blocked) == b[:2] + b[4:]
                    return b

                b = await state(T0 + DAY - 1)
                assert (b.unsent, b.oldest_fd, b.oldest_utc, b.warning, b.blocked) == (2, 1, T0, False, False)
                assert not drive.warnings().ofd_timeout
                b = await state(T0 + DAY)
                assert b.warning and not b.blocked and drive.warnings().ofd_timeout  # 1053 from here on
                b = await state(T0 + 30 * DAY - 1)
                assert not b.blocked
                drive.close_shift()  # (a shift lasts 24 hours at most)
                drive.open_shift()
                drive.receipt(samples.receipt(1, 1))  # the drive still issues at 30 days minus a second
                clock.t += 1  # now exactly 30 days after FD 1
                b = await state(clock.t)
                assert b.blocked and b.unsent == 5
                with pytest.raises(OfdWaitExhausted):
                    drive.receipt(samples.receipt(1, 2))
                assert drive.close_shift().form == 5  # the closes still pass (the drive can be replaced)
                box["ep"] = emu.address  # type: ignore[assignment]
                sender.notify()
                await until(lambda: unsent([drive]) == 0)
                b = await state(clock.t)
                assert not b.blocked and not b.warning and b.unsent == 0
                drive.open_shift()  # unblocked
                assert sender.counters()[drive.fn_number].errors > 0  # it kept trying the closed port

        run(main())
    finally:
        closed.close()
        drive.store.close()


def test_at_most_max_drives_exchange_at_once(tmp_path: pathlib.Path, drives: list[FiscalDrive]) -> None:
    order = record_confirms(drives)
    one = replace(FAST, max_drives=1, pipeline=4, chunk=2)
    active = [0, 0]  # now, most

    async def main() -> None:
        async with rig(tmp_path, drives, settings=one, faults=Faults(delay_s=0.002), start_sender=False) as (emu, s):
            real = s._round

            async def counted(w: Any) -> None:
                active[0] += 1
                active[1] = max(active)
                try:
                    await real(w)
                finally:
                    active[0] -= 1

            s._round = counted  # type: ignore[method-assign]
            task = asyncio.create_task(s.run())
            await until(lambda: unsent(drives) == 0 and s.totals().confirmed == 3 * 42)
            await s.stop()
            await task
            check_exactly_once(drives, emu, order)

    run(main())
    assert active[1] == 1


def test_the_command_line_emulator_serves_until_sigterm(tmp_path: pathlib.Path, drives: list[FiscalDrive]) -> None:
    code = "import sys; from fiscal_core.cli import ofd_cmd; import argparse\n" + (
        "p = argparse.ArgumentParser(); ofd_cmd.register(p.add_subparsers()); a = p.parse_args(sys.argv[1:]);"
        " sys.exit(a.func(a))"
    )
    argv = ["ofd-emulator", "--port", "0", "--data", str(tmp_path / "cli-ofd"), "--secret", SECRET.hex()]
    argv += ["--faults", "delay_s=0.001", "--admin-port", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("OFD emulator listening on 127.0.0.1:") and ", admin on 127.0.0.1:" in line
        port = int(line.split("listening on 127.0.0.1:")[1].split(",")[0])
        drive = drives[0]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(_frame(drive, 1))
            sock.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
        (answer,) = _answers(data)
        assert answer.container is not None
        drive.confirm(1, answer.container.document, operator_key=operator_key(SECRET, drive.fn_number))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
