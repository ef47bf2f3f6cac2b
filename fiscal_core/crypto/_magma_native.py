"""Magma and its GOST R 34.13-2015 MAC over the C kernels of ``fiscal_core._native._crypto`` (``fc_magma.c``).

Rules
- Same names, signatures, results and error types as the spec, :mod:`fiscal_core.crypto._magma_py`; read its
  docstring for byte order, the MAC construction and the argument checks.
- Importing this module raises ``ImportError`` when the extension is not built, so
  :func:`fiscal_core._impl.select` falls back to the twin (or fails under ``FISCAL_CORE_REQUIRE_EXTENSIONS``).
- A :class:`MagmaKey` owns one C ``fc_magma_key`` (expanded once); it is wiped (``fc_magma_wipe_key``) when the
  object is collected.
- Thin on purpose: ``bytes`` go straight to C, other buffers through ``ffi.from_buffer`` (no copy); blocks and MACs
  cross the boundary as 64-bit integers (the ``*_u64`` kernels), so no output buffer is allocated per call and
  the object stays safe to share between threads (the C calls release the GIL).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ["MagmaKey", "cmac", "decrypt_block", "encrypt_block", "expand_key"]

# Imported by name so a missing build is an ImportError here and mypy sees an untyped (Any) module.
_crypto = importlib.import_module("fiscal_core._native._crypto")

_ffi = _crypto.ffi
_lib = _crypto.lib
_from_buffer: Callable[[Any], Any] = _ffi.from_buffer
_expand: Callable[[Any, Any], None] = _lib.fc_magma_expand_key
_wipe: Callable[[Any], None] = _lib.fc_magma_wipe_key
_enc_u64: Callable[[Any, int], int] = _lib.fc_magma_encrypt_u64
_dec_u64: Callable[[Any, int], int] = _lib.fc_magma_decrypt_u64
_cmac_u64: Callable[[Any, Any, int], int] = _lib.fc_magma_cmac_u64


def _buffer(data: Any) -> Any:
    """``data`` as something a ``const uint8_t *`` accepts, with its byte length in ``len()``."""
    if isinstance(data, str):
        raise TypeError("a bytes-like object is required, not 'str'")
    try:
        return _from_buffer(data)
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not {type(data).__name__!r}") from None


def _sized(data: Any, size: int, what: str) -> Any:
    if data.__class__ is not bytes:
        data = _buffer(data)
    if len(data) != size:
        raise ValueError(f"a Magma {what} is {size} bytes, got {len(data)}")
    return data


def _block_int(block: Any) -> int:
    if block.__class__ is not bytes or len(block) != 8:
        block = _ffi.buffer(_sized(block, 8, "block"))
    return int.from_bytes(block, "big")


def _check_size(size: object) -> None:
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError(f"size must be an int, not {type(size).__name__!r}")
    if not 1 <= size <= 8:
        raise ValueError(f"a Magma MAC is 1..8 bytes, got size={size}")


class MagmaKey:
    """A Magma key expanded once (C ``fc_magma_key``: round keys and the CMAC subkeys K1, K2)."""

    __slots__ = ("_ks",)

    def __init__(self, key: bytes | bytearray | memoryview) -> None:
        raw = _sized(key, 32, "key")
        ks = _ffi.gc(_ffi.new("fc_magma_key *"), _wipe)
        _expand(ks, raw)
        self._ks = ks

    def __repr__(self) -> str:
        return f"<{type(self).__name__} (native), key hidden>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a MagmaKey holds key material and is not picklable")

    def encrypt_block(self, block: bytes | bytearray | memoryview) -> bytes:
        """E_K(block) for one 8-byte block."""
        return _enc_u64(self._ks, _block_int(block)).to_bytes(8, "big")

    def decrypt_block(self, block: bytes | bytearray | memoryview) -> bytes:
        """D_K(block): the same rounds with the keys in reverse order."""
        return _dec_u64(self._ks, _block_int(block)).to_bytes(8, "big")

    def cmac(self, msg: bytes | bytearray | memoryview, size: int = 8) -> bytes:
        """The GOST R 34.13-2015 MAC of ``msg``: its first ``size`` bytes (1..8)."""
        if size.__class__ is not int or not 1 <= size <= 8:
            _check_size(size)
        if msg.__class__ is not bytes:
            msg = _buffer(msg)
        mac = _cmac_u64(self._ks, msg, len(msg)).to_bytes(8, "big")
        return mac if size == 8 else mac[:size]


def expand_key(key: bytes | bytearray | memoryview) -> MagmaKey:
    """Expand a 32-byte key for repeated use."""
    return MagmaKey(key)


def encrypt_block(key: bytes | bytearray | memoryview, block: bytes | bytearray | memoryview) -> bytes:
    """E_key(block) for one 8-byte block."""
    return MagmaKey(key).encrypt_block(block)


def decrypt_block(key: bytes | bytearray | memoryview, block: bytes | bytearray | memoryview) -> bytes:
    """D_key(block) for one 8-byte block."""
    return MagmaKey(key).decrypt_block(block)


def cmac(key: bytes | bytearray | memoryview, msg: bytes | bytearray | memoryview, size: int = 8) -> bytes:
    """The GOST R 34.13-2015 MAC of ``msg`` under ``key``: its first ``size`` bytes (1..8)."""
    return MagmaKey(key).cmac(msg, size)
