"""The tiered layout (``serve --workers N --fiscal-workers F``): API workers journal, fiscal-only workers fiscalize.

Against a real ``fiscal-core serve`` on a free port: receipts posted to the API worker are fiscalized by the
fiscal worker (which has no socket) and answered ``done`` with their fiscal data; the API worker's /metrics
shows its own event loop's CPU (a forked worker once reported none); a fiscal worker SIGKILLed under load
is restarted by the supervisor and every acknowledged receipt still ends ``done`` exactly once, with gapless
drives. Every process the tests start is stopped by its pid.
"""

from __future__ import annotations

import os
import pathlib
import random
import re
import signal
import socket
import subprocess
import sys
import time
import types
from typing import Any

import pytest
from apiclient import ROOT, Server
from test_api_crash import Pusher, assert_done_once, receipt, verified_receipts_on_drives

from fiscal_core.api.service import Service

#: SIGKILLs of the fiscal worker in the crash test (CI: 4; the full-size run before a release: 50).
KILLS = int(os.environ.get("FISCAL_CORE_TIER_KILLS", "4"))
GROUPS = ("sandbox-v4", "sandbox-v5", "shop-1", "shop-2", "utility", "marketplace-77")


def _owners(workers: int, fiscal_first: int) -> dict[str, list[int]]:
    owners: dict[str, list[int]] = {g: [] for g in GROUPS}
    for worker in range(workers):
        me = types.SimpleNamespace(worker=worker, workers=workers, fiscal_first=fiscal_first)
        for g in GROUPS:
            if Service.owns_group(me, g):  # type: ignore[arg-type]
                owners[g].append(worker)
    return owners


@pytest.mark.parametrize(("workers", "fiscal_first"), [(1, 0), (2, 0), (2, 1), (3, 1), (5, 2)])
def test_every_group_has_exactly_one_owner_and_it_is_a_fiscalizing_worker(workers: int, fiscal_first: int) -> None:
    owners = _owners(workers, fiscal_first)
    assert all(len(o) == 1 for o in owners.values()), owners
    assert all(o[0] >= fiscal_first for o in owners.values()), owners
    if workers - fiscal_first > 1:  # the hash spreads these six groups over more than one fiscal worker
        assert len({o[0] for o in owners.values()}) > 1, owners


def test_without_tiers_the_ownership_is_the_old_one() -> None:
    """fiscal_first = 0 keeps crc32 % workers: a data directory's groups do not move between workers."""
    import zlib

    owners = _owners(3, 0)
    assert owners == {g: [zlib.crc32(g.encode()) % 3] for g in GROUPS}


@pytest.mark.parametrize("fiscal_first", [-1, 2, 3])
def test_fiscal_first_must_leave_a_fiscalizing_worker(tmp_path: pathlib.Path, fiscal_first: int) -> None:
    with pytest.raises(ValueError, match="fiscal_first"):
        Service(str(tmp_path), worker=0, workers=2, fiscal_first=fiscal_first)


def _worker_pids(srv: Server) -> dict[int, int]:
    """worker index → pid of its latest start, from the supervisor's log."""
    found: dict[int, int] = {}
    for index, pid in re.findall(r"worker (\d+) started, pid (\d+)", srv.log.read_text()):
        found[int(index)] = int(pid)
    return found


def _stop(srv: Server) -> None:
    """Stop the supervisor (SIGTERM: it stops its workers), then make sure no worker outlives it."""
    pids = _worker_pids(srv)
    srv.stop()
    for pid in pids.values():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue


def _sell(ext: str, version: str) -> dict[str, Any]:
    """An ATOL sell of the crash test's receipt (10.00 RUB, one item) for ``sandbox-{version}``."""
    body = receipt(ext, f"sandbox-{version}")
    del body["group_code"], body["operation"]  # the bulk API's fields; ATOL has them in the path
    return body


def test_api_worker_journals_and_the_fiscal_worker_fiscalizes(tmp_path: pathlib.Path) -> None:
    srv = Server(tmp_path / "data", "--workers", "1", "--fiscal-workers", "1").start()
    try:
        api = srv.client()
        for version in ("v4", "v5"):
            api.login(version)
            status, got = api.post(f"/possystem/{version}/sandbox-{version}/sell", _sell(f"tiers-{version}", version))
            assert status == 200 and got["status"] == "wait", got
            report = api.wait_done(version, f"sandbox-{version}", got["uuid"])
            payload = report["payload"]
            assert payload["total"] == 10.0 and payload["fiscal_document_number"] > 0, report
            assert payload["fiscal_document_attribute"] > 0 and len(payload["fn_number"]) == 16, report
            # The fiscal sign the fiscal worker made verifies through the API worker's receipt check.
            check = payload["ofd_receipt_url"].split(str(srv.port), 1)[1]
            status, fns = api.get(check)
            assert status == 200 and fns["verified"] is True and fns["form"] == 3, fns
        log = srv.log.read_text()
        assert "worker 1 fiscalizing groups sandbox-v4, sandbox-v5" in log, log[-2000:]
        assert "worker 0 fiscalizing" not in log
        text = api.request("GET", "/metrics")[1].decode()
        cpu = {
            ln.split('thread="', 1)[1].split('"', 1)[0]: float(ln.rsplit(" ", 1)[1])
            for ln in text.splitlines()
            if ln.startswith("fiscal_thread_cpu_seconds_total{")
        }
        # The API worker is a forked process: its event loop's CPU is there all the same.
        assert cpu.get("MainThread", 0) > 0, cpu
        # Nothing was handed to its own pipeline in memory: it owns no group, so its fleet holds nothing.
        assert re.search(r'fiscal_queue_length\{[^}]*queue="fleet"\} 0\b', text), text
        api.close()
    finally:
        _stop(srv)


@pytest.mark.slow
def test_sigkill_of_the_fiscal_worker_loses_and_duplicates_nothing(tmp_path: pathlib.Path) -> None:
    data = tmp_path / "data"
    rng = random.Random(20261125)
    state: dict[str, Any] = {"acked": {}, "doubt": [], "next": 0, "repeats": 0, "resent": 0}
    srv = Server(data, "--workers", "1", "--fiscal-workers", "1").start()
    kills = 0
    try:
        c = srv.client()
        token = c.login("v5")
        pusher = Pusher(srv.port, token, state, rng)
        pusher.start()
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.0))
            victim = _worker_pids(srv)[1]
            os.kill(victim, signal.SIGKILL)
            kills += 1
            deadline = time.monotonic() + 30
            while _worker_pids(srv).get(1) == victim:  # the supervisor restarts it
                assert time.monotonic() < deadline, srv.log.read_text()[-2000:]
                time.sleep(0.05)
        time.sleep(0.5)
        pusher.close()
        # The API worker never died: every request was answered, nothing is in doubt.
        assert not state["doubt"] and state["resent"] == 0, state["doubt"][:3]
        uuids = sorted(set(state["acked"].values()))
        assert len(uuids) == len(state["acked"]) == state["next"] > 0
        assert_done_once(c, uuids)
        c.close()
    finally:
        _stop(srv)
    assert srv.log.read_text().count("died with exit code -9") == kills
    on_drives, stores = verified_receipts_on_drives(data)
    assert on_drives == len(uuids), (on_drives, len(uuids))
    print(f"\n{kills} fiscal-worker kills: {len(uuids)} receipts done exactly once, {len(stores)} stores verified")


@pytest.mark.parametrize(("args", "message"), [(["--fiscal-workers", "-1"], "--fiscal-workers must be 0 or more")])
def test_serve_refuses_a_negative_fiscal_tier(tmp_path: pathlib.Path, args: list[str], message: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "fiscal_core", "serve", "--data", str(tmp_path / "data"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert out.returncode == 2 and message in out.stderr, (out.returncode, out.stderr)
    assert not (tmp_path / "data").exists()  # refused before anything was provisioned


def test_every_document_reaches_the_embedded_ofd_despite_a_port_file_left_by_a_dead_run(tmp_path: pathlib.Path) -> None:
    """Two fiscal workers: the first hosts the embedded OFD emulator, the second (which fiscalizes both sandbox
    groups: crc32 of their codes) finds it through ``DATA/ofd/port``; a file left there by an earlier run must
    not send its documents to a port nobody listens on."""
    data = tmp_path / "data"
    (data / "ofd").mkdir(parents=True)
    with socket.socket() as s:  # a port that was free a moment ago and that nobody will listen on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    (data / "ofd" / "port").write_text(str(dead))
    srv = Server(data, "--workers", "1", "--fiscal-workers", "2").start()
    try:
        api = srv.client()
        api.login("v4")
        status, got = api.post("/possystem/v4/sandbox-v4/sell", _sell("tiers-ofd", "v4"))
        assert status == 200, got
        api.wait_done("v4", "sandbox-v4", got["uuid"])
        assert "worker 2 fiscalizing groups sandbox-v4, sandbox-v5" in srv.log.read_text()
        unsent = api.wait_ofd_sent()  # the fiscal workers publish their registers every 2 s; the API worker shows it
        assert unsent and not any(unsent.values()), unsent
        assert int((data / "ofd" / "port").read_text()) != dead
        # /metrics of the API worker (the only one with a socket) shows the fiscal workers' registers too.
        text = api.request("GET", "/metrics")[1].decode()
        shown = re.findall(r'fiscal_ofd_unsent_documents\{group="sandbox-v4",register="([^"]+)"\} 0\n', text)
        assert len(shown) == 4 and set(shown) <= set(unsent), text[-3000:]
        api.close()
    finally:
        _stop(srv)
