"""Fiscal drive: durable group commit of ~1.3 KB FFD 1.2 receipts (build → sign → CRC → store), per batch size.

Each round issues one ``append_many`` of ``batch`` receipts into a real LMDB drive on this disk (sync +
metasync, no writemap), from seeded 10-item receipt models; per-document figures are in ``extra_info``.
The drive is created with a capacity of 10,000,000 so the benchmark never meets the 250,000 limit, and an
injected clock that stays inside one shift. Physical ceiling for comparison: ``python bench/lmdb_ceiling.py``.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from typing import Any

import pytest
from conftest import per_item

from fiscal_core import samples
from fiscal_core.drive.drive import FiscalDrive

RECEIPTS = samples.receipts(64, n_items=10, seed=11)


@pytest.fixture(scope="module")
def drive() -> Any:
    with tempfile.TemporaryDirectory(dir=".") as d:
        start = time.time()
        drv = FiscalDrive.create(d, samples.identity(), capacity=10_000_000, clock=lambda: start)
        drv.open_shift("Бенчмарк")
        yield drv
        drv.store.close()


@pytest.mark.parametrize("batch", [1, 10, 100, 1000])
def bench_append_many(benchmark: Any, drive: Any, batch: int) -> None:
    source = itertools.cycle(RECEIPTS)
    requests = [[(3, next(source)) for _ in range(batch)] for _ in range(8)]
    rounds = itertools.cycle(requests)
    benchmark.group = "drive-append-many"

    def run() -> None:
        drive.append_many(next(rounds))

    benchmark.pedantic(run, rounds=max(5, 2000 // batch), warmup_rounds=1)
    per_item(benchmark, batch, "document")


def bench_single_append_latency(benchmark: Any, drive: Any) -> None:
    """One receipt, one durable commit: p50 is the median, p99 is in extra_info."""
    source = itertools.cycle(RECEIPTS)
    benchmark.group = "drive-single"
    benchmark.pedantic(lambda: drive.receipt(next(source)), rounds=1000, warmup_rounds=10)
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None):
        data = sorted(stats.stats.data)
        benchmark.extra_info["p50_ms"] = round(data[len(data) // 2] * 1e3, 3)
        benchmark.extra_info["p99_ms"] = round(data[int(len(data) * 0.99)] * 1e3, 3)
