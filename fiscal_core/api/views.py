"""What the API answers about a journaled receipt: ATOL report bodies, native results, QR strings.

Rules
- One function per shape, pure: an :class:`~fiscal_core.api.intake.Entry` and its
  :class:`~fiscal_core.api.intake.Outcome` (None while pending) in, a JSON-ready dict out.
- ATOL report (cloud-api §1.7, §1.11): ``uuid, status, error, payload, timestamp, group_code, daemon_code,
  device_code, external_id, callback_url`` (+ ``warnings``); ``payload`` with ``total`` in roubles as a number
  and ``receipt_datetime`` as ``dd.mm.yyyy HH:MM:SS``. A pending receipt is ``wait`` with error 34 (ATOL: "do not
  resend, poll later"), a failed one ``fail`` with the error typed ``driver`` (the register refused) or
  ``agent`` (the data), as ATOL types them.
- Native result: the same facts with integer kopecks, ISO times, the QR string, the feed cursor and the
  sub-state (``queued`` / ``done`` / ``fail``), so bulk senders need no ATOL parsing.
"""

from __future__ import annotations

import datetime as dt
import os
import struct
import time
from typing import Any

import msgspec

from fiscal_core.api.intake import Entry, EntryHead, Outcome
from fiscal_core.ffd import qr

__all__ = [
    "SETTLEMENT_SIGN",
    "NativeError",
    "NativeFiscal",
    "NativeResult",
    "atol_report",
    "atol_time",
    "native_result",
    "new_uuid",
    "new_uuids",
    "qr_string",
    "receipt_datetime",
    "uuid_str",
]

#: ATOL operation -> 1054 settlement sign (1 приход, 2 возврат прихода, 3 расход, 4 возврат расхода).
SETTLEMENT_SIGN = {
    "sell": 1,
    "sell_refund": 2,
    "buy": 3,
    "buy_refund": 4,
    "sell_correction": 1,
    "sell_refund_correction": 2,
    "buy_correction": 3,
    "buy_refund_correction": 4,
}
ATOL_TIME = "%d.%m.%Y %H:%M:%S"


def uuid_str(raw: bytes) -> str:
    """A uuid's 16 bytes in the canonical 8-4-4-4-12 form (``str(uuid.UUID(bytes=raw))``, without building the
    object: this runs for every answer on the event loop)."""
    if len(raw) != 16:
        raise ValueError(f"a uuid has 16 bytes, not {len(raw)}")
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_last_second = [-1, ""]


def atol_time(t: float | dt.datetime) -> str:
    """ATOL's ``dd.mm.yyyy HH:MM:SS`` (Moscow time for service timestamps); cached per second."""
    if isinstance(t, dt.datetime):
        return t.strftime(ATOL_TIME)
    second = int(t)
    cached = _last_second
    if cached[0] != second:
        cached[1] = dt.datetime.fromtimestamp(second, dt.UTC).astimezone(_MSK).strftime(ATOL_TIME)
        cached[0] = second
    return str(cached[1])


_pool = bytearray()
_clock = [0, 0]  # [last unix ms used, counter within it]


def new_uuid() -> bytes:
    """One :func:`new_uuids`."""
    return new_uuids(1)[0]


def new_uuids(n: int) -> list[bytes]:
    """``n`` time-ordered (version 7, RFC 9562) uuids' 16 bytes each, rising: 48 bits of Unix milliseconds, a
    12-bit counter within the millisecond (method 3: monotonic within this process even if the clock steps
    back), then the variant and 62 random bits cut from a pool refilled 64 KiB at a time.

    Why time-ordered: the uuid is the key of the intake's ``journal`` and ``results`` B-trees. Random keys put
    each new receipt on a random leaf page, so a group commit of n receipts rewrote ~n pages of each tree (and
    the kernel's write path dominated the journal writer); ordered keys append to the right edge, a page per
    couple of receipts. 74 random-or-counter bits keep collisions out of reach across workers.

    Why a batch: the receipts of one group commit (a bulk request, or the single requests of one loop
    iteration) share one clock reading and one cut from the pool.
    """
    global _pool
    if n <= 0:
        return []  # (a slice of [-0:] would be the whole pool)
    need = 8 * n
    if len(_pool) < need:
        _pool = bytearray(os.urandom(max(65536, need)))
    tails = _pool[-need:]
    del _pool[-need:]
    clock = _clock
    ms = time.time_ns() // 1_000_000
    if ms > clock[0]:
        clock[0] = ms
        clock[1] = (tails[0] & 0x7F) - 1  # a random start leaves room for the counter
    ms, count = clock
    # The heads (48-bit ms, version 7, 12-bit counter) as big-endian words, a run per millisecond: 4,096 uuids
    # in one millisecond borrow the next one. Then every uuid's halves are put side by side in C (slices of
    # step 8 and 16), not a Python big-int per uuid: this runs for every bulk request on the event loop.
    words: list[int] = []
    left = n
    while left:
        if count >= 0xFFF:
            ms += 1
            count = -1
        take = min(left, 0xFFF - count)
        base = ms << 16 | 0x7000
        words += range(base + count + 1, base + count + take + 1)
        count += take
        left -= take
    clock[0] = ms
    clock[1] = count
    heads = struct.pack(f">{n}Q", *words)
    tails[0::8] = tails[0::8].translate(_VARIANT_BITS)  # RFC 9562's variant, 0b10, above 62 random bits
    both = bytearray(16 * n)
    for k in range(8):
        both[k::16] = heads[k::8]
        both[8 + k :: 16] = tails[k::8]
    out = bytes(both)
    return [out[at : at + 16] for at in range(0, 16 * n, 16)]


#: A random half's first byte with RFC 9562's variant (0b10) in its top two bits.
_VARIANT_BITS = bytes((b & 0x3F) | 0x80 for b in range(256))


_MSK = dt.timezone(dt.timedelta(hours=3))


def qr_string(entry: Entry | EntryHead, out: Outcome) -> str:
    """The receipt's QR string (seconds written only when not zero, as on a printed receipt)."""
    return qr.format_iso(out.when, out.total, out.fn_number, out.fd_number, out.fiscal_sign,
                         SETTLEMENT_SIGN[entry.operation])  # fmt: skip


def receipt_datetime(when: str) -> str:
    """A stored 1012 time (``isoformat()`` text) as ATOL's ``dd.mm.yyyy HH:MM:SS``: ``strftime(ATOL_TIME)`` of
    the parsed time, rearranged from the text when it has the canonical ``YYYY-MM-DDTHH:MM:SS`` form (a report
    or a callback per receipt: strftime alone costs ~2.5 µs)."""
    t = dt.datetime.fromisoformat(when)  # validates the text either way
    if qr.is_canonical_iso(when) and t.year >= 1000:
        return f"{when[8:10]}.{when[5:7]}.{when[0:4]} {when[11:19]}"
    return t.strftime(ATOL_TIME)


def _error_type(code: str) -> str:
    return "driver" if code.startswith("drive") or code in {"storage_full", "shift_expired"} else "agent"


def atol_report(
    uuid: bytes,
    entry: Entry,
    out: Outcome | None,
    *,
    daemon_code: str,
    ofd_inn: str,
    fns_site: str,
    check_url: str,
    now: float,
    error_id: str,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": uuid_str(uuid),
        "error": None,
        "status": "wait",
        "payload": None,
        "timestamp": atol_time(out.at if out is not None else now),
        "group_code": entry.group,
        "daemon_code": daemon_code,
        "device_code": out.register if out is not None else None,
        "external_id": entry.external_id,
        "callback_url": entry.callback_url,
        "warnings": None,
    }
    if out is None:
        body["error"] = {
            "error_id": error_id,
            "code": 34,
            "text": "Состояние чека не найдено. Попробуйте позднее",
            "type": "system",
        }
        return body
    if out.status != "done":
        body["status"] = "fail"
        body["error"] = {"error_id": error_id, "code": 1, "text": out.error_text, "type": _error_type(out.error_code)}
        return body
    body["status"] = "done"
    qr_text = qr_string(entry, out)
    body["payload"] = {
        "total": out.total / 100,
        "fns_site": fns_site,
        "fn_number": out.fn_number,
        "shift_number": out.shift_number,
        "receipt_datetime": receipt_datetime(out.when),
        "fiscal_receipt_number": out.receipt_number,
        "fiscal_document_number": out.fd_number,
        "ecr_registration_number": out.registration_number,
        "fiscal_document_attribute": out.fiscal_sign,
        "ofd_inn": ofd_inn,
        "ofd_receipt_url": f"{check_url}?{qr_text}" if check_url else "",
    }
    return body


class NativeFiscal(msgspec.Struct):
    """A done receipt's fiscal data in a native result."""

    fn_number: str
    registration_number: str
    fd_number: int
    fiscal_sign: int
    shift_number: int
    receipt_number: int
    datetime: str
    total: int
    qr: str


class NativeError(msgspec.Struct):
    """A failed receipt's error in a native result."""

    code: str
    text: str
    retryable: bool


class NativeResult(msgspec.Struct, omit_defaults=True):
    """A native result. A queued receipt has no ``finished_at``, ``cursor``, ``register``; a done one has
    ``fiscal``, a failed one ``error``. A Struct, not a dict: a change-feed page renders a thousand of these."""

    uuid: str
    external_id: str
    group_code: str
    operation: str
    status: str
    accepted_at: float
    finished_at: float | msgspec.UnsetType = msgspec.UNSET
    cursor: int | msgspec.UnsetType = msgspec.UNSET
    register: str | msgspec.UnsetType = msgspec.UNSET
    fiscal: NativeFiscal | msgspec.UnsetType = msgspec.UNSET
    error: NativeError | msgspec.UnsetType = msgspec.UNSET


def native_result(uuid: bytes, entry: Entry | EntryHead, out: Outcome | None) -> NativeResult:
    if out is None:
        return NativeResult(
            uuid_str(uuid), entry.external_id, entry.group, entry.operation, "queued", entry.accepted_at
        )
    if out.status == "done":
        qr_text = qr_string(entry, out)
        fiscal = NativeFiscal(out.fn_number, out.registration_number, out.fd_number, out.fiscal_sign,
                              out.shift_number, out.receipt_number, out.when, out.total, qr_text)  # fmt: skip
        return NativeResult(uuid_str(uuid), entry.external_id, entry.group, entry.operation, out.status,
                            entry.accepted_at, out.at, out.feed_seq, out.register, fiscal)  # fmt: skip
    return NativeResult(uuid_str(uuid), entry.external_id, entry.group, entry.operation, out.status,
                        entry.accepted_at, out.at, out.feed_seq, out.register,
                        error=NativeError(out.error_code, out.error_text, False))  # fmt: skip
