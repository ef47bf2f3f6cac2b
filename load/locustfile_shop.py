"""A shop: single ATOL v5 ``sell`` requests, each followed by report polling until ``done`` (issue 8).

    locust -f load/locustfile_shop.py --headless -u 16 -r 16 -t 60s --host http://127.0.0.1:8080

Each user is a till in a closed loop: send one 10-item receipt (seeded, Cyrillic names, mixed 2026 VAT, marked
goods), then GET the report every ``FC_LOAD_POLL_S`` (default 0.02 s) until it is ``done``; ``sell → done`` is
the time from sending to seeing ``done``. The same file drives the FastAPI baseline (bench/baselines/), so the
two servers are loaded by the same client code with the same settings. Knobs: ``FC_LOAD_ITEMS`` (10),
``FC_LOAD_POLL_S``, ``FC_LOAD_THINK_S`` (0: no pause between receipts).
"""

from __future__ import annotations

import itertools
import time

import payloads
from common import AtolUser, env_float, env_int
from locust import constant, task

BODIES = itertools.cycle(payloads.sells(256, env_int("FC_LOAD_ITEMS", 10), seed=8))
POLL_S = env_float("FC_LOAD_POLL_S", 0.02)


class ShopTill(AtolUser):
    wait_time = constant(env_float("FC_LOAD_THINK_S", 0.0))

    @task
    def sell_and_wait(self) -> None:
        body = next(BODIES).render([payloads.next_id("shop")])
        started = time.perf_counter()
        uuid = self.sell(body)
        if uuid is not None:
            self.poll_done(uuid, started, POLL_S)
