"""The dispatcher's state: per-group lists and pools, sliding windows, register health and events.

Rules
- Layer 1: values in, decisions out. The fleet reads the drive (fill, key life, OFD outbox) and pushes the
  numbers in; nothing here reads a drive, a clock or a file. :mod:`.dispatch` is the only user.
- A group keeps flat lists indexed by register position (queue, in flight, service time, ...) because the
  hot path indexes them millions of times a second; a register's position never changes.
- A pool is the in-rotation registers of a group with a set of capabilities. Under JSQ it keeps a heap of
  ``(queue, sequence, position)`` with lazy deletion: ``stamp[position]`` holds the sequence of the
  register's one live entry, any other entry is stale and is dropped when it surfaces. The sequence
  grows with every change, so among equal queues the register that reached that length first goes first
  (round-robin); the heap is compacted when stale entries pass the live ones (amortised O(1)).
- Sliding windows are per-second rings folded once per second (``fold``), never per event.
- Drain levels: a register is *drained* (out of rotation, its queue left to finish) a step before each
  limit at which a real ФН starts refusing (reference §3.1, drive/state.py): 99 % of the document capacity,
  1 day of key life, 29 days of the oldest document unconfirmed by the OFD (the drive blocks at 30), or the
  drive blocked. 1 % of 250,000 documents is 2,500, far above any queue.
- Warnings follow the ФН's own (tags 1050–1053) and the operators' (ATOL, CloudKassir) levels: 90 % full,
  30 / 3 days of key life, OFD backlog older than 1 / 7 / 25 days, register blocked. Each is an event
  once per crossing: raised when the value crosses the level, re-armed silently when it falls back (a
  replaced drive, a recovered OFD), raised again on the next crossing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from heapq import heapify, heappush
from typing import Literal

__all__ = [
    "DAY",
    "Event",
    "EventKind",
    "Group",
    "GroupSettings",
    "GroupSnapshot",
    "Health",
    "HealthLimits",
    "Policy",
    "Pool",
    "Reason",
    "RegisterSnapshot",
    "fold",
]

Policy = Literal["jsq", "p2c"]

DAY = 86_400.0


class EventKind(StrEnum):
    """What happened; the API layer maps these to notifications and metrics."""

    DRIVE_FILL_90 = "drive_fill_90"
    EXPIRY_30_DAYS = "expiry_30_days"
    EXPIRY_3_DAYS = "expiry_3_days"
    OFD_BACKLOG_1_DAY = "ofd_backlog_1_day"
    OFD_BACKLOG_7_DAYS = "ofd_backlog_7_days"
    OFD_BACKLOG_25_DAYS = "ofd_backlog_25_days"
    REGISTER_BLOCKED = "register_blocked"
    LEFT_ROTATION = "left_rotation"
    RETURNED_TO_ROTATION = "returned_to_rotation"
    RESERVE_ACTIVATED = "reserve_activated"
    RESERVE_RELEASED = "reserve_released"
    GROUP_REFUSING = "group_refusing"
    GROUP_ACCEPTING = "group_accepting"


class Reason(StrEnum):
    """Why a register is out of rotation. The fleet may use its own strings too (set_in_rotation)."""

    SHIFT_CLOSE = "shift_close"
    DRIVE_FULL = "drive_full"
    DRIVE_EXPIRING = "drive_expiring"
    OFD_BACKLOG = "ofd_backlog"
    BLOCKED = "blocked"
    #: Only in snapshots: a reserve that is not activated is out of rotation without any reason against it.
    RESERVE_STANDBY = "reserve_standby"


#: The reasons update_health owns: recomputed from the pushed values on every call.
HEALTH_REASONS = frozenset({Reason.DRIVE_FULL, Reason.DRIVE_EXPIRING, Reason.OFD_BACKLOG, Reason.BLOCKED})


@dataclass(frozen=True, slots=True)
class Event:
    """A small record for the API layer: what, when (the caller's clock), where, and a human detail."""

    kind: EventKind
    at: float
    group: str
    register: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HealthLimits:
    """Drain levels: a register at or past one of these takes no new receipts."""

    drain_fill_percent: float = 99.0
    drain_days_to_expiry: float = 1.0
    drain_ofd_backlog_s: float = 29 * DAY


class _Values:
    __slots__ = ("blocked", "days_to_expiry", "fill_percent", "ofd_backlog_age_s")

    def __init__(self) -> None:
        self.fill_percent = 0.0
        self.days_to_expiry = math.inf
        self.ofd_backlog_age_s = 0.0
        self.blocked = False


_Check = Callable[[_Values], bool]

#: Warning levels, each raised once per crossing (module rules).
_WARNINGS: tuple[tuple[EventKind, _Check], ...] = (
    (EventKind.DRIVE_FILL_90, lambda v: v.fill_percent >= 90.0),
    (EventKind.EXPIRY_30_DAYS, lambda v: v.days_to_expiry <= 30),
    (EventKind.EXPIRY_3_DAYS, lambda v: v.days_to_expiry <= 3),
    (EventKind.OFD_BACKLOG_1_DAY, lambda v: v.ofd_backlog_age_s >= DAY),
    (EventKind.OFD_BACKLOG_7_DAYS, lambda v: v.ofd_backlog_age_s >= 7 * DAY),
    (EventKind.OFD_BACKLOG_25_DAYS, lambda v: v.ofd_backlog_age_s >= 25 * DAY),
    (EventKind.REGISTER_BLOCKED, lambda v: v.blocked),
)


class Health:
    """The last values pushed for one register and which warnings are currently raised."""

    __slots__ = ("raised", "values")

    def __init__(self) -> None:
        self.values = _Values()
        self.raised: set[EventKind] = set()

    def update(
        self,
        limits: HealthLimits,
        *,
        fill_percent: float | None,
        days_to_expiry: float | None,
        ofd_backlog_age_s: float | None,
        blocked: bool | None,
    ) -> tuple[list[tuple[EventKind, str]], set[str]]:
        """Take new values (None keeps the old one); return the new crossings and the drain reasons now true."""
        v = self.values
        if fill_percent is not None:
            v.fill_percent = float(fill_percent)
        if days_to_expiry is not None:
            v.days_to_expiry = float(days_to_expiry)
        if ofd_backlog_age_s is not None:
            v.ofd_backlog_age_s = float(ofd_backlog_age_s)
        if blocked is not None:
            v.blocked = bool(blocked)
        crossed: list[tuple[EventKind, str]] = []
        for kind, check in _WARNINGS:
            if check(v):
                if kind not in self.raised:
                    self.raised.add(kind)
                    crossed.append((kind, self.describe()))
            else:
                self.raised.discard(kind)
        reasons: set[str] = set()
        if v.fill_percent >= limits.drain_fill_percent:
            reasons.add(Reason.DRIVE_FULL)
        if v.days_to_expiry <= limits.drain_days_to_expiry:
            reasons.add(Reason.DRIVE_EXPIRING)
        if v.ofd_backlog_age_s >= limits.drain_ofd_backlog_s:
            reasons.add(Reason.OFD_BACKLOG)
        if v.blocked:
            reasons.add(Reason.BLOCKED)
        return crossed, reasons

    def describe(self) -> str:
        v = self.values
        days = "∞" if math.isinf(v.days_to_expiry) else f"{v.days_to_expiry:g}"
        return (
            f"drive {v.fill_percent:.1f}% full, {days} days of key life, "
            f"OFD backlog {v.ofd_backlog_age_s / DAY:.1f} days{', blocked' if v.blocked else ''}"
        )


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """Per-group tuning.

    ``policy`` defaults to JSQ. The dispatcher sees every queue exactly, so sampling (p2c's strength when
    a balancer's view is stale or distributed) buys nothing here but speed, and JSQ's choice is better: in
    the flash-peak simulation (8 + 2 registers at 1 receipt/s) it keeps per-drive load within ±0.5 % of
    even against ±7 % for p2c, which matters for drives that fill (250,000 documents) and for waits where
    one misplaced receipt costs a whole second. Its heap still makes well over 500,000 decisions/s at
    1,000 registers (bench/bench_dispatch.py); p2c stays as the O(1) option for very large pools.
    """

    target_wait_s: float = 1.0
    admission_margin_s: float = 1.0
    policy: Policy = "jsq"
    release_below: float = 0.5
    release_hold_s: float = 30.0
    release_utilisation: float = 0.8
    window_s: int = 5
    #: Learn each register's service time from its batches (EWMA of busy time / receipts).
    learn_service_time: bool = True
    learn_alpha: float = 0.2
    #: Retry-After when no register of the pool is in rotation (a shift closing takes seconds).
    idle_retry_after_s: int = 5

    def __post_init__(self) -> None:
        if self.policy not in ("jsq", "p2c"):
            raise ValueError(f"unknown policy {self.policy!r}")
        if self.target_wait_s <= 0 or self.admission_margin_s < 0 or self.window_s < 2:
            raise ValueError("target_wait_s > 0, admission_margin_s ≥ 0 and window_s ≥ 2 are required")


@dataclass(frozen=True, slots=True)
class RegisterSnapshot:
    """One register for metrics and health: queue, throughput (receipts/s over the window), rotation, drive."""

    register: str
    queue: int
    in_flight: int
    throughput: float
    in_rotation: bool
    reasons: tuple[str, ...]
    reserve: bool
    service_time_s: float
    capabilities: frozenset[str]
    fill_percent: float
    days_to_expiry: float
    ofd_backlog_age_s: float
    blocked: bool


@dataclass(frozen=True, slots=True)
class GroupSnapshot:
    """One group: offered load (receipts/s), projected wait, backlog in rotation and in all, reserves."""

    group: str
    policy: Policy
    arrival_rate: float
    projected_wait_s: float
    target_wait_s: float
    backlog: int
    queued_total: int
    service_rate: float
    active_reserves: tuple[str, ...]
    refusing: bool
    refusals: int
    registers: tuple[RegisterSnapshot, ...]


#: A threshold no integer backlog passes: "no reserve left to activate".
_NEVER = 1 << 62


def fold(ring: list[int], old_sec: int, new_sec: int, count: int, span: int) -> None:
    """Close second ``old_sec`` with ``count`` and clear the seconds skipped up to ``new_sec`` (its own slot too)."""
    ring[old_sec % span] = count
    for sec in range(old_sec + 1, min(new_sec, old_sec + span) + 1):
        ring[sec % span] = 0


class Pool:
    """In-rotation registers of one group with the capabilities ``key``; see the module rules."""

    __slots__ = (
        "activate_at",
        "backlog",
        "compact_at",
        "heap",
        "key",
        "members",
        "rate",
        "refuse_at",
        "slow_at",
        "stamp",
        "target_at",
    )

    def __init__(self, key: frozenset[str]) -> None:
        self.key = key
        self.members: list[int] = []
        self.stamp: list[int] = []
        self.heap: list[tuple[int, int, int]] = []
        #: Heap length past which stale entries outnumber live ones: rebuild it (amortised O(1) per push).
        self.compact_at = 64
        self.backlog = 0
        self.rate = 0.0
        self.activate_at = _NEVER
        self.refuse_at = _NEVER
        self.target_at = _NEVER
        #: min(activate_at, refuse_at), or -1 with no member: route's single comparison for "look closer".
        self.slow_at = -1

    def wait(self) -> float:
        return self.backlog / self.rate if self.rate > 0 else math.inf

    def compact(self, queue: list[int]) -> None:
        """Drop the stale entries: one live entry per member, same sequence, so the tie order is kept."""
        stamp = self.stamp
        self.heap = [(queue[m], stamp[m], m) for m in self.members]
        heapify(self.heap)


class Group:
    """One group's registers as flat lists (position = index), its pools, windows and control state."""

    __slots__ = (
        "activated",
        "active",
        "alpha",
        "arr_ring",
        "arrived",
        "base",
        "batch_size",
        "batch_start",
        "calm_since",
        "caps",
        "done_count",
        "health",
        "ids",
        "in_flight",
        "jsq",
        "learn",
        "name",
        "pools",
        "queue",
        "rates_dirty",
        "reasons",
        "refusals",
        "refusing",
        "reg_pools",
        "reserve",
        "sec",
        "seq",
        "service",
        "settings",
        "single",
        "start",
        "tick_at",
        "tp_rings",
    )

    def __init__(self, name: str, settings: GroupSettings) -> None:
        self.name = name
        self.settings = settings
        self.jsq = settings.policy == "jsq"
        self.learn = settings.learn_service_time
        self.alpha = settings.learn_alpha
        self.ids: list[str] = []
        self.caps: list[frozenset[str]] = []
        self.reserve: list[bool] = []
        self.service: list[float] = []
        self.queue: list[int] = []
        self.in_flight: list[int] = []
        self.batch_size: list[int] = []
        self.batch_start: list[float] = []
        self.reasons: list[set[str]] = []
        self.activated: list[bool] = []
        self.active: list[bool] = []
        self.health: list[Health] = []
        self.base = Pool(frozenset())
        self.pools: dict[frozenset[str], Pool] = {self.base.key: self.base}
        self.reg_pools: list[list[Pool]] = []
        self.single = True
        self.seq = 0
        self.tick_at = -math.inf
        self.sec = -1
        self.start = 0
        self.arrived = 0
        self.arr_ring = [0] * settings.window_s
        self.done_count: list[int] = []
        self.tp_rings: list[list[int]] = []
        self.calm_since: float | None = None
        self.refusing = False
        self.refusals = 0
        self.rates_dirty = False

    def append(self, register: str, caps: frozenset[str], reserve: bool, service_time_s: float) -> int:
        self.ids.append(register)
        self.caps.append(caps)
        self.reserve.append(reserve)
        self.service.append(service_time_s)
        self.queue.append(0)
        self.in_flight.append(0)
        self.batch_size.append(0)
        self.batch_start.append(0.0)
        self.reasons.append(set())
        self.activated.append(False)
        # A reserve waits in standby until a peak needs it.
        self.active.append(not reserve)
        self.health.append(Health())
        self.done_count.append(0)
        self.tp_rings.append([0] * self.settings.window_s)
        return len(self.ids) - 1

    # ------------------------------------------------------------------ pools

    def pool_for(self, key: frozenset[str]) -> Pool | None:
        """The pool for ``key``, made on first use; None when no register of the group has ``key`` at all."""
        pool = self.pools.get(key)
        if pool is None:
            if not any(key <= c for c in self.caps):
                return None
            pool = self.pools[key] = Pool(key)
            self.rebuild()
        return pool

    def rebuild(self) -> None:
        """Membership changed (rotation, a new register or pool): recompute every pool. O(n) per pool, rare."""
        n = len(self.ids)
        queue = self.queue
        self.reg_pools = [[] for _ in range(n)]
        for pool in self.pools.values():
            old = pool.stamp + [-1] * (n - len(pool.stamp))
            pool.members = [i for i in range(n) if self.active[i] and pool.key <= self.caps[i]]
            pool.stamp = [-1] * n
            pool.heap = []
            for i in pool.members:
                # Keep a member's sequence so the round-robin order survives the rebuild.
                seq = old[i]
                if seq < 0:
                    self.seq += 1
                    seq = self.seq
                pool.stamp[i] = seq
                if self.jsq:
                    pool.heap.append((queue[i], seq, i))
                self.reg_pools[i].append(pool)
            heapify(pool.heap)
            pool.compact_at = 2 * len(pool.members) + 64
            pool.backlog = sum(queue[i] for i in pool.members)
        self.single = len(self.pools) == 1
        self.rebuild_rates()

    def rebuild_rates(self) -> None:
        """Service rates and the integer backlog thresholds route compares against."""
        s = self.settings
        for pool in self.pools.values():
            pool.rate = sum(1.0 / self.service[i] for i in pool.members)
            if not pool.members:
                pool.activate_at = pool.refuse_at = pool.target_at = _NEVER
                pool.slow_at = -1
                continue
            # backlog > x  ⇔  backlog > ⌊x⌋ for an integer backlog.
            pool.refuse_at = math.floor((s.target_wait_s + s.admission_margin_s) * pool.rate)
            pool.target_at = math.floor(s.target_wait_s * pool.rate)
            pool.activate_at = pool.target_at if self.standby_reserves(pool.key) else _NEVER
            pool.slow_at = min(pool.activate_at, pool.refuse_at)
        self.rates_dirty = False

    def standby_reserves(self, key: frozenset[str]) -> list[int]:
        return [
            i
            for i in range(len(self.ids))
            if self.reserve[i] and not self.activated[i] and not self.reasons[i] and key <= self.caps[i]
        ]

    def changed(self, i: int, delta: int, routed: Pool | None) -> None:
        """Register ``i``'s queue moved by ``delta``: every pool holding it learns (``routed`` already did)."""
        q = self.queue[i]
        for pool in self.reg_pools[i]:
            pool.backlog += delta
            if self.jsq and pool is not routed:
                self.seq += 1
                pool.stamp[i] = self.seq
                heap = pool.heap
                heappush(heap, (q, self.seq, i))
                if len(heap) > pool.compact_at:
                    pool.compact(self.queue)

    # ------------------------------------------------------------------ windows

    def window_rate(self, count: int, now: float, span: int) -> float:
        """``count`` events over the window ending at ``now`` (the current second counts by its elapsed part)."""
        if self.sec < 0:
            return 0.0
        seconds = min(span - 1 + (now - self.sec), now - self.start)
        return count / max(seconds, 1.0)

    def arrival_rate(self, now: float) -> float:
        return self.window_rate(sum(self.arr_ring) + self.arrived, now, self.settings.window_s)
