"""CRC-16/CCITT-FALSE and CRC32C in pure Python: the spec of the native kernels in ``fc_crc.c``.

Rules
- ``crc16_ccitt(data, init=0xFFFF) -> int``: CRC-16/CCITT-FALSE — poly 0x1021, processed most significant bit
  first, no reflection, xorout 0; ``crc16_ccitt(b"123456789") == 0x29B1``. It guards the OFD container (header
  bytes ``[0:2] + [4:32]`` + body) and is the check part of the registration number (tag 1037). ``init`` is the
  running value, so a CRC chains over several buffers: ``crc16_ccitt(b, crc16_ccitt(a)) == crc16_ccitt(a + b)``.
- ``crc32c(data, crc=0) -> int``: CRC32C (Castagnoli) — reflected poly 0x82F63B78, init and xorout 0xFFFFFFFF;
  ``crc32c(b"123456789") == 0xE3069283``. It guards drive records. ``crc`` is a previous result (0 to start),
  as in ``zlib.crc32``: ``crc32c(b, crc32c(a)) == crc32c(a + b)``.
- ``data`` is any C-contiguous bytes-like object (bytes, bytearray, memoryview, array): ``str`` and other
  non-buffers raise ``TypeError``, a non-contiguous view raises ``BufferError`` (as ``hashlib`` does).
- ``init`` / ``crc`` are ``int`` (not ``bool``): another type raises ``TypeError``, a value outside 16 / 32 bits
  ``ValueError``.
- The native wrapper :mod:`fiscal_core.crypto._crc_native` has the same names, signatures, results and error
  types; tests compare the two.
"""

from __future__ import annotations

from fiscal_core.crypto._buffers import as_bytes as _as_bytes

__all__ = ["crc16_ccitt", "crc32c"]


def _bitwise_crc16(byte: int) -> int:
    """CRC-16/CCITT-FALSE register after shifting in one byte from a zero register (the definition)."""
    crc = byte << 8
    for _ in range(8):
        crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
    return crc & 0xFFFF


def _bitwise_crc32c(byte: int) -> int:
    """Reflected CRC32C register after shifting in one byte from a zero register (the definition)."""
    crc = byte
    for _ in range(8):
        crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc


_CRC16_TABLE = tuple(_bitwise_crc16(b) for b in range(256))
_CRC32C_TABLE = tuple(_bitwise_crc32c(b) for b in range(256))


def _check_uint(name: str, value: object, bits: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__!r}")
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{name} must be a {bits}-bit unsigned integer, got {value}")
    return value


def crc16_ccitt(data: bytes | bytearray | memoryview, init: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data``, continuing from the register value ``init`` (0xFFFF to start)."""
    crc = _check_uint("init", init, 16)
    table = _CRC16_TABLE
    for byte in _as_bytes(data):
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC32C of ``data``, continuing from the previous result ``crc`` (0 to start)."""
    reg = _check_uint("crc", crc, 32) ^ 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in _as_bytes(data):
        reg = (reg >> 8) ^ table[(reg ^ byte) & 0xFF]
    return reg ^ 0xFFFFFFFF
