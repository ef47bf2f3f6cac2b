"""The receipt model: arithmetic helpers, check_sums paths, msgspec validation and the tag metadata."""

from __future__ import annotations

import datetime as dt
import typing
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from fiscal_core.errors import InputError
from fiscal_core.ffd import receipt as rmod
from fiscal_core.ffd.enums import (
    CorrectionType,
    ItemSubject,
    MeasureUnit,
    PaymentMethod,
    SettlementSign,
    TaxSystem,
    VatRate,
)
from fiscal_core.ffd.receipt import (
    CashlessPayment,
    Correction,
    Item,
    MarkingCode,
    Payments,
    Receipt,
    ReceiptError,
    VatSum,
    check_sums,
    check_text,
    item_sum,
    vat_amount,
    vat_totals,
)
from fiscal_core.ffd.tags import REGISTRY, DataType


def item(price: int = 10000, quantity: int | Decimal = 1, vat: VatRate = VatRate.VAT20, **kw: Any) -> Item:
    fields: dict[str, Any] = {
        "name": "Товар",
        "price": price,
        "quantity": quantity,
        "sum": item_sum(price, quantity),
        "vat": vat,
        "subject": ItemSubject.GOODS,
        "method": PaymentMethod.FULL_SETTLEMENT,
        "measure": MeasureUnit.PIECE,
    }
    fields.update(kw)
    return Item(**fields)


def sale(items: tuple[Item, ...], payments: Payments | None = None, **kw: Any) -> Receipt:
    total = sum(i.sum for i in items)
    fields: dict[str, Any] = {
        "settlement_sign": SettlementSign.SALE,
        "tax_system": TaxSystem.OSN,
        "items": items,
        "payments": payments or Payments(electronic=total),
        "total": total,
    }
    fields.update(kw)
    return Receipt(**fields)


def error_path(r: Receipt) -> str:
    with pytest.raises(ReceiptError) as info:
        check_sums(r)
    assert isinstance(info.value, InputError)  # the API answers 400, not 500
    return info.value.path


# --------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(
    ("price", "quantity", "expected"),
    [
        (32900, Decimal("0.876"), 28820),  # the real 2020 receipt: 28 820.4 -> 28 820
        (1, Decimal("0.5"), 1),  # exactly half: up, not to even
        (3, Decimal("0.5"), 2),  # 1.5 -> 2
        (5, Decimal("0.1"), 1),  # 0.5 -> 1 (a binary float would give 0.5000000000000001 or 0.49999)
        (4199, 3, 12597),
        (100, Decimal("1E+1"), 1000),  # a positive exponent
        (99999, Decimal("0.001"), 100),  # 99.999 -> 100
        (42949672, Decimal("99999.999"), 4294967157050),
    ],
)
def test_item_sum_rounds_half_up_exactly(price: int, quantity: int | Decimal, expected: int) -> None:
    assert item_sum(price, quantity) == expected


def test_vat_amount_real_2026_values_and_half_up() -> None:
    assert vat_amount(24697, VatRate.VAT22) == 4454  # ffd.md §7.4, verified on the real receipt
    assert vat_amount(80730, VatRate.VAT22_122) == 14558
    assert vat_amount(31595, VatRate.VAT10) == 2872
    assert vat_amount(3, VatRate.VAT20) == 1  # 3 x 20/120 = 0.5: half up (banker's rounding gives 0)
    assert vat_amount(11000, VatRate.VAT10_110) == 1000
    assert vat_amount(10500, VatRate.VAT5) == 500
    assert vat_amount(10700, VatRate.VAT7_107) == 700
    assert vat_amount(12345, VatRate.VAT0) == 0
    assert vat_amount(12345, VatRate.NO_VAT) == 0


def test_vat_totals_rounds_the_turnover_not_the_items() -> None:
    # The real receipt's 10 % items: per-item rounded VATs add up to 2873, the receipt says 2872.
    items = tuple(item(p, vat=VatRate.VAT10) for p in (5999, 4199, 4199, 4199, 12999))
    assert sum(vat_amount(i.sum, VatRate.VAT10) for i in items) == 2873
    totals = vat_totals((*items, item(24697, vat=VatRate.VAT22), item(500, vat=VatRate.NO_VAT)))
    assert list(totals) == [VatRate.VAT10, VatRate.NO_VAT, VatRate.VAT22]  # rate order
    assert totals[VatRate.VAT10] == (2872, 31595)
    assert totals[VatRate.VAT22] == (4454, 24697)
    assert totals[VatRate.NO_VAT] == (0, 500)


def test_payments_change() -> None:
    p = Payments(cash=5000, electronic=1000)
    assert p.total == 6000
    assert p.change(5500) == 500
    assert p.change(7000) == 0


# --------------------------------------------------------------------------- check_sums


def test_a_consistent_receipt_passes() -> None:
    r = sale((item(), item(32900, Decimal("0.876"), VatRate.VAT10)), Payments(cash=40000, electronic=10000))
    check_sums(r)  # 388.20 paid with 400.00 cash + 100.00 card: 111.80 of change, all from the cash
    assert r.total == 38820


def test_change_only_from_cash() -> None:
    items = (item(10000),)
    check_sums(sale(items, Payments(cash=15000)))  # 50.00 change from cash
    check_sums(sale(items, Payments(cash=6000, electronic=4000)))  # exact
    check_sums(sale(items, Payments(cash=7000, electronic=4000)))  # 10.00 change, cash is 70.00
    check_sums(sale(items, Payments(cash=1000, electronic=10000)))  # the card pays exactly, all the cash comes back
    assert error_path(sale(items, Payments(cash=1000, electronic=10001))) == "payments"  # the card overpays
    assert error_path(sale(items, Payments(prepaid=12000))) == "payments"  # change from an advance
    assert error_path(sale(items, Payments(cash=9999))) == "payments"  # underpaid


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (
            lambda r: msgspec.structs.replace(r, items=(r.items[0], msgspec.structs.replace(r.items[1], sum=1))),
            "items[1].sum",
        ),
        (lambda r: msgspec.structs.replace(r, total=r.total + 1), "total"),
        (lambda r: msgspec.structs.replace(r, items=()), "items"),
        (lambda r: msgspec.structs.replace(r, items=(r.items[0],) * 101), "items"),
        (lambda r: msgspec.structs.replace(r, tax_system=TaxSystem.OSN | TaxSystem.PATENT), "tax_system"),
        (lambda r: msgspec.structs.replace(r, tax_system=TaxSystem(64)), "tax_system"),
        (
            lambda r: msgspec.structs.replace(r, items=(msgspec.structs.replace(r.items[0], quantity=0), r.items[1])),
            "items[0].quantity",
        ),
        (
            lambda r: msgspec.structs.replace(
                r, items=(r.items[0], msgspec.structs.replace(r.items[1], quantity=Decimal("-1.5")))
            ),
            "items[1].quantity",
        ),
        (
            lambda r: msgspec.structs.replace(
                r, items=(msgspec.structs.replace(r.items[0], quantity=Decimal("NaN")), r.items[1])
            ),
            "items[0].quantity",
        ),
        (
            lambda r: msgspec.structs.replace(
                r, items=(msgspec.structs.replace(r.items[0], quantity=Decimal(2**56)), r.items[1])
            ),
            "items[0].quantity",
        ),
        (
            lambda r: msgspec.structs.replace(
                r, items=(r.items[0], msgspec.structs.replace(r.items[1], marking=MarkingCode(kind=1310, code="x")))
            ),
            "items[1].marking.kind",
        ),
        (
            lambda r: msgspec.structs.replace(
                r, items=(msgspec.structs.replace(r.items[0], vat_sum=10001), r.items[1])
            ),
            "items[0].vat_sum",
        ),
        (
            lambda r: msgspec.structs.replace(
                r, vats=(VatSum(rate=VatRate.VAT20, amount=1), VatSum(rate=VatRate.VAT20, amount=2))
            ),
            "vats[1].rate",
        ),
        (
            lambda r: msgspec.structs.replace(
                r,
                payments=Payments(electronic=r.total, cashless=(CashlessPayment(sum=r.total - 1, method=1),)),
            ),
            "payments.cashless",
        ),
    ],
    ids=[
        "item-sum",
        "total",
        "no-items",
        "101-items",
        "two-tax-bits",
        "unknown-tax-bit",
        "zero-quantity",
        "negative-quantity",
        "nan-quantity",
        "quantity-too-big",
        "marking-kind",
        "item-vat-over-sum",
        "vat-rate-twice",
        "cashless-details",
    ],
)
def test_check_sums_names_the_field(mutate: Any, path: str) -> None:
    base = sale((item(10000), item(250, 3, VatRate.VAT10)))
    check_sums(base)
    assert error_path(mutate(base)) == path


def test_item_sum_error_reports_the_expected_value() -> None:
    r = sale((item(), item(32900, Decimal("0.876"), sum=28821)))
    with pytest.raises(ReceiptError) as info:
        check_sums(r)
    assert info.value.path == "items[1].sum"
    assert "28820" in info.value.message
    assert info.value.to_dict()["path"] == "items[1].sum"


def test_a_correction_may_have_no_items_but_keeps_its_payments_rule() -> None:
    corr = Correction(
        settlement_sign=SettlementSign.SALE,
        tax_system=TaxSystem.OSN,
        items=(),
        payments=Payments(cash=5000),
        total=5000,
        vats=(VatSum(rate=VatRate.VAT20, amount=833),),
        correction_type=CorrectionType.SELF,
        base_date=dt.date(2026, 8, 1),
        base_number="1",
    )
    check_sums(corr)
    assert error_path(msgspec.structs.replace(corr, payments=Payments(cash=4999))) == "payments"


def test_check_text_finds_non_cp866_characters() -> None:
    r = sale((item(), item(name="Молоко «Простоквашино»")))
    with pytest.raises(ReceiptError) as info:
        check_text(r)
    assert info.value.path == "items[1].name"
    assert "«" in info.value.reason
    check_text(sale((item(name="Молоко №1 °C"),)))  # № and ° are CP866


# --------------------------------------------------------------------------- msgspec validation and metadata


def test_convert_validates_with_paths() -> None:
    good = msgspec.to_builtins(sale((item(32900, Decimal("0.876")),)))
    r = msgspec.convert(good, Receipt)
    quantity = r.items[0].quantity
    assert isinstance(quantity, Decimal) and quantity == Decimal("0.876")
    assert quantity.as_tuple().exponent == -3  # the FVLN scale survives

    too_long = msgspec.to_builtins(sale((item(), item(name="я" * 129))))
    with pytest.raises(msgspec.ValidationError, match=r"\$\.items\[1\]\.name"):
        msgspec.convert(too_long, Receipt)
    bad_inn = {**good, "cashier_inn": "12345"}
    with pytest.raises(msgspec.ValidationError, match=r"\$\.cashier_inn"):
        msgspec.convert(bad_inn, Receipt)
    bad_rate = msgspec.to_builtins(sale((item(),)))
    bad_rate["items"][0]["vat"] = 13
    with pytest.raises(msgspec.ValidationError, match=r"\$\.items\[0\]\.vat"):
        msgspec.convert(bad_rate, Receipt)
    negative = {**good, "total": -1}
    with pytest.raises(msgspec.ValidationError, match=r"\$\.total"):
        msgspec.convert(negative, Receipt)


def test_json_round_trip_keeps_decimals_and_dates() -> None:
    corr = Correction(
        settlement_sign=SettlementSign.PURCHASE,
        tax_system=TaxSystem.USN_INCOME,
        items=(item(32900, Decimal("0.870")),),
        payments=Payments(cash=28623),
        total=28623,
        correction_type=CorrectionType.BY_ORDER,
        base_date=dt.date(2026, 2, 28),
        base_number="7-20/1",
    )
    again = msgspec.json.decode(msgspec.json.encode(corr), type=Correction)
    assert again == corr
    assert str(again.items[0].quantity) == "0.870"


_STRING_TYPES = {DataType.STRING}
_INT_TYPES = {DataType.BYTE, DataType.UINT16, DataType.UINT32, DataType.VLN, DataType.BITMASK}


def _tagged_fields() -> list[tuple[str, str, int, Any]]:
    out = []
    for name in rmod.__all__:
        cls = getattr(rmod, name)
        if not (isinstance(cls, type) and issubclass(cls, msgspec.Struct)):
            continue
        info = msgspec.inspect.type_info(cls)
        assert isinstance(info, msgspec.inspect.StructType)
        for field in info.fields:
            t = field.type
            if isinstance(t, msgspec.inspect.UnionType):  # X | None
                t = next(x for x in t.types if not isinstance(x, msgspec.inspect.NoneType))
            if isinstance(t, msgspec.inspect.Metadata) and t.extra and "tag" in t.extra:
                out.append((name, field.name, t.extra["tag"], t.type))
    return out


def test_every_field_names_a_registered_tag_of_a_compatible_type() -> None:
    fields = _tagged_fields()
    assert len(fields) > 60  # every receipt field carries its tag
    for struct, name, tag, t in fields:
        spec = REGISTRY[tag]
        where = f"{struct}.{name} -> {tag}"
        if isinstance(t, msgspec.inspect.StrType):
            assert spec.dtype in _STRING_TYPES, where
            assert t.max_length == spec.max_length, where
        elif isinstance(t, msgspec.inspect.IntType | msgspec.inspect.EnumType | msgspec.inspect.BoolType):
            assert spec.dtype in _INT_TYPES, where
        elif isinstance(t, msgspec.inspect.DateType):
            assert spec.dtype in {DataType.STRING, DataType.UNIXTIME}, where  # "DD.MM.YYYY" or local midnight
        elif isinstance(t, msgspec.inspect.DateTimeType):
            assert spec.dtype == DataType.UNIXTIME, where
        elif isinstance(t, msgspec.inspect.BytesType):
            assert spec.dtype == DataType.BYTES and t.max_length == spec.max_length, where
        elif isinstance(t, msgspec.inspect.UnionType):  # the quantity: int | Decimal
            assert spec.dtype == DataType.FVLN, where
        else:  # nested structures and repeated ones
            assert spec.dtype == DataType.STLV, where
    # phones are tuples of tagged strings: their element limits too
    agent = msgspec.inspect.type_info(rmod.AgentData)
    assert isinstance(agent, msgspec.inspect.StructType)
    elem = next(f.type for f in agent.fields if f.name == "agent_phones")
    assert isinstance(elem, msgspec.inspect.VarTupleType)
    assert isinstance(elem.item_type, msgspec.inspect.Metadata)
    assert isinstance(elem.item_type.type, msgspec.inspect.StrType)
    assert elem.item_type.type.max_length == REGISTRY[1073].max_length


def test_item_fields_cover_atol_v4_and_v5() -> None:
    names = set(typing.get_type_hints(Item))
    v4 = {"name", "price", "quantity", "sum", "unit_name", "product_code", "method", "subject", "vat", "vat_sum"}
    v4 |= {"agent", "supplier", "user_data", "excise", "country_code", "declaration_number"}
    v5 = {"measure", "marking", "fraction", "marking_mode", "planned_status", "industry_props", "check_result"}
    assert v4 | v5 <= names
