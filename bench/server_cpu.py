"""CPU of a running ``fiscal-core serve`` worker by thread, from its ``/metrics`` (``fiscal_thread_cpu_seconds_total``),
and where its accepted requests' time went (``fiscal_request_stage_seconds``).

The load scripts (``api_wrk.py``, ``api_load.py``) scrape it before and after a run and report microseconds of
CPU per request (or receipt) for each thread — the event loop (``MainThread``), the journal writer, the fiscal
pipeline — so a figure comes with where its core went, without a profiler; ``api_wrk.py`` also reports the p50 and
p99 of each stage of a request (validate, queued, commit, answer) over the paced run. For the tiered layout
(``serve --fiscal-workers``) they pin the fiscal-only workers to core 1 and read those processes' CPU from /proc.

:func:`vm_probe` times fixed interpreter work and a random walk through memory on the server's core, so that each
figure carries the speed of the minutes it was measured in: this VM's speed swings by up to ×2 within minutes
(bench/RESULTS.md, sessions 15–16), and a figure is only comparable with one taken at a similar probe.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import pathlib
import re
import subprocess
import sys
import time

from fiscal_core.api.metrics import STAGE_BUCKETS, quantile

__all__ = [
    "cpu_per_item",
    "pin_fiscal_workers",
    "process_cpu",
    "scrape",
    "scrape_queue",
    "scrape_stages",
    "stage_quantiles",
    "vm_probe",
]


def _metrics(port: int) -> str:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", "/metrics")
        return c.getresponse().read().decode()
    finally:
        c.close()


def scrape_stages(port: int) -> dict[str, list[int]]:
    """The request-stage histograms so far: per stage, the count in each bucket (not cumulative)."""
    cumulative: dict[str, list[int]] = {}
    for line in _metrics(port).splitlines():
        if line.startswith("fiscal_request_stage_seconds_bucket{"):
            stage = line.split('stage="', 1)[1].split('"', 1)[0]
            cumulative.setdefault(stage, []).append(int(line.rsplit(" ", 1)[1]))
    return {k: [c - (v[i - 1] if i else 0) for i, c in enumerate(v)] for k, v in cumulative.items()}


def stage_quantiles(
    before: dict[str, list[int]], after: dict[str, list[int]], qs: tuple[float, ...] = (0.5, 0.99)
) -> dict[str, list[float | None]]:
    """Milliseconds at the quantiles ``qs`` of each stage, over the requests between two scrapes."""
    out: dict[str, list[float | None]] = {}
    for stage, counts in after.items():
        old = before.get(stage, [0] * len(counts))
        delta = [a - b for a, b in zip(counts, old, strict=True)]
        got = [quantile(q, STAGE_BUCKETS, delta) for q in qs]
        out[stage] = [None if x is None else round(x * 1000, 2) for x in got]
    return out


def scrape(port: int) -> dict[str, float]:
    """CPU seconds so far by thread name (empty when the server does not report them)."""
    text = _metrics(port)
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("fiscal_thread_cpu_seconds_total{"):
            name = line.split('thread="', 1)[1].split('"', 1)[0]
            out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def scrape_queue(port: int, queue: str) -> int:
    """A queue's length now (``fiscal_queue_length``, e.g. ``journal_pending``: journaled, not yet fiscalized)."""
    for line in _metrics(port).splitlines():
        if line.startswith("fiscal_queue_length{") and f'queue="{queue}"' in line:
            return int(line.rsplit(" ", 1)[1])
    raise LookupError(f"no queue {queue!r} in /metrics")


def cpu_per_item(before: dict[str, float], after: dict[str, float], items: int) -> dict[str, float]:
    """Microseconds of CPU per item by thread between two scrapes, the busiest first, plus ``"all"``."""
    if items <= 0:
        return {}
    delta = {k: after[k] - before.get(k, 0.0) for k in after}
    out = {k: round(v / items * 1e6, 1) for k, v in sorted(delta.items(), key=lambda kv: -kv[1]) if v > 0}
    out["all"] = round(sum(delta.values()) / items * 1e6, 1)
    return out


def pin_fiscal_workers(log: pathlib.Path, n: int) -> list[int]:
    """Move the fiscal-only workers (indices 1..n, from the supervisor's log) and all their threads to core 1."""
    deadline = time.monotonic() + 30
    while True:
        found = dict(re.findall(rb"worker (\d+) started, pid (\d+)", log.read_bytes()))
        pids = [int(found[b"%d" % i]) for i in range(1, n + 1) if b"%d" % i in found]
        if len(pids) == n:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"the fiscal workers did not start: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    pinned: set[int] = set()
    while True:  # until a pass finds no new thread: one made while we pinned inherits its maker's old mask
        tids = {int(t) for pid in pids for t in os.listdir(f"/proc/{pid}/task")} - pinned
        if not tids:
            return pids
        for tid in tids:
            with contextlib.suppress(ProcessLookupError):  # a short-lived thread ended meanwhile
                os.sched_setaffinity(tid, {1})  # threads made later inherit their maker's affinity
        pinned |= tids
        time.sleep(0.05)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (all its threads)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_PROBE = """
import array, json, random, sys, time
import msgspec
body = sys.stdin.buffer.read()
dec = msgspec.json.Decoder()
def work():
    obj = dec.decode(body)
    n = 0
    for item in obj["receipt"]["items"]:
        for k, v in item.items():
            n += len(k) + (len(v) if type(v) is str else 1)
    return json.dumps(obj, ensure_ascii=False).encode(), n
for _ in range(300):
    work()
cpu = 1e9
for _ in range(5):
    t = time.thread_time()
    for _ in range(1000):
        work()
    cpu = min(cpu, time.thread_time() - t)
# One random cycle through 2 Mi slots (8 MiB, past the core's caches): each step waits for memory.
n = 1 << 21
order = list(range(n))
random.Random(1).shuffle(order)
nxt = array.array("I", bytes(4 * n))
for a, b in zip(order, order[1:] + order[:1]):
    nxt[a] = b
mem = 1e9
for _ in range(3):
    j = 0
    t = time.thread_time()
    for _ in range(500_000):
        j = nxt[j]
    mem = min(mem, time.thread_time() - t)
print(cpu * 1000, mem / 500_000 * 1e9)
"""


def vm_probe(body: bytes, core: int = 0) -> dict[str, float]:
    """The speed of the minutes a figure is taken in, on ``core`` (a fresh process, ~1.5 s):
    ``cpu_us``: one fixed unit of interpreter work (decode ``body`` with msgspec, walk its items, re-encode it with
    ``json``), the best of five runs of 1,000; ``mem_ns``: one step of a random walk through 8 MiB, the best of
    three runs of 500,000 (the interpreter's own share of a step, ~72 ns, included). Lower is faster. The CPU
    unit depends on the body, so compare ``cpu_us`` of one script only.

    This VM's speed swings by up to ×2 within minutes (bench/RESULTS.md, sessions 15–16). The server's work is
    cache-cold, and in session 16 its rate followed the memory walk more than the interpreter unit (a 16 MiB walk
    read 179–241 ns in minutes of 11,400–7,800 req/s, while ``cpu_us`` stayed at ~19 µs through most slow
    minutes). ``mem_ns`` itself moved from 83 to 267 ns within one minute: a probe before and after a run
    brackets the run's minutes, it does not measure them."""
    out = subprocess.run(
        ["taskset", "-c", str(core), sys.executable, "-c", _PROBE], input=body, capture_output=True, check=True
    )
    cpu, mem = (float(x) for x in out.stdout.split())
    return {"cpu_us": round(cpu, 2), "mem_ns": round(mem, 1)}
