"""A flash peak replayed from a per-second CSV shape (issue 8).

    FC_LOAD_DURATION=60 locust -f load/locustfile_flash.py --headless --host http://127.0.0.1:8080

``FC_LOAD_SHAPE`` (default ``load/shapes/flash_peak.csv``) holds one row per second, ``second,receipts_per_s``
(the same file works as ``fiscal-core plan --profile``). ``Replay`` stretches or squeezes it onto the run's
``FC_LOAD_DURATION`` seconds and sets the number of ``Buyer`` users so that, at 5 receipts/s each (constant
throughput), the offered load follows the CSV, scaled by ``FC_LOAD_SCALE`` (1.0). Each buyer sends single
3-item ATOL v5 ``sell`` receipts; the achieved rate against the CSV is in the report.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import pathlib

import payloads
from common import AtolUser, env_float, run_seconds
from locust import LoadTestShape, constant_throughput, task

PER_USER = 5.0
SHAPE = pathlib.Path(os.environ.get("FC_LOAD_SHAPE") or pathlib.Path(__file__).parent / "shapes" / "flash_peak.csv")
BODIES = itertools.cycle(payloads.sells(256, 3, seed=40))


def read_shape(path: pathlib.Path) -> list[float]:
    """Receipts/s per second from ``second,receipts_per_s`` rows (a header row is skipped)."""
    rates = []
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if not row or row[0].startswith("#"):
                continue
            try:
                rates.append(float(row[-1]))
            except ValueError:
                if rates:
                    raise
    if not rates:
        raise ValueError(f"{path}: no rates")
    return rates


RATES = read_shape(SHAPE)


def offered(run_time: float, total: float) -> float | None:
    """The CSV's rate at ``run_time`` of a run of ``total`` seconds, or None past the end."""
    if run_time >= total:
        return None
    return RATES[min(len(RATES) - 1, int(run_time / total * len(RATES)))] * env_float("FC_LOAD_SCALE", 1.0)


class Buyer(AtolUser):
    wait_time = constant_throughput(PER_USER)

    @task
    def buy(self) -> None:
        self.sell(next(BODIES).render([payloads.next_id("flash")]))


class Replay(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        rate = offered(self.get_run_time(), run_seconds())
        if rate is None:
            return None
        return max(1, math.ceil(rate / PER_USER)), 200.0
