"""LMDB storage of fiscal drives: one environment holds a shard of drives, one writer commits for all.

Why a shard and not one environment per drive (measured on this machine, ``bench/RESULTS.md``): a durable
LMDB commit costs ~0.4 ms whatever it carries, so 64 drives committing one document each reach ~2,500
documents/s with an environment per drive (~7,000/s with 8 writer threads) and ~43,000/s when the 64
documents share one commit in one environment; at 10 documents per drive per commit it is ~20,000–50,000/s
against ~107,000/s. A pool of registers commits a few documents per register at a time, so drives are
stored in shards; a single drive is simply a shard of one. Drives stay independent by key prefix.

Rules
- Named databases: ``drives`` (FN number -> drive id, u32), ``meta`` (id + name -> msgpack), ``docs``
  (id + FD number, both u32 big-endian -> record, see :mod:`.records`), ``outbox`` (id + FD -> issue time,
  u64 UTC seconds, for documents without an operator confirmation), ``acks`` (id + FD -> confirmation),
  ``links`` (a caller's reference, e.g. the intake uuid -> id + FD: written in the document's own transaction,
  it tells a restarted service whether a journaled receipt reached a drive, so it is issued exactly once).
- Everything a document changes (record, counters, outbox) is written in one transaction: a crash leaves
  all of it or none of it, so no FD number is ever skipped or reused.
- Commits are durable (``sync``/``metasync``); never ``writemap``; the map is sized once at creation and
  recorded, a full map or disk is :class:`StorageFull` and the transaction is rolled back.
- Only this module and the intake journal import ``lmdb``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import lmdb

from fiscal_core.drive.errors import DriveCorrupt, StorageFull

__all__ = ["DEFAULT_MAP_SIZE", "DriveStore", "doc_key", "split_key"]

#: Address space reserved for a shard; the file grows only as documents arrive (sparse until used).
DEFAULT_MAP_SIZE = 8 << 30
_MAX_DBS = 8


def doc_key(drive_id: int, fd_number: int) -> bytes:
    return drive_id.to_bytes(4, "big") + fd_number.to_bytes(4, "big")


def split_key(key: bytes) -> tuple[int, int]:
    return int.from_bytes(key[:4], "big"), int.from_bytes(key[4:8], "big")


class DriveStore:
    """An LMDB environment with the named databases of the drives it holds."""

    def __init__(self, path: str | os.PathLike[str], *, map_size: int | None = None, readonly: bool = False) -> None:
        self.path = os.fspath(path)
        self.readonly = readonly
        if not readonly:
            os.makedirs(self.path, exist_ok=True)
        elif not os.path.exists(os.path.join(self.path, "data.mdb")):
            raise FileNotFoundError(f"no drive store at {self.path}")
        self._requested_map_size = map_size
        self._lock = threading.Lock()
        self._open()

    # ------------------------------------------------------------------ environment

    def _open(self) -> None:
        exists = os.path.exists(os.path.join(self.path, "data.mdb"))
        # The map is sized once, when the store is created; later opens keep the recorded size (0 = as recorded).
        size = self._requested_map_size or (0 if exists else DEFAULT_MAP_SIZE)
        try:
            self.env = lmdb.open(
                self.path,
                map_size=size,
                max_dbs=_MAX_DBS,
                subdir=True,
                readonly=self.readonly,
                sync=True,
                metasync=True,
                writemap=False,
                map_async=False,
                readahead=False,
                meminit=False,
                max_readers=256,
                lock=True,
            )
        except lmdb.Error as exc:
            if _is_space_error(exc):
                raise _storage_error(exc) from exc
            raise
        create = not self.readonly
        self.drives_db = self.env.open_db(b"drives", create=create)
        self.meta_db = self.env.open_db(b"meta", create=create)
        self.docs_db = self.env.open_db(b"docs", create=create)
        self.outbox_db = self.env.open_db(b"outbox", create=create)
        self.acks_db = self.env.open_db(b"acks", create=create)
        try:
            self.links_db: Any = self.env.open_db(b"links", create=create)
        except lmdb.NotFoundError:  # a read-only look at a store written before links existed
            self.links_db = None

    def reopen(self) -> None:
        """After a failed commit LMDB may refuse further transactions (MDB_PANIC): start afresh."""
        with self._lock:
            try:
                self.env.close()
            finally:
                self._open()

    def close(self) -> None:
        self.env.close()

    def __enter__(self) -> DriveStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def map_size(self) -> int:
        return int(self.env.info()["map_size"])

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def write(self) -> Iterator[lmdb.Transaction]:
        """A durable write transaction; any error rolls everything back, storage errors become StorageFull.

        A disk that fills up in the middle of LMDB's page writes comes back as a short write (EIO): the
        transaction is aborted all the same, so it is a full store too. After such a failure LMDB may
        refuse every later transaction (MDB_PANIC); the environment is then reopened, so the drive works
        again as soon as there is space.
        """
        try:
            with self.env.begin(write=True) as txn:
                yield txn
        except lmdb.Error as exc:
            if isinstance(exc, (lmdb.MapFullError, lmdb.DiskError)) or _is_space_error(exc):
                self._recover()
                raise _storage_error(exc) from exc
            raise

    def _recover(self) -> None:
        try:
            self.env.begin(write=True).abort()
        except lmdb.Error:
            self.reopen()

    @contextmanager
    def read(self) -> Iterator[lmdb.Transaction]:
        with self.env.begin(write=False, buffers=False) as txn:
            yield txn

    # ------------------------------------------------------------------ drives

    def drive_ids(self) -> dict[str, int]:
        with self.read() as txn:
            return {bytes(k).decode(): int.from_bytes(v, "big") for k, v in txn.cursor(db=self.drives_db)}

    def add_drive(self, txn: lmdb.Transaction, fn_number: str) -> int:
        key = fn_number.encode("ascii")
        if txn.get(key, db=self.drives_db) is not None:
            raise ValueError(f"drive {fn_number} already exists in {self.path}")
        used = [int.from_bytes(v, "big") for _, v in txn.cursor(db=self.drives_db)]
        drive_id = max(used, default=0) + 1
        txn.put(key, drive_id.to_bytes(4, "big"), db=self.drives_db)
        return drive_id

    # ------------------------------------------------------------------ per-drive data

    @staticmethod
    def meta_key(drive_id: int, name: str) -> bytes:
        return drive_id.to_bytes(4, "big") + name.encode("ascii")

    def get_meta(self, txn: lmdb.Transaction, drive_id: int, name: str) -> bytes | None:
        return _as_bytes(txn.get(self.meta_key(drive_id, name), db=self.meta_db))

    def put_meta(self, txn: lmdb.Transaction, drive_id: int, name: str, value: bytes) -> None:
        txn.put(self.meta_key(drive_id, name), value, db=self.meta_db)

    def put_documents(
        self, txn: lmdb.Transaction, drive_id: int, documents: Sequence[tuple[int, bytes]], issued_utc: int
    ) -> None:
        """Store ``(fd, record)`` pairs of one drive, FD numbers ascending, each also into the outbox.

        One ``putmulti`` per database, so the loop runs in C. Where every new key is above the database's last
        key (always for a store's newest drive, and for the only drive of a store) the puts use MDB_APPEND:
        no tree search per document, and pages are filled to the brim instead of split in half, so a commit
        writes fewer pages. Never overwrites: a key already present (the counter and the archive disagree)
        raises :class:`DriveCorrupt` and the caller's transaction is aborted.
        """
        if not documents:
            return
        prefix = drive_id.to_bytes(4, "big")
        keys = [prefix + fd.to_bytes(4, "big") for fd, _ in documents]
        stamp = issued_utc.to_bytes(8, "big")
        for db, values in ((self.docs_db, [record for _, record in documents]), (self.outbox_db, None)):
            cursor = txn.cursor(db=db)
            append = not cursor.last() or bytes(cursor.key()) < keys[0]
            items = zip(keys, values, strict=True) if values is not None else ((k, stamp) for k in keys)
            _, added = cursor.putmulti(items, overwrite=False, append=append)
            if added != len(keys):
                taken = next((k for k in keys if txn.get(k, db=db) is not None), keys[0])
                raise DriveCorrupt(f"FD {split_key(taken)[1]} already exists in the archive of drive id {drive_id}")

    def get_document(self, txn: lmdb.Transaction, drive_id: int, fd: int) -> bytes | None:
        return _as_bytes(txn.get(doc_key(drive_id, fd), db=self.docs_db))

    def iter_documents(self, txn: lmdb.Transaction, drive_id: int, start_fd: int = 1) -> Iterator[tuple[int, bytes]]:
        cursor = txn.cursor(db=self.docs_db)
        prefix = drive_id.to_bytes(4, "big")
        if not cursor.set_range(doc_key(drive_id, start_fd)):
            return
        for key, value in cursor:
            if key[:4] != prefix:
                return
            yield int.from_bytes(key[4:8], "big"), bytes(value)

    def outbox(self, txn: lmdb.Transaction, drive_id: int, limit: int | None = None) -> Iterator[tuple[int, int]]:
        """(FD, issue time UTC) of unconfirmed documents in FD order."""
        cursor = txn.cursor(db=self.outbox_db)
        prefix = drive_id.to_bytes(4, "big")
        if not cursor.set_range(prefix):
            return
        for n, (key, value) in enumerate(cursor):
            if key[:4] != prefix or (limit is not None and n >= limit):
                return
            yield int.from_bytes(key[4:8], "big"), int.from_bytes(value, "big")

    def confirm(self, txn: lmdb.Transaction, drive_id: int, fd: int, confirmation: bytes) -> bool:
        """Store the operator's confirmation and take the FD out of the outbox; False if already confirmed."""
        key = doc_key(drive_id, fd)
        if txn.get(key, db=self.acks_db) is not None:
            return False
        txn.put(key, confirmation, db=self.acks_db)
        txn.delete(key, db=self.outbox_db)
        return True

    def get_confirmation(self, txn: lmdb.Transaction, drive_id: int, fd: int) -> bytes | None:
        return _as_bytes(txn.get(doc_key(drive_id, fd), db=self.acks_db))

    def put_links(self, txn: lmdb.Transaction, links: list[tuple[bytes, int, int]]) -> None:
        """Record that document ``fd`` of ``drive_id`` was issued for ``ref``, for each ``(ref, drive_id, fd)``
        (in those documents' transaction; one call for the batch)."""
        if links:
            txn.cursor(db=self.links_db).putmulti([(ref, doc_key(drive_id, fd)) for ref, drive_id, fd in links])

    def get_link(self, txn: lmdb.Transaction, ref: bytes) -> tuple[int, int] | None:
        """(drive id, FD) issued for ``ref``, or None."""
        if self.links_db is None:
            return None
        value = txn.get(ref, db=self.links_db)
        return None if value is None else split_key(bytes(value))

    def stat(self) -> dict[str, Any]:
        return {"path": self.path, "map_size": self.map_size, **self.env.stat(), **self.env.info()}


def _as_bytes(value: bytes | memoryview | None) -> bytes | None:
    # Read transactions here are opened with buffers=False, so LMDB already hands out bytes; a caller's own
    # buffers=True transaction would give memoryviews that die with it.
    return value if value is None or isinstance(value, bytes) else bytes(value)


def _is_space_error(exc: lmdb.Error) -> bool:
    text = str(exc).lower()
    return any(
        marker in text
        for marker in ("no space", "file too large", "mdb_map_full", "enospc", "input/output error", "eio")
    )


def _storage_error(exc: lmdb.Error) -> StorageFull:
    return StorageFull(f"drive storage is full, nothing was written: {exc}")
