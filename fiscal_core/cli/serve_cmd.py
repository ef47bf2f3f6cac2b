"""``fiscal-core serve``: the API service (see :mod:`fiscal_core.api.server` for what runs where)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="run the API service (embedded default: ./fiscal-data, sandbox tenant, OFD emulator, 127.0.0.1:8080)",
        description="Run the ATOL v4/v5-compatible API, the bulk API and the register fleet.",
    )
    p.add_argument("--data", default="./fiscal-data", help="data directory (default ./fiscal-data)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--workers", type=int, default=1, help="worker processes, one per core (SO_REUSEPORT)")
    p.add_argument(
        "--fiscal-workers",
        type=int,
        default=0,
        help="processes that only fiscalize (no socket); the --workers then only serve the API (default 0)",
    )
    p.add_argument("--tls-cert", help="PEM certificate chain: serve HTTPS")
    p.add_argument("--tls-key", help="PEM private key for --tls-cert")
    p.add_argument("--no-sandbox", action="store_true", help="do not provision the sandbox tenant")
    p.add_argument("--ofd", default="embedded", help="embedded (in-process emulator, default), none, or HOST:PORT")
    p.add_argument("--public-url", help="base URL clients reach this server at (for ofd_receipt_url)")
    p.add_argument("--rate-limit", type=float, default=100_000.0, help="receipts/s per tenant and worker")
    p.add_argument("--grace", type=float, default=10.0, help="seconds a graceful stop may take")
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from fiscal_core.api.server import ServeConfig, run
    from fiscal_core.api.service import ServiceSettings
    from fiscal_core.errors import InputError

    if args.workers < 1:
        raise InputError("--workers must be at least 1")
    if args.fiscal_workers < 0:
        raise InputError("--fiscal-workers must be 0 or more")
    if not 0 <= args.port <= 65535:
        raise InputError("--port must be 0..65535")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise InputError("--tls-cert and --tls-key go together")
    if args.ofd not in ("embedded", "none") and not args.ofd.rpartition(":")[2].isdigit():
        raise InputError("--ofd is embedded, none or HOST:PORT")
    settings = ServiceSettings(
        ofd=args.ofd,
        rate_limit=args.rate_limit,
        public_url=args.public_url or f"{'https' if args.tls_cert else 'http'}://{args.host}:{args.port}",
    )
    cfg = ServeConfig(
        data=args.data,
        host=args.host,
        port=args.port,
        workers=args.workers,
        fiscal_workers=args.fiscal_workers,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        grace_s=args.grace,
        sandbox=not args.no_sandbox,
        ofd=args.ofd,
        settings=settings,
    )
    return run(cfg)
