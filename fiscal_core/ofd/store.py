"""LMDB storage of the OFD emulator: every document it accepted, the confirmation it answered, what it refused.

Rules
- One environment per emulator data directory, named databases: ``docs`` (FN number, 16 ASCII space-padded,
  + FD number,
  u32 big-endian -> an accepted document, see :class:`Received`), ``rejects`` (arrival sequence, u64
  big-endian -> a refused document: code, reason, bytes), ``meta`` (``secret``: the operator secret;
  ``seq``: the last arrival sequence number).
- A document is accepted once: its confirmation is kept with it, and a register that sends it again (it
  never got the answer) is answered with the same confirmation; ``times`` counts the arrivals. The same FN
  and FD with other bytes is a conflict (the emulator refuses it), never an overwrite.
- :meth:`OfdStore.write` takes a whole batch (accepted and refused documents of many connections) in one
  transaction: one durable commit per batch, whatever its size (group commit). It blocks: the emulator calls
  it from its writer thread, never on the event loop.
- Commits are durable (``sync``) unless the emulator is told otherwise; this module and the drive's store are
  the only ones that import ``lmdb``.
"""

from __future__ import annotations

import os
import secrets
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import lmdb

__all__ = ["CONFLICT", "Incoming", "OfdStore", "Received", "Refused"]

#: Address space reserved for the emulator's data (the file grows only as documents arrive).
DEFAULT_MAP_SIZE = 8 << 30
_META_SECRET = b"secret"
_META_SEQ = b"seq"
#: seq, first arrival (UTC s), arrivals, confirmation length, message sign length.
_DOC = struct.Struct(">QQIHB")
_REJECT = struct.Struct(">QBH")  # arrival (UTC s), 1022 code, reason length


class Received(NamedTuple):
    """An accepted document as stored."""

    seq: int  #: arrival order across the emulator (first arrival)
    received_utc: int
    times: int  #: how many times it arrived
    confirmation: bytes  #: the form-7 document answered
    message_sign: bytes
    document: bytes


@dataclass(frozen=True, slots=True)
class Incoming:
    """A document that passed the checks, with the confirmation to keep if it is new."""

    fn_number: str
    fd_number: int
    document: bytes
    message_sign: bytes
    confirmation: bytes
    received_utc: int


@dataclass(frozen=True, slots=True)
class Refused:
    """A document answered with 1022 ≠ 0 (kept for inspection only)."""

    fn_number: str
    fd_number: int
    code: int
    reason: str
    document: bytes
    received_utc: int


#: What :meth:`OfdStore.write` returns for a document that conflicts with the stored one.
CONFLICT = b""


def _key(fn_number: str, fd_number: int) -> bytes:
    return fn_number.encode("ascii").ljust(16, b" ") + fd_number.to_bytes(4, "big")


class OfdStore:
    """The emulator's LMDB environment (see the module rules)."""

    def __init__(self, path: str | os.PathLike[str], *, map_size: int = DEFAULT_MAP_SIZE, durable: bool = True) -> None:
        self.path = os.fspath(path)
        os.makedirs(self.path, exist_ok=True)
        self.env = lmdb.open(
            self.path,
            map_size=map_size,
            max_dbs=4,
            subdir=True,
            sync=durable,
            metasync=durable,
            writemap=False,
            readahead=False,
            max_readers=64,
        )
        self._docs = self.env.open_db(b"docs")
        self._rejects = self.env.open_db(b"rejects")
        self._meta = self.env.open_db(b"meta")
        self._lock = threading.Lock()  # one writer at a time inside this process (LMDB also serialises)

    def close(self) -> None:
        self.env.close()

    def __enter__(self) -> OfdStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def secret(self, given: bytes | None = None) -> bytes:
        """The operator secret: ``given`` (stored, replacing any other), else the stored one, else a new one."""
        with self._lock, self.env.begin(write=True) as txn:
            stored = txn.get(_META_SECRET, db=self._meta)
            if given is not None:
                if len(given) < 16:
                    raise ValueError("an operator secret has at least 16 bytes")
                if stored != given:
                    txn.put(_META_SECRET, given, db=self._meta)
                return bytes(given)
            if stored is None:
                stored = secrets.token_bytes(32)
                txn.put(_META_SECRET, stored, db=self._meta)
            return bytes(stored)

    def write(self, batch: Sequence[Incoming | Refused]) -> list[bytes]:
        """Store a batch in one transaction; per item the confirmation to answer with (the stored one for a
        document seen before), :data:`CONFLICT` for a known FD with other bytes, ``b""`` for a refused one."""
        out: list[bytes] = []
        with self._lock, self.env.begin(write=True) as txn:
            raw_seq = txn.get(_META_SEQ, db=self._meta)
            seq = int.from_bytes(raw_seq, "big") if raw_seq else 0
            for item in batch:
                seq += 1
                if isinstance(item, Refused):
                    reason = item.reason.encode("utf-8")[:0xFFFF]
                    value = b"".join(
                        (
                            _REJECT.pack(item.received_utc, item.code, len(reason)),
                            reason,
                            _key(item.fn_number, item.fd_number),
                            item.document,
                        )
                    )
                    txn.put(seq.to_bytes(8, "big"), value, db=self._rejects)
                    out.append(b"")
                    continue
                key = _key(item.fn_number, item.fd_number)
                head = _DOC.pack(seq, item.received_utc, 1, len(item.confirmation), len(item.message_sign))
                value = b"".join((head, item.confirmation, item.message_sign, item.document))
                if txn.put(key, value, db=self._docs, overwrite=False):  # one lookup for a new document
                    out.append(item.confirmation)
                    continue
                old = bytes(txn.get(key, db=self._docs) or b"")
                got = _unpack(old)
                if got.document != item.document or got.message_sign != item.message_sign:
                    out.append(CONFLICT)
                    continue
                head = _DOC.pack(got.seq, got.received_utc, got.times + 1, len(got.confirmation), len(got.message_sign))
                txn.put(key, head + old[_DOC.size :], db=self._docs)
                out.append(got.confirmation)
            txn.put(_META_SEQ, seq.to_bytes(8, "big"), db=self._meta)
        return out

    def get(self, fn_number: str, fd_number: int) -> Received | None:
        with self.env.begin() as txn:
            raw = txn.get(_key(fn_number, fd_number), db=self._docs)
        return None if raw is None else _unpack(bytes(raw))

    def documents(self, fn_number: str | None = None) -> Iterator[tuple[str, int, Received]]:
        """(FN, FD, document) in key order: all of them, or one drive's."""
        prefix = b"" if fn_number is None else fn_number.encode("ascii").ljust(16, b" ")
        with self.env.begin() as txn:
            cursor = txn.cursor(db=self._docs)
            if not cursor.set_range(prefix):
                return
            for key, value in cursor:
                if not key.startswith(prefix):
                    return
                yield key[:16].rstrip(b" ").decode("ascii"), int.from_bytes(key[16:20], "big"), _unpack(bytes(value))

    def refused(self) -> Iterator[tuple[int, int, str]]:
        """(arrival sequence, 1022 code, reason) of every refused document."""
        with self.env.begin() as txn:
            for key, value in txn.cursor(db=self._rejects):
                _utc, code, n = _REJECT.unpack_from(value)
                reason = bytes(value[_REJECT.size : _REJECT.size + n]).decode("utf-8")
                yield int.from_bytes(key, "big"), code, reason

    def count(self) -> int:
        with self.env.begin() as txn:
            return int(txn.stat(self._docs)["entries"])


def _unpack(raw: bytes) -> Received:
    seq, utc, times, conf_len, sign_len = _DOC.unpack_from(raw)
    at = _DOC.size
    conf = raw[at : at + conf_len]
    at += conf_len
    sign = raw[at : at + sign_len]
    return Received(seq, utc, times, conf, sign, raw[at + sign_len :])
