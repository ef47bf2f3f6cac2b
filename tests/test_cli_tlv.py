"""``fiscal-core tlv decode|encode`` as a user runs it: a real process, real files, exit codes and stderr."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, VECTORS

PEREKRESTOK = json.loads((VECTORS / "real_receipt_ffd105_perekrestok_20200320.json").read_text())
RAW = base64.b64decode(PEREKRESTOK["rawData_base64"])
DOC11 = bytes.fromhex((VECTORS / "yandex_ofd_kkt_to_ofd_message_doc11.hex").read_text().strip())


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "fiscal_core", *args], input=stdin, capture_output=True, cwd=ROOT, timeout=60
    )


@pytest.mark.parametrize("form", ["binary", "hex", "base64", "hex-spaced"])
def test_decode_autodetects_the_input_form(tmp_path: Path, form: str) -> None:
    data = {
        "binary": RAW,
        "hex": RAW.hex().encode(),
        "base64": base64.b64encode(RAW),
        "hex-spaced": " ".join(RAW.hex()[i : i + 32] for i in range(0, len(RAW.hex()), 32)).encode() + b"\n",
    }[form]
    path = tmp_path / "doc"
    path.write_bytes(data)
    out = run("tlv", "decode", str(path))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["message_sign"] is None
    ((form_code, nodes),) = result["tree"]
    assert form_code == 3
    top = dict((t, v) for t, v in nodes if t != 1059)
    assert top[1041] == "9280440300332772" and top[1020] == 40449 and top[1012] == "2020-03-20T15:24:00"


def test_decode_then_encode_gives_the_same_bytes() -> None:
    decoded = run("tlv", "decode", "-", stdin=RAW.hex().encode())
    assert decoded.returncode == 0, decoded.stderr
    encoded = run("tlv", "encode", "-", stdin=decoded.stdout)
    assert encoded.returncode == 0, encoded.stderr
    assert encoded.stdout == RAW
    as_hex = run("tlv", "encode", "--hex", "-", stdin=decoded.stdout)
    assert as_hex.stdout.decode().strip() == RAW.hex()


def test_fnsjson_and_qr() -> None:
    fns = run("tlv", "decode", "--format", "fnsjson", "-", stdin=base64.b64encode(RAW))
    assert fns.returncode == 0, fns.stderr
    obj: dict[str, Any] = json.loads(fns.stdout)
    assert obj["fiscalSign"] == PEREKRESTOK["fns_json_fields"]["fiscalSign"]
    assert obj["totalSum"] == 40449 and len(obj["items"]) == 4
    qr = run("tlv", "decode", "--qr", "-", stdin=RAW)
    assert qr.returncode == 0, qr.stderr
    assert qr.stdout.decode().strip() == PEREKRESTOK["qr_expected"]


def test_a_trailing_message_sign_is_reported_not_an_error() -> None:
    body = DOC11[30 + 32 : -2]  # container body of the yandex message: re-registration + message sign
    assert body[-8:-6] == b"\x81\x06"
    out = run("tlv", "decode", "-", stdin=body.hex().encode())
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["message_sign"] == "8106a55ae10c4d75"
    assert result["tree"][0][0] == 11
    again = run("tlv", "encode", "-", stdin=out.stdout)
    assert again.stdout == body


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (RAW[:-3], "offset 0, tag path 3"),
        (RAW[:24] + b"\x0f\x27" + RAW[26:], "unknown tag 9999 at offset 24, tag path 3/9999"),
        (b"", "empty input"),
    ],
)
def test_bad_input_is_one_line_with_offset_and_tag(data: bytes, fragment: str) -> None:
    out = run("tlv", "decode", "-", stdin=data)
    assert out.returncode == 2
    err = out.stderr.decode()
    assert err.count("\n") == 1 and fragment in err
    assert "Traceback" not in err


def test_encode_errors_name_the_tag() -> None:
    tree = json.dumps([[3, [[1059, [[1030, "x" * 129]]]]]]).encode()
    out = run("tlv", "encode", "-", stdin=tree)
    assert out.returncode == 2
    assert "tag path 3/1059/1030" in out.stderr.decode()
    bad_json = run("tlv", "encode", "-", stdin=b"{not json")
    assert bad_json.returncode == 2 and "not JSON" in bad_json.stderr.decode()
    bad_value = run("tlv", "encode", "-", stdin=json.dumps([[1012, "yesterday"]]).encode())
    assert bad_value.returncode == 2 and "tag path 1012" in bad_value.stderr.decode()


def test_help_lists_the_commands() -> None:
    out = run("--help")
    assert out.returncode == 0
    assert b"tlv" in out.stdout and b"drive" in out.stdout
