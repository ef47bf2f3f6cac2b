"""Sealing a batch of receipts: the pure-Python twin (the spec) of ``fiscal_core._native._seal``.

One call does, for every receipt of a group commit, what the drive's Python glue does per document:
fiscal sign (1077) → spliced document STLV → message sign → stored record.

Rules
- Keys are the drive's two raw 32-byte Magma keys (``FiscalSigner._doc_hmac`` / ``._msg_hmac``); each is
  expanded once per call and MACs its whole batch (``MagmaKey.cmac_many``).
- The fiscal sign covers ``form (1) | FN (16 ASCII) | FD (u32 BE) | minute (u32 BE) | sign (1) | total
  (u64 BE)`` (:func:`fiscal_core.crypto.sign.canonical_fields`); 1077 is ``31 04`` for forms 3/4/31/41,
  else ``21 04``, + the first 4 MAC bytes.
- The document is ``form (u16 LE) | length (u16 LE) | prefix (1041/1037/1018) | 1040 | 1012 | 1077 | 1038 |
  1042 | body`` (``FiscalDrive._splice``); its value is at most 32,768 bytes.
- The message sign is ``81 06`` + the first 6 bytes of the message-key MAC over SHA-256 of the document;
  the record is :func:`fiscal_core.drive.records.pack`.
- Bad input is a ``ValueError`` (key length, FN number, a number out of its field, a document too long),
  a body that is not ``bytes`` a ``TypeError``; nothing is returned for a batch with a bad item.
"""

from __future__ import annotations

import hashlib
import struct

from fiscal_core.crypto.magma import MagmaKey
from fiscal_core.drive import records

__all__ = ["IMPLEMENTATION", "MAX_DOCUMENT", "seal_receipts"]

IMPLEMENTATION = "py"
#: The largest value of a receipt's document STLV (FFD: a receipt is at most 32,768 bytes).
MAX_DOCUMENT = 32768

_RECEIPT_FORMS = frozenset({3, 4, 31, 41})
_CANON = struct.Struct(">B16sIIBQ")
_NUMBERS = struct.Struct("<HHIHHIHH6sHHIHHI")
_DOC_HEAD = struct.Struct("<HH")
_U32 = 0xFFFFFFFF

Item = tuple[int, int, int, int, int, int, int, int, bytes]


def _check(value: int, hi: int, what: str) -> int:
    if not isinstance(value, int) or not 0 <= value <= hi:
        raise ValueError(f"{what} {value!r} is out of range 0..{hi}")
    return value


def seal_receipts(
    doc_key: bytes,
    msg_key: bytes,
    fn_number: bytes,
    prefix: bytes,
    ffd_version: int,
    items: list[Item],
) -> list[tuple[bytes, bytes, int, bytes]]:
    """``(tlv, record, printed fiscal sign, message sign)`` for each ``(form, fd, local seconds, minute
    seconds, shift, receipt number, settlement sign, total, body)``."""
    if len(doc_key) != 32 or len(msg_key) != 32:
        raise ValueError("a Magma key is 32 bytes")
    fn = bytes(fn_number)
    if len(fn) != 16 or not fn.isdigit():
        raise ValueError("an FN number is 16 digits")
    prefix = bytes(prefix)
    _check(ffd_version, 0xFF, "FFD version")
    canon = []
    for form, fd, local, minute, shift, number, sign, total, body in items:
        _check(form, 0xFF, "form")
        _check(fd, _U32, "FD number")
        _check(local, _U32, "local time")
        _check(minute, _U32, "minute time")
        _check(shift, _U32, "shift number")
        _check(number, _U32, "receipt number")
        _check(sign, 0xFF, "settlement sign")
        _check(total, 2**64 - 1, "total")
        if not isinstance(body, bytes):
            raise TypeError("a receipt body is bytes")
        if len(prefix) + _NUMBERS.size + len(body) > MAX_DOCUMENT:
            raise ValueError(
                f"the document is {len(prefix) + _NUMBERS.size + len(body)} bytes, more than {MAX_DOCUMENT}"
            )
        canon.append(_CANON.pack(form, fn, fd, minute, sign, total))
    macs = MagmaKey(doc_key).cmac_many(canon, 8)
    tlvs = []
    printed = []
    for item, mac in zip(items, macs, strict=True):
        form, fd, local, _minute, shift, number, _sign, _total, body = item
        fs = (b"\x31\x04" if form in _RECEIPT_FORMS else b"\x21\x04") + mac[:4]
        numbers = _NUMBERS.pack(1040, 4, fd, 1012, 4, local, 1077, 6, fs, 1038, 4, shift, 1042, 4, number)
        length = len(prefix) + len(numbers) + len(body)
        tlvs.append(b"".join((_DOC_HEAD.pack(form, length), prefix, numbers, body)))
        printed.append(int.from_bytes(mac[:4], "big"))
    signs = MagmaKey(msg_key).cmac_many([hashlib.sha256(t).digest() for t in tlvs], 8)
    out = []
    for item, tlv, fp, mac in zip(items, tlvs, printed, signs, strict=True):
        ms = b"\x81\x06" + mac[:6]
        out.append((tlv, records.pack(item[0], ffd_version, tlv, ms), fp, ms))
    return out
