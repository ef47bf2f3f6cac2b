"""The register fleet at run time (issue 4 items 2–5): receipts in, fiscal data out, around the dispatcher.

Rules
- ``submit(receipt, group, now)`` checks the receipt (its body is encoded here, once, for the group: a bad
  receipt is an :class:`~fiscal_core.errors.InputError` and nothing is queued), asks the dispatcher for a
  register and queues the receipt there. ``prebuild(group, receipt)`` encodes the body ahead (any thread: it
  only reads the group's identity, fixed when the group joins), and ``submit`` takes the :class:`Prebuilt`
  instead of the receipt: the API encodes it right after validation, while the receipt's objects are still in
  the cache, and drops them then; a :class:`~fiscal_core.registers.dispatch.Refusal` (Retry-After) is
  returned as it is. The fleet holds accepted receipts in memory: the intake journal in front of it is what
  survives a crash (architecture: "every arrow after accepted is resumable").
- ``pump(now)`` does the work: per register with queued receipts it takes a batch (``take_batch``), issues it
  on the register's drive, and all batches of one store go into ONE durable commit
  (:meth:`FiscalDrive.prepare` per register, :meth:`FiscalDrive.commit_prepared` per store). A register is
  strictly serial: one batch at a time (the dispatcher answers 0 while one is in flight).
- Service time: ``emulated`` registers finish a batch in the pump that issued it; ``hardware`` registers are
  busy for ``service time × n`` of the injected clock after a batch, and their results come out then, so a
  simulation runs at real speeds without sleeping.
- Nothing accepted is lost or failed by a drive: a receipt the drive refuses, or whose store cannot commit,
  is handed back and routed again (``route(accepted=True)``); the register leaves rotation with the reason
  (``drive_refused`` / ``storage_failed``) and the rest of its queue moves too. Passing refusals (storage, OFD
  wait, clock) are retried after ``retry_s``; a full, expired or closed drive waits for :meth:`replace_drive`.
  When no register can take a moved receipt, it waits in the group and is tried again each pump.
- Shifts (:mod:`.shifts`): opened in front of a register's first receipt, closed on schedule; a closing register
  leaves rotation (``shift_close``) ``lead_s`` early (a ``hardware`` register; an ``emulated`` one only for the
  pump that closes), finishes its queue, hands back what is left at the close time, issues the close report
  and comes back.
- Health: once a second of ``now`` every register's drive numbers are pushed into the dispatcher (fill counting
  the queue, days of key life, age of the oldest document without the OFD's confirmation, blocked), and at
  once when a submission uses up a register's room (:mod:`.fleet_state`): a register near a drive limit is
  drained before its drive refuses anything. Dispatcher and fleet events are collected for the API layer.
- One thread owns a fleet (it blocks on durable commits: never call it on an event loop).
"""

from __future__ import annotations

import heapq
import math
import os
from collections.abc import Callable
from typing import Any, NamedTuple

from msgspec.structs import replace

from fiscal_core.drive.drive import FiscalDrive, Issued, Prepared
from fiscal_core.drive.errors import DriveError, OfdWaitExhausted, ShiftExpired, StorageFull, TimeWentBack
from fiscal_core.drive.store import DriveStore
from fiscal_core.errors import EncodeError, FiscalError
from fiscal_core.ffd.receipt import Receipt
from fiscal_core.ffd.receipt_body import ReceiptBody, capability_bits, encode_body
from fiscal_core.registers import health
from fiscal_core.registers.dispatch import (
    Dispatcher,
    Event,
    GroupSettings,
    GroupSnapshot,
    Reason,
    Refusal,
    UnknownGroup,
    UnknownRegister,
)
from fiscal_core.registers.fleet_shifts import ShiftKeeper
from fiscal_core.registers.fleet_state import (
    FleetEvent,
    FleetEventKind,
    FleetReason,
    FleetSettings,
    Grp,
    Reg,
    Result,
    Store,
    drain_level,
)
from fiscal_core.registers.health import RegisterHealth
from fiscal_core.registers.model import (
    CAPABILITIES,
    FleetFile,
    FleetModel,
    capabilities_of,
    group_identity,
    required_capabilities,
)
from fiscal_core.registers.provision import add_registers, fit_replacement

__all__ = [
    "Fleet",
    "FleetEvent",
    "FleetEventKind",
    "FleetReason",
    "FleetSettings",
    "Prebuilt",
    "RegisterHealth",
    "Result",
]

#: A receipt's numbering block, 1038 and 1042 take 116 bytes of the 32,768 a receipt document may have.
_MAX_BODY = 32768 - 116
_ALL_CAPS = frozenset(CAPABILITIES)
DRIVE_REFUSED = FleetReason.DRIVE_REFUSED
STORAGE_FAILED = FleetReason.STORAGE_FAILED
DRIVE_REPLACEMENT = FleetReason.DRIVE_REPLACEMENT
#: Refusals that pass with time; the others (full, expired, closed, wrong state, corrupt) need a new drive.
_PASSING = (StorageFull, OfdWaitExhausted, TimeWentBack)

Job = tuple[int, Any, Any]  # (ticket, body, ref)


class Prebuilt(NamedTuple):
    """A receipt's body encoded ahead for its group (:meth:`Fleet.prebuild`), in place of the receipt."""

    group: str
    body: ReceiptBody
    caps: int  #: its ``capability_bits``


_Batch = tuple[Reg, list[Job] | None, Prepared, bool]  # (register, receipts or None for a shift close, prepared, opens)


class Fleet:
    """The registers of a data directory at run time; see the module rules."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        now: float,
        *,
        settings: FleetSettings | None = None,
        on_result: Callable[[Result], None] | None = None,
        on_event: Callable[[Event | FleetEvent], None] | None = None,
        dispatcher: Dispatcher | None = None,
        groups: Callable[[str], bool] | None = None,
    ) -> None:
        self.files = FleetFile(data_dir)
        #: Which groups this fleet runs (one worker process each owns a share of them); all by default.
        self.owns: Callable[[str], bool] = groups or (lambda code: True)
        if not self.files.exists():
            raise FileNotFoundError(f"no fleet in {self.files.root} (provision one first)")
        self.settings = settings or FleetSettings()
        self.on_result = on_result
        self.on_event = on_event
        self._now = float(now)
        self._d = dispatcher or Dispatcher(limits=self.settings.limits)
        self.shifts = ShiftKeeper(self.settings.shift, self._d)
        self._events: list[Event | FleetEvent] = []
        self._out: list[Result] = []
        self._seq = 0
        self._due_seq = 0
        self._second = -math.inf
        self._work: list[Reg] = []
        self._due: list[tuple[float, int, Reg, int, list[Result]]] = []
        self._orphaned: set[Grp] = set()
        self.groups: dict[str, Grp] = {}
        self.regs: dict[str, Reg] = {}
        self.stores: dict[int, Store] = {}
        self.model: FleetModel = self.files.load()
        self._build()

    # ------------------------------------------------------------------------------------------ building

    def _clock(self) -> float:
        return self._now

    def _build(self) -> None:
        """Add the model's groups and registers that the fleet does not run yet (all of them at start)."""
        model = self.model
        s = self.settings
        for code, g in model.groups.items():
            if code in self.groups or not self.owns(code):
                continue
            self._d.add_group(
                code,
                GroupSettings(
                    target_wait_s=g.target_wait_s,
                    admission_margin_s=g.admission_margin_s,
                    policy=g.policy,
                    release_hold_s=s.release_hold_s,
                ),
            )
            self.groups[code] = Grp(code, group_identity(model, code), frozenset(g.capabilities), _ALL_CAPS)
        for serial, m in model.registers.items():
            if serial in self.regs or m.group not in self.groups:
                continue
            grp = self.groups[m.group]
            store = self.stores.get(m.shard)
            if store is None:
                path = self.files.shard_path(m.shard)
                store = self.stores[m.shard] = Store(path, DriveStore(path))
            drive = FiscalDrive.open(store.store, m.fn_number, clock=self._clock)
            reg = Reg(m, grp, store, drive, len(grp.regs), s, self._d.limits.drain_fill_percent)
            grp.regs.append(reg)
            store.regs.append(reg)
            self.regs[serial] = reg
            self._d.add_register(
                m.group, serial, capabilities=grp.caps, reserve=m.reserve, service_time_s=m.service_time
            )
            if drive.state.shift_open:
                self.shifts.opened(reg, drive.state.shift_opened_utc)
                if self._now >= reg.leave_at:
                    self.shifts.start(reg, self._now)  # overdue after a stop: no receipt goes there first
            reg.refresh_room()

    def refresh(self, now: float) -> list[str]:
        """Pick up groups and registers provisioned since the start (``fiscal-core register add`` beside a running
        service); the serials added. Nothing is removed or changed: drive replacement goes through
        :meth:`replace_drive`."""
        self._now = now
        before = set(self.regs)
        self.model = self.files.load()
        self._build()
        return [serial for serial in self.regs if serial not in before]

    def add_registers(self, group: str, count: int, now: float, **kw: Any) -> list[str]:
        """Provision registers into the running fleet (:func:`~.provision.add_registers`'s keywords); serials."""
        self._now = now
        open_stores = {shard: store.store for shard, store in self.stores.items()}
        add_registers(self.files, group, count, clock=self._clock, open_stores=open_stores, **kw)
        return self.refresh(now)

    def close(self) -> None:
        for store in self.stores.values():
            store.store.close()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def dispatcher(self) -> Dispatcher:
        return self._d

    def drive(self, serial: str) -> FiscalDrive:
        return self._reg(serial).drive

    def _reg(self, serial: str) -> Reg:
        try:
            return self.regs[serial]
        except KeyError:
            raise UnknownRegister(f"no register {serial!r}") from None

    # ------------------------------------------------------------------------------------------ submitting

    def prebuild(self, group: str, receipt: Receipt) -> Prebuilt | None:
        """``receipt``'s body encoded for ``group`` now, for :meth:`submit`; None when the group is not this
        fleet's. Safe from any thread (the module rules); an encoding error is raised here, as ``submit`` would."""
        grp = self.groups.get(group)
        if grp is None:
            return None
        return Prebuilt(group, encode_body(grp.identity, receipt), capability_bits(receipt))

    def submit(
        self, receipt: Receipt | Prebuilt, group: str, now: float, *, ref: Any = None, admitted: bool = False
    ) -> int | Refusal:
        """Accept ``receipt`` (or its :class:`Prebuilt` body) for ``group``: its ticket (results carry it and
        ``ref``), or a Refusal.

        ``admitted=True``: the API admitted and journaled the receipt already (it asked the dispatcher's
        ``admission`` first), so it is never refused for load; when no register can take it now it waits in
        the group like a withdrawn receipt. A ``bytes`` ``ref`` (the intake uuid) is linked to the document in
        the drive's own transaction (:meth:`DriveStore.put_links`): a restart can tell that it was issued.
        """
        grp = self.groups.get(group)
        if grp is None:
            raise UnknownGroup(f"no group {group!r}")
        if isinstance(receipt, Prebuilt):
            if receipt.group != group:
                raise ValueError(f"a body prebuilt for group {receipt.group!r} submitted to {group!r}")
            body, needs = receipt.body, capabilities_of(receipt.caps)
        else:
            body = encode_body(grp.identity, receipt)
            needs = required_capabilities(receipt) if grp.check_caps else frozenset()
        if len(body.data) > _MAX_BODY:
            raise EncodeError(f"the receipt is {len(body.data) + 116} bytes, more than the 32768 a document may have")
        if grp.check_caps:
            missing = needs - grp.caps
            if missing:
                return Refusal(
                    0, f"group {group!r} has no {', '.join(sorted(missing))} registers", "no_capable_register"
                )
        got = self._d.route(group, now, admitted=admitted)
        if type(got) is not str:
            if not admitted:
                return got  # type: ignore[return-value]
            self._seq = ticket = self._seq + 1
            grp.orphans.append((ticket, body, ref))
            self._orphaned.add(grp)
            return ticket
        reg = self.regs[got]
        self._seq = ticket = self._seq + 1
        reg.queue.append((ticket, body, ref))
        reg.room -= 1
        if reg.room <= 0:
            self._push_health(reg, now)
        if not reg.listed:
            reg.listed = True
            self._work.append(reg)
        return ticket

    def _enqueue(self, reg: Reg, job: Job, now: float) -> None:
        reg.queue.append(job)
        reg.room -= 1
        if reg.room <= 0:
            self._push_health(reg, now)
        if not reg.listed:
            reg.listed = True
            self._work.append(reg)

    def _reroute(self, grp: Grp, jobs: list[Job], now: float) -> None:
        """Accepted receipts moving off a register: to another one, or to the group's waiting list."""
        route = self._d.route
        for k, job in enumerate(jobs):
            got = route(grp.code, now, accepted=True)
            if type(got) is not str:
                grp.orphans.extend(jobs[k:])
                self._orphaned.add(grp)
                return
            self._enqueue(self.regs[got], job, now)

    def _take_back(self, reg: Reg, now: float) -> None:
        """Move ``reg``'s not started receipts to other registers."""
        if not reg.queue:
            return
        n = self._d.withdraw(reg.serial, len(reg.queue), now)
        jobs = list(reg.queue)[-n:] if n else []
        for _ in range(n):
            reg.queue.pop()
        reg.refresh_room()
        self._reroute(reg.grp, jobs, now)

    # ------------------------------------------------------------------------------------------ pumping

    def pump(self, now: float) -> list[Result]:
        """Issue what is queued and finish what is due at ``now``; the results (also given to ``on_result``)."""
        self._now = now
        if now >= self._second:
            self._each_second(now)
        elif now >= self.shifts.due_at:
            self.shifts.check(self.regs.values(), now)
        if self._due and self._due[0][0] <= now:
            self._complete(now)
        if self._orphaned:
            self._adopt_orphans(now)
        if self._work or self.shifts.closing:
            self._issue(now)
        self._collect_events()
        out, self._out = self._out, []
        return out

    def next_wakeup(self) -> float:
        """The next fleet time at which ``pump`` has something to do (``now`` itself while work is queued).

        Receipts waiting for a register are tried at every pump; a caller pumps at least once a second anyway
        (the dispatcher's windows and reserve decisions run per second).
        """
        if self._work:
            return self._now
        times = [self._due[0][0]] if self._due else []
        if self._orphaned:
            times.append(self._second)
        for reg in self.regs.values():
            times.append(self.shifts.wakeup(reg))
            times.append(reg.retry_at)
        return min(times, default=math.inf)

    def _deliver(self, results: list[Result]) -> None:
        self._out.extend(results)
        if self.on_result is not None:
            for r in results:
                self.on_result(r)

    def _issue(self, now: float) -> None:
        d = self._d
        by_store: dict[Store, list[_Batch]] = {}
        if self.shifts.closing:
            for reg in list(self.shifts.closing):
                self._closing_step(reg, now, by_store)
        work, self._work = self._work, []
        cashier = self.settings.cashier
        for reg in work:
            reg.listed = False
            if reg.busy or (reg.closing and now >= reg.close_due):
                continue  # a hardware register still serving its batch; a closing one was handled above
            n = d.take_batch(reg.serial, reg.max_batch, now)
            if not n:
                continue
            queue = reg.queue
            if n == len(queue):
                jobs = list(queue)
                queue.clear()
            else:
                popleft = queue.popleft
                jobs = [popleft() for _ in range(n)]
            requests: list[tuple[int, Any]] = [(body.form, body) for _, body, _ in jobs]
            drive = reg.drive
            opens = not drive.state.shift_open
            if opens:
                requests.insert(0, (2, cashier))
            reg.started = n
            try:
                prepared = drive.prepare(requests)
            except Exception as exc:  # a broken drive must not stop the fleet nor lose the receipts
                self._refused(reg, DriveError(f"the drive failed to prepare a batch: {exc!r}"), now)
                self._hand_back(reg, jobs, now)
                continue
            by_store.setdefault(reg.store, []).append((reg, jobs, prepared, opens))
            if queue and not reg.hardware:
                reg.listed = True
                self._work.append(reg)
        for store, batches in by_store.items():
            try:
                _commit(store.store, batches)
            except Exception as exc:  # StorageFull and anything else: nothing of the transaction was written
                self._store_failed(store, batches, exc, now)
                continue
            for batch in batches:
                self._settle(batch, now)

    def _settle(self, batch: _Batch, now: float) -> None:
        reg, jobs, prepared, opens = batch
        results = prepared.results
        grp = reg.grp
        if jobs is None:  # a shift close
            closed = results[0]
            if isinstance(closed, Issued):
                self._emit(FleetEventKind.SHIFT_CLOSED, now, reg, f"shift {closed.shift_number}, FD {closed.fd_number}")
                self.shifts.finished(reg, now)
            else:
                # The drive refused its shift close: it is out of rotation for that; a passing refusal tries the
                # close again when the drive is tried again, anything else waits for a new drive.
                self.shifts.finished(reg, now)
                self._refused(reg, results[0], now)  # type: ignore[arg-type]
                if isinstance(closed, _PASSING):
                    self.shifts.set_close(reg, reg.retry_at)
            reg.refresh_room()
            return
        k = 0
        if opens:
            k = 1
            first = results[0]
            if isinstance(first, Issued):
                self.shifts.opened(reg, prepared.now_utc)
                self._emit(FleetEventKind.SHIFT_OPENED, now, reg, f"shift {first.shift_number}, FD {first.fd_number}")
        fn = reg.drive.fn_number
        rnm = reg.drive.identity.registration_number
        code = grp.code
        serial = reg.serial
        done: list[Result] = []
        back: list[Job] = []
        refusal: FiscalError | None = None
        for job, res in zip(jobs, results[k:] if k else results, strict=True):
            if type(res) is Issued:
                done.append(
                    Result(
                        job[0],
                        job[2],
                        code,
                        serial,
                        now,
                        fn,
                        rnm,
                        res.fd_number,
                        res.fiscal_sign,
                        res.shift_number,
                        res.receipt_number,
                        res.when,
                        res.total,
                        res.form,
                    )
                )
            elif isinstance(res, DriveError):
                back.append(job)
                refusal = res
            else:
                assert isinstance(res, FiscalError)
                done.append(Result(job[0], job[2], code, serial, now, error=res))
                self._emit(FleetEventKind.RECEIPT_FAILED, now, reg, f"ticket {job[0]}: {res}")
        if back:
            assert refusal is not None
            self._refused(reg, refusal, now)  # out of rotation first: what it hands back goes elsewhere
            self._hand_back(reg, back, now)
        reg.started = 0  # on the drive now (or moved on): the drive's counter has them
        if done:
            if reg.hardware:
                reg.busy = True
                reg.serving = len(done)
                due = now + reg.service_time * len(done)
                self._due_seq += 1
                heapq.heappush(self._due, (due, self._due_seq, reg, len(done), done))
            else:
                self._d.done(serial, len(done), now)
                self._deliver(done)
        reg.refresh_room()

    def _hand_back(self, reg: Reg, jobs: list[Job], now: float) -> None:
        """Started receipts the drive did not issue: finished for the dispatcher, routed again."""
        reg.started -= len(jobs)
        self._d.done(reg.serial, len(jobs), now)
        self._reroute(reg.grp, jobs, now)

    def _complete(self, now: float) -> None:
        due = self._due
        while due and due[0][0] <= now:
            at, _, reg, n, results = heapq.heappop(due)
            reg.busy = False
            reg.serving = 0
            # Finished at ``at``, not at the pump's ``now``: the dispatcher learns the real service time.
            self._d.done(reg.serial, n, at)
            self._deliver([replace(r, at=at) for r in results])
            if reg.queue and not reg.listed:
                reg.listed = True
                self._work.append(reg)

    def _adopt_orphans(self, now: float) -> None:
        for grp in list(self._orphaned):
            orphans = grp.orphans
            while orphans:
                got = self._d.route(grp.code, now, accepted=True)
                if type(got) is not str:
                    break
                self._enqueue(self.regs[got], orphans.popleft(), now)
            if not orphans:
                self._orphaned.discard(grp)

    # ------------------------------------------------------------------------------------------ refusals

    def _refused(self, reg: Reg, exc: FiscalError, now: float) -> None:
        """The drive refused: the register leaves rotation (or closes its shift) and its queue moves on."""
        detail = f"{exc.code}: {exc}"
        if isinstance(exc, DriveError):
            detail = f"{exc.code} (ФН 0x{exc.fn_code:02x}): {exc}"
        self._emit(FleetEventKind.DRIVE_REFUSED, now, reg, detail)
        if isinstance(exc, ShiftExpired):
            # Cannot happen with the schedule (it closes well before 24 h), but if it does: close now, come back.
            self.shifts.set_close(reg, now)
            self.shifts.start(reg, now)
        else:
            self._d.set_in_rotation(reg.serial, False, DRIVE_REFUSED, now)
            if isinstance(exc, _PASSING):
                reg.retry_at = now + self.settings.retry_s
        self._take_back(reg, now)

    def _store_failed(self, store: Store, batches: list[_Batch], exc: Exception, now: float) -> None:
        """The store's commit failed, nothing was written: its registers leave rotation, the receipts move on."""
        retry = now + self.settings.retry_s
        for reg in store.regs:
            self._d.set_in_rotation(reg.serial, False, STORAGE_FAILED, now)
            reg.retry_at = retry
        if store.regs:
            self._emit(FleetEventKind.STORAGE_FAILED, now, store.regs[0], f"{store.path}: {exc!r}")
        for reg, jobs, _prepared, _opens in batches:
            if jobs:
                self._hand_back(reg, jobs, now)
        for reg in store.regs:
            self._take_back(reg, now)

    # ------------------------------------------------------------------------------------------ shifts

    def _closing_step(self, reg: Reg, now: float, by_store: dict[Store, list[_Batch]]) -> None:
        if not self.shifts.ready(reg, now):
            return  # serving, finishing its queue in the old shift, or waiting to try its drive again
        self._take_back(reg, now)
        if not reg.drive.state.shift_open:
            self.shifts.finished(reg, now)
            return
        try:
            prepared = reg.drive.prepare([(5, self.settings.cashier)])
        except Exception as exc:
            self._refused(reg, DriveError(f"the drive failed to prepare its shift close: {exc!r}"), now)
            return
        by_store.setdefault(reg.store, []).append((reg, None, prepared, False))

    # ------------------------------------------------------------------------------------------ each second

    def _each_second(self, now: float) -> None:
        self._second = math.floor(now) + 1
        d = self._d
        d.tick(now)
        self.shifts.check(self.regs.values(), now)
        for reg in self.regs.values():
            if now >= reg.retry_at:
                reg.retry_at = math.inf
                d.set_in_rotation(reg.serial, True, DRIVE_REFUSED, now)
                d.set_in_rotation(reg.serial, True, STORAGE_FAILED, now)
            self._push_health(reg, now)

    def _push_health(self, reg: Reg, now: float) -> None:
        health.push(self._d, reg, now)

    # ------------------------------------------------------------------------------------------ events

    def _emit(self, kind: FleetEventKind, now: float, reg: Reg, detail: str) -> None:
        self._events.append(FleetEvent(kind, now, reg.grp.code, reg.serial, detail))

    def _collect_events(self) -> None:
        self._events.extend(self._d.drain_events())
        if self.on_event is not None and self._events:
            collected, self._events = self._events, []
            for e in collected:
                self.on_event(e)

    def drain_events(self) -> list[Event | FleetEvent]:
        """Events since the last call (when no ``on_event`` callback takes them as they come)."""
        self._collect_events()
        events, self._events = self._events, []
        return events

    # ------------------------------------------------------------------------------------------ drives

    def replace_drive(self, serial: str, now: float) -> tuple[str, str]:
        """Close ``serial``'s drive (5, 6), fit a new one (11, «замена ФН»); ``(old FN, new FN)``."""
        self._now = now
        reg = self._reg(serial)
        d = self._d
        d.set_in_rotation(serial, False, DRIVE_REPLACEMENT, now)
        mine = [entry for entry in self._due if entry[2] is reg]
        if mine:  # a hardware batch being served: its documents are on the drive already, finish it now
            self._due = [entry for entry in self._due if entry[2] is not reg]
            heapq.heapify(self._due)
            for at, _, _, n, results in mine:
                reg.busy = False
                reg.serving = 0
                d.done(serial, n, min(at, now))
                self._deliver([replace(r, at=min(at, now)) for r in results])
        self._take_back(reg, now)
        old_fn = reg.drive.fn_number
        try:
            with self.files.edit() as model:
                m = model.register(serial)
                drive = fit_replacement(model, m, reg.store.store, reg.drive, self._clock)
        except Exception:
            # Not replaced (e.g. the OFD-blocked drive cannot close its shift): the drive's own state decides
            # (a closed drive is blocked and stays drained), not this attempt.
            d.set_in_rotation(serial, True, DRIVE_REPLACEMENT, now)
            self._push_health(reg, now)
            self._collect_events()
            raise
        self.model = model
        reg.model = m
        reg.drive = drive
        self.shifts.finished(reg, now)
        reg.retry_at = math.inf
        reg.level = drain_level(drive.config.capacity, d.limits.drain_fill_percent)
        for reason in (Reason.SHIFT_CLOSE.value, DRIVE_REFUSED, STORAGE_FAILED, DRIVE_REPLACEMENT):
            d.set_in_rotation(serial, True, reason, now)
        self._push_health(reg, now)
        self._emit(FleetEventKind.DRIVE_REPLACED, now, reg, f"{old_fn} closed, {drive.fn_number} fitted")
        self._collect_events()
        return old_fn, drive.fn_number

    # ------------------------------------------------------------------------------------------ status

    def snapshot(self, now: float) -> dict[str, GroupSnapshot]:
        return self._d.snapshot(now)

    def pending(self) -> int:
        """Accepted receipts without a result yet (queued, being served, or waiting for a register)."""
        queued = sum(len(r.queue) + r.started + r.serving for r in self.regs.values())
        return queued + sum(len(g.orphans) for g in self.groups.values())

    def health(self, now: float) -> list[RegisterHealth]:
        """Every register's drive, shift, queue and rotation (reads each outbox: for status pages, not per pump)."""
        return health.report(self._d, list(self.regs.values()), now)


def _commit(store: DriveStore, batches: list[_Batch]) -> None:
    """One durable commit for the batches of one store, with the intake links of their receipts (see submit)."""
    with store.write() as txn:
        links: list[tuple[bytes, int, int]] = []
        for _reg, jobs, prepared, opens in batches:
            drive = prepared.drive
            drive.write_prepared(txn, prepared)
            if jobs is None:
                continue
            results = prepared.results[1:] if opens else prepared.results
            for job, res in zip(jobs, results, strict=True):
                ref = job[2]
                if type(ref) is bytes and type(res) is Issued:
                    links.append((ref, drive.drive_id, res.fd_number))
        store.put_links(txn, links)
    for batch in batches:
        batch[2].drive.applied(batch[2])
