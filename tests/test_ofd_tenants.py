"""A tenant's own OFD (issue 6 item 5): its drives go there, everyone else's to the server's ``--ofd``.

A real ``fiscal-core serve`` (embedded OFD emulator as the server's default) and a second, separately run
``fiscal-core ofd-emulator`` set as one tenant's OFD with ``fiscal-core tenant set-ofd``; receipts of both
tenants go in through the ATOL API, and each emulator's store must hold exactly its tenant's documents, every
one confirmed back into its drive. Every process started here is stopped by its pid.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from apiclient import ROOT, Client, Server
from test_api_e2e import cli, sell

from fiscal_core.ofd.store import OfdStore
from fiscal_core.registers.model import FleetFile

SECRET = "5a" * 32
RECEIPTS = 6


def start_emulator(data: pathlib.Path) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, "-m", "fiscal_core", "ofd-emulator", "--port", "0", "--data", str(data), "--secret", SECRET]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("OFD emulator listening on 127.0.0.1:"), line
    return proc, int(line.split("listening on 127.0.0.1:")[1].split(",")[0])


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def unsent(client: Client) -> int:
    status, body = client.get("/api/v1/registers")
    assert status == 200, body
    return sum(r["ofd_unsent"] for r in body["registers"])


def test_a_tenant_with_its_own_ofd(tmp_path: pathlib.Path) -> None:
    data = tmp_path / "data"
    cli(data, "fleet", "sandbox")
    cli(data, "tenant", "add", "--login", "own", "--password", "pw2", "--inn", "7707083893", "--name", "ООО Своё")
    cli(data, "group", "add", "--tenant", "own", "--code", "own-v5", "--ffd", "1.2", "--capabilities", "marked")
    cli(data, "register", "add", "--group", "own-v5", "--count", "2")
    with pytest.raises(subprocess.CalledProcessError):  # an own OFD without its operator secret is refused
        cli(data, "tenant", "set-ofd", "--login", "own", "--ofd", "127.0.0.1:1")
    emulator, port = start_emulator(tmp_path / "own-ofd")
    try:
        cli(data, "tenant", "set-ofd", "--login", "own", "--ofd", f"127.0.0.1:{port}", "--secret", SECRET)
        model = FleetFile(data).load()
        assert model.tenants["own"].ofd == f"127.0.0.1:{port}"
        own_fns = {r.fn_number for r in model.registers.values() if r.group == "own-v5"}
        sandbox_fns = {r.fn_number for r in model.registers.values() if r.group == "sandbox-v5"}
        with Server(data) as srv:
            clients: dict[str, Any] = {}
            for login, password, group in (("sandbox", "sandbox", "sandbox-v5"), ("own", "pw2", "own-v5")):
                c = clients[login] = srv.client()
                c.login("v5", login, password)
                uuids = []
                for k in range(RECEIPTS):
                    body = sell("v5", f"{login}-{k}")
                    if login == "own":
                        body["receipt"]["company"]["inn"] = "7707083893"
                    status, got = c.post(f"/possystem/v5/{group}/sell", body)
                    assert status == 200, got
                    uuids.append(got["uuid"])
                for u in uuids:
                    assert c.wait_done("v5", group, u)["status"] == "done"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and any(unsent(c) for c in clients.values()):
                time.sleep(0.2)
            assert [unsent(c) for c in clients.values()] == [0, 0]
            for c in clients.values():
                c.close()
    finally:
        stop(emulator)
    with OfdStore(tmp_path / "own-ofd") as store:
        own_docs = {fn for fn, _, _ in store.documents()}
    with OfdStore(data / "ofd") as store:
        default_docs = {fn for fn, _, _ in store.documents()}
    # Each OFD holds its tenant's drives and no other's (registrations and shift openings included).
    assert own_docs and own_docs <= own_fns
    assert default_docs and not default_docs & own_fns
    assert default_docs & sandbox_fns
