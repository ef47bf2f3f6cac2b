"""Result callbacks (issue 5 item 7): signed POSTs of the report body, retried with backoff for over 24 hours.

Rules
- What is due lives in the intake (``callbacks``, written with the outcome in one transaction), so a callback
  survives restarts; each worker delivers the callbacks of the groups it owns (no double delivery).
- The body is exactly the ATOL report body (cloud-api §1.9: "Пакет с результатом обработки документа одинаков
  для всех способов получения"). Headers: ``X-Fiscal-Signature: sha256=<hex HMAC-SHA256 of the body>`` with the
  tenant's callback key, ``X-Fiscal-Timestamp`` and ``X-Fiscal-Delivery`` (uuid + attempt), so a receiver can
  check origin and drop replays.
- A 2xx answer ends it. Anything else (status, refused connection, timeout) is retried: 5 s × 2^attempt, capped
  at 1 h, ±20 % jitter, until 26 h after the outcome (≥ 24 h, as the issue asks); then it is given up and the
  log says so. Every attempt is logged in the intake (``deliveries``): GET /api/v1/deliveries/{uuid}.
- Delivery runs on the event loop (async client, bounded concurrency); the intake's writes go to a thread so a
  durable commit never blocks the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from fiscal_core.api import http_client
from fiscal_core.api.intake import Intake

__all__ = ["CallbackRunner", "backoff_s", "callback_key", "sign"]

log = logging.getLogger("fiscal_core.callbacks")

GIVE_UP_AFTER_S = 26 * 3600
#: A webhook address: http or https, a host, an optional port and path (no whitespace or control characters).
URL_PATTERN = re.compile(r"^https?://[^\s/?#@]+(:[0-9]{1,5})?(/[^\s]*)?$")
_BASE_S = 5.0
_CAP_S = 3600.0


def backoff_s(attempt: int, rnd: Callable[[], float] = random.random) -> float:
    """Delay before attempt ``attempt + 1``: 5 s × 2^attempt, capped at an hour, ±20 % jitter."""
    base = min(_CAP_S, _BASE_S * (2 ** min(attempt, 20)))
    return float(base * (0.8 + 0.4 * rnd()))


def callback_key(server_key: bytes, tenant: str) -> bytes:
    """The tenant's callback signing key, derived from the server key (shown to the tenant by the API)."""
    return hmac.new(server_key, b"callback\x1f" + tenant.encode(), hashlib.sha256).digest()


def sign(key: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


class CallbackRunner:
    """Delivers due callbacks of the owned groups; see the module rules."""

    def __init__(
        self,
        intake: Intake,
        groups: Callable[[], Iterable[str]],
        body_of: Callable[[bytes], tuple[str, str, bytes] | None],
        server_key: bytes,
        *,
        clock: Callable[[], float] = time.time,
        concurrency: int = 64,
        timeout_s: float = 10.0,
        period_s: float = 0.2,
    ) -> None:
        self.intake = intake
        self.groups = groups
        self.body_of = body_of  # uuid -> (tenant, url, body) or None when the entry is gone
        self.server_key = server_key
        self.clock = clock
        self.timeout_s = timeout_s
        self.period_s = period_s
        self._sem = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._notice_wake = asyncio.Event()
        self.notices_delivered = 0
        self._inflight: set[bytes] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.delivered = 0
        self.failed_attempts = 0
        self.given_up = 0

    def wake(self) -> None:
        """Receipts with a callback_url were finished: look for callbacks due now (not only every period_s)."""
        self._wake.set()

    def wake_notices(self) -> None:
        self._notice_wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            now = self.clock()
            for group in self.groups():
                due = await loop.run_in_executor(None, self.intake.callbacks_due, group, now, 200)
                for key, uuid, attempt in due:
                    if key in self._inflight:
                        continue
                    self._inflight.add(key)
                    task = asyncio.ensure_future(self._deliver(key, uuid, attempt))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.period_s)
            self._wake.clear()

    async def run_notices(self) -> None:
        """Tenants' notices (fleet warnings) to their webhooks, in order, signed like callbacks: a batch
        ``{"notices": [...]}`` per POST; a failure is retried with the same backoff, the cursor moves only on a
        2xx. One worker runs this (worker 0), so each notice goes out once."""
        loop = asyncio.get_running_loop()
        attempt: dict[str, int] = {}
        not_before: dict[str, float] = {}
        while not self._stopping:
            hooks = await loop.run_in_executor(None, self.intake.notice_webhooks)
            for tenant, (url, sent) in hooks.items():
                if self.clock() < not_before.get(tenant, 0.0):
                    continue
                notices = await loop.run_in_executor(None, self.intake.notices_of, tenant, sent, 500)
                if not notices:
                    continue
                body = msgspec.json.encode({"tenant": tenant, "notices": notices})
                headers = [
                    ("Content-Type", "application/json; charset=utf-8"),
                    ("X-Fiscal-Signature", sign(callback_key(self.server_key, tenant), body)),
                    ("X-Fiscal-Timestamp", str(int(self.clock()))),
                ]
                try:
                    status = await http_client.post(url, body, headers, timeout_s=self.timeout_s)
                    ok = 200 <= status < 300
                except Exception:  # a failed delivery is retried
                    ok = False
                if ok:
                    attempt.pop(tenant, None)
                    not_before.pop(tenant, None)
                    self.notices_delivered += len(notices)
                    upto = int(notices[-1]["seq"])
                    await loop.run_in_executor(None, self.intake.notices_delivered, tenant, url, upto)
                else:
                    n = attempt[tenant] = attempt.get(tenant, 0) + 1
                    not_before[tenant] = self.clock() + backoff_s(n - 1)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._notice_wake.wait(), 1.0)
            self._notice_wake.clear()

    async def stop(self) -> None:
        self._stopping = True
        self._notice_wake.set()
        self._wake.set()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.timeout_s + 1)

    async def _deliver(self, key: bytes, uuid: bytes, attempt: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            found = self.body_of(uuid)
            if found is None:
                await loop.run_in_executor(None, self.intake.callback_attempted, key, uuid, attempt, {}, None)
                return
            tenant, url, body = found
            at = self.clock()
            headers = [
                ("Content-Type", "application/json; charset=utf-8"),
                ("X-Fiscal-Signature", sign(callback_key(self.server_key, tenant), body)),
                ("X-Fiscal-Timestamp", str(int(at))),
                ("X-Fiscal-Delivery", f"{uuid.hex()}-{attempt}"),
            ]
            entry: dict[str, Any] = {"attempt": attempt, "at": at, "url": url}
            async with self._sem:
                try:
                    status = await http_client.post(url, body, headers, timeout_s=self.timeout_s)
                    entry["status"] = status
                    ok = 200 <= status < 300
                except Exception as exc:
                    entry["error"] = f"{type(exc).__name__}: {exc}"
                    ok = False
            retry_at: float | None = None
            if ok:
                self.delivered += 1
                entry["result"] = "delivered"
            else:
                self.failed_attempts += 1
                report = self.intake.report(uuid)
                finished_at = report[1].at if report is not None and report[1] is not None else at
                nxt = self.clock() + backoff_s(attempt)
                if nxt - finished_at > GIVE_UP_AFTER_S:
                    self.given_up += 1
                    entry["result"] = "given_up"
                    log.warning("callback for %s given up after %d attempts", uuid.hex(), attempt + 1)
                else:
                    retry_at = nxt
                    entry["result"] = "retry"
                    entry["retry_at"] = nxt
            await loop.run_in_executor(None, self.intake.callback_attempted, key, uuid, attempt, entry, retry_at)
        finally:
            self._inflight.discard(key)
