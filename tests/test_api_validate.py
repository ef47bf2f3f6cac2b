"""ATOL v4/v5 request validation (fiscal_core.api.validate) and the wire contract (fiscal_core.api.atol).

Covers the cloud-api.md §1.12 examples, every operation in both API versions, each validation rule with its exact
path and code, CP866 substitution warnings, the decode-level errors and their ATOL codes, and two properties:
hypothesis-generated valid requests always validate into documents that pass check_sums/check_text and
encode_body for the group's FFD version; invalid mutations always raise RequestInvalid naming a path.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import re
import time
import uuid
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fiscal_core import samples
from fiscal_core.api import atol
from fiscal_core.api.validate import (
    ATOL_CALLBACK_MASK,
    FieldWarning,
    RequestInvalid,
    Validated,
    substitute_cp866,
    validate,
    validate_token_request,
)
from fiscal_core.ffd import cp866
from fiscal_core.ffd.enums import (
    AgentType,
    CorrectionType,
    ItemSubject,
    MeasureUnit,
    PaymentMethod,
    SettlementSign,
    TaxSystem,
    VatRate,
)
from fiscal_core.ffd.identifiers import inn_valid
from fiscal_core.ffd.receipt import (
    Agent,
    Correction,
    MarkingCode,
    Receipt,
    VatSum,
    check_sums,
    check_text,
    item_sum,
)
from fiscal_core.ffd.receipt_body import encode_body

INN = "5544332219"  # the ATOL sandbox group's INN (valid check digits)
INN2 = "7707083893"
INN12 = "500123456750"
FFD = {4: "1.05", 5: "1.2"}
IDENTITY = {4: samples.identity(ffd=2, inn=INN), 5: samples.identity(ffd=4, inn=INN)}
NUMBER = msgspec.json.Encoder(decimal_format="number")
FULL_CODE = "0104650117240408215NNm8ZTRG6;0I\x1d91EE10\x1d92" + "A" * 44


def b64(text: str) -> str:
    return base64.b64encode(text.encode("ascii")).decode()


# --------------------------------------------------------------------------- request builders


def v4_example(vat: str = "vat20", inn: str = "1234567891") -> dict[str, Any]:
    """cloud-api.md §1.12 verbatim, except the VAT type (vat18 there) and the INN when asked."""
    return {
        "external_id": "17052917561851307",
        "receipt": {
            "client": {"email": "kkt@kkt.ru"},
            "company": {"email": "chek@romashka.ru", "sno": "osn", "inn": inn, "payment_address": "http://magazin.ru/"},
            "items": [
                {
                    "name": "колбаса Клинский Брауншвейгская с/к в/с",
                    "price": 1000.00,
                    "quantity": 0.3,
                    "sum": 300.00,
                    "measurement_unit": "кг",
                    "payment_method": "full_payment",
                    "payment_object": "commodity",
                    "vat": {"type": vat},
                },
                {
                    "name": "яйцо Окское куриное С0 белое",
                    "price": 100.00,
                    "quantity": 1.0,
                    "sum": 100.00,
                    "measurement_unit": "Упаковка 10 шт.",
                    "payment_method": "full_payment",
                    "payment_object": "commodity",
                    "vat": {"type": "vat10"},
                },
            ],
            "payments": [{"type": 1, "sum": 400.0}],
            "vats": [{"type": vat, "sum": 45.76}, {"type": "vat10", "sum": 9.09}],
            "total": 400.0,
        },
        "service": {"callback_url": "http://testtest"},
        "timestamp": "01.02.2017 13:45:00",
    }


def v5_example() -> dict[str, Any]:
    """cloud-api.md §1.12's v5 sell, with a real-looking full GS1 DataMatrix code in ``gs1m``."""
    return {
        "external_id": "ord-42",
        "timestamp": "01.02.2026 13:45:00",
        "ism_optional": True,
        "service": {"callback_url": "https://shop.example/atol-cb"},
        "receipt": {
            "client": {"email": "buyer@example.com"},
            "company": {
                "email": "chek@shop.example",
                "sno": "osn",
                "inn": INN,
                "payment_address": "https://shop.example",
            },
            "items": [
                {
                    "name": "Кроссовки",
                    "price": 5000.0,
                    "quantity": 1,
                    "sum": 5000.0,
                    "measure": 0,
                    "payment_method": "full_payment",
                    "payment_object": 33,
                    "vat": {"type": "vat22"},
                    "mark_processing_mode": "0",
                    "mark_code": {"gs1m": b64(FULL_CODE)},
                }
            ],
            "payments": [{"type": 1, "sum": 5000.0}],
            "vats": [{"type": "vat22", "sum": 901.64}],
            "total": 5000.0,
        },
    }


def item(version: int = 4, **kw: Any) -> dict[str, Any]:
    it: dict[str, Any] = {
        "name": "Товар",
        "price": 100,
        "quantity": 1,
        "sum": 100,
        "payment_method": "full_payment",
        "vat": {"type": "vat20"},
    }
    it.update({"payment_object": "commodity"} if version == 4 else {"payment_object": 1, "measure": 0})
    it.update(kw)
    return it


def sell(version: int = 4, items: list[dict[str, Any]] | None = None, **receipt: Any) -> dict[str, Any]:
    """A minimal valid ``sell`` of API ``version``; ``receipt`` keys replace the body's."""
    items = items if items is not None else [item(version)]
    total = sum(Decimal(str(i["sum"])) for i in items)
    body: dict[str, Any] = {
        "client": {"email": "buyer@example.ru"},
        "company": {"email": "shop@example.ru", "sno": "osn", "inn": INN, "payment_address": "shop.example.ru"},
        "items": items,
        "payments": [{"type": 1, "sum": total}],
        "total": total,
    }
    body.update(receipt)
    return {"external_id": "ext-1", "timestamp": "23.11.2026 12:00:00", "receipt": body}


def correction(version: int = 4, **body: Any) -> dict[str, Any]:
    c: dict[str, Any] = {
        "company": {"sno": "osn", "inn": INN, "payment_address": "shop.example.ru"},
        "correction_info": {"type": "self", "base_date": "20.11.2026", "base_number": "б/н"},
        "payments": [{"type": 0, "sum": 100}],
    }
    if version == 4:
        c["vats"] = [{"type": "vat20", "sum": 16.67}]
    else:
        c["items"] = [item(5)]
        c["total"] = 100
    c.update(body)
    return {"external_id": "corr-1", "timestamp": "23.11.2026 12:00:00", "correction": c}


def raw(req: dict[str, Any]) -> bytes:
    return NUMBER.encode(req)


def check(req: dict[str, Any] | bytes, version: int = 4, operation: str = "sell", **kw: Any) -> Validated:
    kw.setdefault("group_inn", INN)
    kw.setdefault("group_ffd", FFD[version])
    data = req if isinstance(req, bytes) else raw(req)
    v = validate(data, version=version, operation=operation, **kw)
    doc = v.document
    check_sums(doc)
    check_text(doc)
    body = encode_body(IDENTITY[version], doc)
    assert body.total == doc.total
    return v


def refuse(req: dict[str, Any] | bytes, version: int = 4, operation: str = "sell", **kw: Any) -> RequestInvalid:
    kw.setdefault("group_inn", INN)
    kw.setdefault("group_ffd", FFD[version])
    data = req if isinstance(req, bytes) else raw(req)
    with pytest.raises(RequestInvalid) as info:
        validate(data, version=version, operation=operation, **kw)
    return info.value


def codes(exc: RequestInvalid) -> list[tuple[str, str]]:
    return [(i.path, i.code) for i in exc.issues]


def only(exc: RequestInvalid) -> tuple[str, str]:
    assert len(exc.issues) == 1, codes(exc)
    return exc.issues[0].path, exc.issues[0].code


# --------------------------------------------------------------------------- the §1.12 examples


def test_v4_example_is_refused_for_its_inn_only() -> None:
    # The PDF's INN 1234567891 has wrong check digits (ATOL itself fails it later with 2009 against the group).
    assert not inn_valid("1234567891")
    exc = refuse(v4_example(), group_inn=None)
    assert only(exc) == ("receipt.company.inn", "inn_checksum")
    assert exc.atol_code == 32 and exc.status_hint == 400


def test_v4_example() -> None:
    v = check(v4_example(inn=INN))
    doc = v.document
    assert type(doc) is Receipt and doc.settlement_sign is SettlementSign.SALE and doc.tax_system is TaxSystem.OSN
    first, second = doc.items
    assert (first.price, first.quantity, first.sum, first.vat) == (100000, Decimal("0.3"), 30000, VatRate.VAT20)
    assert (first.unit_name, first.method, first.subject) == ("кг", PaymentMethod.FULL_SETTLEMENT, ItemSubject.GOODS)
    assert (second.price, second.quantity, second.sum, second.vat) == (10000, 1, 10000, VatRate.VAT10)
    assert type(second.quantity) is int  # 1.0 is written as FVLN without a point
    assert doc.total == 40000 and doc.payments.electronic == 40000 and doc.payments.cash == 0
    assert [(int(x.rate), x.amount) for x in doc.vats or ()] == [(1, 4576), (2, 909)]  # receipt-level vats win
    assert doc.client_contact == "kkt@kkt.ru" and doc.sender_email == "chek@romashka.ru"
    assert doc.settlement_place == "http://magazin.ru/"
    assert v.callback_url == "http://testtest" and v.warnings == ()
    assert v.timestamp == dt.datetime(2017, 2, 1, 13, 45) and v.external_id == "17052917561851307"


def test_vat18_gives_the_documented_error_with_its_path() -> None:
    exc = refuse(v4_example(vat="vat18", inn=INN))
    assert codes(exc) == [
        ("receipt.vats[0].type", "vat_type_obsolete"),
        ("receipt.items[0].vat.type", "vat_type_obsolete"),
    ]
    assert "vat20" in exc.issues[0].message and "vat22" in exc.issues[0].message
    assert exc.atol_code == 32  # IncomingValidationException, as ATOL answers since 2019-04-01
    error = exc.atol_error()
    assert error.code == 32 and error.type == "system" and "receipt.items[0].vat.type" in error.text
    vat118 = v4_example(inn=INN)
    vat118["receipt"]["items"][1]["vat"]["type"] = "vat118"
    exc = refuse(vat118)
    assert only(exc) == ("receipt.items[1].vat.type", "vat_type_obsolete")
    assert "vat120" in exc.issues[0].message and "vat122" in exc.issues[0].message


def test_v5_example() -> None:
    v = check(v5_example(), version=5)
    (it,) = v.document.items
    assert it.marking == MarkingCode(kind=1305, code="0104650117240408215NNm8ZTRG6;0I")
    assert (it.measure, it.subject, it.vat, it.marking_mode) == (
        MeasureUnit.PIECE,
        ItemSubject.MARKED,
        VatRate.VAT22,
        0,
    )
    assert v.mark_codes == ((0, FULL_CODE),)  # the full code, crypto tail included, for the marking check
    assert v.ism_optional is True
    assert [(int(x.rate), x.amount) for x in v.document.vats or ()] == [(11, 90164)]
    assert VatRate.VAT22.vat_included(500000) == 90164


# --------------------------------------------------------------------------- operations and versions

RECEIPT_OPS = ["sell", "sell_refund", "buy", "buy_refund"]
CORRECTION_OPS = ["sell_correction", "buy_correction", "sell_refund_correction", "buy_refund_correction"]


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("operation", RECEIPT_OPS + CORRECTION_OPS)
def test_every_operation(version: int, operation: str) -> None:
    op = atol.OPERATIONS[operation]
    req = correction(version) if op.correction else sell(version)
    if version not in op.versions:
        exc = refuse(req, version, operation)
        assert only(exc) == ("", "operation_not_supported") and exc.atol_code == 31
        return
    v = check(req, version, operation)
    assert v.document.settlement_sign is op.settlement_sign and v.operation == operation and v.version == version
    assert isinstance(v.document, Correction) is op.correction
    body = encode_body(IDENTITY[version], v.document)
    assert body.form == (31 if op.correction else 3) and body.settlement_sign == int(op.settlement_sign)


def test_operation_table() -> None:
    assert {n: (int(o.settlement_sign), o.correction, sorted(o.versions)) for n, o in atol.OPERATIONS.items()} == {
        "sell": (1, False, [4, 5]),
        "sell_refund": (2, False, [4, 5]),
        "buy": (3, False, [4, 5]),
        "buy_refund": (4, False, [4, 5]),
        "sell_correction": (1, True, [4, 5]),
        "buy_correction": (3, True, [4, 5]),
        "sell_refund_correction": (2, True, [5]),
        "buy_refund_correction": (4, True, [5]),
    }
    assert atol.request_type(4, "sell") is atol.ReceiptRequestV4
    assert atol.request_type(5, "buy_refund_correction") is atol.CorrectionRequestV5
    with pytest.raises(KeyError):
        atol.request_type(4, "sell_refund_correction")


def test_unknown_operation_and_protocol_mismatch() -> None:
    exc = refuse(sell(), operation="sale")
    assert (exc.atol_code, exc.issues[0].code) == (31, "operation_not_supported")
    exc = refuse(sell(), 4, group_ffd="1.2")
    assert (exc.atol_code, exc.status_hint, exc.issues[0].code) == (21, 401, "protocol_mismatch")
    exc = refuse(sell(5), 5, group_ffd="1.05")
    assert exc.atol_code == 21
    with pytest.raises(ValueError, match="version 3"):
        validate(raw(sell()), version=3, operation="sell", group_inn=None, group_ffd="1.05")


# --------------------------------------------------------------------------- body and shape errors


def test_decode_errors_map_to_atol_codes() -> None:
    assert (refuse(b"{bad").atol_code, refuse(b"{bad").issues[0].code) == (40, "malformed_json")
    assert refuse(b"").atol_code == 40
    not_utf8 = raw(sell()).replace("Товар".encode(), "Товар".encode("cp1251"))
    exc = refuse(not_utf8)
    assert (exc.atol_code, exc.status_hint, exc.issues[0].code) == (41, 415, "not_utf8")
    exc = refuse(b"[1, 2]")
    assert (exc.atol_code, only(exc)) == (13, ("", "type"))
    assert check(b"\xef\xbb\xbf" + raw(sell())).external_id == "ext-1"  # a UTF-8 BOM is tolerated


def test_shape_errors_have_atol_paths() -> None:
    req = sell()
    del req["receipt"]["items"][0]["price"]
    assert only(refuse(req)) == ("receipt.items[0].price", "required")
    req = sell()
    req["receipt"]["items"][0]["name"] = 5
    assert only(refuse(req)) == ("receipt.items[0].name", "type")
    req = sell()
    req["receipt"]["items"][0]["price"] = "abc"
    assert only(refuse(req)) == ("receipt.items[0].price", "not_a_number")
    req = sell()
    del req["receipt"]
    assert only(refuse(req)) == ("receipt", "required")
    req = sell()
    req["receipt"]["payments"][0]["type"] = 1.5
    assert only(refuse(req)) == ("receipt.payments[0].type", "type")


def test_path_prefix_and_decoded_structs() -> None:
    req = sell()
    req["receipt"]["items"][0]["sum"] = 99
    exc = refuse(req, path_prefix="receipts[7].")
    assert only(exc) == ("receipts[7].receipt.items[0].sum", "sum_mismatch")
    exc = refuse(b"{", path_prefix="receipts[7].")
    assert only(exc) == ("receipts[7]", "malformed_json")
    struct = msgspec.json.decode(raw(sell()), type=atol.ReceiptRequestV4)
    from_struct = validate(struct, version=4, operation="sell", group_inn=INN, group_ffd="1.05")
    assert from_struct == check(sell())
    with pytest.raises(TypeError):
        validate(struct, version=5, operation="sell", group_inn=INN, group_ffd="1.2")


def test_issues_are_collected_in_document_order() -> None:
    req = sell(items=[item(name=""), item(price=1.234, sum=1.23), item(quantity=0, vat={"type": "vat19"})])
    req["receipt"]["company"]["inn"] = "123"
    req["receipt"]["client"] = {}
    exc = refuse(req)
    assert codes(exc) == [
        ("receipt.company.inn", "inn_format"),
        ("receipt.client", "contact_required"),
        ("receipt.items[0].name", "required"),
        ("receipt.items[1].price", "too_many_decimals"),
        ("receipt.items[2].quantity", "not_positive"),
        ("receipt.items[2].vat.type", "vat_type_unknown"),
    ]
    assert all(not i.retryable for i in exc.issues)
    d = exc.to_dict()
    assert d["atol_code"] == 32 and len(d["issues"]) == 6  # type: ignore[arg-type]


# --------------------------------------------------------------------------- envelope


def test_external_id_and_timestamp() -> None:
    req = sell()
    req["external_id"] = ""
    assert only(refuse(req)) == ("external_id", "required")
    req["external_id"] = "x" * 129
    assert only(refuse(req)) == ("external_id", "too_long")
    req = sell()
    req["external_id"] = "x" * 128
    assert check(req).external_id == "x" * 128
    for bad in ("2026-11-23 12:00:00", "31.02.2026 12:00:00", "23.11.2026 25:00:00", "23.11.2026"):
        req["timestamp"] = bad
        assert only(refuse(req)) == ("timestamp", "timestamp_format"), bad


def test_callback_url() -> None:
    req = sell()
    req["service"] = {"callback_url": ""}
    v = check(req)
    assert v.callback_url is None and v.warnings == () and v.atol_warnings is None
    req["service"] = {"callback_url": "ftp://example.com/cb"}
    v = check(req)
    assert v.callback_url is None
    assert v.warnings == (
        FieldWarning(path="service.callback_url", code="callback_url", message="callback_url не соответствует маске"),
    )
    assert v.atol_warnings == {"callback_url": "callback_url не соответствует маске"}
    for good in ("https://shop.example.ru/atol/cb?order=1&x=2", "http://магазин.рф/cb", "https://x.ru:8080/cb"):
        req["service"] = {"callback_url": good}
        assert check(req).callback_url == good
    req["service"] = {"callback_url": "https://" + "a" * 260}
    assert check(req).callback_url is None  # > 256 characters


def test_callback_mask_has_no_catastrophic_backtracking() -> None:
    req = sell()
    req["service"] = {"callback_url": "http://" + "a-" * 120 + "!"}
    start = time.perf_counter()
    assert check(req).callback_url is None
    assert time.perf_counter() - start < 0.5


@settings(max_examples=300)
@given(st.text(st.sampled_from("htps:/.-_aZяЯ09?:&=%#'\\,+ё!"), max_size=24))
@example("http://a")
@example("https://a.b:80/c")
@example("http://testtest")
@example("http://a-")
def test_callback_mask_is_atols(tail: str) -> None:
    """The ReDoS-safe rewrite accepts exactly what ATOL's verbatim mask accepts (on inputs short enough for it)."""
    from fiscal_core.api.validate import _CALLBACK

    for url in (tail, "http://" + tail, "https://" + tail):
        assert (_CALLBACK.fullmatch(url) is not None) == (re.match(ATOL_CALLBACK_MASK, url) is not None), url


# --------------------------------------------------------------------------- money and quantities


@pytest.mark.parametrize(
    ("price", "quantity", "total"),
    [
        ("19.99", "3", 5997),  # 19.99 × 3 = 59.97 exactly (the float product is 59.970000000000006)
        ("0.1", "3", 30),  # 0.1 × 3 = 0.3 (float: 0.30000000000000004)
        ("0.7", "0.3", 21),
        ("33.33", "0.3", 1000),  # 9.999 -> 10.00 half up
        ("0.05", "0.1", 1),  # 0.005 -> 0.01 half up
        ("42949672.95", "1", 4294967295),
        ("1.230", "1.000", 123),  # trailing zeros are not decimals
    ],
)
def test_money_is_exact(price: str, quantity: str, total: int) -> None:
    rub = Decimal(total).scaleb(-2)
    req = sell(items=[item(price=Decimal(price), quantity=Decimal(quantity), sum=rub)])
    v = check(req)
    (it,) = v.document.items
    assert it.price == int(Decimal(price) * 100) and it.sum == total == item_sum(it.price, it.quantity)
    assert v.document.total == total == v.document.payments.electronic


def test_float_text_is_parsed_as_written() -> None:
    body = raw(sell()).replace(b'"price":100', b'"price":19.99').replace(b'"sum":100', b'"sum":19.99')
    body = body.replace(b'"total":100', b'"total":19.99')
    assert check(body).document.items[0].price == 1999


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("1.999", "too_many_decimals"),
        ("0.001", "too_many_decimals"),
        ("-1", "negative"),
        ("42949672.96", "too_large"),
        ("1E+999999", "too_large"),
        ("1E-999999", "too_many_decimals"),
        ("NaN", "not_a_number"),
        ("Infinity", "not_a_number"),
    ],
)
def test_money_errors(value: str, code: str) -> None:
    req = sell()
    # NaN and Infinity are not JSON numbers: they arrive as strings, which msgspec's Decimal accepts.
    req["receipt"]["items"][0]["price"] = value if value in ("NaN", "Infinity") else Decimal(value)
    start = time.perf_counter()
    exc = refuse(req)
    assert time.perf_counter() - start < 0.1  # 1E-999999 once cost 0.2 s in as_integer_ratio
    assert exc.issues[0].path == "receipt.items[0].price" and exc.issues[0].code == code


def test_money_fields_all_checked() -> None:
    req = sell(vats=[{"type": "vat20", "sum": 16.666}])
    req["receipt"]["items"][0].update(excise=1.001, vat={"type": "vat20", "sum": 16.671})
    req["receipt"]["total"] = 100.001
    req["receipt"]["payments"][0]["sum"] = 100.001
    assert codes(refuse(req)) == [
        ("receipt.vats[0].sum", "too_many_decimals"),
        ("receipt.items[0].vat.sum", "too_many_decimals"),
        ("receipt.items[0].excise", "too_many_decimals"),
        ("receipt.total", "too_many_decimals"),
        ("receipt.payments[0].sum", "too_many_decimals"),
    ]


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("1.0", 1), ("0.300", Decimal("0.3")), ("99999.999", Decimal("99999.999")), ("2", 2), ("0.125", Decimal("0.125"))],
)
def test_quantity_normalised(quantity: str, expected: int | Decimal) -> None:
    q = Decimal(quantity)
    total = item_sum(100, q)
    req = sell(items=[item(price=1, quantity=q, sum=Decimal(total).scaleb(-2))])
    got = check(req).document.items[0].quantity
    assert got == expected and type(got) is type(expected) and str(got) == str(expected)


@pytest.mark.parametrize(
    ("quantity", "code"),
    [
        ("0.0001", "too_many_decimals"),
        ("1.2345", "too_many_decimals"),
        ("0", "not_positive"),
        ("-1", "not_positive"),
        ("100000", "too_large"),
    ],
)
def test_quantity_errors(quantity: str, code: str) -> None:
    req = sell(items=[item(quantity=Decimal(quantity))])
    assert refuse(req).issues[0].path == "receipt.items[0].quantity"
    assert refuse(req).issues[0].code == code


def test_item_sum_must_be_price_times_quantity() -> None:
    req = sell(items=[item(), item(price=10, quantity=0.333, sum=3.32)])  # 3.33 half up
    exc = refuse(req)
    assert only(exc) == ("receipt.items[1].sum", "sum_mismatch") and "3.33" in exc.issues[0].message
    req = sell(items=[item(price=42949672.95, quantity=2, sum=42949672.95)])
    assert only(refuse(req)) == ("receipt.items[0].sum", "too_large")


def test_total_may_be_rounded_by_up_to_99_kopecks() -> None:
    items = [item(price=100.37, sum=100.37)]
    req = sell(items=items, total=100, payments=[{"type": 0, "sum": 101}])
    v = check(req)
    assert v.document.total == 10037  # the items' sum wins (§1.5)
    assert v.document.payments.change(v.document.total) == 63
    (w,) = v.warnings
    assert (w.path, w.code) == ("receipt.total", "total_rounded") and "100.37" in w.message
    req = sell(items=items, total=101.36, payments=[{"type": 0, "sum": 101.36}])
    assert check(req).document.total == 10037
    req = sell(items=items, total=99.37, payments=[{"type": 0, "sum": 101}])
    assert only(refuse(req)) == ("receipt.total", "total_mismatch")
    req = sell(items=items, total=100, payments=[{"type": 1, "sum": 100}])  # card pays the rounded total only
    assert only(refuse(req)) == ("receipt.payments", "payments_insufficient")


def test_payments() -> None:
    req = sell(payments=[{"type": 0, "sum": 500}])
    assert check(req).document.payments.cash == 50000  # change from cash is fine
    req = sell(payments=[{"type": 1, "sum": 60}, {"type": 1, "sum": 40}, {"type": 2, "sum": 0}])
    p = check(req).document.payments
    assert (p.electronic, p.prepaid) == (10000, 0)
    req = sell(payments=[{"type": 0, "sum": 3}, {"type": 1, "sum": 102}])  # 5 back, but only 3 in cash
    assert only(refuse(req)) == ("receipt.payments", "change_not_cash")
    assert check(sell(payments=[{"type": 0, "sum": 5}, {"type": 1, "sum": 100}])).document.payments.cash == 500
    req = sell(payments=[{"type": 0, "sum": 50}, {"type": 1, "sum": 40}])
    assert only(refuse(req)) == ("receipt.payments", "payments_insufficient")
    req = sell(payments=[{"type": 0, "sum": 50}, {"type": 1, "sum": 49.99}])  # one kopeck short
    assert only(refuse(req)) == ("receipt.payments", "payments_insufficient")
    req = sell(payments=[{"type": 2, "sum": 20}, {"type": 3, "sum": 30}, {"type": 4, "sum": 50}])
    p = check(req).document.payments
    assert (p.prepaid, p.credit, p.provision) == (2000, 3000, 5000)
    for kind, code in (
        (5, "payment_type_unsupported"),
        (9, "payment_type_unsupported"),
        (10, "payment_type_unknown"),
        (-1, "payment_type_unknown"),
    ):
        req = sell(payments=[{"type": kind, "sum": 100}])
        assert only(refuse(req)) == ("receipt.payments[0].type", code)
    assert only(refuse(sell(payments=[]))) == ("receipt.payments", "count")
    assert codes(refuse(sell(payments=[{"type": 0, "sum": 10}] * 11)))[0] == ("receipt.payments", "count")


def test_item_and_vats_counts() -> None:
    assert only(refuse(sell(items=[]))) == ("receipt.items", "count")
    many = sell(items=[item()] * 101)
    assert codes(refuse(many))[0] == ("receipt.items", "count")
    assert len(check(sell(items=[item()] * 100)).document.items) == 100
    vats = [{"type": t} for t in ("vat20", "vat10", "vat0", "none", "vat110", "vat120", "vat5")]
    assert only(refuse(sell(vats=vats))) == ("receipt.vats", "count")
    req = sell(vats=[{"type": "vat20"}, {"type": "vat20"}])
    assert only(refuse(req)) == ("receipt.vats[1].type", "vat_duplicate")


# --------------------------------------------------------------------------- VAT


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("name", list(atol.VAT_TYPES))
def test_every_vat_type_in_both_versions(version: int, name: str) -> None:
    v = check(sell(version, items=[item(version, vat={"type": name})]), version)
    assert v.document.items[0].vat is atol.VAT_TYPES[name]


def test_vat_types_map_to_ffd_codes() -> None:
    assert {k: int(r) for k, r in atol.VAT_TYPES.items()} == {
        "none": 6,
        "vat0": 5,
        "vat5": 7,
        "vat7": 8,
        "vat10": 2,
        "vat20": 1,
        "vat22": 11,
        "vat105": 9,
        "vat107": 10,
        "vat110": 4,
        "vat120": 3,
        "vat122": 12,
    }


def test_item_vat_from_the_receipt_or_required() -> None:
    it = item()
    del it["vat"]
    v = check(sell(items=[it], vats=[{"type": "vat22"}]))
    assert v.document.items[0].vat is VatRate.VAT22
    assert v.document.vats is not None and v.document.vats[0].amount == VatRate.VAT22.vat_included(10000)
    assert only(refuse(sell(items=[it]))) == ("receipt.items[0].vat", "vat_required")
    assert only(refuse(sell(items=[it], vats=[{"type": "vat22"}, {"type": "vat10"}]))) == (
        "receipt.items[0].vat",
        "vat_required",
    )


def test_receipt_vats_for_none_and_vat0_hold_the_turnover() -> None:
    items = [item(vat={"type": "none"}), item(price=50, sum=50, vat={"type": "vat0"})]
    v = check(sell(items=items, vats=[{"type": "none", "sum": 0}, {"type": "vat0"}]))
    assert [(x.rate, x.amount) for x in v.document.vats or ()] == [(VatRate.NO_VAT, 10000), (VatRate.VAT0, 5000)]
    assert only(refuse(sell(items=items, vats=[{"type": "none", "sum": 5}]))) == (
        "receipt.vats[0].sum",
        "vat_sum_mismatch",
    )


def test_item_vat_sum() -> None:
    v = check(sell(items=[item(vat={"type": "vat20", "sum": 16.67})]))
    assert v.document.items[0].vat_sum == 1667
    assert only(refuse(sell(items=[item(vat={"type": "vat20", "sum": 100.01})]))) == (
        "receipt.items[0].vat.sum",
        "vat_sum_too_large",
    )
    assert only(refuse(sell(items=[item(vat={"type": "none", "sum": 1})]))) == (
        "receipt.items[0].vat.sum",
        "vat_sum_mismatch",
    )


# --------------------------------------------------------------------------- company, client, INNs


def test_company() -> None:
    v = check(
        sell(company={"email": "a@b.ru", "inn": INN, "payment_address": "Место", "location": "Адрес", "sno": "patent"})
    )
    doc = v.document
    assert (doc.settlement_place, doc.settlement_address, doc.tax_system) == ("Место", "Адрес", TaxSystem.PATENT)
    exc = refuse(sell(company={"inn": INN2, "payment_address": "", "sno": "osn"}))
    assert codes(exc) == [
        ("receipt.company.inn", "inn_mismatch"),
        ("receipt.company.payment_address", "required"),
        ("receipt.company.email", "required"),
    ]
    assert check(sell(company={"email": "a@b.ru", "inn": INN2, "payment_address": "x", "sno": "osn"}), group_inn=None)


@pytest.mark.parametrize(
    ("sno", "tax"),
    [
        ("osn", TaxSystem.OSN),
        ("usn_income", TaxSystem.USN_INCOME),
        ("usn_income_outcome", TaxSystem.USN_INCOME_EXPENSE),
        ("envd", TaxSystem.ENVD),
        ("esn", TaxSystem.ESHN),
        ("patent", TaxSystem.PATENT),
    ],
)
def test_sno_values(sno: str, tax: TaxSystem) -> None:
    req = sell()
    req["receipt"]["company"]["sno"] = sno
    assert check(req).document.tax_system is tax


def test_sno_rules() -> None:
    req = sell()
    req["receipt"]["company"]["sno"] = "usn"
    assert only(refuse(req)) == ("receipt.company.sno", "sno_unknown")
    del req["receipt"]["company"]["sno"]
    assert only(refuse(req)) == ("receipt.company.sno", "required")
    assert only(refuse(req, group_sno=int(TaxSystem.OSN | TaxSystem.PATENT))) == ("receipt.company.sno", "required")
    assert check(req, group_sno=int(TaxSystem.USN_INCOME)).document.tax_system is TaxSystem.USN_INCOME
    req["receipt"]["company"]["sno"] = "osn"
    assert only(refuse(req, group_sno=int(TaxSystem.PATENT))) == ("receipt.company.sno", "sno_not_registered")


@pytest.mark.parametrize(
    ("where", "path"),
    [
        (("company", "inn"), "receipt.company.inn"),
        (("client", "inn"), "receipt.client.inn"),
        (("cashier_inn",), "receipt.cashier_inn"),
    ],
)
@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("5544332218", "inn_checksum"),
        ("500123456751", "inn_checksum"),
        ("55443322", "inn_format"),
        ("55443322a9", "inn_format"),
    ],
)
def test_inn_check_digits(where: tuple[str, ...], path: str, value: str, code: str) -> None:
    req = sell()
    target = req["receipt"]
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    assert (path, code) in codes(refuse(req, group_inn=None))


def test_valid_inns_accepted() -> None:
    req = sell(cashier_inn=INN12, client={"email": "a@b.ru", "inn": INN12, "name": "Иванов И.И."})
    doc = check(req).document
    assert (
        doc.cashier_inn == INN12 and doc.buyer is not None and (doc.buyer.inn, doc.buyer.name) == (INN12, "Иванов И.И.")
    )
    req["receipt"]["company"]["inn"] = f"{INN}  "  # space-padded like tag 1018
    assert check(req).document.total == 10000


def test_client_contact() -> None:
    assert only(refuse(sell(client={}))) == ("receipt.client", "contact_required")
    assert only(refuse(sell(client={"email": "", "phone": ""}))) == ("receipt.client", "contact_required")
    assert check(sell(client={"email": "a@b.ru", "phone": "+79001234567"})).document.client_contact == "a@b.ru"
    for bad in ("a@b", "ab.ru", "a b@c.ru", "a@@b.ru", "a@b.ru" + "x" * 60, "ä@b.ru"):
        code = "too_long" if len(bad) > 64 else "email_format"
        assert only(refuse(sell(client={"email": bad}))) == ("receipt.client.email", code), bad
    assert check(sell(client={"email": "иван@почта.рф"})).document.client_contact == "иван@почта.рф"


@pytest.mark.parametrize(
    ("phone", "normalised"),
    [
        ("+79001234567", "+79001234567"),
        ("89001234567", "+79001234567"),
        ("79001234567", "+79001234567"),
        ("9001234567", "+79001234567"),
        ("+7 (900) 123-45-67", "+79001234567"),
        ("8 900 123 45 67", "+79001234567"),
        ("+375291234567", "+375291234567"),
    ],
)
def test_phone_normalised(phone: str, normalised: str) -> None:
    assert check(sell(client={"phone": phone})).document.client_contact == normalised


@pytest.mark.parametrize("phone", ["12345", "900123456", "+7900abc4567", "99001234567", "+1234567890123456", "телефон"])
def test_phone_refused(phone: str) -> None:
    assert only(refuse(sell(client={"phone": phone}))) == ("receipt.client.phone", "phone_format")


def test_v5_client_extras() -> None:
    client = {
        "email": "a@b.ru",
        "name": "Петров П.П.",
        "inn": INN12,
        "birthdate": "01.02.1990",
        "citizenship": "643",
        "document_code": "21",
        "document_data": "4510 123456",
        "address": "Москва",
    }
    buyer = check(sell(5, items=[item(5)], client=client), 5).document.buyer
    assert buyer is not None
    assert (buyer.birth_date, buyer.citizenship, buyer.doc_code, buyer.doc_data, buyer.address) == (
        dt.date(1990, 2, 1),
        "643",
        "21",
        "4510 123456",
        "Москва",
    )
    bad = {**client, "birthdate": "1990-02-01", "citizenship": "RUS", "document_code": "021"}
    assert codes(refuse(sell(5, items=[item(5)], client=bad), 5)) == [
        ("receipt.client.birthdate", "date_format"),
        ("receipt.client.citizenship", "format"),
        ("receipt.client.document_code", "format"),
    ]
    exc = refuse(sell(client=client))  # v4 (FFD 1.05) has no 1256 buyer data
    assert codes(exc) == [
        (f"receipt.client.{k}", "not_in_version")
        for k in ("birthdate", "citizenship", "document_code", "document_data", "address")
    ]


# --------------------------------------------------------------------------- item fields and FFD versions


@pytest.mark.parametrize(("name", "method"), list(atol.PAYMENT_METHODS.items()))
def test_payment_methods(name: str, method: PaymentMethod) -> None:
    assert check(sell(items=[item(payment_method=name)])).document.items[0].method is method
    assert check(sell(5, items=[item(5, payment_method=name)]), 5).document.items[0].method is method


@pytest.mark.parametrize(("name", "subject"), list(atol.PAYMENT_OBJECTS_V4.items()))
def test_v4_payment_objects(name: str, subject: ItemSubject) -> None:
    assert check(sell(items=[item(payment_object=name)])).document.items[0].subject is subject


@pytest.mark.parametrize("number", [*range(1, 28), 30, 31, 32, 33])
def test_v5_payment_objects(number: int) -> None:
    assert int(check(sell(5, items=[item(5, payment_object=number)]), 5).document.items[0].subject) == number


def test_item_enum_errors_and_defaults() -> None:
    it = item()
    del it["payment_method"], it["payment_object"]
    doc_item = check(sell(items=[it])).document.items[0]
    assert (doc_item.method, doc_item.subject) == (PaymentMethod.FULL_PREPAYMENT, ItemSubject.GOODS)  # v4 defaults
    exc = refuse(sell(items=[item(payment_method="cash", payment_object="goods")]))
    assert codes(exc) == [
        ("receipt.items[0].payment_method", "payment_method_unknown"),
        ("receipt.items[0].payment_object", "payment_object_unknown"),
    ]
    it5 = item(5)
    del it5["payment_method"], it5["payment_object"], it5["measure"]
    assert codes(refuse(sell(5, items=[it5]), 5)) == [
        ("receipt.items[0].payment_method", "required"),
        ("receipt.items[0].payment_object", "required"),
        ("receipt.items[0].measure", "required"),
    ]
    exc = refuse(sell(5, items=[item(5, payment_object=28, measure=1)]), 5)
    assert codes(exc) == [
        ("receipt.items[0].payment_object", "payment_object_unknown"),
        ("receipt.items[0].measure", "measure_unknown"),
    ]


@pytest.mark.parametrize("measure", [int(m) for m in MeasureUnit])
def test_v5_measures(measure: int) -> None:
    assert int(check(sell(5, items=[item(5, measure=measure)]), 5).document.items[0].measure or 0) == measure


def test_fields_of_the_other_version_are_refused() -> None:
    v4 = sell(items=[item(measure=0, mark_code={"ean13": "4601234567893"}, planned_status=1)])
    assert codes(refuse(v4)) == [
        ("receipt.items[0].measure", "not_in_version"),
        ("receipt.items[0].mark_code", "not_in_version"),
        ("receipt.items[0].planned_status", "not_in_version"),
    ]
    v5 = sell(5, items=[item(5, measurement_unit="шт", nomenclature_code="44 4D")])
    assert codes(refuse(v5, 5)) == [
        ("receipt.items[0].measurement_unit", "not_in_version"),
        ("receipt.items[0].nomenclature_code", "not_in_version"),
    ]
    v4 = sell(operating_check_props={"name": "0", "value": "x", "timestamp": "01.01.2026 00:00:00"})
    assert only(refuse(v4)) == ("receipt.operating_check_props", "not_in_version")
    v4c = correction(4, items=[item()])
    assert only(refuse(v4c, 4, "sell_correction")) == ("correction.items", "not_in_version")


def test_item_optional_fields() -> None:
    it = item(user_data="доп", excise=1.5, country_code="643", declaration_number="10702070/011020/0001234")
    got = check(sell(items=[it])).document.items[0]
    assert (got.user_data, got.excise, got.country_code, got.declaration_number) == (
        "доп",
        150,
        "643",
        "10702070/011020/0001234",
    )
    bad = item(country_code="RU", declaration_number="x" * 33, user_data="y" * 65)
    assert codes(refuse(sell(items=[bad]))) == [
        ("receipt.items[0].user_data", "too_long"),
        ("receipt.items[0].country_code", "format"),
        ("receipt.items[0].declaration_number", "too_long"),
    ]


def test_v4_measurement_unit_and_nomenclature_code() -> None:
    got = check(sell(items=[item(measurement_unit="кг", nomenclature_code="44 4D 04 60 12")])).document.items[0]
    assert got.unit_name == "кг" and got.product_code == bytes.fromhex("444D046012")
    dm = check(sell(items=[item(nomenclature_code=FULL_CODE)])).document.items[0].product_code
    assert dm == b"DM" + (4650117240408).to_bytes(6, "big") + b"5NNm8ZTRG6;0I"
    for bad, code in (
        ("44 4", "nomenclature_code_format"),
        ("zz", "nomenclature_code_format"),
        (" ".join(["AB"] * 33), "too_long"),
    ):
        assert only(refuse(sell(items=[item(nomenclature_code=bad)]))) == ("receipt.items[0].nomenclature_code", code)
    assert only(refuse(sell(items=[item(measurement_unit="x" * 17)]))) == (
        "receipt.items[0].measurement_unit",
        "too_long",
    )


# --------------------------------------------------------------------------- marking (v5)

MARKS = [
    ("unknown", "ABC-123", 1300, "ABC-123"),
    ("ean8", "46012345", 1301, "46012345"),
    ("ean13", "4601234567893", 1302, "4601234567893"),
    ("itf14", "14601234567890", 1303, "14601234567890"),
    ("gs10", "0104601234567890", 1304, "0104601234567890"),
    ("gs1m", b64(FULL_CODE), 1305, "0104650117240408215NNm8ZTRG6;0I"),
    ("short", "0104601234567890215ABCDE", 1306, "0104601234567890215ABCDE"),
    ("fur", "RU-430302-ABCDEFGHIJ", 1307, "RU-430302-ABCDEFGHIJ"),
    ("egais20", "A" * 23, 1308, "A" * 23),
    ("egais30", "B" * 14, 1309, "B" * 14),
]


@pytest.mark.parametrize(("key", "value", "tag", "code"), MARKS)
def test_mark_code_kinds(key: str, value: str, tag: int, code: str) -> None:
    it = item(5, payment_object=33, mark_code={key: value}, mark_processing_mode="0")
    got = check(sell(5, items=[it]), 5).document.items[0]
    assert got.marking == MarkingCode(kind=tag, code=code) and got.marking_mode == 0


@pytest.mark.parametrize(
    ("full", "product"),
    [
        ("\x1d" + FULL_CODE, "0104650117240408215NNm8ZTRG6;0I"),  # FNC1 as a leading GS
        ("]d2" + FULL_CODE, "0104650117240408215NNm8ZTRG6;0I"),  # AIM symbology identifier
        ("0104650117240408215NNm8ZTRG6;0I91EE1092" + "A" * 44, "0104650117240408215NNm8ZTRG6;0I"),  # GS dropped
        ("010460026601172521-cSoGaX" + "93" + "dGVz", "010460026601172521-cSoGaX"),  # tobacco, GS dropped
        ("0104650117240408215NNm8ZTRG6;0I", "0104650117240408215NNm8ZTRG6;0I"),  # the product code alone
    ],
)
def test_gs1m_product_code(full: str, product: str) -> None:
    it = item(5, payment_object=33, mark_code={"gs1m": b64(full)})
    v = check(sell(5, items=[it]), 5)
    assert v.document.items[0].marking == MarkingCode(kind=1305, code=product)
    assert v.mark_codes == ((0, full.removeprefix("\x1d").removeprefix("]d2")),)  # data only, no FNC1/AIM id


def test_mark_code_errors() -> None:
    def bad(mark: dict[str, Any], **kw: Any) -> tuple[str, str]:
        return only(refuse(sell(5, items=[item(5, payment_object=33, mark_code=mark, **kw)]), 5))

    assert bad({}) == ("receipt.items[0].mark_code", "mark_code_keys")
    assert bad({"ean13": "4601234567893", "ean8": "46012345"}) == ("receipt.items[0].mark_code", "mark_code_keys")
    assert bad({"gs1m": "not base64!"}) == ("receipt.items[0].mark_code.gs1m", "mark_code_base64")
    assert bad({"gs1m": b64("hello world")}) == ("receipt.items[0].mark_code.gs1m", "mark_code_format")
    assert bad({"ean13": "460123456789"}) == ("receipt.items[0].mark_code.ean13", "mark_code_format")
    assert bad({"ean8": "4601234A"}) == ("receipt.items[0].mark_code.ean8", "mark_code_format")
    assert bad({"fur": "RU-43030-ABCDEFGHIJK"}) == ("receipt.items[0].mark_code.fur", "mark_code_format")
    assert bad({"unknown": "x" * 33}) == ("receipt.items[0].mark_code.unknown", "too_long")
    assert bad({"short": "код"}) == ("receipt.items[0].mark_code.short", "mark_code_format")
    assert bad({"ean13": "4601234567893"}, quantity=2, sum=200) == ("receipt.items[0].quantity", "marked_quantity")
    assert bad({"ean13": "4601234567893"}, mark_processing_mode="1") == (
        "receipt.items[0].mark_processing_mode",
        "format",
    )


def test_mark_quantity_sectoral_and_planned_status() -> None:
    props = [{"federal_id": "030", "date": "21.11.2023", "number": "1944", "value": "UUID=1"}]
    it = item(
        5,
        payment_object=33,
        mark_code={"gs1m": b64(FULL_CODE)},
        mark_quantity={"numerator": 1, "denominator": 2},
        sectoral_item_props=props,
        planned_status=2,
    )
    got = check(sell(5, items=[it]), 5).document.items[0]
    assert got.fraction is not None and (got.fraction.numerator, got.fraction.denominator) == (1, 2)
    assert got.industry_props[0].foiv_id == "030" and got.industry_props[0].doc_date == dt.date(2023, 11, 21)
    assert got.planned_status == 2
    bad = item(
        5,
        mark_quantity={"numerator": 2, "denominator": 2},
        planned_status=7,
        sectoral_item_props=[{"federal_id": "30", "date": "2023-11-21", "number": "", "value": "v"}],
    )
    assert codes(refuse(sell(5, items=[bad]), 5)) == [
        ("receipt.items[0].mark_quantity", "fraction"),
        ("receipt.items[0].sectoral_item_props[0].federal_id", "format"),
        ("receipt.items[0].sectoral_item_props[0].date", "date_format"),
        ("receipt.items[0].sectoral_item_props[0].number", "required"),
        ("receipt.items[0].planned_status", "format"),
    ]


# --------------------------------------------------------------------------- agents and suppliers

AGENT = {
    "type": "commission_agent",
    "paying_agent": {"operation": "Перевод", "phones": ["+79001234567"]},
    "receive_payments_operator": {"phones": ["89001234568"]},
    "money_transfer_operator": {"phones": ["9001234569"], "name": "ООО Оператор", "address": "Москва", "inn": INN2},
}
SUPPLIER = {"phones": ["+79001112233"], "name": "ООО Поставщик", "inn": INN2}


@pytest.mark.parametrize("version", [4, 5])
def test_item_agent_and_supplier(version: int) -> None:
    got = check(sell(version, items=[item(version, agent_info=AGENT, supplier_info=SUPPLIER)]), version).document
    it = got.items[0]
    assert it.agent is not None and it.agent.types == AgentType.COMMISSIONER and it.agent.data is not None
    d = it.agent.data
    assert (d.operation, d.agent_phones, d.operator_phones, d.transfer_operator_phones) == (
        "Перевод",
        ("+79001234567",),
        ("+79001234568",),
        ("+79001234569",),
    )
    assert (d.transfer_operator_name, d.transfer_operator_address, d.transfer_operator_inn) == (
        "ООО Оператор",
        "Москва",
        INN2,
    )
    assert it.supplier is not None and (it.supplier.phones, it.supplier.name, it.supplier.inn) == (
        ("+79001112233",),
        "ООО Поставщик",
        INN2,
    )


def test_agent_needs_a_supplier_with_inn() -> None:
    assert only(refuse(sell(items=[item(agent_info=AGENT)]))) == ("receipt.items[0].supplier_info", "supplier_required")
    no_inn = {"phones": ["+79001112233"], "name": "x"}
    assert only(refuse(sell(items=[item(agent_info=AGENT, supplier_info=no_inn)]))) == (
        "receipt.items[0].supplier_info.inn",
        "supplier_required",
    )
    bad = {**AGENT, "type": "broker", "money_transfer_operator": {"inn": "5544332218"}}
    assert codes(refuse(sell(items=[item(agent_info=bad, supplier_info=SUPPLIER)]))) == [
        ("receipt.items[0].agent_info.type", "agent_type_unknown"),
        ("receipt.items[0].agent_info.money_transfer_operator.inn", "inn_checksum"),
    ]


def test_receipt_level_agent_v4_stays_at_the_top() -> None:
    doc = check(
        sell(
            agent_info={"type": "paying_agent", "paying_agent": {"phones": ["+79001234567"]}},
            supplier_info={"phones": ["+79001112233"]},
        )
    ).document
    assert doc.agent is not None and doc.agent.types == AgentType.PAYING_AGENT
    assert doc.supplier is not None and doc.supplier.phones == ("+79001112233",)
    assert doc.items[0].agent is None
    exc = refuse(sell(supplier_info=SUPPLIER))
    assert codes(exc) == [
        ("receipt.supplier_info.name", "not_in_version"),
        ("receipt.supplier_info.inn", "not_in_version"),
    ]


def test_receipt_level_agent_v5_goes_to_the_items() -> None:
    own = {"type": "attorney"}
    items = [item(5), item(5, agent_info=own, supplier_info=SUPPLIER)]
    doc = check(sell(5, items=items, agent_info=AGENT, supplier_info=SUPPLIER), 5).document
    assert doc.agent is None and doc.supplier is None
    assert doc.items[0].agent is not None and doc.items[0].agent.types == AgentType.COMMISSIONER
    assert doc.items[0].supplier is not None and doc.items[0].supplier.inn == INN2
    assert doc.items[1].agent == Agent(types=AgentType.ATTORNEY)  # its own wins
    assert only(refuse(sell(5, items=[item(5)], agent_info=AGENT), 5)) == ("receipt.supplier_info", "supplier_required")


def test_agent_and_supplier_sizes() -> None:
    phones = [f"+7900123456{i}" for i in range(10)]
    big = {
        "type": "another",
        "paying_agent": {"operation": "o" * 24, "phones": phones},
        "money_transfer_operator": {"name": "n" * 64, "address": "a" * 256},
    }
    exc = refuse(sell(items=[item(agent_info=big, supplier_info=SUPPLIER)]))
    assert only(exc) == ("receipt.items[0].agent_info", "too_large")
    supplier = {"phones": phones * 2, "name": "s" * 256, "inn": INN2}
    assert only(refuse(sell(items=[item(agent_info=AGENT, supplier_info=supplier)]))) == (
        "receipt.items[0].supplier_info",
        "too_large",
    )
    agent = {
        "type": "another",
        "paying_agent": {"operation": "o" * 24, "phones": phones[:5]},
        "money_transfer_operator": {"name": "n" * 64, "address": "a" * 256},
    }
    supplier = {"phones": phones[:4], "name": "s" * 256, "inn": INN2}
    it = item(agent_info=agent, supplier_info=supplier, name="x" * 128, user_data="u" * 64)
    assert only(refuse(sell(items=[it]))) == ("receipt.items[0]", "too_large")


def test_document_size_limit() -> None:
    agent = {"type": "another", "money_transfer_operator": {"name": "n" * 64, "address": "a" * 256}}
    supplier = {"phones": ["+79001234567"], "name": "s" * 256, "inn": INN2}
    it = item(name="x" * 128, agent_info=agent, supplier_info=supplier, user_data="u" * 64)
    exc = refuse(sell(items=[it] * 100))
    assert only(exc) == ("receipt.items", "too_large")
    assert check(sell(items=[it] * 30)).document.total == 300000


# --------------------------------------------------------------------------- receipt-level fields


def test_receipt_optional_fields_v4() -> None:
    req = sell(
        cashier="Кассир Иванова",
        device_number="AUTO-1",
        additional_check_props="доп. реквизит",
        additional_user_props={"name": "Заказ", "value": "№ 42"},
        internet=True,
        timezone=2,
    )
    doc = check(req).document
    assert (doc.cashier, doc.device_number, doc.additional_check_prop) == ("Кассир Иванова", "AUTO-1", "доп. реквизит")
    assert doc.user_prop is not None and (doc.user_prop.name, doc.user_prop.value) == ("Заказ", "№ 42")
    assert doc.internet is True and doc.timezone == 2
    bad = sell(
        cashier="к" * 65,
        device_number="d" * 21,
        additional_check_props="x" * 17,
        timezone=12,
        additional_user_props={"name": "n" * 64, "value": "v" * 256},
    )
    assert codes(refuse(bad)) == [
        ("receipt.cashier", "too_long"),
        ("receipt.device_number", "too_long"),
        ("receipt.additional_check_props", "too_long"),
        ("receipt.additional_user_props", "too_large"),
        ("receipt.timezone", "timezone_range"),
    ]
    assert only(refuse(sell(timezone=0))) == ("receipt.timezone", "timezone_range")


def test_receipt_optional_fields_v5() -> None:
    props = [{"federal_id": "030", "date": "21.11.2023", "number": "1944", "value": "знач"}]
    req = sell(
        5,
        items=[item(5)],
        cashier_inn=INN12,
        operating_check_props={"name": "0", "value": "данные", "timestamp": "23.11.2026 10:00:00"},
        sectoral_check_props=props,
    )
    doc = check(req, 5).document
    assert doc.operational_props is not None
    assert (doc.operational_props.id, doc.operational_props.data) == (0, "данные")
    assert doc.operational_props.when == dt.datetime(2026, 11, 23, 10)
    assert doc.industry_check_props[0].value == "знач" and doc.cashier_inn == INN12
    bad = sell(5, items=[item(5)], operating_check_props={"name": "x", "value": "", "timestamp": "23.11.2026"})
    assert codes(refuse(bad, 5)) == [
        ("receipt.operating_check_props.name", "format"),
        ("receipt.operating_check_props.value", "required"),
        ("receipt.operating_check_props.timestamp", "timestamp_format"),
    ]


def test_cashless_payments() -> None:
    details = [{"sum": 60, "method": 1, "id": "RRN 123"}, {"sum": 40, "method": 2, "additional_info": "СБП"}]
    doc = check(sell(cashless_payments=details)).document
    assert [(c.sum, c.method, c.ids, c.info) for c in doc.payments.cashless] == [
        (6000, 1, "RRN 123", None),
        (4000, 2, None, "СБП"),
    ]
    exc = refuse(sell(cashless_payments=[{"sum": 60, "method": 300}]))
    assert codes(exc) == [
        ("receipt.cashless_payments[0].method", "format"),
        ("receipt.cashless_payments", "cashless_mismatch"),
    ]


# --------------------------------------------------------------------------- corrections


def test_v4_correction() -> None:
    v = check(correction(4), 4, "sell_correction")
    doc = v.document
    assert isinstance(doc, Correction) and doc.items == () and doc.total == 10000 and doc.payments.cash == 10000
    assert (doc.correction_type, doc.base_date, doc.base_number) == (CorrectionType.SELF, dt.date(2026, 11, 20), "б/н")
    assert doc.vats is not None and doc.vats[0].amount == 1667
    single_none = correction(4, vats=[{"type": "none", "sum": 0}])
    assert check(single_none, 4, "buy_correction").document.vats == (VatSum(rate=VatRate.NO_VAT, amount=10000),)
    with_total = correction(4, total=80)
    assert check(with_total, 4, "sell_correction").document.payments.change(8000) == 2000


def test_v4_correction_rules() -> None:
    c = correction(4)
    del c["correction"]["vats"]
    c["correction"]["correction_info"] = {"type": "order", "base_date": "2026-11-20"}
    assert codes(refuse(c, 4, "sell_correction")) == [
        ("correction.vats", "required"),
        ("correction.correction_info.type", "correction_type_unknown"),
        ("correction.correction_info.base_date", "date_format"),
        ("correction.correction_info.base_number", "required"),  # mandatory in FFD 1.05 (table 29)
    ]
    no_sum = correction(4, vats=[{"type": "vat20"}])
    assert only(refuse(no_sum, 4, "sell_correction")) == ("correction.vats[0].sum", "required")


def test_v5_correction() -> None:
    c = correction(5)
    del c["correction"]["correction_info"]["base_number"]
    doc = check(c, 5, "sell_refund_correction").document
    assert isinstance(doc, Correction) and doc.base_number is None and len(doc.items) == 1
    c["correction"]["correction_info"]["type"] = "instruction"
    assert only(refuse(c, 5, "sell_correction")) == ("correction.correction_info.base_number", "required")
    c["correction"]["correction_info"]["base_number"] = "ПР-1"
    assert check(c, 5, "buy_correction").document.correction_type is CorrectionType.BY_ORDER  # type: ignore[attr-defined]
    c["correction"]["items"] = []
    assert ("correction.items", "count") in codes(refuse(c, 5, "sell_correction"))
    with_client = correction(5, client={"phone": "89001234567"})
    assert check(with_client, 5, "sell_correction").document.client_contact == "+79001234567"


# --------------------------------------------------------------------------- CP866


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("«Ёлка» — 1 шт", '"Ёлка" - 1 шт'),
        ("„Кавычки“ ”и” ‘одинарные’", '"Кавычки" "и" \'одинарные\''),
        ("Цена 5 €", "Цена 5 EUR"),
        ("1\u00a0000\u202fруб", "1 000 руб"),
        ("Café naïve", "Cafe naive"),
        ("Торт 🎂 ok", "Торт ? ok"),
        ("soft\u00adhyphen\u200b", "softhyphen"),
        ("№ 5 — ок…", "№ 5 - ок..."),
        ("Ґанок і Її", "Ганок i Її"),
    ],
)
def test_cp866_substitution(text: str, expected: str) -> None:
    v = check(sell(items=[item(name=text)]))
    assert v.document.items[0].name == expected
    assert cp866.can_encode(expected)
    (w,) = v.warnings
    assert (w.path, w.code) == ("receipt.items[0].name", "cp866_substitution")
    changed = {ch for ch in text if ch not in expected or not cp866.can_encode(ch) or ch == "\u00a0"}
    for ch in changed:
        assert f"U+{ord(ch):04X}" in w.message, (ch, w.message)


def test_cp866_text_without_changes_has_no_warning() -> None:
    v = check(sell(items=[item(name="Вода №17 ЁЖ ∙ ° √ 0,5л")], cashier="Иванова"))
    assert v.warnings == () and v.document.items[0].name == "Вода №17 ЁЖ ∙ ° √ 0,5л"


def test_cp866_every_field_reports_its_path() -> None:
    req = sell(cashier="«Кассир»", client={"email": "a@b.ru", "name": "ООО «Ромашка»"})
    req["receipt"]["company"]["payment_address"] = "Магазин — центр"
    paths = [w.path for w in check(req).warnings]
    assert paths == ["receipt.company.payment_address", "receipt.client.name", "receipt.cashier"]


def test_cp866_substitution_counts_toward_the_limit() -> None:
    assert only(refuse(sell(items=[item(name="€" * 43)]))) == ("receipt.items[0].name", "too_long")  # 129 bytes
    v = check(sell(items=[item(name="€" * 42)]))  # 126 bytes
    assert v.document.items[0].name == "EUR" * 42 and "×42" in v.warnings[0].message
    exc = refuse(sell(items=[item(name="\u200b\u200b")]))  # nothing printable left
    assert only(exc) == ("receipt.items[0].name", "required")


@settings(max_examples=300)
@given(st.text())
def test_substitute_cp866_always_encodable(text: str) -> None:
    out, changes = substitute_cp866(text)
    assert cp866.can_encode(out) and "\u00a0" not in out
    assert (out == text) == (not changes)
    for ch, _, n in changes:
        assert n == text.count(ch)


# --------------------------------------------------------------------------- payload hash


def test_payload_hash() -> None:
    v = check(sell())
    a = v.payload_hash
    assert re.fullmatch("[0-9a-f]{64}", a)
    # The rule intake.same_payload re-applies to entries packed by older versions: SHA-256 over the operation and
    # the document's msgpack, which leaves out every field at its default.
    assert v.packed == msgspec.msgpack.encode(v.document)
    assert a == hashlib.sha256(b"sell\n" + v.packed).hexdigest()
    packed_item = msgspec.msgpack.decode(v.packed)["items"][0]
    assert None not in packed_item.values() and "marking" not in packed_item
    text = json.dumps(sell(), default=float, ensure_ascii=False, indent=2, sort_keys=True).encode()
    assert check(text).payload_hash == a  # formatting, key order and 100 vs 100.0 do not matter
    other_time = sell()
    other_time["timestamp"] = "24.11.2026 08:00:00"
    other_time["service"] = {"callback_url": "https://x.ru/cb"}
    assert check(other_time).payload_hash == a  # envelope only
    assert check(sell(items=[item(price=101, sum=101)])).payload_hash != a
    assert check(sell(), operation="sell_refund").payload_hash != a


# --------------------------------------------------------------------------- errors, dates, payload, token (atol.py)


def test_service_error_table() -> None:
    expected = {
        0: 400,
        1: 400,
        10: 401,
        11: 401,
        12: 401,
        13: 400,
        14: 403,
        20: 401,
        21: 401,
        30: 400,
        31: 400,
        32: 400,
        33: 400,
        34: 200,
        40: 400,
        41: 415,
        50: 500,
    }
    assert {c: e.http_status for c, e in atol.SERVICE_ERRORS.items()} == expected
    assert atol.SERVICE_ERRORS[33].name == "IncomingExternalIdAlreadyExists"
    assert atol.SERVICE_ERRORS[0].type == "unknown" and atol.SERVICE_ERRORS[12].type == "system"
    e = atol.error(33, None, "ord-1", "shop_1")
    assert e.text == "В системе существует чек с external_id : ord-1 и group_code: shop_1" and e.code == 33
    assert uuid.UUID(e.error_id).version == 4 and atol.error(33).error_id != e.error_id
    e = atol.error(12)
    assert msgspec.json.decode(msgspec.json.encode(e)) == {
        "error_id": e.error_id,
        "code": 12,
        "text": "Неверный логин или пароль",
        "type": "system",
    }
    assert atol.error(34).text == "Состояние чека не найдено. Попробуйте позднее"
    assert atol.error(31, "своё").text == "своё"
    with pytest.raises(KeyError):
        atol.error(99)


def test_request_invalid_to_atol_error() -> None:
    exc = refuse(sell(items=[item(sum=99)]))
    e = exc.atol_error()
    assert (e.code, e.type) == (32, "system") and e.text.startswith("Ошибочные поля: receipt.items[0].sum")
    exc = refuse(b"{")
    assert exc.atol_error().code == 40 and exc.status_hint == 400


def test_dates() -> None:
    when = atol.parse_datetime("01.02.2017 13:45:00")
    assert when == dt.datetime(2017, 2, 1, 13, 45) and atol.format_datetime(when) == "01.02.2017 13:45:00"
    assert (
        atol.parse_date("29.02.2024") == dt.date(2024, 2, 29) and atol.format_date(dt.date(2024, 2, 9)) == "09.02.2024"
    )
    for bad in (
        "1.02.2017 13:45:00",
        "01.02.2017T13:45:00",
        "01.02.2017 13:45",
        "29.02.2023 00:00:00",
        "٠١.02.2017 13:45:00",
    ):
        with pytest.raises(ValueError):
            atol.parse_datetime(bad)
    with pytest.raises(ValueError):
        atol.parse_date("29.02.2023")


@given(st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(9999, 12, 31)))
def test_datetime_round_trip(when: dt.datetime) -> None:
    when = when.replace(microsecond=0)
    assert atol.parse_datetime(atol.format_datetime(when)) == when


def test_report_payload() -> None:
    p = atol.build_payload(
        fd_number=133,
        fiscal_sign=3449555941,
        shift_number=23,
        receipt_number=6,
        when=dt.datetime(2017, 4, 12, 20, 16),
        total=159800,
        fn_number="1110000100238211",
        rnm="0000111118041361    ",
        ofd_inn="7709364346",
        fns_site="www.nalog.ru",
        ofd_receipt_url="https://consumer.1-ofd.ru/v1?fn=1",
    )
    assert msgspec.json.decode(msgspec.json.encode(p)) == {
        "total": 1598,
        "fns_site": "www.nalog.ru",
        "fn_number": "1110000100238211",
        "shift_number": 23,
        "receipt_datetime": "12.04.2017 20:16:00",
        "fiscal_receipt_number": 6,
        "fiscal_document_number": 133,
        "ecr_registration_number": "0000111118041361",
        "fiscal_document_attribute": 3449555941,
        "ofd_inn": "7709364346",
        "ofd_receipt_url": "https://consumer.1-ofd.ru/v1?fn=1",
    }  # the §1.12 report example
    p = atol.build_payload(
        fd_number=1,
        fiscal_sign=0,
        shift_number=1,
        receipt_number=1,
        when=dt.datetime(2026, 1, 1),
        total=4576,
        fn_number="9" * 16,
        rnm="1" * 16,
        ofd_inn="7704211201",
    )
    encoded = msgspec.json.encode(p)
    assert b'"total":45.76' in encoded and b"ofd_receipt_url" not in encoded and b"marks_result" not in encoded
    with pytest.raises(ValueError):
        atol.build_payload(
            fd_number=1,
            fiscal_sign=1 << 32,
            shift_number=1,
            receipt_number=1,
            when=dt.datetime(2026, 1, 1),
            total=0,
            fn_number="",
            rnm="",
            ofd_inn="",
        )


@given(st.integers(0, 10**13))
def test_roubles_prints_the_exact_decimal(kopecks: int) -> None:
    text = msgspec.json.encode(atol.roubles(kopecks)).decode()
    assert Decimal(text) == Decimal(kopecks).scaleb(-2)


def test_token_request() -> None:
    req = validate_token_request(b'{"login": "user", "pass": "secret", "source": "1C"}')
    assert (req.login, req.pass_, req.source) == ("user", "secret", "1C")
    with pytest.raises(RequestInvalid) as exc:
        validate_token_request(b'{"login": "", "pass": "", "source": "' + b"s" * 101 + b'"}')
    assert codes(exc.value) == [("login", "required"), ("pass", "required"), ("source", "too_long")]
    with pytest.raises(RequestInvalid) as exc:
        validate_token_request(b'{"login": "user"}')
    assert only(exc.value) == ("pass", "required") and exc.value.atol_code == 32


# --------------------------------------------------------------------------- properties

CYRILLIC = "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдежзийклмнопрстуфхцчшщъыьэюяЁё№"
TEXT = st.text(st.sampled_from(cp866.DECODE_TABLE[32:127] + CYRILLIC * 2 + "«»—–€‘’\u00a0é"), min_size=1, max_size=40)


@st.composite
def inns(draw: st.DrawFn) -> str:
    """A valid 10- or 12-digit INN (check digits computed)."""
    from fiscal_core.ffd.identifiers import _W10, _W12A, _W12B, _check

    if draw(st.booleans()):
        head = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=9, max_size=9)))
        return head + str(_check(head, _W10))
    head = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=10, max_size=10)))
    head += str(_check(head, _W12A))
    return head + str(_check(head, _W12B))


@st.composite
def items(draw: st.DrawFn, version: int) -> tuple[dict[str, Any], int]:
    """(a valid item of API ``version``, its sum in kopecks)."""
    price = draw(st.integers(0, 1_000_000))  # ≤ 10 000 ₽ × ≤ 100 × 12 items stays under 42 949 672.95
    if draw(st.booleans()):
        quantity: Decimal = Decimal(draw(st.integers(1, 99)))
    else:
        scale = draw(st.integers(1, 3))
        quantity = Decimal(draw(st.integers(1, 10 ** (2 + scale) - 1))).scaleb(-scale)
    total = item_sum(price, quantity)
    it: dict[str, Any] = {
        "name": draw(TEXT),
        "price": Decimal(price).scaleb(-2),
        "quantity": quantity,
        "sum": Decimal(total).scaleb(-2),
        "payment_method": draw(st.sampled_from(list(atol.PAYMENT_METHODS))),
        "vat": {"type": draw(st.sampled_from(list(atol.VAT_TYPES)))},
    }
    if version == 4:
        it["payment_object"] = draw(st.sampled_from(list(atol.PAYMENT_OBJECTS_V4)))
        if draw(st.booleans()):
            it["measurement_unit"] = draw(st.sampled_from(["шт", "кг", "л", "упак."]))
    else:
        it["payment_object"] = draw(st.sampled_from(sorted(atol.PAYMENT_OBJECTS_V5)))
        it["measure"] = draw(st.sampled_from([int(m) for m in MeasureUnit]))
        if draw(st.integers(0, 3)) == 0:
            gtin = "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=14, max_size=14)))
            serial = "".join(
                draw(st.lists(st.sampled_from("ABCDEFGHabcdefgh0123456789!%&*+-./:;<=>?_"), min_size=13, max_size=13))
            )
            it.update(
                quantity=Decimal(1),
                sum=Decimal(price).scaleb(-2),
                payment_object=33,
                mark_processing_mode="0",
                mark_code={"gs1m": b64(f"01{gtin}21{serial}\x1d91EE10\x1d92{'Q' * 44}")},
            )
            total = price
    if draw(st.integers(0, 4)) == 0:
        supplier_inn = draw(inns())
        it["agent_info"] = {
            "type": draw(st.sampled_from(list(atol.AGENT_TYPES))),
            "paying_agent": {"operation": "Платёж", "phones": ["+79001234567"]},
        }
        it["supplier_info"] = {"phones": ["89001112233"], "name": draw(TEXT), "inn": supplier_inn}
    if draw(st.integers(0, 4)) == 0:
        it.update(user_data=draw(TEXT), country_code="643")
    return it, total


@st.composite
def requests(draw: st.DrawFn) -> tuple[int, str, dict[str, Any], int]:
    """(version, operation, a valid request, the document total in kopecks)."""
    version = draw(st.sampled_from([4, 5]))
    ops = [o for o in atol.OPERATIONS.values() if version in o.versions]
    op = draw(st.sampled_from(ops))
    drawn = draw(st.lists(items(version), min_size=1, max_size=12))
    total = sum(t for _, t in drawn)
    card = draw(st.integers(0, total))
    payments = [{"type": 1, "sum": Decimal(card).scaleb(-2)}]
    rest = total - card
    if rest or draw(st.booleans()):
        change = draw(st.integers(0, 10_000))
        payments.append({"type": draw(st.sampled_from([0, 2, 3, 4])), "sum": Decimal(rest).scaleb(-2)})
        if change:
            payments.append({"type": 0, "sum": Decimal(change).scaleb(-2)})
    rounded = total + draw(st.integers(-99, 99)) if total >= 99 else total
    body: dict[str, Any] = {
        "company": {
            "email": "shop@example.ru",
            "inn": INN,
            "payment_address": draw(TEXT),
            "sno": draw(st.sampled_from(list(atol.SNO))),
        },
        "payments": payments,
        "total": Decimal(rounded).scaleb(-2),
    }
    client: dict[str, Any] = draw(
        st.sampled_from(
            [{"email": "a@b.ru"}, {"phone": "89001234567"}, {"email": "x@y.ru", "name": "Имя", "inn": INN12}]
        )
    )
    if draw(st.booleans()):
        body["cashier"] = draw(TEXT)
    if draw(st.booleans()):
        rates = sorted({it["vat"]["type"] for it, _ in drawn})
        if len(rates) <= 6:
            body["vats"] = [{"type": r} for r in rates]
    if op.correction and version == 4:
        body.update(
            correction_info={
                "type": draw(st.sampled_from(["self", "instruction"])),
                "base_date": "01.11.2026",
                "base_number": "1",
            },
            vats=[{"type": "vat20", "sum": Decimal(draw(st.integers(0, total))).scaleb(-2)}],
        )
        body["payments"] = [{"type": 0, "sum": Decimal(total).scaleb(-2)}]
        del body["total"]
        return version, op.name, {"external_id": "e", "timestamp": "01.11.2026 10:00:00", "correction": body}, total
    body["items"] = [it for it, _ in drawn]
    if op.correction:
        body["correction_info"] = {"type": "self", "base_date": "01.11.2026"}
        if draw(st.booleans()):
            body["client"] = client
        key = "correction"
    else:
        body["client"] = client
        key = "receipt"
    return version, op.name, {"external_id": "e", "timestamp": "01.11.2026 10:00:00", key: body}, total


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(requests())
def test_generated_valid_requests_validate_and_encode(case: tuple[int, str, dict[str, Any], int]) -> None:
    version, operation, req, total = case
    v = check(req, version, operation)  # check_sums, check_text, encode_body for the group's FFD
    doc = v.document
    assert doc.total == total and isinstance(doc, Correction) is atol.OPERATIONS[operation].correction
    assert doc.settlement_sign is atol.OPERATIONS[operation].settlement_sign
    # Every msgspec constraint of the receipt model holds too (the builders are direct constructions).
    assert msgspec.json.decode(msgspec.json.encode(doc), type=type(doc)) == doc
    # The same request as an already decoded Struct gives the same result.
    struct = msgspec.json.decode(raw(req), type=atol.request_type(version, operation))
    assert validate(struct, version=version, operation=operation, group_inn=INN, group_ffd=FFD[version]) == v
    for w in v.warnings:
        assert w.code in {"cp866_substitution", "total_rounded"} and w.path


def _mutations(body_key: str, version: int) -> list[tuple[str, Any, str]]:
    """(path to set, value, expected issue path); each makes any generated request invalid."""
    b = body_key
    muts: list[tuple[str, Any, str]] = [
        (f"{b}.company.inn", "5544332218", f"{b}.company.inn"),
        (f"{b}.company.inn", INN2, f"{b}.company.inn"),
        (f"{b}.company.sno", "osno", f"{b}.company.sno"),
        (f"{b}.payments.0.type", 7, f"{b}.payments[0].type"),
        (f"{b}.payments.0.sum", Decimal("0.001"), f"{b}.payments[0].sum"),
        (f"{b}.payments", [], f"{b}.payments"),
        ("timestamp", "2026-11-01 10:00:00", "timestamp"),
        ("external_id", "", "external_id"),
        (f"{b}.company.payment_address", "", f"{b}.company.payment_address"),
        (f"{b}.company", "not an object", f"{b}.company"),
    ]
    if b == "receipt" or version == 5:
        muts += [
            (f"{b}.items.0.price", Decimal("-1"), f"{b}.items[0].price"),
            (f"{b}.items.0.quantity", Decimal("0.0001"), f"{b}.items[0].quantity"),
            (f"{b}.items.0.vat", {"type": "vat18"}, f"{b}.items[0].vat.type"),
            (f"{b}.items.0.name", "x" * 129, f"{b}.items[0].name"),
            (f"{b}.items.0.name", None, f"{b}.items[0].name"),
            (f"{b}.items", [], f"{b}.items"),
            (f"{b}.items.0.payment_method", "cash", f"{b}.items[0].payment_method"),
        ]
    if b == "receipt":
        muts += [(f"{b}.client", {"name": "x"}, f"{b}.client"), (f"{b}.client.email", "nope", f"{b}.client.email")]
        muts += [(f"{b}.total", Decimal("42949672.96"), f"{b}.total")]
    if version == 5:
        muts.append((f"{b}.items.0.measure", 5, f"{b}.items[0].measure"))
    elif b == "receipt":
        muts.append((f"{b}.items.0.mark_code", {"ean8": "12345678"}, f"{b}.items[0].mark_code"))
    return muts


def _set(req: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    target: Any = req
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(requests(), st.data())
def test_invalid_mutations_are_refused_with_a_path(
    case: tuple[int, str, dict[str, Any], int], data: st.DataObject
) -> None:
    version, operation, req, _ = case
    key = "correction" if "correction" in req else "receipt"
    path, value, expected = data.draw(st.sampled_from(_mutations(key, version)))
    req = copy.deepcopy(req)
    _set(req, path, value)
    exc = refuse(req, version, operation)
    assert exc.issues and all(i.path for i in exc.issues)
    assert expected in [i.path for i in exc.issues], (path, codes(exc))


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(requests(), st.data())
def test_arbitrary_corruption_never_escapes(case: tuple[int, str, dict[str, Any], int], data: st.DataObject) -> None:
    """Any byte-level damage gives a Validated or a RequestInvalid, never another exception."""
    version, operation, req, _ = case
    body = bytearray(raw(req))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(body) - 1))
        body[at] = data.draw(st.integers(0, 255))
    try:
        v = validate(bytes(body), version=version, operation=operation, group_inn=INN, group_ffd=FFD[version])
    except RequestInvalid as exc:
        assert exc.issues and exc.atol_code in atol.SERVICE_ERRORS
        return
    check_sums(v.document)
    check_text(v.document)
    encode_body(IDENTITY[version], v.document)


def test_timestamp_text_is_the_canonical_form() -> None:
    """The journal keeps the client's timestamp as dd.mm.yyyy HH:MM:SS; the fixed-width text is kept as sent."""
    req = sell()
    req["timestamp"] = "01.06.2026 09:05:07"
    v = check(req)
    assert v.timestamp_text == "01.06.2026 09:05:07"
    assert atol.format_datetime(v.timestamp) == v.timestamp_text
    assert v.timestamp == dt.datetime(2026, 6, 1, 9, 5, 7)
