"""Receipt body encoder: ``encode_body`` of 10- and 100-item FFD 1.2 receipts, py twin vs native.

Data: 64 seeded receipts per size from ``fiscal_core.samples.receipts`` (Cyrillic names, weighed and marked
goods, 10% and 22% VAT, a cashier and a client contact). One round encodes all 64, so the figures are for a
stream of different receipts. The drive's budget (100,000 receipts/s for build → sign → CRC → store) leaves
the body at most 5 µs per 10-item receipt.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import impl_params, per_item

from fiscal_core import samples

BATCH = 64
IDENTITY = samples.identity(ffd=4)
RECEIPTS = {n: samples.receipts(BATCH, n, seed=11) for n in (10, 100)}
IMPLS = impl_params("fiscal_core._native._receipt", "fiscal_core.ffd._receipt_body_py")


@pytest.mark.parametrize("items", [10, 100])
@pytest.mark.parametrize("impl", IMPLS)
def bench_encode_body(benchmark: Any, impl: Any, items: int) -> None:
    receipts = RECEIPTS[items]
    encode_body = impl.encode_body
    identity = IDENTITY
    benchmark.group = f"receipt-body-{items}"

    def run() -> None:
        for r in receipts:
            encode_body(identity, r)

    benchmark(run)
    per_item(benchmark, BATCH, "receipt")
    benchmark.extra_info["mean_bytes"] = sum(len(encode_body(identity, r).data) for r in receipts) // BATCH
