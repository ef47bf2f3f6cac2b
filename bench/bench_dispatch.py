"""Dispatcher decisions with 1,000 registers in one group, JSQ and p2c (issue 4; floor ≥ 500,000 decisions/s).

Data: one group of 1,000 registers at the emulated drive's speed (1 ms a receipt, so 1,000,000/s together and
no admission refusal at these backlogs), each with 2 receipts already queued; the clock moves 2 µs a
decision (a core at the floor). One round is 10,000 decisions; ``extra_info`` has decisions/s.

- ``route``: route() alone; between rounds (untimed) the queues go back to the standing 2 per register.
- ``route_batched``: route() for 10,000 receipts, then every register takes its queue as one group-commit
  batch and reports it done — the fleet's real cycle (about 10 receipts a batch here), all timed.
- ``route_take_done``: route() + take_batch(1) + done(1) for every receipt — no batching, the worst case.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from conftest import per_item

from fiscal_core.registers import Dispatcher, GroupSettings

REGISTERS = 1_000
DECISIONS = 10_000
STEP = 2e-6
POLICIES = ["jsq", "p2c"]


class _Fleet:
    def __init__(self, policy: str) -> None:
        self.d = Dispatcher(random.Random(1))
        self.d.add_group("g", GroupSettings(policy=policy))  # type: ignore[arg-type]
        self.ids = [f"r{k:04d}" for k in range(REGISTERS)]
        for rid in self.ids:
            self.d.add_register("g", rid, service_time_s=0.001)
        self.now = 0.0
        for _ in range(2 * REGISTERS):
            self.d.route("g", self.now)

    def settle(self) -> None:
        """Finish everything above the standing 2 per register (untimed between rounds)."""
        d, now = self.d, self.now
        for rid in self.ids:
            n = d.take_batch(rid, 1 << 30, now)
            if n:
                d.done(rid, n, now)
        for _ in range(2 * REGISTERS):
            d.route("g", now, accepted=True)


@pytest.mark.parametrize("policy", POLICIES)
def bench_route(benchmark: Any, policy: str) -> None:
    fleet = _Fleet(policy)
    route = fleet.d.route
    benchmark.group = "dispatch-route"

    def run() -> None:
        t = fleet.now
        for _ in range(DECISIONS):
            t += STEP
            route("g", t)
        fleet.now = t

    benchmark.pedantic(run, setup=fleet.settle, rounds=100, iterations=1, warmup_rounds=5)
    per_item(benchmark, DECISIONS, "decision")


@pytest.mark.parametrize("policy", POLICIES)
def bench_route_batched(benchmark: Any, policy: str) -> None:
    fleet = _Fleet(policy)
    d, ids = fleet.d, fleet.ids
    route, take, done = d.route, d.take_batch, d.done
    benchmark.group = "dispatch-route-batched"

    def run() -> None:
        t = fleet.now
        for _ in range(DECISIONS):
            t += STEP
            route("g", t)
        for rid in ids:
            n = take(rid, 64, t)
            if n:
                done(rid, n, t + STEP)
        fleet.now = t + STEP

    benchmark.pedantic(run, rounds=100, iterations=1, warmup_rounds=5)
    per_item(benchmark, DECISIONS, "decision")


@pytest.mark.parametrize("policy", POLICIES)
def bench_route_take_done(benchmark: Any, policy: str) -> None:
    fleet = _Fleet(policy)
    d = fleet.d
    route, take, done = d.route, d.take_batch, d.done
    benchmark.group = "dispatch-route-take-done"

    def run() -> None:
        t = fleet.now
        for _ in range(DECISIONS):
            t += STEP
            r = route("g", t)
            take(r, 1, t)
            done(r, 1, t)
        fleet.now = t

    benchmark.pedantic(run, rounds=100, iterations=1, warmup_rounds=5)
    per_item(benchmark, DECISIONS, "decision")
