"""The FFD tag registry and enumerations against ffd.md and the real receipts in ``shared/vectors``."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any

import pytest

from fiscal_core.ffd import enums
from fiscal_core.ffd.tags import (
    BY_JSON_NAME,
    FFD_12,
    FFD_105,
    REGISTRY,
    DataType,
    FormCode,
    Tag,
    TagSpec,
    is_known,
    spec,
)

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors"
PEREKRESTOK = VECTORS / "real_receipt_ffd105_perekrestok_20200320.json"
PYATEROCHKA = VECTORS / "real_receipt_ffd12_pyaterochka_20260803_fnsjson.json"

NATURAL_WIDTH = {DataType.BYTE: 1, DataType.UINT16: 2, DataType.UINT32: 4, DataType.UNIXTIME: 4}
INTEGER_TYPES = {DataType.BYTE, DataType.UINT16, DataType.UINT32, DataType.VLN, DataType.BITMASK}


def _child_tags() -> set[int]:
    return {c for s in REGISTRY.values() if s.children for c in s.children}


def _top_level() -> list[TagSpec]:
    """Tags that never nest: they can only sit directly inside a document."""
    nested = _child_tags()
    return [s for s in REGISTRY.values() if not s.document and s.number not in nested]


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# ── Shape of the registry ─────────────────────────────────────────────────────────────────────────────


def test_registry_loads_documents_and_tags() -> None:
    documents = {s.number for s in REGISTRY.values() if s.document}
    assert documents == {1, 2, 3, 4, 5, 6, 7, 11, 21, 31, 41}
    assert len(REGISTRY) - len(documents) >= 200
    assert is_known(1059) and not is_known(1177) and not is_known(9999)
    with pytest.raises(KeyError):
        spec(9999)


@pytest.mark.parametrize(
    ("number", "name", "json_name", "max_length"),
    [
        (1, "REGISTRATION_REPORT", "fiscalReport", 6144),
        (11, "REREGISTRATION_REPORT", "fiscalReportCorrection", 6144),
        (2, "SHIFT_OPEN", "openShift", 4096),
        (21, "STATUS_REPORT", "currentStateReport", 32768),
        (3, "RECEIPT", "receipt", 32768),
        (31, "CORRECTION_RECEIPT", "receiptCorrection", 32768),
        (4, "BSO", "bso", 32768),
        (41, "BSO_CORRECTION", "bsoCorrection", 32768),
        (5, "SHIFT_CLOSE", "closeShift", 4096),
        (6, "DRIVE_CLOSE", "closeArchive", 4096),
        (7, "OPERATOR_CONFIRMATION", "operatorAck", 512),
    ],
)
def test_document_rows(number: int, name: str, json_name: str, max_length: int) -> None:
    s = REGISTRY[number]
    assert (s.name, s.json_name, s.max_length) == (name, json_name, max_length)
    assert s.dtype is DataType.STLV and s.document and s.children is None
    assert FormCode[name] == number
    assert name not in Tag.__members__


def test_constants_match_numbers() -> None:
    for s in REGISTRY.values():
        enum_cls: Any = FormCode if s.document else Tag
        assert enum_cls[s.name] == s.number, s
    assert len(Tag.__members__) + len(FormCode.__members__) == len(REGISTRY)


# Constant names that other modules use (the starter table) or that the brief fixed: they must not move.
STARTER_NAMES = {
    "FN_NUMBER": 1041, "KKT_REG_ID": 1037, "USER_INN": 1018, "FD_NUMBER": 1040, "DATE_TIME": 1012,
    "FISCAL_SIGN": 1077, "SHIFT_NUMBER": 1038, "RECEIPT_NUMBER": 1042, "SETTLEMENT_SIGN": 1054, "TOTAL": 1020,
    "ITEM": 1059, "ITEM_NAME": 1030, "ITEM_PRICE": 1079, "ITEM_QUANTITY": 1023, "ITEM_SUM": 1043,
    "VAT_RATE": 1199, "ITEM_VAT_SUM": 1200, "ITEM_SUBJECT": 1212, "PAYMENT_METHOD": 1214, "CASH_TOTAL": 1031,
    "ECASH_TOTAL": 1081, "PREPAID_TOTAL": 1215, "CREDIT_TOTAL": 1216, "PROVISION_TOTAL": 1217, "CASHIER": 1021,
    "CASHIER_INN": 1203, "TAX_SYSTEM": 1055, "FFD_VERSION": 1209, "VAT20_SUM": 1102, "VAT10_SUM": 1103,
    "VAT0_TOTAL": 1104, "NO_VAT_TOTAL": 1105, "VAT20_120_SUM": 1106, "VAT10_110_SUM": 1107,
    "RECEIPT_VAT_SUMS": 1115, "RECEIPT_VAT_SUM": 1119, "VAT_SUM": 1120, "BUYER_CONTACT": 1008,
    "SETTLEMENT_ADDRESS": 1009, "SETTLEMENT_PLACE": 1187, "USER_NAME": 1048, "KKT_SERIAL": 1013,
}  # fmt: skip


@pytest.mark.parametrize(("name", "number"), sorted(STARTER_NAMES.items()))
def test_named_constants(name: str, number: int) -> None:
    assert Tag[name] == number


def test_children_are_registered_and_never_documents() -> None:
    for s in REGISTRY.values():
        if s.dtype is not DataType.STLV:
            assert s.children is None, s
        elif not s.document:
            assert s.children, f"STLV {s.number} lists no children"
            for child in s.children:
                assert child in REGISTRY, (s.number, child)
                assert not REGISTRY[child].document, (s.number, child)
                assert child != s.number


def test_fixed_width_types_have_natural_widths() -> None:
    for s in REGISTRY.values():
        if s.dtype in NATURAL_WIDTH:
            assert (s.max_length, s.fixed) == (NATURAL_WIDTH[s.dtype], True), s
        elif s.dtype is DataType.BITMASK:
            assert s.max_length in (1, 4) and s.fixed, s
        elif s.dtype is DataType.VLN:
            assert s.max_length in (6, 8) and not s.fixed, s
        elif s.dtype is DataType.FVLN:
            assert s.max_length == 8 and not s.fixed, s
        elif s.dtype is DataType.STLV:
            assert not s.fixed and s.max_length > 0, s
        else:
            assert s.dtype in (DataType.STRING, DataType.BYTES) and s.max_length > 0, s


def test_json_names_unique_within_each_parent() -> None:
    parents: list[tuple[str, list[TagSpec]]] = [
        (str(s.number), [REGISTRY[c] for c in s.children]) for s in REGISTRY.values() if s.children
    ]
    parents.append(("document", _top_level()))
    for parent, members in parents:
        names = [m.json_name for m in members if m.json_name]
        duplicates = {n for n in names if names.count(n) > 1}
        assert not duplicates, (parent, duplicates)


def test_versions_are_known_values() -> None:
    for s in REGISTRY.values():
        assert s.versions and s.versions <= {FFD_105, FFD_12}, s


def test_shared_json_names_resolve_to_document_level_tags() -> None:
    # The same FNS name is used inside counters / 1119 / 1270; a flat lookup must find the receipt tag.
    expected = {"totalSum": 1020, "dateTime": 1012, "prepaidSum": 1215, "creditSum": 1216, "provisionSum": 1217}
    assert {n: BY_JSON_NAME[n].number for n in expected} == expected
    assert BY_JSON_NAME["ndsSum"].number == 1200
    assert BY_JSON_NAME["nds20"].number == 1102


# ── Specific facts from ffd.md ───────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("number", "dtype", "max_length", "fixed"),
    [
        (1037, DataType.STRING, 20, True),
        (1041, DataType.STRING, 16, True),
        (1018, DataType.STRING, 12, True),
        (1203, DataType.STRING, 12, True),
        (1228, DataType.STRING, 12, True),
        (1226, DataType.STRING, 12, True),
        (1017, DataType.STRING, 12, True),
        (1077, DataType.BYTES, 6, True),
        (1078, DataType.BYTES, 18, False),
        (1023, DataType.FVLN, 8, False),
        (1020, DataType.VLN, 6, False),
        (1013, DataType.STRING, 20, False),
        (1030, DataType.STRING, 128, False),
        (1009, DataType.STRING, 256, False),
        (1187, DataType.STRING, 256, False),
        (1021, DataType.STRING, 64, False),
        (1230, DataType.STRING, 3, True),
        (2115, DataType.STRING, 4, True),
        (1262, DataType.STRING, 3, True),
        (1263, DataType.STRING, 10, True),
        (1301, DataType.STRING, 8, True),
        (1302, DataType.STRING, 13, True),
        (1303, DataType.STRING, 14, True),
        (1307, DataType.STRING, 20, True),
        (1308, DataType.STRING, 23, True),
        (1309, DataType.STRING, 14, True),
        (1162, DataType.BYTES, 32, False),
        (1055, DataType.BITMASK, 1, True),
        (1062, DataType.BITMASK, 1, True),
        (1057, DataType.BITMASK, 1, True),
        (1222, DataType.BITMASK, 1, True),
        (1206, DataType.BITMASK, 1, True),
        (1205, DataType.BITMASK, 4, True),
        (1290, DataType.BITMASK, 4, True),
        (1213, DataType.UINT16, 2, True),
        (1012, DataType.UNIXTIME, 4, True),
        (1178, DataType.UNIXTIME, 4, True),
        (1040, DataType.UINT32, 4, True),
        (1218, DataType.VLN, 8, False),
        (1201, DataType.VLN, 8, False),
        (1293, DataType.VLN, 8, False),
        (1011, DataType.BYTE, 1, True),
        (1125, DataType.BYTE, 1, True),
        (2040, DataType.UINT32, 4, True),
        (1120, DataType.VLN, 6, False),
        (1082, DataType.VLN, 6, False),
        (1236, DataType.BYTE, 1, True),
        (1237, DataType.STRING, 256, False),
        # 708 in the 1.05 tables; 916 once 1133 holds the four correction signs of FFD 1.2 (see _tag_table).
        (1194, DataType.STLV, 916, False),
        (1157, DataType.STLV, 916, False),
        (1084, DataType.STLV, 320, False),
        (1174, DataType.STLV, 292, False),
        (1223, DataType.STLV, 512, False),
        (1224, DataType.STLV, 512, False),
        (1256, DataType.STLV, 1024, False),
        (1270, DataType.STLV, 144, False),
        (1291, DataType.STLV, 52, False),
    ],
)
def test_tag_facts(number: int, dtype: DataType, max_length: int, fixed: bool) -> None:
    s = REGISTRY[number]
    assert (s.dtype, s.max_length, s.fixed) == (dtype, max_length, fixed)


@pytest.mark.parametrize(
    ("parent", "children"),
    [
        (1115, {1119}),
        (1119, {1199, 1120}),
        (1234, {1235}),
        (1235, {1082, 1236, 1237, 1238}),
        (1174, {1178, 1179}),
        (1068, {1022}),
        (1084, {1085, 1086}),
        (1223, {1005, 1016, 1026, 1044, 1073, 1074, 1075}),
        (1224, {1171, 1225}),
        (1256, {1227, 1228, 1243, 1244, 1245, 1246, 1254}),
        (1260, {1262, 1263, 1264, 1265}),
        (1261, {1262, 1263, 1264, 1265}),
        (1270, {1271, 1272, 1273}),
        (1291, {1292, 1293, 1294}),
        (1163, {*range(1300, 1310), *range(1320, 1326)}),
        (1194, {1134, 1129, 1130, 1131, 1132, 1133}),
        (1157, {1134, 1129, 1130, 1131, 1132, 1133}),
        (1129, {1135, 1136, 1138, 1139, 1140, 1141, 1142, 1143, 1183, 1201, 1218, 1219, 1220}),
        (1133, {1144, 1145, 1146, 1232, 1233}),
    ],
)
def test_structure_children(parent: int, children: set[int]) -> None:
    assert REGISTRY[parent].children == children


def test_item_structure() -> None:
    item = REGISTRY[1059]
    assert (item.dtype, item.max_length, item.repeatable, item.json_name) == (DataType.STLV, 1024, True, "items")
    assert item.children is not None
    must = {1030, 1079, 1023, 1043, 1199, 1200, 1198, 1212, 1214, 1197, 2108, 1162, 1163, 1191, 1222, 1223}
    must |= {1224, 1226, 1229, 1230, 1231, 1260, 1291, 2102, 2106, 2110, 2115}
    assert must <= item.children
    assert not item.children & {1011, 1020, 1059, 1102, 1115}


def test_repeatable_flags() -> None:
    repeatable = {s.number for s in REGISTRY.values() if s.repeatable}
    assert {1059, 1119, 1235, 1260, 1261, 1101, 1171, 1073} <= repeatable
    # The FNS JSON holds one object for these (e.g. "properties" in the 2026 receipt), so they do not repeat.
    assert not repeatable & {1084, 1115, 1234, 1223, 1224, 1256, 1163, 1174, 1270, 1291}


def test_versions() -> None:
    for only_105 in (1197, 1162, 1101, 1109, 1110, 1126, 1193, 1207, 1221):
        assert REGISTRY[only_105].versions == {FFD_105}, only_105
    for only_12 in (2108, 1163, 1256, 1260, 1261, 1270, 1291, 1290, 1205, 2102, 2106, 2107, 2115, 1305):
        assert REGISTRY[only_12].versions == {FFD_12}, only_12
    for both in (1115, 1119, 1120, 1125, 1234, 1235, 1082, 1011, 2040, 1020, 1059, 1227, 1228):
        assert REGISTRY[both].versions == {FFD_105, FFD_12}, both


def test_2025_tags_have_new_meanings() -> None:
    assert REGISTRY[1115].json_name == "amountsReceiptNds" and REGISTRY[1115].dtype is DataType.STLV
    assert REGISTRY[1119].json_name == "amountsNds" and REGISTRY[1119].repeatable
    assert REGISTRY[1120].json_name == "ndsSum" and REGISTRY[1120].dtype is DataType.VLN
    assert REGISTRY[1082].json_name == "ecashSum" and REGISTRY[1082].dtype is DataType.VLN
    assert REGISTRY[1125].json_name == "internetPayment"
    assert [REGISTRY[t].json_name for t in (1234, 1235, 1236, 1237, 1238)] == [
        "allECashProp", "ecashProp", "ecashSign", "ecashIdent", "ecashAddInfo",
    ]  # fmt: skip


def test_product_code_json_names() -> None:
    names = [REGISTRY[t].json_name for t in [*range(1300, 1310), *range(1320, 1326)]]
    assert names == [
        "undefined", "ean8", "ean13", "itf14", "gs1", "gs1m", "kmk", "mi", "egais2", "egais3",
        "f1", "f2", "f3", "f4", "f5", "f6",
    ]  # fmt: skip


# ── The real receipts ────────────────────────────────────────────────────────────────────────────────


def _walk_raw(data: bytes, parent: TagSpec) -> list[dict[str, Any]]:
    """Split ``data`` into TLVs, recursing where the registry says STLV; checks each against ``parent``."""
    nodes: list[dict[str, Any]] = []
    offset = 0
    while offset < len(data):
        tag, length = struct.unpack_from("<HH", data, offset)
        value = data[offset + 4 : offset + 4 + length]
        assert len(value) == length, f"tag {tag} truncated"
        s = REGISTRY[tag]
        assert parent.children is None or tag in parent.children, (parent.number, tag)
        assert length <= s.max_length and (not s.fixed or length == s.max_length), (tag, length)
        node: dict[str, Any] = {"tag": tag, "len": length}
        if s.dtype is DataType.STLV:
            node["children"] = _walk_raw(value, s)
        else:
            node["hex"] = value.hex()
        nodes.append(node)
        offset += 4 + length
    return nodes


def test_perekrestok_raw_bytes_decode_to_the_reference_tree() -> None:
    vector = _load(PEREKRESTOK)
    raw = base64.b64decode(vector["rawData_base64"])
    form, length = struct.unpack_from("<HH", raw)
    document = REGISTRY[form]
    assert document.document and form == FormCode.RECEIPT
    assert length == len(raw) - 4 <= document.max_length
    assert _walk_raw(raw[4:], document) == vector["decoded"]["tlv"]


def _json_tag(name: str, candidates: list[TagSpec]) -> TagSpec:
    found = [s for s in candidates if s.json_name == name]
    assert len(found) == 1, f"JSON name {name!r}: {[s.number for s in found]}"
    return found[0]


def _check_json_value(s: TagSpec, value: Any) -> None:
    if s.dtype is DataType.STLV:
        assert s.children is not None
        members = [REGISTRY[c] for c in s.children]
        items = value if isinstance(value, list) else [value]
        assert isinstance(value, list) == s.repeatable, s.number
        if s.number == 1163:  # the FNS expands the code into gtin/sernum/…: check only the sub-tag name
            for item in items:
                assert all(_json_tag(k, members) for k in item)
            return
        for item in items:
            for key, sub in item.items():
                _check_json_value(_json_tag(key, members), sub)
    elif s.dtype is DataType.STRING:
        assert isinstance(value, str)
        encoded = value.encode("cp866")
        assert len(encoded) == s.max_length if s.fixed else len(encoded) <= s.max_length, (s.number, value)
    elif s.dtype is DataType.UNIXTIME:
        assert isinstance(value, str) and value[:2] == "20"  # an ISO date-time in the FNS JSON
    elif s.dtype is DataType.FVLN:
        assert isinstance(value, int | float) and value >= 0
    elif s.dtype is DataType.BYTES:
        assert s.number == 1077 and isinstance(value, int) and value < 2**32  # printed fiscal sign
    else:
        assert s.dtype in INTEGER_TYPES and isinstance(value, int) and value >= 0
        assert value < 256 ** (s.max_length), (s.number, value)


# Top-level fields of the FNS JSON that are not FFD tags (envelope, metadata, the message sign).
FNS_ENVELOPE = {"code", "region", "metadata", "redefine_mask", "messageFiscalSign", "numberKkt"}


def test_pyaterochka_2026_fns_json_fields_are_registered() -> None:
    receipt = _load(PYATEROCHKA)["fns_json"]
    top = _top_level()
    seen: set[int] = set()
    for key, value in receipt.items():
        if key in FNS_ENVELOPE:
            continue
        s = _json_tag(key, top)
        _check_json_value(s, value)
        seen.add(s.number)
    assert {1059, 1115, 1084, 2107, 1103, 1036, 1187, 1009} <= seen


def test_pyaterochka_22_percent_vat_matches_the_receipt() -> None:
    receipt = _load(PYATEROCHKA)["fns_json"]
    base = sum(i["sum"] for i in receipt["items"] if i["nds"] == enums.VatRate.VAT22)
    [entry] = receipt["amountsReceiptNds"]["amountsNds"]
    assert entry["nds"] == enums.VatRate.VAT22 and entry["nds"] not in enums.VAT_RATE_TO_RECEIPT_SUM_TAG
    assert enums.VatRate.VAT22.vat_included(base) == entry["ndsSum"] == 4454
    ten = sum(i["sum"] for i in receipt["items"] if i["nds"] == enums.VatRate.VAT10)
    assert enums.VatRate.VAT10.vat_included(ten) == receipt["nds10"] == 2872
    assert REGISTRY[enums.VAT_RATE_TO_RECEIPT_SUM_TAG[enums.VatRate.VAT10]].json_name == "nds10"
    measures = {i["itemsQuantityMeasure"] for i in receipt["items"]}
    assert measures == {enums.MeasureUnit.PIECE}


def test_perekrestok_item_vat_sums_match_the_rate_helper() -> None:
    tree = _load(PEREKRESTOK)["decoded"]["tlv"]
    items = [n["children"] for n in tree if n["tag"] == Tag.ITEM]
    assert len(items) == 4
    for children in items:
        values = {c["tag"]: int.from_bytes(bytes.fromhex(c["hex"]), "little") for c in children}
        rate = enums.VatRate(values[Tag.VAT_RATE])
        assert rate.vat_included(values[Tag.ITEM_SUM]) == values[Tag.ITEM_VAT_SUM]


# ── Enumerations (ffd.md §4) ─────────────────────────────────────────────────────────────────────────


def test_settlement_sign_and_tax_system() -> None:
    assert [int(v) for v in enums.SettlementSign] == [1, 2, 3, 4]
    assert enums.SettlementSign.PURCHASE_REFUND == 4
    assert [int(v) for v in enums.TaxSystem] == [1, 2, 4, 8, 16, 32]
    assert enums.TaxSystem(6) == enums.TaxSystem.USN_INCOME | enums.TaxSystem.USN_INCOME_EXPENSE  # "1062 06"
    assert enums.TaxSystem.PATENT == 32


def test_vat_rates() -> None:
    assert [int(v) for v in enums.VatRate] == list(range(1, 13))
    v = enums.VatRate
    assert (v.VAT5, v.VAT7, v.VAT5_105, v.VAT7_107, v.VAT22, v.VAT22_122) == (7, 8, 9, 10, 11, 12)
    assert v(11).fraction == (22, 100) and v(12).fraction == (22, 122)
    assert v.VAT20.fraction == (20, 100) and v.VAT20_120.fraction == (20, 120)
    assert v.VAT0.fraction is None and v.NO_VAT.fraction is None
    assert v.VAT20.included_fraction == v.VAT20_120.included_fraction == (20, 120)
    assert v.NO_VAT.vat_included(12345) == 0
    assert [r for r in v if r.is_calculated] == [v.VAT20_120, v.VAT10_110, v.VAT5_105, v.VAT7_107, v.VAT22_122]
    with pytest.raises(ValueError):
        v.VAT20.vat_included(-1)


def test_vat_rate_to_receipt_sum_tag() -> None:
    mapping = enums.VAT_RATE_TO_RECEIPT_SUM_TAG
    assert dict(mapping) == {1: 1102, 2: 1103, 3: 1106, 4: 1107, 5: 1104, 6: 1105}
    for tag in mapping.values():
        assert (REGISTRY[tag].dtype, REGISTRY[tag].max_length) == (DataType.VLN, 6)


def test_item_subject_and_payment_method() -> None:
    assert {int(v) for v in enums.ItemSubject} == set(range(1, 28)) | {30, 31, 32, 33}
    assert enums.ItemSubject.MARKED == 33 and enums.ItemSubject.CASH_ISSUE == 27
    assert [int(v) for v in enums.PaymentMethod] == list(range(1, 8))
    assert enums.PaymentMethod.FULL_SETTLEMENT == 4


def test_measure_units() -> None:
    expected = {0, 10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 70, 71, 72, 73, 80, 81, 82, 83, 255}
    assert {int(v) for v in enums.MeasureUnit} == expected
    assert (enums.MeasureUnit.PIECE, enums.MeasureUnit.KILOGRAM) == (0, 11)


def test_small_enumerations() -> None:
    assert [int(v) for v in enums.CorrectionType] == [0, 1]
    assert [int(v) for v in enums.OfdResponseCode] == [0, 11, 14]
    assert [int(v) for v in enums.ReregistrationReason] == [1, 2, 3, 4]
    assert (enums.FfdVersion.FFD_105, enums.FfdVersion.FFD_11, enums.FfdVersion.FFD_12) == (2, 3, 4)
    assert [int(v) for v in enums.AgentType] == [1, 2, 4, 8, 16, 32, 64]
    assert [int(v) for v in enums.OperatorMessage] == [2, 4, 8, 16, 32, 64]
    assert [int(v) for v in enums.MarkingCodeType] == [0, 1, 2, 3, 4, 5]
    assert [int(v) for v in enums.ItemStatus] == [1, 2, 3, 4, 255]
    assert [int(v) for v in enums.MarkingCheckResult] == [1, 2, 4, 8, 16]
    assert enums.ChangeReason.FN_REPLACEMENT == 1 and enums.ChangeReason.FFD_VERSION_CHANGE == 0x200000
    assert enums.ChangeReason.OTHER == 0x80000000
    assert enums.UsageCondition.INTERNET_ONLY == 1 << 5 and enums.UsageCondition.MARKED_GOODS == 1 << 8


def test_marking_check_result_all_four_checks() -> None:
    m = enums.MarkingCheckResult
    assert m(15) == m.CHECKED_BY_FN | m.FN_CHECK_OK | m.OISM_CHECKED | m.OISM_OK  # the real 2026 items
    assert m(15) & m.CHECKED_OFFLINE == 0
