"""ATOL request validation: ``validate`` of 1-, 10- and 100-item v4 (FFD 1.05) and v5 (FFD 1.2) ``sell`` bodies.

Data: 64 seeded receipts per size from ``fiscal_core.samples.receipts`` (Cyrillic names, weighed and piece goods,
10% and 22% VAT in v5, 20% in v4, marked goods with a base64 ``gs1m`` full code in v5), written as the JSON an
ATOL client sends. One round validates all 64 from bytes: typed decode, every field rule, the document and its
payload hash. The API floor is 12,000 single-receipt POSTs/s on one core *including* this step, so a 1-item
request should stay well under 83 µs here.

``path``: ``validate`` is the public entry (the fast path, the spec for what it declines: v5's marked items; with
the compiled fast path, bodies of ``validate.SCAN_FROM`` bytes and more are read by its byte reader ``scan``),
``decoded`` the same with every body decoded by msgspec instead (the fast path before session 12), ``spec`` the
spec alone; ``extra_info["fast_path_share"]`` is the share of the samples the fast path took.
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from conftest import per_item

from fiscal_core import samples
from fiscal_core.api import validate as selector
from fiscal_core.api.validate import validate, validate_spec
from fiscal_core.ffd.receipt import Receipt

BATCH = 64
INN = "5544332219"


def _rub(kopecks: int) -> int | float:
    """Roubles as a JavaScript client prints them: 528 for a whole amount, 527.99 otherwise."""
    return kopecks // 100 if kopecks % 100 == 0 else kopecks / 100


def _number(value: int | Decimal) -> int | float:
    return value if isinstance(value, int) else float(value)


def atol_json(receipt: Receipt, version: int, n: int) -> bytes:
    """``receipt`` as an ATOL ``sell`` body of API ``version``."""
    items = []
    for it in receipt.items:
        item: dict[str, Any] = {
            "name": it.name,
            "price": _rub(it.price),
            "quantity": _number(it.quantity),
            "sum": _rub(it.sum),
            "payment_method": "full_payment",
            "vat": {"type": {1: "vat20", 2: "vat10", 11: "vat22"}[int(it.vat)]},
        }
        if version == 4:
            item.update(payment_object="commodity", measurement_unit=it.unit_name)
        else:
            item.update(payment_object=int(it.subject), measure=int(it.measure or 0))
            if it.marking is not None:
                full = f"{it.marking.code}\x1d91EE10\x1d92{'A' * 44}"
                item.update(mark_code={"gs1m": base64.b64encode(full.encode()).decode()}, mark_processing_mode="0")
        items.append(item)
    body = {
        "external_id": f"order-{n}",
        "timestamp": "23.11.2026 12:00:00",
        "service": {"callback_url": "https://shop.example.ru/atol/callback"},
        "receipt": {
            "client": {"email": "buyer@example.ru"},
            "company": {
                "email": "chek@shop.example.ru",
                "sno": "osn",
                "inn": INN,
                "payment_address": "shop.example.ru",
            },
            "items": items,
            "payments": [{"type": 1, "sum": _rub(receipt.total)}],
            "total": _rub(receipt.total),
            "cashier": receipt.cashier,
        },
    }
    return msgspec.json.encode(body)


REQUESTS = {
    (version, n): [
        atol_json(r, version, k) for k, r in enumerate(samples.receipts(BATCH, n, seed=5, ffd=4 if version == 5 else 2))
    ]
    for version in (4, 5)
    for n in (1, 10, 100)
}


def marketplace_json(receipt: Receipt, n: int) -> bytes:
    """``receipt`` as a v5 ``sell`` of a marketplace's kind: every item one marked piece (a gs1m code, mode "0")."""
    body = msgspec.json.decode(atol_json(receipt, 5, n))
    total = 0
    for k, item in enumerate(body["receipt"]["items"]):
        kopecks = round(item["price"] * 100)
        full = f"0104601234{k:04d}8721{n:06d}ABCdef9\x1d91EE10\x1d92{'A' * 44}"
        item.update(quantity=1, sum=item["price"], payment_object=33, measure=0, mark_processing_mode="0",
                    mark_code={"gs1m": base64.b64encode(full.encode()).decode()})  # fmt: skip
        total += kopecks
    body["receipt"]["total"] = _rub(total)
    body["receipt"]["payments"] = [{"type": 1, "sum": _rub(total)}]
    return msgspec.json.encode(body)


#: Ten marked goods a receipt, v5: a marketplace's receipts (shoes, clothes, perfume and medicine are marked).
MARKETPLACE = [marketplace_json(r, k) for k, r in enumerate(samples.receipts(BATCH, 10, seed=9, ffd=4))]


def _decoded(body: bytes, **kw: Any) -> Any:
    """:func:`validate` with the decoder's reading only (no byte reader)."""
    v = selector._fast(body, kw["version"], kw["operation"], kw["group_inn"], kw["group_ffd"], None, "")
    return v if v is not None else validate_spec(body, **kw)


@pytest.mark.parametrize("path", ["validate", "decoded", "spec"])
@pytest.mark.parametrize("items", [1, 10, 100])
@pytest.mark.parametrize("version", [4, 5])
def bench_validate(benchmark: Any, version: int, items: int, path: str) -> None:
    bodies = REQUESTS[(version, items)]
    ffd = "1.05" if version == 4 else "1.2"
    check = {"validate": validate, "decoded": _decoded, "spec": validate_spec}[path]
    for body in bodies:  # every sample must be valid, or the figure would time the error path
        check(body, version=version, operation="sell", group_inn=INN, group_ffd=ffd)
    fast = sum(selector._fast(body, version, "sell", INN, ffd, None) is not None for body in bodies)
    benchmark.group = f"validate-{items}"

    def run() -> None:
        for body in bodies:
            check(body, version=version, operation="sell", group_inn=INN, group_ffd=ffd)

    benchmark(run)
    per_item(benchmark, BATCH, "request")
    benchmark.extra_info["mean_bytes"] = sum(map(len, bodies)) // BATCH
    benchmark.extra_info["fast_path_share"] = round(fast / BATCH, 2) if path != "spec" else 0


@pytest.mark.parametrize("path", ["validate", "spec"])
def bench_validate_marked(benchmark: Any, path: str) -> None:
    """Ten marked goods a receipt (v5): the marking codes' checks on top of the items'."""
    check = {"validate": validate, "spec": validate_spec}[path]
    for body in MARKETPLACE:
        v = check(body, version=5, operation="sell", group_inn=INN, group_ffd="1.2")
        assert len(v.mark_codes) == 10
    benchmark.group = "validate-marked"

    def run() -> None:
        for body in MARKETPLACE:
            check(body, version=5, operation="sell", group_inn=INN, group_ffd="1.2")

    benchmark(run)
    per_item(benchmark, BATCH, "request")
    benchmark.extra_info["fast_path_share"] = (
        round(sum(selector._fast(b, 5, "sell", INN, "1.2", None) is not None for b in MARKETPLACE) / BATCH, 2)
        if path == "validate"
        else 0
    )
