"""The cyclic garbage collector's policy for long-running processes (the server's workers, the benchmarks).

Rules
- :func:`tune` is called once, after start-up: everything built until then (modules, the fleet, the drives'
  state, the model) moves to the permanent generation (``gc.freeze``), and a young collection runs every
  100,000 net allocations instead of 700.
- Why: a request or a queued receipt allocates a few dozen tracked objects (futures, Structs, node lists), so
  with the defaults a young collection ran every ~20 requests and a full one walked the whole heap — a thousand
  drives' state included — every few thousand. ``bench/api_wrk.py`` measured +15–25 % single-POST req/s with
  this policy and the drive's batch append +10–15 % (bench/RESULTS.md). The fleet queues bursts of thousands of
  receipts (a dozen tracked objects each), so the young threshold is set above a burst: 100,000 instead of
  20,000 took the fleet benchmark from 58–61k to 63–66k receipts/s, with the API unchanged.
- Garbage cycles are rare on the hot paths (no reference cycles per request), so the higher threshold costs
  little memory; the collector still runs, only less often.
- The benchmarks run under the same policy (bench/conftest.py), so their figures are the server's.
"""

from __future__ import annotations

import gc

__all__ = ["THRESHOLDS", "tune"]

#: gc.set_threshold arguments: young collections every 100,000 net allocations; gen 1 every 50 of those;
#: gen 2 every 1,000 gen-1 collections (and, as always, only when long-lived objects grew by 25 %).
THRESHOLDS = (100_000, 50, 1000)


def tune() -> None:
    """Freeze what exists now and raise the collection thresholds (see the module rules)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
