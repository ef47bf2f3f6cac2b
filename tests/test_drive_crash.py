"""Issue 3 acceptance: SIGKILL a process that appends to the drive, at random moments; nothing is lost or reused.

``drive_crash_child.py`` appends in a loop (``append_many`` of 1..50 receipts, with shift close / open now and
then) and prints the FD numbers of every append that returned. The parent waits for the child's ``READY``,
then a random 20–300 ms, SIGKILLs it, and checks, on the same drive directory every time (state accumulates):

- the drive reopens and ``archive.verify`` passes (CRC, decoding, numbering, fiscal and message signs);
- the FD numbers on disk are exactly 1..N and N is the drive's counter;
- every FD the child printed is on disk with the fiscal sign the child was given (an append that returned is
  durable), and no FD was ever handed out twice across all the kills.

``FISCAL_CORE_CRASH_KILLS`` sets the number of kills (default 20; issue 3 asks for ≥ 200 at full size),
``FISCAL_CORE_CRASH_SEED`` the seed of the delays and the children's batches.
"""

from __future__ import annotations

import os
import pathlib
import random
import selectors
import signal
import subprocess
import sys
import time

import pytest

from fiscal_core.drive import archive
from fiscal_core.drive.drive import FiscalDrive
from fiscal_core.drive.store import DriveStore
from fiscal_core.ffd import tlv

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHILD = pathlib.Path(__file__).with_name("drive_crash_child.py")
KILLS = int(os.environ.get("FISCAL_CORE_CRASH_KILLS", "20"))
SEED = int(os.environ.get("FISCAL_CORE_CRASH_SEED", "20261123"))
START_TIMEOUT = 60.0


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _read_until(proc: subprocess.Popen[bytes], buf: bytearray, deadline: float, until: bytes | None) -> bool:
    """Read the child's stdout into ``buf`` until ``deadline`` or until ``until`` appears; False on EOF."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            if until is not None and until in buf:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            if sel.select(left):
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return False
                buf += chunk


def _run_and_kill(path: pathlib.Path, seed: int, delay: float) -> tuple[list[tuple[int, int]], str]:
    """Start a child, kill it ``delay`` s after READY; the (FD, fiscal sign) pairs of every line it completed."""
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(path), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_child_env(),
    )
    buf = bytearray()
    try:
        alive = _read_until(proc, buf, time.monotonic() + START_TIMEOUT, b"READY\n")
        if not alive or b"READY\n" not in buf:
            proc.kill()
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"the child did not get ready (rc={proc.returncode}): {err.decode(errors='replace')[-2000:]}")
        alive = _read_until(proc, buf, time.monotonic() + delay, None)
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        buf += out
        if proc.returncode != -signal.SIGKILL:
            pytest.fail(
                f"the child ended by itself (rc={proc.returncode}) before the kill: "
                f"{bytes(buf[-500:]).decode(errors='replace')} {err.decode(errors='replace')[-2000:]}"
            )
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    pairs: list[tuple[int, int]] = []
    *complete, _partial = bytes(buf).split(b"\n")  # a line cut by the kill has no newline: not an append that returned
    for line in complete:
        if line.startswith(b"OK "):
            for item in line[3:].split():
                fd, fp = item.split(b":")
                pairs.append((int(fd), int(fp)))
        else:
            assert line == b"READY", f"unexpected line from the child: {line!r}"
    return pairs, err.decode(errors="replace")


@pytest.mark.slow
def test_sigkill_during_appends_loses_and_reuses_nothing(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "drive"
    rng = random.Random(SEED)
    printed: dict[int, int] = {}  # FD -> fiscal sign the child was given, over every kill
    started = time.monotonic()
    killed_mid_run = 0
    documents = 0
    for kill in range(KILLS):
        delay = rng.uniform(0.020, 0.300)
        pairs, _err = _run_and_kill(path, rng.randrange(1 << 30), delay)
        where = f"kill {kill + 1}/{KILLS} after {delay * 1000:.0f} ms (seed {SEED})"
        for fd, fp in pairs:
            assert fd not in printed, f"{where}: FD {fd} was handed out twice"
            printed[fd] = fp
        store = DriveStore(path)
        try:
            if not store.drive_ids():
                assert not pairs, f"{where}: the child reported documents but the store holds no drive"
                continue
            drive = FiscalDrive.open(store)
            report = archive.verify(drive)
            assert report.ok, f"{where}: verify failed at FD {report.bad_fd}: {report.error}"
            with store.read() as txn:
                on_disk = [fd for fd, _ in store.iter_documents(txn, drive.drive_id)]
                documents = len(on_disk)
                assert on_disk == list(range(1, documents + 1)), f"{where}: FD numbers on disk are not gapless"
                assert drive.state.next_fd == documents + 1, f"{where}: the counter disagrees with the archive"
                assert report.documents == documents
                for fd, fp in pairs:
                    assert fd <= documents, f"{where}: FD {fd} returned to the child is not on disk ({documents})"
                    rec = drive.document(fd)
                    stored_fp = tlv.printed_fiscal_sign(dict(tlv.decode(rec.tlv)[0][1])[1077])
                    assert stored_fp == fp, f"{where}: FD {fd} on disk is not the document the child was given"
            if pairs and pairs[-1][0] < documents:
                killed_mid_run += 1  # committed but killed before the line was printed: allowed, and seen
        finally:
            store.close()
    # Every FD ever printed is still there at the end, as the document the child was given.
    assert not printed or max(printed) <= documents
    store = DriveStore(path)
    try:
        if printed:
            drive = FiscalDrive.open(store)
            for fd, fp in printed.items():
                assert tlv.printed_fiscal_sign(dict(tlv.decode(drive.document(fd).tlv)[0][1])[1077]) == fp, f"FD {fd}"
    finally:
        store.close()
    elapsed = time.monotonic() - started
    print(
        f"\ncrash test: {KILLS} kills, {documents} documents on disk, {len(printed)} confirmed to the child, "
        f"{killed_mid_run} kills between a commit and its printout, {elapsed:.1f} s"
    )
    assert documents > 0, "no child ever issued a document: the kills came too early to test anything"
