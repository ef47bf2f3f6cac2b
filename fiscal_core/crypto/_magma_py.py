"""Magma (GOST R 34.12-2015) and its MAC (GOST R 34.13-2015) in pure Python: the spec of ``fc_magma.c``.

Rules
- Magma: 64-bit block, 256-bit key, the standard's S-boxes pi'_0..pi'_7 ("id-tc26-gost-28147-param-Z"); 32 rounds
  G[K_1] .. G[K_31] then G*[K_32] with round keys K1..K8 three times, then K8..K1 (34.12 section 5).
- Byte order is the standard's: a key, a block and a MAC are written most significant byte first, so the standard's
  hex strings are the byte strings (key ``ffeedd..``, plaintext ``fedcba9876543210`` -> ``4ee901e5c2d8ca3d``).
- MAC = CMAC/OMAC1 (34.13 section 5.6): R = E(0), K1 = R*x, K2 = K1*x in GF(2^64) with R_64 = 0x1B; a complete last
  block is xored with K1, an incomplete or empty one is padded ``80 00 ..`` (procedure 3) and xored with K2; the MAC
  is the first ``size`` bytes (1..8) of the last CBC block.
- :class:`MagmaKey` expands a key once (round keys and K1, K2) and is reused: ``encrypt_block``, ``decrypt_block``,
  ``cmac(msg, size=8)``, ``cmac_many(msgs, size=8)``. Module functions ``expand_key``, ``encrypt_block``,
  ``decrypt_block`` and ``cmac`` take the raw 32-byte key; ``cmac_many`` takes the raw key or a ``MagmaKey``.
- Batch MAC (the drive's group commit: one key, many document digests): ``cmac_many(msgs, size)`` is exactly
  ``[cmac(m, size) for m in msgs]``. Messages may differ in length; ``msgs`` is any iterable of bytes-like objects
  but not a single one (a ``str``, ``bytes``, ``bytearray`` or ``memoryview`` as ``msgs`` raises ``TypeError``, it
  would be a message passed where a batch belongs). ``size`` is checked even for an empty batch. The native kernel
  is fastest on messages of equal length (see the wrapper).
- Arguments: key, block and message are C-contiguous bytes-like objects (a ``str`` or other non-buffer raises
  ``TypeError``, a non-contiguous view ``BufferError``); a key that is not 32 bytes or a block that is not 8 bytes
  raises ``ValueError``; ``size`` must be an ``int`` (not ``bool``, else ``TypeError``) in 1..8 (else ``ValueError``).
  Checks run key, then size, then data (for a batch: the container, then each message in order). A ``MagmaKey``
  is not picklable (key material).
- The native wrapper :mod:`fiscal_core.crypto._magma_native` has the same names, signatures, results and errors.
- Table lookups are not constant-time (true of every table-driven Magma, the native one included).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

from fiscal_core.crypto._buffers import as_bytes as _as_bytes

__all__ = ["MagmaKey", "cmac", "cmac_many", "decrypt_block", "encrypt_block", "expand_key"]

_M32 = 0xFFFFFFFF

#: GOST R 34.12-2015 section 4.1.1: pi'_i substitutes nibble i (i = 0 is the least significant).
PI: tuple[tuple[int, ...], ...] = (
    (12, 4, 6, 2, 10, 5, 11, 9, 14, 8, 13, 7, 0, 3, 15, 1),
    (6, 8, 2, 3, 9, 10, 5, 12, 1, 14, 4, 7, 11, 13, 0, 15),
    (11, 3, 5, 8, 2, 15, 10, 13, 14, 1, 7, 4, 12, 9, 6, 0),
    (12, 8, 2, 1, 13, 4, 15, 6, 7, 0, 10, 5, 3, 14, 9, 11),
    (7, 15, 5, 10, 8, 1, 6, 13, 0, 9, 3, 14, 11, 4, 2, 12),
    (5, 13, 15, 6, 9, 2, 12, 10, 11, 7, 8, 1, 4, 3, 14, 0),
    (8, 14, 2, 5, 6, 9, 1, 12, 15, 4, 11, 0, 13, 10, 3, 7),
    (1, 7, 14, 13, 0, 5, 8, 3, 4, 15, 10, 6, 9, 12, 11, 2),
)


def _rotl11(x: int) -> int:
    return ((x << 11) | (x >> 21)) & _M32


def t(a: int) -> int:
    """The S-box layer t (34.12 section 4.2): nibble i of the 32-bit ``a`` goes through pi'_i."""
    out = 0
    for i in range(8):
        out |= PI[i][(a >> (4 * i)) & 0xF] << (4 * i)
    return out


def g(k: int, a: int) -> int:
    """The round function g[k](a) = t(a + k mod 2^32) <<< 11 (34.12 section 4.2), as the standard writes it."""
    return _rotl11(t((a + k) & _M32))


# Speed tables (the same ones fc_magma.c builds): byte j's S-box image in its place, rotated by 11, so that
# g[k](a) == T0[x & 255] ^ T1[x >> 8 & 255] ^ T2[x >> 16 & 255] ^ T3[x >> 24] with x = a + k mod 2^32.
_T0, _T1, _T2, _T3 = (tuple(_rotl11(t(b << (8 * j)) & (0xFF << (8 * j))) for b in range(256)) for j in range(4))


def _encrypt(rk: tuple[int, ...], block: int) -> int:
    """One block as an int (a1 || a0): G[K_1] .. G[K_31], then G*[K_32]."""
    t0, t1, t2, t3 = _T0, _T1, _T2, _T3
    a1, a0 = block >> 32, block & _M32
    for k in rk[:31]:
        x = (a0 + k) & _M32
        a1, a0 = a0, a1 ^ t0[x & 255] ^ t1[(x >> 8) & 255] ^ t2[(x >> 16) & 255] ^ t3[x >> 24]
    x = (a0 + rk[31]) & _M32
    return ((a1 ^ t0[x & 255] ^ t1[(x >> 8) & 255] ^ t2[(x >> 16) & 255] ^ t3[x >> 24]) << 32) | a0


def _dbl(v: int) -> int:
    """v * x in GF(2^64) modulo x^64 + x^4 + x^3 + x + 1 (R_64 = 0x1B, 34.13 section 5.4.2)."""
    v <<= 1
    return (v ^ 0x1B) & 0xFFFFFFFFFFFFFFFF if v >> 64 else v


def _sized(data: Any, size: int, what: str) -> bytes:
    raw = _as_bytes(data)
    if len(raw) != size:
        raise ValueError(f"a Magma {what} is {size} bytes, got {len(raw)}")
    return raw


def _check_size(size: object) -> None:
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError(f"size must be an int, not {type(size).__name__!r}")
    if not 1 <= size <= 8:
        raise ValueError(f"a Magma MAC is 1..8 bytes, got size={size}")


def _check_batch(msgs: object) -> None:
    if isinstance(msgs, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"msgs must be a sequence of bytes-like objects, not a single {type(msgs).__name__!r}")


class MagmaKey:
    """A Magma key expanded once: round keys K_1..K_32 and the CMAC subkeys K1, K2."""

    __slots__ = ("_k1", "_k2", "_rk")

    def __init__(self, key: bytes | bytearray | memoryview) -> None:
        raw = _sized(key, 32, "key")
        k = tuple(int.from_bytes(raw[i : i + 4], "big") for i in range(0, 32, 4))
        self._rk = k * 3 + k[::-1]
        self._k1 = _dbl(_encrypt(self._rk, 0))
        self._k2 = _dbl(self._k1)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} (py), key hidden>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a MagmaKey holds key material and is not picklable")

    def encrypt_block(self, block: bytes | bytearray | memoryview) -> bytes:
        """E_K(block) for one 8-byte block."""
        return _encrypt(self._rk, int.from_bytes(_sized(block, 8, "block"), "big")).to_bytes(8, "big")

    def decrypt_block(self, block: bytes | bytearray | memoryview) -> bytes:
        """D_K(block): the same rounds with the keys in reverse order."""
        return _encrypt(self._rk[::-1], int.from_bytes(_sized(block, 8, "block"), "big")).to_bytes(8, "big")

    def cmac(self, msg: bytes | bytearray | memoryview, size: int = 8) -> bytes:
        """The GOST R 34.13-2015 MAC of ``msg``: its first ``size`` bytes (1..8)."""
        _check_size(size)
        data = _as_bytes(msg)
        rk = self._rk
        head = (len(data) - 1) // 8 * 8 if data else 0  # every block but the last goes through plain CBC
        c = 0
        for i in range(0, head, 8):
            c = _encrypt(rk, c ^ int.from_bytes(data[i : i + 8], "big"))
        last = data[head:]
        if len(last) == 8:
            c ^= int.from_bytes(last, "big") ^ self._k1
        else:  # padding procedure 3 (34.13 section 4.1.3), also for the empty message
            c ^= int.from_bytes(last + b"\x80" + bytes(7 - len(last)), "big") ^ self._k2
        return _encrypt(rk, c).to_bytes(8, "big")[:size]

    def cmac_many(self, msgs: Sequence[bytes | bytearray | memoryview], size: int = 8) -> list[bytes]:
        """The MACs of a batch of messages, in order: ``[self.cmac(m, size) for m in msgs]``."""
        _check_size(size)
        _check_batch(msgs)
        return [self.cmac(m, size) for m in msgs]


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
