"""Reading a drive's archive back: verify every record, export it, summarise the drive.

Rules
- ``verify`` re-reads every record in FD order and checks, for each: the CRC32C, that the TLV decodes,
  that 1040/1041 name this FD and this drive, gapless numbering from 1, the fiscal sign (1077) recomputed
  from the drive's keys, and the message sign. It stops at the first bad FD and names it.
- Reads only (a read transaction): safe while the drive is working.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fiscal_core.drive import records
from fiscal_core.drive.drive import FiscalDrive
from fiscal_core.drive.errors import DriveCorrupt
from fiscal_core.drive.state import DAY, local_time
from fiscal_core.errors import DecodeError
from fiscal_core.ffd import tlv

__all__ = ["VerifyReport", "documents", "info", "verify"]


@dataclass
class VerifyReport:
    fn_number: str
    documents: int = 0
    confirmed: int = 0
    last_fd: int = 0
    by_form: dict[int, int] = field(default_factory=dict)
    error: str | None = None
    bad_fd: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _check_one(drive: FiscalDrive, fd: int, raw: bytes) -> tuple[records.Record, Any]:
    rec = records.unpack(raw, fd)
    try:
        tree = tlv.decode(rec.tlv)
    except DecodeError as exc:
        raise DriveCorrupt(f"FD {fd}: the document does not decode: {exc}") from None
    if len(tree) != 1 or tree[0][0] != rec.form:
        raise DriveCorrupt(f"FD {fd}: the record says form {rec.form}, the document is not one")
    top: dict[int, Any] = {}
    for tag, value in tree[0][1]:
        top.setdefault(tag, value)
    if top.get(1040) != fd:
        raise DriveCorrupt(f"FD {fd}: the document carries FD number {top.get(1040)}")
    if top.get(1041) != drive.fn_number:
        raise DriveCorrupt(f"FD {fd}: the document names drive {top.get(1041)}")
    fs = top.get(1077)
    when = top.get(1012)
    if not isinstance(fs, bytes) or not isinstance(when, dt.datetime):
        raise DriveCorrupt(f"FD {fd}: no fiscal sign or time")
    sign = top.get(1054, 0) if rec.form in (3, 31, 4, 41) else 0
    total = top.get(1020, 0) if rec.form in (3, 31, 4, 41) else 0
    if drive.signer.tag_1077(rec.form, fd, when, sign, total) != fs:
        raise DriveCorrupt(f"FD {fd}: the fiscal sign does not verify")
    if not drive.signer.verify_message_sign(rec.tlv, rec.message_sign):
        raise DriveCorrupt(f"FD {fd}: the message sign does not verify")
    return rec, tree


def verify(drive: FiscalDrive) -> VerifyReport:
    report = VerifyReport(drive.fn_number)
    store = drive.store
    expected = 1
    try:
        with store.read() as txn:
            for fd, raw in store.iter_documents(txn, drive.drive_id):
                if fd != expected:
                    raise DriveCorrupt(f"FD {expected}: missing (the next stored document is FD {fd})")
                rec, _tree = _check_one(drive, fd, raw)
                report.by_form[rec.form] = report.by_form.get(rec.form, 0) + 1
                report.documents += 1
                report.last_fd = fd
                if store.get_confirmation(txn, drive.drive_id, fd) is not None:
                    report.confirmed += 1
                expected += 1
            if expected != drive.state.next_fd:
                raise DriveCorrupt(
                    f"FD {expected}: the drive's counter says {drive.state.next_fd - 1} documents, "
                    f"the archive ends at {expected - 1}"
                )
    except DriveCorrupt as exc:
        report.error = str(exc)
        report.bad_fd = expected
    return report


def documents(drive: FiscalDrive, start_fd: int = 1) -> Iterator[tuple[int, records.Record]]:
    """Every record in FD order (CRC-checked), for export."""
    with drive.store.read() as txn:
        for fd, raw in drive.store.iter_documents(txn, drive.drive_id, start_fd):
            yield fd, records.unpack(raw, fd)


def info(drive: FiscalDrive, now: float | None = None) -> dict[str, Any]:
    """Counters, shift, fill, expiry and outbox of a drive (what ``fiscal-core drive info`` prints)."""
    st = drive.state
    cfg = drive.config
    now_i = int(drive.clock() if now is None else now)
    with drive.store.read() as txn:
        outbox = list(drive.store.outbox(txn, drive.drive_id))
    issued = st.next_fd - 1
    expires = st.registered_utc + cfg.validity_days * DAY if st.registered_utc else None
    warnings = drive.warnings(st, now_i)
    return {
        "fn_number": drive.fn_number,
        "phase": st.phase,
        "ffd_version": drive.identity.ffd_version,
        "registration_number": drive.identity.registration_number,
        "documents": issued,
        "capacity": cfg.capacity,
        "fill_percent": round(100 * issued / cfg.capacity, 3),
        "last_fd": issued,
        "shift": {
            "number": st.shift_number,
            "open": st.shift_open,
            "opened": local_time(st.shift_opened_utc, cfg.timezone).isoformat() if st.shift_open else None,
            "age_s": now_i - st.shift_opened_utc if st.shift_open else None,
            "receipts": st.shift_receipts,
        },
        "registered": local_time(st.registered_utc, cfg.timezone).isoformat() if st.registered_utc else None,
        "expires": local_time(expires, cfg.timezone).isoformat() if expires else None,
        "days_left": (expires - now_i) // DAY if expires else None,
        "timezone": cfg.timezone,
        "outbox": {
            "unconfirmed": len(outbox),
            "first_fd": outbox[0][0] if outbox else None,
            "oldest_age_s": now_i - outbox[0][1] if outbox else None,
        },
        "warnings": {
            "1050_resource_30_days": warnings.fn_resource_30_days,
            "1051_urgent_replacement": warnings.urgent_replacement_3_days,
            "1052_memory_90_percent": warnings.memory_full_90_percent,
            "1053_ofd_timeout": warnings.ofd_timeout,
        },
        "sign_algorithm": cfg.sign_algorithm,
    }
