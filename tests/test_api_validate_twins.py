"""The compiled ATOL validator (fiscal_core._native._validate) against its twin (fiscal_core.api._validate_py).

The compiled module is the twin's own source compiled by Cython, so any difference is a Cython semantics trap
(negative indexes, integer division, exception chaining, ``isinstance`` on compiled classes …). Seed bodies of
every operation and both API versions are mutated at random — a value replaced by one from a pool of awkward
values, a key dropped or added, bytes cut — and both implementations must answer alike: the same Validated
(document, warnings, hash, marks) or the same refusal (ATOL code, every issue's path, code and message).

``FISCAL_CORE_VALIDATE_TWINS=N`` sets the number of mutated bodies (CI: 400; the issue's heavy check: 100,000).
"""

from __future__ import annotations

import copy
import json
import os
import random
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from test_api_validate import FFD, INN, correction, item, sell, v5_example

from fiscal_core.api import validate as selector

IMPLS = selector.implementations()
pytestmark = pytest.mark.skipif("native" not in IMPLS, reason="the compiled validator is not built")

N = int(os.environ.get("FISCAL_CORE_VALIDATE_TWINS", "400"))
POOL: list[Any] = [
    None, "", " ", "x" * 300, "Привет «мир» €", "\u0000", -1, 0, 1, 0.005, 1.005, 99999.999, 100000, 1e20, -0.0,
    42949672.95, 42949672.96, "100", "NaN", [], {}, [1], {"a": 1}, True, False, "vat20", "vat22", "vat122", "vat5",
    "none", "full_payment", "commodity", "osn", "usn_income", 33, 2, "01.06.2026 13:45:00", "31.02.2026 10:00:00",
    "5544332219", "7707083893", "500123456750", "1234567890", "a@b.ru", "+79001234567", "@@", 10**30,
]  # fmt: skip
CASES = [
    (4, "sell", lambda: sell(4, items=[item(4), item(4, name="Кофе", price=250.5, quantity=2, sum=501)])),
    (5, "sell", lambda: sell(5, items=[item(5), item(5, price=10.25, quantity=0.4, sum=4.1)])),
    (5, "sell", v5_example),
    (4, "sell_refund", lambda: sell(4)),
    (5, "buy", lambda: sell(5)),
    (4, "sell_correction", lambda: correction(4)),
    (5, "sell_correction", lambda: correction(5)),
]


def paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*at, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*at, i))
    return out


def mutate(body: dict[str, Any], rng: random.Random) -> bytes:
    body = copy.deepcopy(body)
    for _ in range(rng.randint(1, 3)):
        target = rng.choice(paths(body)[1:])
        parent = body
        for key in target[:-1]:
            parent = parent[key]
        kind = rng.random()
        if kind < 0.7:
            parent[target[-1]] = copy.deepcopy(rng.choice(POOL))
        elif kind < 0.85 and isinstance(parent, dict):
            del parent[target[-1]]
        elif isinstance(parent, dict):
            parent[rng.choice(["unknown", "extra_field", "name"])] = copy.deepcopy(rng.choice(POOL))
    data = json.dumps(body, ensure_ascii=rng.random() < 0.5, default=str).encode()
    if rng.random() < 0.05:
        data = data[: rng.randrange(len(data) + 1)]
    return data


def outcome(impl: Any, data: bytes, version: int, operation: str) -> Any:
    try:
        v = impl.validate(data, version=version, operation=operation, group_inn=INN, group_ffd=FFD[version])
    except impl.RequestInvalid as exc:
        return ("refused", exc.atol_code, [(i.path, i.code, i.message) for i in exc.issues])
    return ("ok", msgspec.to_builtins(v, builtin_types=(Decimal,)))


def test_the_compiled_validator_answers_as_its_twin() -> None:
    rng = random.Random(20261123)
    py, native = IMPLS["py"], IMPLS["native"]
    refused = 0
    for k in range(N):
        version, operation, make = CASES[k % len(CASES)]
        data = mutate(make(), rng) if k >= len(CASES) else json.dumps(make(), default=str).encode()
        want = outcome(py, data, version, operation)
        assert outcome(native, data, version, operation) == want, data
        refused += want[0] == "refused"
    # The mutations reach both answers (a mutator that only breaks JSON would prove little).
    assert 0 < refused < N
