"""The FFD TLV codec: bytes of a fiscal document <-> a lossless tree.

``encode``, ``decode`` and ``check`` come from the native module ``fiscal_core._native._tlv`` when it is
built, else from the pure-Python twin :mod:`fiscal_core.ffd._tlv_py`, which documents the tree and every
byte rule. ``IMPLEMENTATION`` says which one is in use. Helpers here (1077 layout, document access) are
shared by both.
"""

from __future__ import annotations

from typing import Any

from fiscal_core._impl import select
from fiscal_core.errors import DecodeError, EncodeError

__all__ = [
    "IMPLEMENTATION",
    "MESSAGE_SIGN_PREFIX",
    "DecodeError",
    "EncodeError",
    "check",
    "decode",
    "encode",
    "fiscal_sign_bytes",
    "printed_fiscal_sign",
    "split_document",
]

_impl, IMPLEMENTATION = select("fiscal_core._native._tlv", "fiscal_core.ffd._tlv_py")

encode = _impl.encode
decode = _impl.decode
check = _impl.check

#: The 8-byte message sign (ФПС) that follows a document sent to the OFD starts with these bytes (FFD §8).
MESSAGE_SIGN_PREFIX = b"\x81\x06"

#: 1077 prefixes seen in real documents: receipts ``31 04``, reports ``21 04`` (FFD §8).
RECEIPT_SIGN_PREFIX = b"\x31\x04"
REPORT_SIGN_PREFIX = b"\x21\x04"
_RECEIPT_FORMS = frozenset({3, 4, 31, 41})


def printed_fiscal_sign(tag1077: bytes) -> int:
    """The printed fiscal sign (QR ``fp=``, FNS JSON ``fiscalSign``): big-endian uint32 of bytes 2..5 of 1077."""
    if len(tag1077) != 6:
        raise ValueError(f"tag 1077 is 6 bytes, got {len(tag1077)}")
    return int.from_bytes(tag1077[2:6], "big")


def fiscal_sign_bytes(fp: int, form: int = 3) -> bytes:
    """The 6-byte 1077 value for a printed fiscal sign ``fp`` in a document of form ``form``."""
    if not 0 <= fp <= 0xFFFFFFFF:
        raise ValueError("a fiscal sign is a 32-bit unsigned integer")
    prefix = RECEIPT_SIGN_PREFIX if form in _RECEIPT_FORMS else REPORT_SIGN_PREFIX
    return prefix + fp.to_bytes(4, "big")


def split_document(data: bytes) -> tuple[bytes, bytes | None]:
    """Split ``document STLV [+ 8-byte message sign]`` into its parts, without decoding the document.

    The message sign is reported, not treated as an error; any other trailing bytes stay with the first
    part so that :func:`decode` names them.
    """
    if len(data) >= 4:
        end = 4 + int.from_bytes(data[2:4], "little")
        rest = data[end:]
        if len(rest) == 8 and rest[:2] == MESSAGE_SIGN_PREFIX:
            return bytes(data[:end]), bytes(rest)
    return bytes(data), None


def implementations() -> dict[str, Any]:
    """Both codecs that can be loaded here, keyed ``"py"`` and ``"native"`` (for tests and benchmarks)."""
    from fiscal_core._impl import implementations as _both

    return _both("fiscal_core._native._tlv", "fiscal_core.ffd._tlv_py")
