"""CPU of a running ``fiscal-core serve`` worker by thread, from its ``/metrics`` (``fiscal_thread_cpu_seconds_total``).

The load scripts (``api_wrk.py``, ``api_load.py``) scrape it before and after a run and report microseconds of
CPU per request (or receipt) for each thread — the event loop (``MainThread``), the journal writer, the fiscal
pipeline — so a figure comes with where its core went, without a profiler.
"""

from __future__ import annotations

import http.client

__all__ = ["cpu_per_item", "scrape"]


def scrape(port: int) -> dict[str, float]:
    """CPU seconds so far by thread name (empty when the server does not report them)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
    finally:
        c.close()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("fiscal_thread_cpu_seconds_total{"):
            name = line.split('thread="', 1)[1].split('"', 1)[0]
            out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def cpu_per_item(before: dict[str, float], after: dict[str, float], items: int) -> dict[str, float]:
    """Microseconds of CPU per item by thread between two scrapes, the busiest first, plus ``"all"``."""
    if items <= 0:
        return {}
    delta = {k: after[k] - before.get(k, 0.0) for k in after}
    out = {k: round(v / items * 1e6, 1) for k, v in sorted(delta.items(), key=lambda kv: -kv[1]) if v > 0}
    out["all"] = round(sum(delta.values()) / items * 1e6, 1)
    return out
