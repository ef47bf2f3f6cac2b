"""Benchmarks: seeded realistic data and both implementations of every native module.

Run with ``make bench`` (saves JSON under .benchmarks/, compare with ``make bench-compare``). Not collected by
the plain test run (files are ``bench_*.py``). Each case reports the per-item figure in ``extra_info``.

The benchmarks run under the collector policy of the long-running processes they stand for
(:mod:`fiscal_core.gctune`: start-up objects frozen, young collections every 100,000 allocations), applied once
when the session starts, so a figure here is what ``fiscal-core serve``'s workers see.
"""

from __future__ import annotations

from typing import Any

import pytest

from fiscal_core import _impl, gctune


def pytest_sessionstart(session: pytest.Session) -> None:
    gctune.tune()


def impl_params(native: str, twin: str) -> list[Any]:
    found = _impl.implementations(native, twin)
    if "native" not in found and _impl.REQUIRE_EXTENSIONS:
        raise RuntimeError(f"{native} is not built but FISCAL_CORE_REQUIRE_EXTENSIONS is set")
    params = [pytest.param(found["py"], id="py")]
    if "native" in found:
        params.append(pytest.param(found["native"], id="native"))
    return params


def per_item(benchmark: Any, count: int, unit: str = "item") -> None:
    """Record per-item median and rate (available after the benchmark ran)."""
    stats = getattr(benchmark, "stats", None)
    if stats is None or not getattr(stats, "stats", None):
        return
    median = stats.stats.median / count
    benchmark.extra_info[f"median_per_{unit}_us"] = round(median * 1e6, 3)
    benchmark.extra_info[f"{unit}s_per_s"] = round(1 / median) if median else None
