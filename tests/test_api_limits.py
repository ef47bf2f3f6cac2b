"""Back-pressure, rate limits, TLS and notices of the live API (issue 5 items 2, 7, 9).

- A group of hardware-speed registers (1 receipt/s each) pushed beyond its target wait answers 503 with
  Retry-After (ATOL error object, ``retryable: true``); nothing refused was stored, everything accepted ends
  ``done``, and the tenant gets a ``group_refusing`` notice.
- A tenant over its rate limit gets 429 with Retry-After.
- With ``--tls-cert/--tls-key`` the same API is served over HTTPS.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import http.client
import http.server
import json
import pathlib
import ssl
import subprocess
import sys
import threading
import time
import uuid as uuidlib

from apiclient import ROOT, Server
from test_api_e2e import V4_EXAMPLE


def cli(data: pathlib.Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "fiscal_core", *args, "--data", str(data)], check=True, cwd=ROOT,
                   capture_output=True)  # fmt: skip


def body() -> dict[str, object]:
    b = copy.deepcopy(V4_EXAMPLE)
    b["external_id"] = uuidlib.uuid4().hex
    return b


def test_an_overloaded_group_answers_503_with_retry_after_and_loses_nothing(tmp_path: pathlib.Path) -> None:
    data = tmp_path / "data"
    cli(data, "fleet", "sandbox")
    cli(data, "group", "add", "--tenant", "sandbox", "--code", "slow-v4", "--ffd", "1.05", "--target-wait", "1",
        "--admission-margin", "1")  # fmt: skip
    cli(data, "register", "add", "--group", "slow-v4", "--count", "1", "--profile", "hardware")
    got_posts: list[tuple[dict[str, str], bytes]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            got_posts.append(({k.lower(): v for k, v in self.headers.items()}, raw))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    hook_thread = threading.Thread(target=hook.serve_forever, daemon=True)
    hook_thread.start()
    with Server(data) as srv:
        c = srv.client()
        try:
            c.login("v4")
            status, set_hook = c.post(
                "/api/v1/notices/webhook", {"url": f"http://127.0.0.1:{hook.server_address[1]}/n"}
            )
            assert status == 200 and set_hook["url"].endswith("/n")
            status, bad_hook = c.post("/api/v1/notices/webhook", {"url": "ftp://x"})
            assert status == 400 and bad_hook["error"]["fields"][0]["path"] == "url"
            accepted: list[str] = []
            refused = None
            # The admission gate follows the dispatcher's projected wait (republished every 100 ms): keep
            # pushing for a few seconds; a 1 receipt/s group must start refusing long before that.
            deadline = time.monotonic() + 10
            while refused is None and time.monotonic() < deadline:
                status, got, headers = c.request("POST", "/possystem/v4/slow-v4/sell", json.dumps(body()).encode())
                answer = json.loads(got)
                if status == 200:
                    accepted.append(answer["uuid"])
                    continue
                assert status == 503, answer
                refused = (answer, headers)
            assert refused is not None, f"a 1 receipt/s group took {len(accepted)} receipts without refusing"
            answer, headers = refused
            assert int(headers["retry-after"]) >= 1
            assert answer["error"]["retryable"] is True and answer["error"]["code"] and "uuid" not in answer
            # Everything accepted is fiscalized (at hardware speed), nothing refused was stored.
            for uuid in accepted:
                assert c.wait_done("v4", "slow-v4", uuid, timeout=120)["status"] == "done"
            status, notices = c.get("/api/v1/notices?after=0")
            kinds = {n["kind"] for n in notices["notices"]}
            assert "group_refusing" in kinds, notices
            # The same notices were POSTed to the tenant's webhook, signed with its callback key.
            deadline = time.monotonic() + 15
            while not any(b"group_refusing" in raw for _, raw in got_posts) and time.monotonic() < deadline:
                time.sleep(0.1)
            headers, raw = next((h, r) for h, r in got_posts if b"group_refusing" in r)
            _, key = c.get("/api/v1/callback-key")
            expected = "sha256=" + hmac.new(bytes.fromhex(key["key_hex"]), raw, hashlib.sha256).hexdigest()
            assert headers["x-fiscal-signature"] == expected and json.loads(raw)["tenant"] == "sandbox"
        finally:
            c.close()
            hook.shutdown()
            hook.server_close()
            hook_thread.join()


def test_a_tenant_over_its_rate_limit_gets_429(tmp_path: pathlib.Path) -> None:
    with Server(tmp_path / "data", "--rate-limit", "2") as srv:
        c = srv.client()
        try:
            c.login("v4")
            statuses = []
            for _ in range(12):
                status, got, headers = c.request("POST", "/possystem/v4/sandbox-v4/sell", json.dumps(body()).encode())
                statuses.append(status)
                if status == 429:
                    assert int(headers["retry-after"]) >= 1 and json.loads(got)["error"]["retryable"] is True
            assert statuses[0] == 200 and 429 in statuses, statuses
        finally:
            c.close()


def test_tls(tmp_path: pathlib.Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    srv = Server(tmp_path / "data", "--tls-cert", str(cert), "--tls-key", str(key))
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    srv.ssl_context = ctx
    with srv:
        conn = http.client.HTTPSConnection("127.0.0.1", srv.port, context=ctx, timeout=30)
        conn.request("POST", "/possystem/v4/getToken", json.dumps({"login": "sandbox", "pass": "sandbox"}),
                     {"Content-Type": "application/json"})  # fmt: skip
        resp = conn.getresponse()
        token = json.loads(resp.read())["token"]
        assert resp.status == 200 and token
        conn.request("POST", "/possystem/v4/sandbox-v4/sell", json.dumps(body()),
                     {"Content-Type": "application/json", "Token": token})  # fmt: skip
        resp = conn.getresponse()
        got = json.loads(resp.read())
        assert resp.status == 200 and got["status"] == "wait"
        deadline = time.monotonic() + 30
        while True:
            conn.request("GET", f"/possystem/v4/sandbox-v4/report/{got['uuid']}", headers={"Token": token})
            report = json.loads(conn.getresponse().read())
            if report["status"] == "done" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert report["status"] == "done"
        conn.close()
        # Plain HTTP on the TLS port gets nowhere.
        plain = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        try:
            plain.request("GET", "/health")
            ok = plain.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            ok = False
        finally:
            plain.close()
        assert not ok
