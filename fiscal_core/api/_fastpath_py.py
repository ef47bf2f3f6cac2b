"""The fast path of ATOL validation: the common receipt checked on plain values, or None for the spec to decide.

:func:`validate_fast` answers a request that is a plain sale, refund or purchase receipt (items with name,
price, quantity, sum, VAT, method and object, in v5 a marking code with its processing mode and planned status;
payments; receipt-level ``vats``; company; a client's e-mail or phone; cashier) and that the spec
(:mod:`fiscal_core.api._validate_py`) would accept. It returns exactly the :class:`Validated` the spec returns —
the same document, msgpack and warnings — and None for anything else: an error, a field it does not
handle, a form of number it does not parse. None costs only the time spent so far: the caller then runs the
spec, which stays the only source of errors.

Rules
- Decoding is msgspec's untyped JSON decoder with ``float_hook=str.encode``: every number with a fraction or
  exponent arrives as the bytes of its own text (a type no other JSON value decodes to), so money and
  quantities are read digit by digit into integer kopecks (thousandths for quantities) — no Decimal, no float.
  Only ``digits[.digits]`` is parsed; a sign, exponent, space or anything else Decimal would accept is left to
  the spec. A JSON string holding such a number is read the same way, as the spec's Decimal fields take it too.
- :func:`scan` is a second reader of the same values, straight from the request bytes: the envelope as the
  decoder's dicts, the items as rows (amounts already in kopecks and thousandths), so the item checks read
  no dicts. It declines (None: the caller decodes) whatever it would not read exactly as the decoder does:
  an escape, a byte above 0x7F outside the texts it decodes, a key twice, a field the dict path leaves to the
  spec, anything that is not JSON. It pays from about 1 KB of body (``validate.SCAN_FROM``).
- Shape: a field the fast path handles must have the exact JSON type the spec's Struct wants (``type(x) is
  int``, so ``true`` is not 1). A field of the spec's Structs it does not handle must be absent or null, else the
  spec decides. Keys no Struct knows are ignored, as the spec's decoder ignores them. Duplicate keys: the last
  wins in both decoders.
- Marking (v5 ``mark_code``, ``mark_processing_mode``, ``planned_status``) goes through the spec's own
  ``_item_marking`` on a stand-in item: the same code, the same full codes for the marking check. The common
  marked good (a ``gs1m`` code alone, processing mode "0" or none, no planned status) takes the same steps
  without the stand-in (:func:`_gs1m`): the spec's ``_code_data`` and ``_gs1_product`` done on the decoded
  bytes in place, checked against the spec on generated codes (``test_gs1m_codes_read_in_place_…``).
- Each check is the spec's rule on its success side only (same limits, same tables, same helpers imported from
  the spec module); the spec's docstring is the reference for what the rules mean. The spec's three warnings
  are made here the same way, in the same order: CP866 substitution in the texts it reads, a ``total`` rounded
  by at most 99 kopecks, a ``callback_url`` that fails ATOL's mask; their paths are built only then.
- This file is the pure-Python twin. ``setup.py`` compiles a stamped copy of it with ``_fastpath_py.pxd``
  (C types for the digit loops, the sums and the byte reader, which reads through a C pointer);
  :mod:`fiscal_core.api.validate` picks one and binds it to the selected spec's :class:`Validated`. Tests
  compare both with the spec on random valid and mutated receipts, and ``scan`` with a reading of the decoder's
  tree.
"""

from __future__ import annotations

import binascii
import functools
from decimal import Decimal
from types import ModuleType
from typing import Any

import msgspec

from fiscal_core.api import _validate_py as _spec
from fiscal_core.api import atol
from fiscal_core.ffd.enums import TaxSystem, VatRate
from fiscal_core.ffd.receipt import Item, MarkingCode, Payments, Receipt, VatSum
from fiscal_core.ffd.tags import REGISTRY

__all__ = ["bind", "decode", "validate_decoded", "validate_fast"]

_MAX_KOPECKS = 4_294_967_295
_MAX_RUB_WHOLE = 42_949_672
_MAX_THOUSANDTHS = 99_999_999
_BOM = b"\xef\xbb\xbf"
#: JSON numbers with a fraction or exponent arrive as the bytes of their text: a type of their own, so that a
#: number sent for a text field (``"external_id": 1.5``) is never mistaken for a string.
_DECODER = msgspec.json.Decoder(float_hook=str.encode)
_PACK = msgspec.msgpack.Encoder()

_EMAIL = _spec._EMAIL
_NEEDS_MAP = _spec._NEEDS_MAP
_inn_ok = _spec._inn_ok
_parse_timestamp = _spec._parse_timestamp
_callback_ok = _spec._callback_ok
_phone = _spec._phone
#: ATOL VAT type -> (the rate, its number, whether it carries VAT). The number keys the per-rate sums: an
#: enum member hashes through Python code (``Enum.__hash__``), a plain int does not.
_VAT: dict[str, tuple[Any, int, bool]] = {
    k: (r, int(r), r.included_fraction is not None) for k, r in atol.VAT_TYPES.items()
}
_METHODS: dict[str, Any] = dict(atol.PAYMENT_METHODS)
_SUBJECTS_V4: dict[str, Any] = dict(atol.PAYMENT_OBJECTS_V4)
_SUBJECTS_V5: dict[int, Any] = dict(atol.PAYMENT_OBJECTS_V5)
_MEASURES: dict[int, Any] = dict(atol.MEASURES)
_SNO: dict[str, tuple[Any, int]] = {k: (v, int(v)) for k, v in atol.SNO.items()}
_V4_METHOD = atol.PAYMENT_METHODS["full_prepayment"]
_V4_SUBJECT = atol.PAYMENT_OBJECTS_V4["commodity"]
_L1030: int = _spec._L[1030]
_L1197: int = _spec._L[1197]
_L1305: int = REGISTRY[1305].max_length  # the spec's _gs1_product limit: a GS1 product code (01 GTIN 21 serial)
_L1021: int = _spec._L[1021]
_ITEM_FIXED: int = _spec._ITEM_FIXED
_MAX_ITEM: int = _spec._MAX_ITEM
_RESERVE: int = _spec._RESERVE
_MAX_DOCUMENT: int = _spec._MAX_DOCUMENT
_TOP_FFD = {4: "1.05", 5: "1.2"}
#: (version, operation) -> its Operation, for the receipt operations of each version.
_OPS: dict[tuple[int, str], Any] = {
    (v, name): op for name, op in atol.OPERATIONS.items() for v in op.versions if not op.correction
}


def _fields(*structs: type[msgspec.Struct]) -> frozenset[str]:
    out: set[str] = set()
    for s in structs:
        out.update(s.__struct_fields__)
    return frozenset(out)


# Fields of the spec's Structs that the fast path does not read: they must be absent or null.
#: Every field of the receipt requests' envelope and of ``company``: read in full (a test keeps these exact).
_TOP_HANDLED = frozenset({"external_id", "timestamp", "service", "receipt", "ism_optional", "source_id"})
_COMPANY_HANDLED = frozenset({"inn", "payment_address", "email", "sno", "location"})
_BODY_HANDLED = frozenset({"company", "payments", "vats", "cashier", "internet", "client", "items", "total"})
_ITEM_HANDLED = frozenset({"name", "price", "quantity", "sum", "vat", "payment_method", "payment_object"})
_ITEM_HANDLED_V4 = _ITEM_HANDLED | {"measurement_unit", "nomenclature_code"}
_ITEM_HANDLED_V5 = _ITEM_HANDLED | {"measure", "wholesale", "mark_code", "mark_processing_mode", "planned_status"}
_CLIENT_HANDLED = frozenset({"email", "phone"})
_BODY_OTHER = _fields(atol.ReceiptBodyV4, atol.ReceiptBodyV5) - _BODY_HANDLED
_ITEM_OTHER_V4 = _fields(atol.ItemV4) - _ITEM_HANDLED_V4
_ITEM_OTHER_V5 = _fields(atol.ItemV5) - _ITEM_HANDLED_V5
_CLIENT_OTHER = _fields(atol.ClientV4, atol.ClientV5) - _CLIENT_HANDLED

# What scan() reads (a key's bytes and the name it has in the dict tree) and what it requires to be null.
_MAX_DEPTH = 32  #: nesting scan() follows inside the values it skips
_TOP_NAMES = ("service", "receipt", "external_id", "timestamp", "ism_optional", "source_id", "group_code", "operation")
_BODY_NAMES = ("company", "client", "items", "payments", "vats", "total", "cashier", "internet")
#: An item row: (name, price kopecks, quantity thousandths, sum kopecks, vat, then the raw values of the keys
#: below from payment_method on, ``mark_code`` as a dict of its known fields); -1 for an amount absent or not
#: one; vat None (absent or null) or (type, sum kopecks, -2 when absent or null).
_ITEM_NAMES = ("name", "price", "quantity", "sum", "vat", "payment_method", "payment_object", "measure", "wholesale",
               "measurement_unit", "nomenclature_code", "mark_code", "mark_processing_mode",
               "planned_status")  # fmt: skip
_SERVICE_NAMES = ("callback_url",)
_COMPANY_NAMES = tuple(sorted(_COMPANY_HANDLED))
_CLIENT_NAMES = tuple(sorted(_CLIENT_HANDLED))
_TYPE_SUM_NAMES = ("type", "sum")  #: a ``vats`` or ``payments`` entry, an item's ``vat``
_NULL = 99  #: a key table's value for a field that must be null (the dict path leaves it to the spec otherwise)


def _keys(names: tuple[str, ...], nulls: Any = ()) -> dict[int, tuple[tuple[bytes, int], ...]]:
    """A key table for :func:`_lookup`: each key's code is its index in ``names``, or _NULL for ``nulls``; a key
    not in the table is skipped. Keyed by length, first and last byte (cheap to compute in place, and an int
    key hashes for free), each entry the candidates to compare byte by byte."""
    table: dict[int, tuple[tuple[bytes, int], ...]] = {}
    codes = [(name.encode(), k) for k, name in enumerate(names)] + [(name.encode(), _NULL) for name in sorted(nulls)]
    for word, code in codes:
        h = (len(word) * 256 + word[0]) * 256 + word[-1]
        table[h] = (*table.get(h, ()), (word, code))
    return table


_TOP_KEYS = _keys(_TOP_NAMES)
_BODY_KEYS = _keys(_BODY_NAMES, _BODY_OTHER)
_ITEM_KEYS = _keys(_ITEM_NAMES, (_ITEM_OTHER_V4 | _ITEM_OTHER_V5) - set(_ITEM_NAMES))
_SERVICE_KEYS = _keys(_SERVICE_NAMES)
_COMPANY_KEYS = _keys(_COMPANY_NAMES)
_CLIENT_KEYS = _keys(_CLIENT_NAMES, _CLIENT_OTHER)
_TYPE_SUM_KEYS = _keys(_TYPE_SUM_NAMES)

_MARK_FIELDS = tuple(atol.MarkCode.__struct_fields__)
_MARK_KEYS = _keys(_MARK_FIELDS)
_item_marking = _spec._item_marking
_Run = _spec._Run
#: ``base64.b64decode(value, validate=True)`` without its Python frame: the same strict decoding of an ASCII str
#: (a str that is not ASCII is a ValueError in both).
_a2b_base64 = binascii.a2b_base64
_GS1M = atol.MARK_CODE_TAGS["gs1m"]

_Validated: Any = _spec.Validated
_FieldWarning: Any = _spec.FieldWarning
_substitute = _spec.substitute_cp866
_describe = _spec._describe
_rub = _spec._rub
_TOTAL_TOLERANCE: int = _spec.TOTAL_TOLERANCE
#: 1199 value -> (rate, 100 + rate): ``VatRate.included_fraction`` of the rates that carry VAT, for :func:`_vat_in`.
_SHARES: dict[int, tuple[int, int]] = {int(r): r.included_fraction for r in VatRate if r.included_fraction is not None}


def bind(spec: ModuleType) -> None:
    """Answer with ``spec``'s :class:`Validated` and warnings (the compiled spec defines its own classes), and
    run its helpers: the compiled spec's when it is the one selected."""
    global _Validated, _FieldWarning, _item_marking, _Run
    _Validated = spec.Validated
    _FieldWarning = spec.FieldWarning
    _item_marking = spec._item_marking
    _Run = spec._Run


def _child(obj: dict[str, Any], key: str) -> dict[str, Any] | None:
    """``obj[key]`` when it is a JSON object, else None (absent, null or another type: the spec decides)."""
    value = obj.get(key)
    return value if type(value) is dict else None


def _plain(obj: dict[str, Any], handled: frozenset[str], other: frozenset[str]) -> bool:
    """True when every key of ``obj`` the fast path does not handle is unknown to the spec or null."""
    for key, value in obj.items():  # noqa: SIM110 - a loop the compiled copy runs in C; all() would not
        if key not in handled and value is not None and key in other:
            return False
    return True


def _digits(s: bytes, start: int, n: int, decimals: int, limit_whole: int) -> int:
    """``s[start:n]`` as ``digits[.digits]`` -> the value × 10**decimals, or -1 (not that form, more significant
    decimals than ``decimals``, whole part above ``limit_whole``). Trailing zeros beyond ``decimals`` are allowed:
    1.230 is 1.23."""
    if n <= start or n - start > 40:
        return -1
    i = start
    whole = 0
    while i < n:
        c = s[i]
        if c < 48 or c > 57:
            break
        whole = whole * 10 + (c - 48)
        if whole > limit_whole:
            return -1
        i += 1
    if i == start:
        return -1
    frac = 0
    used = 0
    if i < n:
        if s[i] != 46:  # "."
            return -1
        i += 1
        if i == n:
            return -1  # "1." is a Decimal, but not a form a JSON number takes: the spec decides
        while i < n:
            c = s[i]
            if c < 48 or c > 57:
                return -1
            if used < decimals:
                frac = frac * 10 + (c - 48)
                used += 1
            elif c != 48:
                return -1
            i += 1
    while used < decimals:
        frac *= 10
        used += 1
    scale = 100 if decimals == 2 else 1000
    return whole * scale + frac


def _kopecks(value: object) -> int:
    """A money field -> kopecks (0 .. 42 949 672.95), or -1."""
    if type(value) is int:
        v: int = value
        return v * 100 if 0 <= v <= _MAX_RUB_WHOLE else -1
    if type(value) is bytes:
        k = _digits(value, 0, len(value), 2, _MAX_RUB_WHOLE)
    elif type(value) is str:  # a JSON string: the spec's Decimal fields take those too
        text = value.encode()
        k = _digits(text, 0, len(text), 2, _MAX_RUB_WHOLE)
    else:
        return -1
    return k if k <= _MAX_KOPECKS else -1


def _thousandths(value: object) -> int:
    """A quantity -> thousandths (0 < q ≤ 99 999.999), or -1."""
    q = -1
    if type(value) is int:
        v: int = value
        if 0 < v <= 99_999:
            q = v * 1000
    elif type(value) is bytes:
        q = _digits(value, 0, len(value), 3, 99_999)
    elif type(value) is str:
        text = value.encode()
        q = _digits(text, 0, len(text), 3, 99_999)
    return q if 0 < q <= _MAX_THOUSANDTHS else -1


def _vat_in(gross: int, rate: int, base: int) -> int:
    """``VatRate.vat_included`` on C integers: the VAT inside ``gross`` kopecks at ``rate``/``base``, rounded half
    up. A method call per rate of every receipt cost more than the rest of the receipt's sums; a test holds the
    two equal for every rate."""
    return (gross * rate * 2 + base) // (base * 2)


#: Fractional quantities made so far (thousandths -> Decimal): a catalogue's weights repeat from receipt to
#: receipt, and building one from its text costs more than the rest of the item's checks. Decimals are
#: immutable, so one object serves every receipt; the cache stops growing at _QUANTITY_CACHE entries.
_QUANTITIES: dict[int, Decimal] = {}
_QUANTITY_CACHE = 4096


def _quantity(q: int) -> int | Decimal:
    """Thousandths -> the spec's quantity: an int when whole, else a Decimal without trailing zeros."""
    whole = q // 1000
    frac = q % 1000
    if frac == 0:
        return whole
    known = _QUANTITIES.get(q)
    if known is not None:
        return known
    text = f"{whole}.{frac:03d}".rstrip("0")
    value = Decimal(text)
    if len(_QUANTITIES) < _QUANTITY_CACHE:
        _QUANTITIES[q] = value
    return value


def _marking(
    mark_in: object, mode_in: object, status_in: object, quantity: Any
) -> tuple[int, Any, dict[str, Any]] | None:
    """A v5 item's ``mark_code``, ``mark_processing_mode`` and ``planned_status`` through the spec's own
    ``_item_marking`` -> (their TLV size, the full gs1m code or None, the Item's extra fields); None when a value
    has the wrong JSON type or the spec finds anything to say about them."""
    mark = None
    if mark_in is not None:
        if type(mark_in) is not dict:
            return None
        # _gs1m's case: a gs1m code alone, processing mode "0" or none, no planned status.
        plain_mode = status_in is None and (mode_in is None or mode_in == "0")
        if plain_mode and len(mark_in) == 1:  # ``{"gs1m": "..."}``: the loop below would find just that one
            value = mark_in.get("gs1m")
            if type(value) is str:
                return _gs1m(value, mode_in is not None, quantity)
        given = {}
        for key in _MARK_FIELDS:
            value = mark_in.get(key)
            if value is not None:
                if type(value) is not str:
                    return None
                given[key] = value
        if plain_mode and len(given) == 1:
            value = given.get("gs1m")
            if value is not None:
                return _gs1m(value, mode_in is not None, quantity)
        mark = atol.MarkCode(**given)
    if (mode_in is not None and type(mode_in) is not str) or (status_in is not None and type(status_in) is not int):
        return None
    # Only the fields _item_marking reads are set; the rest of this stand-in is never looked at.
    stand_in = atol.ItemV5(
        name="", price=0, quantity=0, sum=0, mark_code=mark, mark_processing_mode=mode_in, planned_status=status_in
    )
    run = _Run()
    extra: dict[str, Any] = {}
    size, full = _item_marking(run, stand_in, "", quantity, extra)
    if run.issues or run.warnings:
        return None
    return size, full, extra


def _gs1m(value: str, mode: bool, quantity: Any) -> tuple[int, Any, dict[str, Any]] | None:
    """:func:`_marking` of the common marked good: a ``gs1m`` code alone, ``mark_processing_mode`` "0" (``mode``)
    or absent, no planned status. The spec's own steps for it (``_mark``'s gs1m branch, ``_item_marking``'s sizes
    and quantity rule), without the stand-in item and the run the general case goes through: a marketplace's
    receipt marks most of its items. The decoded code is read in place (:func:`_code_start`,
    :func:`_gs1_head`); only the two texts the document keeps are made."""
    if quantity != 1:
        return None
    try:
        raw = _a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    if raw[:1] == b"\xe8":  # FNC1 as byte 232
        raw = raw[1:]
    if not raw.isascii():
        return None
    n = len(raw)
    start = _code_start(raw, 0, n)  # the spec's _code_data
    if start == n:
        return None
    head = _code_start(raw, start, n)  # _gs1_product's own _code_data, applied to the full code again
    gs = raw.find(b"\x1d", head)
    length = _gs1_head(raw, head, gs if gs >= 0 else n, n)
    if length < 0:
        return None
    full = raw[start:n].decode("ascii")
    code = raw[head : head + length].decode("ascii")
    extra: dict[str, Any] = {"marking": MarkingCode(kind=_GS1M, code=code)}
    size = 4 + 4 + length + 5  # 1163 {13xx} and the 2106 the marking check adds
    if mode:
        extra["marking_mode"] = 0
        size += 5
    return size, full, extra


def _code_start(s: bytes, i: int, n: int) -> int:
    """Where the spec's ``_code_data`` makes the ASCII code ``s[i:n]`` start: after an AIM symbology identifier
    (``]d2``, ``]C1``, ``]Q3``), then after any GS (a leading FNC1)."""
    if n - i >= 3 and s[i] == 93:  # "]"
        c = s[i + 1]
        d = s[i + 2]
        if (c == 100 and d == 50) or (c == 67 and d == 49) or (c == 81 and d == 51):  # d2, C1, Q3
            i += 3
    while i < n and s[i] == 29:
        i += 1
    return i


def _gs1_head(s: bytes, i: int, g: int, n: int) -> int:
    """The length of the spec's ``_gs1_product`` of the ASCII code ``s[i:n]`` (``_code_data`` applied already)
    whose first GS is at ``g`` (``n``: none): ``01<GTIN>21<serial>`` up to that GS, its serial's end guessed
    when the code has no GS; -1 when it is not one or is longer than tag 1305 allows."""
    length = g - i
    if length < 19 or s[i] != 48 or s[i + 1] != 49 or s[i + 16] != 50 or s[i + 17] != 49:  # "01", "21"
        return -1
    for j in range(i + 2, i + 16):
        if not 48 <= s[j] <= 57:
            return -1
    if g == n:  # no separators (a scanner that drops them): the serial's usual ends
        if length > 33 and s[i + 31] == 57 and s[i + 32] == 49:  # "91"
            length = 31
        elif length > 27 and s[i + 25] == 57 and s[i + 26] == 51:  # "93"
            length = 25
    return length if length <= _L1305 else -1


def _cp866(s: str) -> bool:
    """True when CP866 holds every character of ``s`` as is (the spec's ``_NEEDS_MAP`` finds nothing).

    ASCII and the Russian alphabet are decided here, one character at a time; a text with anything else is
    asked of the spec's pattern.
    """
    for ch in s:
        c = ord(ch)
        if c >= 0x80 and not (0x410 <= c <= 0x44F or c == 0x401 or c == 0x451):
            return _NEEDS_MAP.search(s) is None
    return True


def _text(value: object, limit: int) -> str | None:
    """A non-empty text within ``limit`` that CP866 holds as is, else None."""
    if type(value) is not str:
        return None
    s: str = value
    if s and len(s) <= limit and _cp866(s):
        return s
    return None


def _text_warned(value: object, limit: int, warnings: list[Any], at: str, index: int, name: str) -> str | None:
    """The spec's text rule for a value :func:`_text` did not take: characters CP866 lacks are substituted and
    reported in ``warnings`` (path ``at[index].name``, or ``at + name`` when ``index`` < 0, built only here);
    None when the value is absent, too long or empty once substituted (the spec decides those)."""
    if type(value) is not str or not value:
        return None
    text, message = _substituted(value)
    if not text or len(text) > limit:
        return None
    if message is not None:
        path = f"{at}[{index}].{name}" if index >= 0 else at + name
        warnings.append(_FieldWarning(path=path, code="cp866_substitution", message=message))
    return text


@functools.lru_cache(maxsize=16384)
def _substituted(s: str) -> tuple[str, str | None]:
    """The spec's CP866 substitution of ``s`` and its warning's text (None: nothing was changed). A catalogue's
    names repeat from receipt to receipt, so each is substituted and described once."""
    text, changes = _substitute(s)
    return text, _describe(changes) if changes else None


@functools.lru_cache(maxsize=16384)
def _email_ok(s: str) -> bool:
    """The spec's e-mail rule on a text of at most 64 characters (a shop's and its buyers' addresses repeat)."""
    return _EMAIL.fullmatch(s) is not None and (s.isascii() or _NEEDS_MAP.search(s) is None)


def _email(value: object) -> str | None:
    if type(value) is not str:
        return None
    s: str = value
    if 0 < len(s) <= 64 and _email_ok(s):
        return s
    return None


# --------------------------------------------------------------------------- the byte reader


def _ws(s: bytes, i: int, n: int) -> int:
    """The first index from ``i`` that is not JSON whitespace."""
    while i < n:
        c = s[i]
        if c != 32 and c != 10 and c != 13 and c != 9:
            break
        i += 1
    return i


def _str_end(s: bytes, i: int, n: int, ascii_only: bool) -> int:
    """The index after the string that opens at ``i``, or -1: an escape, a control character, a byte above
    0x7F when ``ascii_only`` (text that is not decoded is not checked as UTF-8 either), no closing quote."""
    i += 1
    while i < n:
        c = s[i]
        if c == 34:
            return i + 1
        if c == 92 or c < 32 or (c > 127 and ascii_only):
            return -1
        i += 1
    return -1


def _num_end(s: bytes, i: int, n: int) -> int:
    """The index after the JSON number at ``i`` (RFC 8259's grammar), or -1."""
    if i < n and s[i] == 45:  # "-"
        i += 1
    if i >= n:
        return -1
    c = s[i]
    if c == 48:
        i += 1
    elif 49 <= c <= 57:
        while i < n and 48 <= s[i] <= 57:
            i += 1
    else:
        return -1
    if i < n and s[i] == 46:  # "."
        i += 1
        if i >= n or not 48 <= s[i] <= 57:
            return -1
        while i < n and 48 <= s[i] <= 57:
            i += 1
    if i < n and (s[i] == 101 or s[i] == 69):  # "e", "E"
        i += 1
        if i < n and (s[i] == 43 or s[i] == 45):
            i += 1
        if i >= n or not 48 <= s[i] <= 57:
            return -1
        while i < n and 48 <= s[i] <= 57:
            i += 1
    return i


def _same(s: bytes, i: int, n: int, word: bytes) -> bool:
    """``s[i:n] == word``, without a slice."""
    m = len(word)
    if n - i != m:
        return False
    for j in range(m):  # noqa: SIM110 - a loop the compiled copy runs in C; all() would not
        if s[i + j] != word[j]:
            return False
    return True


def _lookup(s: bytes, i: int, e: int, table: dict[int, tuple[tuple[bytes, int], ...]]) -> int:
    """The code of the key ``s[i:e]`` in ``table`` (see :func:`_keys`), or -1 for a key it does not have."""
    if e <= i:
        return -1
    found = table.get(((e - i) * 256 + s[i]) * 256 + s[e - 1])
    if found is None:
        return -1
    for word, code in found:
        if _same(s, i, e, word):
            return code
    return -1


def _item_key(s: bytes, i: int, e: int) -> int:
    """:func:`_lookup` in _ITEM_KEYS, with the keys an item of every receipt has compared in place first (the
    hot loop of a bulk request: no int to make, no table to probe)."""
    m = e - i
    if m > 0:
        c = s[i]
        if c == 110:  # n
            if m == 4 and _same(s, i, e, b"name"):
                return 0
        elif c == 112:  # p
            if m == 5 and _same(s, i, e, b"price"):
                return 1
            if m == 14 and _same(s, i, e, b"payment_method"):
                return 5
            if m == 14 and _same(s, i, e, b"payment_object"):
                return 6
        elif c == 113:  # q
            if m == 8 and _same(s, i, e, b"quantity"):
                return 2
        elif c == 115:  # s
            if m == 3 and _same(s, i, e, b"sum"):
                return 3
        elif c == 118:  # v
            if m == 3 and _same(s, i, e, b"vat"):
                return 4
        elif c == 109:  # m
            if m == 7 and _same(s, i, e, b"measure"):
                return 7
            if m == 16 and _same(s, i, e, b"measurement_unit"):
                return 9
    return _lookup(s, i, e, _ITEM_KEYS)


def _lit_end(s: bytes, i: int, n: int) -> int:
    """The index after ``true``, ``false`` or ``null`` at ``i``, or -1."""
    if i >= n:
        return -1
    c = s[i]
    m = 4 if c == 116 or c == 110 else 5 if c == 102 else 0
    if m == 0 or i + m > n:
        return -1
    if _same(s, i, i + m, b"true" if c == 116 else b"null" if c == 110 else b"false"):
        return i + m
    return -1


def _scalar_end(s: bytes, i: int, n: int) -> int:
    """The index after the string, number or literal at ``i``; -1 for anything else (an object, an array)."""
    if i >= n:
        return -1
    c = s[i]
    if c == 34:
        return _str_end(s, i, n, False)
    if c == 45 or 48 <= c <= 57:
        return _num_end(s, i, n)
    return _lit_end(s, i, n)


def _scalar(s: bytes, i: int, e: int) -> Any:
    """The value of the token ``s[i:e]`` (see :func:`_scalar_end`) as the fast path's decoder gives it: a str,
    an int, the bytes of a number with a fraction or exponent, True, False or None. Raises UnicodeDecodeError
    (text that is not UTF-8) and OverflowError (an int of more than 18 digits): :func:`scan` declines both."""
    c = s[i]
    if c == 34:
        return s[i + 1 : e - 1].decode("utf-8")
    if c == 116:
        return True
    if c == 102:
        return False
    if c == 110:
        return None
    for j in range(i, e):
        c = s[j]
        if c == 46 or c == 101 or c == 69:
            return s[i:e]
    negative = s[i] == 45
    j = i + 1 if negative else i
    if e - j > 18:
        raise OverflowError("an int the reader leaves to the decoder")
    v = 0
    while j < e:
        v = v * 10 + (s[j] - 48)
        j += 1
    return -v if negative else v


#: Short texts of an item that repeat from item to item and receipt to receipt (payment method and object, VAT
#: type, unit): each is decoded once and then served from here by the hash of its bytes, as the same str object,
#: its hash already computed for the table lookups that follow. Direct-mapped: a slot keeps the last text that
#: hashed to it, so the table never grows and a text that does not repeat costs one slot write.
_SHORT_TEXT = 24
_TEXT_SLOTS = 1024
_texts: list[Any] = [None] * _TEXT_SLOTS


def _short_text(s: bytes, i: int, e: int) -> str:
    """``s[i:e].decode("utf-8")`` (the bytes inside a string token), the same str object each time for a short
    text seen before (see _texts). Raises UnicodeDecodeError as the decode does."""
    if e - i > _SHORT_TEXT:
        return s[i:e].decode("utf-8")
    h = e - i
    for j in range(i, e):
        h = (h * 31 + s[j]) & 0xFFFFFF
    h &= _TEXT_SLOTS - 1
    slot = _texts[h]
    if slot is not None:
        word = slot[0]
        if len(word) == e - i and _same_text(s, i, word, e - i):
            found: str = slot[1]
            return found
    text = s[i:e].decode("utf-8")
    _texts[h] = (s[i:e], text)
    return text


def _same_text(s: bytes, i: int, word: bytes, m: int) -> bool:
    """``s[i:i + m] == word`` for a ``word`` of ``m`` bytes (any bytes: unlike :func:`_same`'s, compared unsigned)."""
    for j in range(m):  # noqa: SIM110 - a loop the compiled copy runs in C
        if s[i + j] != word[j]:
            return False
    return True


def _short_scalar(s: bytes, i: int, e: int) -> Any:
    """:func:`_scalar`, a string through :func:`_short_text`: for the item fields whose values repeat."""
    if s[i] == 34:
        return _short_text(s, i + 1, e - 1)
    return _scalar(s, i, e)


def _amount(s: bytes, i: int, e: int, decimals: int) -> int:
    """:func:`_kopecks` (``decimals`` 2) or :func:`_thousandths` (3) of the token ``s[i:e]``, read in place; -3
    for a string with bytes above 0x7F (not decoded here, so not checked as UTF-8: :func:`scan` declines it)."""
    c = s[i]
    if c == 34:
        for j in range(i + 1, e - 1):
            if s[j] > 127:
                return -3
        v = _digits(s, i + 1, e - 1, decimals, _MAX_RUB_WHOLE if decimals == 2 else 99_999)
    elif c == 45 or 48 <= c <= 57:
        for j in range(i, e):
            c = s[j]
            if c == 46 or c == 101 or c == 69:
                v = _digits(s, i, e, decimals, _MAX_RUB_WHOLE if decimals == 2 else 99_999)
                break
        else:  # an int: roubles or pieces ("-0" is 0, as the decoder reads it)
            negative = s[i] == 45
            j = i + 1 if negative else i
            if e - j > 9:
                return -1
            w = 0
            while j < e:
                w = w * 10 + (s[j] - 48)
                j += 1
            if negative and w != 0:
                return -1
            if decimals == 2:
                return w * 100 if w <= _MAX_RUB_WHOLE else -1
            return w * 1000 if 0 < w <= 99_999 else -1
    else:
        return -1
    if decimals == 2:
        return v if v <= _MAX_KOPECKS else -1
    return v if 0 < v <= _MAX_THOUSANDTHS else -1


def _skip(s: bytes, i: int, n: int, depth: int) -> int:
    """The index after the JSON value at ``i``, checked as the decoder would (strings ASCII only), or -1."""
    if i >= n:
        return -1
    c = s[i]
    if c == 34:
        return _str_end(s, i, n, True)
    if c != 123 and c != 91:
        return _scalar_end(s, i, n)
    if depth >= _MAX_DEPTH:
        return -1
    close = 125 if c == 123 else 93
    i = _ws(s, i + 1, n)
    if i < n and s[i] == close:
        return i + 1
    while True:
        if c == 123:
            if i >= n or s[i] != 34:
                return -1
            e = _str_end(s, i, n, True)
            if e < 0:
                return -1
            i = _ws(s, e, n)
            if i >= n or s[i] != 58:  # ":"
                return -1
            i = _ws(s, i + 1, n)
        i = _skip(s, i, n, depth + 1)
        if i < 0:
            return -1
        i = _ws(s, i, n)
        if i >= n:
            return -1
        if s[i] == close:
            return i + 1
        if s[i] != 44:  # ","
            return -1
        i = _ws(s, i + 1, n)


def _flat(s: bytes, i: int, n: int, keys: dict[int, Any], names: tuple[str, ...], out: dict[str, Any]) -> int:
    """The object at ``i`` into ``out``: the scalar of each key of ``keys`` (under its name in ``names``),
    nothing of a _NULL key (which must be null), nothing of any other key (skipped). The index after it, or -1:
    a key twice, a container where a scalar is read, a _NULL key not null."""
    seen = 0
    i = _ws(s, i + 1, n)
    if i < n and s[i] == 125:
        return i + 1
    while True:
        if i >= n or s[i] != 34:
            return -1
        e = _str_end(s, i, n, True)
        if e < 0:
            return -1
        k = _lookup(s, i + 1, e - 1, keys)
        i = _ws(s, e, n)
        if i >= n or s[i] != 58:
            return -1
        i = _ws(s, i + 1, n)
        if k == _NULL:
            e = _lit_end(s, i, n)
            if not _same(s, i, e, b"null"):
                return -1
            i = e
        elif k >= 0:
            if seen & (1 << k):
                return -1
            seen |= 1 << k
            e = _scalar_end(s, i, n)
            if e < 0:
                return -1
            out[names[k]] = _scalar(s, i, e)
            i = e
        else:
            i = _skip(s, i, n, 1)
            if i < 0:
                return -1
        i = _ws(s, i, n)
        if i >= n:
            return -1
        if s[i] == 125:
            return i + 1
        if s[i] != 44:
            return -1
        i = _ws(s, i + 1, n)


def _flat_list(s: bytes, i: int, n: int, keys: dict[int, Any], names: tuple[str, ...], out: list[Any]) -> int:
    """The array of objects at ``i`` (``vats``, ``payments``), each read by :func:`_flat` into a dict of ``out``;
    the index after it, or -1 (an element that is not an object among them)."""
    i = _ws(s, i + 1, n)
    if i < n and s[i] == 93:
        return i + 1
    while True:
        if i >= n or s[i] != 123 or len(out) > 10:
            return -1
        d: dict[str, Any] = {}
        i = _flat(s, i, n, keys, names, d)
        if i < 0:
            return -1
        out.append(d)
        i = _ws(s, i, n)
        if i >= n:
            return -1
        if s[i] == 93:
            return i + 1
        if s[i] != 44:
            return -1
        i = _ws(s, i + 1, n)


def _vat(s: bytes, i: int, n: int, out: list[Any]) -> int:
    """An item's ``vat`` object at ``i`` as ``(type, sum in kopecks, or -2 when absent or null)`` appended to
    ``out``; the index after it, or -1 (a key twice, a container where a scalar is read)."""
    seen = 0
    kind: Any = None
    given = -2
    i = _ws(s, i + 1, n)
    if i < n and s[i] == 125:
        out.append((kind, given))
        return i + 1
    while True:
        if i >= n or s[i] != 34:
            return -1
        e = _str_end(s, i, n, True)
        if e < 0:
            return -1
        k = 0 if _same(s, i + 1, e - 1, b"type") else 1 if _same(s, i + 1, e - 1, b"sum") else -1
        i = _ws(s, e, n)
        if i >= n or s[i] != 58:
            return -1
        i = _ws(s, i + 1, n)
        if k >= 0:
            if seen & (1 << k):
                return -1
            seen |= 1 << k
            e = _scalar_end(s, i, n)
            if e < 0:
                return -1
            if k == 0:
                kind = _short_scalar(s, i, e)
            elif not _same(s, i, e, b"null"):
                given = _amount(s, i, e, 2)
                if given == -3:
                    return -1
            i = e
        else:
            i = _skip(s, i, n, 3)
            if i < 0:
                return -1
        i = _ws(s, i, n)
        if i >= n:
            return -1
        if s[i] == 125:
            out.append((kind, given))
            return i + 1
        if s[i] != 44:
            return -1
        i = _ws(s, i + 1, n)


def _item(s: bytes, i: int, n: int, rows: list[Any], vats: list[Any]) -> int:
    """The item object at ``i`` as a row of ``rows`` (see _ITEM_NAMES); the index after it, or -1: a key twice,
    a container where a scalar is read, a marking or another field the dict path leaves to the spec not null.
    ``vats`` is scratch space for :func:`_vat`."""
    seen = 0
    name: Any = None
    price = -1
    q = -1
    amount = -1
    vat: Any = None
    method: Any = None
    subject: Any = None
    measure: Any = None
    wholesale: Any = None
    unit: Any = None
    nomenclature: Any = None
    mark: Any = None
    mode: Any = None
    status: Any = None
    i = _ws(s, i + 1, n)
    if i < n and s[i] == 125:
        i += 1
    else:
        while True:
            if i >= n or s[i] != 34:
                return -1
            e = _str_end(s, i, n, True)
            if e < 0:
                return -1
            k = _item_key(s, i + 1, e - 1)
            i = _ws(s, e, n)
            if i >= n or s[i] != 58:
                return -1
            i = _ws(s, i + 1, n)
            if k == _NULL:
                e = _lit_end(s, i, n)
                if not _same(s, i, e, b"null"):
                    return -1
                i = e
            elif k >= 0:
                if seen & (1 << k):
                    return -1
                seen |= 1 << k
                if k == 4:  # vat: an object (type, sum) or null
                    if i < n and s[i] == 123:
                        i = _vat(s, i, n, vats)
                        if i < 0:
                            return -1
                        vat = vats.pop()
                    else:
                        e = _lit_end(s, i, n)
                        if not _same(s, i, e, b"null"):
                            return -1
                        i = e
                elif k == 11 and i < n and s[i] == 123:  # mark_code: its known fields, for the spec's _marking
                    mark = {}
                    i = _flat(s, i, n, _MARK_KEYS, _MARK_FIELDS, mark)
                    if i < 0:
                        return -1
                else:
                    e = _scalar_end(s, i, n)
                    if e < 0:
                        return -1
                    if k == 1:
                        price = _amount(s, i, e, 2)
                        if price == -3:
                            return -1
                    elif k == 2:
                        q = _amount(s, i, e, 3)
                        if q == -3:
                            return -1
                    elif k == 3:
                        amount = _amount(s, i, e, 2)
                        if amount == -3:
                            return -1
                    elif k == 0:
                        name = _scalar(s, i, e)
                    elif k == 5:
                        method = _short_scalar(s, i, e)
                    elif k == 6:
                        subject = _short_scalar(s, i, e)
                    elif k == 7:
                        measure = _scalar(s, i, e)
                    elif k == 8:
                        wholesale = _scalar(s, i, e)
                    elif k == 9:
                        unit = _short_scalar(s, i, e)
                    elif k == 10:
                        nomenclature = _scalar(s, i, e)
                    elif k == 11:
                        mark = _scalar(s, i, e)
                    elif k == 12:
                        mode = _scalar(s, i, e)
                    else:
                        status = _scalar(s, i, e)
                    i = e
            else:
                i = _skip(s, i, n, 2)
                if i < 0:
                    return -1
            i = _ws(s, i, n)
            if i >= n:
                return -1
            if s[i] == 125:
                i += 1
                break
            if s[i] != 44:
                return -1
            i = _ws(s, i + 1, n)
    rows.append(
        (name, price, q, amount, vat, method, subject, measure, wholesale, unit, nomenclature, mark, mode, status)
    )
    return i


def _body(s: bytes, i: int, n: int, body: dict[str, Any]) -> int:
    """The ``receipt`` object at ``i`` into ``body`` (``items`` as rows); the index after it, or -1."""
    seen = 0
    i = _ws(s, i + 1, n)
    if i < n and s[i] == 125:
        return i + 1
    while True:
        if i >= n or s[i] != 34:
            return -1
        e = _str_end(s, i, n, True)
        if e < 0:
            return -1
        k = _lookup(s, i + 1, e - 1, _BODY_KEYS)
        i = _ws(s, e, n)
        if i >= n or s[i] != 58:
            return -1
        i = _ws(s, i + 1, n)
        if k == _NULL:
            e = _lit_end(s, i, n)
            if not _same(s, i, e, b"null"):
                return -1
            i = e
        elif k >= 0:
            if seen & (1 << k):
                return -1
            seen |= 1 << k
            if k <= 4 and i < n and s[i] == 110:  # a container field given as null
                e = _lit_end(s, i, n)
                if not _same(s, i, e, b"null") or k == 2:
                    return -1
                body[_BODY_NAMES[k]] = None
                i = e
            elif k == 0 or k == 1:  # company, client
                if i >= n or s[i] != 123:
                    return -1
                d: dict[str, Any] = {}
                if k == 0:
                    i = _flat(s, i, n, _COMPANY_KEYS, _COMPANY_NAMES, d)
                else:
                    i = _flat(s, i, n, _CLIENT_KEYS, _CLIENT_NAMES, d)
                body[_BODY_NAMES[k]] = d
            elif k == 2:  # items
                if i >= n or s[i] != 91:
                    return -1
                rows: list[Any] = []
                scratch: list[Any] = []
                i = _ws(s, i + 1, n)
                if i < n and s[i] == 93:
                    i += 1
                else:
                    while True:
                        if i >= n or s[i] != 123 or len(rows) >= 100:
                            return -1
                        i = _item(s, i, n, rows, scratch)
                        if i < 0:
                            return -1
                        i = _ws(s, i, n)
                        if i >= n:
                            return -1
                        if s[i] == 93:
                            i += 1
                            break
                        if s[i] != 44:
                            return -1
                        i = _ws(s, i + 1, n)
                body["items"] = rows
            elif k == 3 or k == 4:  # payments, vats
                if i >= n or s[i] != 91:
                    return -1
                entries: list[Any] = []
                i = _flat_list(s, i, n, _TYPE_SUM_KEYS, _TYPE_SUM_NAMES, entries)
                body[_BODY_NAMES[k]] = entries
            else:  # total, cashier, internet
                e = _scalar_end(s, i, n)
                if e < 0:
                    return -1
                body[_BODY_NAMES[k]] = _scalar(s, i, e)
                i = e
            if i < 0:
                return -1
        else:
            i = _skip(s, i, n, 1)
            if i < 0:
                return -1
        i = _ws(s, i, n)
        if i >= n:
            return -1
        if s[i] == 125:
            return i + 1
        if s[i] != 44:
            return -1
        i = _ws(s, i + 1, n)


def _top(s: bytes, i: int, n: int, top: dict[str, Any]) -> int:
    """The request object at ``i`` into ``top``; the index after it, or -1."""
    seen = 0
    i = _ws(s, i + 1, n)
    if i < n and s[i] == 125:
        return i + 1
    while True:
        if i >= n or s[i] != 34:
            return -1
        e = _str_end(s, i, n, True)
        if e < 0:
            return -1
        k = _lookup(s, i + 1, e - 1, _TOP_KEYS)
        i = _ws(s, e, n)
        if i >= n or s[i] != 58:
            return -1
        i = _ws(s, i + 1, n)
        if k >= 0:
            if seen & (1 << k):
                return -1
            seen |= 1 << k
            if k == 0 and i < n and s[i] == 123:  # service
                d: dict[str, Any] = {}
                i = _flat(s, i, n, _SERVICE_KEYS, _SERVICE_NAMES, d)
                top["service"] = d
            elif k == 1:  # receipt
                if i >= n or s[i] != 123:
                    return -1
                body: dict[str, Any] = {}
                i = _body(s, i, n, body)
                top["receipt"] = body
            else:
                e = _scalar_end(s, i, n)
                if e < 0:
                    return -1
                top[_TOP_NAMES[k]] = _scalar(s, i, e)
                i = e
            if i < 0:
                return -1
        else:
            i = _skip(s, i, n, 1)
            if i < 0:
                return -1
        i = _ws(s, i, n)
        if i >= n:
            return -1
        if s[i] == 125:
            return i + 1
        if s[i] != 44:
            return -1
        i = _ws(s, i + 1, n)


def scan(raw: bytes) -> Any:
    """The request read straight from its bytes, as :func:`decode` and the dict path would read it: the same
    dict tree for the envelope, with ``receipt.items`` a list of rows (see _ITEM_NAMES) for
    ``validate_decoded(..., scanned=True)``. None for a body it leaves to :func:`decode`: escapes and
    non-ASCII text outside the values it reads, a key twice, a field the dict path leaves to the spec, anything
    that is not JSON. What it reads, it reads exactly as the decoder does."""
    n = len(raw)
    i = 3 if raw[:3] == _BOM else 0
    i = _ws(raw, i, n)
    if i >= n or raw[i] != 123:
        return None
    top: dict[str, Any] = {}
    try:
        i = _top(raw, i, n, top)
    except (UnicodeDecodeError, OverflowError, IndexError):  # IndexError: a bug's bounds check, never a guess
        return None
    if i < 0 or _ws(raw, i, n) != n:
        return None
    return top


def decode(raw: bytes | memoryview) -> Any:
    """The body as the fast path reads it (a UTF-8 byte order mark skipped), or None when it is not JSON."""
    data = raw
    if data[:3] == _BOM:
        data = data[3:]
    try:
        return _DECODER.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None


def validate_fast(
    raw: bytes,
    version: int,
    operation: str,
    group_inn: str | None,
    group_ffd: str,
    group_sno: int | None,
    path_prefix: str = "",
) -> Any:
    """The spec's :class:`Validated` for a common receipt, or None when the spec must decide (see the rules).

    ``path_prefix`` starts the paths of warnings, as the spec's argument of that name does.
    """
    if (version, operation) not in _OPS or _TOP_FFD.get(version) != group_ffd:
        return None
    return validate_decoded(decode(raw), version, operation, group_inn, group_ffd, group_sno, path_prefix)


def validate_decoded(
    obj: Any,
    version: int,
    operation: str,
    group_inn: str | None,
    group_ffd: str,
    group_sno: int | None,
    path_prefix: str = "",
    scanned: bool = False,
) -> Any:
    """:func:`validate_fast` on a body :func:`decode` returned (the bulk API reads its head from it first), or
    on what :func:`scan` returned (``scanned``: its items are rows)."""
    found = _OPS.get((version, operation))
    if found is None or _TOP_FFD.get(version) != group_ffd:
        return None
    op = found
    v5 = version == 5
    # Each container is checked before it is bound to its name: the compiled copy types those names as dict.
    if type(obj) is not dict:
        return None
    req = obj  # the fast path reads every field of the receipt requests' envelope

    # --- the envelope
    external_id = req.get("external_id")
    if type(external_id) is not str or not 0 < len(external_id) <= 128:
        return None
    stamp = req.get("timestamp")
    if type(stamp) is not str or len(stamp) != 19:
        return None
    try:
        timestamp = _parse_timestamp(stamp)
    except ValueError:
        return None
    callback = None
    warnings: list[Any] = []
    service = req.get("service")
    if service is not None:
        if type(service) is not dict:
            return None
        url = service.get("callback_url")
        if url is not None:
            if type(url) is not str:
                return None
            if url:
                if len(url) <= 256 and _callback_ok(url):
                    callback = url
                else:  # not an error: the request goes through without a callback
                    message = "callback_url не соответствует маске"
                    path = path_prefix + "service.callback_url"
                    warnings.append(_FieldWarning(path=path, code="callback_url", message=message))
    ism = False
    if v5:
        flag = req.get("ism_optional")
        if flag is not None:
            if type(flag) is not bool:
                return None
            ism = flag
        source = req.get("source_id")
        if source is not None and (type(source) is not int or not 0 <= source < 1 << 62):
            return None

    body = _child(req, "receipt")
    if body is None or not _plain(body, _BODY_HANDLED, _BODY_OTHER):
        return None

    # --- company
    company = _child(body, "company")  # the fast path reads every field of the spec's Company
    if company is None:
        return None
    inn = company.get("inn")
    if type(inn) is not str:
        return None
    inn = inn.strip()
    if not (len(inn) in (10, 12) and inn.isascii() and inn.isdigit() and _inn_ok(inn)):
        return None
    if group_inn is not None and inn != group_inn.strip():
        return None
    b = path_prefix + "receipt."
    place = _text(company.get("payment_address"), 256)
    if place is None:
        place = _text_warned(company.get("payment_address"), 256, warnings, b + "company.", -1, "payment_address")
        if place is None:
            return None
    location = company.get("location")
    address = None
    if location is not None and location != "":
        address = _text(location, 256)
        if address is None:
            address = _text_warned(location, 256, warnings, b + "company.", -1, "location")
            if address is None:
                return None
    sender = _email(company.get("email"))
    if sender is None:
        return None
    sno = company.get("sno")
    if sno is None or sno == "":
        if group_sno is None or group_sno <= 0 or group_sno & (group_sno - 1):
            return None
        tax = TaxSystem(group_sno)
    else:
        if type(sno) is not str:
            return None
        known = _SNO.get(sno)
        if known is None:
            return None
        tax, tax_bit = known
        if group_sno is not None and not group_sno & tax_bit:
            return None

    # --- client: an e-mail or a phone, nothing else
    client = _child(body, "client")
    if client is None or not _plain(client, _CLIENT_HANDLED, _CLIENT_OTHER):
        return None
    email = client.get("email")
    phone = client.get("phone")
    contact = None
    if email is not None and email != "":
        contact = _email(email)
        if contact is None:
            return None
    if phone is not None and phone != "":
        if type(phone) is not str:
            return None
        normal = _phone(phone)
        if normal is None or len(normal) > 64:
            return None
        if contact is None:
            contact = normal
    if contact is None:
        return None

    # --- receipt-level VAT
    vats = body.get("vats")
    rates: list[tuple[Any, int, bool]] = []
    codes: list[int] = []
    claimed_vat: list[int] = []
    default_rate = None
    if vats is not None:
        if type(vats) is not list or not 1 <= len(vats) <= 6:
            return None
        for obj in vats:
            if type(obj) is not dict:
                return None
            entry = obj
            kind = entry.get("type")
            if type(kind) is not str:
                return None
            found_rate = _VAT.get(kind)
            if found_rate is None or found_rate[1] in codes:
                return None
            given = entry.get("sum")
            k = -2  # absent
            if given is not None:
                k = _kopecks(given)
                if k < 0:
                    return None
            rates.append(found_rate)
            codes.append(found_rate[1])
            claimed_vat.append(k)
        if len(rates) == 1:
            default_rate = rates[0]

    # --- items: dicts from the decoder, or the rows of :func:`scan` (see _ITEM_NAMES)
    items_in = body.get("items")
    if type(items_in) is not list or not 1 <= len(items_in) <= 100:
        return None
    size = _RESERVE
    total = 0
    items: list[Item] = []
    turnover: dict[int, int] = {}
    counts: dict[int, int] = {}  #: items per rate code, for document_sums
    marks: list[tuple[int, str]] = []
    handled = _ITEM_HANDLED_V5 if v5 else _ITEM_HANDLED_V4
    other = _ITEM_OTHER_V5 if v5 else _ITEM_OTHER_V4
    if not scanned:
        # Items of a shape the fast path does not take (a marked good, agent data) are found before any work on
        # the others: declining late in a 100-item receipt would double its cost.
        for obj in items_in:
            if type(obj) is not dict:
                return None
            it = obj
            if not _plain(it, handled, other):
                return None
    for position in range(len(items_in)):
        # The values the checks below read: from the item's dict, or from its row (scan() converted the
        # amounts already and declined the shapes the dict path would refuse with _plain or leave to _marking).
        mark_in = mode_in = status_in = None
        if scanned:
            item_row = items_in[position]
            (name_in, price, q, amount, vat_in, method_in, subject_in, measure_in, wholesale, unit_in, nomenclature,
             mark_in, mode_in, status_in) = item_row  # fmt: skip
            vat_given = -2
            if vat_in is not None:
                vat_kind, vat_given = vat_in
            if v5:
                if unit_in is not None or nomenclature is not None:
                    return None  # fields of the spec's v4 item only: _plain's rule for v5
            elif measure_in is not None or mark_in is not None or mode_in is not None or status_in is not None:
                return None  # fields of the spec's v5 item only: _plain's rule for v4
        else:
            it = items_in[position]
            name_in = it.get("name")
            price = _kopecks(it.get("price"))
            q = _thousandths(it.get("quantity"))
            amount = _kopecks(it.get("sum"))
            vat_in = it.get("vat")
            vat_given = -2
            if vat_in is not None:
                if type(vat_in) is not dict:
                    return None
                vat = vat_in
                vat_kind = vat.get("type")
                given = vat.get("sum")
                if given is not None:
                    vat_given = _kopecks(given)
            method_in = it.get("payment_method")
            subject_in = it.get("payment_object")
            if v5:
                measure_in = it.get("measure")
                wholesale = it.get("wholesale")
                mark_in = it.get("mark_code")
                mode_in = it.get("mark_processing_mode")
                status_in = it.get("planned_status")
            else:
                unit_in = it.get("measurement_unit")
                nomenclature = it.get("nomenclature_code")
        name = _text(name_in, _L1030)
        if name is None:
            name = _text_warned(name_in, _L1030, warnings, b + "items", position, "name")
            if name is None:
                return None
        if price < 0 or q < 0 or amount < 0:
            return None
        # price × quantity rounded half up to the kopeck: the spec's _item_sum on q/1000
        expected = price * (q // 1000) if q % 1000 == 0 else (2 * price * q + 1000) // 2000
        if expected != amount:
            return None
        vat_sum = -1
        if vat_in is None:
            if default_rate is None:
                return None
            rate, code, taxed = default_rate
        else:
            if type(vat_kind) is not str:
                return None
            found_rate = _VAT.get(vat_kind)
            if found_rate is None:
                return None
            rate, code, taxed = found_rate
            if vat_given != -2:  # -2: no sum (absent or null)
                vat_sum = vat_given
                if vat_sum < 0 or vat_sum > amount or (vat_sum and not taxed):
                    return None
        item_size = _ITEM_FIXED + len(name)
        unit = None
        measure = None
        extra = None
        if v5:
            if type(method_in) is not str or type(subject_in) is not int:
                return None
            method = _METHODS.get(method_in)
            subject = _SUBJECTS_V5.get(subject_in)
            if type(measure_in) is not int:
                return None
            measure = _MEASURES.get(measure_in)
            if method is None or subject is None or measure is None:
                return None
            if wholesale is not None and type(wholesale) is not bool:
                return None
            if mark_in is not None or mode_in is not None or status_in is not None:
                quantity = q // 1000 if q % 1000 == 0 else _quantity(q)
                marked = _marking(mark_in, mode_in, status_in, quantity)
                if marked is None:
                    return None
                more, full, extra = marked
                item_size += more
                if full is not None:
                    marks.append((position, full))
        else:
            if method_in is None:
                method = _V4_METHOD
            elif type(method_in) is str:
                method = _METHODS.get(method_in)
            else:
                return None
            if subject_in is None:
                subject = _V4_SUBJECT
            elif type(subject_in) is str:
                subject = _SUBJECTS_V4.get(subject_in)
            else:
                return None
            if method is None or subject is None:
                return None
            if unit_in is not None and unit_in != "":
                unit = _text(unit_in, _L1197)
                if unit is None:
                    unit = _text_warned(unit_in, _L1197, warnings, b + "items", position, "measurement_unit")
                    if unit is None:
                        return None
                item_size += 4 + len(unit)
            if nomenclature is not None and nomenclature != "":
                return None
        if item_size > _MAX_ITEM:
            return None
        size += 4 + item_size
        quantity = q // 1000 if q % 1000 == 0 else _quantity(q)
        if vat_sum >= 0:
            if extra is None:
                extra = {}
            extra["vat_sum"] = vat_sum
        if extra is None:  # the common item: no keyword dict to build
            item = Item(
                name=name,
                price=price,
                quantity=quantity,
                sum=amount,
                vat=rate,
                subject=subject,
                method=method,
                measure=measure,
                unit_name=unit,
            )
        else:  # a marked good, a VAT sum: by name, as a keyword dict costs twice; any rarer field added after
            item = Item(
                name=name,
                price=price,
                quantity=quantity,
                sum=amount,
                vat=rate,
                vat_sum=extra.pop("vat_sum", None),
                subject=subject,
                method=method,
                measure=measure,
                unit_name=unit,
                marking=extra.pop("marking", None),
                marking_mode=extra.pop("marking_mode", None),
            )
            if extra:  # the general marking path's fraction, industry props, planned status
                item = msgspec.structs.replace(item, **extra)
        items.append(item)
        total += amount
        turnover[code] = turnover.get(code, 0) + amount
        counts[code] = counts.get(code, 0) + 1
    if total > _MAX_KOPECKS:
        return None
    claimed = _kopecks(body.get("total"))
    if claimed != total:
        if claimed < 0 or abs(claimed - total) > _TOTAL_TOLERANCE:
            return None  # the spec's error
        message = f"total {_rub(claimed)} ≠ сумме позиций {_rub(total)}: в чек записана сумма позиций"
        warnings.append(_FieldWarning(path=b + "total", code="total_rounded", message=message))

    # --- payments: kinds 0-4 cover the total; change only from cash
    pays = body.get("payments")
    if type(pays) is not list or not 1 <= len(pays) <= 10:
        return None
    sums = [0, 0, 0, 0, 0]
    for obj in pays:
        if type(obj) is not dict:
            return None
        p = obj
        kind = p.get("type")
        if type(kind) is not int or not 0 <= kind <= 4:
            return None
        paid_k = _kopecks(p.get("sum"))
        if paid_k < 0:
            return None
        sums[kind] += paid_k
    paid = sums[0] + sums[1] + sums[2] + sums[3] + sums[4]
    if paid < total or paid - total > sums[0]:
        return None

    # document_sums (ffd.receipt) from the sums at hand: per rate code [turnover, VAT, items], in item order.
    by_rate: dict[int, list[int]] = {}
    for code, amount in turnover.items():
        by_rate[code] = [amount, 0, counts[code]]
    vat_sums = None
    if rates:
        out = []
        for j in range(len(rates)):
            rate, code, taxed = rates[j]
            k = claimed_vat[j]
            if not taxed:
                t = turnover.get(code, 0)
                if k not in (-2, 0, t):
                    return None
                k = t
            elif k == -2:
                num, base = _SHARES[code]
                k = _vat_in(turnover.get(code, 0), num, base)
            elif k > total:
                return None
            out.append(VatSum(rate=rate, amount=k))
            row = by_rate.get(code)
            if row is None:
                by_rate[code] = [0, k, 0]
            else:
                row[1] = k
        vat_sums = tuple(out)
    else:
        for code, row in by_rate.items():
            share = _SHARES.get(code)
            if share is not None:
                num, base = share
                row[1] = _vat_in(row[0], num, base)
    doc_sums = [sums[0], sums[1]]
    for code, row in by_rate.items():
        doc_sums += (code, row[0], row[1], row[2])

    cashier = None
    cashier_in = body.get("cashier")
    if cashier_in is not None and cashier_in != "":
        cashier = _text(cashier_in, _L1021)
        if cashier is None:
            cashier = _text_warned(cashier_in, _L1021, warnings, b, -1, "cashier")
            if cashier is None:
                return None
    internet = body.get("internet")
    if internet is not None and type(internet) is not bool:
        return None
    if size > _MAX_DOCUMENT:
        return None

    doc = Receipt(
        settlement_sign=op.settlement_sign,
        tax_system=tax,
        items=tuple(items),
        payments=Payments(cash=sums[0], electronic=sums[1], prepaid=sums[2], credit=sums[3], provision=sums[4]),
        total=total,
        vats=vat_sums,
        client_contact=contact,
        cashier=cashier,
        sender_email=sender,
        settlement_address=address,
        settlement_place=place,
        internet=internet is True,
    )
    packed = _PACK.encode(doc)
    return _Validated(
        external_id=external_id,
        timestamp=timestamp,
        callback_url=callback,
        operation=operation,
        version=version,
        document=doc,
        warnings=tuple(warnings),
        packed=packed,
        timestamp_text=stamp,
        ism_optional=ism,
        mark_codes=tuple(marks),
        sums=tuple(doc_sums),
    )
