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
- ``cmac_many`` (the drive's group commit): messages of one length go to C in one ``fc_magma_cmac_many`` call
  (``b"".join`` of the batch, one ``uint64_t[]`` for all the MACs), which runs 4 chains interleaved, ~3x the
  single-chain rate. A batch with several lengths is grouped by length (one C call per distinct length) and the
  MACs come back in input order, so the contract stays the twin's: any lengths, same results. The MACs are cut
  out of the output array by a fixed ``struct`` format per MAC size (128 MACs per call), not one
  ``int.to_bytes`` per message, which cost half as much again as the C work on 32-byte messages.
"""

from __future__ import annotations

import array
import importlib
import struct
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

__all__ = ["MagmaKey", "cmac", "cmac_many", "decrypt_block", "encrypt_block", "expand_key"]

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
_cmac_many: Callable[[Any, Any, int, int, Any], None] = _lib.fc_magma_cmac_many

# cmac_many's output: uint64_t words in native order; a MAC is the big-endian bytes of its word.
_SWAP = sys.byteorder == "little"
_CHUNK = 128  # MACs per struct call: one fixed format per size, not one (cached) format per batch length
_MAC_FORMAT = {size: "8s" if size == 8 else f"{size}s{8 - size}x" for size in range(1, 9)}
_MAC_CHUNK = {size: struct.Struct(fmt * _CHUNK) for size, fmt in _MAC_FORMAT.items()}


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


def _check_batch(msgs: object) -> None:
    if isinstance(msgs, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"msgs must be a sequence of bytes-like objects, not a single {type(msgs).__name__!r}")


def _split_macs(out: Any, count: int, size: int) -> list[bytes]:
    """The first ``size`` bytes of each of the ``count`` MACs in ``out`` (``uint64_t[]``)."""
    words = array.array("Q")
    words.frombytes(_ffi.buffer(out, 8 * count))
    if _SWAP:
        words.byteswap()
    chunk = _MAC_CHUNK[size]
    end = count // _CHUNK * chunk.size
    macs: list[bytes] = []
    for offset in range(0, end, chunk.size):
        macs.extend(chunk.unpack_from(words, offset))
    if count % _CHUNK:
        macs.extend(struct.unpack_from(_MAC_FORMAT[size] * (count % _CHUNK), words, end))
    return macs


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

    def cmac_many(self, msgs: Sequence[bytes | bytearray | memoryview], size: int = 8) -> list[bytes]:
        """The MACs of a batch of messages, in order: ``[self.cmac(m, size) for m in msgs]``."""
        if size.__class__ is not int or not 1 <= size <= 8:
            _check_size(size)
        _check_batch(msgs)
        # bytes as they are; other buffers as ffi.buffer views (contiguity and type checked, len() in bytes)
        items = [m if m.__class__ is bytes else _ffi.buffer(_buffer(m)) for m in msgs]
        count = len(items)
        if not count:
            return []
        out = _ffi.new("uint64_t[]", count)
        if len(set(map(len, items))) == 1:
            _cmac_many(self._ks, b"".join(items), len(items[0]), count, out)
            return _split_macs(out, count, size)
        groups: dict[int, list[int]] = {}
        for i, m in enumerate(items):
            groups.setdefault(len(m), []).append(i)
        order: list[int] = []
        for length, indices in groups.items():
            _cmac_many(self._ks, b"".join([items[i] for i in indices]), length, len(indices), out + len(order))
            order += indices
        macs = [b""] * count
        for i, mac in zip(order, _split_macs(out, count, size), strict=True):
            macs[i] = mac
        return macs


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


def cmac_many(
    key: bytes | bytearray | memoryview | MagmaKey, msgs: Sequence[bytes | bytearray | memoryview], size: int = 8
) -> list[bytes]:
    """The MACs of a batch of messages under ``key`` (raw 32 bytes, or a ``MagmaKey`` to skip the expansion)."""
    return (key if isinstance(key, MagmaKey) else MagmaKey(key)).cmac_many(msgs, size)
