"""Test helpers: run ``fiscal-core serve`` as a real process on a free 127.0.0.1 port, and talk to it.

Every server started here is stopped by its pid (SIGTERM, then SIGKILL after a grace period) and reaped.
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A ``fiscal-core serve`` child process."""

    def __init__(self, data: pathlib.Path, *args: str, port: int | None = None, env: dict[str, str] | None = None):
        self.data = data
        self.port = port or free_port()
        self.args = args
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data.parent / f"{data.name}-server-{self.port}.log"
        self.ssl_context: Any = None  #: set for a server started with --tls-cert: the probe speaks HTTPS

    def start(self, timeout: float = 30.0) -> Server:
        cmd = [sys.executable, "-m", "fiscal_core", "serve", "--data", str(self.data), "--port", str(self.port)]
        cmd += ["--public-url", f"http://127.0.0.1:{self.port}", *self.args]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            probe = self.client()
            if self.ssl_context is not None:
                probe.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ssl_context, timeout=5)
            try:
                status, _ = probe.get("/health")
                if status == 200:
                    return self
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)
            finally:
                probe.close()
        self.stop()
        raise RuntimeError(f"server did not come up:\n{self.log.read_text()[-3000:]}")

    def client(self) -> Client:
        return Client(self.port)

    def stop(self, sig: int = signal.SIGTERM, grace: float = 30.0) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            os.kill(proc.pid, sig)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        self.proc = None
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL: the crash case."""
        self.stop(signal.SIGKILL, 10)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Client:
    """A keep-alive HTTP/1.1 client (http.client) with JSON helpers."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        h = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        if self.token and "Token" not in h:
            h["Token"] = self.token
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=h)
                resp = self.conn.getresponse()
                data = resp.read()
                return resp.status, data, {k.lower(): v for k, v in resp.getheaders()}
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        status, data, _ = self.request("GET", path, **kw)
        return status, json.loads(data) if data else None

    def post(self, path: str, obj: Any, **kw: Any) -> tuple[int, Any]:
        body = obj if isinstance(obj, bytes) else json.dumps(obj, ensure_ascii=False).encode()
        status, data, _ = self.request("POST", path, body, **kw)
        return status, json.loads(data) if data else None

    def login(self, version: str = "v4", login: str = "sandbox", password: str = "sandbox") -> str:
        status, body = self.post(f"/possystem/{version}/getToken", {"login": login, "pass": password})
        assert status == 200, body
        self.token = body["token"]
        return self.token

    def wait_done(self, version: str, group: str, uuid: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.get(f"/possystem/{version}/{group}/report/{uuid}")
            assert status == 200, body
            if body["status"] != "wait":
                return body  # type: ignore[no-any-return]
            time.sleep(0.02)
        raise AssertionError(f"{uuid} still waiting after {timeout} s")

    def wait_ofd_sent(self, timeout: float = 60.0) -> dict[str, int]:
        """Poll ``/api/v1/registers`` until every register's documents are confirmed by the OFD; the last
        register → unsent count seen (the caller asserts on it)."""
        deadline = time.monotonic() + timeout
        while True:
            _, regs = self.get("/api/v1/registers")
            unsent = {r["register"]: r["ofd_unsent"] for r in regs["registers"]}
            if (unsent and not any(unsent.values())) or time.monotonic() > deadline:
                return unsent
            time.sleep(0.2)

    def close(self) -> None:
        self.conn.close()
