"""A TLV document tree <-> the tax service's receipt JSON ("FNS JSON", the ``proverka cheka`` format).

Rules
- One document maps to one JSON object: ``"code"`` = the form code, then each tag under its FNS JSON name.
  Names are resolved in the context of the PARENT tag (``totalSum`` is 1020 in a receipt and 1201 inside the
  counters), from the registry's ``json_name`` and ``children``. At document level a name shared by several
  tags means the one that is not nested in any structure; a name still ambiguous there (``ndsSum``,
  ``ecashSum``) is refused in both directions.
- Repeatable tags (``spec.repeatable``: items 1059, 1260, 1119, 1235, …) are JSON lists, in tree order;
  any other STLV is an object (``properties`` 1084, ``amountsReceiptNds`` 1115). A non-repeatable tag twice
  in one parent cannot be written and raises.
- Values: integers and money stay integers (kopecks); UNIXTIME <-> ``"YYYY-MM-DDTHH:MM:SS"`` (the naive local
  wall-clock time, FFD §1); FVLN -> an ``int`` when the decimal has no fractional digits, else the ``float``
  of its decimal text (``0.876`` stays ``0.876``); should that float not read back as the same value (more
  than ~15 significant digits) the :class:`~decimal.Decimal` itself is returned instead of a rounded
  number. Inbound, quantities become ``Decimal(str(x))``. The number of trailing zeros of an FVLN (``1.000``)
  does not survive JSON, so such a document re-encodes with the shorter scale.
- Fixed-width strings are re-padded with spaces to their width, as the 2026 FNS JSON writes them
  (``"userInn": "7825706086  "``); inbound the padding is stripped (legacy JSON without padding is accepted).
- 1077 <-> ``fiscalSign`` = the printed fiscal sign (FFD §8); inbound the 6 bytes are rebuilt with the
  prefix for the form (:func:`fiscal_core.ffd.tlv.fiscal_sign_bytes`). Other BYTES <-> lower-case hex.
- 1163 ``productCodeNew`` expands its 13xx child as the FNS does, e.g. ``{"gs1m": {"gtin", "sernum",
  "productIdType", "rawProductCode"}}``. The TLV holds only the raw code; ``gtin``/``sernum`` are parsed from
  the GS1 application identifiers (``01`` + 14 digits, ``21`` + serial up to the end or a GS ``\\x1d``) for
  the GS1 kinds 1304/1305. ``productIdType`` is :data:`PRODUCT_ID_TYPES` (see there for the evidence).
- FNS-side fields that are not in the TLV travel in the *envelope*: :data:`ENVELOPE_FIELDS`, plus
  ``taxationType`` in receipts (the FNS writes it beside ``appliedTaxationType``; tag 1062 belongs to the
  registration reports). Any other unknown name raises :class:`FnsJsonError` with its JSON path.
- Inbound only: ``nds18`` (the name of 1102 in 2024 FNS JSON) is read as 1102, written back as the registry's
  ``nds20``; ``gtin``/``sernum`` of non-GS1 product codes are accepted and dropped (the TLV has no place for
  them and their FNS derivation is unknown); GS1 ones must agree with ``rawProductCode``.
- ``from_fnsjson`` keeps the JSON object's order for the nodes, so a tree that came from TLV re-encodes
  byte for byte when its FVLN scales and 1077 prefix are the canonical ones and the occurrences of each
  repeatable tag are adjacent (a JSON list gathers them at the first one).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from fiscal_core.errors import FieldError, FormatError
from fiscal_core.ffd import cp866, tlv
from fiscal_core.ffd.tags import REGISTRY, DataType, TagSpec

__all__ = ["ENVELOPE_FIELDS", "PRODUCT_ID_TYPES", "FnsJsonError", "from_fnsjson", "to_fnsjson"]

#: Fields of the 2026 FNS JSON that the FNS adds itself (no TLV tag): passed through untouched.
ENVELOPE_FIELDS = frozenset({"metadata", "region", "redefine_mask", "numberKkt", "messageFiscalSign"})
_RECEIPT_FORMS = frozenset({3, 4, 31, 41})
_RECEIPT_ENVELOPE_FIELDS = ENVELOPE_FIELDS | {"taxationType"}

#: 1163 sub-tag -> FNS ``productIdType`` [inferred]: the tag number minus 1299. Evidence: 1305 (gs1m) -> 6 in
#: the 2026 vector and in real FFD 1.2 FNS JSON of 2024 (GitHub Zaar2/ChequeInfo, ``JsonUnitTest.kt``). In that
#: file a third-party parser of the same receipts reports "not supported product type 3" on plain groceries
#: (EAN-13, 1302 -> 3) and "type 1" with "unable to convert gtin" on a weighed item (unrecognised code,
#: 1300 -> 1). 1301-1309 -> 2-10 continue the sequence unverified; 1320-1325 -> 11-16 is a guess (no data), so
#: ``from_fnsjson`` refuses a different number rather than misread it.
PRODUCT_ID_TYPES: Mapping[int, int] = {
    **{tag: tag - 1299 for tag in range(1300, 1310)},
    **{tag: tag - 1309 for tag in range(1320, 1326)},
}
_GS1_KINDS = frozenset({1304, 1305})
_GS = "\x1d"  # GS1 group separator ends a variable-length application identifier

#: Names that real FNS JSON uses besides the registry's, accepted inbound only: the 2024 FNS JSON writes
#: 1102 as "nds18" (its pre-2019 name) where the 2020 one wrote "nds20" (the registry's name).
_DOC_ALIASES: Mapping[str, int] = {"nds18": 1102}

_DATETIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}", re.ASCII)
_EPOCH = _dt.datetime(1970, 1, 1)
_MAX_TIME = _EPOCH + _dt.timedelta(seconds=0xFFFFFFFF)
_INT_TYPES = frozenset({DataType.BYTE, DataType.UINT16, DataType.UINT32, DataType.VLN, DataType.BITMASK})


class FnsJsonError(FieldError, FormatError):
    """FNS JSON that does not map onto the registry, or a tree that cannot be written as FNS JSON.

    ``path`` is the JSON path of the field at fault, e.g. ``items[3].productCodeNew``.
    """

    code = "fns_json_error"
    top = "(top)"


# --------------------------------------------------------------------------- name maps (built once)

_NESTED: frozenset[int] = frozenset(t for s in REGISTRY.values() if s.children for t in s.children)


def _name_map(tags: Iterable[int], prefer_top_level: bool) -> dict[str, int]:
    """JSON name -> tag among ``tags``; ambiguous names are left out (refused both ways)."""
    by_name: dict[str, list[int]] = {}
    for tag in sorted(tags):
        s = REGISTRY[tag]
        if s.json_name and not s.document:
            by_name.setdefault(s.json_name, []).append(tag)
    out: dict[str, int] = {}
    for name, found in by_name.items():
        if len(found) > 1 and prefer_top_level:
            found = [t for t in found if t not in _NESTED]
        if len(found) == 1:
            out[name] = found[0]
    return out


_STLV_NAMES: dict[int, dict[str, int]] = {
    t: _name_map(s.children, False) for t, s in REGISTRY.items() if s.dtype == DataType.STLV and s.children
}
_DOC_NAMES = _name_map(REGISTRY, True)
# 1062 (registration reports) would otherwise claim "taxationType", which receipts carry as an FNS field.
_RECEIPT_DOC_NAMES = {k: v for k, v in _DOC_NAMES.items() if v != 1062}


def _doc_names(form: int) -> dict[str, int]:
    return _RECEIPT_DOC_NAMES if form in _RECEIPT_FORMS else _DOC_NAMES


def _envelope_fields(form: int) -> frozenset[str]:
    return _RECEIPT_ENVELOPE_FIELDS if form in _RECEIPT_FORMS else ENVELOPE_FIELDS


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _document_node(document: Any) -> tuple[int, list[Any]]:
    if isinstance(document, list) and len(document) == 1:
        document = document[0]  # a one-document tree
    if not isinstance(document, (tuple, list)) or len(document) != 2 or not _is_int(document[0]):
        raise FnsJsonError("expected a document node (form_code, nodes) or a one-document tree")
    form, nodes = document
    spec = REGISTRY.get(form)
    if spec is None or not spec.document:
        raise FnsJsonError(f"{form} is not a document form code", "code")
    if not isinstance(nodes, (list, tuple)):
        raise FnsJsonError("a document's value must be a list of nodes")
    return form, list(nodes)


# --------------------------------------------------------------------------- tree -> JSON


def to_fnsjson(document: Any, envelope: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The FNS JSON object of one document node (or a one-document tree), merged with ``envelope``."""
    form, nodes = _document_node(document)
    out: dict[str, Any] = {"code": form}
    _nodes_to_json(nodes, _doc_names(form), out, "", form)
    allowed = _envelope_fields(form)
    for key, value in (envelope or {}).items():
        # Envelope names are disjoint from the tag names of the form (tested), so nothing is overwritten.
        if key not in allowed:
            raise FnsJsonError(f"{key!r} is not an FNS envelope field (known: {sorted(allowed)})", key)
        out[key] = value
    return out


def _nodes_to_json(nodes: Any, names: Mapping[str, int], out: dict[str, Any], path: str, form: int) -> None:
    if not isinstance(nodes, (list, tuple)):
        raise FnsJsonError(f"an STLV value must be a list of nodes, not {type(nodes).__name__}", path)
    for node in nodes:
        if not isinstance(node, (tuple, list)) or len(node) != 2 or not _is_int(node[0]):
            raise FnsJsonError("a node must be a (tag, value) pair", path)
        tag, value = node
        spec = REGISTRY.get(tag)
        if spec is None:
            raise FnsJsonError(f"unknown tag {tag}", path)
        name = spec.json_name
        if name is None or names.get(name) != tag:
            # Writing it anyway would make the JSON mean another tag (or nothing) on the way back.
            why = "has no FNS JSON name" if name is None else f"cannot be written as {name!r} here"
            raise FnsJsonError(f"tag {tag} {why}", path)
        here = _join(path, name)
        if spec.repeatable:
            items = out.setdefault(name, [])
            items.append(_value_to_json(spec, value, f"{here}[{len(items)}]", form))
        elif name in out:
            raise FnsJsonError(f"tag {tag} occurs twice but is not repeatable", here)
        else:
            out[name] = _value_to_json(spec, value, here, form)


def _value_to_json(spec: TagSpec, value: Any, path: str, form: int) -> Any:
    tag, dtype = spec.number, spec.dtype
    if dtype == DataType.STLV:
        if tag == 1163:
            return _product_code_to_json(value, path)
        obj: dict[str, Any] = {}
        _nodes_to_json(value, _STLV_NAMES.get(tag, {}), obj, path, form)
        return obj
    if tag == 1077:
        if not isinstance(value, (bytes, bytearray)) or len(value) != 6:
            raise FnsJsonError("tag 1077 must be 6 bytes", path)
        return tlv.printed_fiscal_sign(bytes(value))
    if dtype in _INT_TYPES:
        if not _is_int(value):
            raise FnsJsonError(f"tag {tag} must be an int, not {type(value).__name__}", path)
        return int(value)
    if dtype == DataType.FVLN:
        return _quantity_to_json(value, tag, path)
    if dtype == DataType.UNIXTIME:
        if _is_int(value):
            value = _EPOCH + _dt.timedelta(seconds=value)
        if not isinstance(value, _dt.datetime) or value.tzinfo is not None:
            raise FnsJsonError(f"tag {tag} must be a naive local datetime", path)
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    if dtype == DataType.STRING:
        if not isinstance(value, str):
            raise FnsJsonError(f"tag {tag} must be a str, not {type(value).__name__}", path)
        return value.ljust(spec.max_length) if spec.fixed else value
    if dtype == DataType.BYTES:
        if not isinstance(value, (bytes, bytearray)):
            raise FnsJsonError(f"tag {tag} must be bytes, not {type(value).__name__}", path)
        return bytes(value).hex()
    raise AssertionError(f"unhandled data type {dtype}")  # pragma: no cover - the registry is closed


def _quantity_to_json(value: Any, tag: int, path: str) -> Any:
    if _is_int(value):
        return int(value)
    if not isinstance(value, Decimal) or not value.is_finite():
        raise FnsJsonError(f"tag {tag} must be a Decimal or an int", path)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, so never 'n'/'N'/'F'
    if exponent >= 0:
        return int(value)
    number = float(str(value))
    # A JSON number must not silently round a quantity: keep the Decimal when the float cannot hold it.
    return number if Decimal(repr(number)) == value else value


def _parse_gs1(raw: str) -> tuple[str | None, str | None]:
    """(gtin, serial) from a GS1 element string ``01<14 digits>21<serial>[GS…]``; None for what is absent."""
    if len(raw) < 16 or not raw.startswith("01") or not (raw[2:16].isascii() and raw[2:16].isdigit()):
        return None, None
    rest = raw[16:]
    if not rest.startswith("21"):
        return raw[2:16], None
    serial = rest[2:].split(_GS, 1)[0]
    return raw[2:16], serial or None


def _product_code_to_json(nodes: Any, path: str) -> dict[str, Any]:
    if not isinstance(nodes, (list, tuple)):
        raise FnsJsonError(f"an STLV value must be a list of nodes, not {type(nodes).__name__}", path)
    out: dict[str, Any] = {}
    names = _STLV_NAMES[1163]
    for node in nodes:
        if not isinstance(node, (tuple, list)) or len(node) != 2 or node[0] not in PRODUCT_ID_TYPES:
            raise FnsJsonError("1163 must hold (13xx, code) nodes", path)
        tag, raw = node
        spec = REGISTRY[tag]
        name = spec.json_name
        assert name is not None and names[name] == tag
        here = _join(path, name)
        if name in out:
            raise FnsJsonError(f"tag {tag} occurs twice in 1163", here)
        code = _value_to_json(spec, raw, here, 0)
        entry: dict[str, Any] = {}
        if tag in _GS1_KINDS:
            gtin, serial = _parse_gs1(code)
            if gtin is not None:
                entry["gtin"] = gtin
            if serial is not None:
                entry["sernum"] = serial
        entry["productIdType"] = PRODUCT_ID_TYPES[tag]
        entry["rawProductCode"] = code
        out[name] = entry
    return out


# --------------------------------------------------------------------------- JSON -> tree


def from_fnsjson(obj: Any) -> tuple[tuple[int, list[tuple[int, Any]]], dict[str, Any]]:
    """``(document node, envelope)`` from one FNS JSON object; :class:`FnsJsonError` names the JSON path."""
    if not isinstance(obj, Mapping):
        raise FnsJsonError(f"expected a JSON object, not {type(obj).__name__}")
    if "code" not in obj:
        raise FnsJsonError("missing field 'code' (the document form code)", "code")
    form = obj["code"]
    if not _is_int(form) or form not in REGISTRY or not REGISTRY[form].document:
        raise FnsJsonError(f"{form!r} is not a document form code", "code")
    names, envelope_fields = _doc_names(form), _envelope_fields(form)
    nodes: list[tuple[int, Any]] = []
    envelope: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "code":
            continue
        tag = names.get(key, _DOC_ALIASES.get(key))
        if tag is not None:
            nodes.extend(_json_to_nodes(REGISTRY[tag], value, key, form))
        elif key in envelope_fields:
            envelope[key] = value
        else:
            raise FnsJsonError(f"unknown field {key!r} in form {form}", key)
    return (form, nodes), envelope


def _json_to_nodes(spec: TagSpec, value: Any, path: str, form: int) -> list[tuple[int, Any]]:
    if not spec.repeatable:
        return [(spec.number, _json_to_value(spec, value, path, form))]
    if not isinstance(value, list):
        raise FnsJsonError(f"expected a list (tag {spec.number} is repeatable), got {_kind(value)}", path)
    return [(spec.number, _json_to_value(spec, v, f"{path}[{i}]", form)) for i, v in enumerate(value)]


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _json_to_value(spec: TagSpec, value: Any, path: str, form: int) -> Any:
    tag, dtype = spec.number, spec.dtype
    if dtype == DataType.STLV:
        if not isinstance(value, Mapping):
            raise FnsJsonError(f"expected an object (tag {tag}), got {_kind(value)}", path)
        if tag == 1163:
            return _product_code_from_json(value, path)
        names = _STLV_NAMES.get(tag, {})
        children: list[tuple[int, Any]] = []
        for key, item in value.items():
            if key not in names:
                raise FnsJsonError(f"unknown field {key!r} inside {spec.json_name!r} (tag {tag})", _join(path, key))
            children.extend(_json_to_nodes(REGISTRY[names[key]], item, _join(path, key), form))
        return children
    if tag == 1077:
        fp = _json_int(value, path, 4)
        return tlv.fiscal_sign_bytes(fp, form)
    if dtype in _INT_TYPES:
        return _json_int(value, path, spec.max_length)
    if dtype == DataType.FVLN:
        return _json_quantity(value, path)
    if dtype == DataType.UNIXTIME:
        return _json_datetime(value, path)
    if dtype == DataType.STRING:
        return _json_string(spec, value, path)
    if dtype == DataType.BYTES:
        if not isinstance(value, str):
            raise FnsJsonError(f"expected a hex string, got {_kind(value)}", path)
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise FnsJsonError(f"not a hex string: {value!r}", path) from None
        if len(raw) > spec.max_length or (spec.fixed and len(raw) != spec.max_length):
            raise FnsJsonError(f"{len(raw)} bytes do not fit tag {tag} (max {spec.max_length})", path)
        return raw
    raise AssertionError(f"unhandled data type {dtype}")  # pragma: no cover - the registry is closed


def _json_int(value: Any, path: str, width: int) -> int:
    if not _is_int(value):
        raise FnsJsonError(f"expected an integer, got {_kind(value)} {value!r}", path)
    if value < 0 or value.bit_length() > 8 * width:
        raise FnsJsonError(f"{value} is out of range (unsigned, {width} bytes)", path)
    return int(value)


def _json_quantity(value: Any, path: str) -> Decimal:
    if _is_int(value):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(str(value))  # the shortest text that reads back as this float: 0.876, not 0.8759…
    elif isinstance(value, Decimal):
        number = value  # json.loads(..., parse_float=Decimal) keeps the JSON text exactly
    else:
        raise FnsJsonError(f"expected a number, got {_kind(value)} {value!r}", path)
    if not number.is_finite() or number < 0:
        raise FnsJsonError(f"a quantity must be a finite non-negative number, got {value!r}", path)
    return number


def _json_datetime(value: Any, path: str) -> _dt.datetime:
    if not isinstance(value, str) or not _DATETIME_RE.fullmatch(value):
        raise FnsJsonError(f"expected a date-time 'YYYY-MM-DDTHH:MM:SS', got {value!r}", path)
    try:
        moment = _dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise FnsJsonError(f"invalid date-time {value!r}: {exc}", path) from None
    if not _EPOCH <= moment <= _MAX_TIME:
        raise FnsJsonError(f"date-time {value!r} is outside the 32-bit unixtime range", path)
    return moment


def _json_string(spec: TagSpec, value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise FnsJsonError(f"expected a string, got {_kind(value)} {value!r}", path)
    text = value.rstrip(" ") if spec.fixed else value
    try:
        size = len(cp866.encode(text))
    except UnicodeEncodeError as exc:
        raise FnsJsonError(f"character {text[exc.start]!r} has no CP866 byte", path) from None
    if size > spec.max_length:
        raise FnsJsonError(f"{size} CP866 bytes, more than the maximum {spec.max_length} of tag {spec.number}", path)
    return text


_PRODUCT_CODE_KEYS = frozenset({"gtin", "sernum", "productIdType", "rawProductCode"})


def _product_code_from_json(value: Mapping[str, Any], path: str) -> list[tuple[int, Any]]:
    names = _STLV_NAMES[1163]
    nodes: list[tuple[int, Any]] = []
    for key, entry in value.items():
        here = _join(path, key)
        tag = names.get(key)
        if tag is None:
            raise FnsJsonError(f"unknown product code kind {key!r}", here)
        if not isinstance(entry, Mapping):
            raise FnsJsonError(f"expected an object, got {_kind(entry)}", here)
        for field in entry:
            if field not in _PRODUCT_CODE_KEYS:
                raise FnsJsonError(f"unknown field {field!r}", _join(here, field))
        if "rawProductCode" not in entry:
            raise FnsJsonError("missing field 'rawProductCode' (the TLV value)", here)
        raw = _json_string(REGISTRY[tag], entry["rawProductCode"], _join(here, "rawProductCode"))
        # The other fields are derived from the raw code; a mismatch means the JSON contradicts itself.
        expected: dict[str, Any] = {"productIdType": PRODUCT_ID_TYPES[tag]}
        if tag in _GS1_KINDS:
            expected["gtin"], expected["sernum"] = _parse_gs1(raw)
        for field, want in expected.items():
            if field in entry and entry[field] != want:
                raise FnsJsonError(
                    f"{entry[field]!r} contradicts rawProductCode (expected {want!r})", _join(here, field)
                )
        # gtin/sernum of the other kinds: the FNS derivation is unknown and the TLV has no place for them,
        # so they are accepted and not kept.
        nodes.append((tag, raw))
    return nodes
