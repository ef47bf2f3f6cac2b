"""A marketplace: bulk batches through the native API, and a follower of the change feed (issue 8).

    locust -f load/locustfile_marketplace.py --headless -u 5 -r 5 -t 60s --host http://127.0.0.1:8080

``Seller`` users each POST ``/api/v1/receipts`` batches of ``FC_LOAD_BATCH`` (100) 10-item receipts every
``FC_LOAD_BULK_PACE_S`` (0.5 s; constant pacing); an answer passes only when every item was accepted with a uuid.
One ``FeedFollower`` long-polls ``/api/v1/results?after=…&wait=2`` as an integration would, and reports each
receipt it sees finished as a ``RECEIPT accepted → done`` event timed by the server's own ``accepted_at`` and
``finished_at`` (a ``fail`` outcome is a failure). Its rate is the fiscalized throughput.
"""

from __future__ import annotations

import itertools

import payloads
from common import AtolUser, env_float, env_int, receipt_event
from locust import constant, constant_pacing, task

BATCH = env_int("FC_LOAD_BATCH", 100)
BATCHES = itertools.cycle(payloads.bulk_batches(16, BATCH, env_int("FC_LOAD_ITEMS", 10), seed=21))


class Seller(AtolUser):
    wait_time = constant_pacing(env_float("FC_LOAD_BULK_PACE_S", 0.5))

    @task
    def push(self) -> None:
        body = next(BATCHES).render([payloads.next_id("mp") for _ in range(BATCH)])
        with self.client.post("/api/v1/receipts", data=body, headers=self.headers, catch_response=True) as resp:
            got = resp.json() if resp.status_code == 200 else None
            if not isinstance(got, dict):
                resp.failure(f"HTTP {resp.status_code}: {str(resp.text)[:200]}")
                return
            results = got.get("results") or []
            bad = [r for r in results if not (isinstance(r, dict) and r.get("uuid") and r.get("status") == "queued")]
            if got.get("accepted") != BATCH or len(results) != BATCH or bad:
                resp.failure(f"accepted {got.get('accepted')} of {BATCH}: {str(bad[:1])[:300]}")
            else:
                resp.success()


class FeedFollower(AtolUser):
    fixed_count = 1
    wait_time = constant(0)
    cursor = 0

    @task
    def follow(self) -> None:
        path = f"/api/v1/results?after={self.cursor}&limit=5000&wait=2"
        with self.client.get(path, headers=self.headers, catch_response=True, name="/api/v1/results?wait") as resp:
            page = resp.json() if resp.status_code == 200 else None
            if not isinstance(page, dict) or not isinstance(page.get("next"), int):
                resp.failure(f"HTTP {resp.status_code}: {str(resp.text)[:200]}")
                return
            resp.success()
        for r in page.get("results", []):
            ms = (r["finished_at"] - r["accepted_at"]) * 1000
            error = None if r.get("status") == "done" else f"{r.get('uuid')}: {r.get('status')} {r.get('error')}"
            receipt_event(self.environment, "accepted → done", ms, error)
        self.cursor = page["next"]
