"""Issue 3 acceptance: every legal limit of the drive, with an injected clock (no sleeping), as a real ФН.

Each refusal is checked for its type, the real ФН's error code (``fn_code``, ffd.md §11) and ``retryable``, and for
taking no FD number (the next document gets the next number). Warnings 1050–1053 are checked in the bytes of the
shift open / close reports (decoded TLV), not only in ``drive.warnings()``.

Limits (ffd.md §12, fiscal_core.drive.state): capacity (two documents kept for the shift close and the drive
close), key validity 470 / 1,110 days, a shift of at most 24 h, 30 days for the oldest unconfirmed document, no
document dated before the last one; 1050 at 30 days of key life left, 1051 at 3, 1052 at 90 % of the capacity, 1053
when the OFD has been silent for a day.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from typing import Any

import pytest

from fiscal_core import samples
from fiscal_core.drive import archive
from fiscal_core.drive.drive import FiscalDrive, Issued
from fiscal_core.drive.errors import (
    ArchiveFull,
    DriveClosed,
    DriveError,
    KeysExpired,
    OfdWaitExhausted,
    ShiftExpired,
    TimeWentBack,
    WrongState,
)
from fiscal_core.ffd import tlv
from fiscal_core.ffd.enums import ChangeReason, CorrectionType
from fiscal_core.ffd.receipt import Correction

T0 = int(dt.datetime(2026, 6, 1, 6, 0, 17, tzinfo=dt.UTC).timestamp())
DAY = 86_400
HOUR = 3_600
SECRET = bytes(range(32))

#: (error class, ФН code, retryable) — reference §11 and fiscal_core/drive/errors.py.
CODES: dict[type[DriveError], tuple[int, bool]] = {
    WrongState: (0x02, False),
    DriveClosed: (0x02, False),
    KeysExpired: (0x05, False),
    ArchiveFull: (0x06, False),
    TimeWentBack: (0x07, False),
    OfdWaitExhausted: (0x15, True),
    ShiftExpired: (0x16, True),
}


class Clock:
    def __init__(self, t: int = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return float(self.t)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def new_drive(tmp_path: pathlib.Path, clock: Clock, **kw: Any) -> FiscalDrive:
    kw.setdefault("secret", SECRET)
    return FiscalDrive.create(str(tmp_path / "d"), samples.identity(), clock=clock, **kw)


def reopen(drive: FiscalDrive, clock: Clock) -> FiscalDrive:
    path = drive.store.path
    drive.store.close()
    return FiscalDrive.open(path, clock=clock)


def receipt(seed: int = 0) -> Any:
    return samples.receipt(2, seed)


def correction(seed: int = 0) -> Correction:
    base = samples.receipt(2, seed)
    fields = {f: getattr(base, f) for f in base.__struct_fields__}
    return Correction(**fields, correction_type=CorrectionType.SELF, base_date=dt.date(2026, 5, 1))


def top(data: bytes) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for tag, value in tlv.decode(data)[0][1]:
        out.setdefault(tag, value)
    return out


def refused(kind: type[DriveError], call: Any, *args: Any) -> DriveError:
    """``call(*args)`` is refused with ``kind``, its ФН code and retryable flag."""
    with pytest.raises(kind) as info:
        call(*args)
    err = info.value
    assert type(err) is kind
    code, retryable = CODES[kind]
    assert err.fn_code == code, f"{kind.__name__}: fn_code {err.fn_code:#04x}, expected {code:#04x}"
    assert err.retryable is retryable, f"{kind.__name__}: retryable {err.retryable}"
    assert err.to_dict()["fn_code"] == code
    return err


def confirm_all(drive: FiscalDrive) -> None:
    for fd, _ in drive.outbox():
        assert drive.confirm(fd, b"ack")


def numbers(drive: FiscalDrive) -> list[int]:
    with drive.store.read() as txn:
        return [fd for fd, _ in drive.store.iter_documents(txn, drive.drive_id)]


# --------------------------------------------------------------------------- capacity


def test_capacity_keeps_two_documents_for_the_closing_reports(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path, clock, capacity=10)
    drive.open_shift()
    assert [drive.receipt(receipt(k)).fd_number for k in range(6)] == [3, 4, 5, 6, 7, 8]
    # FD 9 and 10 are kept for the shift close and the drive close.
    refused(ArchiveFull, drive.receipt, receipt(7))
    refused(ArchiveFull, drive.correction, correction(8))
    refused(ArchiveFull, drive.status_report)
    results = drive.append_many([(3, receipt(9)), (21, None), (31, correction(10))])
    assert [type(r) for r in results] == [ArchiveFull] * 3
    assert drive.close_shift().fd_number == 9
    refused(ArchiveFull, drive.open_shift)
    refused(ArchiveFull, drive.reregister, ChangeReason.ADDRESS_CHANGE)
    drive = reopen(drive, clock)  # the capacity is part of the drive's recorded configuration
    refused(ArchiveFull, drive.open_shift)
    assert drive.close().fd_number == 10
    refused(DriveClosed, drive.receipt, receipt(11))
    assert numbers(drive) == list(range(1, 11))
    report = archive.verify(drive)
    assert report.ok and report.documents == 10


def test_capacity_with_the_shift_already_closed(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path, clock, capacity=10)
    drive.open_shift()
    for k in range(5):
        drive.receipt(receipt(k))
    assert drive.close_shift().fd_number == 8
    refused(ArchiveFull, drive.open_shift)
    refused(ArchiveFull, drive.status_report)
    assert drive.close().fd_number == 9
    refused(DriveClosed, drive.status_report)
    assert numbers(drive) == list(range(1, 10))


def test_capacity_default_is_250000(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path, clock)
    assert drive.config.capacity == 250_000
    assert archive.info(drive)["capacity"] == 250_000


# --------------------------------------------------------------------------- key validity


@pytest.mark.parametrize("days", [470, 1110])
def test_keys_expire_after_their_validity(tmp_path: pathlib.Path, clock: Clock, days: int) -> None:
    drive = new_drive(tmp_path, clock, validity_days=days)
    assert top(drive.document(1).tlv)[1213] == days
    expiry = T0 + days * DAY
    confirm_all(drive)
    clock.t = expiry - HOUR
    drive.open_shift()
    clock.t = expiry - 1
    assert drive.receipt(receipt(1)).fd_number == 3
    assert top(drive.close_shift().tlv)[1213] == 0  # less than a day of key life left
    clock.t = expiry
    refused(KeysExpired, drive.open_shift)
    refused(KeysExpired, drive.status_report)
    refused(KeysExpired, drive.reregister, ChangeReason.ADDRESS_CHANGE)
    drive = reopen(drive, clock)
    refused(KeysExpired, drive.open_shift)
    clock.t = expiry + 40 * DAY  # long after, with FD 4 unconfirmed for 40 days: the drive close still works
    closed = drive.close()
    assert closed.fd_number == 5 and closed.form == 6
    refused(DriveClosed, drive.open_shift)
    assert archive.verify(drive).ok


def test_keys_expired_with_an_open_shift_the_shift_and_the_drive_can_be_closed(
    tmp_path: pathlib.Path, clock: Clock
) -> None:
    drive = new_drive(tmp_path, clock, validity_days=470)
    confirm_all(drive)
    clock.t = T0 + 470 * DAY - 2 * HOUR
    drive.open_shift()
    confirm_all(drive)
    clock.t = T0 + 470 * DAY
    refused(KeysExpired, drive.receipt, receipt(1))
    refused(KeysExpired, drive.correction, correction(2))
    assert drive.close_shift().fd_number == 3
    assert drive.close().fd_number == 4


# --------------------------------------------------------------------------- shift of 24 hours


def test_shift_longer_than_24_hours_refuses_receipts(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path, clock)
    clock.t = T0 + 60
    opened_at = clock.t
    drive.open_shift()
    clock.t = opened_at + 24 * HOUR  # exactly 24 h: still allowed
    assert drive.receipt(receipt(1)).fd_number == 3
    confirm_all(drive)
    clock.t = opened_at + 24 * HOUR + 1
    refused(ShiftExpired, drive.receipt, receipt(2))
    refused(ShiftExpired, drive.correction, correction(3))
    drive = reopen(drive, clock)  # the shift's opening time is persisted
    refused(ShiftExpired, drive.receipt, receipt(2))
    closed = drive.close_shift()
    assert closed.fd_number == 4
    opened = drive.open_shift()
    assert (opened.fd_number, opened.shift_number) == (5, 2)
    again = drive.receipt(receipt(4))
    assert (again.fd_number, again.receipt_number, again.shift_number) == (6, 1, 2)


def test_shift_expiry_inside_a_group_commit(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path, clock)
    drive.open_shift()
    clock.t = T0 + 24 * HOUR + 1
    results = drive.append_many([(3, receipt(1)), (5, None), (2, None), (3, receipt(2))])
    assert isinstance(results[0], ShiftExpired) and results[0].fn_code == 0x16
    assert [r.fd_number for r in results[1:] if isinstance(r, Issued)] == [3, 4, 5]
    assert numbers(drive) == [1, 2, 3, 4, 5]


# --------------------------------------------------------------------------- 30 days without the OFD


def test_thirty_days_since_the_oldest_unconfirmed_document_block_the_drive(
    tmp_path: pathlib.Path, clock: Clock
) -> None:
    drive = new_drive(tmp_path, clock)  # FD 1 at T0, never confirmed so far
    clock.t = T0 + DAY
    assert drive.status_report().fd_number == 2
    clock.t = T0 + 30 * DAY - 1
    assert drive.status_report().fd_number == 3
    clock.t = T0 + 30 * DAY
    refused(OfdWaitExhausted, drive.status_report)
    refused(OfdWaitExhausted, drive.open_shift)
    assert drive.confirm(3, b"ack") is True  # a newer document does not unblock
    refused(OfdWaitExhausted, drive.status_report)
    assert drive.confirm(1, b"ack") is True  # the oldest does: FD 2 has waited 29 days
    assert drive.status_report().fd_number == 4
    clock.t = T0 + 31 * DAY  # now FD 2 has waited 30 days
    refused(OfdWaitExhausted, drive.open_shift)
    drive = reopen(drive, clock)  # the outbox is on disk
    refused(OfdWaitExhausted, drive.open_shift)
    assert drive.confirm(2, b"ack") is True
    assert drive.open_shift().fd_number == 5
    assert numbers(drive) == [1, 2, 3, 4, 5]


def test_ofd_block_inside_an_open_shift(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path, clock)
    confirm_all(drive)
    clock.t = T0 + 100
    drive.open_shift()  # FD 2, unconfirmed from T0 + 100
    for day in range(1, 30):
        clock.t = T0 + 100 + day * DAY
        drive.close_shift()
        drive.open_shift()
    clock.t = T0 + 100 + 30 * DAY
    refused(OfdWaitExhausted, drive.receipt, receipt(1))
    refused(OfdWaitExhausted, drive.correction, correction(2))
    drive.confirm(2, b"ack")
    assert drive.receipt(receipt(1)).receipt_number == 1


# --------------------------------------------------------------------------- time


def test_time_going_backwards_is_refused(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path, clock)
    clock.t = T0 + 100
    drive.open_shift()
    clock.t = T0 + 99
    refused(TimeWentBack, drive.receipt, receipt(1))
    refused(TimeWentBack, drive.status_report)
    refused(TimeWentBack, drive.close_shift)
    clock.t = T0 + 100  # the same second as the last document is fine
    assert drive.receipt(receipt(2)).fd_number == 3
    drive = reopen(drive, clock)
    clock.t = T0 + 50
    refused(TimeWentBack, drive.receipt, receipt(3))
    results = drive.append_many([(3, receipt(4)), (21, None)])
    assert all(isinstance(r, TimeWentBack) for r in results)
    clock.t = T0 + 101
    assert drive.receipt(receipt(5)).fd_number == 4
    assert numbers(drive) == [1, 2, 3, 4]


# --------------------------------------------------------------------------- wrong states


def test_wrong_states(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = FiscalDrive.create(str(tmp_path / "d"), samples.identity(), clock=clock, secret=SECRET, register=False)
    refused(WrongState, drive.open_shift)  # not registered yet
    refused(WrongState, drive.receipt, receipt(0))
    refused(WrongState, drive.status_report)
    assert numbers(drive) == []
    assert drive.register().fd_number == 1
    refused(WrongState, drive.register)
    refused(WrongState, drive.receipt, receipt(1))
    refused(WrongState, drive.correction, correction(2))
    refused(WrongState, drive.close_shift)
    assert drive.open_shift().fd_number == 2
    refused(WrongState, drive.open_shift)
    refused(WrongState, drive.reregister, ChangeReason.ADDRESS_CHANGE)
    refused(WrongState, drive.close)
    assert drive.close_shift().fd_number == 3
    refused(WrongState, drive.close_shift)
    assert drive.reregister(ChangeReason.ADDRESS_CHANGE).fd_number == 4
    assert drive.close().fd_number == 5
    assert numbers(drive) == [1, 2, 3, 4, 5]


def test_nothing_after_the_drive_close(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path, clock)
    drive.close()
    for call, args in (
        (drive.register, ()),
        (drive.open_shift, ()),
        (drive.receipt, (receipt(1),)),
        (drive.correction, (correction(2),)),
        (drive.status_report, ()),
        (drive.close_shift, ()),
        (drive.reregister, (ChangeReason.ADDRESS_CHANGE,)),
        (drive.close, ()),
    ):
        refused(DriveClosed, call, *args)
    results = drive.append_many([(2, None), (3, receipt(3)), (21, None), (6, None)])
    assert all(isinstance(r, DriveClosed) for r in results)
    drive = reopen(drive, clock)
    refused(DriveClosed, drive.status_report)
    assert numbers(drive) == [1, 2]
    assert archive.verify(drive).ok


# --------------------------------------------------------------------------- warnings in the reports

WARNING_TAGS = (1050, 1051, 1052, 1053)


def flags(data: bytes) -> dict[int, int]:
    """1050–1053 as written in a report (absent = not written)."""
    t = top(data)
    return {tag: t[tag] for tag in WARNING_TAGS if tag in t}


def shift_reports(drive: FiscalDrive) -> tuple[dict[int, int], dict[int, int]]:
    """Open and close a shift at the clock's time (everything confirmed first); the flags of both reports."""
    confirm_all(drive)
    opened = drive.open_shift()
    confirm_all(drive)
    closed = drive.close_shift()
    confirm_all(drive)
    # Shift open writes only the flags that are set; shift close writes all four (0/1).
    assert set(flags(closed.tlv)) == set(WARNING_TAGS)
    return flags(opened.tlv), flags(closed.tlv)


def test_warnings_1050_1051_key_life(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path, clock, validity_days=470)
    expiry = T0 + 470 * DAY
    expected = {31: (0, 0), 30: (1, 0), 29: (1, 0), 4: (1, 0), 3: (1, 1), 1: (1, 1)}
    for days_left, (w1050, w1051) in expected.items():
        clock.t = expiry - days_left * DAY
        w = drive.warnings()
        assert (w.fn_resource_30_days, w.urgent_replacement_3_days) == (bool(w1050), bool(w1051)), days_left
        opened, closed = shift_reports(drive)
        want_open = {tag: 1 for tag, on in ((1050, w1050), (1051, w1051)) if on}
        assert opened == want_open, f"shift open with {days_left} days left"
        assert closed == {1050: w1050, 1051: w1051, 1052: 0, 1053: 0}, f"shift close with {days_left} days left"


def test_warning_1052_memory_ninety_percent(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path, clock, capacity=100)
    drive.open_shift()  # FD 2
    drive.append_many([(3, receipt(k)) for k in range(3, 80)])  # FD 3..79
    closed = drive.close_shift()  # FD 80: 79 % used before it
    assert closed.fd_number == 80 and flags(closed.tlv)[1052] == 0
    opened = drive.open_shift()
    assert opened.fd_number == 81 and 1052 not in flags(opened.tlv)
    assert not drive.warnings().memory_full_90_percent
    drive.append_many([(3, receipt(k)) for k in range(82, 95)])  # FD 82..94
    assert drive.warnings().memory_full_90_percent
    closed = drive.close_shift()  # FD 95: 94 % used
    assert closed.fd_number == 95 and flags(closed.tlv)[1052] == 1
    opened = drive.open_shift()
    assert flags(opened.tlv).get(1052) == 1


def test_warning_1053_ofd_silent_for_a_day(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path, clock)  # FD 1 at T0, unconfirmed
    clock.t = T0 + DAY - 1
    assert not drive.warnings().ofd_timeout
    opened = drive.open_shift()
    closed = drive.close_shift()
    assert 1053 not in flags(opened.tlv) and flags(closed.tlv)[1053] == 0
    clock.t = T0 + DAY
    assert drive.warnings().ofd_timeout
    opened = drive.open_shift()
    closed = drive.close_shift()
    assert flags(opened.tlv).get(1053) == 1 and flags(closed.tlv)[1053] == 1
    drive = reopen(drive, clock)
    assert drive.warnings().ofd_timeout
    opened = drive.open_shift()
    assert flags(opened.tlv).get(1053) == 1
    confirm_all(drive)  # the OFD answered everything
    assert not drive.warnings().ofd_timeout
    closed = drive.close_shift()
    assert flags(closed.tlv) == {1050: 0, 1051: 0, 1052: 0, 1053: 0}
