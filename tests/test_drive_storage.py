"""Issue 3 acceptance: the drive's storage under damage and under pressure.

- Corruption: a single flipped byte anywhere in a stored record (header, TLV, CRC, message sign) is reported by
  ``archive.verify`` with that record's FD number. The record's bytes are found in LMDB's ``data.mdb`` by
  searching for the exact record (read through a read transaction and ``store.doc_key``); the store is first
  copied compacted (``env.copy(compact=True)``) so no stale copy-on-write page holds a second copy, and it is
  reopened after every flip because LMDB maps the file.
- Map full: a store made with a small ``map_size`` fills up; the error is ``StorageFull`` (ФН 0x14, retryable),
  nothing of the refused documents is written, numbering goes on gapless, and after a reopen with a bigger
  ``map_size`` the drive works again.
- Disk full: a 2 MiB tmpfs (needs root to mount; skipped with the reason otherwise) and, unprivileged,
  ``RLIMIT_FSIZE`` in a subprocess: appends fail with ``StorageFull``, nothing is half-written, and once space is
  freed appends succeed and ``verify`` passes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from fiscal_core import samples
from fiscal_core.drive import archive, records
from fiscal_core.drive.drive import FiscalDrive, Issued
from fiscal_core.drive.errors import StorageFull
from fiscal_core.drive.store import DriveStore, doc_key
from fiscal_core.ffd.enums import CorrectionType
from fiscal_core.ffd.receipt import Correction

ROOT = pathlib.Path(__file__).resolve().parent.parent
T0 = int(dt.datetime(2026, 6, 1, 6, 0, 17, tzinfo=dt.UTC).timestamp())
SECRET = bytes(range(32))


class Clock:
    def __init__(self, t: int = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        self.t += 1
        return float(self.t)


def receipt(seed: int, n_items: int = 3, sign: int = 1) -> Any:
    return samples.receipt(n_items, seed, sign=sign)


def correction(seed: int) -> Correction:
    base = samples.receipt(2, seed)
    fields = {f: getattr(base, f) for f in base.__struct_fields__}
    return Correction(**fields, correction_type=CorrectionType.SELF, base_date=dt.date(2026, 5, 1))


def fds_on_disk(drive: FiscalDrive) -> list[int]:
    with drive.store.read() as txn:
        return [fd for fd, _ in drive.store.iter_documents(txn, drive.drive_id)]


def outbox_fds(drive: FiscalDrive) -> list[int]:
    with drive.store.read() as txn:
        return [fd for fd, _ in drive.store.outbox(txn, drive.drive_id)]


# --------------------------------------------------------------------------- corruption


@pytest.fixture(scope="module")
def archive_copy(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, dict[int, bytes]]:
    """A compacted store of one drive with 30 documents of every kind, and each record's bytes by FD."""
    base = tmp_path_factory.mktemp("corrupt")
    clock = Clock()
    drive = FiscalDrive.create(str(base / "work"), samples.identity(), clock=clock, secret=SECRET)
    drive.open_shift()
    for k in range(10):
        drive.receipt(receipt(k, n_items=1 + k % 4, sign=1 + k % 4))
    drive.correction(correction(50))
    drive.status_report()
    drive.close_shift()
    drive.open_shift()
    drive.append_many([(3, receipt(100 + k, n_items=1 + k % 7)) for k in range(12)])
    drive.close_shift()
    drive.status_report()
    for fd in (1, 2, 3):
        drive.confirm(fd, b"ack")
    with drive.store.read() as txn:
        raws = {fd: bytes(txn.get(doc_key(drive.drive_id, fd), db=drive.store.docs_db)) for fd in range(1, 31)}
    assert fds_on_disk(drive) == list(range(1, 31))
    compact = base / "compact"
    compact.mkdir()
    drive.store.env.copy(str(compact), compact=True)
    drive.store.close()
    return compact, raws


def _open(path: pathlib.Path) -> FiscalDrive:
    return FiscalDrive.open(DriveStore(path), clock=Clock(T0 + 10**6))


@contextlib.contextmanager
def _flipped(path: pathlib.Path, offset: int, mask: int) -> Iterator[None]:
    data_file = path / "data.mdb"
    with open(data_file, "r+b") as f:
        f.seek(offset)
        old = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([old ^ mask]))
    try:
        yield
    finally:
        with open(data_file, "r+b") as f:
            f.seek(offset)
            f.write(bytes([old]))


def _positions(record: bytes) -> list[tuple[str, int]]:
    """Offsets inside a record: every header byte, the CRC, TLV bytes at the start, middle and end, the sign."""
    tlv_start, sign_start = records.HEADER_SIZE, len(record) - 8
    picks = [("header", i) for i in range(8)] + [("crc", i) for i in range(8, 12)]
    middle = (tlv_start + sign_start) // 2
    tlv_picks = {tlv_start, tlv_start + 1, tlv_start + 3, tlv_start + 4, tlv_start + 20, middle, sign_start - 1}
    picks += [("tlv", i) for i in sorted(tlv_picks)]
    picks += [("message sign", i) for i in (sign_start, sign_start + 1, sign_start + 5, len(record) - 1)]
    return picks


def _live_offset(path: pathlib.Path, fd: int, record: bytes) -> int:
    """The offset of FD ``fd``'s live record in data.mdb.

    A page keeps whatever its free gap held before a split or an append, so an old copy of a record's bytes may
    also be in the file; the live one is the copy whose flip changes what LMDB returns for the FD.
    """
    image = (path / "data.mdb").read_bytes()
    live, at = [], image.find(record)
    assert at >= 0, f"FD {fd}'s record is not stored contiguously in data.mdb"
    while at >= 0:
        with _flipped(path, at + len(record) - 1, 0x01):
            drive = _open(path)
            try:
                with drive.store.read() as txn:
                    if txn.get(doc_key(drive.drive_id, fd), db=drive.store.docs_db) != record:
                        live.append(at)
            finally:
                drive.store.close()
        at = image.find(record, at + 1)
    assert len(live) == 1, f"FD {fd}: {len(live)} live copies of the record"
    return live[0]


@pytest.mark.parametrize("fd", [1, 2, 5, 14, 16, 22, 30])
def test_a_flipped_byte_in_a_record_is_reported_with_its_fd(
    archive_copy: tuple[pathlib.Path, dict[int, bytes]], fd: int
) -> None:
    path, raws = archive_copy
    record = raws[fd]
    at = _live_offset(path, fd, record)
    drive = _open(path)
    try:
        assert archive.verify(drive).ok
    finally:
        drive.store.close()
    for k, (part, pos) in enumerate(_positions(record)):
        mask = (0x01, 0x80, 0xFF, 0x10)[k % 4]
        with _flipped(path, at + pos, mask):
            drive = _open(path)
            try:
                with drive.store.read() as txn:  # the flip hit the live record, not something else
                    assert txn.get(doc_key(drive.drive_id, fd), db=drive.store.docs_db) != record
                report = archive.verify(drive)
            finally:
                drive.store.close()
            assert not report.ok, f"FD {fd}: a flip of {mask:#04x} at {part} byte {pos} went unnoticed"
            assert report.bad_fd == fd, f"FD {fd}, {part} byte {pos}: verify named FD {report.bad_fd}: {report.error}"
            assert f"FD {fd}" in (report.error or "")
    drive = _open(path)  # every flip was undone
    try:
        assert archive.verify(drive).ok
    finally:
        drive.store.close()


def test_every_byte_of_one_record(archive_copy: tuple[pathlib.Path, dict[int, bytes]]) -> None:
    """Any single byte: every offset of a short record (the status report), flipped with 0x04."""
    path, raws = archive_copy
    fd = 14
    record = raws[fd]
    at = _live_offset(path, fd, record)
    missed = []
    for pos in range(len(record)):
        with _flipped(path, at + pos, 0x04):
            drive = _open(path)
            try:
                report = archive.verify(drive)
            finally:
                drive.store.close()
            if report.bad_fd != fd:
                missed.append(pos)
    assert not missed, f"flips at offsets {missed} of FD {fd} were not reported as FD {fd}"


# --------------------------------------------------------------------------- map full


def _fill(drive: FiscalDrive, limit: int = 10_000) -> tuple[int, StorageFull]:
    """Append single receipts until the store is full; (documents issued before, the error)."""
    for k in range(limit):
        before = drive.state.next_fd
        try:
            drive.receipt(receipt(k, n_items=5))
        except StorageFull as exc:
            assert drive.state.next_fd == before, "a refused document moved the counter"
            return k, exc
    raise AssertionError("the store never filled up")


def test_map_full_is_storage_full_and_recovers_with_a_bigger_map(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "small"
    clock = Clock()
    drive = FiscalDrive.create(DriveStore(path, map_size=256 << 10), samples.identity(), clock=clock, secret=SECRET)
    drive.open_shift()
    issued, err = _fill(drive)
    assert issued > 10
    assert err.fn_code == 0x14 and err.retryable is True
    assert err.to_dict()["fn_code"] == 0x14
    last = drive.state.next_fd - 1
    assert fds_on_disk(drive) == list(range(1, last + 1))
    assert outbox_fds(drive) == list(range(1, last + 1)), "the refused document left an outbox entry"
    # A batch that does not fit is refused whole: none of its documents is written, even those that would fit.
    with pytest.raises(StorageFull):
        drive.append_many([(3, receipt(500 + k, n_items=5)) for k in range(40)])
    assert fds_on_disk(drive) == list(range(1, last + 1))
    assert drive.state.next_fd == last + 1
    report = archive.verify(drive)
    assert report.ok and report.documents == last
    drive.store.close()

    # The map size is recorded: a plain reopen keeps it (and is still full).
    store = DriveStore(path)
    assert store.map_size == 256 << 10
    drive = FiscalDrive.open(store, clock=clock)
    assert drive.state.next_fd == last + 1
    with pytest.raises(StorageFull):
        drive.append_many([(3, receipt(600 + k, n_items=5)) for k in range(40)])
    store.close()

    # Reopened with a bigger map the drive goes on, gapless. (LMDB can grow a map but never shrink the data
    # file: a map_size below what is used is raised to the used size, so "freeing" a map means growing it.)
    store = DriveStore(path, map_size=4 << 20)
    assert store.map_size == 4 << 20
    drive = FiscalDrive.open(store, clock=clock)
    more = drive.append_many([(3, receipt(700 + k, n_items=5)) for k in range(40)])
    assert [r.fd_number for r in more if isinstance(r, Issued)] == list(range(last + 1, last + 41))
    assert drive.close_shift().fd_number == last + 41
    report = archive.verify(drive)
    assert report.ok and report.documents == last + 41
    store.close()


# --------------------------------------------------------------------------- disk full


def _mount_tmpfs(where: pathlib.Path, size: str) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("disk-full test needs root to mount a small tmpfs (the RLIMIT_FSIZE test covers it unprivileged)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the RLIMIT_FSIZE test covers disk-full")


def test_disk_full_on_a_small_tmpfs(tmp_path: pathlib.Path) -> None:
    mnt = pathlib.Path(tempfile.mkdtemp(dir=tmp_path))
    _mount_tmpfs(mnt, "2m")
    try:
        clock = Clock()
        drive = FiscalDrive.create(str(mnt / "drive"), samples.identity(), clock=clock, secret=SECRET)
        drive.open_shift()
        for k in range(20):
            drive.receipt(receipt(k, n_items=5))
        assert drive.state.next_fd == 23
        free = os.statvfs(mnt)
        filler = mnt / "filler"
        filler.write_bytes(bytes(max(0, free.f_bavail * free.f_frsize - (40 << 10))))
        # A group commit needing far more pages than the ~10 left: the disk fills in the middle of LMDB's page
        # write, a short write that LMDB reports as EIO (was a raw lmdb.Error before store.py mapped it).
        with pytest.raises(StorageFull) as info:
            drive.append_many([(3, receipt(100 + k, n_items=5)) for k in range(100)])
        assert info.value.fn_code == 0x14 and info.value.retryable is True
        assert drive.state.next_fd == 23 and fds_on_disk(drive) == list(range(1, 23))
        # Single documents until nothing fits: each refusal is StorageFull and takes no number.
        issued, err = _fill(drive)
        assert err.fn_code == 0x14
        last = drive.state.next_fd - 1
        assert last == 22 + issued
        assert fds_on_disk(drive) == list(range(1, last + 1))
        assert outbox_fds(drive) == list(range(1, last + 1))
        filler.unlink()  # space is freed: the same drive object goes on, gapless
        more = drive.append_many([(3, receipt(900 + k, n_items=5)) for k in range(30)])
        assert [r.fd_number for r in more if isinstance(r, Issued)] == list(range(last + 1, last + 31))
        assert archive.verify(drive).ok
        drive.store.close()
        # Nothing half-written: reopened from disk, the archive verifies and ends where the counter says.
        drive = FiscalDrive.open(str(mnt / "drive"), clock=clock)
        assert drive.state.next_fd == last + 31
        report = archive.verify(drive)
        assert report.ok and report.documents == last + 30
        drive.store.close()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True)


_RLIMIT_SCRIPT = textwrap.dedent(
    """
    import json, resource, signal, sys
    from fiscal_core import samples
    from fiscal_core.drive import archive
    from fiscal_core.drive.drive import FiscalDrive
    from fiscal_core.drive.errors import StorageFull

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over the limit, write() fails with EFBIG instead
    path = sys.argv[1]
    t = [1780293617]
    def clock():
        t[0] += 1
        return float(t[0])
    drive = FiscalDrive.create(path, samples.identity(), clock=clock, secret=bytes(32))
    drive.open_shift()
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    import os
    size = os.path.getsize(os.path.join(path, "data.mdb"))
    # Not a multiple of the page size: the write that crosses the limit is always a short one.
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + (64 << 10) + 123, hard))
    out = {"errors": []}
    for k in range(2000):
        before = drive.state.next_fd
        try:
            drive.receipt(samples.receipt(5, k))
        except StorageFull as exc:
            out["errors"].append(["StorageFull", exc.fn_code, exc.retryable, drive.state.next_fd == before])
            break
        except Exception as exc:
            out["errors"].append([type(exc).__module__ + "." + type(exc).__name__, str(exc)])
            break
    out["last"] = drive.state.next_fd - 1
    drive.store.close()
    drive = FiscalDrive.open(path, clock=clock)
    out["reopened_last"] = drive.state.next_fd - 1
    out["verify_full"] = archive.verify(drive).ok
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # space is freed
    try:
        out["after"] = [r.fd_number for r in drive.append_many([(3, samples.receipt(5, 5000 + k)) for k in range(20)])]
    except Exception as exc:
        out["after"] = repr(exc)
    report = archive.verify(drive)
    out["verify_after"] = [report.ok, report.documents]
    print(json.dumps(out))
    """
)


def test_disk_full_by_rlimit_fsize(tmp_path: pathlib.Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run(
        [sys.executable, "-c", _RLIMIT_SCRIPT, str(tmp_path / "drive")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["errors"], "the file size limit was never reached"
    assert out["errors"][0] == ["StorageFull", 0x14, True, True], f"disk full gave {out['errors'][0]}"
    last = out["last"]
    assert out["reopened_last"] == last and out["verify_full"] is True
    assert out["after"] == list(range(last + 1, last + 21))
    assert out["verify_after"] == [True, last + 20]
