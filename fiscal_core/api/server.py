"""``fiscal-core serve``: provision, then run the API workers (issue 5 item 1).

Rules
- The embedded default (no arguments): data in ``./fiscal-data``, the sandbox tenant provisioned (and said so on
  stdout), the in-process OFD emulator, listening on 127.0.0.1:8080, one worker.
- Everything that opens LMDB happens inside a worker process, after the fork (an LMDB environment must not
  cross a fork). The supervisor (``workers.run_workers``) only forks, forwards signals and reaps.
- Each worker: uvloop loop → :class:`~fiscal_core.api.service.Service` (intake, journal writer, fiscal pipeline,
  callbacks) → :class:`~fiscal_core.api.http.HttpServer` on its own SO_REUSEPORT socket. Graceful stop: the
  HTTP server drains the requests in flight, then the service journals what is queued and lets the fleet
  finish, then everything is closed.
- The tiered layout (``fiscal_workers`` > 0): the ``workers`` API workers journal and answer but fiscalize
  nothing; ``fiscal_workers`` more processes (indices after theirs) run the service without a socket and
  fiscalize the groups, each a share, finding the API workers' receipts by scanning the shared journal. The
  front end's cores then spend nothing on the fleet, and each tier is sized apart. Exactly once holds as with
  several ordinary workers: the journal and the drives' links are the authority, not the process.
- The wall clock is read here and passed down (the layers below take ``clock``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import ssl as _ssl
import sys
from dataclasses import dataclass, field
from typing import Any

import uvloop

from fiscal_core import gctune
from fiscal_core.api.http import HttpServer, Limits, bind_socket
from fiscal_core.api.intake import release_gil_in_lmdb
from fiscal_core.api.metrics import RequestStats
from fiscal_core.api.service import Service, ServiceSettings
from fiscal_core.api.workers import run_workers, serve, until_stopped

__all__ = ["ServeConfig", "main_worker", "run"]

log = logging.getLogger("fiscal_core.server")


@dataclass
class ServeConfig:
    data: str = "./fiscal-data"
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    fiscal_workers: int = 0  #: fiscal-only processes (the tiered layout, see the rules); 0: every worker does both
    tls_cert: str | None = None
    tls_key: str | None = None
    grace_s: float = 10.0
    sandbox: bool = True
    ofd: str = "embedded"  #: "embedded" (in-process emulator), "none", or host:port of a real OFD
    settings: ServiceSettings = field(default_factory=ServiceSettings)
    limits: Limits = field(default_factory=Limits)


class JsonLogFormatter(logging.Formatter):
    """Structured logs: one JSON object per line (time, level, logger, pid, message, exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _ssl_context(cfg: ServeConfig) -> _ssl.SSLContext | None:
    if not cfg.tls_cert:
        return None
    ctx = _ssl.create_default_context(_ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    return ctx


def main_worker(index: int, cfg: ServeConfig) -> None:
    """One worker process: the service and its HTTP server on one uvloop loop, until SIGTERM/SIGINT."""

    # LMDB commits wait for fsync: let them release the GIL so the event loop keeps serving meanwhile.
    release_gil_in_lmdb()

    async def main() -> None:
        svc = _service(index, cfg)
        await svc.start()
        gctune.tune()  # after start-up: the fleet and the drives' state leave the collector's view
        stats = RequestStats()
        svc.request_stats = stats  # type: ignore[attr-defined]
        server = HttpServer(svc.handle, limits=cfg.limits, on_request_done=stats.done)
        sock = bind_socket(cfg.host, cfg.port)
        log.info("worker %d serving on %s:%d", index, cfg.host, sock.getsockname()[1])
        try:
            await serve(server, sock, grace_s=cfg.grace_s, ssl=_ssl_context(cfg))
        finally:
            await svc.stop()

    uvloop.run(main())


def _service(index: int, cfg: ServeConfig) -> Service:
    total = cfg.workers + cfg.fiscal_workers
    first = cfg.workers if cfg.fiscal_workers else 0
    return Service(cfg.data, worker=index, workers=total, fiscal_first=first, settings=cfg.settings)


def fiscal_worker(index: int, cfg: ServeConfig) -> None:
    """A fiscal-only process of the tiered layout: the service without a socket, until SIGTERM/SIGINT."""
    release_gil_in_lmdb()

    async def main() -> None:
        svc = _service(index, cfg)
        await svc.start()
        gctune.tune()
        log.info("worker %d fiscalizing groups %s", index, ", ".join(sorted(svc.pipeline.fleet.groups)) or "(none)")
        try:
            await until_stopped()
        finally:
            await svc.stop()

    uvloop.run(main())


def run(cfg: ServeConfig) -> int:
    """Provision, say what runs where, and run the workers; the exit code."""
    from fiscal_core.registers import sandbox
    from fiscal_core.registers.model import FleetFile

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    os.makedirs(cfg.data, exist_ok=True)
    if cfg.sandbox:
        print(sandbox.provision(cfg.data), flush=True)
    elif not FleetFile(cfg.data).exists():
        print(f"fiscal-core: error: no fleet in {cfg.data}: provision one or run with the sandbox", file=sys.stderr)
        return 2
    scheme = "https" if cfg.tls_cert else "http"
    tier = f" and {cfg.fiscal_workers} fiscal-only worker(s)" if cfg.fiscal_workers else ""
    print(
        f"fiscal-core: serving {scheme}://{cfg.host}:{cfg.port} with {cfg.workers} worker(s){tier}, data in "
        f"{os.path.abspath(cfg.data)}, OFD {cfg.ofd}; ATOL API at /possystem/v4|v5/, bulk API at /api/v1/, "
        f"/metrics, /openapi.json",
        flush=True,
    )

    # The embedded OFD emulator's port is written by the worker hosting it and read by the others: a file left by
    # the last run would send their documents to a port nobody listens on any more.
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(cfg.data, "ofd", "port"))

    def worker_main(i: int) -> None:
        (main_worker if i < cfg.workers else fiscal_worker)(i, cfg)

    return run_workers(cfg.workers + cfg.fiscal_workers, worker_main, grace_s=cfg.grace_s + 5)
