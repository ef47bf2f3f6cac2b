"""Request bodies for the load suites, encoded once at start-up (issue 8).

Rules
- Receipts come from ``fiscal_core.samples.receipts`` (seeded: Cyrillic names, weighed and piece goods, marked
  goods with a GS1 DataMatrix code in ``mark_code.gs1m``), written as the JSON an ATOL v5 client sends, with a
  seeded mix of the 2026 VAT types (``vat22``, ``vat10``, ``vat122``, ``vat0``, ``none``).
- Every body is encoded to bytes once, with an external_id placeholder; a request splices a fresh id into the
  pre-encoded bytes (``Template.render``: one ``bytes.join``), so the client spends no CPU on JSON and every
  external_id is unique across a run (the run id is part of it).
- Nothing here does I/O; the locustfiles import it.
"""

from __future__ import annotations

import base64
import itertools
import os
import random
import time
from decimal import Decimal
from typing import Any

import msgspec

from fiscal_core import samples

__all__ = ["GROUP", "INN", "RUN_ID", "Template", "atol_sell", "bulk_batch", "next_id", "utility_sell"]

GROUP = "sandbox-v5"
INN = "5544332219"
PLACEHOLDER = "@@EXTERNAL-ID@@"
#: Unique per locust process: the wall clock in ms and the pid (a restarted run never repeats an id).
RUN_ID = os.environ.get("FC_LOAD_RUN_ID") or f"{int(time.time() * 1000):x}-{os.getpid()}"
_VATS = ("vat22", "vat22", "vat22", "vat10", "vat122", "vat110", "vat0", "none")
_counter = itertools.count(1)


def next_id(prefix: str) -> str:
    return f"{prefix}-{RUN_ID}-{next(_counter)}"


class Template:
    """Pre-encoded bytes with placeholders: ``render(ids)`` joins them with the ids, nothing else."""

    __slots__ = ("count", "parts")

    def __init__(self, encoded: bytes) -> None:
        self.parts = encoded.split(PLACEHOLDER.encode())
        self.count = len(self.parts) - 1
        if self.count < 1:
            raise ValueError("a template needs at least one external_id placeholder")

    def render(self, ids: list[str]) -> bytes:
        if len(ids) != self.count:
            raise ValueError(f"{self.count} ids expected, got {len(ids)}")
        out = [self.parts[0]]
        for ext, part in zip(ids, self.parts[1:], strict=True):
            out.append(ext.encode())
            out.append(part)
        return b"".join(out)


def _rub(kopecks: int) -> int | float:
    """Roubles as a JavaScript client prints them: 528 for a whole amount, 527.99 otherwise."""
    return kopecks // 100 if kopecks % 100 == 0 else kopecks / 100


def _number(value: int | Decimal) -> int | float:
    return value if isinstance(value, int) else float(value)


def _company() -> dict[str, str]:
    return {"email": "chek@shop.example.ru", "sno": "osn", "inn": INN, "payment_address": "shop.example.ru"}


def atol_sell(receipt: Any, rng: random.Random) -> dict[str, Any]:
    """``receipt`` (a ``fiscal_core`` model) as an ATOL v5 ``sell`` body, external_id left as the placeholder."""
    items = []
    for it in receipt.items:
        item: dict[str, Any] = {
            "name": it.name,
            "price": _rub(it.price),
            "quantity": _number(it.quantity),
            "sum": _rub(it.sum),
            "measure": int(it.measure or 0),
            "payment_method": "full_payment",
            "payment_object": int(it.subject),
            "vat": {"type": rng.choice(_VATS)},
        }
        if it.marking is not None:
            full = f"{it.marking.code}\x1d91EE10\x1d92{'A' * 44}"
            item.update(mark_code={"gs1m": base64.b64encode(full.encode()).decode()}, mark_processing_mode="0")
        items.append(item)
    return {
        "external_id": PLACEHOLDER,
        "timestamp": "23.11.2026 12:00:00",
        "service": {"callback_url": ""},
        "receipt": {
            "client": {"email": "buyer@example.ru"},
            "company": _company(),
            "items": items,
            "payments": [{"type": 1, "sum": _rub(receipt.total)}],
            "total": _rub(receipt.total),
            "cashier": receipt.cashier,
        },
    }


def sells(count: int, n_items: int, seed: int) -> list[Template]:
    """``count`` distinct pre-encoded ATOL v5 sell bodies of ``n_items`` each."""
    rng = random.Random(seed)
    return [
        Template(msgspec.json.encode(atol_sell(r, rng)))
        for r in samples.receipts(count, n_items, seed=seed, ffd=4)  # ffd=4: FFD 1.2
    ]


_UTILITY = [
    ("Электроэнергия, день, кВт·ч", 50, 688, "vat22"),
    ("Электроэнергия, ночь, кВт·ч", 50, 312, "vat22"),
    ("Холодное водоснабжение, м³", 42, 5_341, "vat22"),
    ("Горячее водоснабжение, м³", 42, 27_106, "vat22"),
    ("Водоотведение, м³", 42, 4_218, "vat22"),
    ("Отопление, Гкал", 51, 317_452, "vat22"),
    ("Вывоз ТКО, чел.", 255, 29_874, "none"),
    ("Содержание жилого помещения, м²", 32, 3_860, "vat0"),
    ("Взнос на капитальный ремонт, м²", 32, 1_790, "none"),
]


def utility_sell(rng: random.Random) -> dict[str, Any]:
    """A utility's payment: 2–6 services by meter reading (fractional quantities), paid by card online."""
    items = []
    total = 0
    for name, measure, price, vat in rng.sample(_UTILITY, rng.randint(2, 6)):
        qty = Decimal(rng.randrange(1_000, 250_000)).scaleb(-3) if measure != 255 else Decimal(rng.randint(1, 4))
        amount = int((price * qty).quantize(Decimal(1), rounding="ROUND_HALF_UP"))
        items.append(
            {
                "name": name,
                "price": _rub(price),
                "quantity": float(qty),
                "sum": _rub(amount),
                "measure": measure,
                "payment_method": "full_payment",
                "payment_object": 4,  # услуга
                "vat": {"type": vat},
            }
        )
        total += amount
    return {
        "external_id": PLACEHOLDER,
        "timestamp": "30.11.2026 21:00:00",
        "service": {"callback_url": ""},
        "receipt": {
            "client": {"email": f"ls{rng.randrange(10**9, 10**10)}@example.ru"},
            "company": _company(),
            "items": items,
            "payments": [{"type": 1, "sum": _rub(total)}],
            "total": _rub(total),
        },
    }


def utility_sells(count: int, seed: int) -> list[Template]:
    rng = random.Random(seed)
    return [Template(msgspec.json.encode(utility_sell(rng))) for _ in range(count)]


def bulk_batch(receipts: list[Any], rng: random.Random) -> Template:
    """One native bulk body (``{"receipts": [...]}``): ATOL v5 sells with ``group_code`` and ``operation``."""
    bodies = [{"group_code": GROUP, "operation": "sell", **atol_sell(r, rng)} for r in receipts]
    return Template(msgspec.json.encode({"receipts": bodies}))


def bulk_batches(count: int, batch: int, n_items: int, seed: int) -> list[Template]:
    """``count`` distinct batch templates; receipts are drawn from a pool of 64 seeded ones."""
    rng = random.Random(seed)
    pool = samples.receipts(64, n_items, seed=seed, ffd=4)
    return [bulk_batch([rng.choice(pool) for _ in range(batch)], rng) for _ in range(count)]


def token_body() -> bytes:
    return msgspec.json.encode({"login": "sandbox", "pass": "sandbox"})
