"""Document builders (forms 1, 11, 2, 21, 3, 31, 5, 6, 7) for FFD 1.05 and 1.2, and the totals counters."""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from conftest import VECTORS

from fiscal_core.ffd import documents as docs
from fiscal_core.ffd import fnsjson, qr, tlv
from fiscal_core.ffd.counters import Counters
from fiscal_core.ffd.enums import (
    AgentType,
    ChangeReason,
    CorrectionType,
    FfdVersion,
    ItemSubject,
    MeasureUnit,
    PaymentMethod,
    ReregistrationReason,
    SettlementSign,
    TaxSystem,
    UsageCondition,
    VatRate,
)
from fiscal_core.ffd.receipt import (
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
    vat_amount,
    vat_totals,
)
from fiscal_core.ffd.tags import REGISTRY

V105 = FfdVersion.FFD_105
V12 = FfdVersion.FFD_12
VERSIONS = [pytest.param(V105, id="1.05"), pytest.param(V12, id="1.2")]
WHEN = dt.datetime(2026, 8, 3, 16, 44, 7)
SIGN = tlv.fiscal_sign_bytes(3576585508, 3)
REPORT_SIGN = tlv.fiscal_sign_bytes(1234567, 5)


def identity(version: FfdVersion, **kw: Any) -> docs.DriveIdentity:
    fields: dict[str, Any] = {
        "fn_number": "9999078900005488",
        "registration_number": "0006828493046904",
        "user_inn": "7825706086",
        "user_name": 'ООО "Агроторг"',
        "kkt_serial": "0141870012176301",
        "ffd_version": version,
        "ofd_inn": "7704211201",
        "ofd_name": "ООО ОФД",
        "settlement_address": "192286, г. Санкт-Петербург, ул. Димитрова, д. 18",
        "settlement_place": "shop.example.ru",
        "tax_systems": TaxSystem.OSN | TaxSystem.USN_INCOME,
        "kkt_version": "2.0",
        "key_resource_days": 470,
        "sender_email": "noreply@example.ru",
    }
    fields.update(kw)
    return docs.DriveIdentity(**fields)


HEADER = docs.Header(fd_number=43553, when=WHEN, shift_number=245)


def item(version: FfdVersion, price: int, quantity: int | Decimal = 1, vat: VatRate = VatRate.VAT20, **kw: Any) -> Item:
    fields: dict[str, Any] = {
        "name": "Товар",
        "price": price,
        "quantity": quantity,
        "sum": item_sum(price, quantity),
        "vat": vat,
        "subject": ItemSubject.GOODS,
        "method": PaymentMethod.FULL_SETTLEMENT,
    }
    if version == V12:
        fields["measure"] = MeasureUnit.PIECE if isinstance(quantity, int) else MeasureUnit.KILOGRAM
    fields.update(kw)
    return Item(**fields)


def make_receipt(version: FfdVersion, sign: SettlementSign = SettlementSign.SALE, **kw: Any) -> Receipt:
    items = (item(version, 11999), item(version, 32900, Decimal("0.876"), VatRate.VAT10))
    total = sum(i.sum for i in items)
    fields: dict[str, Any] = {
        "settlement_sign": sign,
        "tax_system": TaxSystem.OSN,
        "items": items,
        "payments": Payments(electronic=total),
        "total": total,
        "client_contact": "buyer@example.ru",
        "cashier": "Кассир Иванова А.П.",
    }
    fields.update(kw)
    return Receipt(**fields)


def make_correction(version: FfdVersion, **kw: Any) -> Correction:
    base = msgspec.structs.asdict(make_receipt(version))
    base.update(correction_type=CorrectionType.SELF, base_date=dt.date(2026, 7, 30), base_number="б/н")
    base.update(kw)
    return Correction(**base)


def top(document: Any) -> dict[int, Any]:
    """First value of each top-level tag."""
    out: dict[int, Any] = {}
    for tag, value in document[1]:
        out.setdefault(tag, value)
    return out


def all_of(nodes: list[Any], tag: int) -> list[Any]:
    return [value for t, value in nodes if t == tag]


def counters_with_data(version: FfdVersion) -> Counters:
    c = Counters()
    c.apply(docs.receipt(identity(version), HEADER, SIGN, make_receipt(version), receipt_number=1))
    return c


def build_all(version: FfdVersion) -> dict[str, tuple[int, list[Any]]]:
    ident = identity(version)
    c = counters_with_data(version)
    reasons = [ReregistrationReason.OFD_CHANGE] if version == V105 else ChangeReason.OFD_CHANGE
    return {
        "registration": docs.registration_report(ident, HEADER, REPORT_SIGN),
        "reregistration": docs.registration_report(
            ident, HEADER, REPORT_SIGN, reregistration_reasons=reasons, drive_counters=c
        ),
        "shift_open": docs.shift_open(ident, HEADER, REPORT_SIGN, cashier="Иванова"),
        "status": docs.status_report(
            ident,
            HEADER,
            REPORT_SIGN,
            unsent_count=3,
            first_unsent_fd=43550,
            first_unsent_when=WHEN - dt.timedelta(hours=2),
            shift_open=True,
            drive_counters=c,
            unsent_counters=c,
            key_resource_days=300,
        ),
        "receipt": docs.receipt(ident, HEADER, SIGN, make_receipt(version), receipt_number=73),
        "correction": docs.correction_receipt(ident, HEADER, SIGN, make_correction(version), receipt_number=74),
        "shift_close": docs.shift_close(
            ident,
            HEADER,
            REPORT_SIGN,
            shift_counters=c,
            drive_counters=c,
            receipts_in_shift=1,
            documents_in_shift=3,
            unsent_count=0,
            first_unsent_when=None,
            key_resource_days=300,
        ),
        "drive_close": docs.drive_close(ident, HEADER, REPORT_SIGN, drive_counters=c),
    }


# Mandatory tags per form and version: CF structs.rs (ffd.md §5) tables 15/87, 18/94, 19/95, 20/96, 27/120, 30/123,
# 31/124, without the print-only 1000/1196, plus what the brief makes always-present (1018, 1048, 1055, payments).
_COMMON = {1209, 1018, 1012, 1037, 1040, 1041, 1077}
_RECEIPT = _COMMON | {1048, 1042, 1038, 1054, 1055, 1059, 1020, 1031, 1081, 1215, 1216, 1217}
MANDATORY = {
    ("registration", V105): _COMMON | {1048, 1002, 1221, 1110, 1056, 1001, 1108, 1013, 1021, 1009, 1187, 1188, 1189},
    ("registration", V12): _COMMON | {1048, 1002, 1056, 1001, 1290, 1013, 1021, 1009, 1187, 1188, 1189, 1190, 1213},
    ("reregistration", V105): _COMMON | {1048, 1002, 1056, 1001, 1013, 1021, 1009, 1187, 1188, 1189, 1101},
    ("reregistration", V12): _COMMON | {1048, 1290, 1013, 1021, 1009, 1187, 1188, 1189, 1190, 1213, 1205},
    ("shift_open", V105): _COMMON | {1048, 1009, 1187, 1038, 1188, 1189},
    ("shift_open", V12): _COMMON | {1048, 1009, 1187, 1038, 1188, 1189},
    ("status", V105): _COMMON | {1048, 1009, 1187},
    ("status", V12): _COMMON | {1048, 1009, 1187, 1157, 1213},
    ("receipt", V105): _RECEIPT,
    ("receipt", V12): _RECEIPT | {1009, 1187},
    ("correction", V105): _RECEIPT - {1059} | {1174},
    ("correction", V12): _RECEIPT | {1009, 1187, 1174},
    ("shift_close", V105): _COMMON | {1048, 1038, 1118, 1111},
    ("shift_close", V12): _COMMON | {1048, 1009, 1187, 1038, 1118, 1111, 1194, 1157, 1213},
    ("drive_close", V105): _COMMON | {1048, 1038},
    ("drive_close", V12): _COMMON | {1048, 1009, 1187, 1038, 1157},
}
FORMS = {
    "registration": 1,
    "reregistration": 11,
    "shift_open": 2,
    "status": 21,
    "receipt": 3,
    "correction": 31,
    "shift_close": 5,
    "drive_close": 6,
}


# --------------------------------------------------------------------------- every document


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", list(FORMS))
def test_documents_encode_decode_and_carry_the_mandatory_tags(tlv_impl: Any, version: FfdVersion, kind: str) -> None:
    document = build_all(version)[kind]
    assert document[0] == FORMS[kind]
    data = tlv_impl.encode([document])
    assert len(data) - 4 <= REGISTRY[document[0]].max_length
    assert tlv_impl.decode(data) == [document]  # values and order survive: a lossless tree
    tags = set(top(document))
    missing = MANDATORY[(kind, version)] - tags
    assert not missing, f"{kind} {version.name} lacks {sorted(missing)}"
    assert top(document)[1209] == int(version)
    # FFD 1.05-only / 1.2-only tags never leak into the other version
    other = "1.2" if version == V105 else "1.05"
    leaked = {t for t in tags if REGISTRY[t].versions == frozenset({other})}
    assert not leaked


@pytest.mark.parametrize("version", VERSIONS)
def test_builders_copy_the_drive_numbers_verbatim(version: FfdVersion) -> None:
    for kind, document in build_all(version).items():
        t = top(document)
        assert t[1040] == 43553 and t[1012] == WHEN, kind
        assert t[1077] in (SIGN, REPORT_SIGN), kind
        if kind not in ("registration", "reregistration"):
            assert t[1038] == 245, kind
    receipt_doc = build_all(version)["receipt"]
    assert top(receipt_doc)[1042] == 73
    assert top(receipt_doc)[1077] == SIGN


def test_operator_confirmation() -> None:
    document = docs.operator_confirmation("7704211201", "9999078900005488", 17, WHEN, 0, bytes(range(16)))
    assert document == (
        7,
        [
            (1017, "7704211201"),
            (1041, "9999078900005488"),
            (1040, 17),
            (1012, WHEN),
            (1068, [(1022, 0)]),
            (1078, bytes(range(16))),
        ],
    )
    data = tlv.encode([document])
    assert len(data) - 4 <= REGISTRY[7].max_length
    assert tlv.decode(data) == [document]


def test_identity_patterns_are_checked_on_conversion() -> None:
    good = msgspec.to_builtins(identity(V12))
    assert msgspec.convert(good, docs.DriveIdentity) == identity(V12)
    for field, bad in (("fn_number", "999907890000548"), ("registration_number", "0006828493"), ("ofd_inn", "77")):
        with pytest.raises(msgspec.ValidationError, match=field):
            msgspec.convert({**good, field: bad}, docs.DriveIdentity)


def test_a_bad_fiscal_sign_or_version_is_refused() -> None:
    with pytest.raises(ValueError, match="6 bytes"):
        docs.shift_open(identity(V12), HEADER, b"\x31\x04\x00")
    with pytest.raises(ValueError, match="FFD version"):
        docs.shift_open(identity(FfdVersion.FFD_11), HEADER, REPORT_SIGN)


# --------------------------------------------------------------------------- receipts: version differences


def test_ffd105_and_12_item_and_buyer_layouts() -> None:
    buyer = Buyer(name="Иванов Иван", inn="500100732259")
    r105 = make_receipt(
        V105,
        buyer=buyer,
        items=(item(V105, 5000, unit_name="шт", product_code=b"\x44\x4d\x01"),),
        payments=Payments(cash=5000),
        total=5000,
    )
    r12 = make_receipt(
        V12,
        buyer=msgspec.structs.replace(buyer, birth_date=dt.date(1990, 1, 31), citizenship="643", doc_code="21"),
        items=(item(V12, 5000, marking=MarkingCode(kind=1302, code="4601234567893")),),
        payments=Payments(cash=5000),
        total=5000,
    )
    d105 = docs.receipt(identity(V105), HEADER, SIGN, r105, receipt_number=1)
    d12 = docs.receipt(identity(V12), HEADER, SIGN, r12, receipt_number=1)
    i105 = dict(top(d105)[1059])
    i12 = dict(top(d12)[1059])
    assert i105[1197] == "шт" and i105[1162] == b"\x44\x4d\x01" and 2108 not in i105 and 1163 not in i105
    assert i12[2108] == 0 and i12[1163] == [(1302, "4601234567893")] and 1197 not in i12 and 1162 not in i12
    assert top(d105)[1227] == "Иванов Иван" and top(d105)[1228] == "500100732259" and 1256 not in top(d105)
    assert 1227 not in top(d12)
    assert top(d12)[1256] == [
        (1227, "Иванов Иван"),
        (1228, "500100732259"),
        (1243, "31.01.1990"),
        (1244, "643"),
        (1245, "21"),
    ]
    assert (top(d105)[1209], top(d12)[1209]) == (2, 4)
    for document in (d105, d12):
        tlv.encode([document])


@pytest.mark.parametrize(
    ("version", "change", "path"),
    [
        (V105, {"items": "marking"}, "items[0].marking"),
        (V105, {"items": "measure"}, "items[0].measure"),
        (V12, {"items": "unit_name"}, "items[0].unit_name"),
        (V12, {"items": "no-measure"}, "items[1].measure"),
        (V12, {"agent": True}, "agent"),
        (V105, {"operational_props": True}, "operational_props"),
        (V105, {"buyer": True}, "buyer.citizenship"),
    ],
)
def test_fields_of_the_other_version_are_refused(version: FfdVersion, change: dict[str, Any], path: str) -> None:
    r = make_receipt(version)
    first, second = r.items
    what = change.get("items")
    if what == "marking":
        first = msgspec.structs.replace(first, marking=MarkingCode(kind=1305, code="0104605035006964215Ooy"))
    elif what == "measure":
        first = msgspec.structs.replace(first, measure=MeasureUnit.PIECE)
    elif what == "unit_name":
        first = msgspec.structs.replace(first, unit_name="шт")
    elif what == "no-measure":
        second = msgspec.structs.replace(second, measure=None)
    r = msgspec.structs.replace(r, items=(first, second))
    if "agent" in change:
        r = msgspec.structs.replace(r, agent=Agent(types=AgentType.PAYING_AGENT))
    if "operational_props" in change:
        r = msgspec.structs.replace(r, operational_props=OperationalProp(id=1, data="x", when=WHEN))
    if "buyer" in change:
        r = msgspec.structs.replace(r, buyer=Buyer(name="Иванов", citizenship="643"))
    with pytest.raises(ReceiptError) as info:
        docs.receipt(identity(version), HEADER, SIGN, r, receipt_number=1)
    assert info.value.path == path


def test_the_receipt_builder_runs_check_sums() -> None:
    r = make_receipt(V12)
    with pytest.raises(ReceiptError) as info:
        docs.receipt(identity(V12), HEADER, SIGN, msgspec.structs.replace(r, total=r.total - 1), receipt_number=1)
    assert info.value.path == "total"
    with pytest.raises(TypeError):
        docs.receipt(identity(V12), HEADER, SIGN, make_correction(V12), receipt_number=1)


# --------------------------------------------------------------------------- VAT placement


@pytest.mark.parametrize("version", VERSIONS)
def test_vat_rates_2_11_7_go_flat_and_into_1115(version: FfdVersion) -> None:
    items = (
        item(version, 31595, vat=VatRate.VAT10),
        item(version, 24697, vat=VatRate.VAT22),
        item(version, 10499, 3, vat=VatRate.VAT5),
        item(version, 100, vat=VatRate.VAT22),
    )
    total = sum(i.sum for i in items)
    r = make_receipt(version, items=items, payments=Payments(electronic=total), total=total)
    document = docs.receipt(identity(version), HEADER, SIGN, r, receipt_number=1)
    t = top(document)
    assert t[1103] == round(31595 * 10 / 110) == 2872
    assert not {1102, 1104, 1105, 1106, 1107} & set(t)
    entries = [dict(entry) for tag, entry in t[1115]]
    assert [tag for tag, _ in t[1115]] == [1119, 1119]
    assert entries == [
        {1199: 7, 1120: int(Decimal(31497 * 5) / 105 + Decimal("0.5"))},
        {1199: 11, 1120: int(Decimal(24797 * 22) / 122 + Decimal("0.5"))},
    ]
    assert entries[1][1120] == vat_amount(24797, 11) == 4472
    # per-item 1200 is computed when absent
    assert [dict(v)[1200] for tag, v in document[1] if tag == 1059] == [2872, 4454, 1500, 18]
    tlv.encode([document])


def test_vat0_and_no_vat_turnovers_and_receipt_level_vats() -> None:
    items = (item(V12, 1000, vat=VatRate.VAT0), item(V12, 2500, 2, vat=VatRate.NO_VAT), item(V12, 600))
    r = make_receipt(V12, items=items, payments=Payments(cash=6600), total=6600)
    t = top(docs.receipt(identity(V12), HEADER, SIGN, r, receipt_number=1))
    assert (t[1104], t[1105], t[1102]) == (1000, 5000, 100)
    assert 1115 not in t
    # receipt-level vats (ATOL "vats") win over the items' rates
    given = (VatSum(rate=VatRate.VAT20, amount=99), VatSum(rate=VatRate.VAT22_122, amount=7))
    t = top(docs.receipt(identity(V12), HEADER, SIGN, msgspec.structs.replace(r, vats=given), receipt_number=1))
    assert t[1102] == 99 and 1104 not in t and 1105 not in t
    assert t[1115] == [(1119, [(1199, 12), (1120, 7)])]


def test_item_vat_sum_is_kept_when_given() -> None:
    r = make_receipt(V12)
    first = msgspec.structs.replace(r.items[0], vat_sum=2000)
    document = docs.receipt(
        identity(V12), HEADER, SIGN, msgspec.structs.replace(r, items=(first, r.items[1])), receipt_number=1
    )
    assert dict(top(document)[1059])[1200] == 2000


# --------------------------------------------------------------------------- payments, optional structures


def test_change_is_taken_off_the_cash_tag() -> None:
    r = make_receipt(V12)
    paid = Payments(cash=r.total, electronic=5000, prepaid=0)  # 50.00 of change
    t = top(docs.receipt(identity(V12), HEADER, SIGN, msgspec.structs.replace(r, payments=paid), receipt_number=1))
    assert t[1031] == r.total - 5000 and t[1081] == 5000
    assert t[1031] + t[1081] + t[1215] + t[1216] + t[1217] == t[1020]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_receipt_with_every_optional_field_encodes(version: FfdVersion) -> None:
    agent = Agent(
        types=AgentType.PAYING_AGENT,
        data=AgentData(
            operation="Платёж",
            agent_phones=("+79990000001",),
            operator_phones=("+79990000002", "+79990000003"),
            transfer_operator_phones=("+79990000004",),
            transfer_operator_name="ООО Перевод",
            transfer_operator_address="Москва",
            transfer_operator_inn="7704211201",
        ),
    )
    supplier = Supplier(phones=("+79990000005",), name="ИП Петров", inn="500100732259")
    extra: dict[str, Any] = {"user_data": "доп", "excise": 100, "country_code": "643", "declaration_number": "10702"}
    if version == V12:
        extra |= {
            "marking": MarkingCode(kind=1305, code="0104605035006964215OoyE8qxeIOn>"),
            "marking_mode": 0,
            "check_result": 15,
            "fraction": Fraction(numerator=1, denominator=4),
            "industry_props": (
                IndustryProp(foiv_id="030", doc_date=dt.date(2023, 11, 21), doc_number="1944", value="UUID=1"),
            ),
        }
    first = item(version, 10000, agent=agent, supplier=supplier, unit_vat=1667, **extra)
    total = first.sum
    r = make_receipt(
        version,
        items=(first,),
        total=total,
        payments=Payments(electronic=total, cashless=(CashlessPayment(sum=total, method=1, ids="SBP", info="i"),)),
        user_prop=UserProp(name="X5", value="5564"),
        additional_check_prop="abc",
        internet=True,
        timezone=2,
        device_number="42",
        buyer=Buyer(name="Иванов", inn="500100732259"),
        cashier_inn="500100732259",
    )
    if version == V12:
        r = msgspec.structs.replace(
            r,
            operational_props=OperationalProp(id=0, data="op", when=WHEN),
            industry_check_props=(
                IndustryProp(foiv_id="020", doc_date=dt.date(2024, 1, 2), doc_number="1", value="v"),
            ),
            marking_check_result=0,
        )
    else:
        r = msgspec.structs.replace(r, agent=agent, supplier=Supplier(phones=("+79990000006",)))
    ident = identity(version, internet_only=True, automat_number="7")
    document = docs.receipt(ident, HEADER, SIGN, r, receipt_number=1)
    assert tlv.decode(tlv.encode([document])) == [document]
    t = top(document)
    assert (t[1125], t[1108], t[1011], t[1036]) == (1, 1, 2, "42")
    assert t[1234] == [(1235, [(1082, total), (1236, 1), (1237, "SBP"), (1238, "i")])]
    it = top((0, t[1059]))
    assert it[1222] == int(AgentType.PAYING_AGENT) and it[1226] == "500100732259"
    assert it[1224] == [(1171, "+79990000005"), (1225, "ИП Петров")]
    assert all_of(it[1223], 1074) == ["+79990000002", "+79990000003"]
    if version == V12:
        assert it[1291] == [(1292, "1/4"), (1293, 1), (1294, 4)]
        assert it[1260] == [(1262, "030"), (1263, "21.11.2023"), (1264, "1944"), (1265, "UUID=1")]
        assert t[1270] == [(1271, 0), (1272, "op"), (1273, WHEN)]
    else:
        # table 20: the receipt-level agent data stands at the top level, not inside 1223
        assert t[1057] == int(AgentType.PAYING_AGENT) and t[1026] == "ООО Перевод" and t[1171] == "+79990000006"
        assert 1223 not in t


def test_a_hundred_marked_items_fit_the_receipt_limit(tlv_impl: Any) -> None:
    rng = random.Random(7)
    items = tuple(
        item(
            V12,
            rng.randrange(1000, 99999),
            name=f"{k}: Товар маркированный длинное наименование позиции",
            subject=ItemSubject.MARKED,
            marking=MarkingCode(kind=1305, code=f"0104605035006964215{k:06d}OoyE8qx"),
            marking_mode=0,
            check_result=15,
            industry_props=(
                IndustryProp(foiv_id="030", doc_date=dt.date(2023, 11, 21), doc_number="1944", value="U" * 60),
            ),
        )
        for k in range(100)
    )
    total = sum(i.sum for i in items)
    r = make_receipt(V12, items=items, payments=Payments(electronic=total), total=total)
    data = tlv_impl.encode([docs.receipt(identity(V12), HEADER, SIGN, r, receipt_number=1)])
    assert 20000 < len(data) - 4 <= REGISTRY[3].max_length


# --------------------------------------------------------------------------- corrections


@pytest.mark.parametrize("version", VERSIONS)
def test_correction_basis(version: FfdVersion) -> None:
    document = docs.correction_receipt(identity(version), HEADER, SIGN, make_correction(version), receipt_number=9)
    t = top(document)
    assert document[0] == 31 and t[1173] == 0
    assert t[1174] == [(1178, dt.datetime(2026, 7, 30)), (1179, "б/н")]
    raw = tlv.encode([document])
    # 1178 is the unixtime of the local midnight: 2026-07-30 00:00 "as if UTC"
    at = raw.index(b"\x9a\x04\x04\x00")
    assert int.from_bytes(raw[at + 4 : at + 8], "little") == 1785369600


def test_ffd105_correction_rules() -> None:
    no_items = make_correction(
        V105, items=(), vats=(VatSum(rate=VatRate.VAT20, amount=833),), total=5000, payments=Payments(cash=5000)
    )
    t = top(docs.correction_receipt(identity(V105), HEADER, SIGN, no_items, receipt_number=1))
    assert 1059 not in t and t[1102] == 833 and t[1020] == 5000
    with pytest.raises(ReceiptError) as info:
        docs.correction_receipt(
            identity(V105),
            HEADER,
            SIGN,
            make_correction(V105, settlement_sign=SettlementSign.SALE_REFUND),
            receipt_number=1,
        )
    assert info.value.path == "settlement_sign"
    with pytest.raises(ReceiptError) as info:
        docs.correction_receipt(identity(V105), HEADER, SIGN, make_correction(V105, base_number=None), receipt_number=1)
    assert info.value.path == "base_number"
    with pytest.raises(ReceiptError) as info:
        docs.correction_receipt(identity(V12), HEADER, SIGN, make_correction(V12, items=()), receipt_number=1)
    assert info.value.path == "items"
    # 1.2 allows all four signs and no order number
    t = top(
        docs.correction_receipt(
            identity(V12),
            HEADER,
            SIGN,
            make_correction(V12, settlement_sign=SettlementSign.PURCHASE_REFUND, base_number=None),
            receipt_number=1,
        )
    )
    assert t[1054] == 4 and t[1174] == [(1178, dt.datetime(2026, 7, 30))]


# --------------------------------------------------------------------------- reports


def test_registration_flags_and_reasons() -> None:
    ident105 = identity(V105, automatic=True, encryption=True, internet_only=True, automat_number="1")
    t = top(docs.registration_report(ident105, HEADER, REPORT_SIGN))
    assert (t[1001], t[1056], t[1108], t[1110], t[1221], t[1002]) == (1, 1, 1, 0, 0, 0)
    assert t[1062] == 3 and t[1036] == "1" and t[1021] == ident105.user_name and 1290 not in t
    assert (t[1189], t[1190], t[1213]) == (2, 2, 470)
    ident12 = identity(V12, internet_only=True, excise=True, marked_goods=True, catering=True)
    t = top(docs.registration_report(ident12, HEADER, REPORT_SIGN, cashier="Админ"))
    expected = UsageCondition.INTERNET_ONLY | UsageCondition.EXCISE | UsageCondition.MARKED_GOODS
    assert t[1290] == int(expected | UsageCondition.CATERING) == (1 << 5) | (1 << 6) | (1 << 8) | (1 << 15)
    assert t[1021] == "Админ" and not {1108, 1109, 1110, 1126, 1193, 1207, 1221} & set(t)
    form, nodes = docs.registration_report(
        identity(V105), HEADER, REPORT_SIGN, reregistration_reasons=[1, ReregistrationReason.DETAILS_CHANGE]
    )
    assert form == 11 and all_of(nodes, 1101) == [1, 3]
    form, nodes = docs.registration_report(
        identity(V12), HEADER, REPORT_SIGN, reregistration_reasons=[ChangeReason.FN_REPLACEMENT, ChangeReason.OTHER]
    )
    assert form == 11 and all_of(nodes, 1205) == [0x80000001] and 1101 not in dict(nodes)
    with pytest.raises(ValueError):
        docs.registration_report(identity(V105), HEADER, REPORT_SIGN, reregistration_reasons=[9])
    with pytest.raises(ValueError, match="1213"):
        docs.registration_report(identity(V12, key_resource_days=None), HEADER, REPORT_SIGN)


def test_shift_warnings() -> None:
    warn = docs.Warnings(memory_full_90_percent=True, operator_message=2)
    opened = top(docs.shift_open(identity(V12), HEADER, REPORT_SIGN, warnings=warn))
    assert opened[1052] == 1 and opened[1206] == 2 and not {1050, 1051, 1053} & set(opened)
    quiet = top(docs.shift_open(identity(V12), HEADER, REPORT_SIGN))
    assert not {1050, 1051, 1052, 1053, 1206} & set(quiet)
    closed = top(
        docs.shift_close(
            identity(V105),
            HEADER,
            REPORT_SIGN,
            shift_counters=Counters(),
            drive_counters=Counters(),
            receipts_in_shift=0,
            documents_in_shift=1,
            unsent_count=2,
            first_unsent_when=WHEN,
            first_unsent_fd=7,
            key_resource_days=12,
            warnings=warn,
        )
    )
    assert (closed[1050], closed[1051], closed[1052], closed[1053], closed[1206]) == (0, 0, 1, 0, 2)
    assert (closed[1097], closed[1098], closed[1213]) == (2, WHEN, 12) and 1116 not in closed


def test_status_report_conditions() -> None:
    kw: dict[str, Any] = {"drive_counters": Counters(), "key_resource_days": 5}
    t = top(
        docs.status_report(
            identity(V12),
            HEADER,
            REPORT_SIGN,
            unsent_count=0,
            first_unsent_fd=None,
            first_unsent_when=None,
            shift_open=False,
            **kw,
        )
    )
    assert 1038 not in t and t[1097] == 0 and not {1098, 1116, 1158} & set(t) and t[1002] == 0
    t = top(
        docs.status_report(
            identity(V12),
            HEADER,
            REPORT_SIGN,
            unsent_count=4,
            first_unsent_fd=10,
            first_unsent_when=WHEN,
            shift_open=True,
            unsent_counters=counters_with_data(V12),
            unsent_notifications=1,
            **kw,
        )
    )
    assert (t[1038], t[1097], t[1116], t[1098], t[2104]) == (245, 4, 10, WHEN, 1)
    assert dict(t[1158])[1144] == 1
    with pytest.raises(ValueError, match="1157"):
        docs.status_report(
            identity(V12),
            HEADER,
            REPORT_SIGN,
            unsent_count=0,
            first_unsent_fd=None,
            first_unsent_when=None,
            shift_open=False,
        )


# --------------------------------------------------------------------------- FNS JSON, QR, the real 2026 receipt


def test_fnsjson_and_qr_of_a_built_receipt() -> None:
    document = docs.receipt(identity(V12), HEADER, SIGN, make_receipt(V12), receipt_number=73)
    j = fnsjson.to_fnsjson(document)
    assert j["code"] == 3 and j["fiscalDocumentFormatVer"] == 4 and j["fiscalSign"] == 3576585508
    assert j["totalSum"] == make_receipt(V12).total and len(j["items"]) == 2
    params = qr.parse(qr.from_document(document))
    assert (params.t, params.s, params.fn, params.i, params.fp, params.n) == (
        WHEN,
        make_receipt(V12).total,
        "9999078900005488",
        43553,
        3576585508,
        1,
    )
    back, _ = fnsjson.from_fnsjson(j)
    assert tlv.encode([back]) == tlv.encode([document])


def _real_receipt() -> tuple[dict[str, Any], docs.DriveIdentity, docs.Header, Receipt]:
    src = json.loads((VECTORS / "real_receipt_ffd12_pyaterochka_20260803_fnsjson.json").read_text())["fns_json"]
    items = []
    for it in src["items"]:
        code = it.get("productCodeNew")
        items.append(
            Item(
                name=it["name"],
                price=it["price"],
                quantity=it["quantity"],
                sum=it["sum"],
                vat=VatRate(it["nds"]),
                subject=ItemSubject(it["productType"]),
                method=PaymentMethod(it["paymentType"]),
                measure=MeasureUnit(it["itemsQuantityMeasure"]),
                marking=None if code is None else MarkingCode(kind=1305, code=code["gs1m"]["rawProductCode"]),
                marking_mode=it.get("labelCodeProcesMode"),
                check_result=it.get("checkingProdInformationResult"),
                industry_props=tuple(
                    IndustryProp(
                        foiv_id=p["idFoiv"],
                        doc_date=dt.datetime.strptime(p["foundationDocDateTime"], "%d.%m.%Y").date(),
                        doc_number=p["foundationDocNumber"],
                        value=p["industryPropValue"],
                    )
                    for p in it.get("itemsIndustryDetails", ())
                ),
            )
        )
    r = Receipt(
        settlement_sign=SettlementSign(src["operationType"]),
        tax_system=TaxSystem(src["appliedTaxationType"]),
        items=tuple(items),
        payments=Payments(cash=src["cashTotalSum"], electronic=src["ecashTotalSum"]),
        total=src["totalSum"],
        user_prop=UserProp(name=src["properties"]["propertyName"], value=src["properties"]["propertyValue"]),
        marking_check_result=src["checkingLabeledProdResult"],
    )
    ident = docs.DriveIdentity(
        fn_number=src["fiscalDriveNumber"],
        registration_number=src["kktRegId"].strip(),
        user_inn=src["userInn"].strip(),
        user_name=src["user"],
        kkt_serial=src["numberKkt"],
        ffd_version=FfdVersion(src["fiscalDocumentFormatVer"]),
        ofd_inn="7704211201",
        ofd_name="ОФД",
        settlement_address=src["retailPlaceAddress"],
        settlement_place=src["retailPlace"],
        tax_systems=TaxSystem.OSN,
        kkt_version="1",
        fns_site=src["fnsUrl"],
        automat_number=src["machineNumber"],
    )
    header = docs.Header(
        fd_number=src["fiscalDocumentNumber"],
        when=dt.datetime.fromisoformat(src["dateTime"]),
        shift_number=src["shiftNumber"],
    )
    return src, ident, header, r


def test_the_real_2026_receipt_rebuilt_from_its_fields() -> None:
    src, ident, header, r = _real_receipt()
    assert vat_totals(r.items)[VatRate.VAT22] == (4454, 24697)
    sign = tlv.fiscal_sign_bytes(src["fiscalSign"], 3)
    document = docs.receipt(ident, header, sign, r, receipt_number=src["requestNumber"])
    t = top(document)
    assert t[1115] == [(1119, [(1199, 11), (1120, 4454)])]
    assert t[1103] == 2872 and t[1020] == 56292
    assert qr.from_document(document) == "t=20260803T1644&s=562.92&fn=7384440900844678&i=43553&fp=3576585508&n=1"
    # The whole FNS JSON equals the real one, except the item VAT sums (1200) that our builder adds.
    rebuilt = fnsjson.to_fnsjson(tlv.decode(tlv.encode([document]))[0])
    for entry in rebuilt["items"]:
        entry.pop("ndsSum")
    assert rebuilt == {k: v for k, v in src.items() if k not in fnsjson.ENVELOPE_FIELDS}


# --------------------------------------------------------------------------- counters


def _random_receipt(rng: random.Random, sign: SettlementSign) -> Receipt:
    rates = list(VatRate)
    items = []
    for _ in range(rng.randrange(1, 6)):
        if rng.random() < 0.3:
            q: int | Decimal = Decimal(rng.randrange(1, 5000)).scaleb(-3)
        else:
            q = rng.randrange(1, 4)
        items.append(item(V12, rng.randrange(100, 500000), q, rng.choice(rates)))
    total = sum(i.sum for i in items)
    cash = rng.choice((0, total, total + rng.randrange(1, 10000), total // 2))
    rest = max(0, total - cash)
    elec = rest // 3
    prepaid = rest // 4
    credit = rest // 5
    provision = rest - elec - prepaid - credit
    pay = Payments(cash=cash, electronic=elec, prepaid=prepaid, credit=credit, provision=provision)
    return Receipt(settlement_sign=sign, tax_system=TaxSystem.OSN, items=tuple(items), payments=pay, total=total)


def test_counters_over_a_seeded_batch_equal_hand_sums() -> None:
    rng = random.Random(20260803)
    ident = identity(V12)
    shift, drive = Counters(), Counters()
    expected: dict[tuple[bool, int], dict[str, Any]] = {}
    for n in range(200):
        sign = rng.choice(list(SettlementSign))
        r = _random_receipt(rng, sign)
        header = docs.Header(fd_number=n + 2, when=WHEN, shift_number=1)
        is_correction = rng.random() < 0.25
        if is_correction:
            corr = Correction(
                **msgspec.structs.asdict(r), correction_type=CorrectionType.SELF, base_date=dt.date(2026, 8, 1)
            )
            document = docs.correction_receipt(ident, header, SIGN, corr, receipt_number=n + 1)
        else:
            document = docs.receipt(ident, header, SIGN, r, receipt_number=n + 1)
        shift.apply(document)
        drive.apply([document])  # a one-document tree works too
        # hand sums from the Receipt objects, not from the trees
        for bucket in ((False, sign), (True, sign)) if is_correction else ((False, sign),):
            e = expected.setdefault(
                bucket, {"count": 0, "cash": 0, "elec": 0, "pre": 0, "cred": 0, "prov": 0, "total": 0, "vat": {}}
            )
            p = r.payments
            e["count"] += 1
            e["cash"] += p.cash - p.change(r.total)
            e["elec"] += p.electronic
            e["pre"] += p.prepaid
            e["cred"] += p.credit
            e["prov"] += p.provision
            e["total"] += r.total
            for rate, (vat, turnover) in vat_totals(r.items).items():
                amount = vat if rate.included_fraction is not None else turnover
                e["vat"][int(rate)] = e["vat"].get(int(rate), 0) + amount
    assert shift == drive
    for (corrections, sign_code), e in expected.items():
        got = drive.corrections_by_sign(sign_code) if corrections else drive.by_sign(sign_code)
        assert (got.count, got.cash, got.electronic, got.prepaid, got.credit, got.provision, got.total) == (
            e["count"],
            e["cash"],
            e["elec"],
            e["pre"],
            e["cred"],
            e["prov"],
            e["total"],
        ), (corrections, sign_code)
        if not corrections:
            assert got.vat == e["vat"]
    assert drive.receipt_count == 200
    assert drive.correction_count == sum(e["count"] for (c, _), e in expected.items() if c)
    assert 0 < drive.correction_count < 200

    # the structures say the same (encoding them is tested below: this batch passes 1133's registry limit)
    for tag in (1194, 1157):
        node = drive.to_stlv(tag)
        assert node[0] == tag
        body = dict(node[1])
        assert body[1134] == 200
        for sign, op_tag in zip(SettlementSign, (1129, 1130, 1131, 1132), strict=True):
            sums = dict(body[op_tag])
            e = expected[(False, sign)]
            assert sums[1135] == e["count"] and sums[1201] == e["total"] and sums.get(1136, 0) == e["cash"]
            assert sums.get(1139, 0) == e["vat"].get(1, 0) and sums.get(1142, 0) == e["vat"].get(4, 0)
            assert sums.get(1143, 0) == e["vat"].get(5, 0) and sums.get(1183, 0) == e["vat"].get(6, 0)
        corrections_body = dict(body[1133])
        assert corrections_body[1144] == drive.correction_count
        for sign, sub in zip(SettlementSign, (1145, 1232, 1146, 1233), strict=True):
            sums = dict(corrections_body[sub])
            assert sums[1135] == expected[(True, sign)]["count"]
            assert sums[1201] == expected[(True, sign)]["total"]
            assert not {1139, 1140, 1143, 1183} & set(sums)  # correction counters carry no VAT (table 54/92)
    # 22 % and the other new rates are kept (not encoded)
    assert drive.sale.vat.get(11, 0) == expected[(False, SettlementSign.SALE)]["vat"].get(11, 0) > 0


def _corrections(signs: tuple[SettlementSign, ...], price: int, kinds: int) -> Counters:
    """One correction per sign of one item at ``price``, paid with the first ``kinds`` payment kinds."""
    ident = identity(V12)
    c = Counters()
    share = price // kinds
    amounts = [share] * (kinds - 1) + [price - share * (kinds - 1)] + [0] * (5 - kinds)
    cash, electronic, prepaid, credit, provision = amounts
    pay = Payments(cash=cash, electronic=electronic, prepaid=prepaid, credit=credit, provision=provision)
    for n, sign in enumerate(signs):
        corr = make_correction(V12, settlement_sign=sign, items=(item(V12, price),), total=price, payments=pay)
        c.apply(docs.correction_receipt(ident, HEADER, SIGN, corr, receipt_number=n + 1))
    return c


def test_counters_encode_within_the_limits(tlv_impl: Any) -> None:
    # a cloud register's usual mix: cash and card, corrections of all four signs, a drive's lifetime sums
    c = _corrections(tuple(SettlementSign), 10**11, 2)
    for tag in (1194, 1157):
        node = c.to_stlv(tag)
        assert tlv_impl.decode(tlv_impl.encode([(5, [node])])) == [(5, [node])]
    # every payment kind, but only the two signs FFD 1.05 can correct (1145, 1146)
    c = _corrections((SettlementSign.SALE, SettlementSign.PURCHASE), 10**11, 5)
    tlv_impl.encode([(5, [c.to_stlv(1194)])])


def test_four_correction_signs_with_every_payment_kind_encode() -> None:
    tlv.encode([(5, [_corrections(tuple(SettlementSign), 10**11, 5).to_stlv(1194)])])


def test_counters_persist_and_refuse_other_forms() -> None:
    c = counters_with_data(V12)
    again = msgspec.msgpack.decode(msgspec.msgpack.encode(c), type=Counters)
    assert again == c and again.sale.vat == c.sale.vat
    assert msgspec.json.decode(msgspec.json.encode(c), type=Counters) == c
    before = msgspec.msgpack.encode(c)
    with pytest.raises(ValueError, match="form 2"):
        c.apply(docs.shift_open(identity(V12), HEADER, REPORT_SIGN))
    with pytest.raises(ValueError, match="1020"):
        c.apply((3, [(1054, 1)]))
    assert msgspec.msgpack.encode(c) == before  # nothing half-applied
    with pytest.raises(ValueError):
        c.to_stlv(1129)


def test_empty_counters_and_the_unsent_layout() -> None:
    empty = Counters().to_stlv(1157)
    assert empty[1][0] == (1134, 0)
    assert dict(empty[1])[1129] == [(1135, 0), (1201, 0)]
    assert dict(empty[1])[1133] == [(1144, 0)]
    c = counters_with_data(V12)
    unsent = c.to_stlv(1158)
    assert unsent[0] == 1158 and unsent[1][0] == (1144, 1)
    assert dict(unsent[1])[1145][-1] == (1135, 1)  # table 54/92: the count comes last
    tlv.encode([(21, [unsent])])


def test_big_lifetime_counters_still_fit() -> None:
    c = Counters()
    for sign in SettlementSign:
        for part in (c.by_sign(sign), c.corrections_by_sign(sign)):
            part.count = 4_000_000
            part.cash = part.electronic = part.total = 10**12  # ten billion rubles each
            part.vat = {1: 10**11, 2: 10**11, 3: 10**11, 4: 10**11, 5: 10**11, 6: 10**11}
    node = c.to_stlv(1194)
    data = tlv.encode([(5, [node])])
    assert len(data) - 8 <= REGISTRY[1194].max_length
