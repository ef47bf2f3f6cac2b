"""CRC-16/CCITT-FALSE and CRC32C over the C kernels of ``fiscal_core._native._crypto`` (``native/crypto/fc_crc.c``).

Rules
- Same names, signatures, results and error types as the spec, :mod:`fiscal_core.crypto._crc_py`; read its
  docstring for the CRC parameters and the chaining rule.
- Importing this module raises ``ImportError`` when the extension is not built, so
  :func:`fiscal_core._impl.select` falls back to the twin (or fails under ``FISCAL_CORE_REQUIRE_EXTENSIONS``).
- Thin on purpose: ``bytes`` go straight to C, other buffers through ``ffi.from_buffer`` (no copy); the C call
  releases the GIL.
- Native-only extras, outside ``__all__`` (which must equal the twin's): ``HW_CRC32C`` tells whether ``crc32c``
  runs on the SSE4.2 ``crc32`` instruction here; ``crc32c_portable`` always runs the slicing-by-8 path, so tests
  cover both on any machine.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["crc16_ccitt", "crc32c"]

# Imported by name so a missing build is an ImportError here and mypy sees an untyped (Any) module.
_crypto = importlib.import_module("fiscal_core._native._crypto")

_from_buffer: Callable[[Any], Any] = _crypto.ffi.from_buffer
_crc16: Callable[[Any, int, int], int] = _crypto.lib.fc_crc_crc16_ccitt
_crc32c: Callable[[Any, int, int], int] = _crypto.lib.fc_crc_crc32c
_crc32c_portable: Callable[[Any, int, int], int] = _crypto.lib.fc_crc_crc32c_portable

HW_CRC32C: bool = bool(_crypto.lib.fc_crc_crc32c_hw_available())


def _buffer(data: Any) -> Any:
    if isinstance(data, str):
        raise TypeError("a bytes-like object is required, not 'str'")
    try:
        return _from_buffer(data)
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not {type(data).__name__!r}") from None


def _check_uint(name: str, value: object, bits: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__!r}")
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{name} must be a {bits}-bit unsigned integer, got {value}")
    return value


def crc16_ccitt(data: bytes | bytearray | memoryview, init: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data``, continuing from the register value ``init`` (0xFFFF to start)."""
    if init.__class__ is not int or not 0 <= init <= 0xFFFF:
        _check_uint("init", init, 16)
    if data.__class__ is not bytes:
        data = _buffer(data)
    return _crc16(data, len(data), init)


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC32C of ``data``, continuing from the previous result ``crc`` (0 to start)."""
    if crc.__class__ is not int or not 0 <= crc <= 0xFFFFFFFF:
        _check_uint("crc", crc, 32)
    if data.__class__ is not bytes:
        data = _buffer(data)
    return _crc32c(data, len(data), crc)


def crc32c_portable(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """:func:`crc32c` forced onto the portable slicing-by-8 path (for tests and benchmarks)."""
    if crc.__class__ is not int or not 0 <= crc <= 0xFFFFFFFF:
        _check_uint("crc", crc, 32)
    if data.__class__ is not bytes:
        data = _buffer(data)
    return _crc32c_portable(data, len(data), crc)
