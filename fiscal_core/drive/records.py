"""Stored document records: ``header | TLV | message sign``, checked by CRC32C on every read.

Layout (little-endian)::

    0  u8   record format (1)
    1  u8   form code (document type)
    2  u8   FFD version code (1209: 2 = 1.05, 4 = 1.2)
    3  u8   flags (bit 0: a message sign follows the TLV)
    4  u32  TLV length
    8  u32  CRC32C over bytes [0:8] + TLV + message sign
    12 ...  TLV (the whole document STLV), then the 8-byte message sign

Pure: bytes in, bytes out; the store decides where records live.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from fiscal_core.crypto.crc import crc32c
from fiscal_core.drive.errors import DriveCorrupt

__all__ = ["HEADER_SIZE", "RECORD_FORMAT", "Record", "pack", "unpack"]

RECORD_FORMAT = 1
HEADER_SIZE = 12
_HEAD = struct.Struct("<BBBBI")
_FLAG_SIGN = 1


class Record(NamedTuple):
    form: int
    ffd_version: int
    tlv: bytes
    message_sign: bytes


def pack(form: int, ffd_version: int, tlv: bytes, message_sign: bytes) -> bytes:
    if len(message_sign) not in (0, 8):
        raise ValueError("a message sign is 8 bytes")
    head = _HEAD.pack(RECORD_FORMAT, form, ffd_version, _FLAG_SIGN if message_sign else 0, len(tlv))
    covered = b"".join((head, tlv, message_sign))  # one CRC pass over everything but the CRC itself
    return b"".join((head, crc32c(covered).to_bytes(4, "little"), covered[8:]))


def unpack(raw: bytes, fd_number: int = 0) -> Record:
    """The record, or :class:`DriveCorrupt` naming ``fd_number`` when anything does not add up."""
    if len(raw) < HEADER_SIZE:
        raise DriveCorrupt(f"FD {fd_number}: record of {len(raw)} bytes is shorter than its header")
    fmt, form, ffd, flags, length = _HEAD.unpack_from(raw)
    sign_len = 8 if flags & _FLAG_SIGN else 0
    if fmt != RECORD_FORMAT:
        raise DriveCorrupt(f"FD {fd_number}: unknown record format {fmt}")
    if HEADER_SIZE + length + sign_len != len(raw):
        raise DriveCorrupt(f"FD {fd_number}: record length {len(raw)} does not match its header")
    want = int.from_bytes(raw[8:12], "little")
    got = crc32c(raw[HEADER_SIZE:], crc32c(raw[:8]))
    if want != got:
        raise DriveCorrupt(f"FD {fd_number}: CRC32C mismatch (stored {want:08x}, computed {got:08x})")
    tlv = bytes(raw[HEADER_SIZE : HEADER_SIZE + length])
    return Record(form, ffd, tlv, bytes(raw[HEADER_SIZE + length :]))
