"""``fiscal-core drive verify|export|info DIR``: read a drive archive (an LMDB store of one or more drives).

Rules
- Read-only: the store is opened without writing, so these commands are safe beside a running service.
- ``verify`` exits 0 when every drive in the store verifies, 1 naming the first bad FD otherwise.
- ``export`` streams to stdout (or ``--output``): FNS JSON as one object per line, or TLV as the raw
  ``document + message sign`` bytes back to back; a progress bar goes to stderr on a terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, BinaryIO

from fiscal_core.errors import InputError


def _drives(args: argparse.Namespace) -> list[Any]:
    from fiscal_core.drive.drive import FiscalDrive
    from fiscal_core.drive.store import DriveStore

    try:
        store = DriveStore(args.dir, readonly=True)
    except FileNotFoundError as exc:
        raise InputError(str(exc)) from None
    ids = store.drive_ids()
    if args.fn:
        if args.fn not in ids:
            raise InputError(f"no drive {args.fn} in {args.dir}; it holds {', '.join(sorted(ids)) or 'none'}")
        names = [args.fn]
    else:
        names = sorted(ids)
    return [FiscalDrive.open(store, fn) for fn in names]


def _verify(args: argparse.Namespace) -> int:
    from fiscal_core.drive.archive import verify

    bad = 0
    for drive in _drives(args):
        report = verify(drive)
        forms = ", ".join(f"form {k}: {v}" for k, v in sorted(report.by_form.items()))
        if report.ok:
            print(
                f"{report.fn_number}: OK, {report.documents} documents (FD 1..{report.last_fd}; {forms}), "
                f"{report.confirmed} confirmed by the OFD"
            )
        else:
            bad += 1
            print(f"{report.fn_number}: BAD at FD {report.bad_fd}: {report.error}")
    return 1 if bad else 0


class _Progress:
    def __init__(self, total: int) -> None:
        self.total = max(total, 1)
        self.tty = sys.stderr.isatty()
        self.last = -1

    def update(self, done: int) -> None:
        if not self.tty:
            return
        pct = 100 * done // self.total
        if pct != self.last:
            self.last = pct
            bar = "#" * (pct // 4)
            sys.stderr.write(f"\r[{bar:<25}] {pct:3d}% {done}/{self.total}")
            sys.stderr.flush()

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def _export(args: argparse.Namespace) -> int:
    from fiscal_core.drive.archive import documents
    from fiscal_core.ffd import fnsjson, tlv

    out: BinaryIO = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    try:
        for drive in _drives(args):
            progress = _Progress(drive.state.next_fd - 1)
            for fd, rec in documents(drive):
                if args.format == "tlv":
                    out.write(rec.tlv + rec.message_sign)
                else:
                    obj = fnsjson.to_fnsjson(tlv.decode(rec.tlv)[0])
                    if rec.message_sign:
                        obj["messageFiscalSign"] = int.from_bytes(rec.message_sign, "big")
                    out.write(json.dumps(obj, ensure_ascii=False).encode() + b"\n")
                progress.update(fd)
            progress.done()
    finally:
        if args.output:
            out.close()
        else:
            out.flush()
    return 0


def _info(args: argparse.Namespace) -> int:
    from fiscal_core.drive.archive import info

    result = [info(d) for d in _drives(args)]
    json.dump(result if len(result) != 1 else result[0], sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("drive", help="verify, export and inspect fiscal drive archives")
    dsub = p.add_subparsers(dest="drive_command", metavar="ACTION", required=True)
    for name, func, text in (
        ("verify", _verify, "re-read every record: CRC, decoding, numbering, fiscal sign, message sign"),
        ("export", _export, "stream the archive as FNS JSON lines or raw TLV"),
        ("info", _info, "counters, shift, fill %, expiry and outbox"),
    ):
        q = dsub.add_parser(name, help=text)
        q.add_argument("dir", help="the drive store directory (an LMDB environment)")
        q.add_argument("--fn", help="the drive's FN number, when the store holds several")
        if name == "export":
            q.add_argument("--format", choices=("fnsjson", "tlv"), default="fnsjson")
            q.add_argument("--output", "-o", help="write here instead of stdout")
        q.set_defaults(func=func)
