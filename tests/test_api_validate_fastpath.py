"""The validation fast path (fiscal_core.api._fastpath_py and its compiled copy) against the spec.

The fast path may decline (None) anything; what it answers must be the spec's answer to the byte: the same
document (Decimal quantities compared by their text), msgpack, hash and envelope. Three corpora:
- random *valid* receipts of every shape the fast path claims (both versions, the four receipt operations,
  money as JSON int, fraction or string, every VAT type, receipt-level ``vats`` with and without sums, split
  payments with change, optional fields present, empty or null, unknown keys) — most must take the fast path;
- the twin test's mutations of those receipts (awkward values, dropped and added keys, cut bytes);
- hand-picked traps where plain-value checks and the spec's typed decode could part: ``true`` for 1, duplicate
  keys, numbers as strings with spaces or signs, exponents, ``1.``, huge zeros, fields of the other version.

``FISCAL_CORE_FASTPATH_CASES=N`` sets the size of each random corpus (CI: 1,500; the heavy check: 100,000).
"""

from __future__ import annotations

import base64
import json
import os
import random
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_api_validate import FFD, FULL_CODE, INN, b64, item, sell
from test_api_validate_twins import mutate

from fiscal_core import _impl
from fiscal_core.api import _fastpath_py, atol
from fiscal_core.api import validate as selector

FAST = selector.implementations(fast=True)
SPEC = selector.implementations()
N = int(os.environ.get("FISCAL_CORE_FASTPATH_CASES", "1500"))
OPERATIONS = ["sell", "sell_refund", "buy", "buy_refund"]
VAT_TYPES = list(atol.VAT_TYPES)
SNO_BIT = {k: int(v) for k, v in atol.SNO.items()}


@pytest.fixture(params=sorted(FAST))
def fast(request: pytest.FixtureRequest) -> Any:
    module = FAST[request.param]
    module.bind(selector._module)
    return module


def spec_outcome(data: bytes, version: int, operation: str, group_sno: int | None, prefix: str = "") -> Any:
    try:
        v = selector.validate_spec(
            data,
            version=version,
            operation=operation,
            group_inn=INN,
            group_ffd=FFD[version],
            group_sno=group_sno,
            path_prefix=prefix,
        )
    except selector.RequestInvalid:
        return None
    return canonical(v)


def canonical(v: Any) -> Any:
    """Every field, Decimals as their text (0.3 and 0.30 are equal Decimals but different msgpack)."""
    return json.dumps(msgspec.to_builtins(v), sort_keys=True, default=str)


def check(fast: Any, data: bytes, version: int, operation: str, group_sno: int | None = None, prefix: str = "") -> bool:
    """Assert the fast path agrees with the spec on ``data``; True when it answered."""
    got = fast.validate_fast(data, version, operation, INN, FFD[version], group_sno, prefix)
    read = fast.scan(data)  # the byte reader's reading must get the same answer as the decoder's
    if read is not None:
        again = fast.validate_decoded(read, version, operation, INN, FFD[version], group_sno, prefix, True)
        assert (again is None) == (got is None), data
        assert again is None or canonical(again) == canonical(got), data
    if got is None:
        return False
    want = spec_outcome(data, version, operation, group_sno, prefix)
    assert want is not None, f"the fast path accepted what the spec refuses: {data!r}"
    assert canonical(got) == want, data
    assert got.packed == msgspec.msgpack.encode(got.document)
    return True


# --------------------------------------------------------------------------- random valid receipts


def money(rng: random.Random, kopecks: int) -> Any:
    """Kopecks as a client might write roubles: a JSON int, a fraction, a string, with trailing zeros."""
    rub = Decimal(kopecks) / 100
    kind = rng.random()
    if kopecks % 100 == 0 and kind < 0.3:
        return kopecks // 100
    if kind < 0.8:
        return float(rub)
    if kind < 0.9:
        return f"{rub:.2f}"
    return Decimal(f"{rub:.2f}") if rng.random() < 0.5 else f"{rub:.2f}0"


def quantity(rng: random.Random) -> tuple[Any, Decimal]:
    kind = rng.random()
    if kind < 0.5:
        n = rng.randint(1, 20)
        return (n if rng.random() < 0.7 else float(n)), Decimal(n)
    q = Decimal(rng.randint(1, 99_999_999 if kind > 0.95 else 20_000)) / 1000
    return (float(q) if rng.random() < 0.8 else str(q)), q


def receipt(rng: random.Random, version: int) -> tuple[dict[str, Any], int | None]:
    """A valid receipt request the fast path is meant to take, and the group's 1062 bitmask to validate with."""
    n_items = rng.choice([1, 1, 2, 3, 5, 10, rng.randint(1, 100)])
    receipt_vats = rng.random() < 0.4
    rates = rng.sample(VAT_TYPES, rng.randint(1, 3)) if receipt_vats else VAT_TYPES
    items = []
    total = 0
    for _ in range(n_items):
        price = rng.choice([0, 1, 99, 100, 1000, 12345, 99_999_99, rng.randint(0, 5_000_000)])
        marked = version == 5 and rng.random() < 0.2
        q_json, q = (1, Decimal(1)) if marked else quantity(rng)
        amount = int((price * q).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        total += amount
        it: dict[str, Any] = {
            "name": rng.choice(
                [
                    "Товар",
                    "колбаса Клинский Брауншвейгская с/к в/с",
                    "Coffee 250 g",
                    "x" * 128,
                    "Молоко «Домик в деревне» 3,2%",
                    "Кофе — 250 г, €5",
                    "Чай\u00a0№1",
                    "я" * 120 + "€",
                ]
            ),
            "price": money(rng, price),
            "quantity": q_json,
            "sum": money(rng, amount),
        }
        rate = rng.choice(rates)
        if not (receipt_vats and len(rates) == 1 and rng.random() < 0.5):
            vat: dict[str, Any] = {"type": rate}
            if rng.random() < 0.3:
                vat["sum"] = 0 if rate in ("none", "vat0") else money(rng, amount // 10)
            elif rng.random() < 0.1:
                vat["sum"] = None
            it["vat"] = vat
        if version == 5:
            it["payment_method"] = rng.choice(list(atol.PAYMENT_METHODS))
            it["payment_object"] = rng.choice(list(atol.PAYMENT_OBJECTS_V5))
            it["measure"] = rng.choice([0, 0, 11, 12, 255])
            if rng.random() < 0.1:
                it["wholesale"] = rng.random() < 0.5
            if marked:
                it["mark_code"] = rng.choice(
                    [{"gs1m": b64(FULL_CODE)}, {"gs1m": b64(FULL_CODE[:31])}, {"ean13": "4600000000017"},
                     {"short": "010460043993125621JgXJ5.T"}, {"gs1m": b64(FULL_CODE), "unknown": None}]
                )  # fmt: skip
                if rng.random() < 0.7:
                    it["mark_processing_mode"] = "0"
                if rng.random() < 0.3:
                    it["planned_status"] = rng.randint(1, 6)
        else:
            if rng.random() < 0.9:
                it["payment_method"] = rng.choice(list(atol.PAYMENT_METHODS))
            if rng.random() < 0.9:
                it["payment_object"] = rng.choice(list(atol.PAYMENT_OBJECTS_V4))
            if rng.random() < 0.5:
                it["measurement_unit"] = rng.choice(["шт", "кг", "Упаковка 10 шт.", "", "м²", "“уп”"])
            if rng.random() < 0.05:
                it["nomenclature_code"] = rng.choice(["", None])
        if rng.random() < 0.05:
            it["user_data"] = None
        if rng.random() < 0.05:
            it["comment"] = "unknown keys are ignored"
        items.append(it)
    # Payments: 1-4 of kinds 0-4 adding up to the total, sometimes with change in cash.
    parts = sorted(rng.randint(0, total) for _ in range(rng.randint(0, 3)))
    sums = [b - a for a, b in zip([0, *parts], [*parts, total], strict=True)]
    kinds = [rng.randint(0, 4) for _ in sums]
    change = rng.choice([0, 0, 0, 50, 1000])
    if change:
        kinds[0], sums[0] = 0, sums[0] + change
    payments = [{"type": k, "sum": money(rng, s)} for k, s in zip(kinds, sums, strict=True)]
    body: dict[str, Any] = {
        "client": rng.choice(
            [{"email": "kkt@kkt.ru"}, {"phone": "+79001234567"}, {"email": "", "phone": "8 (900) 123-45-67"},
             {"email": "buyer@example.ru", "phone": "9001234567"}, {"email": "a@b.ru", "name": None}]
        ),
        "company": {"email": "chek@romashka.ru", "inn": rng.choice([INN, f" {INN} "]),
                    "payment_address": "http://magazin.ru/"},
        "items": items,
        "payments": payments,
        "total": money(rng, max(0, total + rng.randint(-99, 99)) if rng.random() < 0.1 else total),
    }  # fmt: skip
    sno = rng.choice(list(atol.SNO))
    group_sno: int | None = None
    if rng.random() < 0.8:
        body["company"]["sno"] = sno
        group_sno = rng.choice([None, SNO_BIT[sno], SNO_BIT[sno] | SNO_BIT["osn"]])
    else:
        group_sno = SNO_BIT[sno]  # one registered tax system: sno may be omitted
        if rng.random() < 0.5:
            body["company"]["sno"] = rng.choice(["", None])
    if rng.random() < 0.2:
        body["company"]["location"] = rng.choice(["", "г. Москва, ул. Ленина, 1"])
    if receipt_vats:
        vats = []
        for rate in rates:
            v: dict[str, Any] = {"type": rate}
            if rng.random() < 0.5:
                v["sum"] = 0 if rate in ("none", "vat0") else money(rng, rng.randint(0, total))
            vats.append(v)
        body["vats"] = vats
    if rng.random() < 0.3:
        body["cashier"] = rng.choice(["Иванов И.И.", "", None, "Пётр — старший кассир"])
    if rng.random() < 0.2:
        body["internet"] = rng.choice([True, False, None])
    if rng.random() < 0.1:
        body["cashless_payments"] = None
    request: dict[str, Any] = {
        "external_id": f"ext-{rng.randrange(10**12)}",
        "timestamp": rng.choice(["01.06.2026 13:45:00", "23.11.2026 00:00:59"]),
        "receipt": body,
    }
    if rng.random() < 0.5:
        request["service"] = {"callback_url": rng.choice(["", "https://shop.example/cb?id=1", None, "ftp://x"])}
    if version == 5 and rng.random() < 0.3:
        request["ism_optional"] = rng.random() < 0.5
    if rng.random() < 0.1:
        request["group_code"] = "bulk APIs send these beside the request"
    return request, group_sno


def dumps(rng: random.Random, body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=rng.random() < 0.5, default=str).encode()


def test_every_receipt_the_spec_accepts_takes_the_fast_path_and_gets_the_specs_answer(fast: Any) -> None:
    rng = random.Random(2611231)
    taken = accepted = 0
    for k in range(N):
        version = 4 + k % 2
        body, group_sno = receipt(rng, version)
        prefix = rng.choice(["", "", "receipts[7]."])  # the bulk API's paths
        data, operation = dumps(rng, body), rng.choice(OPERATIONS)
        took = check(fast, data, version, operation, group_sno, prefix)
        taken += took
        if not took and spec_outcome(data, version, operation, group_sno, prefix) is not None:
            pytest.fail(f"the fast path declined a receipt of a shape it handles: {data!r}")
        accepted += took
    # The generator's refusals are the spec's errors (a vats sum above the total, a text too long, ...).
    assert accepted > N * 0.4, f"only {accepted} of {N} generated receipts are valid"


def test_mutated_receipts_get_the_specs_answer_or_go_to_the_spec(fast: Any) -> None:
    rng = random.Random(2611232)
    taken = 0
    for k in range(N):
        version = 4 + k % 2
        body, group_sno = receipt(rng, version)
        taken += check(fast, mutate(body, rng), version, rng.choice(OPERATIONS), group_sno)
    assert 0 < taken < N  # mutations both keep and break receipts


# --------------------------------------------------------------------------- traps

PLAIN = sell(4)


def edited(version: int, path: tuple[Any, ...], value: Any) -> bytes:
    body = json.loads(json.dumps(sell(version), default=str))
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(body, default=str).encode()


TRAPS: list[tuple[int, tuple[Any, ...], Any]] = [
    (4, ("receipt", "payments", 0, "type"), True),
    (4, ("receipt", "payments", 0, "type"), 1.0),
    (5, ("receipt", "items", 0, "measure"), False),
    (5, ("receipt", "items", 0, "payment_object"), True),
    (4, ("receipt", "items", 0, "price"), " 100"),
    (4, ("receipt", "items", 0, "price"), "+100"),
    (4, ("receipt", "items", 0, "price"), "1e2"),
    (4, ("receipt", "items", 0, "price"), "100."),
    (4, ("receipt", "items", 0, "price"), "1_00"),
    (4, ("receipt", "items", 0, "price"), "-0"),
    (4, ("receipt", "items", 0, "price"), "100.000000000000000000000000000000001"),
    (4, ("receipt", "items", 0, "price"), "0100.00"),
    (4, ("receipt", "items", 0, "quantity"), "1.0000"),
    (4, ("receipt", "items", 0, "quantity"), 10**30),
    (4, ("receipt", "items", 0, "vat", "sum"), "0E-99"),
    (4, ("receipt", "items", 0, "name"), "Кофе «Арабика» — 250 г"),
    (4, ("receipt", "items", 0, "name"), "\u200b\u200b"),
    (4, ("receipt", "items", 0, "name"), "я" * 128 + "€"),
    (4, ("receipt", "company", "location"), "\u200b"),
    (4, ("receipt", "company", "payment_address"), "shop «one»"),
    (4, ("receipt", "total"), 100.99),
    (4, ("receipt", "total"), 99.01),
    (4, ("receipt", "items", 0, "name"), ""),
    (4, ("receipt", "items", 0, "measure"), 0),
    (5, ("receipt", "items", 0, "measurement_unit"), "шт"),
    (4, ("receipt", "items", 0, "mark_code"), {"gs1m": "AAAA"}),
    (5, ("receipt", "items", 0, "mark_code"), {"gs1m": "AAAA"}),
    (5, ("receipt", "items", 0, "mark_code"), {"gs1m": 5}),
    (5, ("receipt", "items", 0, "mark_code"), {"ean13": "123"}),
    (5, ("receipt", "items", 0, "mark_code"), {"ean13": "4600000000017", "ean8": "46000007"}),
    (5, ("receipt", "items", 0, "mark_code"), []),
    (5, ("receipt", "items", 0, "mark_processing_mode"), "1"),
    (5, ("receipt", "items", 0, "mark_processing_mode"), 0),
    (5, ("receipt", "items", 0, "planned_status"), 7),
    (5, ("receipt", "items", 0, "planned_status"), True),
    (5, ("receipt", "items", 0, "mark_quantity"), {"numerator": 1, "denominator": 2}),
    (4, ("receipt", "client", "email"), 5),
    (4, ("receipt", "client", "phone"), ""),
    (4, ("receipt", "client", "birthdate"), "01.01.1990"),
    (4, ("receipt", "company", "inn"), 5544332219),
    (4, ("receipt", "company", "sno"), ""),
    (4, ("receipt", "cashier_inn"), None),
    (4, ("receipt", "cashless_payments"), []),
    (4, ("receipt", "internet"), 1),
    (4, ("receipt", "total"), 99.5),
    (4, ("timestamp",), "1.6.2026 13:45:00"),
    (4, ("external_id",), "x" * 129),
    (4, ("service",), {"callback_url": "ftp://x"}),
    (5, ("source_id",), -1),
    (5, ("source_id",), 2**70),
    (5, ("ism_optional",), 1),
    (4, ("receipt",), []),
]


@pytest.mark.parametrize(("version", "path", "value"), TRAPS, ids=[f"{p[-1]}={v!r}"[:40] for _, p, v in TRAPS])
def test_traps_where_plain_checks_could_part_from_the_typed_decode(
    fast: Any, version: int, path: tuple[Any, ...], value: Any
) -> None:
    data = edited(version, path, value)
    check(fast, data, version, "sell")
    # The public entry point answers exactly as the spec, whichever took the request.
    try:
        want: Any = canonical(selector.validate_spec(data, version=version, operation="sell", group_inn=INN,
                                                     group_ffd=FFD[version]))  # fmt: skip
    except selector.RequestInvalid as exc:
        want = [(i.path, i.code) for i in exc.issues]
    try:
        got: Any = canonical(selector.validate(data, version=version, operation="sell", group_inn=INN,
                                               group_ffd=FFD[version]))  # fmt: skip
    except selector.RequestInvalid as exc:
        got = [(i.path, i.code) for i in exc.issues]
    assert got == want


def test_duplicate_keys_mean_the_last_one_in_both(fast: Any) -> None:
    good = json.dumps(sell(4)["receipt"]["items"][0]["price"])
    data = json.dumps(sell(4), default=str).replace('"price": ' + good, '"price": 5, "price": ' + good).encode()
    assert data.count(b'"price"') == 2
    assert check(fast, data, 4, "sell")
    bad = json.dumps(sell(4), default=str).replace('"price": ' + good, '"price": ' + good + ', "price": 5').encode()
    assert not check(fast, bad, 4, "sell")


def test_the_plain_receipts_and_the_benchmark_bodies_take_the_fast_path(fast: Any) -> None:
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
    import api_wrk

    for name, body in api_wrk.BODIES.items():
        version = int(name[1])
        assert check(fast, json.dumps(body).encode(), version, "sell"), name
    for version in (4, 5):
        for operation in OPERATIONS:
            assert check(fast, json.dumps(sell(version), default=str).encode(), version, operation)


def test_the_fast_path_leaves_corrections_other_versions_and_groups_to_the_spec(fast: Any) -> None:
    data = json.dumps(sell(4), default=str).encode()
    assert fast.validate_fast(data, 4, "sell_correction", INN, "1.05", None) is None
    assert fast.validate_fast(data, 4, "sell", INN, "1.2", None) is None  # the spec answers 21
    assert fast.validate_fast(data, 5, "sell", INN, "1.2", None) is None  # a v4 body is not a v5 one
    assert fast.validate_fast(data, 4, "sell", "7707083893", "1.05", None) is None  # another group's INN


def test_the_fields_read_in_full_are_every_field_of_their_structs() -> None:
    """A field added to the envelope or to ``company`` must be handled by the fast path before it ships."""
    envelope = set(atol.ReceiptRequestV4.__struct_fields__) | set(atol.ReceiptRequestV5.__struct_fields__)
    assert envelope == set(_fastpath_py._TOP_HANDLED)
    assert set(atol.Company.__struct_fields__) == set(_fastpath_py._COMPANY_HANDLED)


def test_the_selected_fast_path_is_the_compiled_one_when_the_core_is_required() -> None:
    if _impl.NO_EXTENSIONS:
        assert selector.FAST_IMPLEMENTATION == "py"
    elif _impl.REQUIRE_EXTENSIONS:
        assert selector.FAST_IMPLEMENTATION == "native"
    assert selector.FAST_IMPLEMENTATION in FAST
    assert SPEC  # the spec is always there


def test_the_cp866_scan_agrees_with_the_specs_pattern_on_every_bmp_character() -> None:
    pattern = _fastpath_py._NEEDS_MAP
    for c in range(0x10000):
        ch = chr(c)
        assert _fastpath_py._cp866("abc" + ch + "Жж") == (pattern.search(ch) is None), hex(c)


def test_names_of_any_characters_get_the_specs_answer(fast: Any) -> None:
    """Item names drawn from ASCII, Cyrillic, CP866's pseudographics and characters CP866 lacks."""
    rng = random.Random(2611233)
    pools = [range(0x20, 0x7F), range(0x400, 0x460), range(0x2500, 0x2570), range(0xA0, 0x180), range(0x2010, 0x2030)]
    taken = 0
    for _ in range(400):
        name = "".join(chr(rng.choice(rng.choice(pools))) for _ in range(rng.randint(1, 12)))
        taken += check(fast, edited(4, ("receipt", "items", 0, "name"), name), 4, "sell")
    assert 0 < taken < 400


def test_the_vat_share_on_c_integers_is_the_rates_own_rounding() -> None:
    # _vat_in restates VatRate.vat_included for speed (the compiled copy runs it on C integers); every rate with
    # VAT, every amount up to 100,000 kopecks and the largest ones a receipt can hold, rounded the same way.
    from fiscal_core.ffd.enums import VatRate

    shares = _fastpath_py._SHARES
    assert set(shares) == {int(r) for r in VatRate if r.included_fraction is not None}
    rng = random.Random(7)
    amounts = [*range(100_001), *(rng.randrange(4_294_967_296) for _ in range(10_000)), 4_294_967_295]
    for code, (num, base) in shares.items():
        rate = VatRate(code)
        assert [_fastpath_py._vat_in(g, num, base) for g in amounts] == [rate.vat_included(g) for g in amounts]


GS1M_CODES = [
    FULL_CODE,
    "\xe8" + FULL_CODE[1:],  # byte 232 taken for FNC1 and dropped: what is left does not start with 01
    FULL_CODE[:31],  # GTIN and serial only
    "]d2" + FULL_CODE,  # a scanner's symbology identifier
    "\x1d" + FULL_CODE,  # a leading FNC1 sent as GS
    FULL_CODE.replace("\x1d", ""),  # separators dropped: the serial's end guessed from 91
    "0104650117240408215NNm8ZT93AbCd",  # tobacco's 7-character serial then 93
    "0104650117240408215NNm8ZTRG6;0I" + "X" * 200,  # longer than 1305 allows
    "01046501172404X8215NNm8ZTRG6;0I",  # GTIN not all digits
    "0204650117240408215NNm8ZTRG6;0I",  # not 01 first
    "01046501172404082",  # too short
]


def _gs1m_values() -> list[Any]:
    values: list[Any] = [base64.b64encode(code.encode("latin-1")).decode() for code in GS1M_CODES]
    values.append("\u00e8" + b64(FULL_CODE))  # FNC1 as a character before the base64: not base64
    values.append(base64.b64encode(b"\xe8" + FULL_CODE.encode()).decode())  # FNC1 as byte 232, then the code
    values.append(base64.b64encode("код".encode()).decode())  # base64 of text that is not ASCII
    values += [b64(FULL_CODE)[:-1], b64(FULL_CODE) + "!", b64(FULL_CODE).rstrip("="), "", " ", 5, None]
    return values


def test_marked_goods_of_every_gs1m_form_get_the_specs_answer(fast: Any) -> None:
    """The gs1m code read without the spec's stand-in item (the common marked good) against the spec: every
    form of code with and without a processing mode, a planned status, another code beside it, a quantity
    other than one. Each valid form must take the fast path, everything else may go to the spec."""
    taken = 0
    for value in _gs1m_values():
        for mode in (None, "0", "1", 0):
            for extra in ({}, {"planned_status": 2}, {"quantity": 2, "sum": 200}, {"quantity": 0.5, "sum": 50}):
                for other in ({}, {"ean13": "4600000000017"}, {"unknown": "x"}):
                    it = item(5, mark_code={"gs1m": value, **other}, **extra)
                    if mode is not None:
                        it["mark_processing_mode"] = mode
                    data = json.dumps(sell(5, items=[it, item(5)]), default=str).encode()
                    took = check(fast, data, 5, "sell")
                    taken += took
                    plain = mode in (None, "0") and not extra and "ean13" not in other
                    if plain and spec_outcome(data, 5, "sell", None) is not None:
                        assert took, data  # the common marked good must not fall back to the spec
    assert taken >= 6 * 2 * 2, taken


#: What a gs1m code's bytes are built of: the parts the spec's ``_code_data`` and ``_gs1_product`` look at (an AIM
#: identifier, FNC1 as byte 232 or GS, the 01 GTIN, the 21 serial, the 91/93 tails with and without GS), each
#: sometimes spoiled (a letter in the GTIN, another identifier, a byte above 0x7F), so both sides of every
#: rule are drawn.
_SERIAL_CHARS = "0123456789AZaz;%=9"
# 13 and 7 characters: the serials whose end the spec guesses from a 91 or 93 after them; 20 and 21: at 1305's limit.
_SERIAL = st.one_of(
    *(st.text(_SERIAL_CHARS, min_size=k, max_size=k) for k in (7, 13, 20, 21)), st.text(_SERIAL_CHARS, max_size=40)
).map(str.encode)
_GS1_CODES = st.tuples(
    st.sampled_from(
        [b""] * 4 + [b"]d2", b"]C1", b"]Q3", b"]d", b"]", b"\xe8", b"\x1d", b"]d2\x1d", b"\xe8]C1", b"]d2]d2"]
    ),
    st.sampled_from([b"01"] * 4 + [b"02", b"0"]),
    st.one_of(
        *[st.text(alphabet="0123456789", min_size=14, max_size=14).map(str.encode)] * 4,
        st.sampled_from([b"04601234X67890", b"0460123456789:", b"/4601234567890"]),  # around the digits' range
    ),
    st.sampled_from([b"21"] * 4 + [b"22"]),
    _SERIAL,
    st.sampled_from(
        [
            b"",
            b"\x1d91EE10\x1d92" + b"A" * 44,
            b"91EE1092" + b"A" * 44,
            b"93AbCd",
            b"\x80",
            b"\x1d",
            b"91EE1092\x1d",
            b"93AbCd\x1d",
        ]
    ),
).map(b"".join)


@settings(max_examples=int(os.environ.get("FISCAL_CORE_GS1M_CASES", "1500")), deadline=None)
@given(code=_GS1_CODES, mode=st.sampled_from([None, "0"]))
def test_gs1m_codes_read_in_place_get_the_specs_answer(code: bytes, mode: str | None) -> None:
    """The common marked good's code read in place (prefixes, separators, the GTIN and serial, the guessed
    serial end, the 1305 limit) against the spec's own steps, on codes built from the pieces those steps look
    at: both implementations take every code the spec accepts, with the spec's answer, and only those."""
    it = item(5, mark_code={"gs1m": base64.b64encode(code).decode()})
    if mode is not None:
        it["mark_processing_mode"] = mode
    data = json.dumps(sell(5, items=[it]), default=str).encode()
    want = spec_outcome(data, 5, "sell", None)
    for name in sorted(FAST):
        module = FAST[name]
        module.bind(selector._module)
        took = check(module, data, 5, "sell")
        assert took == (want is not None), (name, code)
