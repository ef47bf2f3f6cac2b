"""``/metrics`` in the Prometheus text format (0.0.4), for one worker (label ``worker``).

Rules
- Request counts and latency histograms per route class and status come from :class:`RequestStats`, fed by
  the HTTP server's ``on_request_done`` hook (one dict update and one bisect per request).
- Queue lengths (journal writer backlog, receipts in the fleet, pending in the journal) are the answering
  worker's. Per-register throughput, drive fill and OFD backlog cover every register of the service, whichever
  worker answers the scrape: its own pipeline's last health snapshot (≤ 1 s old) and the other workers' as they
  last published them (≤ 2 s old); their series carry ``group`` and ``register``, not ``worker`` (in the tiered
  layout the API workers that answer scrapes run no register).
- Route classes, not raw paths (a uuid per path would explode the label set).
- The stages of an accepted request (:class:`StageStats`), each observed once per request (a bulk request
  counts its receipts): ``validate`` (the request's last byte → handed to the journal writer: the wait for the
  loop iteration's batch and the validation), ``queued`` (→ its group commit starts), ``commit`` (the durable
  commit), ``answer`` (the commit's end → the event loop answers). With the request histogram they say where a
  single POST's latency goes under load; ``bench/api_wrk.py`` prints their quantiles at the paced rate.
- CPU seconds per thread of the worker (event loop, journal writer, fiscal pipeline, OFD sender, executor), from
  ``/proc/self/task/<tid>/stat`` (Linux; absent elsewhere): where a core goes, without a profiler. Threads of one
  name (the executor's) add up.
"""

from __future__ import annotations

import bisect
import os
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fiscal_core.api.http import Request, Response
    from fiscal_core.api.service import Service

__all__ = ["STAGES", "RequestStats", "StageStats", "quantile", "render", "route_class"]

_perf_counter = time.perf_counter
_ROUTES: dict[str, str] = {}  #: path -> route class, for the paths seen most (bounded: report paths carry uuids)
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Finer at the low end than BUCKETS: a stage of a 10 ms budget is read from them.
STAGE_BUCKETS = (0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1.0)
STAGES = ("validate", "queued", "commit", "answer")


def route_class(path: str) -> str:
    parts = path.strip("/").split("/")
    if parts[0] == "possystem":
        if len(parts) >= 3 and parts[2] == "getToken":
            return "atol_token"
        if len(parts) >= 4 and parts[3] == "report":
            return "atol_report"
        return "atol_register" if len(parts) == 4 else "other"
    if parts[0] == "api" and len(parts) >= 3:
        return f"v1_{parts[2]}".replace("-", "_")
    return parts[0] or "root"


class RequestStats:
    """Counters and histograms of served requests."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}
        self.hist: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}

    def done(self, req: Request | None, resp: Response) -> None:
        """The HTTP server's ``on_request_done`` hook: a request answered (``None``: refused while parsing)."""
        if req is not None:
            self.observe(req.path, resp.status, _perf_counter() - req.at)

    def observe(self, path: str, status: int, seconds: float) -> None:
        route = _ROUTES.get(path)
        if route is None:
            route = route_class(path)
            if len(_ROUTES) < 1024:
                _ROUTES[path] = route
        key = (route, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        h = self.hist.get(route)
        if h is None:
            h = self.hist[route] = [0] * (len(BUCKETS) + 1)
            self.sums[route] = 0.0
        h[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.sums[route] += seconds


class StageStats:
    """Histograms of the stages of accepted requests (see the module rules). Each stage is observed by one thread
    only (``validate`` and ``answer`` by the event loop, ``queued`` and ``commit`` by the journal writer), so an
    update is a bisect and two list stores without a lock."""

    def __init__(self) -> None:
        self.hist: dict[str, list[int]] = {s: [0] * (len(STAGE_BUCKETS) + 1) for s in STAGES}
        self.sums: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    def observe(self, stage: str, seconds: float, n: int = 1) -> None:
        """``n`` requests spent ``seconds`` in ``stage``."""
        self.hist[stage][bisect.bisect_left(STAGE_BUCKETS, seconds)] += n
        self.sums[stage] += seconds * n


def quantile(q: float, bounds: tuple[float, ...], counts: list[int]) -> float | None:
    """The ``q``-quantile of a histogram (``counts`` per bucket, the last one unbounded), interpolated linearly
    inside its bucket as Prometheus's ``histogram_quantile`` does; None for an empty histogram. A quantile in the
    unbounded bucket is reported as the last bound (a lower bound of the truth)."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            if i == len(bounds):
                return bounds[-1]
            low = bounds[i - 1] if i else 0.0
            return low + (bounds[i] - low) * (rank - seen) / n
        seen += n
    return bounds[-1]


_NUMBERED = re.compile(r"-\d+(_\d+)?$")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user + system) used so far by this process's live Python threads, by thread name (the
    event loop is ``MainThread``); empty where ``/proc`` is not there."""
    out: dict[str, float] = {}
    main = threading.main_thread()
    for t in threading.enumerate():
        # A forked worker's main thread keeps the native id it had in the parent (CPython 3.11 does not renew
        # it at fork), and the parent's id is not a task of this process; the main thread's id is the pid.
        tid = os.getpid() if t is main else t.native_id
        if tid is None:
            continue
        try:
            with open(f"/proc/self/task/{tid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the ")" that closes the command name: state is field 3, utime 14 and stime 15.
        fields = stat[stat.rindex(b")") + 2 :].split()
        name = _NUMBERED.sub("", t.name.split(" (")[0])  # "ThreadPoolExecutor-0_3" -> "ThreadPoolExecutor"
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / _TICK
    return out


def _histogram(
    add: Callable[[str], None], name: str, labels: str, bounds: tuple[float, ...], counts: list[int], total: float
) -> None:
    """One Prometheus histogram series: cumulative ``_bucket`` lines (``le`` bounds, +Inf), ``_sum``, ``_count``."""
    acc = 0
    for le, n in zip((*bounds, float("inf")), counts, strict=True):
        acc += n
        label = "+Inf" if le == float("inf") else f"{le:g}"
        add(f'{name}_bucket{{{labels},le="{label}"}} {acc}')
    add(f"{name}_sum{{{labels}}} {total:.6f}")
    add(f"{name}_count{{{labels}}} {acc}")


def render(svc: Service) -> str:
    w = f'worker="{svc.worker}"'
    out: list[str] = []
    add = out.append
    stats: RequestStats | None = getattr(svc, "request_stats", None)
    add("# HELP fiscal_http_requests_total HTTP requests served, by route class and status.")
    add("# TYPE fiscal_http_requests_total counter")
    if stats is not None:
        for (route, status), n in sorted(stats.counts.items()):
            add(f'fiscal_http_requests_total{{{w},route="{route}",status="{status}"}} {n}')
        add("# HELP fiscal_http_request_seconds Time from a request's last byte to its response.")
        add("# TYPE fiscal_http_request_seconds histogram")
        for route, h in sorted(stats.hist.items()):
            _histogram(add, "fiscal_http_request_seconds", f'{w},route="{route}"', BUCKETS, h, stats.sums[route])
    stages: StageStats | None = getattr(svc, "stage_stats", None)
    if stages is not None:
        add(
            "# HELP fiscal_request_stage_seconds Where an accepted request's time goes: validate, queued (for the "
            "journal writer), commit (durable), answer (back on the event loop); a bulk request counts its receipts."
        )
        add("# TYPE fiscal_request_stage_seconds histogram")
        for stage in STAGES:
            labels = f'{w},stage="{stage}"'
            _histogram(
                add, "fiscal_request_stage_seconds", labels, STAGE_BUCKETS, stages.hist[stage], stages.sums[stage]
            )
    writer = svc.writer
    add("# TYPE fiscal_receipts_total counter")
    for k, v in svc.stats.items():
        add(f'fiscal_receipts_total{{{w},outcome="{k}"}} {v}')
    add(f'fiscal_receipts_total{{{w},outcome="fiscalized"}} {svc.pipeline.processed}')
    add(
        "# HELP fiscal_pipeline_read_back_total Journaled receipts the fiscal pipeline decoded from the journal "
        "instead of taking them from memory (other workers' receipts; this worker's own should stay at 0)."
    )
    add("# TYPE fiscal_pipeline_read_back_total counter")
    add(f"fiscal_pipeline_read_back_total{{{w}}} {svc.pipeline.read_back}")
    if writer is not None:
        add("# TYPE fiscal_journal_commits_total counter")
        add(f"fiscal_journal_commits_total{{{w}}} {writer.commits}")
        add("# TYPE fiscal_journal_commit_seconds_total counter")
        add(f"fiscal_journal_commit_seconds_total{{{w}}} {writer.commit_seconds:.6f}")
    cpu = thread_cpu()
    if cpu:
        add("# HELP fiscal_thread_cpu_seconds_total CPU time (user + system) of each thread of the worker.")
        add("# TYPE fiscal_thread_cpu_seconds_total counter")
        for name, seconds in sorted(cpu.items()):
            add(f'fiscal_thread_cpu_seconds_total{{{w},thread="{name}"}} {seconds:.2f}')
    add("# HELP fiscal_sign_in_throttled_total Sign-ins refused without a password check (too many failures).")
    add("# TYPE fiscal_sign_in_throttled_total counter")
    add(f"fiscal_sign_in_throttled_total{{{w}}} {svc.login_guard.refused}")
    add("# TYPE fiscal_queue_length gauge")
    add(f'fiscal_queue_length{{{w},queue="journal_writer"}} {writer.backlog() if writer else 0}')
    add(f'fiscal_queue_length{{{w},queue="fleet"}} {svc.pipeline.fleet.pending()}')
    counts = svc.intake.counts()
    add(f'fiscal_queue_length{{{w},queue="journal_pending"}} {counts["pending"]}')
    add(f'fiscal_queue_length{{{w},queue="callbacks_due"}} {counts["callbacks_due"]}')
    totals = svc.ofd.totals() if svc.ofd is not None else None
    if totals is not None:
        add("# TYPE fiscal_ofd_documents_total counter")
        for name in ("sent", "confirmed", "errors"):
            if hasattr(totals, name):
                add(f'fiscal_ofd_documents_total{{{w},outcome="{name}"}} {getattr(totals, name)}')
    add("# TYPE fiscal_register_throughput gauge")
    add("# TYPE fiscal_register_queue gauge")
    add("# TYPE fiscal_drive_fill_ratio gauge")
    add("# TYPE fiscal_drive_days_to_expiry gauge")
    add("# TYPE fiscal_ofd_unsent_documents gauge")
    add("# TYPE fiscal_ofd_oldest_unsent_seconds gauge")
    add("# TYPE fiscal_register_in_rotation gauge")
    for reg in svc.register_health():
        r = f'group="{reg["group"]}",register="{reg["register"]}"'
        add(f"fiscal_register_throughput{{{r}}} {reg['throughput']:.3f}")
        add(f"fiscal_register_queue{{{r}}} {reg['queue']}")
        add(f"fiscal_drive_fill_ratio{{{r}}} {reg['fill_percent'] / 100:.6f}")
        add(f"fiscal_drive_days_to_expiry{{{r}}} {reg['days_to_expiry']:.2f}")
        add(f"fiscal_ofd_unsent_documents{{{r}}} {reg['unsent']}")
        add(f"fiscal_ofd_oldest_unsent_seconds{{{r}}} {reg['oldest_unsent_age_s']:.1f}")
        add(f"fiscal_register_in_rotation{{{r}}} {int(reg['in_rotation'])}")
    return "\n".join(out) + "\n"
