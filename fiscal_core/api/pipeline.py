"""The fiscal thread of a worker: journaled receipts → register fleet → outcomes in the intake.

Rules
- A worker owns a share of the groups (``owns``); its fleet runs only their registers, and only this thread
  touches that fleet (it blocks on durable drive commits: never on the event loop).
- What to fiscalize comes from the intake's ``pending`` database, never from memory alone: receipts journaled
  by this process are handed over in memory (:meth:`Pipeline.handoff`, no decoding) and found by the scan; those
  journaled by other workers for groups owned here are found by a scan every ``poll_s``. Per group the scan
  resumes after the last ``seq`` taken (the intake's counters are commit-ordered, so nothing is skipped).
- The hand-over comes BEFORE the commit, :meth:`Pipeline.settle` after it. The scan sees an entry the moment
  its commit lands, which may be before the writer thread runs again: handed over after the commit, such an
  entry was read back from the journal and decoded, and its late hand-over stayed in the stash for good (under
  bulk load ~8 % of the receipts). ``settle`` forgets what the commit did not journal (duplicates, a failed
  commit) and wakes the thread. ``read_back`` counts the entries the scan had to decode.
- A receipt handed over may come as its body already encoded (:meth:`Pipeline.prebuild`, called by the API on
  the event loop right after validation, for the groups this worker owns): the fleet then queues that body, and
  the receipt's objects were freed while still in the cache instead of after the drive's commit.
- Exactly once: each receipt goes to the fleet with its uuid as ``ref``; the drive links uuid → document in the
  document's own transaction. At start every pending receipt is first looked up in the links of the fleet's
  stores: one that was issued before a crash gets its outcome rebuilt from the drive's document, the others are
  fiscalized now. :meth:`Intake.finish` then writes the outcome, idempotently.
- Receipts are admitted by the API (:meth:`gate` / ``Dispatcher.admission``) before they are journaled, so the
  fleet routes them with ``admitted=True``: a journaled receipt is never refused, dropped or timed out.
- Admission gates of the owned groups are recomputed every ``gate_s`` and published to the intake (the other
  workers read them there) when they change.
- Fleet events that a merchant should hear about (a register left rotation, a drive refused, the group is
  refusing, …) become tenant notices in the intake; the callback runner delivers them.
- A graceful stop finishes what the fleet holds (bounded by ``drain_s``); what is left stays pending in the
  journal and is taken at the next start.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec

from fiscal_core.api.intake import Entry, Intake, IntakeFull, Outcome
from fiscal_core.drive.drive import FiscalDrive
from fiscal_core.ffd import tlv
from fiscal_core.ffd.documents import DriveIdentity
from fiscal_core.ffd.receipt import Correction, Receipt
from fiscal_core.registers.fleet import Fleet, FleetEvent, FleetSettings, Prebuilt, Result

__all__ = ["Pipeline", "decode_document"]

log = logging.getLogger("fiscal_core.pipeline")

_receipt_dec = msgspec.msgpack.Decoder(Receipt)
_correction_dec = msgspec.msgpack.Decoder(Correction)
#: Routine fleet events that are not worth a notice to the merchant (every other event is: drive filling or
#: expiring, OFD backlog, a register leaving rotation, the group refusing, reserves, failures).
_QUIET_KINDS = frozenset({"shift_opened", "shift_closed"})


def decode_document(entry: Entry) -> Receipt:
    """The validated receipt or correction journaled in ``entry``."""
    return (_correction_dec if entry.correction else _receipt_dec).decode(entry.document)


#: The last 1012 time written and its text: a pump's receipts share one or two seconds, and ``isoformat`` goes
#: through libc's printf for the time part. A tuple, swapped whole, so a reader never pairs one time with
#: another's text.
_last_when: tuple[dt.datetime | None, str] = (None, "")


def _when_text(when: dt.datetime) -> str:
    global _last_when
    last = _last_when
    if when == last[0]:
        return last[1]
    text = when.isoformat()
    _last_when = (when, text)
    return text


def outcome_of(result: Result, at: float) -> Outcome:
    if result.error is not None:
        err = result.error
        return Outcome("fail", at, result.register, error_code=err.code, error_text=str(err))
    return Outcome(
        "done",
        at,
        result.register,
        result.fn_number,
        result.registration_number,
        result.fd_number,
        result.fiscal_sign,
        result.shift_number,
        result.receipt_number,
        _when_text(result.when) if result.when is not None else "",
        result.total,
        result.form,
    )


def outcome_from_document(drive: FiscalDrive, register: str, fd: int, at: float) -> Outcome:
    """Rebuild a receipt's outcome from its stored document (after a crash between drive and intake)."""
    ((form, nodes),) = tlv.decode(drive.document(fd).tlv)
    tags = {tag: value for tag, value in nodes}
    return Outcome(
        "done",
        at,
        register,
        drive.fn_number,
        drive.identity.registration_number,
        int(tags[1040]),
        tlv.printed_fiscal_sign(tags[1077]),
        int(tags.get(1038, 0)),
        int(tags.get(1042, 0)),
        tags[1012].isoformat(),
        int(tags.get(1020, 0)),
        form,
    )


class Pipeline:
    """The fleet of one worker and the thread that feeds it; see the module rules."""

    def __init__(
        self,
        data_dir: str,
        intake: Intake,
        *,
        owns: Callable[[str], bool] | None = None,
        settings: FleetSettings | None = None,
        clock: Callable[[], float] = time.time,
        poll_s: float = 0.02,
        gate_s: float = 0.1,
        health_s: float = 1.0,
        refresh_s: float = 5.0,
        drain_s: float = 10.0,
        on_finished: Callable[[list[tuple[bytes, Entry, Outcome]]], None] | None = None,
    ) -> None:
        self.intake = intake
        self.clock = clock
        self.poll_s = poll_s
        self.gate_s = gate_s
        self.drain_s = drain_s
        self.on_finished = on_finished
        self.fleet = Fleet(data_dir, clock(), settings=settings, groups=owns)
        self.model = self.fleet.model
        self._tenant_of = {code: g.tenant for code, g in self.model.groups.items()}
        self._cursor: dict[str, int] = dict.fromkeys(self.fleet.groups, 0)
        self._stash: dict[bytes, tuple[Entry, Receipt | Prebuilt]] = {}
        self.read_back = 0  #: entries the scan found pending and not handed over: decoded from the journal
        self._dirty: set[str] = set()
        self._inflight: dict[int, tuple[bytes, Entry]] = {}
        self._unwritten: list[tuple[bytes, Entry, Outcome]] = []
        self._event = threading.Event()
        #: Set by the service: outcomes then go through the journal writer's group commits.
        self.writer: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_scan = 0.0
        self._next_gate = 0.0
        self._next_health = 0.0
        self._next_refresh = clock() + refresh_s
        self.refresh_s = refresh_s
        self.health_s = health_s
        self.gates: dict[str, tuple[int, str, str] | None] = {}
        self._pending_notices: list[tuple[str, str, float, str]] = []
        self.recovered = {"linked": 0, "resubmitted": 0}
        self.processed = 0
        self.health: list[Any] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ thread control

    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._run, name="fiscal-pipeline", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Finish what the fleet holds (bounded by ``drain_s``), then stop the thread and close the fleet."""
        self._stop.set()
        self._event.set()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.drain_s + 5)
        self.fleet.close()

    def prebuild(self, group: str, doc: Receipt) -> Receipt | Prebuilt:
        """What to hand over for ``doc`` of ``group``: its body encoded now when this worker owns the group
        (any thread; see the rules), else ``doc`` itself. A body that fails to encode leaves ``doc``: the
        pipeline then fails the receipt visibly, as before."""
        if group not in self._cursor:
            return doc
        try:
            return self.fleet.prebuild(group, doc) or doc
        except Exception:
            return doc

    def identity(self, group: str) -> DriveIdentity | None:
        """The drive identity ``group``'s bodies are encoded for when this worker owns the group (the bulk
        reader then writes the body itself, as :meth:`prebuild` would), else None."""
        grp = self.fleet.groups.get(group) if group in self._cursor else None
        return None if grp is None else grp.identity

    def handoff(self, items: list[tuple[bytes, Entry, Receipt | Prebuilt | None]]) -> None:
        """Receipts this process is about to journal, kept in memory so the thread never decodes them. Called
        before the commit, then :meth:`settle` after it (the module rules say why). A None document is not
        kept: the thread reads that entry back from the journal."""
        with self._lock:
            stash, owned = self._stash, self._cursor
            for uuid, entry, doc in items:
                if doc is not None and entry.group in owned:
                    stash[uuid] = (entry, doc)

    def settle(self, journaled: list[str], dropped: list[bytes]) -> None:
        """After the commit: the groups of the entries it journaled (the thread takes them now), and the uuids
        handed over that it did not journal (duplicates, or all of them when the commit failed)."""
        with self._lock:
            for uuid in dropped:
                self._stash.pop(uuid, None)
            owned = self._cursor
            mine = [g for g in journaled if g in owned]
            self._dirty.update(mine)
        if mine:  # an API worker of the tiered layout owns no group: its idle thread is not woken per commit
            self._event.set()

    def owns(self, group: str) -> bool:
        return group in self._cursor

    def owns_any(self) -> bool:
        """False in an API worker of the tiered layout: nothing is handed to it or woken for it."""
        return bool(self._cursor)

    # ------------------------------------------------------------------ recovery

    def recover(self) -> None:
        """Pending receipts of the owned groups after a (crash) restart: rebuild or resubmit; see the rules."""
        now = self.clock()
        stores = [(s.store, {r.drive.drive_id: r for r in s.regs}) for s in self.fleet.stores.values()]
        for group in list(self._cursor):
            pend = self.intake.pending_of(group, 0, limit=1 << 40)
            if not pend:
                continue
            entries = self.intake.entries([u for _, u in pend])
            linked: list[tuple[bytes, Entry, Outcome]] = []
            for (seq, uuid), entry in zip(pend, entries, strict=True):
                found = None
                for store, by_id in stores:
                    with store.read() as txn:
                        link = store.get_link(txn, uuid)
                    if link is not None and link[0] in by_id:
                        found = (by_id[link[0]], link[1])
                        break
                if found is not None:
                    reg, fd = found
                    linked.append((uuid, entry, outcome_from_document(reg.drive, reg.serial, fd, now)))
                else:
                    self._submit(uuid, entry, decode_document(entry), now)
                    self.recovered["resubmitted"] += 1
                self._cursor[group] = seq
            if linked:
                self.recovered["linked"] += len(linked)
                self._write(linked)
        if any(self.recovered.values()):
            log.info(
                "recovered pending receipts: %d already on a drive, %d fiscalized now",
                self.recovered["linked"],
                self.recovered["resubmitted"],
            )

    # ------------------------------------------------------------------ the loop

    def _run(self) -> None:
        fleet = self.fleet
        stop_at: float | None = None
        while True:
            now = self.clock()
            if self._stop.is_set():
                if stop_at is None:
                    stop_at = now + self.drain_s
                if (not fleet.pending() and not self._unwritten) or now >= stop_at:
                    break
            try:
                self._step(now)
            except Exception:  # the thread must go on: everything it holds is journaled and will be retried
                log.exception("fiscal pipeline step failed")
                time.sleep(0.05)
            if self._stop.is_set():
                continue
            nxt = fleet.next_wakeup()
            wait = min(self.poll_s, max(0.0, nxt - self.clock()), self._next_gate - self.clock())
            if wait > 0:
                self._event.wait(wait)
            self._event.clear()

    def _step(self, now: float) -> None:
        self._take(now)
        results = self.fleet.pump(now)
        if results:
            self._finish(results)
        elif self._unwritten:
            self._write([])
        if now >= self._next_gate:
            self._next_gate = now + self.gate_s
            self._publish_gates(now)
            self._notices()
        if now >= self._next_refresh:
            self._next_refresh = now + self.refresh_s
            self._refresh(now)

    def _take(self, now: float) -> None:
        if now >= self._next_scan:
            self._next_scan = now + self.poll_s
            groups: set[str] | list[str] = list(self._cursor)
            with self._lock:
                self._dirty.clear()
        else:
            with self._lock:
                if not self._dirty:
                    return
                groups, self._dirty = self._dirty, set()
        intake = self.intake
        for group in groups:
            pend = intake.pending_of(group, self._cursor[group])
            if not pend:
                continue
            with self._lock:
                stash = self._stash
                got = [stash.pop(uuid, None) for _, uuid in pend]
            missing = [uuid for (_, uuid), g in zip(pend, got, strict=True) if g is None]
            self.read_back += len(missing)
            decoded = iter(intake.entries(missing)) if missing else iter(())
            for (seq, uuid), g in zip(pend, got, strict=True):
                if g is None:
                    entry = next(decoded)
                    self._submit(uuid, entry, decode_document(entry), now)
                else:
                    # The pending key is the authority for seq (a handed-over entry may predate its numbering).
                    entry = g[0] if g[0].seq == seq else msgspec.structs.replace(g[0], seq=seq)
                    self._submit(uuid, entry, g[1], now)
            self._cursor[group] = pend[-1][0]

    def _submit(self, uuid: bytes, entry: Entry, doc: Receipt | Prebuilt, now: float) -> None:
        try:
            ticket = self.fleet.submit(doc, entry.group, now, ref=uuid, admitted=True)
        except Exception as exc:  # validated before journaling, so this is rare: the receipt fails, visibly
            code = getattr(exc, "code", "internal_error")
            self._write([(uuid, entry, Outcome("fail", self.clock(), error_code=code, error_text=str(exc)))])
            return
        if isinstance(ticket, int):
            self._inflight[ticket] = (uuid, entry)
        else:  # a capability refusal the API should have caught: fail it rather than keep it forever
            out = Outcome("fail", self.clock(), error_code=ticket.code, error_text=ticket.reason)
            self._write([(uuid, entry, out)])

    def _finish(self, results: list[Result]) -> None:
        at = self.clock()
        inflight = self._inflight
        done = []
        for r in results:
            uuid, entry = inflight.pop(r.ticket)
            done.append((uuid, entry, outcome_of(r, at)))
        self.processed += len(done)
        self._write(done)

    def _write(self, done: list[tuple[bytes, Entry, Outcome]]) -> None:
        writer = self.writer
        if writer is not None and done:
            # The journal writer's next group commit carries them (one fsync for journal and outcomes).
            writer.submit_outcomes(done, self._written)
            return
        batch = self._unwritten + done if self._unwritten else done
        try:
            self.intake.finish(batch)
        except IntakeFull:
            # The documents are on their drives (and linked): the outcomes are written when space returns.
            self._unwritten = batch
            log.warning("intake full: %d outcomes wait to be written", len(batch))
            return
        self._unwritten = []
        if self.on_finished is not None and batch:
            self.on_finished(batch)

    def _refresh(self, now: float) -> None:
        """Groups and registers provisioned while the service runs (``fiscal-core register add``) join."""
        try:
            added = self.fleet.refresh(now)
        except Exception:  # a half-written fleet.json: try again at the next refresh
            log.exception("refreshing the fleet failed")
            return
        self.model = self.fleet.model
        self._tenant_of = {code: g.tenant for code, g in self.model.groups.items()}
        for code in self.fleet.groups:
            self._cursor.setdefault(code, 0)
        if added:
            log.info("registers joined the fleet: %s", ", ".join(added))

    def _written(self, done: list[tuple[bytes, Entry, Outcome]]) -> None:
        """From the journal writer's thread, after the commit that stored ``done``."""
        if self.on_finished is not None:
            self.on_finished(done)

    # ------------------------------------------------------------------ gates and notices

    def _publish_gates(self, now: float) -> None:
        d = self.fleet.dispatcher
        changed: dict[str, tuple[int, str, str] | None] = {}
        for group in self._cursor:
            refusal = d.admission(group, now)
            gate = None if refusal is None else (refusal.retry_after_s, refusal.reason, refusal.code)
            if group not in self.gates or self.gates[group] != gate:
                changed[group] = gate
        if changed:
            first = not self.gates
            self.gates = {**self.gates, **changed}
            with contextlib.suppress(IntakeFull):
                self.intake.set_gates(changed)
            if not first:
                # The API refuses at admission (before the journal), so the dispatcher never sees those
                # receipts: the gate's own transitions are the merchant's notice that the group is refusing.
                for group, gate in changed.items():
                    kind = "group_refusing" if gate is not None else "group_accepting"
                    detail = gate[1] if gate is not None else "admitting new receipts again"
                    self._pending_notices.append((group, kind, now, detail))
        if now >= self._next_health:
            self._next_health = now + self.health_s
            self.health = self.fleet.health(now)

    def _notices(self) -> None:
        events = self.fleet.drain_events()
        notices = []
        for group, kind, at, detail in self._pending_notices:
            tenant = self._tenant_of.get(group)
            if tenant is not None:
                body = {"kind": kind, "at": at, "group": group, "register": None, "detail": detail, "source": "api"}
                notices.append((tenant, body))
        self._pending_notices = []
        for ev in events:
            kind = str(ev.kind.value if hasattr(ev.kind, "value") else ev.kind)
            if kind in _QUIET_KINDS:
                continue
            tenant = self._tenant_of.get(ev.group)
            if tenant is None:
                continue
            body = {
                "kind": kind,
                "at": ev.at,
                "group": ev.group,
                "register": ev.register,
                "detail": ev.detail,
                "source": "fleet" if isinstance(ev, FleetEvent) else "dispatcher",
            }
            notices.append((tenant, body))
        if notices:
            try:
                self.intake.notify(notices)
            except IntakeFull:
                log.warning("intake full: %d notices dropped", len(notices))
