"""``FiscalDrive``: an emulated ФН that numbers, signs and keeps fiscal documents in LMDB.

Rules
- One gapless FD counter (1040) across all document types; the shift number (1038) grows at each shift
  open; the receipt number (1042) restarts every shift. The counter, the record, the counters and the
  outbox entry of a document are committed in one durable transaction (:mod:`.store`): after a crash a
  document is either fully there or its number was never used.
- Every document is checked against the drive's phase and legal limits before it gets a number
  (:mod:`.state`); a refusal is a typed :class:`~fiscal_core.drive.errors.DriveError` with the ФН code.
- Group commit: :meth:`FiscalDrive.append_many` issues many documents with one durable sync; a request the
  drive refuses takes no number and the others go on. The fleet prepares batches of several drives of
  one store and commits them together (:meth:`prepare`, :meth:`FiscalDrive.commit_prepared`).
- Time comes from an injected clock (UTC seconds); a document dated before the drive's last one is refused.
- Sans network: confirmations from the OFD arrive through :meth:`confirm` / :meth:`confirm_many`; given the
  tenant's operator key they are verified first, as a real ФН verifies the operator's sign (issue 6).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import msgspec

from fiscal_core.crypto.sign import FiscalSigner, OperatorSigner
from fiscal_core.drive import records
from fiscal_core.drive import records as records_
from fiscal_core.drive.errors import (
    ArchiveFull,
    DriveClosed,
    DriveError,
    KeysExpired,
    OfdWaitExhausted,
    ShiftExpired,
    TimeWentBack,
    WrongState,
)
from fiscal_core.drive.seal import seal_receipts
from fiscal_core.drive.state import (
    CLOSING_RESERVE,
    DAY,
    OFD_WAIT_LIMIT,
    OFD_WARNING_AFTER,
    SHIFT_LIMIT,
    DriveConfig,
    DriveState,
    check_timezone,
    local_time,
)
from fiscal_core.drive.store import DriveStore, doc_key
from fiscal_core.errors import EncodeError, FiscalError
from fiscal_core.ffd import documents, tlv
from fiscal_core.ffd.counters import Accumulator, Counters
from fiscal_core.ffd.documents import DriveIdentity, Header, Warnings
from fiscal_core.ffd.receipt import Correction, Receipt
from fiscal_core.ffd.receipt_body import ReceiptBody, encode_body
from fiscal_core.ofd.protocol import Confirmation, ConfirmationError, check_confirmation

__all__ = ["TEST_FN_PREFIX", "FiscalDrive", "Issued", "Prepared", "make_fn_number"]

Clock = Callable[[], float]
#: The numbering block + 1038 + 1042 of a receipt: 1041 (16), 1037 (20), 1018 (12), 1040, 1012, 1077 (6),
#: 1038, 1042 (4 each), every one behind its 4-byte header; a receipt document is at most 32,768 bytes.
_RECEIPT_FORMS = frozenset({3, 31})
_HEAD_LENGTH = 8 * 4 + 16 + 20 + 12 + 4 + 4 + 6 + 4 + 4
_MAX_RECEIPT = 32768
#: 1040, 1012, 1077, 1038, 1042 with their little-endian tag/length headers (FFD §1).
_NUMBERS = struct.Struct("<HHI HHI HH6s HHI HHI".replace(" ", ""))
_DOC_HEAD = struct.Struct("<HH")
_EPOCH = dt.datetime(1970, 1, 1)
_SECOND = dt.timedelta(seconds=1)
_CONFIG = "config"
_STATE = "state"


#: Drive numbers of test drives start with this; every emulated drive's does.
TEST_FN_PREFIX = "9999"


def make_fn_number(serial: int | None = None) -> str:
    """A 16-digit drive number starting with 9999, as test drives do: never mistaken for a production one."""
    if serial is None:
        serial = secrets.randbelow(10**12)
    return f"{TEST_FN_PREFIX}{serial:012d}"


class Issued(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A document the drive has issued and stored (a msgspec Struct: cheap to make, one per document)."""

    fd_number: int
    form: int
    when: Any  # naive local datetime (tag 1012)
    fiscal_sign: int  # printed ФП
    shift_number: int
    receipt_number: int  # 1042, 0 for reports
    total: int
    tlv: bytes
    message_sign: bytes
    fn_number: str
    ffd_version: int = 0  # 1209 of this document (2 = 1.05, 4 = 1.2)


@dataclass(slots=True)
class _Pending:
    """A numbered document on its way: reports are built at once, receipts after the batch's signs."""

    fd_number: int
    form: int
    when: Any
    shift_number: int
    receipt_number: int = 0
    settlement_sign: int = 0
    total: int = 0
    body: ReceiptBody | None = None
    fiscal_sign: bytes = b""
    tlv: bytes = b""
    ffd_version: int = 0
    message_sign: bytes = b""
    record: bytes = b""
    printed: int = -1  #: the printed fiscal sign (1077 as an integer) when the batch sealer gave it
    issued: Issued | None = None  #: what prepare() made of it


def documents_too_long(form: int, length: int) -> EncodeError:
    return EncodeError(f"the document is {length} bytes, more than the {_MAX_RECEIPT} a receipt may have", (form,))


@dataclass(slots=True)
class Prepared:
    """Documents built and signed but not yet written: the unit of a (cross-drive) group commit."""

    drive: FiscalDrive
    state: DriveState
    issued: list[Issued] = field(default_factory=list)
    records: list[bytes] = field(default_factory=list)  #: sealed records by position ("" = pack at write time)
    results: list[Issued | FiscalError] = field(default_factory=list)
    now_utc: int = 0


class FiscalDrive:
    """One emulated fiscal drive inside a :class:`DriveStore`."""

    def __init__(self, store: DriveStore, drive_id: int, config: DriveConfig, state: DriveState, clock: Clock) -> None:
        self.store = store
        self.drive_id = drive_id
        self.config = config
        self.state = state
        self.clock = clock
        self.signer = FiscalSigner(config.secret, config.fn_number, config.sign_algorithm)
        self._lock = threading.RLock()
        self._oldest_unsent: int | None = None
        self._oldest_known = False
        self._local_cache: tuple[int, Any] = (-1, None)
        self._head_prefix: bytes | None = None
        self._totals = Accumulator()
        self._batch_unsent: list[tuple[int, int]] = []

    # ------------------------------------------------------------------ making and opening

    @classmethod
    def create(
        cls,
        store: DriveStore | str | os.PathLike[str],
        identity: DriveIdentity,
        *,
        capacity: int = 250_000,
        validity_days: int = 1110,
        timezone: str = "Europe/Moscow",
        sign_algorithm: str = "magma-cmac",
        secret: bytes | None = None,
        clock: Clock = time.time,
        register: bool = True,
    ) -> FiscalDrive:
        """A new drive for ``identity`` (its ``fn_number`` names the drive); registered unless told not to."""
        if not isinstance(store, DriveStore):
            store = DriveStore(store)
        if capacity < CLOSING_RESERVE + 2:
            raise ValueError("a drive needs room for at least a registration and its closing reports")
        if not identity.fn_number.startswith(TEST_FN_PREFIX):
            # An emulated drive must never pass for a production one (issue 3): test drives are 9999….
            raise ValueError(f"an emulated drive's number starts with {TEST_FN_PREFIX}, not {identity.fn_number[:4]}")
        config = DriveConfig(
            fn_number=identity.fn_number,
            secret=secret or secrets.token_bytes(32),
            capacity=capacity,
            validity_days=validity_days,
            timezone=check_timezone(timezone),
            sign_algorithm=sign_algorithm,  # type: ignore[arg-type]
            created_utc=int(clock()),
        )
        state = DriveState(identity=identity)
        with store.write() as txn:
            drive_id = store.add_drive(txn, identity.fn_number)
            store.put_meta(txn, drive_id, _CONFIG, msgspec.msgpack.encode(config))
            store.put_meta(txn, drive_id, _STATE, msgspec.msgpack.encode(state))
        drive = cls(store, drive_id, config, state, clock)
        if register:
            drive.register()
        return drive

    @classmethod
    def open(
        cls, store: DriveStore | str | os.PathLike[str], fn_number: str | None = None, *, clock: Clock = time.time
    ) -> FiscalDrive:
        """Open a drive of ``store``; ``fn_number`` may be omitted when the store holds exactly one."""
        if not isinstance(store, DriveStore):
            store = DriveStore(store)
        ids = store.drive_ids()
        if fn_number is None:
            if len(ids) != 1:
                raise ValueError(f"{store.path} holds {len(ids)} drives; name one of {sorted(ids)}")
            fn_number = next(iter(ids))
        if fn_number not in ids:
            raise KeyError(f"no drive {fn_number} in {store.path}")
        drive_id = ids[fn_number]
        with store.read() as txn:
            config = msgspec.msgpack.decode(store.get_meta(txn, drive_id, _CONFIG) or b"", type=DriveConfig)
            state = msgspec.msgpack.decode(store.get_meta(txn, drive_id, _STATE) or b"", type=DriveState)
        return cls(store, drive_id, config, state, clock)

    @property
    def fn_number(self) -> str:
        return self.config.fn_number

    @property
    def identity(self) -> DriveIdentity:
        assert self.state.identity is not None
        return self.state.identity

    # ------------------------------------------------------------------ limits

    def _oldest_unsent_utc(self) -> int | None:
        if not self._oldest_known:
            with self.store.read() as txn:
                first = next(self.store.outbox(txn, self.drive_id, limit=1), None)
            self._oldest_unsent = first[1] if first else None
            self._oldest_known = True
        return self._oldest_unsent

    def _check(self, st: DriveState, form: int, now: int) -> None:
        """Refuse what a real ФН would refuse, before a number is spent."""
        if st.phase == "closed":
            raise DriveClosed(f"drive {self.fn_number} is closed")
        if now < st.last_doc_utc:
            raise TimeWentBack(f"the clock is {st.last_doc_utc - now} s behind the drive's last document")
        if form == 1:
            if st.phase != "ready":
                raise WrongState("the drive is already registered")
            return
        if form == 11 and st.phase == "ready":
            return  # a new drive fitted as a replacement: its first document is the re-registration report
        if st.phase != "fiscal":
            raise WrongState("the drive is not registered yet")
        closing = form in (5, 6)
        if st.next_fd > self.config.capacity - CLOSING_RESERVE and not (
            (form == 5 and st.next_fd <= self.config.capacity - 1) or (form == 6 and st.next_fd <= self.config.capacity)
        ):
            raise ArchiveFull(f"drive {self.fn_number} has issued {st.next_fd - 1} of {self.config.capacity} documents")
        if now >= st.registered_utc + self.config.validity_days * DAY and not closing:
            raise KeysExpired(f"the keys of drive {self.fn_number} expired after {self.config.validity_days} days")
        oldest = self._oldest_unsent_utc()
        if oldest is not None and now - oldest >= OFD_WAIT_LIMIT and form not in (5, 6):
            # The shift and the drive can still be closed, so a blocked drive can be replaced.
            raise OfdWaitExhausted(
                f"a document has waited {(now - oldest) // DAY} days for the OFD's confirmation: drive blocked"
            )
        if form in (3, 31):
            if not st.shift_open:
                raise WrongState("no shift is open")
            if now - st.shift_opened_utc > SHIFT_LIMIT:
                raise ShiftExpired("the shift is older than 24 hours: close it before new receipts")
        elif form == 2 and st.shift_open:
            raise WrongState("a shift is already open")
        elif form == 5 and not st.shift_open:
            raise WrongState("no shift is open")
        elif form in (6, 11) and st.shift_open:
            raise WrongState("close the shift first")

    def warnings(self, st: DriveState | None = None, now: int | None = None) -> Warnings:
        st = st or self.state
        now = int(self.clock()) if now is None else now
        days_left = (st.registered_utc + self.config.validity_days * DAY - now) // DAY if st.registered_utc else 10**6
        oldest = self._oldest_unsent_utc()
        return Warnings(
            fn_resource_30_days=days_left <= 30,
            urgent_replacement_3_days=days_left <= 3,
            memory_full_90_percent=(st.next_fd - 1) >= 0.9 * self.config.capacity,
            ofd_timeout=oldest is not None and now - oldest >= OFD_WARNING_AFTER,
        )

    # ------------------------------------------------------------------ building

    def _build(self, st: DriveState, form: int, now: int, payload: Any) -> _Pending:
        """Check, number and (for reports) build one document; advance ``st`` as if it were issued.

        Receipts go to :meth:`_build_receipt`, which does not build their TLV: the body is encoded once
        (:mod:`fiscal_core.ffd.receipt_body`) and spliced behind the numbering block after the whole batch's
        fiscal signs are computed together.
        """
        self._check(st, form, now)
        if form in _RECEIPT_FORMS:
            return self._build_receipt(st, form, now, payload)
        when = self._local(now)
        fd = st.next_fd
        shift_number = st.shift_number + 1 if form == 2 else st.shift_number
        pending = _Pending(fd, form, when, shift_number)
        if form == 11 and payload[1] is not None:
            pending.ffd_version = int(payload[1].ffd_version)
        else:
            assert st.identity is not None
            pending.ffd_version = int(st.identity.ffd_version)
        if self._totals:
            self._totals.flush_into(st.shift_counters, st.drive_counters)
        header = Header(fd_number=fd, when=when, shift_number=shift_number)
        fs = self.signer.tag_1077(form, fd, when)
        pending.tlv = tlv.encode([self._report(st, form, header, fs, now, payload)])
        pending.fiscal_sign = fs
        # State after this document (the caller swaps it in only after the commit).
        st.next_fd = fd + 1
        st.last_doc_utc = now
        if form == 1:
            st.phase = "fiscal"
            st.registered_utc = now
        elif form == 11:
            if st.phase == "ready":
                st.phase = "fiscal"
                st.registered_utc = now
            if payload[1] is not None:
                st.identity = payload[1]
        elif form == 2:
            st.shift_number = shift_number
            st.shift_open = True
            st.shift_opened_utc = now
            st.receipt_number = 0
            st.shift_documents = 1
            st.shift_receipts = 0
            st.shift_counters = Counters()
        elif form == 5:
            st.shift_open = False
        elif form == 6:
            st.phase = "closed"
            st.closed_utc = now
        if st.shift_open and form not in (2, 5):
            st.shift_documents += 1
        return pending

    def _build_receipt(self, st: DriveState, form: int, now: int, payload: Any) -> _Pending:
        """The receipt part of :meth:`_build`, once :meth:`_check` has passed: encode (unless pre-encoded), size
        check, number; advance ``st``. Nothing in ``st`` changes before everything that can fail has succeeded."""
        ident = st.identity
        assert ident is not None
        body = payload if isinstance(payload, ReceiptBody) else encode_body(ident, payload)
        if body.form != form:
            raise WrongState(f"a form {body.form} body cannot be issued as form {form}")
        if _HEAD_LENGTH + len(body.data) > _MAX_RECEIPT:
            # Refused here, before it takes a number, not when the batch is spliced.
            raise documents_too_long(form, _HEAD_LENGTH + len(body.data))
        fd = st.next_fd
        number = st.receipt_number + 1
        pending = _Pending(fd, form, self._local(now), st.shift_number, number, body.settlement_sign, body.total, body)
        pending.ffd_version = int(ident.ffd_version)
        st.next_fd = fd + 1
        st.last_doc_utc = now
        st.receipt_number = number
        st.shift_receipts += 1
        if st.shift_open:
            st.shift_documents += 1
        # Gathered per batch, added to the shift and drive counters once (before any report reads them).
        self._totals.add_row(form, body.counter_row)
        return pending

    def _report(self, st: DriveState, form: int, header: Header, fs: bytes, now: int, payload: Any) -> Any:
        ident = st.identity
        assert ident is not None
        days_left = self._days_left(st, now)
        if form == 1:
            return documents.registration_report(ident, header, fs, key_resource_days=self.config.validity_days)
        if form == 11:
            reasons, new_identity = payload
            if new_identity is not None:
                if new_identity.fn_number != self.fn_number:
                    raise WrongState("a re-registration keeps the drive's FN number; a new drive is a new drive")
                ident = new_identity
            return documents.registration_report(
                ident,
                header,
                fs,
                reregistration_reasons=reasons,
                key_resource_days=days_left,
                drive_counters=st.drive_counters,
            )
        if form == 2:
            return documents.shift_open(ident, header, fs, cashier=payload, warnings=self.warnings(st, now))
        if form == 21:
            return self._status_report(st, header, fs, days_left)
        if form == 5:
            return self._shift_close(st, header, fs, now)
        if form == 6:
            return documents.drive_close(ident, header, fs, drive_counters=st.drive_counters)
        raise ValueError(f"the drive does not issue form {form}")

    def _seal(self, receipts: list[_Pending]) -> bool:
        """Sign, splice and pack a batch's receipts in one native pass (:mod:`fiscal_core.drive.seal`).

        False when the batch needs the general path: the HMAC alternative, or an FFD change inside the batch.
        """
        versions = {p.ffd_version for p in receipts}
        keys = self.signer.magma_keys
        if keys is None or len(versions) != 1:
            return False
        prefix = self._head_prefix
        if prefix is None:
            ident = self.identity
            prefix = self._head_prefix = tlv.encode(
                [(1041, ident.fn_number), (1037, ident.registration_number), (1018, ident.user_inn)]
            )
        items = []
        last_when: Any = None
        seconds = 0
        for p in receipts:
            assert p.body is not None
            if p.when is not last_when:  # a batch shares one clock reading (FiscalDrive._local)
                last_when = p.when
                seconds = (last_when - _EPOCH) // _SECOND
            items.append(
                (
                    p.form,
                    p.fd_number,
                    seconds,
                    seconds - seconds % 60,
                    p.shift_number,
                    p.receipt_number,
                    p.settlement_sign,
                    p.total,
                    p.body.data,
                )
            )
        sealed = seal_receipts(keys[0], keys[1], self.fn_number.encode("ascii"), prefix, versions.pop(), items)
        for p, (data, record, fp, ms) in zip(receipts, sealed, strict=True):
            p.tlv, p.record, p.message_sign, p.printed = data, record, ms, fp
            p.fiscal_sign = tlv.fiscal_sign_bytes(fp, p.form)
        return True

    def _splice(self, pending: _Pending, fs: bytes) -> bytes:
        """``numbering block + 1038 + 1042 + body``: byte for byte what ``documents.receipt`` encodes to.

        The block has a fixed layout (every value has a fixed width), so it is packed in one go behind
        the drive's constant 1041/1037/1018 prefix instead of going through the encoder.
        """
        assert pending.body is not None
        prefix = self._head_prefix
        if prefix is None:
            ident = self.identity
            prefix = self._head_prefix = tlv.encode(
                [(1041, ident.fn_number), (1037, ident.registration_number), (1018, ident.user_inn)]
            )
        when = pending.when
        seconds = (when - _EPOCH) // _SECOND
        length = len(prefix) + _NUMBERS.size + len(pending.body.data)
        assert length <= _MAX_RECEIPT
        numbers = _NUMBERS.pack(
            1040,
            4,
            pending.fd_number,
            1012,
            4,
            seconds,
            1077,
            6,
            fs,
            1038,
            4,
            pending.shift_number,
            1042,
            4,
            pending.receipt_number,
        )
        return b"".join((_DOC_HEAD.pack(pending.form, length), prefix, numbers, pending.body.data))

    def _unsent(self) -> tuple[int, int | None, int | None]:
        """(count, first FD, its issue time) of documents without a confirmation, the batch's own included."""
        with self.store.read() as txn:
            entries = list(self.store.outbox(txn, self.drive_id))
        entries += self._batch_unsent
        if not entries:
            return 0, None, None
        return len(entries), entries[0][0], entries[0][1]

    def _local(self, now: int) -> Any:
        # Documents of one batch share their second: convert it once.
        cached = self._local_cache
        if cached[0] != now:
            cached = self._local_cache = (now, local_time(now, self.config.timezone))
        return cached[1]

    def _days_left(self, st: DriveState, now: int) -> int:
        if not st.registered_utc:
            return self.config.validity_days
        return max(0, (st.registered_utc + self.config.validity_days * DAY - now) // DAY)

    def _status_report(self, st: DriveState, header: Header, fs: bytes, days_left: int) -> Any:
        count, first_fd, first_utc = self._unsent()
        assert st.identity is not None
        return documents.status_report(
            st.identity,
            header,
            fs,
            unsent_count=count,
            first_unsent_fd=first_fd,
            first_unsent_when=local_time(first_utc, self.config.timezone) if first_utc else None,
            shift_open=st.shift_open,
            drive_counters=st.drive_counters,
            key_resource_days=days_left,
        )

    def _shift_close(self, st: DriveState, header: Header, fs: bytes, now: int) -> Any:
        count, first_fd, first_utc = self._unsent()
        assert st.identity is not None
        return documents.shift_close(
            st.identity,
            header,
            fs,
            shift_counters=st.shift_counters,
            drive_counters=st.drive_counters,
            receipts_in_shift=st.shift_receipts,
            documents_in_shift=st.shift_documents + 1,
            unsent_count=count,
            first_unsent_when=local_time(first_utc, self.config.timezone) if first_utc else None,
            first_unsent_fd=first_fd,
            key_resource_days=self._days_left(st, now),
            warnings=self.warnings(st, now),
        )

    # ------------------------------------------------------------------ issuing

    def prepare(self, requests: Sequence[tuple[int, Any]], *, keep_going: bool = True) -> Prepared:
        """Build and sign ``(form, payload)`` requests against a copy of the state; nothing is written.

        A receipt's payload is a :class:`~fiscal_core.ffd.receipt.Receipt` / ``Correction`` or its
        pre-encoded :class:`~fiscal_core.ffd.receipt_body.ReceiptBody`. With ``keep_going`` a refused request
        is recorded as its error and takes no number. Fiscal signs and message signs of the whole batch are
        computed together (the MAC runs several independent chains side by side).
        """
        with self._lock:
            st = self.state.copy()
            self._totals = Accumulator()
            self._batch_unsent = []
            prepared = Prepared(self, st, now_utc=int(self.clock()))
            pending: list[_Pending] = []
            slots: list[_Pending | FiscalError] = []
            now = prepared.now_utc
            # After one receipt passed every check of _check at this `now`, the next receipts of the batch need
            # only the archive's room: nothing else _check reads changes between two receipts of one batch
            # (same clock reading, same shift, same oldest unsent document). Any other form ends the run.
            room_until = self.config.capacity - CLOSING_RESERVE
            checked = False
            for form, payload in requests:
                try:
                    if checked and form in _RECEIPT_FORMS and st.next_fd <= room_until:
                        item = self._build_receipt(st, form, now, payload)
                    else:
                        checked = False
                        item = self._build(st, form, now, payload)
                        checked = form in _RECEIPT_FORMS
                except FiscalError as exc:
                    # _build changes nothing before everything that can fail has succeeded.
                    if not keep_going:
                        raise
                    slots.append(exc)
                    continue
                pending.append(item)
                slots.append(item)
                self._batch_unsent.append((item.fd_number, prepared.now_utc))
            if self._totals:
                self._totals.flush_into(st.shift_counters, st.drive_counters)
            receipts = [p for p in pending if p.body is not None]
            if receipts and not self._seal(receipts):
                signs = self.signer.tags_1077(
                    [(p.form, p.fd_number, p.when, p.settlement_sign, p.total) for p in receipts]
                )
                for p, fs in zip(receipts, signs, strict=True):
                    p.fiscal_sign = fs
                    p.tlv = self._splice(p, fs)
            unsigned = [p for p in pending if not p.message_sign]
            for p, ms in zip(unsigned, self.signer.message_signs([p.tlv for p in unsigned]), strict=True):
                p.message_sign = ms
            fn_number = self.config.fn_number
            add_issued, add_record = prepared.issued.append, prepared.records.append
            for p in pending:
                issued = p.issued = Issued(
                    fd_number=p.fd_number,
                    form=p.form,
                    when=p.when,
                    fiscal_sign=p.printed if p.printed >= 0 else tlv.printed_fiscal_sign(p.fiscal_sign),
                    shift_number=p.shift_number,
                    receipt_number=p.receipt_number,
                    total=p.total,
                    tlv=p.tlv,
                    message_sign=p.message_sign,
                    fn_number=fn_number,
                    ffd_version=p.ffd_version,
                )
                add_issued(issued)
                add_record(p.record)
            prepared.results = [r.issued if type(r) is _Pending else r for r in slots]  # type: ignore[misc]
            return prepared

    def write_prepared(self, txn: Any, prepared: Prepared) -> None:
        """Write a prepared batch inside the caller's store transaction."""
        pack = records.pack
        self.store.put_documents(
            txn,
            self.drive_id,
            [
                (i.fd_number, sealed or pack(i.form, i.ffd_version, i.tlv, i.message_sign))
                for i, sealed in zip(prepared.issued, prepared.records, strict=True)
            ],
            prepared.now_utc,
        )
        self.store.put_meta(txn, self.drive_id, _STATE, msgspec.msgpack.encode(prepared.state))

    def applied(self, prepared: Prepared) -> None:
        """The transaction holding ``prepared`` committed: make its state the drive's state."""
        with self._lock:
            self.state = prepared.state
            self._head_prefix = None  # a re-registration may have changed the identity
            if prepared.issued and self._oldest_known and self._oldest_unsent is None:
                self._oldest_unsent = prepared.now_utc

    @staticmethod
    def commit_prepared(store: DriveStore, batches: Sequence[Prepared]) -> None:
        """One durable commit for batches of several drives of ``store`` (the fleet's group commit)."""
        with store.write() as txn:
            for batch in batches:
                batch.drive.write_prepared(txn, batch)
        for batch in batches:
            batch.drive.applied(batch)

    def append_many(
        self, requests: Sequence[tuple[int, Any]], *, keep_going: bool = True
    ) -> list[Issued | FiscalError]:
        """Issue many documents with one durable sync; results in request order."""
        with self._lock:
            prepared = self.prepare(requests, keep_going=keep_going)
            if prepared.issued:
                self.commit_prepared(self.store, [prepared])
            return prepared.results

    def _one(self, form: int, payload: Any = None) -> Issued:
        (result,) = self.append_many([(form, payload)], keep_going=False)
        assert isinstance(result, Issued)
        return result

    def register(self) -> Issued:
        return self._one(1)

    def reregister(self, reasons: Any, identity: DriveIdentity | None = None) -> Issued:
        """Re-registration report (11), e.g. a changed address; ``identity`` replaces the registered data.

        On a new drive (created with ``register=False``) this fits it as the replacement of a closed one: the
        re-registration report («замена ФН») is its first document and starts its key validity.
        """
        return self._one(11, (reasons, identity))

    def open_shift(self, cashier: str | None = None) -> Issued:
        return self._one(2, cashier)

    def receipt(self, receipt: Receipt) -> Issued:
        return self._one(3, receipt)

    def correction(self, correction: Correction) -> Issued:
        return self._one(31, correction)

    def status_report(self) -> Issued:
        return self._one(21)

    def close_shift(self) -> Issued:
        return self._one(5)

    def close(self) -> Issued:
        return self._one(6)

    # ------------------------------------------------------------------ OFD side

    @overload
    def outbox(
        self, limit: int | None = None, *, start_fd: int = 0, records: Literal[False] = False
    ) -> list[tuple[int, bytes]]: ...

    @overload
    def outbox(
        self, limit: int | None = None, *, start_fd: int = 0, records: Literal[True]
    ) -> list[tuple[int, records_.Record]]: ...

    def outbox(
        self, limit: int | None = None, *, start_fd: int = 0, records: bool = False
    ) -> list[tuple[int, bytes]] | list[tuple[int, records_.Record]]:
        """Unconfirmed documents in FD order: (FD, TLV + message sign), as the OFD exchange sends them.

        ``start_fd`` skips the ones before it (a sender with documents in flight reads on behind them);
        ``records=True`` gives each document's :class:`~fiscal_core.drive.records.Record` instead (form, FFD
        version, TLV and message sign apart).
        """
        out: list[Any] = []
        store = self.store
        prefix = self.drive_id.to_bytes(4, "big")
        with store.read() as txn:
            # A cursor placed at start_fd in the store's outbox database (keys: drive id + FD, big-endian; see
            # drive.store): a sender with documents in flight reads on behind them without walking over them.
            fds: list[int] = []
            cursor = txn.cursor(db=store.outbox_db)
            if cursor.set_range(doc_key(self.drive_id, max(start_fd, 0))):
                for key in cursor.iternext(keys=True, values=False):
                    if key[:4] != prefix or (limit is not None and len(fds) >= limit):
                        break
                    fds.append(int.from_bytes(key[4:8], "big"))
            for fd in fds:
                raw = store.get_document(txn, self.drive_id, fd)
                if raw is None:
                    raise DriveError(f"FD {fd} is in the outbox but not in the archive")
                rec = records_.unpack(raw, fd)
                out.append((fd, rec if records else rec.tlv + rec.message_sign))
        return out

    def verify_confirmation(self, fd_number: int, confirmation: bytes, operator_key: bytes) -> Confirmation:
        """Check the OFD's confirmation of ``fd_number`` as a ФН does before it takes it (command 0x26): a form-7
        document for this drive and FD, whose operator sign (1078) verifies under ``operator_key`` over its
        values and this document's message sign, with 1022 = 0. :class:`~fiscal_core.ofd.protocol.ConfirmationError`
        otherwise; :class:`WrongState` when the drive has no such FD."""
        with self.store.read() as txn:
            raw = self.store.get_document(txn, self.drive_id, fd_number)
        if raw is None:
            raise WrongState(f"no FD {fd_number} on drive {self.fn_number}")
        return self._check_confirmation(fd_number, raw, confirmation, OperatorSigner(operator_key))

    def _check_confirmation(self, fd: int, raw: bytes, confirmation: bytes, signer: OperatorSigner) -> Confirmation:
        # The message sign is the record's last 8 bytes when its flag is set (drive.records layout). The record's
        # CRC is not re-checked here: the sender read it through outbox(), which checks it.
        sign = raw[-8:] if raw[3] & 1 else b""
        return check_confirmation(
            confirmation, fn_number=self.fn_number, fd_number=fd, message_sign=sign, signer=signer
        )

    def confirm(self, fd_number: int, confirmation: bytes, *, operator_key: bytes | None = None) -> bool:
        """Store the OFD's operator confirmation (document 7) for ``fd_number``; False if it was already there.

        With ``operator_key`` the confirmation is verified first (:meth:`verify_confirmation`) and one that does
        not verify raises its :class:`~fiscal_core.ofd.protocol.ConfirmationError`, storing nothing.
        """
        (result,) = self.confirm_many([(fd_number, confirmation)], operator_key=operator_key)
        if isinstance(result, FiscalError):
            raise result
        return result

    def confirm_many(
        self, items: Sequence[tuple[int, bytes]], *, operator_key: bytes | None = None
    ) -> list[bool | FiscalError]:
        """Store many confirmations with one durable commit (the OFD sender's path), in the given order.

        Each result is True (stored: the FD leaves the outbox), False (it was already confirmed; the first
        confirmation stays) or the error that stopped it. Like a ФН taking receipts one after the other,
        the first confirmation that fails (no such FD; with ``operator_key``, one that does not verify) ends
        the batch: the result list stops with its error and the rest are not stored.
        """
        signer = OperatorSigner(operator_key) if operator_key is not None else None
        results: list[bool | FiscalError] = []
        with self._lock:
            with self.store.write() as txn:
                for fd, confirmation in items:
                    raw = self.store.get_document(txn, self.drive_id, fd)
                    if raw is None:
                        results.append(WrongState(f"no FD {fd} on drive {self.fn_number}"))
                        break
                    if signer is not None:
                        try:
                            self._check_confirmation(fd, raw, confirmation, signer)
                        except ConfirmationError as exc:
                            results.append(exc)
                            break
                    results.append(self.store.confirm(txn, self.drive_id, fd, confirmation))
            self._oldest_known = False
        return results

    def document(self, fd_number: int) -> records.Record:
        with self.store.read() as txn:
            raw = self.store.get_document(txn, self.drive_id, fd_number)
        if raw is None:
            raise KeyError(f"no FD {fd_number} on drive {self.fn_number}")
        return records.unpack(raw, fd_number)
