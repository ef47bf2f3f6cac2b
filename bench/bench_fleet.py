"""Fleet throughput (issue 4): receipts/s through ``submit`` + ``pump`` with the emulated profile and group commit.

Each round submits a burst of seeded 10-item FFD 1.2 receipts (the drive benchmark's, ~1.3 KB each) to one group
and pumps until every one has its fiscal data: body encoding, dispatch, per-register batches, one durable LMDB
commit per shard store, results. Groups: 8 registers (one store) and 1,000 registers (16 stores of 64). Drives
are made with a capacity of 10,000,000 so no limit is met; the clock is injected (10:00 Moscow, +1 ms a pump).
The floor is 60,000 receipts/s per core (issue 4); ``extra_info`` has receipts/s and µs per receipt.

``python bench/bench_fleet.py [--registers N] [--burst N] [--rounds N] [--tune-gc] [--profile]`` prints the same
figure with a breakdown (submit vs pump, and inside the pump the drive's prepare and commit) and, with
``--profile``, the top functions by own time. ``--tune-gc`` shows what a server's collector tuning buys: the
receipts queued in a burst are many young container objects, and with 1,000 drives' state alive every full
collection is long.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import itertools
import pathlib
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fiscal_core import samples
from fiscal_core.registers.fleet import Fleet, FleetSettings
from fiscal_core.registers.model import FleetFile, parse_tax_systems
from fiscal_core.registers.provision import add_registers

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from conftest import per_item

T0 = dt.datetime(2026, 6, 1, 7, 0, tzinfo=dt.UTC).timestamp()
RECEIPTS = samples.receipts(64, n_items=10, seed=11)


def make_fleet(root: str, registers: int) -> Fleet:
    files = FleetFile(root)
    with files.edit() as model:
        model.add_tenant("bench", "bench", "7707083893", 'ООО "Бенчмарк"', parse_tax_systems("osn"))
        model.add_group("bench", "g", "1.2", capabilities=["marked"], target_wait_s=10.0)
    add_registers(files, "g", registers, capacity=10_000_000, clock=lambda: T0)
    return Fleet(root, T0, settings=FleetSettings(max_batch=512))


class Driver:
    """Submits bursts and pumps them through, on an injected clock."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.now = T0 + 1
        self.source = itertools.cycle(RECEIPTS)

    def submit(self, n: int) -> None:
        submit = self.fleet.submit
        source = self.source
        now = self.now
        for _ in range(n):
            got = submit(next(source), "g", now)
            assert type(got) is int, got

    def pump_all(self) -> int:
        done = 0
        while self.fleet.pending():
            self.now += 0.001
            done += len(self.fleet.pump(self.now))
        return done

    def drain(self) -> None:
        self.pump_all()

    def round(self, n: int) -> None:
        self.submit(n)
        assert self.pump_all() == n


@pytest.fixture(scope="module", params=[8, 1000], ids=["8-registers", "1000-registers"])
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    with tempfile.TemporaryDirectory(dir=".") as root:
        fleet = make_fleet(root, request.param)
        d = Driver(fleet)
        d.round(len(fleet.regs) * 2)  # shifts opened, caches warm
        yield d
        fleet.close()


def bench_fleet_throughput(benchmark: Any, driver: Driver) -> None:
    """submit + pump of a burst: 4,096 receipts for 8 registers, 16,000 for 1,000 (16 per register)."""
    burst = 4096 if len(driver.fleet.regs) <= 64 else 16_000
    benchmark.group = "fleet-throughput"
    benchmark.pedantic(driver.round, args=(burst,), rounds=5, warmup_rounds=1)
    per_item(benchmark, burst, "receipt")


def bench_fleet_submit(benchmark: Any, driver: Driver) -> None:
    """submit alone (encode the body once for the group, route, queue); the pump runs untimed between rounds."""
    burst = 4096
    benchmark.group = "fleet-submit"
    benchmark.pedantic(driver.submit, args=(burst,), setup=driver.drain, rounds=10, warmup_rounds=1)
    driver.pump_all()
    per_item(benchmark, burst, "receipt")


# ------------------------------------------------------------------------------------------------ by hand


def main(argv: list[str] | None = None) -> int:
    import cProfile
    import pstats

    from fiscal_core.drive.drive import FiscalDrive

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--registers", type=int, default=8)
    p.add_argument("--burst", type=int, default=4096)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--tune-gc", action="store_true", help="gc.freeze() after start-up and a gen-0 threshold of 100,000")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=".") as root:
        t = time.perf_counter()
        fleet = make_fleet(root, args.registers)
        print(f"{args.registers} registers provisioned in {time.perf_counter() - t:.1f} s")
        d = Driver(fleet)
        d.round(args.registers * 2)
        if args.tune_gc:
            # What a long-running server does after start-up: the fleet's own objects (drives, states, the
            # model) leave the collector's view, and young receipts are collected less often.
            gc.collect()
            gc.freeze()
            gc.set_threshold(100_000, 50, 1000)
        spent = {"prepare": 0.0, "commit": 0.0}
        real_prepare, real_commit = FiscalDrive.prepare, FiscalDrive.commit_prepared

        def prepare(self: Any, *a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return real_prepare(self, *a, **kw)
            finally:
                spent["prepare"] += time.perf_counter() - t0

        def commit(store: Any, batches: Any) -> None:
            t0 = time.perf_counter()
            try:
                real_commit(store, batches)
            finally:
                spent["commit"] += time.perf_counter() - t0

        FiscalDrive.prepare = prepare  # type: ignore[method-assign]
        FiscalDrive.commit_prepared = staticmethod(commit)  # type: ignore[method-assign]
        submit_s = pump_s = 0.0
        n = args.burst * args.rounds
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            d.submit(args.burst)
            t1 = time.perf_counter()
            d.pump_all()
            t2 = time.perf_counter()
            submit_s += t1 - t0
            pump_s += t2 - t1
        FiscalDrive.prepare, FiscalDrive.commit_prepared = real_prepare, staticmethod(real_commit)  # type: ignore[method-assign]
        total = submit_s + pump_s
        other = pump_s - spent["prepare"] - spent["commit"]
        print(f"{n / total:,.0f} receipts/s ({1e6 * total / n:.1f} µs a receipt); floor 60,000/s (16.7 µs)")
        print(f"  submit        {1e6 * submit_s / n:6.1f} µs  (encode the body, route, queue)")
        print(f"  pump          {1e6 * pump_s / n:6.1f} µs")
        print(f"    prepare     {1e6 * spent['prepare'] / n:6.1f} µs  (drive: check, number, sign, splice)")
        print(f"    commit      {1e6 * spent['commit'] / n:6.1f} µs  (drive: records, LMDB puts, one fsync a store)")
        print(f"    fleet       {1e6 * other / n:6.1f} µs  (batches, results, health, dispatcher)")
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            d.round(args.burst)
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        fleet.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
