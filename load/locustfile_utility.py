"""A utility's end-of-month surge: payments for electricity, water, heating through ATOL v5 ``sell`` (issue 8).

    FC_LOAD_DURATION=60 locust -f load/locustfile_utility.py --headless --host http://127.0.0.1:8080

Each ``Payer`` pays about twice a second (constant throughput): a receipt of 2–6 services by meter reading
(fractional quantities in kWh, m³, Gcal; VAT 22 %, 0 % and none). ``EndOfMonth`` ramps the payers over the run
(``FC_LOAD_DURATION`` seconds): a quiet fifth at ``FC_LOAD_BASE_USERS`` (20), a ramp over three tenths to
``FC_LOAD_PEAK_USERS`` (200), the evening peak held for three tenths, then the tail back down. Every tenth
payment is followed to ``done`` by polling its report.
"""

from __future__ import annotations

import itertools
import random
import time

import payloads
from common import AtolUser, env_int, run_seconds
from locust import LoadTestShape, constant_throughput, task

BODIES = itertools.cycle(payloads.utility_sells(512, seed=30))
BASE = env_int("FC_LOAD_BASE_USERS", 20)
PEAK = env_int("FC_LOAD_PEAK_USERS", 200)


class Payer(AtolUser):
    wait_time = constant_throughput(2)
    rng = random.Random(31)

    @task
    def pay(self) -> None:
        started = time.perf_counter()
        uuid = self.sell(next(BODIES).render([payloads.next_id("utility")]))
        if uuid is not None and self.rng.random() < 0.1:
            self.poll_done(uuid, started, 0.05)


class EndOfMonth(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        total = run_seconds()
        x = self.get_run_time() / total
        if x >= 1:
            return None
        if x < 0.2:
            users = BASE
        elif x < 0.5:
            users = BASE + (PEAK - BASE) * (x - 0.2) / 0.3
        elif x < 0.8:
            users = PEAK
        else:
            users = PEAK - (PEAK - BASE) * (x - 0.8) / 0.2
        return round(users), 100.0
