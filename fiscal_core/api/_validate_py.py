"""Validation and normalisation of ATOL v4/v5 requests into the FFD receipt the drive signs (issue 5 items 2–3).

``validate(raw, version=, operation=, group_inn=, group_ffd=)`` takes the JSON body (bytes) or an already decoded
request Struct (the bulk API) and returns :class:`Validated`, or raises :class:`RequestInvalid` listing every
issue it found, each with an ATOL-style path (``receipt.items[3].vat.type``), a stable code and a message, plus
the ATOL error code to answer with. No other exception escapes for any input bytes.

Rules (cloud-api.md §1.5, §1.6, §1.10, §1.13; ffd.md)
- Order: the operation (ATOL 31 when unknown or not in that API version), the protocol (21: v4 serves FFD 1.05
  groups, v5 FFD 1.2 groups), the body (40 malformed JSON, 41 not UTF-8, 13 not a JSON object, 32 wrong shape),
  then the fields (32). Shape errors come from msgspec's typed decode and stop at the first; field checks
  collect every issue, in document order.
- Money (price, sum, total, payments, vats, excise, cashless sums) is a JSON number in roubles, decoded as an
  exact Decimal and turned into integer kopecks with integer arithmetic. More than two *significant* decimals
  is an error (``1.230`` is fine, ``1.235`` is not); the range is 0 .. 42 949 672.95.
- Quantity: 0 < q ≤ 99 999.999, at most three significant decimals; an int when whole, else a Decimal without
  trailing zeros (the FVLN scale). ``sum`` must equal ``price × quantity`` rounded half up to the kopeck.
- ``total``: ATOL lets the CMS round it (§1.5: "may be rounded by ≤ 0.99 ₽; the KKT computes the actual sum
  from the items"). So a total within 99 kopecks of Σ item sums is accepted, the document carries Σ item sums
  (1020) and a ``total_rounded`` warning says so; a bigger difference is ``total_mismatch``. Payments must cover
  the document total; an overpayment is change and can only come from cash.
- VAT: every ATOL type, the 2025–2026 ones included, in both versions; ``vat18``/``vat118`` are refused with a
  pointer to vat20/vat120 (vat22/vat122 from 2026). An item without ``vat`` takes the rate of the receipt-level
  ``vats`` when that has exactly one entry; otherwise it is an error. Receipt-level ``vats`` win for the
  receipt tags: a missing ``sum`` there is computed from the items; for ``none``/``vat0`` the tag holds the
  turnover (1104/1105), so it is taken from the items (the ATOL ``sum`` must be 0 or that turnover). In an
  itemless v4 correction a ``none``/``vat0`` sum is that turnover, and 0 in a single entry means the total.
- Payments: types 0–4 (cash, cashless, prepayment, credit, other consideration) add up per kind; the
  "extended" types 5–9 are refused (``payment_type_unsupported``): they need per-register configuration.
- Text: limits count CP866 bytes (one per character). Characters CP866 lacks are replaced by the nearest
  CP866 text (« » „ “ ” → ", — – → -, ‘ ’ → ', € → EUR, NBSP and other spaces → space, accented Latin → plain,
  invisible format characters → nothing, anything else → ?), and every replacement is a ``cp866_substitution``
  warning naming the characters. Substitution never refuses a request; a value left over-long does.
  Identifiers (INN, e-mail, phone, codes, dates, marking codes) are not substituted: they must be valid as sent.
- An empty string in an optional field means "absent" (ATOL clients send ``""``); in a required one it is
  ``required``. ``service.callback_url`` that is empty means no callback; one that fails ATOL's mask is a
  ``callback_url`` warning with no callback, never an error.
- INNs (company, client, supplier, transfer operator, cashier) need valid check digits; ``company.inn`` must be
  the group's INN. In receipts the client needs an e-mail or a phone; 1008 gets the e-mail when both are given
  (the OFD sends to the e-mail). Phones become ``+7XXXXXXXXXX`` (from 8/7 + 10 digits or 10 digits) or stay
  ``+<7..15 digits>``.
- FFD version: fields of the other version are refused with their path (``mark_code`` in v4,
  ``measurement_unit`` in v5, …); 2108 ``measure`` is mandatory in v5. In v5 a receipt-level ``agent_info`` /
  ``supplier_info`` applies to the items without their own (FFD 1.2 has agent data per item only). An item with
  agent data needs a supplier with an INN (1224/1226).
- Marking (v5): ``mark_code`` has exactly one key; ``gs1m`` is the base64 of the full code, whose
  ``01<GTIN>21<serial>`` part (up to the first GS; without GS, a 13-character serial before ``91`` or a
  7-character one before ``93``) becomes 1305; the full code is kept in :attr:`Validated.mark_codes` for the
  marking check. A marked item has quantity 1. ATOL's 128-codes limit cannot be reached with ≤ 100 items.
- v4 ``nomenclature_code`` (1162): hex bytes separated by spaces (≤ 32), or a raw GS1 DataMatrix, converted
  the 1.05 way: ``"DM"`` + GTIN as 6 bytes big-endian + serial.
- Sizes the TLV encoder would refuse are refused here: 1223/1224 ≤ 512, 1084 ≤ 320, 1059 ≤ 1024 bytes per
  item, 1234 ≤ 4096, and the whole document ≤ 32 768 with room kept for the drive's tags at their maximum.
- The result passes :func:`~fiscal_core.ffd.receipt.check_sums`, :func:`~fiscal_core.ffd.receipt.check_text`
  and ``encode_body`` for an identity of ``group_ffd``. ``packed`` is the msgpack of the document, which the
  journal stores as is; a repeat's payload is compared on (operation, ``packed``): the fiscal content only, so a
  retry with another ``timestamp`` or callback carries the same payload. ``payload_hash`` is
  ``ffd.receipt.payload_digest`` (SHA-256) of those two, computed only when asked for. ``sums`` is
  :func:`~fiscal_core.ffd.receipt.document_sums` of the document (the journal's report index adds it up).
- Speed (the API floor is 12,000 single-receipt POSTs/s on one core): typed decode straight from bytes; each
  checker has an allocation-free fast path and builds paths and messages only on failure; rarely sent fields
  are tested for presence in one expression and built apart; the warnings list exists only when something
  changed. ``bench/bench_validate.py`` measures it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import functools
import re
import unicodedata
from collections.abc import Sequence
from decimal import Context, Decimal
from typing import Any

import msgspec
from msgspec import Struct

from fiscal_core.api import atol
from fiscal_core.errors import FiscalError
from fiscal_core.ffd.cp866 import DECODE_TABLE
from fiscal_core.ffd.enums import CorrectionType, TaxSystem, VatRate
from fiscal_core.ffd.identifiers import inn_valid
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
    Supplier,
    UserProp,
    VatSum,
    document_sums,
    payload_digest,
)
from fiscal_core.ffd.tags import REGISTRY

__all__ = [
    "ATOL_CALLBACK_MASK",
    "MAX_KOPECKS",
    "TOTAL_TOLERANCE",
    "FieldWarning",
    "Issue",
    "RequestInvalid",
    "Validated",
    "substitute_cp866",
    "validate",
    "validate_token_request",
]

MAX_KOPECKS = 4_294_967_295  #: 42 949 672.95 ₽, ATOL's limit for every money field (§1.5)
TOTAL_TOLERANCE = 99  #: kopecks by which ``total`` may differ from Σ item sums (§1.5)
_MAX_RUB = Decimal("42949672.95")
_MAX_QUANTITY = Decimal("99999.999")
_CTX = Context(prec=40)  # explicit: a caller's thread context must never round a quantity
_BOM = b"\xef\xbb\xbf"
_FFD_OF_VERSION = {4: "1.05", 5: "1.2"}
_EMPTY: dict[str, Any] = {}  # shared "no extra fields"; never mutated

#: ATOL's callback mask, verbatim (§1.5). Its "(0-9)" is a literal, kept for compatibility.
ATOL_CALLBACK_MASK = (
    r"^http(s?)\:\/\/[0-9a-zA-Zа-яА-Я]([-.\w]*[0-9a-zA-Zа-яА-Я])*(:(0-9)*)*(\/?)"
    r"([a-zA-Z0-9а-яА-Я\-\.\?\,\'\/\\\+&=%\$#_]*)?$"
)
# The same language without the nested quantifier "(X*Y)*", which backtracks exponentially on a long host that
# fails at its end (ReDoS): "alnum, then [-.\w]* ending in alnum, optionally" is exactly what "(X*Y)*" allows.
_CALLBACK = re.compile(
    r"https?://[0-9a-zA-Zа-яА-Я](?:[-.\w]*[0-9a-zA-Zа-яА-Я])?(?::(?:0-9)*)*/?"
    r"[a-zA-Z0-9а-яА-Я\-.?,'/\\+&=%$#_]*"
)
_EMAIL = re.compile(r"[^@\s\"(),:;<>\[\]\\]+@[^@\s\"(),:;<>\[\]\\.]+(?:\.[^@\s\"(),:;<>\[\]\\.]+)+")
_PHONE_JUNK = re.compile(r"[\s()\-.]")
_DIGITS = re.compile(r"[0-9]+")
_HEX_BYTES = re.compile(r"[0-9A-Fa-f]{2}(?: [0-9A-Fa-f]{2})*")
_FUR = re.compile(r"[A-Z]{2}-[0-9]{6}-[A-Z]{10}")
_N2 = re.compile(r"[0-9]{2}")
_N3 = re.compile(r"[0-9]{3}")
_GS = "\x1d"

#: Every character CP866 holds except NBSP (0xFF), which is mapped to a space anyway (issue 5 item 3).
_NEEDS_MAP = re.compile("[^" + "".join(f"\\U{cp:08x}" for cp in sorted({ord(c) for c in DECODE_TABLE} - {0xA0})) + "]")
_CP866 = frozenset(DECODE_TABLE) - {"\xa0"}
_NEAREST = {
    **dict.fromkeys("«»„“”‟″〃＂", '"'),
    **dict.fromkeys("‘’‚‛′", "'"),
    **dict.fromkeys("‐‑‒–—―−⁃﹣－", "-"),
    **dict.fromkeys("\xa0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000", " "),
    "€": "EUR",
    "₽": "руб.",
    "£": "GBP",
    "…": "...",
    "•": "·",
    "×": "x",
    "÷": "/",
    "™": "TM",
    "©": "(C)",
    "®": "(R)",
    "ß": "ss",
    "І": "I",
    "і": "i",
    "Ґ": "Г",
    "ґ": "г",
}

_L = {tag: REGISTRY[tag].max_length for tag in (1021, 1030, 1036, 1085, 1086, 1191, 1192, 1197, 1231, 1237, 1238)}
_L1179 = REGISTRY[1179].max_length
_L1272 = REGISTRY[1272].max_length
#: Tags of a receipt besides its items, at their largest (the drive's identity strings included), so that an
#: accepted document never outgrows the 32 768-byte form whatever the group's registration data is.
_RESERVED_TAGS = (
    1041, 1037, 1018, 1040, 1012, 1077, 1038, 1042, 1054, 1020, 1031, 1081, 1215, 1216, 1217, 1055, 1209,
    1102, 1103, 1104, 1105, 1106, 1107, 1115, 1048, 1009, 1187, 1060, 1117, 1036, 1108, 1125, 1011, 2107,
    1008, 1021, 1203, 1192, 1173, 1174,
)  # fmt: skip
_RESERVE = sum(4 + REGISTRY[t].max_length for t in _RESERVED_TAGS)
_MAX_DOCUMENT = REGISTRY[3].max_length
_MAX_ITEM = REGISTRY[1059].max_length
#: 1079 1023 1043 1199 1200 1212 1214 2108 at their largest, plus 1030's header: add len(name).
_ITEM_FIXED = 10 + 12 + 10 + 5 + 10 + 5 + 5 + 5 + 4


# --------------------------------------------------------------------------- results and errors


class Issue(Struct, frozen=True, kw_only=True):
    """One reason a request is refused."""

    path: str  #: ATOL-style, ``receipt.items[3].vat.type``; "" for the body as a whole
    code: str  #: stable symbolic code, e.g. ``sum_mismatch``
    message: str
    retryable: bool = False  #: a field error never heals by itself


class FieldWarning(Struct, frozen=True, kw_only=True):
    """A change made while normalising (or an ignored ``callback_url``): reported, never a refusal."""

    path: str
    code: str  #: ``cp866_substitution``, ``total_rounded``, ``callback_url``
    message: str


class RequestInvalid(FiscalError):
    """The request cannot be registered as sent. ``issues`` is non-empty; the first is the first found."""

    code = "request_invalid"

    def __init__(self, issues: list[Issue], atol_code: int = 32) -> None:
        self.issues = issues
        self.atol_code = atol_code
        self.status_hint = atol.SERVICE_ERRORS[atol_code].http_status
        first = issues[0]
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(f"{first.path or '(request)'}: {first.message}{more}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.issues, self.atol_code))

    def to_dict(self) -> dict[str, object]:
        d = super().to_dict()
        d["atol_code"] = self.atol_code
        d["issues"] = [msgspec.structs.asdict(i) for i in self.issues]
        return d

    def atol_error(self) -> atol.Error:
        """The ATOL ``error`` object: code 32 lists the fields (``Ошибочные поля: …``), others the first message."""
        if self.atol_code == 32:
            return atol.error(32, None, "; ".join(f"{i.path or '(body)'}: {i.message}" for i in self.issues[:20]))
        return atol.error(self.atol_code, self.issues[0].message)


class Validated(Struct, frozen=True, kw_only=True, gc=False):
    """A request ready for the queue: the FFD document plus the envelope the API keeps."""

    external_id: str
    timestamp: _dt.datetime  #: the client's document time (naive, as sent)
    timestamp_text: str = ""  #: the same as ``dd.mm.yyyy HH:MM:SS`` (the client's text: the format is fixed-width)
    callback_url: str | None
    operation: str
    version: int
    document: Receipt  #: a :class:`Correction` for the correction operations
    warnings: tuple[FieldWarning, ...]
    packed: bytes = b""  #: msgpack of ``document``, encoded once for the journal and the payload comparison
    ism_optional: bool = False  #: v5: register with 2106 = 0 if the marking system times out
    mark_codes: tuple[tuple[int, str], ...] = ()  #: (item position, full gs1m code) for the marking check
    sums: tuple[int, ...] = ()  #: ``ffd.receipt.document_sums(document)``: what the intake's report index adds

    @property
    def payload_hash(self) -> str:
        """Hex SHA-256 of (operation, ``packed``): ``ffd.receipt.payload_digest``, the payload's fingerprint.
        Computed when asked for: the intake compares a repeat's documents themselves (``intake.same_payload``),
        so no request pays for it."""
        return payload_digest(self.operation, self.packed).hex()

    @property
    def atol_warnings(self) -> dict[str, str] | None:
        """ATOL's report ``warnings`` object: only ``callback_url`` has a place there (§1.5)."""
        for w in self.warnings:
            if w.code == "callback_url":
                return {"callback_url": w.message}
        return None


# --------------------------------------------------------------------------- CP866 substitution


@functools.lru_cache(maxsize=4096)
def _nearest(ch: str) -> str:
    """The CP866 text standing in for ``ch``: the table, else the NFKD base letters, else ``?``."""
    if ch in _NEAREST:
        return _NEAREST[ch]
    if unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return ""  # combining marks, zero-width and other format characters carry nothing printable
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if unicodedata.category(c) not in ("Mn", "Me"))
    if base and base != ch and all(c in _CP866 for c in base):
        return base
    return "?"


def substitute_cp866(text: str) -> tuple[str, list[tuple[str, str, int]]]:
    """``text`` with every character CP866 lacks replaced; the changes as (original, replacement, count)."""
    if text.isascii() or _NEEDS_MAP.search(text) is None:
        return text, []
    counts: dict[tuple[str, str], int] = {}

    def replace(m: re.Match[str]) -> str:
        ch = m.group()
        out = _nearest(ch)
        counts[(ch, out)] = counts.get((ch, out), 0) + 1
        return out

    result = _NEEDS_MAP.sub(replace, text)
    return result, [(ch, out, n) for (ch, out), n in counts.items()]


def _describe(changes: list[tuple[str, str, int]]) -> str:
    parts = [f"{ch!r} (U+{ord(ch):04X}) → {out!r}" + (f" ×{n}" if n > 1 else "") for ch, out, n in changes]
    return "символы, которых нет в CP866, заменены: " + ", ".join(parts)


# --------------------------------------------------------------------------- converters (fast paths)


def _kopecks(value: atol.Number) -> int | None:
    """Roubles -> kopecks when valid (finite, 0..42 949 672.95, ≤ 2 significant decimals), else None.

    Exact: ``as_integer_ratio`` is the Decimal's rational value. The ``adjusted()`` guard keeps it cheap:
    without it, ``1E-999999`` costs a million-digit denominator (a fifth of a second).
    """
    if isinstance(value, int):
        return value * 100 if 0 <= value <= MAX_KOPECKS // 100 else None
    if value.is_finite() and -20 < value.adjusted() < 8:
        n, d = value.as_integer_ratio()
        if d == 1:
            k = n * 100
        else:
            k, rest = divmod(n * 100, d)
            if rest:
                return None
        if 0 <= k <= MAX_KOPECKS:
            return k
    return None


def _quantity(value: atol.Number) -> int | Decimal | None:
    """0 < q ≤ 99 999.999 with ≤ 3 significant decimals -> int when whole, else Decimal without trailing zeros."""
    if isinstance(value, int):
        return value if 0 < value <= 99_999 else None
    if value.is_finite() and -4 < value.adjusted() < 5:
        n, d = value.as_integer_ratio()
        if n > 0 and 1000 * n <= 99_999_999 * d:
            if d == 1:
                return n
            if 1000 % d == 0:
                return value.normalize(_CTX)
    return None


def _item_sum(price: int, quantity: int | Decimal) -> int:
    """``price × quantity`` rounded half up (receipt.item_sum's rule, on the exact rational quantity)."""
    if isinstance(quantity, int):
        return price * quantity
    n, d = quantity.as_integer_ratio()
    return (2 * price * n + d) // (2 * d)


def _phone(value: str) -> str | None:
    """``+7XXXXXXXXXX`` for Russian numbers (``8…``/``7…`` 11 digits or 10 digits), else ``+<7..15 digits>``."""
    s = _PHONE_JUNK.sub("", value)
    if s.startswith("+"):
        return s if _DIGITS.fullmatch(s, 1) and 7 <= len(s) - 1 <= 15 else None
    if _DIGITS.fullmatch(s):
        if len(s) == 10:
            return "+7" + s
        if len(s) == 11 and s[0] in "78":
            return "+7" + s[1:]
    return None


def _code_data(code: str) -> str:
    """A scanned code without what the scanner adds: an AIM symbology identifier, a leading FNC1 sent as GS."""
    if code.startswith(("]d2", "]C1", "]Q3")):
        code = code[3:]
    return code.lstrip(_GS)


def _gs1_product(code: str) -> str | None:
    """``01<GTIN>21<serial>`` of a GS1 DataMatrix code (up to the first GS), None if it is not one.

    Without GS separators (a scanner that drops them) the serial's end is guessed from the usual layouts: a
    13-character serial followed by ``91`` (shoes, clothes, …) or a 7-character one followed by ``93`` (tobacco).
    """
    code = _code_data(code)
    head = code.split(_GS, 1)[0]
    if len(head) < 19 or head[:2] != "01" or not head[2:16].isdigit() or head[16:18] != "21":
        return None
    if _GS not in code:
        if len(head) > 33 and head[31:33] == "91":
            head = head[:31]
        elif len(head) > 27 and head[25:27] == "93":
            head = head[:25]
    return head if len(head) <= REGISTRY[1305].max_length else None


# Caches for values that repeat across requests (a tenant's INN and callback, the current second). Only inputs of
# bounded length reach them, so an attacker cannot grow them beyond maxsize × a few dozen bytes.
_inn_ok = functools.lru_cache(maxsize=16384)(inn_valid)  # identifiers.inn_valid costs ~2 µs
_parse_timestamp = functools.lru_cache(maxsize=1024)(atol.parse_datetime)


@functools.lru_cache(maxsize=4096)
def _callback_ok(url: str) -> bool:
    return _CALLBACK.fullmatch(url) is not None


def _rub(kopecks: int) -> str:
    return f"{kopecks // 100}.{kopecks % 100:02d}"


def _size(*values: str | None) -> int:
    """TLV bytes of the given strings (header + one CP866 byte per character); None counts nothing."""
    n = 0
    for v in values:
        if v is not None:
            n += 4 + len(v)
    return n


# --------------------------------------------------------------------------- the per-request run


class _Run:
    """Issues and warnings of one request, and the field checkers that fill them.

    Checkers take the parent path (ending with ".") and the field name; the path is concatenated only when
    something is wrong. Each returns the normalised value, or None when the field is absent or was refused.
    """

    __slots__ = ("issues", "warnings")

    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self.warnings: list[FieldWarning] | None = None

    def fail(self, path: str, code: str, message: str) -> None:
        self.issues.append(Issue(path=path, code=code, message=message))

    def warn(self, path: str, code: str, message: str) -> None:
        if self.warnings is None:
            self.warnings = []
        self.warnings.append(FieldWarning(path=path, code=code, message=message))

    def text(self, value: str | None, at: str, name: str, limit: int, required: bool = False) -> str | None:
        if value and len(value) <= limit and (value.isascii() or _NEEDS_MAP.search(value) is None):
            return value
        if value:
            value, changes = substitute_cp866(value)
            if changes:
                self.warn(at + name, "cp866_substitution", _describe(changes))
            if len(value) > limit:
                self.fail(at + name, "too_long", f"не более {limit} символов (байт CP866), передано {len(value)}")
                return None
            if value:
                return value
        if required:
            self.fail(at + name, "required", "обязательное поле не передано или пусто")
        return None

    def pattern(self, value: str | None, at: str, name: str, regex: re.Pattern[str], what: str) -> str | None:
        if not value:
            return None
        if value.isascii() and regex.fullmatch(value):
            return value
        self.fail(at + name, "format", f"ожидается {what}")
        return None

    def inn(self, value: str | None, at: str, name: str, required: bool = False) -> str | None:
        if value:
            value = value.strip()  # a 10-digit INN padded to 12 like tag 1018 is still that INN
        if not value:
            if required:
                self.fail(at + name, "required", "ИНН обязателен")
            return None
        if not (value.isascii() and value.isdigit() and len(value) in (10, 12)):
            self.fail(at + name, "inn_format", "ИНН — 10 (организация) или 12 (физлицо, ИП) цифр")
        elif not _inn_ok(value):
            self.fail(at + name, "inn_checksum", f"неверные контрольные цифры ИНН {value}")
        else:
            return value
        return None

    def email(self, value: str | None, at: str, name: str, required: bool = False) -> str | None:
        if not value:
            if required:
                self.fail(at + name, "required", "адрес электронной почты обязателен")
            return None
        if len(value) > 64:
            self.fail(at + name, "too_long", f"не более 64 символов, передано {len(value)}")
        elif _EMAIL.fullmatch(value) is None or (not value.isascii() and _NEEDS_MAP.search(value)):
            self.fail(at + name, "email_format", f"некорректный адрес электронной почты {value!r}")
        else:
            return value
        return None

    def phone(self, value: str | None, at: str, name: str, limit: int) -> str | None:
        if not value:
            return None
        result = _phone(value)
        if result is None:
            self.fail(at + name, "phone_format", f"телефон {value!r}: ожидается +7XXXXXXXXXX или +<код страны><номер>")
        elif len(result) > limit:
            self.fail(at + name, "too_long", f"не более {limit} символов")
        else:
            return result
        return None

    def phones(self, values: list[str] | None, at: str, name: str) -> tuple[str, ...]:
        """Phones of agent and supplier data (1073–1075, 1171: at most 19 characters each)."""
        out = []
        for i, v in enumerate(values or ()):
            p = self.phone(v, at, f"{name}[{i}]", 19)
            if p is not None:
                out.append(p)
        return tuple(out)

    def date(self, value: str | None, at: str, name: str, required: bool = False) -> _dt.date | None:
        if not value:
            if required:
                self.fail(at + name, "required", "дата обязательна (dd.mm.yyyy)")
            return None
        try:
            return atol.parse_date(value)
        except ValueError:
            self.fail(at + name, "date_format", f"ожидается дата dd.mm.yyyy, передано {value!r}")
            return None

    def money(self, value: atol.Number | None, at: str, name: str, required: bool = True) -> int | None:
        if value is not None:
            k = _kopecks(value)
            if k is not None:
                return k
            value = Decimal(value)  # only an int out of range gets here as an int
            if value.is_finite() and value == 0:
                return 0  # a zero with a huge exponent (0E-999999) is still zero
            path = at + name
            if not value.is_finite():
                self.fail(path, "not_a_number", "ожидается число")
            elif value < 0:
                self.fail(path, "negative", "сумма не может быть отрицательной")
            elif value.adjusted() >= 8 or value > _MAX_RUB:
                self.fail(path, "too_large", "не более 42 949 672.95")
            else:
                self.fail(path, "too_many_decimals", f"не более двух знаков после запятой, передано {value}")
        elif required:
            self.fail(at + name, "required", "сумма обязательна")
        return None

    def quantity(self, value: atol.Number, at: str) -> int | Decimal | None:
        q = _quantity(value)
        if q is not None:
            return q
        value = Decimal(value)
        path = at + "quantity"
        if not value.is_finite():
            self.fail(path, "not_a_number", "ожидается число")
        elif value <= 0:
            self.fail(path, "not_positive", "количество должно быть больше нуля")
        elif value > _MAX_QUANTITY:
            self.fail(path, "too_large", "не более 99 999.999")
        else:
            self.fail(path, "too_many_decimals", f"не более трёх знаков после запятой, передано {value}")
        return None

    def vat_type(self, value: str, at: str) -> VatRate | None:
        rate = atol.VAT_TYPES.get(value)
        if rate is not None:
            return rate
        new = atol.OBSOLETE_VAT_TYPES.get(value)
        if new is not None:
            rate_2026 = new.replace("20", "22")  # vat20 -> vat22, vat120 -> vat122
            self.fail(
                at + "type",
                "vat_type_obsolete",
                f"ставка {value} отменена с 01.01.2019: используйте {new} (с 2026 года для 22 % — {rate_2026})",
            )
        else:
            self.fail(at + "type", "vat_type_unknown", f"неизвестная ставка НДС {value!r}: {', '.join(atol.VAT_TYPES)}")
        return None

    def foreign(self, obj: Struct, names: tuple[str, ...], at: str, v5: bool) -> None:
        """Refuse the fields of the other FFD version that ``obj`` carries."""
        for name in names:
            if getattr(obj, name) is not None:
                if v5:
                    self.fail(at + name, "not_in_version", "поле ФФД 1.05 (API v4); в запросе v5 (ФФД 1.2) его нет")
                else:
                    self.fail(at + name, "not_in_version", "поле ФФД 1.2 (API v5); в запросе v4 (ФФД 1.05) его нет")


# --------------------------------------------------------------------------- parts of a receipt

_V4_ITEM_FOREIGN = ("measure", "mark_code", "mark_quantity", "mark_processing_mode", "sectoral_item_props",
                    "planned_status")  # fmt: skip
_V5_ITEM_FOREIGN = ("measurement_unit", "nomenclature_code")
_V4_CLIENT_FOREIGN = ("birthdate", "citizenship", "document_code", "document_data", "address")
_V4_RECEIPT_FOREIGN = ("operating_check_props", "sectoral_check_props")
_EXACT_MARKS = {"ean8": 8, "ean13": 13, "itf14": 14, "egais20": 23, "egais30": 14}
_V4_METHOD = atol.PAYMENT_METHODS["full_prepayment"]  # v4 defaults (§1.5); v5 requires both fields
_V4_SUBJECT = atol.PAYMENT_OBJECTS_V4["commodity"]
# Plain dicts: a MappingProxyType lookup costs an extra indirection in the per-item loop.
_VAT_TYPES = dict(atol.VAT_TYPES)
_METHODS = dict(atol.PAYMENT_METHODS)
_SUBJECTS_V4 = dict(atol.PAYMENT_OBJECTS_V4)
_SUBJECTS_V5 = dict(atol.PAYMENT_OBJECTS_V5)


def _sno(run: _Run, value: str | None, at: str, group_sno: int | None) -> TaxSystem | None:
    if value:
        tax = atol.SNO.get(value)
        if tax is None:
            run.fail(at + "sno", "sno_unknown", f"неизвестная СНО {value!r}: {', '.join(atol.SNO)}")
        elif group_sno is not None and not group_sno & int(tax):
            run.fail(at + "sno", "sno_not_registered", f"СНО {value} не зарегистрирована для группы касс")
        else:
            return tax
        return None
    if group_sno is not None and group_sno > 0 and not group_sno & (group_sno - 1):
        return TaxSystem(group_sno)  # "optional if the organisation has one tax system" (§1.5)
    run.fail(at + "sno", "required", "укажите sno: у группы касс не одна зарегистрированная СНО")
    return None


def _client(
    run: _Run, cl: atol.ClientV4 | atol.ClientV5, at: str, need_contact: bool
) -> tuple[str | None, Buyer | None, int]:
    """``client`` -> (1008 contact, buyer data, its size)."""
    email = run.email(cl.email, at, "email") if cl.email is not None else None
    phone = run.phone(cl.phone, at, "phone", 64) if cl.phone is not None else None
    if need_contact and not cl.email and not cl.phone:
        run.fail(at[:-1], "contact_required", "нужен email или phone покупателя (1008)")
    contact = email or phone
    if isinstance(cl, atol.ClientV4):
        run.foreign(cl, _V4_CLIENT_FOREIGN, at, False)
        if cl.name is None and cl.inn is None:
            return contact, None, 0
        name = run.text(cl.name, at, "name", 256)
        inn = run.inn(cl.inn, at, "inn")
        return contact, Buyer(name=name, inn=inn) if name or inn else None, _size(name, inn)
    fields = (cl.name, cl.inn, cl.birthdate, cl.citizenship, cl.document_code, cl.document_data, cl.address)
    if fields.count(None) == len(fields):
        return contact, None, 0
    name = run.text(cl.name, at, "name", 256)
    inn = run.inn(cl.inn, at, "inn")
    birth = run.date(cl.birthdate, at, "birthdate")
    citizenship = run.pattern(cl.citizenship, at, "citizenship", _N3, "трёхзначный код страны (ОКСМ)")
    doc_code = run.pattern(cl.document_code, at, "document_code", _N2, "двузначный код вида документа")
    doc_data = run.text(cl.document_data, at, "document_data", 64)
    address = run.text(cl.address, at, "address", 256)
    if not (name or inn or birth or citizenship or doc_code or doc_data or address):
        return contact, None, 0
    buyer = Buyer(
        name=name,
        inn=inn,
        birth_date=birth,
        citizenship=citizenship,
        doc_code=doc_code,
        doc_data=doc_data,
        address=address,
    )
    return contact, buyer, 4 + _size(name, inn, doc_data, address) + 14 + 7 + 6  # 1256 {…, 1243, 1244, 1245}


def _agent(run: _Run, info: atol.AgentInfo, at: str) -> tuple[Agent | None, int]:
    """``agent_info`` -> (Agent, size of its 1223 data)."""
    types = None
    if not info.type:
        run.fail(at + "type", "required", f"тип агента обязателен: {', '.join(atol.AGENT_TYPES)}")
    else:
        types = atol.AGENT_TYPES.get(info.type)
        if types is None:
            run.fail(at + "type", "agent_type_unknown", f"неизвестный тип агента {info.type!r}")
    pa, rpo, mto = info.paying_agent, info.receive_payments_operator, info.money_transfer_operator
    operation = run.text(pa.operation, at + "paying_agent.", "operation", 24) if pa else None
    agent_phones = run.phones(pa.phones, at + "paying_agent.", "phones") if pa else ()
    operator_phones = run.phones(rpo.phones, at + "receive_payments_operator.", "phones") if rpo else ()
    transfer_phones: tuple[str, ...] = ()
    name = address = inn = None
    if mto is not None:
        m = at + "money_transfer_operator."
        transfer_phones = run.phones(mto.phones, m, "phones")
        name = run.text(mto.name, m, "name", 64)
        address = run.text(mto.address, m, "address", 256)
        inn = run.inn(mto.inn, m, "inn")
    data = AgentData(
        operation=operation,
        agent_phones=agent_phones,
        operator_phones=operator_phones,
        transfer_operator_phones=transfer_phones,
        transfer_operator_name=name,
        transfer_operator_address=address,
        transfer_operator_inn=inn,
    )
    size = _size(operation, *agent_phones, *operator_phones, *transfer_phones, name, address, inn)
    if size > REGISTRY[1223].max_length:
        run.fail(at[:-1], "too_large", f"данные агента (1223) — {size} байт, допустимо не более 512")
    if types is None:
        return None, size
    return Agent(types=types, data=None if data.is_empty() else data), size


def _supplier(run: _Run, info: atol.SupplierInfo, at: str) -> tuple[Supplier, int]:
    """``supplier_info`` -> (Supplier, size of its 1224 data)."""
    phones = run.phones(info.phones, at, "phones")
    name = run.text(info.name, at, "name", 256)
    inn = run.inn(info.inn, at, "inn")
    size = _size(*phones, name)
    if size > REGISTRY[1224].max_length:
        run.fail(at[:-1], "too_large", f"данные поставщика (1224) — {size} байт, допустимо не более 512")
    return Supplier(phones=phones, name=name, inn=inn), size


def _mark(run: _Run, mc: atol.MarkCode, at: str) -> tuple[MarkingCode | None, str | None]:
    """``mark_code`` -> (1163 code, the full gs1m code for the marking check)."""
    found = [(k, v) for k in atol.MARK_CODE_TAGS if (v := getattr(mc, k))]
    if len(found) != 1:
        given = ", ".join(k for k, _ in found) or "ни одного"
        run.fail(at + "mark_code", "mark_code_keys", f"mark_code содержит ровно один вид кода, передано: {given}")
        return None, None
    key, value = found[0]
    path = f"{at}mark_code.{key}"
    tag = atol.MARK_CODE_TAGS[key]
    if key == "gs1m":
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            run.fail(path, "mark_code_base64", "gs1m — это base64 полного кода маркировки")
            return None, None
        if raw[:1] == b"\xe8":  # FNC1 as byte 232
            raw = raw[1:]
        full = _code_data(raw.decode("ascii")) if raw.isascii() else None
        code = _gs1_product(full) if full else None
        if code is None or full is None:
            run.fail(path, "mark_code_format", "ожидается код GS1 DataMatrix: 01<GTIN, 14 цифр>21<серийный номер>…")
            return None, None
        return MarkingCode(kind=tag, code=code), full
    if not value.isascii():
        run.fail(path, "mark_code_format", "код маркировки — только символы ASCII")
    elif key in _EXACT_MARKS:
        n = _EXACT_MARKS[key]
        digits_only = key in ("ean8", "ean13", "itf14")
        if len(value) == n and (value.isdigit() or not digits_only):
            return MarkingCode(kind=tag, code=value), None
        run.fail(path, "mark_code_format", f"ровно {n} {'цифр' if digits_only else 'символов'}")
    elif key == "fur":
        if _FUR.fullmatch(value):
            return MarkingCode(kind=tag, code=value), None
        run.fail(path, "mark_code_format", "КИЗ меха: 20 символов по маске СС-ЦЦЦЦЦЦ-СССССССССС")
    elif len(value) <= REGISTRY[tag].max_length:
        return MarkingCode(kind=tag, code=value), None
    else:
        run.fail(path, "too_long", f"не более {REGISTRY[tag].max_length} символов")
    return None, None


def _nomenclature(run: _Run, value: str, at: str) -> bytes | None:
    """v4 ``nomenclature_code`` -> 1162 bytes: hex bytes as sent, or a DataMatrix code the 1.05 way."""
    path = at + "nomenclature_code"
    if value.isascii() and _HEX_BYTES.fullmatch(value):
        data = bytes.fromhex(value)
    else:
        product = _gs1_product(value) if value.isascii() and len(value) <= 150 else None
        if product is None:
            run.fail(path, "nomenclature_code_format", "байты hex через пробел (до 32) или код GS1 DataMatrix (до 150)")
            return None
        # 1.05 product code: type "DM" (0x444D), the GTIN as a 6-byte big-endian number, then the serial.
        data = b"DM" + int(product[2:16]).to_bytes(6, "big") + product[18:].encode("ascii")
    if len(data) > REGISTRY[1162].max_length:
        run.fail(path, "too_long", f"код товара — {len(data)} байт, допустимо не более 32")
        return None
    return data


def _sectoral(run: _Run, props: list[atol.SectoralProps], at: str) -> tuple[tuple[IndustryProp, ...], int]:
    """``sectoral_*_props`` -> (1260/1261 values, their size)."""
    out = []
    size = 0
    for i, sp in enumerate(props):
        a = f"{at}[{i}]."
        if not sp.federal_id:
            run.fail(a + "federal_id", "required", "идентификатор ФОИВ обязателен")
        foiv = run.pattern(sp.federal_id, a, "federal_id", _N3, "три цифры идентификатора ФОИВ, например 030")
        day = run.date(sp.date, a, "date", required=True)
        number = run.text(sp.number, a, "number", 32, required=True)
        value = run.text(sp.value, a, "value", 256, required=True)
        if foiv and day and number and value:
            out.append(IndustryProp(foiv_id=foiv, doc_date=day, doc_number=number, value=value))
            size += 4 + 7 + 14 + _size(number, value)
    return tuple(out), size


# --------------------------------------------------------------------------- items


def _item_extras(
    run: _Run,
    it: atol.ItemV4 | atol.ItemV5,
    at: str,
    agent0: tuple[Agent, int] | None,
    supplier0: tuple[Supplier, int] | None,
    extra: dict[str, Any],
) -> int:
    """The rarely sent item fields into ``extra``; returns their TLV size."""
    size = 0
    if it.user_data is not None and (v := run.text(it.user_data, at, "user_data", _L[1191])):
        extra["user_data"] = v
        size += 4 + len(v)
    if it.excise is not None and (k := run.money(it.excise, at, "excise")) is not None:
        extra["excise"] = k
        size += 10
    if it.country_code is not None and (v := run.pattern(it.country_code, at, "country_code", _N3, "код страны")):
        extra["country_code"] = v
        size += 7
    if it.declaration_number is not None and (v := run.text(it.declaration_number, at, "declaration_number", _L[1231])):
        extra["declaration_number"] = v
        size += 4 + len(v)
    agent = supplier = None
    if it.agent_info is not None:
        agent, agent_size = _agent(run, it.agent_info, at + "agent_info.")
        size += 5 + 4 + agent_size  # 1222 + 1223
    elif agent0 is not None:
        agent, agent_size = agent0
        size += 5 + 4 + agent_size
    if it.supplier_info is not None:
        supplier, supplier_size = _supplier(run, it.supplier_info, at + "supplier_info.")
        size += 4 + supplier_size + 16  # 1224 + 1226
    elif supplier0 is not None:
        supplier, supplier_size = supplier0
        size += 4 + supplier_size + 16
    if it.agent_info is not None and (supplier is None or supplier.inn is None):
        # 1224/1226 are mandatory with 1222 (§1.5: "supplier data is required when agent data is present").
        where = "supplier_info" if supplier is None else "supplier_info.inn"
        run.fail(at + where, "supplier_required", "при agent_info позиции нужны supplier_info с ИНН поставщика")
    if agent is not None:
        extra["agent"] = agent
    if supplier is not None:
        extra["supplier"] = supplier
    return size


def _item_marking(run: _Run, it: atol.ItemV5, at: str, quantity: Any, extra: dict[str, Any]) -> tuple[int, str | None]:
    """The v5 marking and industry fields into ``extra``; returns (their TLV size, the full gs1m code)."""
    size = 0
    full = None
    if it.mark_code is not None:
        marking, full = _mark(run, it.mark_code, at)
        if marking is not None:
            extra["marking"] = marking
            size += 4 + 4 + len(marking.code) + 5  # 1163 {13xx} and the 2106 the marking check adds
        if quantity is not None and quantity != 1:
            run.fail(at + "quantity", "marked_quantity", "для товара с mark_code количество равно 1")
    if it.mark_quantity is not None:
        n, m = it.mark_quantity.numerator, it.mark_quantity.denominator
        if not 1 <= n < m:
            run.fail(at + "mark_quantity", "fraction", "нужно 1 ≤ numerator < denominator")
        elif len(f"{n}/{m}") > REGISTRY[1292].max_length:
            run.fail(at + "mark_quantity", "too_large", "дробь n/m длиннее 24 символов")
        else:
            extra["fraction"] = Fraction(numerator=n, denominator=m)
            size += 4 + 4 + len(f"{n}/{m}") + 24  # 1291 {1292, 1293, 1294}
    if it.mark_processing_mode is not None:
        if it.mark_processing_mode == "0":
            extra["marking_mode"] = 0
            size += 5
        else:
            run.fail(at + "mark_processing_mode", "format", 'режим обработки кода маркировки (2102) — "0"')
    if it.sectoral_item_props:
        industry, industry_size = _sectoral(run, it.sectoral_item_props, at + "sectoral_item_props")
        extra["industry_props"] = industry
        size += industry_size
    if it.planned_status is not None:
        if 1 <= it.planned_status <= 6:
            extra["planned_status"] = it.planned_status
        else:
            run.fail(at + "planned_status", "format", "планируемый статус товара (2003) — 1..6")
    return size, full


def _choice(run: _Run, value: Any, at: str, name: str, choices: Any, default: Any) -> Any:
    """An enumerated wire value -> its FFD value; ``default`` None makes the field mandatory."""
    if value is None:
        if default is None:
            run.fail(at + name, "required", f"{name} обязателен в API v5")
        return default
    found = choices.get(value)
    if found is None:
        run.fail(at + name, f"{name}_unknown", f"неизвестное значение {name}: {value!r}")
    return found


def _item(
    run: _Run,
    it: atol.ItemV4 | atol.ItemV5,
    at: str,
    default_rate: VatRate | None,
    agent0: tuple[Agent, int] | None,
    supplier0: tuple[Supplier, int] | None,
) -> tuple[Item | None, int, str | None]:
    """One item -> (Item, or None when it has issues; its 1059 size; the full gs1m code).

    ``agent0``/``supplier0`` are the receipt-level ones with their data sizes (v5), inherited by an item without
    its own. Rare fields go through ``extra`` so that the common item is built with few keywords (2.5× faster).
    """
    start = len(run.issues)
    name = run.text(it.name, at, "name", _L[1030], True)
    # The converters' fast paths inline; the checkers run only to record what is wrong.
    if (price := _kopecks(it.price)) is None:
        price = run.money(it.price, at, "price")
    if (quantity := _quantity(it.quantity)) is None:
        quantity = run.quantity(it.quantity, at)
    if (amount := _kopecks(it.sum)) is None:
        amount = run.money(it.sum, at, "sum")
    if price is not None and quantity is not None and amount is not None:
        expected = _item_sum(price, quantity)
        if expected > MAX_KOPECKS:
            run.fail(at + "sum", "too_large", f"цена × количество = {_rub(expected)}, больше 42 949 672.95")
        elif amount != expected:
            run.fail(
                at + "sum",
                "sum_mismatch",
                f"sum {_rub(amount)} ≠ price × quantity = {_rub(expected)} (округление до копейки, половина вверх)",
            )
    extra: dict[str, Any] = _EMPTY
    vat = it.vat
    if vat is None:
        rate = default_rate
        if rate is None:
            run.fail(at + "vat", "vat_required", "нужна ставка НДС позиции: vats чека не задают единственную ставку")
    else:
        if (rate := _VAT_TYPES.get(vat.type)) is None:
            rate = run.vat_type(vat.type, at + "vat.")
        if vat.sum is not None and (vat_sum := run.money(vat.sum, at + "vat.", "sum")) is not None:
            if vat_sum and rate is not None and rate.included_fraction is None:
                run.fail(at + "vat.sum", "vat_sum_mismatch", "для none и vat0 сумма НДС равна 0")
            elif amount is not None and vat_sum > amount:
                run.fail(at + "vat.sum", "vat_sum_too_large", "НДС позиции больше её стоимости")
            extra = {"vat_sum": vat_sum}
    size = _ITEM_FIXED + (len(name) if name else 0)
    if (
        it.user_data is not None
        or it.excise is not None
        or it.country_code is not None
        or it.declaration_number is not None
        or it.agent_info is not None
        or it.supplier_info is not None
        or agent0 is not None
        or supplier0 is not None
    ):
        extra = dict(extra)
        size += _item_extras(run, it, at, agent0, supplier0, extra)
    full = None
    if isinstance(it, atol.ItemV5):
        if (method := _METHODS.get(it.payment_method)) is None:  # type: ignore[arg-type]  # None -> None
            method = _choice(run, it.payment_method, at, "payment_method", _METHODS, None)
        if (subject := _SUBJECTS_V5.get(it.payment_object)) is None:  # type: ignore[arg-type]
            subject = _choice(run, it.payment_object, at, "payment_object", _SUBJECTS_V5, None)
        measure = None
        if it.measure is None:
            run.fail(at + "measure", "required", "мера количества (2108) обязательна в ФФД 1.2")
        elif (measure := atol.MEASURES.get(it.measure)) is None:
            run.fail(at + "measure", "measure_unknown", f"неизвестный код меры количества {it.measure}")
        if (
            it.mark_code is not None
            or it.mark_quantity is not None
            or it.mark_processing_mode is not None
            or it.sectoral_item_props is not None
            or it.planned_status is not None
        ):
            extra = dict(extra)
            more, full = _item_marking(run, it, at, quantity, extra)
            size += more
        if it.measurement_unit is not None or it.nomenclature_code is not None:
            run.foreign(it, _V5_ITEM_FOREIGN, at, True)
        unit = None
    else:
        method = _V4_METHOD if it.payment_method is None else _METHODS.get(it.payment_method)
        if method is None:
            method = _choice(run, it.payment_method, at, "payment_method", _METHODS, _V4_METHOD)
        subject = _V4_SUBJECT if it.payment_object is None else _SUBJECTS_V4.get(it.payment_object)
        if subject is None:
            subject = _choice(run, it.payment_object, at, "payment_object", _SUBJECTS_V4, _V4_SUBJECT)
        measure = None
        unit = run.text(it.measurement_unit, at, "measurement_unit", _L[1197]) if it.measurement_unit else None
        if unit is not None:
            size += 4 + len(unit)
        if it.nomenclature_code and (code := _nomenclature(run, it.nomenclature_code, at)) is not None:
            extra = {**extra, "product_code": code}
            size += 4 + len(code)
        if (
            it.measure is not None
            or it.mark_code is not None
            or it.mark_quantity is not None
            or it.mark_processing_mode is not None
            or it.sectoral_item_props is not None
            or it.planned_status is not None
        ):
            run.foreign(it, _V4_ITEM_FOREIGN, at, False)
    if len(run.issues) > start:
        return None, size, None
    # Every checker records an issue when it returns None for a required field, so all are set here.
    assert name is not None and price is not None and quantity is not None and amount is not None and rate is not None
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
        **extra,
    )
    return item, size, full


# --------------------------------------------------------------------------- the document

_Body = atol.ReceiptBodyV4 | atol.ReceiptBodyV5 | atol.CorrectionBodyV4 | atol.CorrectionBodyV5


def _vats(run: _Run, vats: list[atol.Vat], b: str) -> list[tuple[VatRate, int | None, int]]:
    """Receipt-level ``vats`` -> [(rate, sum in kopecks or None, index)] of the valid entries."""
    if not 1 <= len(vats) <= 6:
        run.fail(b + "vats", "count", f"от 1 до 6 ставок, передано {len(vats)}")
    parsed: list[tuple[VatRate, int | None, int]] = []
    seen: set[VatRate] = set()
    for j, v in enumerate(vats[:6]):
        at = f"{b}vats[{j}]."
        rate = run.vat_type(v.type, at)
        amount = run.money(v.sum, at, "sum", required=False)
        if rate is not None:
            if rate in seen:
                run.fail(at + "type", "vat_duplicate", f"ставка {v.type} указана дважды")
            seen.add(rate)
            parsed.append((rate, amount, j))
    return parsed


def _vat_sums(
    run: _Run, parsed: list[tuple[VatRate, int | None, int]], items: list[Item], total: int, b: str
) -> tuple[VatSum, ...]:
    """The receipt VAT tags' values from ``vats`` (see the module rules for none/vat0 and missing sums)."""
    turnover: dict[VatRate, int] = {}
    for item in items:
        turnover[item.vat] = turnover.get(item.vat, 0) + item.sum
    out = []
    for rate, amount, j in parsed:
        at = f"{b}vats[{j}]."
        if rate.included_fraction is None:  # 1104/1105 hold the settlement sum at 0 % / without VAT
            if items:
                t = turnover.get(rate, 0)
                if amount not in (None, 0, t):
                    run.fail(at + "sum", "vat_sum_mismatch", f"для none/vat0 sum — 0 или оборот по ставке {_rub(t)}")
                amount = t
            elif amount is None:
                run.fail(at + "sum", "required", "в чеке коррекции без позиций sum обязательна")
                continue
            elif amount == 0 and len(parsed) == 1:
                amount = total
        elif amount is None:
            if not items:
                run.fail(at + "sum", "required", "в чеке коррекции без позиций sum обязательна")
                continue
            amount = rate.vat_included(turnover.get(rate, 0))
        elif amount > total:
            run.fail(at + "sum", "vat_sum_too_large", f"НДС {_rub(amount)} больше итога {_rub(total)}")
        out.append(VatSum(rate=rate, amount=amount))
    return tuple(out)


def _payments(run: _Run, body: _Body, b: str) -> tuple[list[int], bool]:
    """-> (sums by ATOL payment type 0–4, whether every payment was valid)."""
    pays = body.payments
    if not 1 <= len(pays) <= 10:
        run.fail(b + "payments", "count", f"от 1 до 10 оплат, передано {len(pays)}")
    sums = [0, 0, 0, 0, 0]
    ok = bool(pays)
    for j, p in enumerate(pays[:10]):
        kind = p.type
        amount = _kopecks(p.sum)
        if amount is None:
            amount = run.money(p.sum, f"{b}payments[{j}].", "sum")
        if 0 <= kind <= 4:
            if amount is not None:
                sums[kind] += amount
                continue
        elif 5 <= kind <= 9:
            run.fail(
                f"{b}payments[{j}].type", "payment_type_unsupported", "расширенные виды оплаты 5–9: используйте 0–4"
            )
        else:
            run.fail(f"{b}payments[{j}].type", "payment_type_unknown", f"вид оплаты 0–4, передано {kind}")
        ok = False
    return sums, ok


def _cashless(run: _Run, details: list[atol.CashlessPayment], electronic: int | None, b: str) -> tuple[Any, int]:
    """``cashless_payments`` (1234) -> (1235 entries, their size); they must add up to the cashless sum."""
    out = []
    size = 0
    total = 0
    for j, c in enumerate(details):
        at = f"{b}cashless_payments[{j}]."
        amount = run.money(c.sum, at, "sum")
        if not 0 <= c.method <= 255:
            run.fail(at + "method", "format", "признак способа оплаты безналичными (1236) — 0..255")
        ids = run.text(c.id, at, "id", _L[1237])
        info = run.text(c.additional_info, at, "additional_info", _L[1238])
        if amount is not None:
            total += amount
            out.append(CashlessPayment(sum=amount, method=c.method, ids=ids, info=info))
            size += 4 + 10 + 5 + _size(ids, info)
    if size > REGISTRY[1234].max_length:
        run.fail(b + "cashless_payments", "too_large", "сведения об оплатах безналичными (1234) больше 4096 байт")
    if electronic is not None and total != electronic:
        run.fail(b + "cashless_payments", "cashless_mismatch", f"сумма {_rub(total)} ≠ безналичным {_rub(electronic)}")
    return tuple(out), size


def _rare(run: _Run, body: _Body, b: str, v5: bool, extra: dict[str, Any]) -> int:
    """The rarely sent receipt fields into ``extra``; returns their TLV size."""
    size = 0
    if body.cashier_inn is not None and (inn := run.inn(body.cashier_inn, b, "cashier_inn")):
        extra["cashier_inn"] = inn
    if body.device_number is not None and (v := run.text(body.device_number, b, "device_number", _L[1036])):
        extra["device_number"] = v
    if body.additional_check_props is not None:
        extra["additional_check_prop"] = run.text(body.additional_check_props, b, "additional_check_props", _L[1192])
    if (up := body.additional_user_props) is not None:
        ua = b + "additional_user_props."
        prop_name = run.text(up.name, ua, "name", _L[1085], required=True)
        prop_value = run.text(up.value, ua, "value", _L[1086], required=True)
        if prop_name and prop_value:
            prop_size = _size(prop_name, prop_value)
            if prop_size > REGISTRY[1084].max_length:
                run.fail(ua[:-1], "too_large", f"доп. реквизит пользователя (1084) — {prop_size} байт, не более 320")
            extra["user_prop"] = UserProp(name=prop_name, value=prop_value)
            size += 4 + prop_size
    if body.timezone is not None:
        if 1 <= body.timezone <= 11:
            extra["timezone"] = body.timezone
        else:
            run.fail(b + "timezone", "timezone_range", "часовая зона (1011) — 1..11 (1 = UTC+2, 2 = Москва)")
    if isinstance(body, atol.ReceiptBodyV4):
        run.foreign(body, _V4_RECEIPT_FOREIGN, b, False)
    elif isinstance(body, (atol.ReceiptBodyV5, atol.CorrectionBodyV5)):
        if (ocp := body.operating_check_props) is not None:
            oa = b + "operating_check_props."
            op_id = int(ocp.name) if ocp.name.isascii() and ocp.name.isdigit() and int(ocp.name) <= 255 else None
            if op_id is None:
                run.fail(oa + "name", "format", "идентификатор операции (1271) — число 0..255")
            op_data = run.text(ocp.value, oa, "value", _L1272, required=True)
            try:
                op_when: _dt.datetime | None = atol.parse_datetime(ocp.timestamp)
            except ValueError:
                run.fail(oa + "timestamp", "timestamp_format", "ожидается dd.mm.yyyy HH:MM:SS")
                op_when = None
            if op_id is not None and op_data and op_when:
                extra["operational_props"] = OperationalProp(id=op_id, data=op_data, when=op_when)
        if body.sectoral_check_props:
            industry, industry_size = _sectoral(run, body.sectoral_check_props, b + "sectoral_check_props")
            extra["industry_check_props"] = industry
            size += industry_size
    if isinstance(body, (atol.CorrectionBodyV4, atol.CorrectionBodyV5)):
        ci = body.correction_info
        cia = b + "correction_info."
        kind = atol.CORRECTION_TYPES.get(ci.type)
        if kind is None:
            run.fail(
                cia + "type", "correction_type_unknown", f"тип коррекции self или instruction, передано {ci.type!r}"
            )
        base_date = run.date(ci.base_date, cia, "base_date", required=True)
        base_number = run.text(ci.base_number, cia, "base_number", _L1179)
        if base_number is None and not ci.base_number and (not v5 or kind is CorrectionType.BY_ORDER):
            run.fail(cia + "base_number", "required", "номер предписания (1179) обязателен в ФФД 1.05 и по предписанию")
        extra.update(correction_type=kind, base_date=base_date, base_number=base_number)
    return size


def _document(
    run: _Run, body: _Body, b: str, op: atol.Operation, v5: bool, group_inn: str | None, group_sno: int | None
) -> tuple[Receipt | None, tuple[tuple[int, str], ...]]:
    """The request body -> (the document, or None when there are issues; the full marking codes)."""
    correction = op.correction
    size = _RESERVE
    extra: dict[str, Any] = {}

    ca = b + "company."
    company = body.company
    inn = run.inn(company.inn, ca, "inn", required=True)
    if inn is not None and group_inn is not None and inn != group_inn.strip():
        run.fail(ca + "inn", "inn_mismatch", f"ИНН {inn} не совпадает с ИНН группы касс {group_inn}")
    place = run.text(company.payment_address, ca, "payment_address", 256, required=True)
    address = run.text(company.location, ca, "location", 256) if company.location is not None else None
    sender = run.email(company.email, ca, "email", required=not correction)
    tax = _sno(run, company.sno, ca, group_sno)

    contact = None
    if isinstance(body, atol.CorrectionBodyV4):
        for name in ("items", "client"):
            if getattr(body, name) is not None:
                run.fail(b + name, "not_in_version", "чек коррекции v4 (ФФД 1.05) не содержит items и client")
    elif body.client is not None:
        contact, buyer, buyer_size = _client(run, body.client, b + "client.", not correction)
        if buyer is not None:
            extra["buyer"] = buyer
            size += buyer_size

    parsed_vats: list[tuple[VatRate, int | None, int]] = []
    default_rate = None
    if body.vats is not None:
        parsed_vats = _vats(run, body.vats, b)
        if len(body.vats) == 1 and parsed_vats:
            default_rate = parsed_vats[0][0]  # an item without vat takes the receipt's only rate
    elif isinstance(body, atol.CorrectionBodyV4):
        run.fail(b + "vats", "required", "в чеке коррекции v4 vats обязательны")

    agent_r = supplier_r = None
    agent_size = supplier_size = 0
    if isinstance(body, (atol.ReceiptBodyV4, atol.ReceiptBodyV5)):
        if body.agent_info is not None:
            agent_r, agent_size = _agent(run, body.agent_info, b + "agent_info.")
        if body.supplier_info is not None:
            supplier_r, supplier_size = _supplier(run, body.supplier_info, b + "supplier_info.")
            for name in ("name", "inn") if not v5 else ():
                if getattr(body.supplier_info, name):
                    run.fail(f"{b}supplier_info.{name}", "not_in_version", "в ФФД 1.05 у чека — только phones")
        if not v5:  # FFD 1.05: 1057 and the 1223 tags stand at the top of the receipt (table 20)
            if agent_r is not None:
                extra["agent"] = agent_r
                size += 5 + agent_size
            if supplier_r is not None:
                extra["supplier"] = Supplier(phones=supplier_r.phones)
                size += supplier_size

    items: list[Item] = []
    marks: list[tuple[int, str]] = []
    items_ok = True
    if not isinstance(body, atol.CorrectionBodyV4):
        items_in: Sequence[atol.ItemV4 | atol.ItemV5] = body.items
        if not 1 <= len(items_in) <= 100:
            run.fail(b + "items", "count", f"от 1 до 100 позиций, передано {len(items_in)}")
            items_ok = not items_in
        # v5: the receipt-level agent and supplier go to every item without its own (no 1057 in FFD 1.2).
        agent0 = (agent_r, agent_size) if v5 and agent_r is not None else None
        supplier0 = (supplier_r, supplier_size) if v5 and supplier_r is not None else None
        for i, it in enumerate(items_in[:100]):
            item, item_size, full = _item(run, it, f"{b}items[{i}].", default_rate, agent0, supplier0)
            if item_size > _MAX_ITEM:
                run.fail(f"{b}items[{i}]", "too_large", f"позиция (1059) — {item_size} байт, допустимо не более 1024")
            size += 4 + item_size
            if item is None:
                items_ok = False
                continue
            items.append(item)
            if full is not None:
                marks.append((i, full))
        if agent0 is not None and any(i.agent is agent_r and (i.supplier is None or not i.supplier.inn) for i in items):
            run.fail(b + "supplier_info", "supplier_required", "при agent_info нужны supplier_info с ИНН поставщика")

    total: int | None = None
    if isinstance(body, atol.CorrectionBodyV4):
        total = run.money(body.total, b, "total", required=False)
    else:
        claimed = run.money(body.total, b, "total")
        if items_ok and items:
            total = 0
            for item in items:
                total += item.sum
            if total > MAX_KOPECKS:
                run.fail(b + "total", "too_large", f"сумма позиций {_rub(total)} больше 42 949 672.95")
            elif claimed is not None and claimed != total:
                if abs(claimed - total) <= TOTAL_TOLERANCE:
                    message = f"total {_rub(claimed)} ≠ сумме позиций {_rub(total)}: в чек записана сумма позиций"
                    run.warn(b + "total", "total_rounded", message)
                else:
                    run.fail(b + "total", "total_mismatch", f"total {_rub(claimed)} ≠ сумме позиций {_rub(total)}")
    sums, pay_ok = _payments(run, body, b)
    paid = sums[0] + sums[1] + sums[2] + sums[3] + sums[4]
    if total is None and isinstance(body, atol.CorrectionBodyV4) and body.total is None and pay_ok:
        total = paid  # an itemless v4 correction settles what its payments say
    if total is not None and pay_ok:
        if paid < total:
            run.fail(b + "payments", "payments_insufficient", f"оплаты {_rub(paid)} меньше итога {_rub(total)}")
        elif paid - total > sums[0]:
            message = f"переплата {_rub(paid - total)} больше наличных {_rub(sums[0])}: сдача бывает только наличными"
            run.fail(b + "payments", "change_not_cash", message)
    cashless: Any = ()
    if body.cashless_payments:
        cashless, cashless_size = _cashless(run, body.cashless_payments, sums[1] if pay_ok else None, b)
        size += cashless_size
    vat_sums = None
    if parsed_vats and total is not None and items_ok:
        vat_sums = _vat_sums(run, parsed_vats, items, total, b)

    cashier = run.text(body.cashier, b, "cashier", _L[1021]) if body.cashier is not None else None
    if (
        body.cashier_inn is not None
        or body.device_number is not None
        or body.additional_check_props is not None
        or body.additional_user_props is not None
        or body.timezone is not None
        or isinstance(body, (atol.CorrectionBodyV4, atol.CorrectionBodyV5))
        or body.operating_check_props is not None
        or body.sectoral_check_props is not None
    ):
        size += _rare(run, body, b, v5, extra)
    if size > _MAX_DOCUMENT:
        run.fail(b + "items", "too_large", f"документ больше {_MAX_DOCUMENT} байт: сократите позиции или тексты")
    if run.issues:
        return None, ()
    assert tax is not None and total is not None
    payments = Payments(
        cash=sums[0], electronic=sums[1], prepaid=sums[2], credit=sums[3], provision=sums[4], cashless=cashless
    )
    doc = (Correction if correction else Receipt)(
        settlement_sign=op.settlement_sign,
        tax_system=tax,
        items=tuple(items),
        payments=payments,
        total=total,
        vats=vat_sums,
        client_contact=contact,
        cashier=cashier,
        sender_email=sender,
        settlement_address=address,
        settlement_place=place,
        internet=bool(body.internet),
        **extra,
    )
    return doc, tuple(marks)


# --------------------------------------------------------------------------- decoding and entry points

_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {
    t: msgspec.json.Decoder(t)
    for t in (
        atol.ReceiptRequestV4,
        atol.CorrectionRequestV4,
        atol.ReceiptRequestV5,
        atol.CorrectionRequestV5,
        atol.TokenRequest,
    )
}
_PACK = msgspec.msgpack.Encoder()


def _shape_issue(exc: msgspec.ValidationError, top: str) -> tuple[Issue, bool]:
    """msgspec's "<what> - at `$.receipt.items[3].price`" -> (Issue at ``receipt.items[3].price``, at the root)."""
    text, sep, where = str(exc).rpartition(" - at `")
    if not sep:
        text, where = str(exc), ""
    path = where.rstrip("`").removeprefix("$").removeprefix(".")
    code = "invalid"
    if text.startswith("Object missing required field `"):
        field = text.split("`")[1]
        path = f"{path}.{field}" if path else field
        code = "required"
    elif text.startswith("Expected `"):
        code = "type"
    elif text.startswith("Invalid decimal"):
        code = "not_a_number"
    full = (top + path) if path else top.rstrip(".")
    # Only "the body is not an object" is a root error (ATOL 13); a missing top-level field is a field error.
    return Issue(path=full, code=code, message=f"неверная структура: {text}"), not path


def _decode(raw: bytes | bytearray | memoryview, typ: type[Any], top: str) -> Any:
    data = raw if isinstance(raw, bytes) else bytes(raw)
    if data[:3] == _BOM:
        data = data[3:]  # some Windows clients prepend a UTF-8 byte order mark
    where = top.rstrip(".")
    try:
        return _DECODERS[typ].decode(data)
    except msgspec.ValidationError as exc:
        issue, root = _shape_issue(exc, top)
        raise RequestInvalid([issue], 13 if root else 32) from None
    except msgspec.DecodeError as exc:
        raise RequestInvalid(
            [Issue(path=where, code="malformed_json", message=f"некорректный JSON: {exc}")], 40
        ) from None
    except UnicodeDecodeError:
        raise RequestInvalid(
            [Issue(path=where, code="not_utf8", message="тело запроса не в кодировке UTF-8")], 41
        ) from None


def validate(
    raw: bytes | bytearray | memoryview | atol.Request,
    *,
    version: int,
    operation: str,
    group_inn: str | None,
    group_ffd: str,
    path_prefix: str = "",
    group_sno: int | None = None,
) -> Validated:
    """Validate one ATOL request for ``operation`` (``sell``, …) in API ``version`` (4 or 5) on a group whose
    registers run ``group_ffd`` ("1.05" or "1.2"); raise :class:`RequestInvalid` with every issue found.

    ``raw`` is the JSON body, or a request Struct already decoded with :func:`atol.request_type` (bulk API,
    whose paths start with ``path_prefix``, e.g. ``"receipts[7]."``). ``group_inn`` is compared with
    ``company.inn`` when given; ``group_sno`` (the group's 1062 bitmask) supplies ``company.sno`` when the
    request omits it and the group has one tax system, and refuses a tax system the group is not registered for.
    ``ValueError`` for a version other than 4 or 5; ``TypeError`` for a Struct of the wrong type.
    """
    if version not in _FFD_OF_VERSION:
        raise ValueError(f"API version {version} is not served (4 or 5)")
    top = path_prefix
    op = atol.OPERATIONS.get(operation)
    if op is None or version not in op.versions:
        message = f"операция {operation!r} не поддерживается в API v{version}"
        raise RequestInvalid([Issue(path=top.rstrip("."), code="operation_not_supported", message=message)], 31)
    if group_ffd != _FFD_OF_VERSION[version]:
        message = f"группа касс работает по ФФД {group_ffd}: API v4 — для ФФД 1.05, v5 — для ФФД 1.2"
        raise RequestInvalid([Issue(path=top.rstrip("."), code="protocol_mismatch", message=message)], 21)
    typ = atol.request_type(version, operation)
    if isinstance(raw, (bytes, bytearray, memoryview)):
        req = _decode(raw, typ, top)
    elif isinstance(raw, typ):
        req = raw
    else:
        raise TypeError(f"expected JSON bytes or {typ.__name__}, got {type(raw).__name__}")

    run = _Run()
    external_id = req.external_id
    if not external_id:
        run.fail(top + "external_id", "required", "external_id обязателен")
    elif len(external_id) > 128:
        run.fail(top + "external_id", "too_long", f"не более 128 символов, передано {len(external_id)}")
    timestamp = None
    try:
        timestamp = _parse_timestamp(req.timestamp) if len(req.timestamp) == 19 else atol.parse_datetime(req.timestamp)
    except ValueError:
        run.fail(top + "timestamp", "timestamp_format", f"ожидается dd.mm.yyyy HH:MM:SS, передано {req.timestamp!r}")
    callback = None
    if req.service is not None and req.service.callback_url:
        url = req.service.callback_url
        if len(url) <= 256 and _callback_ok(url):
            callback = url
        else:  # §1.5: not an error, the request goes through without a callback
            run.warn(top + "service.callback_url", "callback_url", "callback_url не соответствует маске")
    if op.correction:
        body: _Body = req.correction
        b = top + "correction."
    else:
        body = req.receipt
        b = top + "receipt."
    doc, marks = _document(run, body, b, op, version == 5, group_inn, group_sno)
    if run.issues:
        raise RequestInvalid(run.issues, 32)
    assert doc is not None and timestamp is not None
    packed = _PACK.encode(doc)
    return Validated(
        external_id=external_id,
        timestamp=timestamp,
        callback_url=callback,
        operation=operation,
        version=version,
        document=doc,
        warnings=() if run.warnings is None else tuple(run.warnings),
        packed=packed,
        timestamp_text=req.timestamp if len(req.timestamp) == 19 else atol.format_datetime(timestamp),
        ism_optional=bool(getattr(req, "ism_optional", False)),
        mark_codes=marks,
        sums=document_sums(doc),
    )


def validate_token_request(raw: bytes | bytearray | memoryview) -> atol.TokenRequest:
    """``getToken`` body -> :class:`atol.TokenRequest`; ATOL answers bad ones with 32 (§1.3's observed quirk)."""
    req: atol.TokenRequest = _decode(raw, atol.TokenRequest, "")
    run = _Run()
    if not req.login:
        run.fail("login", "required", "login обязателен")
    if not req.pass_:
        run.fail("pass", "required", "pass обязателен")
    if req.source is not None and len(req.source) > 100:
        run.fail("source", "too_long", "не более 100 символов")
    if run.issues:
        raise RequestInvalid(run.issues, 32)
    return req
