"""``fiscal-core ofd decode FILE`` and ``fiscal-core ofd-emulator --port P``: the OFD exchange from the shell.

Rules
- ``ofd decode``: input is binary, hex or base64 (as ``tlv decode``): a whole message (it starts with the
  session signature ``2a08410a``) or a bare container. Prints JSON: the session header, the container header
  with its CRC as stored and as computed, the message sign, and the document as a tree (a form-7 answer also
  as confirmation values). A frame error is one line on stderr with the field and byte offset, exit 2; a
  document the TLV codec cannot decode is printed with its error and its raw top-level elements, exit 2.
- ``ofd-emulator``: serves until SIGINT/SIGTERM; prints one line with the address (and the admin address)
  once it listens. ``--faults`` takes ``NAME=VALUE,...`` or JSON (:class:`~fiscal_core.ofd.emulator.Faults`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from fiscal_core.cli.tlv_cmd import read_input, sniff
from fiscal_core.errors import DecodeError, InputError


def _session(h: Any) -> dict[str, Any]:
    return {
        "signature": "2a08410a",
        "s_version": h.s_version.hex(),
        "p_version": h.p_version.hex(),
        "fn_number": h.fn_number,
        "body_length": h.body_length,
        "flags": f"{h.flags:#06x}",
        "crc_mode": ("none", "header", "header+body")[h.crc_mode],
        "has_container": h.has_container,
        "expects_answer": h.expects_answer,
        "crc": h.crc,
    }


def _raw_elements(document: bytes) -> list[dict[str, Any]]:
    """The top-level TLV elements of a document that does not decode (tag, length, value hex)."""
    out = []
    at = 4
    while at + 4 <= len(document):
        tag = int.from_bytes(document[at : at + 2], "little")
        n = int.from_bytes(document[at + 2 : at + 4], "little")
        out.append({"offset": at, "tag": tag, "length": n, "value": document[at + 4 : at + 4 + n].hex()})
        at += 4 + n
    return out


def _container(c: Any, offset: int) -> tuple[dict[str, Any], bool]:
    from fiscal_core.ffd import tlv, treejson
    from fiscal_core.ofd import protocol

    h = c.header
    computed = c.computed_crc()
    out: dict[str, Any] = {
        "length": h.length,
        "crc": h.crc,
        "crc_computed": computed,
        "crc_ok": computed == h.crc,
        "message_type": f"{h.message_type:#04x}",
        "form": h.form,
        "version": h.version,
        "service1": h.service1.hex(),
        "fn_bcd": h.fn_bcd.hex(),
        "fn_number": h.fn_number,
        "fd_number": h.fd_number,
        "service2": h.service2.hex(),
    }
    body: dict[str, Any] = {
        "message_sign": c.message_sign.hex() if c.message_sign else None,
        "padding": c.padding.hex(),
    }
    ok = True
    try:
        body["document"] = treejson.to_json(tlv.decode(c.document))
    except DecodeError as exc:
        ok = False
        body["document_error"] = {
            "message": exc.reason,
            "offset": offset + protocol.CONTAINER_SIZE + exc.offset,
            "path": list(exc.path),
        }
        body["elements"] = _raw_elements(c.document)
    if h.form == 7:
        try:
            conf = protocol.decode_confirmation(c.document)
        except protocol.ConfirmationError as exc:
            body["confirmation_error"] = str(exc)
        else:
            body["confirmation"] = {
                "ofd_inn": conf.ofd_inn,
                "fn_number": conf.fn_number,
                "fd_number": conf.fd_number,
                "when": conf.when,
                "code": conf.code,
                "operator_sign": conf.operator_sign.hex(),
            }
    return {"header": out, **body}, ok


def _decode(args: argparse.Namespace) -> int:
    from fiscal_core.ofd import protocol

    data = sniff(read_input(args.file))
    result: dict[str, Any] = {}
    if data[:4] == protocol.SIGNATURE:
        msg = protocol.parse(data, check_crc=not args.no_crc)
        result["session"] = _session(msg.session)
        result["session"]["crc_computed"] = msg.session.computed_crc(msg.body)
        if msg.container is None:
            result["body"] = msg.raw_body.hex()
            ok = True
        else:
            result["container"], ok = _container(msg.container, protocol.HEADER_SIZE)
    else:
        container = protocol.parse_container(data, check_crc=not args.no_crc)
        result["container"], ok = _container(container, 0)
    json.dump(result, sys.stdout, ensure_ascii=False, indent=1 if args.pretty else None)
    sys.stdout.write("\n")
    if not ok:
        print("fiscal-core: error: the frame parses but its document does not decode", file=sys.stderr)
        return 2
    return 0


def _emulator(args: argparse.Namespace) -> int:
    from fiscal_core.ofd.emulator import Faults, OfdEmulator, serve

    try:
        faults = Faults.parse(args.faults or "")
    except ValueError as exc:
        raise InputError(str(exc)) from None
    secret = None
    if args.secret:
        try:
            secret = bytes.fromhex(args.secret)
        except ValueError:
            raise InputError("--secret is hex") from None

    def ready(emu: OfdEmulator, address: tuple[str, int], admin: tuple[str, int] | None) -> None:
        extra = f", admin on {admin[0]}:{admin[1]}" if admin else ""
        print(f"OFD emulator listening on {address[0]}:{address[1]}{extra}, data in {emu.data_dir}", flush=True)

    serve(
        args.host,
        args.port,
        args.data,
        faults=faults,
        admin_port=args.admin_port,
        secret=secret,
        ofd_inn=args.ofd_inn,
        durable=not args.no_sync,
        on_ready=ready,
    )
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("ofd", help="the OFD exchange protocol")
    osub = p.add_subparsers(dest="ofd_command", metavar="ACTION", required=True)
    d = osub.add_parser("decode", help="an OFD message or container (binary, hex or base64) -> JSON")
    d.add_argument("file", nargs="?", default="-", help="input file, or - for stdin (default)")
    d.add_argument("--pretty", action="store_true", help="indent the JSON")
    d.add_argument("--no-crc", action="store_true", help="do not refuse wrong CRCs (they are still reported)")
    d.set_defaults(func=_decode)
    e = sub.add_parser("ofd-emulator", help="run an OFD emulator (TCP) with fault injection")
    e.add_argument("--port", type=int, required=True, help="TCP port (0: any free port)")
    e.add_argument("--host", default="127.0.0.1")
    e.add_argument("--data", default="./ofd-data", help="LMDB directory for what it receives (default ./ofd-data)")
    e.add_argument("--faults", default="", help="e.g. reject=0.1,delay_s=0.5,drop=0.01 or a JSON object")
    e.add_argument("--admin-port", type=int, default=None, help="JSON-lines admin endpoint (faults, down, stats)")
    e.add_argument("--secret", default=None, help="operator secret, hex (default: the one kept in --data)")
    e.add_argument("--ofd-inn", default="7704358518", help="1017 in confirmations")
    e.add_argument("--no-sync", action="store_true", help="do not fsync commits (benchmarks on slow disks)")
    e.set_defaults(func=_emulator)
