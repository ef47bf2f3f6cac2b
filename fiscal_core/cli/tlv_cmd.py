"""``fiscal-core tlv decode|encode``: fiscal documents between bytes and readable forms.

Rules
- Input is binary, hex or base64, auto-detected (hex first: a base64 document never is pure hex).
- A trailing 8-byte message sign (``81 06 …``) after the document is reported, not an error.
- Bad input: one line on stderr naming the byte offset and the tag path, exit code 2.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import sys
from typing import Any

from fiscal_core.errors import FormatError
from fiscal_core.ffd import tlv, treejson

_HEX = re.compile(rb"^[0-9a-fA-F\s]+$")
_B64 = re.compile(rb"^[A-Za-z0-9+/=\s_-]+$")


class InputFormatError(FormatError):
    code = "input_format"


def read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as fh:
        return fh.read()


def sniff(raw: bytes) -> bytes:
    """Binary, hex or base64 -> bytes."""
    text = raw.strip()
    if not text:
        raise InputFormatError("empty input")
    if _HEX.match(text):
        compact = b"".join(text.split())
        if len(compact) % 2 == 0:
            return bytes.fromhex(compact.decode())
    if _B64.match(text):
        compact = b"".join(text.split())
        try:
            return base64.b64decode(
                compact + b"=" * (-len(compact) % 4),
                altchars=b"-_" if b"-" in compact or b"_" in compact else None,
                validate=True,
            )
        except (binascii.Error, ValueError):
            pass
    return raw


def _decode(args: argparse.Namespace) -> int:
    data = sniff(read_input(args.file))
    document, message_sign = tlv.split_document(data)
    tree = tlv.decode(document)
    if args.qr:
        from fiscal_core.ffd import qr

        if len(tree) != 1:
            raise InputFormatError("--qr needs exactly one document")
        print(qr.from_document(tree[0]))
        return 0
    out: dict[str, Any]
    if args.format == "fnsjson":
        from fiscal_core.ffd import fnsjson

        if len(tree) != 1:
            raise InputFormatError("--format fnsjson needs exactly one document")
        out = fnsjson.to_fnsjson(tree[0])
        if message_sign is not None:
            out["messageFiscalSign"] = int.from_bytes(message_sign, "big")
    else:
        out = {"tree": treejson.to_json(tree), "message_sign": message_sign.hex() if message_sign else None}
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1 if args.pretty else None)
    sys.stdout.write("\n")
    return 0


def _encode(args: argparse.Namespace) -> int:
    raw = read_input(args.file)
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputFormatError(f"input is not JSON: {exc}") from None
    sign = b""
    if isinstance(obj, dict):
        if "tree" not in obj:
            raise InputFormatError('expected a list of nodes or an object with "tree"')
        if obj.get("message_sign"):
            sign = bytes.fromhex(obj["message_sign"])
        obj = obj["tree"]
    data = tlv.encode(treejson.from_json(obj)) + sign
    if args.hex:
        sys.stdout.write(data.hex() + "\n")
    else:
        sys.stdout.buffer.write(data)
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("tlv", help="decode and encode FFD TLV documents")
    tsub = p.add_subparsers(dest="tlv_command", metavar="ACTION", required=True)
    d = tsub.add_parser("decode", help="bytes (binary, hex or base64) -> tree JSON or FNS JSON")
    d.add_argument("file", nargs="?", default="-", help="input file, or - for stdin (default)")
    d.add_argument("--format", choices=("tree", "fnsjson"), default="tree")
    d.add_argument("--qr", action="store_true", help="print the receipt's QR string instead")
    d.add_argument("--pretty", action="store_true", help="indent the JSON")
    d.set_defaults(func=_decode)
    e = tsub.add_parser("encode", help="tree JSON -> bytes")
    e.add_argument("file", nargs="?", default="-", help="tree JSON file, or - for stdin (default)")
    e.add_argument("--hex", action="store_true", help="write hex instead of binary")
    e.set_defaults(func=_encode)
