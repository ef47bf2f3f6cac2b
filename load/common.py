"""What every locustfile shares: the ATOL token, response checks, the knobs read from the environment.

Rules
- A response counts as a failure in Locust's stats unless it is the expected status *and* the body says what
  the API promises (an ATOL answer with ``error: null`` and a uuid, a bulk answer that accepted every item, a
  report that ends ``done``). No request is fire-and-forget.
- Times measured by the client beyond one request (sell → done, accepted → done from the server's own
  timestamps) are reported as Locust request events of type ``RECEIPT``, so they land in the same CSVs.
- Knobs are environment variables (``FC_LOAD_*``), set by ``load/run.py``; defaults suit a 2-core machine.
"""

from __future__ import annotations

import os
import time
from typing import Any

from locust.contrib.fasthttp import FastHttpUser
from payloads import GROUP, token_body

__all__ = ["SELL", "AtolUser", "atol_uuid", "env_float", "env_int", "receipt_event", "report_status"]

SELL = f"/possystem/v5/{GROUP}/sell"
REPORT = f"/possystem/v5/{GROUP}/report/[uuid]"


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def run_seconds() -> float:
    """The scenario's length, for the shapes (``load/run.py`` sets it; ``-t`` is ignored by a shape)."""
    return env_float("FC_LOAD_DURATION", 60.0)


def receipt_event(env: Any, name: str, ms: float, error: str | None = None) -> None:
    env.events.request.fire(
        request_type="RECEIPT",
        name=name,
        response_time=ms,
        response_length=0,
        exception=RuntimeError(error) if error else None,
        context={},
    )


def _json(resp: Any) -> Any:
    try:
        return resp.json()
    except Exception:  # a body that is not JSON is the failure we report, whatever the parser raised
        return None


def atol_uuid(resp: Any) -> str | None:
    """Check an ATOL sell answer (inside ``catch_response``); the receipt's uuid, or None after a failure."""
    body = _json(resp)
    if resp.status_code != 200 or not isinstance(body, dict):
        resp.failure(f"HTTP {resp.status_code}: {str(resp.text)[:200]}")
        return None
    if body.get("error") is not None or body.get("status") not in ("wait", "done") or not body.get("uuid"):
        resp.failure(f"ATOL error: {str(body)[:200]}")
        return None
    resp.success()
    return str(body["uuid"])


def report_status(resp: Any) -> str | None:
    """Check an ATOL report answer: ``wait`` or ``done``; None (a failure) for anything else."""
    body = _json(resp)
    if resp.status_code != 200 or not isinstance(body, dict):
        resp.failure(f"HTTP {resp.status_code}: {str(resp.text)[:200]}")
        return None
    status = body.get("status")
    if status == "done" and body.get("error") is None and (body.get("payload") or {}).get("fiscal_document_number"):
        resp.success()
        return "done"
    error = body.get("error")
    if status == "wait" and (error is None or (isinstance(error, dict) and error.get("code") == 34)):
        # ATOL answers a receipt still in the queue with ``wait`` and error 34 ("not found yet, try later")
        resp.success()
        return "wait"
    resp.failure(f"report {status}: {str(body.get('error'))[:200]}")
    return None


class AtolUser(FastHttpUser):
    """A client of the sandbox tenant: logs in once (``getToken``), then sends with the ``Token`` header."""

    abstract = True
    connection_timeout = 10.0
    network_timeout = 30.0
    headers: dict[str, str]

    def on_start(self) -> None:
        self.headers = {"Content-Type": "application/json; charset=utf-8"}
        with self.client.post(
            "/possystem/v5/getToken", data=token_body(), headers=self.headers, catch_response=True
        ) as resp:
            body = _json(resp)
            if resp.status_code != 200 or not isinstance(body, dict) or not body.get("token"):
                resp.failure(f"no token: HTTP {resp.status_code} {str(resp.text)[:200]}")
                raise RuntimeError("getToken failed")  # stops this user; the failure is in the stats
        self.headers["Token"] = str(body["token"])

    def sell(self, body: bytes) -> str | None:
        with self.client.post(SELL, data=body, headers=self.headers, catch_response=True, name=SELL) as resp:
            return atol_uuid(resp)

    def poll_done(self, uuid: str, started: float, interval: float, timeout: float = 30.0) -> None:
        """Poll the report until ``done``; the time from ``started`` is the ``sell → done`` event."""
        path = f"/possystem/v5/{GROUP}/report/{uuid}"
        while True:
            with self.client.get(path, headers=self.headers, catch_response=True, name=REPORT) as resp:
                status = report_status(resp)
            if status is None:
                return
            if status == "done":
                receipt_event(self.environment, "sell → done", (time.perf_counter() - started) * 1000)
                return
            if time.perf_counter() - started > timeout:
                receipt_event(self.environment, "sell → done", timeout * 1000, f"{uuid} not done in {timeout} s")
                return
            time.sleep(interval)  # gevent-patched: yields to the other users
