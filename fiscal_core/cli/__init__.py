"""``fiscal-core`` command line: one sub-command module per area, dispatched here.

Rules
- Exit codes: 0 success, 2 bad input or usage (one clear line on stderr), 1 anything else.
- Sub-command modules expose ``register(subparsers)``; each parser sets ``func(args) -> int``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fiscal_core.errors import FiscalError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    from fiscal_core import __version__
    from fiscal_core.cli import drive_cmd, fleet_cmd, ofd_cmd, plan_cmd, serve_cmd, tlv_cmd

    parser = argparse.ArgumentParser(
        prog="fiscal-core",
        description="Cloud fiscal register core (54-FZ): FFD 1.05/1.2 documents, fiscal drives, registers, API.",
    )
    parser.add_argument("--version", action="version", version=f"fiscal-core {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    tlv_cmd.register(sub)
    drive_cmd.register(sub)
    fleet_cmd.register(sub)
    serve_cmd.register(sub)
    plan_cmd.register(sub)
    ofd_cmd.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
    except FiscalError as exc:
        print(f"fiscal-core: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
