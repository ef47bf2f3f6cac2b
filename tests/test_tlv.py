"""TLV codec against real bytes and public vectors, for each implementation (py twin and native)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from conftest import VECTORS

from fiscal_core.errors import DecodeError, EncodeError
from fiscal_core.ffd import tlv
from fiscal_core.ffd.tags import REGISTRY, DataType

PEREKRESTOK = json.loads((VECTORS / "real_receipt_ffd105_perekrestok_20200320.json").read_text())
UNIT = json.loads((VECTORS / "unit_vectors.json").read_text())
RAW = base64.b64decode(PEREKRESTOK["rawData_base64"])


def _node(tag: int, value_hex: str) -> bytes:
    raw = bytes.fromhex(value_hex)
    return tag.to_bytes(2, "little") + len(raw).to_bytes(2, "little") + raw


def _flatten_decoded(entries: list[dict[str, Any]]) -> bytes:
    """Rebuild bytes from the vector's own `decoded` listing (independent of our encoder)."""
    out = b""
    for e in entries:
        if "children" in e:
            body = _flatten_decoded(e["children"])
            assert len(body) == e["len"]
            out += e["tag"].to_bytes(2, "little") + len(body).to_bytes(2, "little") + body
        else:
            assert len(bytes.fromhex(e["hex"])) == e["len"]
            out += _node(e["tag"], e["hex"])
    return out


# --------------------------------------------------------------------------- the real receipt


def test_vector_listing_matches_raw_bytes() -> None:
    dec = PEREKRESTOK["decoded"]
    body = _flatten_decoded(dec["tlv"])
    assert len(body) == dec["doc_len"]
    assert dec["doc_tag"].to_bytes(2, "little") + len(body).to_bytes(2, "little") + body == RAW
    assert len(RAW) == PEREKRESTOK["raw_len"]


def test_real_receipt_decodes_to_its_fns_values(tlv_impl: Any) -> None:
    tree = tlv_impl.decode(RAW)
    assert len(tree) == 1
    form, doc = tree[0]
    assert form == 3
    top = {}
    for tag, value in doc:
        top.setdefault(tag, value)
    f = PEREKRESTOK["fns_json_fields"]
    assert top[1041] == f["fiscalDriveNumber"]
    assert top[1040] == f["fiscalDocumentNumber"]
    assert tlv.printed_fiscal_sign(top[1077]) == f["fiscalSign"] == PEREKRESTOK["checks"]["printed_FP_from_1077"]
    assert top[1012] == dt.datetime.fromisoformat(f["dateTime"])
    assert top[1020] == f["totalSum"]
    assert top[1054] == f["operationType"]
    assert top[1037] == f["kktRegId"].rstrip()  # fixed width: decoded without its padding
    assert top[1018] == f["userInn"]
    assert top[1038] == f["shiftNumber"]
    assert top[1042] == f["requestNumber"]
    assert top[1102] == f["nds20"]
    assert top[1103] == f["nds10"]
    assert top[1081] == f["ecashTotalSum"]
    assert top[1031] == f["cashTotalSum"]
    assert top[1055] == 1  # the TLV says OSN; the legacy JSON's taxationType 0 is a format quirk
    items = [v for t, v in doc if t == 1059]
    assert len(items) == 4
    first = dict(items[0])
    assert first[1030] == "1:3305976 Пакет ПЕРЕКРЕСТОК майка 65х40см"
    assert first[1079] == 649 and first[1043] == 649
    assert first[1023] == Decimal("1")
    weighed = dict(items[2])
    assert weighed[1023] == Decimal("0.876") and str(weighed[1023]) == "0.876"
    assert sum(dict(i)[1043] for i in items) == f["totalSum"]


def test_real_receipt_values_match_vector_listing(tlv_impl: Any) -> None:
    """Every leaf decodes to a value that re-encodes to exactly the listed bytes."""
    ((_, doc),) = tlv_impl.decode(RAW)
    listing = PEREKRESTOK["decoded"]["tlv"]
    assert [t for t, _ in doc] == [e["tag"] for e in listing]
    for (tag, value), entry in zip(doc, listing, strict=True):
        if "children" in entry:
            assert [t for t, _ in value] == [c["tag"] for c in entry["children"]]
            continue
        assert tlv_impl.encode([(tag, value)]) == _node(tag, entry["hex"])


def test_real_receipt_reencodes_exactly(tlv_impl: Any) -> None:
    assert tlv_impl.encode(tlv_impl.decode(RAW)) == RAW
    assert tlv_impl.check(RAW) == 1 + 25 + 4 * 8


def test_real_receipt_qr_fields() -> None:
    ((_, doc),) = tlv.decode(RAW)
    top = dict(doc)
    t = top[1012].strftime("%Y%m%dT%H%M")
    s = f"{top[1020] // 100}.{top[1020] % 100:02d}"
    qr = f"t={t}&s={s}&fn={top[1041]}&i={top[1040]}&fp={tlv.printed_fiscal_sign(top[1077])}&n={top[1054]}"
    assert qr == PEREKRESTOK["qr_expected"]


# --------------------------------------------------------------------------- unit vectors


@pytest.mark.parametrize("case", UNIT["vln"], ids=lambda c: c["hex"])
def test_vln_vectors(tlv_impl: Any, case: dict[str, Any]) -> None:
    data = _node(1020, case["hex"])
    assert tlv_impl.decode(data) == [(1020, case["value"])]
    assert tlv_impl.encode([(1020, case["value"])]) == data


@pytest.mark.parametrize("case", UNIT["fvln"], ids=lambda c: c["hex"])
def test_fvln_vectors(tlv_impl: Any, case: dict[str, Any]) -> None:
    data = _node(1023, case["hex"])
    ((tag, value),) = tlv_impl.decode(data)
    assert tag == 1023 and value == Decimal(case["value"])
    reencoded = tlv_impl.encode([(1023, value)])
    # Zero-padded input (yandex pads to 8 bytes) is accepted and re-encoded minimal.
    assert bytes.fromhex(case["hex"]).startswith(reencoded[4:])
    assert tlv_impl.decode(reencoded) == [(1023, value)]


def test_cp866_string_vector(tlv_impl: Any) -> None:
    (case,) = UNIT["string_cp866"]
    data = _node(1030, case["hex"])
    assert tlv_impl.decode(data) == [(1030, case["value"])]
    assert tlv_impl.encode([(1030, case["value"])]) == data


def test_unixtime_and_u32_vectors(tlv_impl: Any) -> None:
    (ut,) = UNIT["unixtime"]
    when = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=ut["value"])
    assert tlv_impl.decode(_node(1012, ut["hex"])) == [(1012, when)]
    assert tlv_impl.encode([(1012, when)]) == _node(1012, ut["hex"])
    assert tlv_impl.encode([(1012, ut["value"])]) == _node(1012, ut["hex"])
    (u32,) = UNIT["u32"]
    assert tlv_impl.decode(_node(1040, u32["hex"])) == [(1040, u32["value"])]


@pytest.mark.parametrize("case", UNIT["fiscal_sign_1077"], ids=lambda c: c["src"])
def test_printed_fiscal_sign(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["hex"])
    assert tlv.printed_fiscal_sign(raw) == case["printed_fp"]
    form = 3 if raw[0] == 0x31 else 1
    assert tlv.fiscal_sign_bytes(case["printed_fp"], form) == raw


def test_fixed_string_is_padded_and_unpadded(tlv_impl: Any) -> None:
    data = tlv_impl.encode([(1018, "7728029110")])
    assert data == _node(1018, "373732383032393131302020")
    assert tlv_impl.decode(data) == [(1018, "7728029110")]


def test_every_cp866_character_round_trips(tlv_impl: Any) -> None:
    from fiscal_core.ffd.cp866 import DECODE_TABLE

    text = DECODE_TABLE[1:129]  # 128 characters fit the 1030 item name
    assert tlv_impl.decode(tlv_impl.encode([(1030, text)])) == [(1030, text)]
    raw = bytes(range(128, 256))
    assert tlv_impl.decode(_node(1030, raw.hex())) == [(1030, raw.decode("cp866"))]


def test_extreme_times(tlv_impl: Any) -> None:
    for seconds in (0, 1, 86399, 951782400, 4102444800, 0xFFFFFFFF):
        when = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)
        data = tlv_impl.encode([(1012, when)])
        assert data[4:] == seconds.to_bytes(4, "little")
        assert tlv_impl.decode(data) == [(1012, when)]


def test_zero_vln_is_one_byte(tlv_impl: Any) -> None:
    assert tlv_impl.encode([(1031, 0)]) == _node(1031, "00")


def test_empty_input(tlv_impl: Any) -> None:
    assert tlv_impl.decode(b"") == []
    assert tlv_impl.check(b"") == 0
    assert tlv_impl.encode([]) == b""


# --------------------------------------------------------------------------- decode errors


def _decode_error(impl: Any, data: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        impl.decode(data)
    with pytest.raises(DecodeError) as info2:
        impl.check(data)
    assert (info.value.offset, info.value.path, str(info.value)) == (
        info2.value.offset,
        info2.value.path,
        str(info2.value),
    )
    return info.value


def test_truncated_document(tlv_impl: Any) -> None:
    err = _decode_error(tlv_impl, RAW[:-1])
    assert (err.offset, err.path) == (0, (3,))
    assert "truncated value" in str(err)


def test_truncated_header(tlv_impl: Any) -> None:
    err = _decode_error(tlv_impl, RAW[:3])
    assert (err.offset, err.path) == (0, ())
    inner = _node(3, _node(1020, "01")[:3].hex())
    err = _decode_error(tlv_impl, inner)
    assert (err.offset, err.path) == (4, (3,))


def test_unknown_tag(tlv_impl: Any) -> None:
    data = _node(3, (_node(1020, "05") + _node(9999, "00")).hex())
    err = _decode_error(tlv_impl, data)
    assert (err.offset, err.path) == (4 + 5, (3, 9999))


def test_overlong_value(tlv_impl: Any) -> None:
    data = _node(3, _node(1020, "01020304050607").hex())  # VLN over its 6 bytes
    err = _decode_error(tlv_impl, data)
    assert (err.offset, err.path) == (4, (3, 1020))
    assert "maximum 6" in str(err)


def test_fixed_width_mismatch(tlv_impl: Any) -> None:
    err = _decode_error(tlv_impl, _node(1040, "010000"))
    assert err.path == (1040,) and "fixed width is 4" in str(err)


def test_empty_vln_and_short_fvln(tlv_impl: Any) -> None:
    assert "empty VLN" in str(_decode_error(tlv_impl, _node(1020, "")))
    assert "shorter than 2" in str(_decode_error(tlv_impl, _node(1023, "00")))


def test_nested_document_and_foreign_child(tlv_impl: Any) -> None:
    err = _decode_error(tlv_impl, _node(3, _node(3, "").hex()))
    assert (err.offset, err.path) == (4, (3, 3))
    item = _node(1059, _node(1041, "39" * 16).hex())  # the FN number is no item attribute
    err = _decode_error(tlv_impl, _node(3, item.hex()))
    assert (err.offset, err.path) == (8, (3, 1059, 1041))


def test_path_inside_item(tlv_impl: Any) -> None:
    ((_, doc),) = tlv_impl.decode(RAW)
    i = next(i for i, (t, _) in enumerate(doc) if t == 1059)
    bad = list(doc)
    bad[i] = (1059, [(1030, "x"), (1079, 1)])
    data = bytearray(tlv_impl.encode([(3, bad)]))
    pos = data.index(_node(1079, "01"))
    data[pos + 2] = 9  # declare 9 bytes for the price: runs over the item
    err = _decode_error(tlv_impl, bytes(data))
    assert err.offset == pos and err.path == (3, 1059, 1079)


def test_bytes_types(tlv_impl: Any) -> None:
    assert tlv_impl.decode(bytearray(_node(1020, "05"))) == [(1020, 5)]
    assert tlv_impl.decode(memoryview(_node(1020, "05"))) == [(1020, 5)]
    with pytest.raises(TypeError):
        tlv_impl.decode("0104")


# --------------------------------------------------------------------------- encode errors


@pytest.mark.parametrize(
    ("tree", "path", "fragment"),
    [
        ([(1020, -1)], (1020,), "negative"),
        ([(1020, 2**48)], (1020,), "does not fit"),
        ([(1054, 256)], (1054,), "does not fit"),
        ([(1040, 2**32)], (1040,), "does not fit"),
        ([(1040, True)], (1040,), "must be an int"),
        ([(1040, "1")], (1040,), "must be an int"),
        ([(1030, b"x")], (1030,), "must be a str"),
        ([(1030, "x" * 129)], (1030,), "maximum 128"),
        ([(1030, "price €5")], (1030,), "CP866"),
        ([(1030, "🙂")], (1030,), "CP866"),
        ([(1018, "1234567890123")], (1018,), "maximum 12"),
        ([(1077, b"12345")], (1077,), "fixed width"),
        ([(1077, "123456")], (1077,), "must be bytes"),
        ([(1012, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))], (1012,), "naive"),
        ([(1012, dt.datetime(2026, 1, 1, 0, 0, 0, 5))], (1012,), "fractions"),
        ([(1012, dt.date(2026, 1, 1))], (1012,), "not a date"),
        ([(1012, dt.datetime(1969, 12, 31))], (1012,), "unixtime range"),
        ([(1012, 2**32)], (1012,), "unixtime range"),
        ([(1023, Decimal("-1"))], (1023,), "negative"),
        ([(1023, Decimal("NaN"))], (1023,), "finite"),
        ([(1023, 1.5)], (1023,), "must be an int"),
        ([(1023, Decimal("1" * 18))], (1023,), "does not fit"),
        ([(9999, 1)], (9999,), "unknown tag"),
        ([(70000, 1)], (70000,), "unknown tag"),
        ([(1020,)], (), "(tag, value)"),
        ([5], (), "(tag, value)"),
        ([("1020", 5)], (), "a tag must be an int"),
        ((1020, 5), (), "(tag, value)"),
        ("abc", (), "expected a list"),
        ([(3, [(3, [])])], (3, 3), "document tag"),
        ([(3, [(1059, [(1041, "1")])])], (3, 1059, 1041), "not allowed"),
        ([(3, 5)], (3,), "expected a list"),
        ([(1059, [(1030, "я" * 128)] * 9)], (1059,), "maximum 1024"),
    ],
)
def test_encode_errors(tlv_impl: Any, tree: Any, path: tuple[int, ...], fragment: str) -> None:
    with pytest.raises(EncodeError) as info:
        tlv_impl.encode(tree)
    assert info.value.path == path
    assert fragment in str(info.value)


def test_int_enums_and_lists_are_accepted(tlv_impl: Any) -> None:
    from fiscal_core.ffd.tags import Tag

    assert tlv_impl.encode([[Tag.TOTAL, 5]]) == tlv_impl.encode([(1020, 5)])
    assert tlv_impl.encode(((1059, ((1030, "a"),)),)) == tlv_impl.encode([(1059, [(1030, "a")])])


def test_registry_types_all_round_trip(tlv_impl: Any) -> None:
    """One value of every leaf type of the registry survives encode -> decode."""
    samples: dict[DataType, Any] = {
        DataType.BYTE: 7,
        DataType.UINT16: 513,
        DataType.UINT32: 70000,
        DataType.VLN: 123456,
        DataType.BITMASK: 6,
        DataType.FVLN: Decimal("2.500"),
        DataType.UNIXTIME: dt.datetime(2026, 11, 23, 12, 30, 5),
        DataType.STRING: "Тест",
        DataType.BYTES: None,
    }
    for tag, spec in REGISTRY.items():
        if spec.dtype == DataType.STLV:
            continue
        value = samples[spec.dtype]
        if spec.dtype == DataType.BYTES:
            value = bytes(range(spec.max_length if spec.fixed else min(spec.max_length, 3)))
        if spec.dtype == DataType.STRING and spec.max_length < 4:
            value = "12"[: spec.max_length]
        assert tlv_impl.decode(tlv_impl.encode([(tag, value)])) == [(tag, value)], tag
