"""TLV codec: encode, decode and the structure-only walk of 10- and 100-item FFD 1.2 receipts, py vs native.

Data: 64 seeded receipts per size from ``fiscal_core.samples`` (Cyrillic names, weighed and marked goods,
10% and 22% VAT; 10 items ≈ 1.3 KB median). One benchmark round handles all 64, so the figures are for
a stream of different documents, not one hot document.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import impl_params, per_item

from fiscal_core import samples

BATCH = 64
TREES = {n: samples.receipt_trees(BATCH, n_items=n, seed=7) for n in (10, 100)}
IMPLS = impl_params("fiscal_core._native._tlv", "fiscal_core.ffd._tlv_py")


def _bytes(impl: Any, n: int) -> list[bytes]:
    return [impl.encode(t) for t in TREES[n]]


@pytest.mark.parametrize("items", [10, 100])
@pytest.mark.parametrize("impl", IMPLS)
def bench_encode(benchmark: Any, impl: Any, items: int) -> None:
    trees = TREES[items]
    encode = impl.encode
    benchmark.group = f"tlv-encode-{items}"

    def run() -> None:
        for t in trees:
            encode(t)

    benchmark(run)
    per_item(benchmark, BATCH, "receipt")
    benchmark.extra_info["mean_bytes"] = sum(map(len, _bytes(impl, items))) // BATCH


@pytest.mark.parametrize("items", [10, 100])
@pytest.mark.parametrize("impl", IMPLS)
def bench_decode(benchmark: Any, impl: Any, items: int) -> None:
    docs = _bytes(impl, items)
    decode = impl.decode
    benchmark.group = f"tlv-decode-{items}"

    def run() -> None:
        # Each tree is dropped before the next is built, as a streaming reader (verify, export) does;
        # keeping all 64 alive would measure the cycle collector walking them, not the decoder.
        for d in docs:
            decode(d)

    benchmark(run)
    per_item(benchmark, BATCH, "receipt")


@pytest.mark.parametrize("items", [10, 100])
@pytest.mark.parametrize("impl", IMPLS)
def bench_check(benchmark: Any, impl: Any, items: int) -> None:
    docs = _bytes(impl, items)
    check = impl.check
    benchmark.group = f"tlv-check-{items}"

    def run() -> None:
        for d in docs:
            check(d)

    benchmark(run)
    per_item(benchmark, BATCH, "receipt")


@pytest.mark.parametrize("op", ["encode", "decode", "check"])
@pytest.mark.parametrize("impl", IMPLS)
def bench_one_receipt(benchmark: Any, impl: Any, op: str) -> None:
    """One 10-item receipt (the first of the stream: 1,188 B, 128 elements) again and again: hot in the cache,
    as a freshly built or received document is. The stream benchmarks above show the cost of cold ones."""
    tree = TREES[10][0]
    data = impl.encode(tree)
    benchmark.group = f"tlv-one-receipt-{op}"
    if op == "encode":
        benchmark(impl.encode, tree)
    elif op == "decode":
        benchmark(impl.decode, data)
    else:
        benchmark(impl.check, data)
    benchmark.extra_info["bytes"] = len(data)
    per_item(benchmark, 1, "receipt")
