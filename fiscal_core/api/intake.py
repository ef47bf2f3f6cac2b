"""The intake (issue 5 items 4–7): journal, idempotency index, results, change feed and callback outbox, in LMDB.

Rules
- One LMDB environment (``DATA/intake``) shared by every worker process: LMDB's lock file serialises write
  transactions across processes, so the idempotency check and the journal write of one transaction are atomic
  against every other worker. Commits are durable (``sync``): a receipt is acknowledged only after
  :meth:`Intake.accept` returned, and everything accepted survives a crash.
- Databases (keys are bytes; ``G`` is the group code in UTF-8, ``\\0`` a separator no code contains):
  ``journal`` uuid(16) -> :class:`Entry`; ``idem`` G\\0external_id -> uuid; ``pending`` G\\0seq(8) -> uuid (journaled,
  no result yet); ``results`` uuid -> :class:`Outcome`; ``feed`` tenant\\0feed_seq(8) -> uuid (the change feed);
  ``callbacks`` G\\0due_ms(8)uuid -> attempt(4) (callbacks to deliver); ``deliveries`` uuid attempt(4) -> log line;
  ``notices`` tenant\\0seq(8) -> a fleet warning for the tenant; ``meta`` counters and the admission gates;
  ``fdidx`` tenant\\0fd(4)fn -> uuid (the dashboard's FD-number lookup, issue 9); ``agg`` tenant\\0day\\0G\\0register
  \\0shift(4) -> the day's sums of that shift (see "Dashboard indexes" below).
- ``seq`` and ``feed_seq`` are global counters taken inside the write transaction, so commit order is counter
  order: a reader that sees number n also sees every number below it, and a scan from the last number seen
  never misses an entry (the change feed's cursor and the fiscal thread's pickup both rely on it).
- A journaled receipt is in exactly one of two states: pending (in ``pending``) or finished (in ``results``);
  :meth:`finish` moves it in one transaction together with its feed entry and its callback. The drive links
  each issued document to its uuid in the drive's own transaction (``DriveStore.put_links``), so a restart
  tells "issued, result not written yet" from "never issued": nothing is fiscalized twice.
- A batch without a repeat (every key new, every outcome fresh: the common batch) writes each database's rows
  with one ``putmulti``; a batch with a repeat or a replay goes entry by entry. The answers are the same.
  Journal rows go in with MDB_APPEND when the batch's uuids rise past the last one journaled (the usual case:
  a process's uuids rise), which fills the journal's pages instead of leaving one entry on each.
- Write transactions are kept short: while one process holds LMDB's write lock every other worker's journal
  commit waits for it. So finishing works out its rows before taking the lock (:class:`_FinishPlan`: packing,
  keys, the dashboard sums); inside, only the feed numbers are drawn and the rows put. In the tiered layout a
  fiscal worker's outcome commit spent 2.6 ms (mean) putting its ~190 rows under the lock, the API worker's
  journal waiting behind it; with the plan 0.8 ms (bench/RESULTS.md, session 16).
- Only this module and ``drive.store`` import ``lmdb`` (tests/test_layers.py).

Dashboard indexes (issue 9), written by :meth:`_finish_in` in the transaction that writes the outcomes:
- ``fdidx``: one put per fiscalized receipt, so "FD 1234" (any drive) is a prefix scan and "FN + FD" one get.
- ``agg``: per (tenant, local day of 1012, group, register, shift) the receipts and sums by settlement sign
  (corrections apart: sign + 10) and VAT rate. The batch is summed in memory first, then each key touched is
  read, merged and written once per batch (a batch of 1,000 receipts from one register is one read-modify-write).
  The VAT of a receipt is its ``vats`` when it states them, else the rate's share of the rate's turnover (as the
  document builder computes 1102–1107). Only ``done`` outcomes are summed; failures have no fiscal data. What a
  receipt adds (payments, per-rate turnover and VAT) is computed by validation (``ffd.receipt.document_sums`` →
  ``Validated.sums`` → :attr:`Entry.sums`), so finishing never decodes a document (entries journaled before that
  field existed are decoded, only their few fields).
- ``meta`` ``tcount\\0tenant``: finished receipts per tenant (done, fail), one put per tenant per batch (the
  dashboard's live throughput chart polls it).
- The feed is in commit order and an outcome's ``at`` is taken when its batch finished, so ``at`` rises along a
  tenant's feed up to the spread of one batch between workers: :meth:`feed_seq_at` bisects the feed by time and
  readers still check each row's ``at`` at the range's edges. Receipts finished before these indexes existed
  are in the feed but not in ``fdidx``/``agg``.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import lmdb
import msgspec

from fiscal_core.errors import FiscalError
from fiscal_core.ffd.receipt import Correction, Receipt, document_sums

__all__ = [
    "RECEIPT_ROW",
    "Accepted",
    "AggRow",
    "Entry",
    "EntryHead",
    "Intake",
    "IntakeFull",
    "NewEntry",
    "Outcome",
    "document_sums",
    "release_gil_in_lmdb",
]

DEFAULT_MAP_SIZE = 16 << 30
_SEP = b"\x00"
_SEQ = b"seq"
_FEED = b"feed"
_NOTICE = b"notice"
_TCOUNT = b"tcount\x00"


def release_gil_in_lmdb() -> None:
    """Make py-lmdb release the GIL inside LMDB calls (process-wide; needed by the py-lmdb 1.x the project
    still accepts, where it is off by default; py-lmdb 3 releases it on every call anyway and keeps this as a
    no-op — bench/RESULTS.md, session 15).

    A durable commit waits ~1–2 ms for fsync; holding the GIL through it would stop the event loop and the
    fiscal pipeline for that long on every commit. The server turns this on at start.
    """
    lmdb.enable_drop_gil()


class IntakeFull(FiscalError):
    """The intake store cannot take more (disk or map full): nothing of the request was stored; retry later."""

    code = "intake_full"
    retryable = True


class Entry(msgspec.Struct, array_like=True, frozen=True):
    """A journaled request: everything needed to fiscalize it again after a crash, and to answer reports."""

    tenant: str
    group: str
    external_id: str
    operation: str  #: ATOL operation name: sell, sell_refund, …, buy_refund_correction
    api: int  #: 4 or 5 (ATOL version the client used), 0 for the native bulk API
    timestamp: str  #: the client's ``timestamp`` as it sent it
    callback_url: str  #: "" = none
    #: SHA-256 of (operation, document) in entries journaled before the documents themselves were compared
    #: (:func:`same_payload`); b"" since. Kept so that every entry decodes the same.
    payload_hash: bytes
    correction: bool
    document: bytes  #: msgpack of the validated Receipt / Correction
    accepted_at: float  #: UTC seconds
    seq: int = 0
    warnings: Any = None  #: validation warnings as sent back at acceptance (list of {path, code, message})
    sums: tuple[int, ...] | None = None  #: :func:`document_sums` (the dashboard's report index, issue 9)


class EntryHead(msgspec.Struct, array_like=True, frozen=True):
    """An :class:`Entry` read without its payload: the envelope the change feed answers with. It decodes a
    journaled entry's first fields (array-like: the trailing ones are skipped), the document left as raw bytes."""

    tenant: str
    group: str
    external_id: str
    operation: str
    api: int
    timestamp: str
    callback_url: str
    payload_hash: msgspec.Raw
    correction: bool
    document: msgspec.Raw
    accepted_at: float


class Outcome(msgspec.Struct, array_like=True, frozen=True):
    """The end of a journaled receipt: ``done`` with its fiscal data, or ``fail`` with an error."""

    status: str  #: "done" | "fail"
    at: float  #: UTC seconds
    register: str = ""
    fn_number: str = ""
    registration_number: str = ""
    fd_number: int = 0
    fiscal_sign: int = 0
    shift_number: int = 0
    receipt_number: int = 0
    when: str = ""  #: 1012 local time, ISO format without zone
    total: int = 0
    form: int = 0
    error_code: str = ""
    error_text: str = ""
    feed_seq: int = 0


class NewEntry(msgspec.Struct, frozen=True):
    """What :meth:`Intake.accept` journals (the uuid is chosen by the caller, 16 bytes)."""

    uuid: bytes
    entry: Entry


class Accepted(msgspec.Struct, frozen=True):
    """The answer for one :class:`NewEntry`: its uuid, or the original's when ``duplicate``."""

    uuid: bytes
    duplicate: bool
    seq: int
    same_payload: bool = True
    original: Entry | None = None


_entry_enc = msgspec.msgpack.Encoder()
_entry_dec = msgspec.msgpack.Decoder(Entry)
_doc_enc = msgspec.msgpack.Encoder()
_receipt_dec = msgspec.msgpack.Decoder(Receipt)
_correction_dec = msgspec.msgpack.Decoder(Correction)
_outcome_dec = msgspec.msgpack.Decoder(Outcome)
_head_dec = msgspec.msgpack.Decoder(EntryHead)


def same_payload(original: Entry, repeat: Entry) -> bool:
    """Whether ``repeat`` carries the payload ``original`` was journaled with: the same operation and the same
    validated document (its msgpack, which both entries hold), whatever their envelopes (timestamp, callback).

    The documents themselves are compared, not a hash of them: the answer is the same (a hash is only a
    fingerprint of these bytes) and no request pays for hashing. Documents are packed without their default
    fields (``ffd.receipt``: ``omit_defaults``); an entry journaled by a version that packed every field holds
    that older, longer packing. So when the bytes differ, the original's document is re-packed the current way
    and compared again: a repeat after an upgrade is not reported as a different payload. Only a mismatch pays
    for this.
    """
    if original.operation != repeat.operation:
        return False
    if original.document == repeat.document:
        return True
    doc = (_correction_dec if original.correction else _receipt_dec).decode(original.document)
    repacked = _doc_enc.encode(doc)
    return repacked == repeat.document


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def idem_key(group: str, external_id: str) -> bytes:
    return group.encode() + _SEP + external_id.encode()


class _ItemSum(msgspec.Struct):
    """The two fields of a journaled :class:`~fiscal_core.ffd.receipt.Item` the ``agg`` index needs (msgspec
    skips the others while decoding, so this costs a fraction of decoding the whole receipt)."""

    sum: int
    vat: int


class _VatSum(msgspec.Struct):
    rate: int
    amount: int


class _Payments(msgspec.Struct):
    cash: int = 0
    electronic: int = 0


class _DocSums(msgspec.Struct):
    settlement_sign: int
    items: list[_ItemSum]
    payments: _Payments
    vats: list[_VatSum] | None = None


_sums_dec = msgspec.msgpack.Decoder(_DocSums)
_rows_enc = msgspec.msgpack.Encoder().encode
_rows_dec = msgspec.msgpack.Decoder(list[list[int]]).decode
#: ``agg`` row kinds: rate 0 is the receipt row [receipts, total, cash, electronic]; rate r > 0 (a 1199 code) is
#: [turnover, vat, items, 0] at that rate.
RECEIPT_ROW = 0


_SIGNS = {"sell": 1, "sell_refund": 2, "buy": 3, "buy_refund": 4}
#: (operation, correction) → the agg row kind: the settlement sign, + 10 for a correction ("…_correction").
_KINDS = {(op, False): sign for op, sign in _SIGNS.items()} | {
    (f"{op}_correction", True): sign + 10 for op, sign in _SIGNS.items()
}


def _sum_document(rows: dict[tuple[int, int], list[int]], entry: Entry, total: int) -> None:
    sums = entry.sums
    if sums is None:  # journaled before Entry.sums existed
        sums = document_sums(_sums_dec.decode(entry.document))
    kind = _KINDS[entry.operation, entry.correction]
    key = (kind, RECEIPT_ROW)
    row = rows.get(key)
    if row is None:
        rows[key] = [1, total, sums[0], sums[1]]
    else:
        row[0] += 1
        row[1] += total
        row[2] += sums[0]
        row[3] += sums[1]
    get = rows.get
    for i in range(2, len(sums), 4):
        key = (kind, sums[i])
        r = get(key)
        if r is None:
            rows[key] = [sums[i + 1], sums[i + 2], sums[i + 3], 0]
        else:
            r[0] += sums[i + 1]
            r[1] += sums[i + 2]
            r[2] += sums[i + 3]


def _merge_rows(rows: dict[tuple[int, int], list[int]], raw: bytes) -> None:
    for kind, rate, *values in _rows_dec(raw):
        row = rows.get((kind, rate))
        if row is None:
            rows[(kind, rate)] = values
        else:
            for i, v in enumerate(values):
                row[i] += v


class AggRow(msgspec.Struct, frozen=True):
    """One ``agg`` key read back: a shift of a register on a local day, with its rows (see RECEIPT_ROW)."""

    day: str
    group: str
    register: str
    shift: int
    rows: dict[tuple[int, int], list[int]]


class _FinishPlan:
    """What writing a batch of outcomes puts, worked out before the write lock is taken: every other writer
    (the journal of every worker) waits while a writer holds it, so only the feed numbers, which the lock
    orders, are left for inside (:meth:`Intake._finish_in`). Built as if every outcome were fresh; a replay
    rebuilds it from the outcomes that went in.

    An :class:`Outcome` is packed as an array whose last element is ``feed_seq``: ``values`` hold each one packed
    up to that element, so the row is ``value + packed(feed_seq)``, the bytes ``replace(outcome, feed_seq=n)``
    packs to.
    """

    __slots__ = (
        "callback_due",
        "callback_keys",
        "counts",
        "distinct",
        "done",
        "fd_rows",
        "feed_keys",
        "pending_keys",
        "sums",
        "uuids",
        "values",
    )

    def __init__(self, done: Iterable[tuple[bytes, Entry, Outcome]], callback_due: float | None) -> None:
        self.done = done = done if type(done) is list else list(done)
        self.callback_due = callback_due
        self.uuids = uuids = [uuid for uuid, _, _ in done]
        self.distinct = len(set(uuids)) == len(uuids)
        values: list[bytes] = []
        feed_keys: list[bytes] = []  # tenant\0, the feed number follows
        pending_keys: list[bytes] = []
        callback_keys: list[bytes] = []
        fd_rows: list[tuple[bytes, bytes]] = []
        sums: dict[bytes, dict[tuple[int, int], list[int]]] = {}
        counts: dict[bytes, list[int]] = {}  # tenant\0 -> [done, fail]
        self.values, self.feed_keys = values, feed_keys
        self.pending_keys, self.callback_keys = pending_keys, callback_keys
        self.fd_rows, self.sums, self.counts = fd_rows, sums, counts
        enc = _entry_enc.encode
        # The keys' group and tenant parts, and the last agg key with what it was built from, per batch: a batch
        # is mostly one tenant, one group, a few registers and one day.
        gkeys: dict[str, bytes] = {}
        tkeys: dict[str, bytes] = {}
        last_at: tuple[Any, ...] = ()
        akey = b""
        for uuid, entry, outcome in done:
            if outcome.feed_seq:
                outcome = msgspec.structs.replace(outcome, feed_seq=0)
            values.append(enc(outcome)[:-1])  # feed_seq 0 packs to one byte, the last
            group = entry.group
            gkey = gkeys.get(group)
            if gkey is None:
                gkey = gkeys[group] = group.encode()
            pending_keys.append(gkey + _SEP + _u64(entry.seq))
            tenant = entry.tenant
            tkey = tkeys.get(tenant)
            if tkey is None:
                tkey = tkeys[tenant] = tenant.encode() + _SEP
            feed_keys.append(tkey)
            if entry.callback_url:
                due = int((callback_due if callback_due is not None else outcome.at) * 1000)
                callback_keys.append(gkey + _SEP + _u64(due) + uuid)
            count = counts.get(tkey)
            if count is None:
                count = counts[tkey] = [0, 0]
            if outcome.status != "done":
                count[1] += 1
                continue
            count[0] += 1
            fd_rows.append((tkey + outcome.fd_number.to_bytes(4, "big") + outcome.fn_number.encode(), uuid))
            at = (tkey, gkey, outcome.when[:10], outcome.register, outcome.shift_number)
            if at != last_at:
                last_at = at
                day, register, shift = at[2].encode(), at[3].encode(), at[4].to_bytes(4, "big")
                akey = b"".join((tkey, day, _SEP, gkey, _SEP, register, _SEP, shift))
            rows = sums.get(akey)
            if rows is None:
                rows = sums[akey] = {}
            _sum_document(rows, entry, outcome.total)


class Intake:
    """The intake environment; see the module rules. Thread-safe: LMDB serialises writers, readers never block."""

    def __init__(self, path: str | os.PathLike[str], *, map_size: int | None = None) -> None:
        self.path = os.fspath(path)
        os.makedirs(self.path, exist_ok=True)
        exists = os.path.exists(os.path.join(self.path, "data.mdb"))
        self.env = lmdb.open(
            self.path,
            map_size=map_size or (0 if exists else DEFAULT_MAP_SIZE),
            max_dbs=12,
            subdir=True,
            sync=True,
            metasync=True,
            writemap=False,
            readahead=False,
            meminit=False,
            max_readers=512,
            lock=True,
        )
        db = self.env.open_db
        self.journal = db(b"journal")
        self.idem = db(b"idem")
        self.pending = db(b"pending")
        self.results = db(b"results")
        self.feed_db = db(b"feed")
        self.callbacks = db(b"callbacks")
        self.deliveries = db(b"deliveries")
        self.notices = db(b"notices")
        self.meta = db(b"meta")
        self.fd_db = db(b"fdidx")
        self.agg_db = db(b"agg")
        self._lock = threading.Lock()

    def close(self) -> None:
        self.env.close()

    def __enter__(self) -> Intake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[lmdb.Transaction]:
        try:
            with self.env.begin(write=True) as txn:
                yield txn
        except (lmdb.MapFullError, lmdb.DiskError) as exc:
            raise IntakeFull(f"the intake store is full, nothing was stored: {exc}") from exc

    def _read(self) -> lmdb.Transaction:
        return self.env.begin(buffers=False)

    @staticmethod
    def _counter(txn: lmdb.Transaction, name: bytes, meta: Any) -> int:
        raw = txn.get(name, db=meta)
        return 0 if raw is None else int.from_bytes(raw, "big")

    # ------------------------------------------------------------------ accepting

    def accept(self, batch: Iterable[NewEntry]) -> list[Accepted]:
        """Journal ``batch`` in one durable transaction (group commit); an answer per entry, in order.

        A (group, external_id) already known — journaled earlier or earlier in this batch — is a duplicate:
        its answer carries the original uuid and entry, and ``same_payload`` compares the payloads.
        """
        with self._write() as txn:
            return self._accept_in(txn, batch)

    def commit(
        self, batch: Iterable[NewEntry], done: Iterable[tuple[bytes, Entry, Outcome]]
    ) -> tuple[list[Accepted], list[int]]:
        """:meth:`accept` and :meth:`finish` in ONE durable transaction (the journal writer's group commit
        carries the pipeline's outcomes too: one fsync instead of two, and no wait for each other's lock)."""
        plan = _FinishPlan(done, None)
        with self._write() as txn:
            return self._accept_in(txn, batch), self._finish_in(txn, plan)

    def _accept_in(self, txn: lmdb.Transaction, batch: Iterable[NewEntry]) -> list[Accepted]:
        news = batch if type(batch) is list else list(batch)
        if not news:  # a commit of outcomes only
            return []
        ikeys = [new.entry.group.encode() + _SEP + new.entry.external_id.encode() for new in news]
        # One C call claims every key (put refuses to overwrite one that is there). When all were new — the
        # common batch — the journal and pending rows go in the same way, without a Python call per row.
        _, added = txn.cursor(db=self.idem).putmulti(
            [(ikey, new.uuid) for ikey, new in zip(ikeys, news, strict=True)], overwrite=False
        )
        if added != len(news):
            return self._accept_repeats(txn, news, ikeys)
        enc = _entry_enc.encode
        seq = self._counter(txn, _SEQ, self.meta)
        out: list[Accepted] = []
        rows: list[tuple[bytes, bytes]] = []
        pending: list[tuple[bytes, bytes]] = []
        for new in news:
            seq += 1
            e = new.entry
            rows.append((new.uuid, enc(msgspec.structs.replace(e, seq=seq))))
            pending.append((e.group.encode() + _SEP + _u64(seq), new.uuid))
            out.append(Accepted(new.uuid, False, seq))
        # uuids rise within a process (views.new_uuids), so a batch usually sorts after everything journaled:
        # then MDB_APPEND. Besides skipping the tree search it keeps a page's entries together: LMDB's ordinary
        # split of a full right-edge page leaves one entry behind, so ~1.4 KB entries took a 4 KiB page each.
        cursor = txn.cursor(db=self.journal)
        append = (not cursor.last() or bytes(cursor.key()) < rows[0][0]) and all(
            a[0] < b[0] for a, b in itertools.pairwise(rows)
        )
        _, added = cursor.putmulti(rows, append=append)
        if added != len(rows):  # an appended key not above the last: the whole transaction is refused, not half kept
            raise RuntimeError(f"the journal stored {added} of {len(rows)} entries; nothing of the batch was kept")
        txn.cursor(db=self.pending).putmulti(pending)
        txn.put(_SEQ, _u64(seq), db=self.meta)
        return out

    def _accept_repeats(self, txn: lmdb.Transaction, news: list[NewEntry], ikeys: list[bytes]) -> list[Accepted]:
        """:meth:`_accept_in` for a batch with a repeated (group, external_id): its keys are claimed already
        (each new one holds its entry's uuid); the rest is done entry by entry, in order, so a repeat of an
        entry earlier in the batch finds that entry journaled."""
        out: list[Accepted] = []
        enc = _entry_enc.encode
        seq = self._counter(txn, _SEQ, self.meta)
        get, put = txn.get, txn.put
        idem, journal, pending = self.idem, self.journal, self.pending
        claimed: set[bytes] = set()
        for new, ikey in zip(news, ikeys, strict=True):
            e = new.entry
            known = cast(bytes, get(ikey, db=idem))
            # New: the key holds this entry's uuid, claimed by no entry before it, and not journaled before (an
            # entry submitted again with its uuid is a repeat of itself).
            if known != new.uuid or ikey in claimed or get(known, db=journal) is not None:
                original = _entry_dec.decode(cast(bytes, get(known, db=journal)))
                out.append(Accepted(known, True, original.seq, same_payload(original, e), original))
                continue
            claimed.add(ikey)
            seq += 1
            put(new.uuid, enc(msgspec.structs.replace(e, seq=seq)), db=journal)
            put(e.group.encode() + _SEP + _u64(seq), new.uuid, db=pending)
            out.append(Accepted(new.uuid, False, seq))
        put(_SEQ, _u64(seq), db=self.meta)
        return out

    def find(self, group: str, external_id: str) -> bytes | None:
        """The uuid journaled for (group, external_id), or None (a read: no lock taken)."""
        with self._read() as txn:
            value = txn.get(idem_key(group, external_id), db=self.idem)
            return None if value is None else bytes(value)

    # ------------------------------------------------------------------ reading

    def entry(self, uuid: bytes) -> Entry | None:
        with self._read() as txn:
            raw = txn.get(uuid, db=self.journal)
            return None if raw is None else _entry_dec.decode(raw)

    def report(self, uuid: bytes) -> tuple[Entry, Outcome | None] | None:
        """The entry and its outcome (None while pending), read together; None for an unknown uuid."""
        with self._read() as txn:
            raw = txn.get(uuid, db=self.journal)
            if raw is None:
                return None
            res = txn.get(uuid, db=self.results)
            return _entry_dec.decode(raw), None if res is None else _outcome_dec.decode(res)

    def reports(self, uuids: Iterable[bytes]) -> list[tuple[bytes, Entry, Outcome | None] | None]:
        with self._read() as txn:
            out: list[tuple[bytes, Entry, Outcome | None] | None] = []
            for uuid in uuids:
                raw = txn.get(uuid, db=self.journal)
                if raw is None:
                    out.append(None)
                    continue
                res = txn.get(uuid, db=self.results)
                out.append((uuid, _entry_dec.decode(raw), None if res is None else _outcome_dec.decode(res)))
            return out

    def pending_of(self, group: str, after_seq: int = 0, limit: int = 10_000) -> list[tuple[int, bytes]]:
        """(seq, uuid) of ``group``'s pending receipts with seq > ``after_seq``, in seq order."""
        prefix = group.encode() + _SEP
        out: list[tuple[int, bytes]] = []
        with self._read() as txn:
            cursor = txn.cursor(db=self.pending)
            if not cursor.set_range(prefix + _u64(after_seq + 1)):
                return out
            n = len(prefix)
            for key, value in cursor:
                if key[:n] != prefix or len(out) >= limit:
                    break
                out.append((int.from_bytes(key[n:], "big"), cast(bytes, value)))
        return out

    def entries(self, uuids: Iterable[bytes]) -> list[Entry]:
        """The journaled entries of ``uuids`` (every one must be journaled), in order."""
        keys = uuids if type(uuids) is list else list(uuids)
        with self._read() as txn:
            rows = txn.cursor(db=self.journal).getmulti(keys)  # one C call; it leaves out keys it does not find
        if len(rows) != len(keys):
            found = {k for k, _ in rows}
            lost = next(u for u in keys if u not in found)
            raise KeyError(f"no journaled entry {lost.hex()}")
        dec = _entry_dec.decode
        return [dec(raw) for _, raw in rows]

    def pending_count(self) -> int:
        with self._read() as txn:
            return int(txn.stat(self.pending)["entries"])

    def counts(self) -> dict[str, int]:
        with self._read() as txn:
            return {
                "journal": int(txn.stat(self.journal)["entries"]),
                "pending": int(txn.stat(self.pending)["entries"]),
                "results": int(txn.stat(self.results)["entries"]),
                "callbacks_due": int(txn.stat(self.callbacks)["entries"]),
            }

    # ------------------------------------------------------------------ finishing

    def finish(self, done: Iterable[tuple[bytes, Entry, Outcome]], *, callback_due: float | None = None) -> list[int]:
        """Write outcomes in one durable transaction: result, out of pending, into the tenant's feed, and a
        callback to deliver when the entry has a callback URL (due at ``callback_due``, default its ``at``).
        An outcome already written is left as it is (idempotent: a replay after a crash changes nothing);
        its feed number is 0 in the answer.
        """
        plan = _FinishPlan(done, callback_due)
        with self._write() as txn:
            return self._finish_in(txn, plan)

    def _finish_in(self, txn: lmdb.Transaction, plan: _FinishPlan) -> list[int]:
        """Write a :class:`_FinishPlan` (built before the write lock was taken). Inside the lock only the feed
        numbers are drawn and the rows put: the Python work per outcome was done by the plan."""
        n = len(plan.uuids)
        if not n:
            return []
        fseq = self._counter(txn, _FEED, self.meta)
        uuids = plan.uuids
        int_enc = _entry_enc.encode
        # A batch of distinct uuids none of which has an outcome yet (one C call tells) is written with one call
        # per database; otherwise outcome by outcome, each put refusing to overwrite one already there (a replay),
        # and the rest of the plan is rebuilt from the outcomes that went in.
        cursor = txn.cursor(db=self.results)
        if plan.distinct and not cursor.getmulti(uuids):
            cursor.putmulti([(uuids[i], plan.values[i] + int_enc(fseq + 1 + i)) for i in range(n)])
            seqs = list(range(fseq + 1, fseq + 1 + n))
        else:
            put, results = txn.put, self.results
            seqs = []
            fresh: list[tuple[bytes, Entry, Outcome]] = []
            next_seq = fseq + 1
            for i in range(n):
                if put(uuids[i], plan.values[i] + int_enc(next_seq), db=results, overwrite=False):
                    seqs.append(next_seq)
                    fresh.append(plan.done[i])
                    next_seq += 1
                else:
                    seqs.append(0)
            plan = _FinishPlan(fresh, plan.callback_due)
            if not fresh:
                return seqs
        feed_keys = plan.feed_keys
        txn.cursor(db=self.feed_db).putmulti(
            [(feed_keys[i] + _u64(fseq + 1 + i), plan.uuids[i]) for i in range(len(plan.uuids))]
        )
        if plan.fd_rows:
            txn.cursor(db=self.fd_db).putmulti(plan.fd_rows)
        delete, pending = txn.delete, self.pending
        for key in plan.pending_keys:
            delete(key, db=pending)
        if plan.callback_keys:
            put, callbacks, zero = txn.put, self.callbacks, (0).to_bytes(4, "big")
            for key in plan.callback_keys:
                put(key, zero, db=callbacks)
        get, put = txn.get, txn.put
        put(_FEED, _u64(fseq + len(plan.uuids)), db=self.meta)
        if plan.sums:
            agg = self.agg_db
            for akey, rows in plan.sums.items():
                raw = get(akey, db=agg)
                if raw is not None:
                    _merge_rows(rows, cast(bytes, raw))
                put(akey, _rows_enc([[k[0], k[1], *v] for k, v in rows.items()]), db=agg)
        for tkey, (ok, bad) in plan.counts.items():
            raw = get(_TCOUNT + tkey, db=self.meta)
            if raw is not None:
                ok += int.from_bytes(raw[:8], "big")
                bad += int.from_bytes(raw[8:], "big")
            put(_TCOUNT + tkey, _u64(ok) + _u64(bad), db=self.meta)
        return seqs

    # ------------------------------------------------------------------ change feed

    def feed(self, tenant: str, after: int = 0, limit: int = 1000) -> list[tuple[int, bytes, EntryHead, Outcome]]:
        """``tenant``'s finished receipts with feed number > ``after``, oldest first (the cursor is the last
        number returned); each entry read as its :class:`EntryHead` (a feed row never shows the document)."""
        prefix = tenant.encode() + _SEP
        n = len(prefix)
        seqs: list[int] = []
        uuids: list[Any] = []  # bytes: the transaction is buffers=False
        with self._read() as txn:
            cursor = txn.cursor(db=self.feed_db)
            if not cursor.set_range(prefix + _u64(after + 1)):
                return []
            for key, value in cursor:  # buffers=False: bytes, and so is every value read below
                if key[:n] != prefix or len(uuids) >= limit:
                    break
                seqs.append(int.from_bytes(key[n:], "big"))
                uuids.append(value)
            # Each database's rows in one C call, not a get per row (getmulti leaves out keys it does not find).
            heads = txn.cursor(db=self.journal).getmulti(uuids)
            outcomes = txn.cursor(db=self.results).getmulti(uuids)
        if len(heads) != len(uuids) or len(outcomes) != len(uuids):
            # A feed row, its entry and its outcome are written in one transaction: one missing is damage.
            found = {k for k, _ in heads} & {k for k, _ in outcomes}
            lost = next(u for u in uuids if u not in found)
            raise RuntimeError(f"intake damaged: receipt {lost.hex()} is in the feed without its entry or result")
        head, outcome = _head_dec.decode, _outcome_dec.decode
        return [
            (seq, uuid, head(h), outcome(o))
            for seq, uuid, (_, h), (_, o) in zip(seqs, uuids, heads, outcomes, strict=True)
        ]

    def feed_head(self) -> int:
        with self._read() as txn:
            return self._counter(txn, _FEED, self.meta)

    # ------------------------------------------------------------------ dashboard reads (issue 9)

    def feed_bounds(self, tenant: str) -> tuple[int, int] | None:
        """The first and last feed numbers of ``tenant``, or None when it has no finished receipt."""
        prefix = tenant.encode() + _SEP
        n = len(prefix)
        with self._read() as txn:
            cursor = txn.cursor(db=self.feed_db)
            if not cursor.set_range(prefix) or cursor.key()[:n] != prefix:
                return None
            first = int.from_bytes(cursor.key()[n:], "big")
            if cursor.set_range(prefix + b"\xff" * 8):  # past the tenant: step back
                cursor.prev()
            else:
                cursor.last()
            return first, int.from_bytes(cursor.key()[n:], "big")

    def feed_seq_at(self, tenant: str, at: float) -> int:
        """The first feed number of ``tenant`` finished at or after ``at`` (UTC seconds), found by bisection
        (~64 probes, whatever the feed's length; see the module rules on ``at`` order); past the last: last + 1."""
        bounds = self.feed_bounds(tenant)
        if bounds is None:
            return 1
        prefix = tenant.encode() + _SEP
        n = len(prefix)
        lo, hi = bounds[0], bounds[1] + 1
        with self._read() as txn:
            cursor = txn.cursor(db=self.feed_db)
            while lo < hi:
                mid = (lo + hi) // 2
                cursor.set_range(prefix + _u64(mid))  # exists: mid <= the last number
                raw = cast(bytes, txn.get(cursor.value(), db=self.results))
                if _outcome_dec.decode(raw).at >= at:
                    hi = mid
                else:
                    lo = int.from_bytes(cursor.key()[n:], "big") + 1
        return lo

    def feed_page(
        self,
        tenant: str,
        *,
        below: int,
        floor: int = 1,
        limit: int = 50,
        scan: int = 5000,
        keep: Any = None,
    ) -> tuple[list[tuple[int, bytes, Entry, Outcome]], int]:
        """``tenant``'s finished receipts with ``floor`` <= feed number < ``below``, newest first: at most
        ``limit`` rows for which ``keep(outcome)`` is true (all when None), looking at most at ``scan`` feed
        entries. Answers (rows, resume): ``resume`` is the number to pass as ``below`` for the next page, 0 when
        the range is exhausted (keyset paging: a page costs ``limit`` reads, or ``scan`` with a filter)."""
        prefix = tenant.encode() + _SEP
        n = len(prefix)
        out: list[tuple[int, bytes, Entry, Outcome]] = []
        with self._read() as txn:
            cursor = txn.cursor(db=self.feed_db)
            ok = cursor.prev() if cursor.set_range(prefix + _u64(below)) else cursor.last()
            seen = 0
            while ok:
                key = cursor.key()
                if key[:n] != prefix:
                    return out, 0
                fseq = int.from_bytes(key[n:], "big")
                if fseq < floor:
                    return out, 0
                if len(out) >= limit or seen >= scan:
                    return out, fseq + 1
                seen += 1
                uuid = cursor.value()
                outcome = _outcome_dec.decode(cast(bytes, txn.get(uuid, db=self.results)))
                if keep is None or keep(outcome):
                    entry = _entry_dec.decode(cast(bytes, txn.get(uuid, db=self.journal)))
                    out.append((fseq, cast(bytes, uuid), entry, outcome))
                ok = cursor.prev()
        return out, 0

    def by_fd(self, tenant: str, fd_number: int, fn_number: str = "") -> list[bytes]:
        """uuids of ``tenant``'s receipts with FD number ``fd_number`` (on drive ``fn_number`` when given)."""
        if not 0 <= fd_number < 1 << 32:
            return []
        prefix = tenant.encode() + _SEP + fd_number.to_bytes(4, "big")
        with self._read() as txn:
            if fn_number:
                got = txn.get(prefix + fn_number.encode(), db=self.fd_db)
                return [] if got is None else [bytes(got)]
            cursor = txn.cursor(db=self.fd_db)
            out: list[bytes] = []
            if not cursor.set_range(prefix):
                return out
            for key, value in cursor:
                if not bytes(key).startswith(prefix) or len(out) >= 100:
                    break
                out.append(bytes(value))
            return out

    def aggregates(self, tenant: str, first_day: str, last_day: str, batch: int = 1000) -> Iterator[AggRow]:
        """``tenant``'s ``agg`` keys for local days ``first_day``..``last_day`` (ISO dates), in key order (day,
        group, register, shift); a generator reading ``batch`` keys per read transaction, so a long export
        never pins an old snapshot of the database."""
        prefix = tenant.encode() + _SEP
        n = len(prefix)
        end = last_day.encode()
        start = prefix + first_day.encode()
        more = True
        while more:
            got: list[AggRow] = []
            more = False
            with self._read() as txn:
                cursor = txn.cursor(db=self.agg_db)
                if not cursor.set_range(start):
                    return
                for key, value in cursor:
                    if key[:n] != prefix:
                        break
                    day, group, register, shift = bytes(key[n:]).split(_SEP, 3)
                    if day > end:
                        break
                    if len(got) >= batch:
                        start, more = bytes(key), True
                        break
                    rows = {(r[0], r[1]): r[2:] for r in _rows_dec(value)}
                    got.append(
                        AggRow(day.decode(), group.decode(), register.decode(), int.from_bytes(shift, "big"), rows)
                    )
            yield from got

    def set_health(self, worker: int, blob: bytes) -> None:
        """Publish one worker's register health (msgpack, see fiscal_core.dashboard.fleet) for the others."""
        with self._write() as txn:
            txn.put(b"health" + _SEP + worker.to_bytes(4, "big"), blob, db=self.meta)

    def _meta_under(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        """The ``meta`` entries whose key starts with ``prefix``: (the rest of the key, the value)."""
        out: list[tuple[bytes, bytes]] = []
        with self._read() as txn:
            cursor = txn.cursor(db=self.meta)
            if not cursor.set_range(prefix):
                return out
            for key, value in cursor:
                if not bytes(key).startswith(prefix):
                    break
                out.append((bytes(key[len(prefix) :]), bytes(value)))
        return out

    def health_blobs(self) -> dict[int, bytes]:
        """worker → its last published register health."""
        return {int.from_bytes(name, "big"): value for name, value in self._meta_under(b"health" + _SEP)}

    def finished_counts(self, tenant: str) -> tuple[int, int]:
        """(done, fail): ``tenant``'s receipts finished since the intake was created (the live chart's source)."""
        with self._read() as txn:
            raw = txn.get(_TCOUNT + tenant.encode() + _SEP, db=self.meta)
            if raw is None:
                return 0, 0
            return int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:], "big")

    # ------------------------------------------------------------------ callbacks

    def callbacks_due(self, group: str, now: float, limit: int = 100) -> list[tuple[bytes, bytes, int]]:
        """(key, uuid, attempt) of ``group``'s callbacks due at ``now`` (UTC seconds), earliest first."""
        prefix = group.encode() + _SEP
        n = len(prefix)
        horizon = int(now * 1000)
        out: list[tuple[bytes, bytes, int]] = []
        with self._read() as txn:
            cursor = txn.cursor(db=self.callbacks)
            if not cursor.set_range(prefix):
                return out
            for key, value in cursor:
                if key[:n] != prefix or len(out) >= limit:
                    break
                if int.from_bytes(key[n : n + 8], "big") > horizon:
                    break
                out.append((bytes(key), bytes(key[n + 8 :]), int.from_bytes(value, "big")))
        return out

    def next_callback_at(self, group: str) -> float | None:
        prefix = group.encode() + _SEP
        n = len(prefix)
        with self._read() as txn:
            cursor = txn.cursor(db=self.callbacks)
            if not cursor.set_range(prefix):
                return None
            key = cursor.key()
            if key[:n] != prefix:
                return None
            return int.from_bytes(key[n : n + 8], "big") / 1000

    def callback_attempted(
        self, key: bytes, uuid: bytes, attempt: int, log: dict[str, Any], retry_at: float | None
    ) -> None:
        """Record one delivery attempt; reschedule it at ``retry_at`` or, when None, it is over (delivered or
        given up)."""
        with self._write() as txn:
            if not txn.delete(key, db=self.callbacks):
                return  # another worker finished it first
            txn.put(uuid + attempt.to_bytes(4, "big"), msgspec.json.encode(log), db=self.deliveries)
            if retry_at is not None:
                group_part = key[: key.index(_SEP) + 1]
                txn.put(
                    group_part + _u64(int(retry_at * 1000)) + uuid,
                    (attempt + 1).to_bytes(4, "big"),
                    db=self.callbacks,
                )

    def deliveries_of(self, uuid: bytes) -> list[dict[str, Any]]:
        with self._read() as txn:
            cursor = txn.cursor(db=self.deliveries)
            out: list[dict[str, Any]] = []
            if not cursor.set_range(uuid):
                return out
            for key, value in cursor:
                if key[:16] != uuid:
                    break
                out.append(msgspec.json.decode(value))
            return out

    # ------------------------------------------------------------------ notices (fleet warnings per tenant)

    def notify(self, notices: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Append fleet warnings to their tenants' notice feeds (one transaction)."""
        with self._write() as txn:
            n = self._counter(txn, _NOTICE, self.meta)
            for tenant, body in notices:
                n += 1
                txn.put(tenant.encode() + _SEP + _u64(n), msgspec.json.encode({**body, "seq": n}), db=self.notices)
            txn.put(_NOTICE, _u64(n), db=self.meta)

    def set_notice_webhook(self, tenant: str, url: str | None) -> None:
        """Where ``tenant``'s notices are POSTed (None: nowhere); delivery starts after the newest notice."""
        with self._write() as txn:
            key = b"nwh" + _SEP + tenant.encode()
            if url is None:
                txn.delete(key, db=self.meta)
                return
            head = self._counter(txn, _NOTICE, self.meta)
            txn.put(key, msgspec.msgpack.encode((url, head)), db=self.meta)

    def notice_webhooks(self) -> dict[str, tuple[str, int]]:
        """tenant → (url, the last notice number delivered)."""
        out: dict[str, tuple[str, int]] = {}
        for name, value in self._meta_under(b"nwh" + _SEP):
            url, sent = msgspec.msgpack.decode(value)
            out[name.decode()] = (str(url), int(sent))
        return out

    def notices_delivered(self, tenant: str, url: str, upto: int) -> None:
        with self._write() as txn:
            key = b"nwh" + _SEP + tenant.encode()
            raw = txn.get(key, db=self.meta)
            if raw is not None and msgspec.msgpack.decode(raw)[0] == url:
                txn.put(key, msgspec.msgpack.encode((url, upto)), db=self.meta)

    def notices_of(self, tenant: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        prefix = tenant.encode() + _SEP
        n = len(prefix)
        out: list[dict[str, Any]] = []
        with self._read() as txn:
            cursor = txn.cursor(db=self.notices)
            if not cursor.set_range(prefix + _u64(after + 1)):
                return out
            for key, value in cursor:
                if key[:n] != prefix or len(out) >= limit:
                    break
                out.append(msgspec.json.decode(value))
        return out

    # ------------------------------------------------------------------ admission gates (shared by workers)

    def set_gates(self, gates: dict[str, tuple[int, str, str] | None]) -> None:
        """Publish per group "refuse new receipts" (retry_after_s, reason, code) or None (admit)."""
        with self._write() as txn:
            for group, gate in gates.items():
                key = b"gate" + _SEP + group.encode()
                if gate is None:
                    txn.delete(key, db=self.meta)
                else:
                    txn.put(key, msgspec.msgpack.encode(gate), db=self.meta)

    def gates(self) -> dict[str, tuple[int, str, str]]:
        out: dict[str, tuple[int, str, str]] = {}
        for name, value in self._meta_under(b"gate" + _SEP):
            retry, reason, code = msgspec.msgpack.decode(value)
            out[name.decode()] = (int(retry), str(reason), str(code))
        return out
