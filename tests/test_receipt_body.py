"""Native receipt body encoder == its pure-Python twin: same ReceiptBody, same errors (type and path).

Receipts come from hypothesis (both FFD versions, every settlement sign and VAT rate, corrections, int and
Decimal quantities, marking codes, every optional and rarely used field, Cyrillic and non-CP866 text), valid
or with one fault; and from ``samples.receipt``. A valid receipt must never leave the native fast path
(``_encode_fast``), and an invalid one must always leave it, so the twin is what raises.
"""

from __future__ import annotations

import datetime as dt
import inspect
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from conftest import both_impls
from hypothesis import given, settings
from hypothesis import strategies as st

from fiscal_core import samples
from fiscal_core.errors import EncodeError
from fiscal_core.ffd import documents, receipt_body, tlv
from fiscal_core.ffd.counters import Accumulator, Counters, totals_of
from fiscal_core.ffd.cp866 import DECODE_TABLE
from fiscal_core.ffd.documents import Header
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
from fiscal_core.ffd.receipt import (
    MAX_MONEY,
    Agent,
    AgentData,
    Buyer,
    CashlessPayment,
    Correction,
    Fraction,
    IndustryProp,
    Item,
    MarkingCode,
    OperationalProp,
    Payments,
    Receipt,
    ReceiptError,
    Supplier,
    UserProp,
    VatSum,
    item_sum,
)
from fiscal_core.ffd.tags import REGISTRY

NATIVE = "fiscal_core._native._receipt"
TWIN = "fiscal_core.ffd._receipt_body_py"

CYRILLIC = "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдежзийклмнопрстуфхцчшщъыьэюяЁё№"
TEXT = st.sampled_from(DECODE_TABLE[32:] + CYRILLIC * 3)
NOT_CP866 = ["€", "«", "»", "—", "😀", "ÿ", "é"]
MARKING_KINDS = sorted(REGISTRY[1163].children or ())
WHEN = dt.datetime(2026, 3, 1, 12, 30)
replace = msgspec.structs.replace


@pytest.fixture
def pair() -> tuple[Any, Any]:
    return both_impls(NATIVE, TWIN)


def text(lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.text(TEXT, min_size=lo, max_size=hi)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def outcome(fn: Any, identity: Any, r: Any) -> Any:
    """The body with its values typed, or the error's type, path and message."""
    try:
        body = fn(identity, r)
    except Exception as exc:
        return ("error", type(exc), getattr(exc, "path", None), str(exc))
    typed = [(type(v).__name__, v) for v in body.counter_row]
    return ("ok", type(body), tuple(body), typed, type(body.settlement_sign), type(body.total))


def assert_same(pair: tuple[Any, Any], identity: Any, r: Any, *, fast: bool = True) -> Any:
    """Native == twin; a receipt the twin takes stays on the fast path (unless ``fast`` is False: an
    unusual value, such as a bool settlement sign, is the twin's to read)."""
    py, native = pair
    want = outcome(py.encode_body, identity, r)
    assert outcome(native.encode_body, identity, r) == want
    if want[0] == "ok":
        if fast:
            assert outcome(native._encode_fast, identity, r) == want, "a valid receipt left the fast path"
    else:
        with pytest.raises(Exception):  # noqa: B017 - any refusal hands the receipt to the twin
            native._encode_fast(identity, r)
    return want


# --------------------------------------------------------------------------- receipts from hypothesis

QUANTITY = st.one_of(
    st.integers(1, 5),
    st.integers(1, 10**6),
    st.builds(lambda m, s: Decimal(m).scaleb(-s), st.integers(1, 10**7), st.integers(0, 6)),  # weighed
    st.sampled_from([Decimal("1"), Decimal("2.000"), Decimal("0.001"), Decimal("1E+1"), Decimal("1.5E+2")]),
    st.builds(lambda m, s: Decimal(m).scaleb(-s), st.integers(1, 2**56 - 1), st.integers(0, 40)),
)


@st.composite
def items(draw: Any, ffd: int) -> Item:
    price = draw(st.one_of(st.integers(0, 10**6), st.integers(0, 10**9)))
    quantity = draw(QUANTITY)
    total = item_sum(price, quantity)
    fields: dict[str, Any] = {
        "name": draw(text(1, 128)),
        "price": price,
        "quantity": quantity,
        "sum": total,
        "vat": draw(st.sampled_from(list(VatRate))),
        "vat_sum": draw(maybe(st.integers(0, total))),
        "unit_vat": draw(maybe(st.integers(0, MAX_MONEY))),
        "subject": draw(st.sampled_from(list(ItemSubject))),
        "method": draw(st.sampled_from(list(PaymentMethod))),
        "user_data": draw(maybe(text(1, 64))),
        "excise": draw(maybe(st.integers(0, 10**6))),
        "country_code": draw(maybe(st.sampled_from(["643", "156", "1"]))),
        "declaration_number": draw(maybe(text(1, 32))),
    }
    if ffd == 4:
        fields["measure"] = draw(st.sampled_from(list(MeasureUnit)))
        if draw(st.booleans()):
            kind = draw(st.sampled_from(MARKING_KINDS))
            fields["marking"] = MarkingCode(kind=kind, code=draw(text(1, REGISTRY[kind].max_length)))
            fields["marking_mode"] = draw(maybe(st.integers(0, 255)))
            fields["check_result"] = draw(maybe(st.integers(0, 15)))
        if draw(st.integers(0, 9)) == 0:
            fields["fraction"] = Fraction(numerator=draw(st.integers(1, 99)), denominator=draw(st.integers(1, 99)))
        if draw(st.integers(0, 9)) == 0:
            fields["industry_props"] = (
                IndustryProp(foiv_id="030", doc_date=dt.date(2023, 11, 21), doc_number="1944", value=draw(text(1, 40))),
            )
    else:
        fields["unit_name"] = draw(maybe(st.sampled_from(["шт", "кг", "л"])))
        fields["product_code"] = draw(maybe(st.binary(min_size=1, max_size=32)))
    if draw(st.integers(0, 9)) == 0:
        data = draw(maybe(st.builds(AgentData, operation=maybe(text(1, 24)), agent_phones=st.just(("+79990000001",)))))
        fields["agent"] = Agent(types=AgentType(draw(st.integers(1, 127))), data=data)
    if draw(st.integers(0, 9)) == 0:
        fields["supplier"] = Supplier(phones=("+79990000005",), name="ИП Петров", inn="500100732259")
    return Item(**fields)


def _payments(draw: Any, total: int) -> Payments:
    shares = draw(st.lists(st.integers(0, 4), min_size=1, max_size=4))
    split = [0] * 5
    left = total
    for k in shares[:-1]:
        part = draw(st.integers(0, left))
        split[k] += part
        left -= part
    split[shares[-1]] += left
    split[0] += draw(st.sampled_from([0, 0, 1, 5000]))  # change from cash
    cashless: tuple[CashlessPayment, ...] = ()
    if split[1] and draw(st.integers(0, 5)) == 0:
        cashless = (CashlessPayment(sum=split[1], method=1, ids=draw(maybe(text(1, 20))), info=None),)
    return Payments(
        cash=split[0], electronic=split[1], prepaid=split[2], credit=split[3], provision=split[4], cashless=cashless
    )


@st.composite
def receipts(draw: Any) -> tuple[Any, Any]:
    ffd = draw(st.sampled_from([2, 4]))
    identity = samples.identity(ffd=ffd)
    identity = replace(
        identity,
        internet_only=draw(st.booleans()),
        automat_number=draw(maybe(st.sampled_from(["A-1", "автомат 7"]))),
        sender_email=draw(maybe(st.just("noreply@shop.example.ru"))),
    )
    correction = draw(st.integers(0, 3)) == 0
    sign = draw(st.sampled_from([1, 3] if correction and ffd == 2 else [1, 2, 3, 4]))
    its = tuple(draw(st.lists(items(ffd), min_size=0 if correction and ffd == 2 else 1, max_size=5)))
    total = sum(i.sum for i in its)
    if total > MAX_MONEY:
        its = its[:1]
        total = its[0].sum if its else 0
    if not its:
        total = draw(st.integers(0, 10**6))
    fields: dict[str, Any] = {
        "settlement_sign": SettlementSign(sign),
        "tax_system": draw(st.sampled_from(list(TaxSystem))),
        "items": its,
        "payments": _payments(draw, total),
        "total": total,
        "client_contact": draw(maybe(st.sampled_from(["+79990000000", "buyer@example.ru"]))),
        "cashier": draw(maybe(text(1, 64))),
        "cashier_inn": draw(maybe(st.sampled_from(["7707083893", "500100732259"]))),
        "sender_email": draw(maybe(st.sampled_from(["", "shop@example.ru"]))),
        "settlement_address": draw(maybe(st.sampled_from(["", "г. Казань, ул. Баумана, 1"]))),
        "settlement_place": draw(maybe(text(0, 40))),
        "additional_check_prop": draw(maybe(text(1, 16))),
        "internet": draw(st.booleans()),
        "timezone": draw(maybe(st.integers(1, 11))),
        "device_number": draw(maybe(st.sampled_from(["", "D-42"]))),
    }
    if draw(st.booleans()):
        rates = draw(st.lists(st.sampled_from(list(VatRate)), unique=True, max_size=4))
        fields["vats"] = tuple(VatSum(rate=r, amount=draw(st.integers(0, total))) for r in rates)
    if draw(st.integers(0, 4)) == 0:
        fields["user_prop"] = UserProp(name=draw(text(1, 64)), value=draw(text(1, 100)))
    if draw(st.integers(0, 4)) == 0:
        extra = {"birth_date": dt.date(1990, 5, 17), "citizenship": "643", "address": "Москва"} if ffd == 4 else {}
        fields["buyer"] = Buyer(name=draw(maybe(text(1, 40))), inn=draw(maybe(st.just("500100732259"))), **extra)
    if ffd == 4:
        if draw(st.integers(0, 5)) == 0:
            fields["operational_props"] = OperationalProp(id=1, data="op", when=WHEN)
        if draw(st.integers(0, 5)) == 0:
            fields["industry_check_props"] = (
                IndustryProp(foiv_id="020", doc_date=dt.date(2024, 1, 2), doc_number="1", value="v"),
            )
        fields["marking_check_result"] = draw(maybe(st.integers(0, 255)))
    else:
        if draw(st.integers(0, 5)) == 0:
            fields["agent"] = Agent(types=AgentType.PAYING_AGENT, data=AgentData(operation="перевод"))
        if draw(st.integers(0, 5)) == 0:
            fields["supplier"] = Supplier(phones=("+79990000005", "+79990000006"))
    if not correction:
        return identity, Receipt(**fields)
    fields["correction_type"] = draw(st.sampled_from(list(CorrectionType)))
    fields["base_date"] = draw(st.dates(dt.date(1970, 1, 1), dt.date(2100, 12, 31)))
    fields["base_number"] = draw(st.one_of(text(0, 32), st.none() if ffd == 4 else text(0, 32)))
    return identity, Correction(**fields)


def _item(r: Any, i: int, **changes: Any) -> Any:
    its = list(r.items)
    its[i] = replace(its[i], **changes)
    return replace(r, items=tuple(its))


# One fault each: (name, applicable(r, ffd), mutate(r)). A few are only unusual: the twin takes them, and
# so must the native module (through the twin); MAY_PASS names them.
MAY_PASS = {"items-list", "vat-rate-float", "sign-bool", "internet-str"}
FAULTS: list[tuple[str, Any, Any]] = [
    ("item-sum", lambda r, v: r.items, lambda r: _item(r, 0, sum=r.items[0].sum + 1)),
    ("total", lambda r, v: True, lambda r: replace(r, total=r.total + 1)),
    ("underpaid", lambda r, v: r.total, lambda r: replace(r, payments=Payments(cash=r.total - 1))),
    ("card-change", lambda r, v: True, lambda r: replace(r, payments=Payments(electronic=r.total + 1))),
    ("vat-over-sum", lambda r, v: r.items, lambda r: _item(r, 0, vat_sum=r.items[0].sum + 1)),
    ("quantity-zero", lambda r, v: r.items, lambda r: _item(r, 0, quantity=Decimal("0.000"))),
    ("quantity-negative", lambda r, v: r.items, lambda r: _item(r, 0, quantity=-1)),
    ("quantity-nan", lambda r, v: r.items, lambda r: _item(r, 0, quantity=Decimal("NaN"))),
    ("quantity-float", lambda r, v: r.items, lambda r: _item(r, 0, quantity=1.0)),
    ("quantity-bool", lambda r, v: r.items, lambda r: _item(r, 0, quantity=True)),
    ("quantity-huge", lambda r, v: r.items, lambda r: _item(r, 0, quantity=Decimal(2**56), price=0, sum=0)),
    ("price-huge", lambda r, v: r.items, lambda r: _item(r, 0, price=MAX_MONEY + 1, quantity=1, sum=MAX_MONEY + 1)),
    ("price-negative", lambda r, v: r.items, lambda r: _item(r, 0, price=-5, quantity=1, sum=-5)),
    ("name-not-cp866", lambda r, v: r.items, lambda r: _item(r, 0, name="Кофе " + NOT_CP866[len(r.items) % 7])),
    ("name-too-long", lambda r, v: r.items, lambda r: _item(r, 0, name="Я" * 129)),
    ("name-none", lambda r, v: r.items, lambda r: _item(r, 0, name=None)),
    ("cashier-not-cp866", lambda r, v: True, lambda r: replace(r, cashier="Кассир «Иванова»")),
    ("contact-too-long", lambda r, v: True, lambda r: replace(r, client_contact="x" * 65)),
    ("vat-rate-13", lambda r, v: r.items, lambda r: _item(r, 0, vat=13)),
    ("vat-rate-float", lambda r, v: r.items, lambda r: _item(r, 0, vat=1.0)),
    ("vats-twice", lambda r, v: True, lambda r: replace(r, vats=(VatSum(rate=1, amount=1), VatSum(rate=1, amount=2)))),
    ("vats-huge", lambda r, v: True, lambda r: replace(r, vats=(VatSum(rate=7, amount=MAX_MONEY + 1),))),
    ("tax-two-bits", lambda r, v: True, lambda r: replace(r, tax_system=TaxSystem.OSN | TaxSystem.PATENT)),
    ("tax-unknown", lambda r, v: True, lambda r: replace(r, tax_system=TaxSystem(64))),
    ("no-items", lambda r, v: not isinstance(r, Correction), lambda r: replace(r, items=())),
    ("101-items", lambda r, v: r.items, lambda r: replace(r, items=(r.items[0],) * 101, total=r.items[0].sum * 101)),
    ("items-list", lambda r, v: True, lambda r: replace(r, items=list(r.items))),
    ("marking-kind", lambda r, v: r.items and v == 4, lambda r: _item(r, 0, marking=MarkingCode(kind=1310, code="x"))),
    (
        "marking-too-long",
        lambda r, v: r.items and v == 4,
        lambda r: _item(r, 0, marking=MarkingCode(kind=1301, code="1" * 9)),
    ),
    ("measure-none", lambda r, v: r.items and v == 4, lambda r: _item(r, 0, measure=None)),
    ("measure-in-105", lambda r, v: r.items and v == 2, lambda r: _item(r, 0, measure=MeasureUnit.PIECE)),
    ("marking-empty-105", lambda r, v: r.items and v == 2, lambda r: _item(r, 0, marking=())),
    ("unit-name-in-12", lambda r, v: r.items and v == 4, lambda r: _item(r, 0, unit_name="шт")),
    ("agent-in-12", lambda r, v: v == 4, lambda r: replace(r, agent=Agent(types=AgentType.ATTORNEY))),
    ("buyer-12-field-in-105", lambda r, v: v == 2, lambda r: replace(r, buyer=Buyer(citizenship="643"))),
    (
        "ops-in-105",
        lambda r, v: v == 2,
        lambda r: replace(r, operational_props=OperationalProp(id=1, data="x", when=WHEN)),
    ),
    ("excise-huge", lambda r, v: r.items, lambda r: _item(r, 0, excise=MAX_MONEY + 1)),
    ("country-long", lambda r, v: r.items, lambda r: _item(r, 0, country_code="6430")),
    (
        "cashless-mismatch",
        lambda r, v: r.total,
        lambda r: replace(
            r, payments=Payments(electronic=r.total, cashless=(CashlessPayment(sum=r.total - 1, method=1),))
        ),
    ),
    ("user-prop-over-320", lambda r, v: True, lambda r: replace(r, user_prop=UserProp(name="н" * 64, value="з" * 256))),
    ("sign-bool", lambda r, v: True, lambda r: replace(r, settlement_sign=True)),
    ("sign-300", lambda r, v: True, lambda r: replace(r, settlement_sign=300)),
    ("internet-str", lambda r, v: True, lambda r: replace(r, internet="yes")),
    (
        "correction-105-refund",
        lambda r, v: isinstance(r, Correction) and v == 2,
        lambda r: replace(r, settlement_sign=SettlementSign.SALE_REFUND),
    ),
    (
        "correction-105-no-base",
        lambda r, v: isinstance(r, Correction) and v == 2,
        lambda r: replace(r, base_number=None),
    ),
    (
        "correction-12-no-items",
        lambda r, v: isinstance(r, Correction) and v == 4,
        lambda r: replace(r, items=(), total=0),
    ),
    ("correction-1969", lambda r, v: isinstance(r, Correction), lambda r: replace(r, base_date=dt.date(1969, 12, 31))),
    ("correction-2200", lambda r, v: isinstance(r, Correction), lambda r: replace(r, base_date=dt.date(2200, 1, 1))),
    ("not-a-receipt", lambda r, v: True, lambda r: msgspec.structs.asdict(r)),
]


@given(receipts())
def test_valid_receipts_match_the_twin(case: tuple[Any, Any]) -> None:
    pair = both_impls(NATIVE, TWIN)
    identity, r = case
    assert_same(pair, identity, r)


@given(receipts(), st.sampled_from(FAULTS))
def test_faulty_receipts_raise_what_the_twin_raises(case: tuple[Any, Any], fault: tuple[str, Any, Any]) -> None:
    pair = both_impls(NATIVE, TWIN)
    identity, r = case
    name, applies, mutate = fault
    if applies(r, int(identity.ffd_version)):
        r = mutate(r)
    assert_same(pair, identity, r, fast=name not in MAY_PASS)


# Text fields written natively and through the rare-part helpers: (name, applicable(r), mutate(r, text)).
TEXT_FIELDS: list[tuple[str, Any, Any]] = [
    ("item.name", lambda r: r.items, lambda r, t: _item(r, 0, name=t)),
    ("item.user_data", lambda r: r.items, lambda r, t: _item(r, 0, user_data=t)),
    ("cashier", lambda r: True, lambda r, t: replace(r, cashier=t)),
    ("client_contact", lambda r: True, lambda r, t: replace(r, client_contact=t)),
    ("settlement_place", lambda r: True, lambda r, t: replace(r, settlement_place=t)),
    ("buyer.name", lambda r: True, lambda r, t: replace(r, buyer=Buyer(name=t))),
    ("user_prop.value", lambda r: True, lambda r, t: replace(r, user_prop=UserProp(name="n", value=t))),
    ("base_number", lambda r: isinstance(r, Correction), lambda r, t: replace(r, base_number=t)),
]


@given(receipts(), st.sampled_from(TEXT_FIELDS), text(0, 20), st.sampled_from(NOT_CP866), text(0, 20))
def test_text_cp866_cannot_hold(
    case: tuple[Any, Any], field: tuple[str, Any, Any], head: str, bad: str, tail: str
) -> None:
    pair = both_impls(NATIVE, TWIN)
    identity, r = case
    _, applies, mutate = field
    if not applies(r):
        return
    result = assert_same(pair, identity, mutate(r, head + bad + tail))
    assert result[0] == "error"  # EncodeError, or whatever the twin meets first


def test_the_generated_receipts_are_mostly_valid_and_the_faults_mostly_refused(pair: tuple[Any, Any]) -> None:
    """The strategies must exercise both sides, or the equivalence tests prove little."""
    py, _ = pair
    valid = faulty = 0

    @settings(max_examples=100)
    @given(receipts(), st.sampled_from(FAULTS))
    def count(case: tuple[Any, Any], fault: tuple[str, Any, Any]) -> None:
        nonlocal valid, faulty
        identity, r = case
        valid += outcome(py.encode_body, identity, r)[0] == "ok"
        if fault[1](r, int(identity.ffd_version)):
            faulty += outcome(py.encode_body, identity, fault[2](r))[0] == "error"

    count()
    assert valid > 30
    assert faulty > 30


@pytest.mark.parametrize("name", [f[0] for f in FAULTS])
def test_each_fault_on_a_sample_receipt(pair: tuple[Any, Any], name: str) -> None:
    _, applies, mutate = next(f for f in FAULTS if f[0] == name)
    applied = 0
    for ffd in (2, 4):
        identity = samples.identity(ffd=ffd)
        for r in (samples.receipt(3, 5, ffd=ffd), correction_of(samples.receipt(3, 5, ffd=ffd))):
            if applies(r, ffd):
                applied += 1
                result = assert_same(pair, identity, mutate(r), fast=name not in MAY_PASS)
                if name not in MAY_PASS:
                    assert result[0] == "error"
    assert applied


def correction_of(r: Receipt, base_number: str | None = "7") -> Correction:
    fields = msgspec.structs.asdict(r)
    fields["settlement_sign"] = SettlementSign.SALE
    return Correction(
        **fields, correction_type=CorrectionType.SELF, base_date=dt.date(2026, 1, 5), base_number=base_number
    )


def consistent(r: Any) -> Any:
    """``r`` with the total and payments that its items add up to."""
    total = sum(i.sum for i in r.items)
    return replace(r, total=total, payments=Payments(electronic=total))


# --------------------------------------------------------------------------- samples and splicing


@pytest.mark.parametrize("ffd", [2, 4])
def test_every_sample_seed_matches(pair: tuple[Any, Any], ffd: int) -> None:
    identity = samples.identity(ffd=ffd)
    for seed in range(200):
        for sign in (1, 2, 3, 4) if seed < 8 else (1,):
            assert_same(pair, identity, samples.receipt(10, seed, ffd=ffd, sign=sign))


@pytest.mark.parametrize("ffd", [2, 4])
@pytest.mark.parametrize("correction", [False, True])
def test_the_spliced_document_is_the_whole_document(pair: tuple[Any, Any], ffd: int, correction: bool) -> None:
    _, native = pair
    identity = samples.identity(ffd=ffd)
    header = Header(fd_number=4321, when=dt.datetime(2026, 11, 23, 9, 41, 7), shift_number=245)
    sign = bytes.fromhex("3104a1b2c3d4")
    for seed in range(20):
        r: Any = samples.receipt(10, seed, ffd=ffd, sign=1 + seed % 4)
        if correction:
            fields = msgspec.structs.asdict(r)
            fields["settlement_sign"] = SettlementSign.SALE if ffd == 4 or seed % 2 else SettlementSign.PURCHASE
            r = Correction(
                **fields,
                correction_type=CorrectionType.BY_ORDER,
                base_date=dt.date(2026, 2, 1),
                base_number="ЕД-7-20/1050@" if seed % 3 else None if ffd == 4 else "1",
            )
            form, nodes = documents.correction_receipt(identity, header, sign, r, receipt_number=seed + 1)
        else:
            form, nodes = documents.receipt(identity, header, sign, r, receipt_number=seed + 1)
        body = native.encode_body(identity, r)
        assert body.form == form
        data = tlv.encode(nodes[:8]) + body.data
        spliced = form.to_bytes(2, "little") + len(data).to_bytes(2, "little") + data
        assert spliced == tlv.encode([(form, nodes)])
        from_body, from_tree = Counters(), Counters()
        rows = Accumulator()
        rows.add_row(form, body.counter_row)
        rows.flush_into(from_body)
        from_tree.apply((form, nodes))
        assert from_body == from_tree


def test_hundred_items_and_rare_fields(pair: tuple[Any, Any]) -> None:
    identity = samples.identity()
    r = samples.receipt(100, 3)
    assert_same(pair, identity, r)
    its = list(r.items)
    its[0] = replace(
        its[0],
        fraction=Fraction(numerator=1, denominator=4),
        supplier=Supplier(phones=("+7999",)),
        agent=Agent(types=AgentType.COMMISSIONER, data=AgentData(operation="x")),
        industry_props=(IndustryProp(foiv_id="030", doc_date=dt.date(2023, 1, 2), doc_number="1", value="v"),),
    )
    r = replace(
        r,
        items=tuple(its),
        buyer=Buyer(name="Иванов", birth_date=dt.date(1980, 1, 2)),
        payments=Payments(electronic=r.total, cashless=(CashlessPayment(sum=r.total, method=2, info="СБП"),)),
        operational_props=OperationalProp(id=3, data="d", when=WHEN),
        user_prop=UserProp(name="n", value="v"),
    )
    assert assert_same(pair, identity, r)[0] == "ok"


@pytest.mark.parametrize(
    "quantity",
    [
        1,
        7,
        Decimal("1"),
        Decimal("1.000"),
        Decimal("0.876"),
        Decimal("1E+1"),
        Decimal("2.5E+3"),
        Decimal("1E-30"),
        Decimal("72057594037927.935"),
        Decimal("72057594037927936"),
        Decimal("-0"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("12345678901234567890"),
        2**56 - 1,
        2**56,
        2**70,
    ],
    ids=str,
)
def test_quantities(pair: tuple[Any, Any], quantity: Any) -> None:
    class Dec(Decimal):
        pass

    identity = samples.identity()
    r = samples.receipt(2, 1)
    for q in (quantity, Dec(quantity) if isinstance(quantity, Decimal) else quantity):
        for price in (0, 1, 99, 12345):
            try:
                total = item_sum(price, q)
            except (ValueError, ArithmeticError):
                total = 0
            assert_same(pair, identity, consistent(_item(r, 1, quantity=q, price=price, sum=total)))


def test_errors_are_the_twins(pair: tuple[Any, Any]) -> None:
    _, native = pair
    identity = samples.identity()
    r = samples.receipt(3, 2)
    with pytest.raises(ReceiptError) as info:
        native.encode_body(identity, _item(r, 2, sum=r.items[2].sum + 1))
    assert info.value.path == "items[2].sum"
    with pytest.raises(EncodeError) as enc:
        native.encode_body(identity, _item(r, 1, name="Кофе €"))
    assert enc.value.path == (1059, 1030)
    with pytest.raises(ValueError, match="FFD version code 3"):
        native.encode_body(replace(identity, ffd_version=3), r)


def test_both_export_the_same_api(pair: tuple[Any, Any]) -> None:
    py, native = pair
    assert native.IMPLEMENTATION == "native" and py.IMPLEMENTATION == "py"
    assert native.__all__ == py.__all__
    assert native.ReceiptBody is py.ReceiptBody and native.COUNTER_TAGS is py.COUNTER_TAGS
    assert (
        inspect.signature(native.encode_body).parameters.keys() == inspect.signature(py.encode_body).parameters.keys()
    )


def test_the_selector() -> None:
    found = receipt_body.implementations()
    assert receipt_body.encode_body is found[receipt_body.IMPLEMENTATION].encode_body
    identity = samples.identity()
    r = samples.receipt(4, 9)
    assert receipt_body.encode_body(identity, r) == found["py"].encode_body(identity, r)


@given(receipts())
def test_the_counter_row_adds_what_totals_of_reads_in_the_body(case: tuple[Any, Any]) -> None:
    """The drive counts each body with Accumulator.add_row(counter_row); it must add exactly what the general
    reader finds in the body's own TLV bytes, for both encoders, as a receipt and as a correction's form."""
    identity, r = case
    for impl in both_impls(NATIVE, TWIN):
        try:
            body = impl.encode_body(identity, r)
        except Exception:
            continue  # refused receipts are test_faulty_receipts_…'s business
        data = body.data
        ((_, nodes),) = tlv.decode(body.form.to_bytes(2, "little") + len(data).to_bytes(2, "little") + data)
        assert all(type(v) is int for v in body.counter_row)
        for form in (body.form, 31 if body.form == 3 else 3):
            fast, general = Accumulator(), Accumulator()
            fast.add_row(form, body.counter_row)
            general.add(totals_of((form, nodes)))
            got, want = Counters(), Counters()
            fast.flush_into(got)
            general.flush_into(want)
            assert got == want
            assert got.receipt_count == 1


def _needs_by_name(r: Any) -> int:
    """capability_bits by the subjects' names (an oracle independent of the twin's code sets)."""
    bits = 1 if r.agent is not None else 0
    for item in r.items:
        name = ItemSubject(item.subject).name
        bits |= 1 if item.agent is not None else 0
        bits |= 2 if "EXCISE" in name or item.excise is not None else 0
        bits |= 4 if "MARKED" in name or item.marking is not None else 0
    return bits


def _bits(fn: Any, r: Any) -> Any:
    try:
        return ("ok", fn(r))
    except Exception as exc:
        return ("error", type(exc))


@given(receipts(), st.sampled_from([None, *FAULTS]))
def test_capability_bits_match_the_twin(case: tuple[Any, Any], fault: tuple[str, Any, Any] | None) -> None:
    """What a receipt needs of a register: native == twin == the subjects' names, for valid receipts and for
    the faulty ones (a dict, an out-of-range subject: the twin's answer or its error)."""
    py, native = both_impls(NATIVE, TWIN)
    identity, r = case
    if fault is not None and fault[1](r, int(identity.ffd_version)):
        r = fault[2](r)
    want = _bits(py.capability_bits, r)
    assert _bits(native.capability_bits, r) == want
    if want[0] == "ok" and isinstance(r, Receipt) and all(type(i.subject) is ItemSubject for i in r.items):
        assert want[1] == _needs_by_name(r)


def test_capability_bits_of_every_subject(pair: tuple[Any, Any]) -> None:
    """Each 1212 subject alone (as the enum and as a plain int), then with 1229, a marking code, agent data."""
    py, native = pair
    r = samples.receipt(1, 1, ffd=4)
    plain = replace(r.items[0], marking=None, excise=None, agent=None)
    for subject in ItemSubject:
        want = _needs_by_name(replace(r, items=(replace(plain, subject=subject),)))
        for value in (subject, int(subject)):
            one = replace(r, items=(replace(plain, subject=value),))
            assert native.capability_bits(one) == py.capability_bits(one) == want, subject
    one = replace(r, items=(replace(plain, subject=1, excise=100),))
    assert native.capability_bits(one) == py.capability_bits(one) == 2
    one = replace(r, items=(replace(plain, subject=1, marking=MarkingCode(kind=1300, code="x")),))
    assert native.capability_bits(one) == py.capability_bits(one) == 4
    one = replace(r, agent=Agent(types=AgentType.ATTORNEY), items=(replace(plain, subject=1),))
    assert native.capability_bits(one) == py.capability_bits(one) == 1


def test_capability_bits_of_odd_values(pair: tuple[Any, Any]) -> None:
    """What the fast path does not read is the twin's: a string subject (int() reads it), not a receipt."""
    py, native = pair
    r = samples.receipt(3, 1, ffd=4)
    odd = replace(r, items=(replace(r.items[0], subject="33", marking=None, excise=None),))
    assert native.capability_bits(odd) == py.capability_bits(odd) == 4
    for value in (object(), msgspec.structs.asdict(r)):
        with pytest.raises(AttributeError):
            py.capability_bits(value)
        with pytest.raises(AttributeError):
            native.capability_bits(value)
