"""The dispatcher: which register of a group takes each accepted receipt (issue 4) — sans-IO, clock injected.

Rules
- Layer 1: no I/O, no threads, no wall clock. Every call that needs time takes ``now`` (seconds on any
  non-decreasing clock, ≥ 0); nothing here reads a clock or sleeps, so a simulation drives it exactly.
- It counts receipts, it does not hold them. The fleet keeps the receipts and reports their life:
  ``route`` (a register takes it) → ``take_batch`` (the register starts up to N of its queue as one group
  commit) → ``done``. A register's queue is what was routed to it and is not done yet, in flight included.
- Refusing happens only at admission, for a new receipt (``route`` without ``accepted``). A routed receipt is
  never dropped or timed out here: a register leaving rotation keeps its queue and finishes it; if it cannot
  (blocked), the fleet ``withdraw``s the queue and routes it again with ``accepted=True``, which is never
  refused for load (only for "no register can take it now", and then the fleet keeps it and retries).
- A drive is one sequential log: at most one batch in flight per register (``take_batch`` answers 0 while one is).
- A pool is the in-rotation registers of a group that have the capabilities a receipt needs (the base pool:
  all of them). Projected wait = pool backlog / pool service rate (Σ 1/service time), the reference's
  M/M/c reading (cloud-api §3.3): reserves join when it passes the target wait, new receipts are refused
  with Retry-After = ⌈wait − target⌉ s (≥ 1) when it passes target + admission margin.
- The arrival rate is the offered load: every new receipt counts, refused ones too (a refused client comes
  back, and sizing reserves on accepted receipts alone would hide the peak).
- Reserves are released together when the peak has passed: projected wait below ``release_below`` × target
  and the arrival rate within ``release_utilisation`` of the regular registers' rate, for ``release_hold_s``.
  A released reserve leaves rotation, not its queue.
- Events (``drain_events``) are raised once per crossing. ``group_refusing`` / ``group_accepting`` bracket an
  overload: from the first refusal until the projected wait is back at the target, so a group hovering
  at its limit is one notification, not one a second.
- Balancing: ``jsq`` (join the shortest queue; a heap of (queue, sequence, register) so a decision costs
  O(log n), ties go round-robin by sequence) or ``p2c`` (the shorter of two registers drawn from the RNG
  passed in, O(1)). JSQ is the default: see :class:`GroupSettings`.
- Hot paths (route, take_batch, done) touch flat per-group lists and do O(1) or O(log n) work; everything
  O(n) (rates, windows, reserve decisions) runs at most once per second of ``now`` in ``_tick`` or when a
  register joins or leaves rotation.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from heapq import heappop, heappush, heapreplace

from fiscal_core.errors import FiscalError
from fiscal_core.registers.dispatch_state import (
    HEALTH_REASONS,
    Event,
    EventKind,
    Group,
    GroupSettings,
    GroupSnapshot,
    Health,
    HealthLimits,
    Policy,
    Pool,
    Reason,
    RegisterSnapshot,
    fold,
)

__all__ = [
    "DispatchError",
    "Dispatcher",
    "Event",
    "EventKind",
    "GroupSettings",
    "GroupSnapshot",
    "HealthLimits",
    "Policy",
    "Reason",
    "Refusal",
    "RegisterSnapshot",
    "UnknownGroup",
    "UnknownRegister",
]

_NO_CAPS: frozenset[str] = frozenset()


class DispatchError(FiscalError):
    """The fleet broke the dispatcher's protocol (done without a batch, a duplicate id): a bug, not load."""

    code = "dispatch_error"
    status_hint = 500


class UnknownGroup(DispatchError):
    """No such group (the API layer checks the merchant's group code before routing)."""

    code = "unknown_group"
    status_hint = 400


class UnknownRegister(DispatchError):
    code = "unknown_register"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Not now: answer 503 with ``Retry-After: retry_after_s`` (a 4xx when it is not ``retryable``: 0 then)."""

    retry_after_s: int
    reason: str
    #: ``group_overloaded`` and ``no_register_in_rotation`` pass with time; ``no_capable_register`` never does.
    code: str = "group_overloaded"

    @property
    def retryable(self) -> bool:
        return self.code != "no_capable_register"


class Dispatcher:
    """Groups of registers, their queues and health; decisions for the fleet. See the module rules."""

    def __init__(self, rng: random.Random | None = None, limits: HealthLimits | None = None) -> None:
        # A fixed default seed: p2c needs no unpredictability, and a reproducible run is worth more.
        self._random = (rng or random.Random(0)).random
        self.limits = limits or HealthLimits()
        self._groups: dict[str, Group] = {}
        self._where: dict[str, tuple[Group, int]] = {}
        self._events: list[Event] = []

    # ------------------------------------------------------------------ provisioning

    def add_group(self, group: str, settings: GroupSettings | None = None) -> None:
        if group in self._groups:
            raise DispatchError(f"group {group!r} exists")
        self._groups[group] = Group(group, settings or GroupSettings())

    def add_register(
        self,
        group: str,
        register: str,
        *,
        capabilities: Iterable[str] = (),
        reserve: bool = False,
        service_time_s: float = 1.0,
    ) -> None:
        g = self._group(group)
        if register in self._where:
            raise DispatchError(f"register {register!r} exists")
        if service_time_s <= 0:
            raise ValueError("service_time_s must be > 0")
        i = g.append(register, frozenset(capabilities), reserve, float(service_time_s))
        self._where[register] = (g, i)
        g.rebuild()

    def groups(self) -> tuple[str, ...]:
        return tuple(self._groups)

    def registers(self, group: str) -> tuple[str, ...]:
        return tuple(self._group(group).ids)

    def set_service_time(self, register: str, service_time_s: float) -> None:
        if service_time_s <= 0:
            raise ValueError("service_time_s must be > 0")
        g, i = self._reg(register)
        g.service[i] = float(service_time_s)
        g.rebuild_rates()

    # ------------------------------------------------------------------ the hot path

    def route(
        self,
        group: str,
        now: float,
        capabilities: frozenset[str] = _NO_CAPS,
        *,
        accepted: bool = False,
        admitted: bool = False,
    ) -> str | Refusal:
        """The register that takes one receipt, or a Refusal.

        ``accepted=True`` re-routes a receipt already accepted (withdrawn from a register that cannot
        finish it): it is neither counted as an arrival nor refused for load. ``admitted=True`` is a new
        receipt that the API admitted already (asked :meth:`admission`, then journaled it): it counts as an
        arrival but is not refused for load either. Both can still get "no register in rotation".
        """
        try:
            g = self._groups[group]
        except KeyError:
            raise UnknownGroup(f"no group {group!r}") from None
        if now >= g.tick_at:
            self._tick(g, now)
        if capabilities:
            pool = g.pools.get(capabilities) if type(capabilities) is frozenset else None
            if pool is None:
                found = g.pool_for(frozenset(capabilities))
                if found is None:
                    return Refusal(
                        0,
                        f"no register of group {group!r} has the capabilities {sorted(capabilities)}",
                        "no_capable_register",
                    )
                pool = found
        else:
            pool = g.base
        if not accepted:
            g.arrived += 1
        if pool.backlog > pool.slow_at:
            # Above a threshold, or no member at all: reserves, refusal, or "none in rotation".
            refusal = self._overloaded(g, pool, now, admit=not (accepted or admitted))
            if refusal is not None:
                return refusal
        queue = g.queue
        if g.jsq:
            heap = pool.heap
            stamp = pool.stamp
            q, s, i = heap[0]
            while stamp[i] != s:  # a stale entry: that register's queue changed since (lazy deletion)
                heappop(heap)
                q, s, i = heap[0]
            q += 1
            seq = g.seq = g.seq + 1
            stamp[i] = seq
            heapreplace(heap, (q, seq, i))
        else:
            members = pool.members
            n = len(members)
            rnd = self._random
            i = members[int(rnd() * n)]
            j = members[int(rnd() * n)]
            q = queue[i]
            if queue[j] < q:
                i = j
                q = queue[j]
            q += 1
        queue[i] = q
        if g.single:
            pool.backlog += 1
        else:
            g.changed(i, 1, pool)
        return g.ids[i]

    def admission(self, group: str, now: float, capabilities: frozenset[str] = _NO_CAPS) -> Refusal | None:
        """Would a new receipt be refused now? The same answer as :meth:`route`, counting and changing nothing.

        For an API that must decide before it journals a receipt (and then routes it with ``admitted=True``).
        """
        try:
            g = self._groups[group]
        except KeyError:
            raise UnknownGroup(f"no group {group!r}") from None
        pool = g.base
        if capabilities:
            pool = g.pools.get(capabilities) or g.pool_for(frozenset(capabilities))  # type: ignore[assignment]
            if pool is None:
                return Refusal(
                    0,
                    f"no register of group {group!r} has the capabilities {sorted(capabilities)}",
                    "no_capable_register",
                )
        if not pool.members:
            return Refusal(
                g.settings.idle_retry_after_s,
                f"no register of group {group!r} that can take this receipt is in rotation",
                "no_register_in_rotation",
            )
        if pool.backlog <= pool.refuse_at:
            return None
        s = g.settings
        wait = pool.wait()
        return Refusal(
            max(1, math.ceil(wait - s.target_wait_s - 1e-9)),
            f"group {g.name!r} cannot keep up: {pool.backlog} receipts queued, projected wait {wait:.1f} s "
            f"> {s.target_wait_s + s.admission_margin_s:g} s",
        )

    def take_batch(self, register: str, max_n: int, now: float) -> int:
        """Start up to ``max_n`` queued receipts of ``register`` as one batch; 0 while a batch is in flight."""
        try:
            g, i = self._where[register]
        except KeyError:
            raise UnknownRegister(f"no register {register!r}") from None
        if g.in_flight[i]:
            return 0
        n = g.queue[i]
        if max_n < n:
            n = max_n
        if n <= 0:
            return 0
        g.in_flight[i] = n
        g.batch_size[i] = n
        g.batch_start[i] = now
        return n

    def done(self, register: str, n: int, now: float) -> None:
        """``n`` receipts of the batch in flight on ``register`` are finished (fiscalized or handed back)."""
        try:
            g, i = self._where[register]
        except KeyError:
            raise UnknownRegister(f"no register {register!r}") from None
        left = g.in_flight[i] - n
        if n <= 0 or left < 0:
            raise DispatchError(f"done({register!r}, {n}) with {g.in_flight[i]} in flight")
        g.in_flight[i] = left
        q = g.queue[i] = g.queue[i] - n
        g.done_count[i] += n
        if g.active[i]:
            if g.single:  # the common case inlined: one pool, the register's fresh entry at the back of its level
                pool = g.base
                pool.backlog -= n
                if g.jsq:
                    seq = g.seq = g.seq + 1
                    pool.stamp[i] = seq
                    heap = pool.heap
                    heappush(heap, (q, seq, i))
                    if len(heap) > pool.compact_at:
                        pool.compact(g.queue)
            else:
                g.changed(i, -n, None)
        if not left and g.learn:
            size = g.batch_size[i]
            busy = now - g.batch_start[i]
            if busy > 0:
                # Per-receipt time at the batch sizes the fleet really uses (group commit amortises the sync).
                est = g.service[i]
                g.service[i] = est + g.alpha * (busy / size - est)
                g.rates_dirty = True
        if now >= g.tick_at:
            self._tick(g, now)

    def withdraw(self, register: str, n: int, now: float) -> int:
        """Take back up to ``n`` queued, not started receipts of ``register`` to route them elsewhere."""
        g, i = self._reg(register)
        k = min(n, g.queue[i] - g.in_flight[i])
        if k <= 0:
            return 0
        g.queue[i] -= k
        if g.active[i]:
            g.changed(i, -k, None)
        return k

    # ------------------------------------------------------------------ rotation and health

    def set_in_rotation(self, register: str, in_rotation: bool, reason: str, now: float) -> None:
        """Take a register out of rotation for ``reason`` (or end that reason). Its queue stays and finishes.

        The drive-limit reasons belong to :meth:`update_health` (a drain must end with the drive's numbers,
        not by a stray call), so they are refused here.
        """
        if reason in HEALTH_REASONS:
            raise ValueError(f"{reason!r} is set by update_health")
        g, i = self._reg(register)
        if in_rotation:
            g.reasons[i].discard(reason)
        else:
            g.reasons[i].add(reason)
        self._reconsider(g, i, now)

    def update_health(
        self,
        register: str,
        now: float,
        *,
        fill_percent: float | None = None,
        days_to_expiry: float | None = None,
        ofd_backlog_age_s: float | None = None,
        blocked: bool | None = None,
    ) -> None:
        """Push drive values (None keeps the last one); drains or returns the register, raises warnings."""
        g, i = self._reg(register)
        health: Health = g.health[i]
        crossed, drains = health.update(
            self.limits,
            fill_percent=fill_percent,
            days_to_expiry=days_to_expiry,
            ofd_backlog_age_s=ofd_backlog_age_s,
            blocked=blocked,
        )
        for kind, detail in crossed:
            self._emit(kind, now, g.name, register, detail)
        reasons = g.reasons[i]
        reasons -= HEALTH_REASONS
        reasons |= drains
        self._reconsider(g, i, now)

    def drain_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def tick(self, now: float) -> None:
        """Let time pass without traffic (windows, reserve release, recovery); the fleet calls it each second."""
        for g in self._groups.values():
            if now >= g.tick_at:
                self._tick(g, now)

    # ------------------------------------------------------------------ metrics

    def snapshot(self, now: float) -> dict[str, GroupSnapshot]:
        self.tick(now)
        return {name: self._snapshot(g, now) for name, g in self._groups.items()}

    def _snapshot(self, g: Group, now: float) -> GroupSnapshot:
        span = g.settings.window_s
        regs = []
        for i, rid in enumerate(g.ids):
            reasons = tuple(sorted(g.reasons[i]))
            if g.reserve[i] and not g.activated[i]:
                reasons += (Reason.RESERVE_STANDBY.value,)
            v = g.health[i].values
            regs.append(
                RegisterSnapshot(
                    register=rid,
                    queue=g.queue[i],
                    in_flight=g.in_flight[i],
                    throughput=g.window_rate(sum(g.tp_rings[i]) + g.done_count[i], now, span),
                    in_rotation=g.active[i],
                    reasons=reasons,
                    reserve=g.reserve[i],
                    service_time_s=g.service[i],
                    capabilities=g.caps[i],
                    fill_percent=v.fill_percent,
                    days_to_expiry=v.days_to_expiry,
                    ofd_backlog_age_s=v.ofd_backlog_age_s,
                    blocked=v.blocked,
                )
            )
        base = g.base
        return GroupSnapshot(
            group=g.name,
            policy=g.settings.policy,
            arrival_rate=g.arrival_rate(now),
            projected_wait_s=base.wait(),
            target_wait_s=g.settings.target_wait_s,
            backlog=base.backlog,
            queued_total=sum(g.queue),
            service_rate=base.rate,
            active_reserves=tuple(g.ids[i] for i in range(len(g.ids)) if g.activated[i]),
            refusing=g.refusing,
            refusals=g.refusals,
            registers=tuple(regs),
        )

    # ------------------------------------------------------------------ internals

    def _group(self, group: str) -> Group:
        try:
            return self._groups[group]
        except KeyError:
            raise UnknownGroup(f"no group {group!r}") from None

    def _reg(self, register: str) -> tuple[Group, int]:
        try:
            return self._where[register]
        except KeyError:
            raise UnknownRegister(f"no register {register!r}") from None

    def _emit(self, kind: EventKind, now: float, group: str, register: str | None = None, detail: str = "") -> None:
        self._events.append(Event(kind, now, group, register, detail))

    def _reconsider(self, g: Group, i: int, now: float) -> None:
        """Recompute one register's rotation flag; on a change, rebuild the pools and say so once."""
        was = g.active[i]
        g.active[i] = not g.reasons[i] and (not g.reserve[i] or g.activated[i])
        if g.active[i] == was:
            return
        g.rebuild()
        if g.active[i]:
            self._emit(EventKind.RETURNED_TO_ROTATION, now, g.name, g.ids[i])
        else:
            why = ", ".join(sorted(g.reasons[i])) or Reason.RESERVE_STANDBY.value
            self._emit(EventKind.LEFT_ROTATION, now, g.name, g.ids[i], f"{why}; {g.queue[i]} queued to finish")

    def _overloaded(self, g: Group, pool: Pool, now: float, *, admit: bool) -> Refusal | None:
        s = g.settings
        if pool.backlog > pool.activate_at or not pool.members:
            self._activate_reserves(g, pool, now)
        if not pool.members:
            return Refusal(
                s.idle_retry_after_s,
                f"no register of group {g.name!r} that can take this receipt is in rotation",
                "no_register_in_rotation",
            )
        if not admit or pool.backlog <= pool.refuse_at:
            return None
        wait = pool.wait()
        g.refusals += 1
        if not g.refusing:
            g.refusing = True
            self._emit(EventKind.GROUP_REFUSING, now, g.name, None, f"projected wait {wait:.2f} s")
        # Until the backlog, drained at the pool's rate, is back at the target (new arrivals are the ones
        # being refused, so they do not add to it).
        retry = max(1, math.ceil(wait - s.target_wait_s - 1e-9))
        return Refusal(
            retry,
            f"group {g.name!r} cannot keep up: {pool.backlog} receipts queued, projected wait {wait:.1f} s "
            f"> {s.target_wait_s + s.admission_margin_s:g} s",
        )

    def _activate_reserves(self, g: Group, pool: Pool, now: float) -> None:
        s = g.settings
        needed = pool.backlog / s.target_wait_s
        if pool is g.base:
            needed = max(needed, g.arrival_rate(now) / s.release_utilisation)
        rate = pool.rate
        chosen: list[int] = []
        for i in g.standby_reserves(pool.key):
            if chosen and rate >= needed:
                break
            chosen.append(i)
            rate += 1.0 / g.service[i]
        if not chosen:
            return
        before = pool.wait()
        for i in chosen:
            g.activated[i] = True
            g.active[i] = True
        g.rebuild()
        g.calm_since = None
        for i in chosen:
            self._emit(
                EventKind.RESERVE_ACTIVATED,
                now,
                g.name,
                g.ids[i],
                f"projected wait {before:.2f} s > target {s.target_wait_s:g} s, need {needed:.2f}/s",
            )

    def _tick(self, g: Group, now: float) -> None:
        """Once per second of ``now``: close the windows, refresh rates, release reserves, end refusing."""
        sec = math.floor(now)
        if g.sec < 0:
            g.sec = g.start = sec
        else:
            span = g.settings.window_s
            fold(g.arr_ring, g.sec, sec, g.arrived, span)
            g.arrived = 0
            for i, ring in enumerate(g.tp_rings):
                fold(ring, g.sec, sec, g.done_count[i], span)
                g.done_count[i] = 0
            g.sec = sec
        g.tick_at = float(sec + 1)
        if g.rates_dirty:
            g.rebuild_rates()
        if any(g.activated):
            self._maybe_release(g, now)
        # The refusing episode ends when the wait is back at the target, not just under the refusal level:
        # one notification per overload, not one per second while the group hovers at its limit.
        if g.refusing and all(p.backlog <= p.target_at for p in g.pools.values()):
            g.refusing = False
            self._emit(EventKind.GROUP_ACCEPTING, now, g.name, None, f"projected wait {g.base.wait():.2f} s")

    def _maybe_release(self, g: Group, now: float) -> None:
        s = g.settings
        regular = sum(1.0 / g.service[i] for i in range(len(g.ids)) if g.active[i] and not g.reserve[i])
        calm = (
            g.base.wait() < s.release_below * s.target_wait_s and g.arrival_rate(now) <= s.release_utilisation * regular
        )
        if not calm:
            g.calm_since = None
            return
        if g.calm_since is None:
            g.calm_since = now
            return
        if now - g.calm_since < s.release_hold_s:
            return
        released = [i for i in range(len(g.ids)) if g.activated[i]]
        for i in released:
            g.activated[i] = False
            g.active[i] = False
        g.rebuild()
        g.calm_since = None
        for i in released:
            self._emit(EventKind.RESERVE_RELEASED, now, g.name, g.ids[i], f"{g.queue[i]} queued to finish")
