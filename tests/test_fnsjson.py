"""TLV tree <-> FNS JSON against two real receipts (FFD 1.2 from 2026, FFD 1.05 from 2020), for each codec."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import pickle
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from conftest import VECTORS
from hypothesis import given
from hypothesis import strategies as st

from fiscal_core.errors import FormatError
from fiscal_core.ffd import fnsjson
from fiscal_core.ffd.fnsjson import FnsJsonError, from_fnsjson, to_fnsjson

PYATEROCHKA = json.loads((VECTORS / "real_receipt_ffd12_pyaterochka_20260803_fnsjson.json").read_text())
FNS26: dict[str, Any] = PYATEROCHKA["fns_json"]
PEREKRESTOK = json.loads((VECTORS / "real_receipt_ffd105_perekrestok_20200320.json").read_text())
RAW05 = base64.b64decode(PEREKRESTOK["rawData_base64"])


def _top(nodes: list[tuple[int, Any]], tag: int) -> list[Any]:
    return [v for t, v in nodes if t == tag]


def _one(nodes: list[tuple[int, Any]], tag: int) -> Any:
    (value,) = _top(nodes, tag)
    return value


# --------------------------------------------------------------------------- (a) the 2026 FFD 1.2 receipt


def test_2026_receipt_survives_json_tree_tlv_tree_json(tlv_impl: Any) -> None:
    node, envelope = from_fnsjson(FNS26)
    assert envelope == {k: FNS26[k] for k in ("metadata", "region", "redefine_mask", "numberKkt", "messageFiscalSign")}
    tree = tlv_impl.decode(tlv_impl.encode([node]))
    out = to_fnsjson(tree, envelope)
    assert out == FNS26
    # and it is plain JSON (no Decimal/bytes left over), identical after a text round trip
    assert json.loads(json.dumps(out, ensure_ascii=False)) == FNS26


def test_2026_envelope_travels_untouched() -> None:
    _, envelope = from_fnsjson(FNS26)
    # the float-rounded ФПС is not reinterpreted (it is not 0x8106… exactly representable)
    assert envelope["messageFiscalSign"] is FNS26["messageFiscalSign"]
    assert envelope["metadata"] is FNS26["metadata"]


def test_2026_tree_carries_the_tlv_values(tlv_impl: Any) -> None:
    node, _ = from_fnsjson(FNS26)
    # the tree format holds fixed-width strings without their padding, before and after the codec
    assert (_one(node[1], 1018), _one(node[1], 1037)) == ("7825706086", "0006828493046904")
    form, nodes = tlv_impl.decode(tlv_impl.encode([node]))[0]
    assert form == 3
    assert _one(nodes, 1018) == "7825706086"  # fixed-width string: the tree has no padding
    assert _one(nodes, 1037) == "0006828493046904"
    assert _one(nodes, 1012) == dt.datetime(2026, 8, 3, 16, 44)
    assert _one(nodes, 1077) == b"\x31\x04" + (3576585508).to_bytes(4, "big")
    assert _one(nodes, 1084) == [(1085, "X5"), (1086, FNS26["properties"]["propertyValue"])]
    items = _top(nodes, 1059)
    assert len(items) == 8
    assert _one(items[1], 1163) == [(1305, "0104605035006964215OoyE8qxeIOn>")]
    assert _one(items[1], 1260) == [
        (1262, "030"),
        (1265, "UUID=42a6a883-d6ea-4279-8c1b-08ecb8d75169&Time=1785764594397"),
        (1264, "1944"),
        (1263, "21.11.2023"),
    ]
    assert _one(items[0], 1023) == Decimal(1)


def _vat(base: int, rate: int) -> int:
    return int((Decimal(base) * rate / (100 + rate)).to_integral_value(ROUND_HALF_UP))


def test_2026_vat_22_sits_only_in_1115(tlv_impl: Any) -> None:
    node, _ = from_fnsjson(FNS26)
    _, nodes = tlv_impl.decode(tlv_impl.encode([node]))[0]
    items = _top(nodes, 1059)
    base = {rate: sum(_one(i, 1043) for i in items if _one(i, 1199) == rate) for rate in (2, 11)}
    assert base == {11: 24697, 2: 31595}
    assert sum(_one(i, 1043) for i in items) == _one(nodes, 1020) == 56292
    assert _vat(base[11], 22) == 4454
    assert _vat(base[2], 10) == 2872 == _one(nodes, 1103)
    # 1115 -> one 1119 per rate -> {1199 rate, 1120 sum}; the flat per-rate tags do not hold the 22 % sum
    assert _one(nodes, 1115) == [(1119, [(1199, 11), (1120, 4454)])]
    assert not [t for t, v in nodes if 1102 <= t <= 1107 and v == 4454]


# --------------------------------------------------------------------------- (b) the 2020 FFD 1.05 receipt

# Fields of that legacy (v1) FNS JSON that differ from the 2026 format on purpose, and why.
_LEGACY = {
    "receiptCode",  # the v1 name of the form code; the 2026 format says "code"
    "userInn",  # v1 wrote the 10-digit INN unpadded; 2026 re-pads it to the 12-byte width of 1018
    "taxationType",  # not a TLV field (FNS-side; 0 here although 1055 = 1), so it is not produced
}


def test_2020_receipt_matches_its_fns_fields(tlv_impl: Any) -> None:
    out = to_fnsjson(tlv_impl.decode(RAW05))
    fields = PEREKRESTOK["fns_json_fields"]
    assert fields.keys() >= _LEGACY
    for key, want in fields.items():
        if key not in _LEGACY:
            assert out[key] == want, key
    assert out["code"] == fields["receiptCode"] == 3
    assert out["userInn"].rstrip(" ") == fields["userInn"] == "7728029110"
    assert out["userInn"] == "7728029110  "
    assert "taxationType" not in out and fields["taxationType"] == 0
    assert out["appliedTaxationType"] == 1  # the OSN bit of 1055
    assert out["items"][2]["quantity"] == 0.876 and isinstance(out["items"][2]["quantity"], float)
    assert out["items"][0]["quantity"] == 1 and isinstance(out["items"][0]["quantity"], int)


def test_2020_receipt_re_encodes_to_the_original_bytes(tlv_impl: Any) -> None:
    out = to_fnsjson(tlv_impl.decode(RAW05))
    node, envelope = from_fnsjson(json.loads(json.dumps(out, ensure_ascii=False)))
    assert envelope == {}
    assert tlv_impl.encode([node]) == RAW05


def test_document_node_and_one_document_tree_are_both_accepted(tlv_impl: Any) -> None:
    tree = tlv_impl.decode(RAW05)
    assert to_fnsjson(tree) == to_fnsjson(tree[0])


# --------------------------------------------------------------------------- value rules


def _item_doc(*item: tuple[int, Any]) -> tuple[int, list[tuple[int, Any]]]:
    return (3, [(1059, list(item))])


@pytest.mark.parametrize(
    ("value", "json_value"),
    [
        (Decimal("0.876"), 0.876),
        (Decimal("1"), 1),
        (Decimal("1.000000"), 1.0),  # fractional digits present: a float, never silently an int
        (Decimal("12345678901234.56"), 12345678901234.56),  # 16 digits, still exact as a float
        (Decimal("0.12345678901234567"), Decimal("0.12345678901234567")),  # a float would round it
    ],
)
def test_quantity_to_json(value: Decimal, json_value: Any) -> None:
    got = to_fnsjson(_item_doc((1023, value)))["items"][0]["quantity"]
    assert got == json_value and type(got) is type(json_value)


@given(
    st.integers(0, 6).flatmap(lambda places: st.decimals(min_value=0, max_value=10**9, places=places))
    | st.integers(0, 2**55).map(Decimal)
)
def test_quantity_value_survives_json(q: Decimal) -> None:
    node, _ = from_fnsjson(to_fnsjson(_item_doc((1023, q))))
    assert node[1][0][1][0][1] == q


def test_gs1_serial_stops_at_group_separator() -> None:
    raw = "0104605035006964215OoyE8qxeIOn>\x1d93dGVz"
    got = to_fnsjson(_item_doc((1163, [(1305, raw)])))["items"][0]["productCodeNew"]
    assert got == {
        "gs1m": {"gtin": "04605035006964", "sernum": "5OoyE8qxeIOn>", "productIdType": 6, "rawProductCode": raw}
    }


def test_non_gs1_product_code_has_only_type_and_raw_code() -> None:
    got = to_fnsjson(_item_doc((1163, [(1302, "4601234567893")])))["items"][0]["productCodeNew"]
    assert got == {"ean13": {"productIdType": 3, "rawProductCode": "4601234567893"}}


def test_other_bytes_become_hex_and_back() -> None:
    doc = _item_doc((1162, bytes.fromhex("0001abff")))
    out = to_fnsjson(doc)
    assert out["items"][0]["productCode"] == "0001abff"
    assert from_fnsjson(out)[0] == doc


def test_taxation_type_is_envelope_in_a_receipt_and_1062_in_a_registration_report() -> None:
    node, env = from_fnsjson({"code": 3, "taxationType": 1, "appliedTaxationType": 1})
    assert node == (3, [(1055, 1)]) and env == {"taxationType": 1}
    node, env = from_fnsjson({"code": 1, "taxationType": 6})
    assert node == (1, [(1062, 6)]) and env == {}


def test_legacy_nds18_name_is_read_as_1102() -> None:
    node, _ = from_fnsjson({"code": 3, "nds18": 1140})
    assert node == (3, [(1102, 1140)])
    assert to_fnsjson(node) == {"code": 3, "nds20": 1140}


def test_names_resolve_per_parent() -> None:
    node, _ = from_fnsjson({"code": 3, "totalSum": 5, "dateTime": "2026-01-05T10:00:00"})
    assert [t for t, _ in node[1]] == [1020, 1012]
    node, _ = from_fnsjson({"code": 5, "shiftSumReports": {"sellOper": {"totalSum": 5}}})
    assert node == (5, [(1194, [(1129, [(1201, 5)])])])
    node, _ = from_fnsjson({"code": 3, "operationalDetails": {"dateTime": "2026-01-05T10:00:00"}})
    assert node == (3, [(1270, [(1273, dt.datetime(2026, 1, 5, 10))])])


# --------------------------------------------------------------------------- (c) errors


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(FNS26)
    target: Any = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return obj


def _error(obj: Any) -> FnsJsonError:
    with pytest.raises(FnsJsonError) as info:
        from_fnsjson(obj)
    return info.value


@pytest.mark.parametrize(
    ("path", "value", "where", "words"),
    [
        (["cashierName"], "x", "cashierName", "unknown field"),
        (["items", 3, "colour"], "red", "items[3].colour", "unknown field"),
        (["items", 3, "productCodeNew"], "0104690228112072215LKh'o", "items[3].productCodeNew", "expected an object"),
        (["items", 3, "productCodeNew", "gs1x"], {"rawProductCode": "1"}, "items[3].productCodeNew.gs1x", "unknown"),
        (
            ["items", 3, "productCodeNew", "gs1m", "gtin"],
            "04690228112073",
            "items[3].productCodeNew.gs1m.gtin",
            "contradicts",
        ),
        (
            ["items", 3, "productCodeNew", "gs1m", "productIdType"],
            5,
            "items[3].productCodeNew.gs1m.productIdType",
            "contradicts",
        ),
        (["items", 3, "productCodeNew", "gs1m", "weight"], 1, "items[3].productCodeNew.gs1m.weight", "unknown field"),
        (
            ["items", 7, "itemsIndustryDetails", 0, "idFoiv"],
            30,
            "items[7].itemsIndustryDetails[0].idFoiv",
            "expected a string",
        ),
        (["shiftNumber"], "245", "shiftNumber", "expected an integer"),
        (["shiftNumber"], True, "shiftNumber", "expected an integer"),
        (["shiftNumber"], 245.0, "shiftNumber", "expected an integer"),
        (["totalSum"], -1, "totalSum", "out of range"),
        (["fiscalSign"], 2**32, "fiscalSign", "out of range"),
        (["items", 0, "price"], "119.99", "items[0].price", "expected an integer"),
        (["items", 0, "quantity"], "1", "items[0].quantity", "expected a number"),
        (["items", 0, "quantity"], -1.5, "items[0].quantity", "non-negative"),
        (["items"], {"name": "x"}, "items", "expected a list"),
        (["properties"], [], "properties", "expected an object"),
        (["amountsReceiptNds", "amountsNds"], {"nds": 11}, "amountsReceiptNds.amountsNds", "expected a list"),
        (["dateTime"], "2026-08-03 16:44:00", "dateTime", "YYYY-MM-DDTHH:MM:SS"),
        (["dateTime"], "2026-08-03T16:44", "dateTime", "YYYY-MM-DDTHH:MM:SS"),
        (["dateTime"], "2026-08-03T16:44:00Z", "dateTime", "YYYY-MM-DDTHH:MM:SS"),
        (["dateTime"], "2026-13-03T16:44:00", "dateTime", "invalid date-time"),
        (["dateTime"], "2026-02-30T16:44:00", "dateTime", "invalid date-time"),
        (["dateTime"], "1969-12-31T23:59:59", "dateTime", "unixtime range"),
        (["dateTime"], 1785775440, "dateTime", "YYYY-MM-DDTHH:MM:SS"),
        (["userInn"], "78257060861234", "userInn", "maximum 12"),
        (["user"], "Агроторг™", "user", "CP866"),
        (["ndsSum"], 1, "ndsSum", "unknown field"),  # ambiguous at document level (1120 or 1200)
        (["code"], 1020, "code", "not a document form code"),
    ],
)
def test_errors_name_the_json_path(path: list[Any], value: Any, where: str, words: str) -> None:
    err = _error(_with(path, value))
    assert err.path == where
    assert words in err.reason
    assert str(err).startswith(where + ": ")


def test_error_is_a_format_error_with_a_path() -> None:
    err = _error({"code": 3, "bogus": 1})
    assert isinstance(err, FormatError) and isinstance(err, ValueError)
    assert err.to_dict() == {"code": "fns_json_error", "message": str(err), "retryable": False, "path": "bogus"}
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), again.path, again.reason) == (FnsJsonError, err.path, err.reason)


def test_missing_code_and_non_object() -> None:
    assert _error({"totalSum": 1}).path == "code"
    assert "expected a JSON object" in _error([FNS26]).reason


def test_to_fnsjson_refuses_what_it_cannot_write() -> None:
    with pytest.raises(FnsJsonError, match="tag 1011 has no FNS JSON name"):
        to_fnsjson((3, [(1011, 3)]))
    with pytest.raises(FnsJsonError, match="occurs twice but is not repeatable") as info:
        to_fnsjson((3, [(1020, 1), (1020, 2)]))
    assert info.value.path == "totalSum"
    with pytest.raises(FnsJsonError, match="cannot be written as 'ndsSum' here"):
        to_fnsjson((3, [(1200, 1)]))
    with pytest.raises(FnsJsonError, match="not a document form code"):
        to_fnsjson((1020, []))
    with pytest.raises(FnsJsonError, match="must be a str") as info:
        to_fnsjson(_item_doc((1030, 5)))
    assert info.value.path == "items[0].name"


def test_envelope_must_be_known() -> None:
    with pytest.raises(FnsJsonError, match="not an FNS envelope field") as info:
        to_fnsjson((3, [(1020, 1)]), {"ofdName": "x"})
    assert info.value.path == "ofdName"
    with pytest.raises(FnsJsonError, match="not an FNS envelope field"):
        to_fnsjson((1, [(1062, 1)]), {"taxationType": 1})  # only receipts carry it beside the TLV
    assert to_fnsjson((3, []), {"region": "78"}) == {"code": 3, "region": "78"}


@pytest.mark.parametrize("form", [1, 2, 3, 4, 5, 6, 7, 11, 21, 31, 41])
def test_envelope_names_never_shadow_a_tag(form: int) -> None:
    # so an envelope field can neither collide with nor be mistaken for a document field
    assert not fnsjson._envelope_fields(form) & fnsjson._doc_names(form).keys()


def test_product_id_types_cover_every_product_code_tag() -> None:
    assert set(fnsjson.PRODUCT_ID_TYPES) == {t for t in range(1300, 1326) if t < 1310 or t >= 1320}
    assert fnsjson.PRODUCT_ID_TYPES[1305] == 6  # seen in real FNS JSON
    assert len(set(fnsjson.PRODUCT_ID_TYPES.values())) == len(fnsjson.PRODUCT_ID_TYPES)
