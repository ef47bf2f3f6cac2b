"""Issue 3 acceptance: ``fiscal-core drive info|verify|export DIR`` run as ``python -m fiscal_core`` (subprocess).

The drive is made here with an injected clock; the commands open it read-only in another process. Checked:
``info``'s JSON fields against what the test did, ``verify``'s exit code and document count (0 when sound, 1
naming the FD when a record byte is flipped in ``data.mdb``), ``export --format fnsjson`` (one JSON object per
document, in FD order) and ``export --format tlv`` (the raw ``document + message sign`` stream, re-split here
into documents that decode and equal the stored records).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import re
import subprocess
import sys
from typing import Any

import pytest

from fiscal_core import samples
from fiscal_core.drive.drive import FiscalDrive
from fiscal_core.drive.store import DriveStore, doc_key
from fiscal_core.ffd import fnsjson, tlv

ROOT = pathlib.Path(__file__).resolve().parent.parent
T0 = int(dt.datetime(2026, 6, 1, 6, 0, 17, tzinfo=dt.UTC).timestamp())
DAY = 86_400
FN = "9999078900005488"
FN2 = "9999078900007777"
SECRET = bytes(range(32))


def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    return subprocess.run(
        [sys.executable, "-m", "fiscal_core", "drive", *args], capture_output=True, env=env, timeout=120
    )


def make_drive(path: pathlib.Path, fn: str = FN, *, receipts: int = 7) -> dict[str, Any]:
    """A drive with two shifts, the second open; returns what the test knows about it."""
    t = [T0]
    drive = FiscalDrive.create(str(path), samples.identity(fn), clock=lambda: t[0], secret=SECRET, validity_days=470)
    t[0] += 60
    drive.open_shift()
    for k in range(receipts):
        t[0] += 7
        drive.receipt(samples.receipt(1 + k % 3, k, sign=1 + k % 4))
    drive.status_report()
    drive.close_shift()
    t[0] += 3600
    drive.open_shift()
    drive.append_many([(3, samples.receipt(2, 100 + k)) for k in range(3)])
    for fd in (1, 2, 3):
        drive.confirm(fd, b"ack")
    records = {}
    with drive.store.read() as txn:
        for fd, raw in drive.store.iter_documents(txn, drive.drive_id):
            records[fd] = raw
    known = {
        "documents": drive.state.next_fd - 1,
        "records": {fd: drive.document(fd) for fd in records},
        "raw": records,
        "opened_utc": t[0],
        "registration_number": drive.identity.registration_number,
    }
    drive.store.close()
    return known


@pytest.fixture
def drive_dir(tmp_path: pathlib.Path) -> tuple[pathlib.Path, dict[str, Any]]:
    path = tmp_path / "drive"
    return path, make_drive(path)


def test_info(drive_dir: tuple[pathlib.Path, dict[str, Any]]) -> None:
    path, known = drive_dir
    done = cli("info", str(path))
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    n = known["documents"]
    assert n == 1 + 1 + 7 + 1 + 1 + 1 + 3
    assert info["fn_number"] == FN
    assert info["phase"] == "fiscal"
    assert info["ffd_version"] == 4
    assert info["registration_number"] == known["registration_number"]
    assert info["documents"] == info["last_fd"] == n
    assert info["capacity"] == 250_000
    assert info["fill_percent"] == pytest.approx(100 * n / 250_000, abs=1e-3)
    assert info["shift"]["number"] == 2 and info["shift"]["open"] is True
    assert info["shift"]["receipts"] == 3
    opened = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=known["opened_utc"] + 3 * 3600)
    assert info["shift"]["opened"] == opened.isoformat()
    registered = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=T0 + 3 * 3600)
    assert info["registered"] == registered.isoformat()
    assert info["expires"] == (registered + dt.timedelta(days=470)).isoformat()
    assert info["outbox"]["unconfirmed"] == n - 3
    assert info["outbox"]["first_fd"] == 4
    assert set(info["warnings"]) == {
        "1050_resource_30_days",
        "1051_urgent_replacement",
        "1052_memory_90_percent",
        "1053_ofd_timeout",
    }
    assert info["timezone"] == "Europe/Moscow"
    assert info["sign_algorithm"] == "magma-cmac"


def test_verify_ok(drive_dir: tuple[pathlib.Path, dict[str, Any]]) -> None:
    path, known = drive_dir
    done = cli("verify", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout.decode()
    n = known["documents"]
    assert f"{FN}: OK, {n} documents (FD 1..{n};" in out
    assert "3 confirmed" in out


def test_verify_names_the_corrupted_fd(drive_dir: tuple[pathlib.Path, dict[str, Any]]) -> None:
    path, known = drive_dir
    fd = 6
    record = known["raw"][fd]
    data_file = path / "data.mdb"
    image = bytearray(data_file.read_bytes())
    at = image.find(record)
    assert at >= 0
    # Flip a byte of every copy (LMDB's copy-on-write may have left stale ones) so the live one is hit.
    while at >= 0:
        image[at + len(record) // 2] ^= 0x20
        at = image.find(record, at + 1)
    data_file.write_bytes(bytes(image))
    with DriveStore(path, readonly=True) as store, store.read() as txn:
        assert txn.get(doc_key(1, fd), db=store.docs_db) != record
    done = cli("verify", str(path))
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout.decode()
    assert re.search(rf"{FN}: BAD at FD {fd}\b", out), out


def test_verify_of_a_store_with_two_drives_and_fn_option(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "shard"
    store = DriveStore(path)
    t = [T0]
    for fn, n in ((FN, 2), (FN2, 4)):
        drive = FiscalDrive.create(store, samples.identity(fn), clock=lambda: t[0], secret=SECRET)
        drive.open_shift()
        for k in range(n):
            drive.receipt(samples.receipt(1, k))
    store.close()
    done = cli("verify", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout.decode()
    assert f"{FN}: OK, 4 documents" in out and f"{FN2}: OK, 6 documents" in out
    done = cli("info", str(path), "--fn", FN2)
    assert done.returncode == 0 and json.loads(done.stdout)["documents"] == 6
    done = cli("verify", str(path), "--fn", "9999000000000000")
    assert done.returncode == 2 and b"9999000000000000" in done.stderr


def test_missing_store_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    done = cli("verify", str(tmp_path / "nothing"))
    assert done.returncode == 2
    assert done.stderr.count(b"\n") == 1 and b"error" in done.stderr


def test_export_fnsjson(drive_dir: tuple[pathlib.Path, dict[str, Any]]) -> None:
    path, known = drive_dir
    done = cli("export", str(path), "--format", "fnsjson")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert len(lines) == known["documents"]
    for fd, line in enumerate(lines, start=1):
        obj = json.loads(line)
        rec = known["records"][fd]
        assert obj["code"] == rec.form
        assert obj["fiscalDocumentNumber"] == fd
        assert obj["fiscalDriveNumber"] == FN
        assert obj["messageFiscalSign"] == int.from_bytes(rec.message_sign, "big")
        node, envelope = fnsjson.from_fnsjson(obj)
        assert envelope == {"messageFiscalSign": obj["messageFiscalSign"]}
        assert tlv.encode([node]) == rec.tlv, f"FD {fd}: the JSON line is not the stored document"
    assert not done.stderr  # no progress bar when stderr is not a terminal


def test_export_fnsjson_to_a_file(drive_dir: tuple[pathlib.Path, dict[str, Any]], tmp_path: pathlib.Path) -> None:
    path, known = drive_dir
    target = tmp_path / "out.jsonl"
    done = cli("export", str(path), "--format", "fnsjson", "--output", str(target))
    assert done.returncode == 0 and done.stdout == b""
    assert len(target.read_text().splitlines()) == known["documents"]


def test_export_tlv(drive_dir: tuple[pathlib.Path, dict[str, Any]]) -> None:
    path, known = drive_dir
    done = cli("export", str(path), "--format", "tlv")
    assert done.returncode == 0, done.stderr
    data = done.stdout
    pos, fd = 0, 0
    while pos < len(data):
        fd += 1
        end = pos + 4 + int.from_bytes(data[pos + 2 : pos + 4], "little")
        document, sign = data[pos:end], data[end : end + 8]
        pos = end + 8
        rec = known["records"][fd]
        assert document == rec.tlv and sign == rec.message_sign, f"document {fd} of the stream"
        assert sign[:2] == b"\x81\x06"
        tree = tlv.decode(document)
        assert tree[0][0] == rec.form
        assert dict(tree[0][1])[1040] == fd
    assert pos == len(data)
    assert fd == known["documents"]
