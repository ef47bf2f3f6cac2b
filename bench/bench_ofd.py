"""OFD exchange (issue 6): frames serialised and parsed per second, and documents confirmed per second end to end.

- ``bench_serialise`` / ``bench_parse_documents`` / ``bench_parse_answers``: seeded ~1.3 KB FFD 1.2 receipts
  (the drive benchmark's) framed as register→OFD messages, and form-7 answers; per frame in ``extra_info``,
  with the CRC of each implementation (``py`` twin / ``native``).
- ``bench_confirmations``: the emulator's sign + encode and the drive's decode + verify of one confirmation.
- ``bench_end_to_end``: ``N`` receipts pre-issued in 8 drives of one LMDB shard (durable commits); the emulator
  runs in its own process (``fiscal-core ofd-emulator``, durable LMDB, group commit), the sender in this one;
  a round lasts until every document's confirmation is stored in its drive. ``extra_info``: documents
  confirmed per second, this process's CPU per document (the sender: framing, parsing, verification, drive
  reads and commits) and the emulator's. The issue's floor is 20,000 documents/s on this machine.

``python bench/bench_ofd.py [--documents N] [--drives N] [--rounds N]`` prints the end-to-end figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from typing import Any

import pytest

from fiscal_core import gctune, samples
from fiscal_core.crypto.sign import OperatorSigner, operator_key
from fiscal_core.drive.drive import FiscalDrive, make_fn_number
from fiscal_core.drive.store import DriveStore
from fiscal_core.ofd import protocol
from fiscal_core.ofd.client import OfdSender, SenderSettings, new_event_loop, operator_keys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from conftest import impl_params, per_item

T0 = dt.datetime(2026, 6, 1, 7, 0, tzinfo=dt.UTC).timestamp()
SECRET = bytes(range(32))
FN = make_fn_number(1)
EMULATOR = """
import sys
from fiscal_core.ofd.emulator import serve
serve("127.0.0.1", 0, sys.argv[1], secret=bytes.fromhex(sys.argv[2]),
      on_ready=lambda emu, address, admin: print(address[1], flush=True))
"""


@pytest.fixture(scope="module")
def records() -> Any:
    with tempfile.TemporaryDirectory(dir=".") as d:
        drive = FiscalDrive.create(d, samples.identity(FN), capacity=10_000_000, clock=lambda: T0)
        drive.open_shift("Бенчмарк")
        drive.append_many([(3, r) for r in samples.receipts(256, n_items=10, seed=11)])
        out = drive.outbox(None, records=True)[2:]
        drive.store.close()
        yield out


@pytest.fixture(params=impl_params("fiscal_core.crypto._crc_native", "fiscal_core.crypto._crc_py"))
def crc(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(protocol, "crc16_ccitt", request.param.crc16_ccitt)
    return request.param


def bench_serialise(benchmark: Any, records: Any, crc: Any) -> None:
    bcd = protocol.bcd_fn(FN)
    benchmark.group = "ofd-frames"

    def run() -> None:
        for fd, rec in records:
            protocol.document_message(FN, fd, rec.tlv, rec.message_sign, ffd_version=4, fn_bcd=bcd)

    benchmark.pedantic(run, rounds=20, warmup_rounds=1)
    per_item(benchmark, len(records), "frame")


def bench_parse_documents(benchmark: Any, records: Any, crc: Any) -> None:
    stream = b"".join(
        protocol.document_message(FN, fd, rec.tlv, rec.message_sign, ffd_version=4) for fd, rec in records
    )
    benchmark.group = "ofd-frames"

    def run() -> None:
        reader = protocol.MessageReader()
        for at in range(0, len(stream), 1 << 16):
            reader.feed(stream[at : at + (1 << 16)])
            for _ in reader:
                pass

    benchmark.pedantic(run, rounds=20, warmup_rounds=1)
    per_item(benchmark, len(records), "frame")


def _answers(records: Any) -> bytes:
    signer = OperatorSigner(operator_key(SECRET, FN))
    out = []
    for fd, rec in records:
        head = protocol.confirmation_head("7704358518", FN, fd, int(T0), 0)
        doc = protocol.encode_confirmation(head, signer.sign(head + rec.message_sign))
        out.append(protocol.confirmation_message(FN, fd, doc, crc_mode=protocol.CRC_HEADER))
    return b"".join(out)


def bench_parse_answers(benchmark: Any, records: Any, crc: Any) -> None:
    stream = _answers(records)
    benchmark.group = "ofd-frames"

    def run() -> None:
        reader = protocol.MessageReader()
        reader.feed(stream)
        for _ in reader:
            pass

    benchmark.pedantic(run, rounds=50, warmup_rounds=1)
    per_item(benchmark, len(records), "frame")


def bench_confirmations(benchmark: Any, records: Any) -> None:
    signer = OperatorSigner(operator_key(SECRET, FN))
    benchmark.group = "ofd-confirmations"

    def run() -> None:
        for fd, rec in records:
            head = protocol.confirmation_head("7704358518", FN, fd, int(T0), 0)
            doc = protocol.encode_confirmation(head, signer.sign(head + rec.message_sign))
            protocol.check_confirmation(doc, fn_number=FN, fd_number=fd, message_sign=rec.message_sign, signer=signer)

    benchmark.pedantic(run, rounds=20, warmup_rounds=1)
    per_item(benchmark, len(records), "confirmation")


# --------------------------------------------------------------------------- end to end


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class EndToEnd:
    """Pre-issued drives, an emulator process, and one sender round until everything is confirmed."""

    def __init__(self, root: str, documents: int, drives: int) -> None:
        self.root = pathlib.Path(root)
        self.store = DriveStore(self.root / "drives")
        self.drives = []
        receipts = samples.receipts(64, n_items=10, seed=11)
        for k in range(drives):
            drive = FiscalDrive.create(
                self.store, samples.identity(make_fn_number(k + 1)), capacity=10_000_000, clock=lambda: T0
            )
            drive.open_shift("Бенчмарк")
            self.drives.append(drive)
        self.per_drive = documents // drives
        self.receipts = receipts
        self.emulator = subprocess.Popen(
            [sys.executable, "-c", EMULATOR, str(self.root / "ofd"), SECRET.hex()],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).resolve().parent.parent)},
        )
        assert self.emulator.stdout is not None
        self.port = int(self.emulator.stdout.readline())

    def issue(self) -> int:
        """Fill every drive's outbox (outside the timed part); the number of documents waiting."""
        for drive in self.drives:
            left = self.per_drive - len(drive.outbox())
            while left > 0:
                n = min(left, 1000)
                drive.append_many([(3, self.receipts[i % 64]) for i in range(n)])
                left -= n
        return sum(len(d.outbox()) for d in self.drives)

    def round(self, waiting: int) -> tuple[float, float, float]:
        """(seconds, this process's CPU seconds, the emulator's CPU seconds) to confirm ``waiting`` documents."""
        sender = OfdSender(
            lambda: self.drives,
            lambda d: ("127.0.0.1", self.port),
            operator_keys(SECRET),
            settings=SenderSettings(poll_s=0.05),
        )

        async def main() -> None:
            task = asyncio.create_task(sender.run())
            while sender.totals().confirmed < waiting:
                await asyncio.sleep(0.01)  # a light poll: the sender's own CPU is measured
            await sender.stop()
            await task

        emulator0, cpu0, t0 = _cpu(self.emulator.pid), time.process_time(), time.perf_counter()
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(main())
        elapsed = time.perf_counter() - t0
        return elapsed, time.process_time() - cpu0, _cpu(self.emulator.pid) - emulator0

    def close(self) -> None:
        self.emulator.terminate()
        self.emulator.wait(30)
        if self.emulator.stdout is not None:
            self.emulator.stdout.close()
        self.store.close()


@pytest.mark.parametrize("documents", [40_000])
def bench_end_to_end(benchmark: Any, documents: int) -> None:
    with tempfile.TemporaryDirectory(dir=".") as d:
        e2e = EndToEnd(d, documents, 8)
        try:
            figures: list[tuple[float, float, float]] = []
            waiting = [0]

            def setup() -> None:
                waiting[0] = e2e.issue()

            def run() -> None:
                figures.append(e2e.round(waiting[0]))

            benchmark.group = "ofd-end-to-end"
            benchmark.pedantic(run, setup=setup, rounds=3, warmup_rounds=0)
            per_item(benchmark, documents, "document")
            best = min(figures)
            benchmark.extra_info["documents_per_s"] = round(documents / best[0])
            benchmark.extra_info["sender_cpu_us_per_document"] = round(best[1] / documents * 1e6, 1)
            benchmark.extra_info["emulator_cpu_us_per_document"] = round(best[2] / documents * 1e6, 1)
        finally:
            e2e.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=80_000)
    parser.add_argument("--drives", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as d:
        e2e = EndToEnd(d, args.documents, args.drives)
        gctune.tune()  # the sender's process runs as fiscal-core serve's workers do (bench/conftest.py)
        try:
            for _ in range(args.rounds):
                waiting = e2e.issue()
                seconds, cpu, emulator = e2e.round(waiting)
                print(
                    f"{waiting} documents in {seconds:.2f} s: {waiting / seconds:,.0f} confirmed/s; "
                    f"sender CPU {cpu / waiting * 1e6:.1f} µs/document, emulator CPU {emulator / waiting * 1e6:.1f} µs"
                )
        finally:
            e2e.close()


if __name__ == "__main__":
    main()
