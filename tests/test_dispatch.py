"""The dispatcher (issue 4): a discrete-event flash-peak simulation with an injected clock, and unit cases.

No test sleeps: time is the ``now`` passed in. The simulation keeps its own account of every receipt (which
register holds it, when it finished) and checks the dispatcher's decisions against that account, not
against the dispatcher's own numbers.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter, deque
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fiscal_core.registers import (
    Dispatcher,
    DispatchError,
    Event,
    EventKind,
    GroupSettings,
    Reason,
    Refusal,
    UnknownGroup,
    UnknownRegister,
)
from fiscal_core.registers.dispatch_state import DAY

# ---------------------------------------------------------------------------------------------- simulation

HARDWARE_S = 1.0  # the `hardware` profile: ~1 receipt/s per register (reference §3.1, Orange Data)
MEAN_RATE = 0.6  # receipts/s outside the peak
PEAK = (120.0, 180.0)  # 60 s at 20× the mean: 12/s against 8 (+2 reserve) registers at 1/s
ARRIVALS_END = 400.0
DRAIN_AT = 140.0
REGULAR = [f"r{k}" for k in range(8)]
RESERVES = ["x0", "x1"]
TARGET, MARGIN = 1.0, 1.0


@dataclass
class Sim:
    policy: str
    generated: int = 0
    accepted: list[int] = field(default_factory=list)
    finished: Counter[int] = field(default_factory=Counter)
    done_by: Counter[str] = field(default_factory=Counter)
    routes: list[tuple[float, str]] = field(default_factory=list)
    refusals: list[tuple[float, Refusal, float]] = field(default_factory=list)
    accepted_waits: list[tuple[float, float]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    queue_at_drain: int = 0
    final_queues: dict[str, int] = field(default_factory=dict)
    final_reserves: tuple[str, ...] = ()


def _arrival_times(rng: random.Random) -> list[float]:
    times, t = [], 0.0
    while True:
        rate = MEAN_RATE * 20 if PEAK[0] <= t < PEAK[1] else MEAN_RATE
        t += rng.expovariate(rate)
        if t >= ARRIVALS_END:
            return times
        times.append(t)


def simulate(policy: str, *, drain: bool) -> Sim:
    d = Dispatcher(random.Random(11))
    d.add_group(
        "shop",
        GroupSettings(policy=policy, target_wait_s=TARGET, admission_margin_s=MARGIN, release_hold_s=20.0),  # type: ignore[arg-type]
    )
    for r in REGULAR:
        d.add_register("shop", r, service_time_s=HARDWARE_S)
    for r in RESERVES:
        d.add_register("shop", r, reserve=True, service_time_s=HARDWARE_S)
    sim = Sim(policy)
    held: dict[str, deque[int]] = {r: deque() for r in REGULAR + RESERVES}  # routed, not finished
    busy: dict[str, list[int]] = {}
    agenda: list[tuple[float, int, str, object]] = []
    seq = 0

    def at(t: float, kind: str, what: object) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(agenda, (t, seq, kind, what))

    for k, t in enumerate(_arrival_times(random.Random(5))):
        at(t, "arrive", k)
        sim.generated += 1
    for s in range(int(ARRIVALS_END) + 60):
        at(float(s), "tick", None)
    if drain:
        at(DRAIN_AT, "drain", "r3")

    def serve(r: str, t: float) -> None:
        if r in busy:
            return
        n = d.take_batch(r, 1, t)
        if n:
            busy[r] = [held[r].popleft() for _ in range(n)]
            at(t + HARDWARE_S * n, "done", r)

    def model_wait(t: float, minus: int) -> float:
        # The test's own backlog (receipts it holds for in-rotation registers) over their 1/s service rate.
        snap = d.snapshot(t)["shop"]
        active = [x.register for x in snap.registers if x.in_rotation]
        backlog = sum(len(held[r]) + len(busy.get(r, ())) for r in active) - minus
        return backlog / (len(active) / HARDWARE_S)

    while agenda:
        t, _, kind, what = heapq.heappop(agenda)
        if kind == "arrive":
            assert isinstance(what, int)
            got = d.route("shop", t)
            if isinstance(got, Refusal):
                sim.refusals.append((t, got, model_wait(t, 0)))
                at(t + got.retry_after_s, "arrive", what)  # the client honours Retry-After
            else:
                held[got].append(what)
                sim.accepted.append(what)
                sim.routes.append((t, got))
                sim.accepted_waits.append((t, model_wait(t, 1)))
                serve(got, t)
        elif kind == "done":
            assert isinstance(what, str)
            batch = busy.pop(what)
            d.done(what, len(batch), t)
            sim.finished.update(batch)
            sim.done_by[what] += len(batch)
            serve(what, t)
        elif kind == "tick":
            d.tick(t)
        elif kind == "drain":
            assert isinstance(what, str)
            sim.queue_at_drain = len(held[what]) + len(busy.get(what, ()))
            d.update_health(what, t, fill_percent=99.0)
        sim.events += d.drain_events()
    snap = d.snapshot(t)["shop"]
    sim.final_queues = {x.register: x.queue for x in snap.registers}
    sim.final_reserves = snap.active_reserves
    return sim


_SIMS: dict[tuple[str, bool], Sim] = {}


def _sim(policy: str, drain: bool) -> Sim:
    if (policy, drain) not in _SIMS:
        _SIMS[policy, drain] = simulate(policy, drain=drain)
    return _SIMS[policy, drain]


def _spread(sim: Sim, registers: list[str]) -> float:
    loads = [sim.done_by[r] for r in registers]
    mean = sum(loads) / len(loads)
    return max(abs(x - mean) for x in loads) / mean


@pytest.mark.parametrize("policy", ["jsq", "p2c"])
@pytest.mark.parametrize("drain", [False, True], ids=["steady", "drain"])
def test_flash_peak_every_receipt_once(policy: str, drain: bool) -> None:
    sim = _sim(policy, drain)
    assert sim.refusals, "the peak (12/s on 10/s) must overflow the group"
    # Each accepted receipt finished exactly once, and every receipt was accepted in the end (clients retried).
    assert sorted(sim.finished) == sorted(sim.accepted)
    assert set(sim.finished.values()) == {1}
    assert len(sim.accepted) == len(set(sim.accepted)) == sim.generated
    assert set(sim.final_queues.values()) == {0}


@pytest.mark.parametrize("policy", ["jsq", "p2c"])
@pytest.mark.parametrize("drain", [False, True], ids=["steady", "drain"])
def test_flash_peak_refuses_exactly_past_the_limit(policy: str, drain: bool) -> None:
    sim = _sim(policy, drain)
    limit = TARGET + MARGIN
    for t, wait in sim.accepted_waits:
        assert wait <= limit + 1e-9, f"accepted at {t:.2f} with a projected wait of {wait:.2f} s"
    for t, refusal, wait in sim.refusals:
        assert wait > limit, f"refused at {t:.2f} with a projected wait of only {wait:.2f} s"
        assert refusal.retry_after_s == max(1, math.ceil(wait - TARGET - 1e-9))
        assert refusal.retry_after_s >= 1 and refusal.retryable and refusal.code == "group_overloaded"
        assert PEAK[0] < t < PEAK[1] + 30
    first_refusal = sim.refusals[0][0]
    activations = [e.at for e in sim.events if e.kind is EventKind.RESERVE_ACTIVATED]
    assert activations and min(activations) <= first_refusal, "reserves join before anyone is refused"
    # One event per crossing: refusing / accepting alternate, each refusing event is the first refusal of an
    # episode, and every refusal falls inside one (an episode ends when the wait is back at the target).
    flips = [e for e in sim.events if e.kind in (EventKind.GROUP_REFUSING, EventKind.GROUP_ACCEPTING)]
    assert [e.kind for e in flips] == [EventKind.GROUP_REFUSING, EventKind.GROUP_ACCEPTING] * (len(flips) // 2)
    episodes = [(flips[k].at, flips[k + 1].at) for k in range(0, len(flips), 2)]
    assert len(episodes) < len(sim.refusals) / 50
    times = [t for t, _, _ in sim.refusals]
    assert all(start in times for start, _ in episodes)
    assert all(any(start <= t <= end for start, end in episodes) for t in times)


@pytest.mark.parametrize("policy", ["jsq", "p2c"])
def test_flash_peak_reserves_join_and_leave(policy: str) -> None:
    sim = _sim(policy, False)
    activated = {e.register: e.at for e in sim.events if e.kind is EventKind.RESERVE_ACTIVATED}
    released = {e.register: e.at for e in sim.events if e.kind is EventKind.RESERVE_RELEASED}
    assert set(activated) == set(released) == set(RESERVES)
    assert all(PEAK[0] < t < PEAK[1] for t in activated.values())
    assert all(t > PEAK[1] for t in released.values())
    for r in RESERVES:
        took = [t for t, x in sim.routes if x == r]
        assert took and min(took) >= activated[r] and max(took) <= released[r]
        assert sim.done_by[r] == len(took)  # its queue was finished, not dropped, after the release
    assert sim.final_reserves == ()


def test_flash_peak_jsq_load_is_even() -> None:
    sim = _sim("jsq", False)
    assert _spread(sim, REGULAR) <= 0.10, {r: sim.done_by[r] for r in REGULAR}
    # While active, a reserve works as hard as a regular register (both saturated at 1/s in the peak).
    for r in RESERVES:
        assert sim.done_by[r] > 0.5 * (PEAK[1] - PEAK[0])


def test_flash_peak_p2c_spread_is_reported() -> None:
    jsq, p2c = _sim("jsq", False), _sim("p2c", False)
    spread = _spread(p2c, REGULAR)
    print(f"load spread over 8 registers: jsq ±{_spread(jsq, REGULAR):.1%}, p2c ±{spread:.1%}")
    # p2c draws its pair at random, so off-peak (idle registers, any pick is as good) it is less even.
    assert spread <= 0.25


@pytest.mark.parametrize("policy", ["jsq", "p2c"])
def test_flash_peak_full_drive_is_drained(policy: str) -> None:
    sim = _sim(policy, True)
    assert sim.queue_at_drain > 0, "the drain must land while the register has work queued"
    assert all(t < DRAIN_AT for t, r in sim.routes if r == "r3")
    finished_r3 = sim.done_by["r3"]
    assert finished_r3 == sum(1 for _, r in sim.routes if r == "r3")  # its queue finished
    left = [e for e in sim.events if e.kind is EventKind.LEFT_ROTATION and e.register == "r3"]
    assert len(left) == 1 and left[0].at == DRAIN_AT and Reason.DRIVE_FULL in left[0].detail
    assert [e.kind for e in sim.events if e.register == "r3"] == [EventKind.DRIVE_FILL_90, EventKind.LEFT_ROTATION]
    for r in REGULAR:
        if r != "r3":
            assert any(t > DRAIN_AT + 30 for t, x in sim.routes if x == r), f"{r} stopped too"


# ---------------------------------------------------------------------------------------------- unit cases


def _group(*specs: tuple[str, frozenset[str], bool], policy: str = "jsq", **kw: float) -> Dispatcher:
    d = Dispatcher(random.Random(3))
    d.add_group("g", GroupSettings(policy=policy, **kw))  # type: ignore[arg-type]
    for rid, caps, reserve in specs:
        d.add_register("g", rid, capabilities=caps, reserve=reserve, service_time_s=1.0)
    return d


def _plain(n: int, policy: str = "jsq", **kw: float) -> Dispatcher:
    return _group(*[(f"r{k}", frozenset(), False) for k in range(n)], policy=policy, **kw)


def test_capabilities_route_only_to_capable_registers() -> None:
    marked = frozenset({"marked"})
    d = _group(("a", frozenset(), False), ("m1", marked, False), ("b", frozenset(), False), ("m2", marked, False))
    got = [d.route("g", 0.0, marked) for _ in range(5)]
    assert sorted(got) == ["m1", "m1", "m1", "m2", "m2"]
    # The marked pool is 2/s: its 6th receipt would wait 2.5 s (refused) though the group has idle registers.
    assert isinstance(d.route("g", 0.0, marked), Refusal)
    # The marked receipts count in the whole group's queues: a plain receipt now prefers the idle registers.
    assert {d.route("g", 0.0), d.route("g", 0.0)} == {"a", "b"}
    refusal = d.route("g", 0.0, frozenset({"excise"}))
    assert isinstance(refusal, Refusal)
    assert refusal.code == "no_capable_register" and not refusal.retryable and "excise" in refusal.reason
    for r in ("m1", "m2"):
        d.set_in_rotation(r, False, Reason.SHIFT_CLOSE, 1.0)
    idle = d.route("g", 1.0, marked)
    assert isinstance(idle, Refusal) and idle.code == "no_register_in_rotation" and idle.retry_after_s == 5
    assert d.route("g", 1.0) in {"a", "b"}


def test_jsq_ties_go_round_robin() -> None:
    d = _plain(4)
    picks = []
    for k in range(8):
        r = d.route("g", float(k))
        assert isinstance(r, str)
        picks.append(r)
        assert d.take_batch(r, 1, float(k)) == 1
        d.done(r, 1, k + 0.5)
    assert picks == ["r0", "r1", "r2", "r3"] * 2


def test_p2c_is_seeded_and_spreads() -> None:
    runs = []
    for _ in range(2):
        d = _plain(16, policy="p2c", target_wait_s=100.0)
        runs.append([d.route("g", 0.0) for _ in range(64)])
    assert runs[0] == runs[1]
    counts = Counter(runs[0])
    assert len(counts) == 16 and max(counts.values()) - min(counts.values()) <= 4


def test_refusal_threshold_and_retry_after() -> None:
    d = _plain(2)  # 2/s; refuse past (1 + 1) s × 2/s = 4 queued
    assert all(isinstance(d.route("g", 0.0), str) for _ in range(5))  # the 5th waits exactly 2 s: admitted
    r = d.route("g", 0.0)
    assert isinstance(r, Refusal) and r.retry_after_s == math.ceil(5 / 2 - 1)
    for _ in range(5):  # re-routed receipts were accepted before: never refused for load
        assert isinstance(d.route("g", 0.0, accepted=True), str)
    r = d.route("g", 0.0)
    assert isinstance(r, Refusal) and r.retry_after_s == math.ceil(10 / 2 - 1)
    assert [e.kind for e in d.drain_events()] == [EventKind.GROUP_REFUSING]
    for reg in ("r0", "r1"):  # 6 of the 10 finish
        assert d.take_batch(reg, 3, 1.0) == 3
        d.done(reg, 3, 4.0)
    d.tick(5.0)  # 4 queued, wait 2 s: under the refusal level but over the target, the episode goes on
    assert d.drain_events() == [] and d.snapshot(5.0)["g"].refusing
    assert isinstance(d.route("g", 5.0), str)
    for reg in ("r0", "r1"):  # back at the target: the episode is over, said once
        d.done(reg, d.take_batch(reg, 2, 5.0), 6.0)
    d.tick(7.0)
    d.tick(8.0)
    assert [e.kind for e in d.drain_events()] == [EventKind.GROUP_ACCEPTING]
    assert d.snapshot(8.0)["g"].refusals == 2 and not d.snapshot(8.0)["g"].refusing


def test_batches_are_serial_per_register() -> None:
    d = _plain(1)
    for _ in range(5):
        d.route("g", 0.0, accepted=True)
    assert d.take_batch("r0", 3, 0.0) == 3
    assert d.take_batch("r0", 3, 0.1) == 0  # one sequential log: no second batch in flight
    with pytest.raises(DispatchError):
        d.done("r0", 4, 0.2)
    d.done("r0", 2, 0.2)
    assert d.take_batch("r0", 3, 0.2) == 0
    d.done("r0", 1, 0.3)
    assert d.take_batch("r0", 3, 0.3) == 2
    with pytest.raises(DispatchError):
        d.done("r0", 0, 0.3)
    snap = d.snapshot(0.4)["g"].registers[0]
    assert (snap.queue, snap.in_flight) == (2, 2)


def test_service_time_is_learned_from_batches() -> None:
    d = _plain(1)
    for _ in range(10):
        d.route("g", 0.0, accepted=True)
    d.take_batch("r0", 10, 0.0)
    d.done("r0", 10, 0.5)  # 0.05 s a receipt
    assert d.snapshot(0.6)["g"].registers[0].service_time_s == pytest.approx(1.0 + 0.2 * (0.05 - 1.0))
    # The group's rate follows (from the next tick): 1 / 0.81 receipts/s.
    assert d.snapshot(1.0)["g"].service_rate == pytest.approx(1 / 0.81)


def test_arrival_rate_and_throughput_windows() -> None:
    d = _plain(4)
    t = 100.0
    for _s in range(10):
        for k in range(8):
            r = d.route("g", t + k / 8)
            assert isinstance(r, str)
            d.take_batch(r, 1, t + k / 8)
            d.done(r, 1, t + k / 8 + 0.01)
        t += 1.0
    snap = d.snapshot(t)["g"]
    assert snap.arrival_rate == pytest.approx(8.0, rel=0.05)
    assert sum(r.throughput for r in snap.registers) == pytest.approx(8.0, rel=0.05)
    quiet = d.snapshot(t + 20)["g"]  # the window slid past: nothing in the last 5 s
    assert quiet.arrival_rate == 0 and all(r.throughput == 0 for r in quiet.registers)


def test_health_events_once_per_crossing() -> None:
    d = _plain(2)
    up = d.update_health
    up("r0", 1.0, fill_percent=91.0)
    up("r0", 2.0, fill_percent=95.0)
    up("r0", 3.0, fill_percent=50.0)  # a new drive: re-armed
    up("r0", 4.0, fill_percent=90.0)
    up("r0", 5.0, days_to_expiry=30)
    up("r0", 6.0, days_to_expiry=29)
    up("r0", 7.0, days_to_expiry=3)
    for days in (0.5, 2, 6.9, 7, 24, 25, 26):
        up("r1", 10.0 + days, ofd_backlog_age_s=days * DAY)
    events = [(e.kind, e.register, e.at) for e in d.drain_events()]
    assert events == [
        (EventKind.DRIVE_FILL_90, "r0", 1.0),
        (EventKind.DRIVE_FILL_90, "r0", 4.0),
        (EventKind.EXPIRY_30_DAYS, "r0", 5.0),
        (EventKind.EXPIRY_3_DAYS, "r0", 7.0),
        (EventKind.OFD_BACKLOG_1_DAY, "r1", 12.0),
        (EventKind.OFD_BACKLOG_7_DAYS, "r1", 17.0),
        (EventKind.OFD_BACKLOG_25_DAYS, "r1", 35.0),
    ]
    assert all(r.in_rotation for r in d.snapshot(40.0)["g"].registers)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"fill_percent": 99.0}, Reason.DRIVE_FULL),
        ({"days_to_expiry": 1}, Reason.DRIVE_EXPIRING),
        ({"ofd_backlog_age_s": 29 * DAY}, Reason.OFD_BACKLOG),
        ({"blocked": True}, Reason.BLOCKED),
    ],
)
def test_near_a_limit_the_register_is_drained(values: dict[str, float], reason: Reason) -> None:
    d = _plain(2, target_wait_s=100.0)
    d.route("g", 0.0)
    d.route("g", 0.0)
    d.update_health("r0", 1.0, **values)  # type: ignore[arg-type]
    assert {d.route("g", 1.0) for _ in range(4)} == {"r1"}
    snap = {r.register: r for r in d.snapshot(1.0)["g"].registers}
    assert not snap["r0"].in_rotation and snap["r0"].reasons == (reason.value,) and snap["r0"].queue == 1
    kinds = [e.kind for e in d.drain_events()]
    assert kinds[-1] is EventKind.LEFT_ROTATION and kinds.count(EventKind.LEFT_ROTATION) == 1
    assert (EventKind.REGISTER_BLOCKED in kinds) == (reason is Reason.BLOCKED)
    # Its queue still finishes; a replaced drive brings it back.
    assert d.take_batch("r0", 5, 1.0) == 1
    d.done("r0", 1, 2.0)
    d.update_health("r0", 3.0, fill_percent=0.0, days_to_expiry=400, ofd_backlog_age_s=0.0, blocked=False)
    assert [e.kind for e in d.drain_events()] == [EventKind.RETURNED_TO_ROTATION]
    assert d.route("g", 3.0) == "r0"


def test_blocked_register_queue_is_withdrawn_and_rerouted() -> None:
    d = _plain(3)
    for _ in range(6):
        d.route("g", 0.0)
    d.take_batch("r1", 1, 0.0)
    d.update_health("r1", 0.5, blocked=True)
    assert d.withdraw("r1", 10, 0.5) == 1  # the one in flight stays with the drive
    again = d.route("g", 0.5, accepted=True)
    assert again in {"r0", "r2"}
    assert d.snapshot(0.5)["g"].queued_total == 6


def test_reserve_released_after_hold_finishes_its_queue() -> None:
    d = _group(("r0", frozenset(), False), ("x", frozenset(), True), release_hold_s=10.0)
    assert [d.route("g", 0.0), d.route("g", 0.0)] == ["r0", "r0"]
    assert d.route("g", 0.0) == "x"  # 2 queued on 1/s: a wait of 2 s passes the 1 s target, the reserve joins
    assert [e.kind for e in d.drain_events()] == [EventKind.RESERVE_ACTIVATED]
    assert d.take_batch("r0", 5, 0.0) == 2
    d.done("r0", 2, 2.0)  # r0 idle, x still has one queued: a wait of 0.5 s is not below half the target
    for t in range(3, 30):
        d.tick(float(t))
    assert d.drain_events() == []
    d.take_batch("x", 1, 29.0)
    d.done("x", 1, 30.0)
    d.tick(31.0)  # calm from 30 (the done above ticked)
    d.tick(39.0)
    assert d.snapshot(39.0)["g"].active_reserves == ("x",)
    d.tick(40.0)
    assert [e.kind for e in d.drain_events()] == [EventKind.RESERVE_RELEASED]
    snap = d.snapshot(40.0)["g"]
    assert snap.active_reserves == () and Reason.RESERVE_STANDBY in snap.registers[1].reasons


def test_released_reserve_keeps_its_queue_and_gets_nothing_new() -> None:
    d = _group(
        ("r0", frozenset(), False),
        ("x", frozenset(), True),
        release_hold_s=0.0,
        release_below=10.0,
        release_utilisation=10.0,
    )
    d.route("g", 0.0)
    d.route("g", 0.0)
    assert d.route("g", 0.0) == "x"
    d.tick(1.0)
    d.tick(2.0)  # calm (the release levels are 10×): released with one receipt queued
    snap = {r.register: r for r in d.snapshot(2.0)["g"].registers}
    assert not snap["x"].in_rotation and snap["x"].queue == 1
    assert d.take_batch("r0", 1, 1.0) == 1
    d.done("r0", 1, 2.0)
    assert d.route("g", 2.0) == "r0"  # x has 1 queued, as r0 had: a tie it is no longer in
    assert d.take_batch("x", 5, 2.0) == 1


def test_shift_close_leaves_rotation_without_failing() -> None:
    d = _plain(2)
    d.route("g", 0.0)
    d.set_in_rotation("r0", False, Reason.SHIFT_CLOSE, 1.0)
    assert {d.route("g", 1.0) for _ in range(3)} == {"r1"}
    d.set_in_rotation("r0", True, Reason.SHIFT_CLOSE, 2.0)
    assert d.route("g", 2.0) == "r0"
    kinds = [e.kind for e in d.drain_events()]
    assert kinds == [EventKind.LEFT_ROTATION, EventKind.RETURNED_TO_ROTATION]


def test_unknown_names_and_bad_settings() -> None:
    d = _plain(1)
    with pytest.raises(UnknownGroup):
        d.route("nope", 0.0)
    with pytest.raises(UnknownRegister):
        d.done("nope", 1, 0.0)
    with pytest.raises(DispatchError):
        d.add_register("g", "r0")
    with pytest.raises(ValueError):
        GroupSettings(policy="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        d.set_in_rotation("r0", True, Reason.DRIVE_FULL, 0.0)


# Random operations against a brute-force model: JSQ always picks a shortest queue among the registers in
# rotation with the capabilities asked for, and every count matches, whatever the interleaving.
_OPS = st.lists(
    st.tuples(st.sampled_from(["route", "route_m", "take", "done", "out", "in"]), st.integers(0, 5)),
    max_size=300,
)


@given(_OPS)
def test_jsq_matches_a_brute_force_model(ops: list[tuple[str, int]]) -> None:
    marked = frozenset({"marked"})
    d = _group(*[(f"r{k}", marked if k % 2 else frozenset(), False) for k in range(6)], target_wait_s=1e9)
    queue = dict.fromkeys(d.registers("g"), 0)
    flight = dict.fromkeys(queue, 0)
    out: set[str] = set()
    for op, k in ops:
        r = f"r{k}"
        if op in ("route", "route_m"):
            caps = marked if op == "route_m" else frozenset()
            ok = [x for x in queue if x not in out and (not caps or int(x[1:]) % 2)]
            got = d.route("g", 0.0, caps)
            if not ok:
                assert isinstance(got, Refusal)
                continue
            assert isinstance(got, str) and queue[got] == min(queue[x] for x in ok)
            queue[got] += 1
        elif op == "take":
            n = d.take_batch(r, 2, 0.0)
            assert n == (0 if flight[r] else min(2, queue[r]))
            flight[r] += n
        elif op == "done" and flight[r]:
            d.done(r, flight[r], 0.0)
            queue[r] -= flight[r]
            flight[r] = 0
        elif op in ("out", "in"):
            d.set_in_rotation(r, op == "in", "test", 0.0)
            (out.discard if op == "in" else out.add)(r)
    snap = d.snapshot(0.0)["g"]
    assert {x.register: x.queue for x in snap.registers} == queue
    assert snap.backlog == sum(q for x, q in queue.items() if x not in out)
