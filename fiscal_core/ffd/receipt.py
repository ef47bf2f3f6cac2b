"""The validated receipt in FFD terms: what the API layer produces from ATOL v4/v5 JSON and the drive signs.

Rules
- Structs are frozen msgspec Structs with keyword-only fields. Money is integer kopecks (VLN, at most 6 bytes);
  a quantity is an ``int`` for piece goods or an exact :class:`~decimal.Decimal` whose exponent is the FVLN scale
  (``Decimal("0.876")`` is written with 3 digits after the point). Never a float.
- Encoding leaves out the fields at their defaults (``omit_defaults``): the journal keeps every receipt as
  msgpack, and a 10-item receipt packs to about a third of its every-field size, twice as fast. Decoding fills
  the defaults back in, so both packings read the same (``api.intake.same_payload`` compares a repeat with
  entries packed the older way).
- Every field names its FFD tag in ``Meta(extra={"tag": N})``. String limits come from the tag registry, so
  ``msgspec.convert(obj, Receipt)`` (or ``msgspec.json.decode(..., type=Receipt)``) refuses an over-long or empty
  value with a path like ``$.items[3].name``. Direct construction skips those checks; :func:`check_sums` and
  :func:`check_text` hold in both cases.
- A field that exists in one FFD version only says so in its comment; the document builders
  (:mod:`fiscal_core.ffd.documents`) refuse it in the other version with a :class:`ReceiptError` naming it.
- :func:`check_sums` is the arithmetic the drive relies on: ``sum = price × quantity`` rounded half up to the
  kopeck, ``total = Σ item sums``, payments cover the total, and any overpayment is change from cash.
- VAT is always *inside* the amount (Russian receipts are VAT-inclusive): ``vat_amount(sum, rate)`` rounds
  ``sum × r / (100 + r)`` half up. A receipt's per-rate VAT is computed on the per-rate turnover, not summed from
  rounded item VATs: the real 2026 receipt (ffd.md §7.4) gives 2872 for 31 595 at 10/110, where Σ rounded item
  VATs would be 2873.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from msgspec import Meta, Struct

from fiscal_core.errors import FieldError
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
from fiscal_core.ffd.tags import REGISTRY

__all__ = [
    "MAX_ITEMS",
    "MAX_MONEY",
    "Agent",
    "AgentData",
    "Buyer",
    "CashlessPayment",
    "Correction",
    "Fraction",
    "IndustryProp",
    "Item",
    "MarkingCode",
    "OperationalProp",
    "Payments",
    "Quantity",
    "Receipt",
    "ReceiptError",
    "Supplier",
    "UserProp",
    "VatSum",
    "check_sums",
    "check_text",
    "document_sums",
    "item_sum",
    "payload_digest",
    "vat_amount",
    "vat_totals",
]

MAX_MONEY = (1 << 48) - 1  # money tags are VLN of at most 6 bytes (ffd.md §3.2)
MAX_ITEMS = 100  # ATOL v4/v5: 1..100 positions (cloud-api.md §1.5, §1.10)
_MAX_QUANTITY_MANTISSA = (1 << 56) - 1  # 1023 is FVLN of at most 8 bytes: 1 scale byte + 7 mantissa bytes
_PRODUCT_CODE_TAGS = frozenset(REGISTRY[1163].children or ())


class ReceiptError(FieldError):
    """A receipt that the register cannot issue; ``path`` names the field, e.g. ``items[3].sum``."""

    code = "receipt_invalid"
    top = "(receipt)"


# --------------------------------------------------------------------------- field metadata


def _tag(tag: int) -> Meta:
    return Meta(extra={"tag": tag})


def _text(tag: int) -> Meta:
    """A non-empty string within the tag's CP866 byte limit (one byte per character in CP866)."""
    return Meta(min_length=1, max_length=REGISTRY[tag].max_length, extra={"tag": tag})


def _digits(tag: int, pattern: str) -> Meta:
    return Meta(pattern=pattern, max_length=REGISTRY[tag].max_length, extra={"tag": tag})


def _money(tag: int) -> Meta:
    return Meta(ge=0, le=MAX_MONEY, extra={"tag": tag})


_INN = "^(?:[0-9]{10}|[0-9]{12})$"  # 10 digits for companies, 12 for individuals (ffd.md §12.7)
Quantity = int | Decimal  # 1023: see the module rules; positivity and size are checked by check_sums


# --------------------------------------------------------------------------- item structures


class MarkingCode(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """1163 «код товара» (FFD 1.2): exactly one 13xx sub-tag holding the raw code."""

    kind: Annotated[int, Meta(ge=1300, le=1325)]  #: the sub-tag: 1300 unrecognised … 1305 GS1.М … 1320–1325 Ф.1–Ф.6
    code: Annotated[str, Meta(min_length=1, max_length=256)]  #: raw code; the sub-tag's own limit applies at encoding


class Fraction(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """1291 «дробное количество маркированного товара» (FFD 1.2): 1292 "n/m", 1293 n, 1294 m."""

    numerator: Annotated[int, Meta(ge=1, le=(1 << 63) - 1, extra={"tag": 1293})]  # msgspec bounds are int64
    denominator: Annotated[int, Meta(ge=1, le=(1 << 63) - 1, extra={"tag": 1294})]


class IndustryProp(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """1260 (item) / 1261 (receipt) «отраслевой реквизит» (FFD 1.2, table 102)."""

    foiv_id: Annotated[str, _digits(1262, "^[0-9]{3}$")]  #: ФОИВ id, e.g. "030"
    doc_date: Annotated[_dt.date, _tag(1263)]  #: written as "DD.MM.YYYY"
    doc_number: Annotated[str, _text(1264)]
    value: Annotated[str, _text(1265)]


class AgentData(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """1223 «данные агента» (tables 22/98). In a 1.05 receipt the same tags stand at the top level (table 20)."""

    operation: Annotated[str, _text(1044)] | None = None  #: операция платёжного агента
    agent_phones: tuple[Annotated[str, _text(1073)], ...] = ()  #: телефон платёжного агента
    operator_phones: tuple[Annotated[str, _text(1074)], ...] = ()  #: телефон оператора по приёму платежей
    transfer_operator_phones: tuple[Annotated[str, _text(1075)], ...] = ()  #: телефон оператора перевода
    transfer_operator_name: Annotated[str, _text(1026)] | None = None
    transfer_operator_address: Annotated[str, _text(1005)] | None = None
    transfer_operator_inn: Annotated[str, _digits(1016, _INN)] | None = None

    def is_empty(self) -> bool:
        return not any(msgspec.structs.astuple(self))


class Agent(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """ATOL ``agent_info``: the agent bitmask (1222 per item; 1057 per 1.05 receipt) and its data (1223)."""

    types: Annotated[AgentType, _tag(1222)]
    data: AgentData | None = None


class Supplier(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """ATOL ``supplier_info``: 1224 {1171 phones, 1225 name} and 1226 INN (item level)."""

    phones: tuple[Annotated[str, _text(1171)], ...] = ()
    name: Annotated[str, _text(1225)] | None = None
    inn: Annotated[str, _digits(1226, _INN)] | None = None


class Item(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """1059 «предмет расчёта» (tables 21/97)."""

    name: Annotated[str, _text(1030)]
    price: Annotated[int, _money(1079)]  #: per unit, discounts included
    quantity: Annotated[Quantity, _tag(1023)]
    sum: Annotated[int, _money(1043)]  #: = round_half_up(price × quantity)
    vat: Annotated[VatRate, _tag(1199)]
    vat_sum: Annotated[int, _money(1200)] | None = None  #: computed by the builder when absent
    unit_vat: Annotated[int, _money(1198)] | None = None
    subject: Annotated[ItemSubject, _tag(1212)]  #: ATOL payment_object
    method: Annotated[PaymentMethod, _tag(1214)]  #: ATOL payment_method
    measure: Annotated[MeasureUnit, _tag(2108)] | None = None  #: FFD 1.2 (mandatory there)
    unit_name: Annotated[str, _text(1197)] | None = None  #: FFD 1.05 free-text unit
    product_code: Annotated[bytes, Meta(min_length=1, max_length=32, extra={"tag": 1162})] | None = None  #: 1.05
    marking: Annotated[MarkingCode, _tag(1163)] | None = None  #: FFD 1.2
    marking_mode: Annotated[int, Meta(ge=0, le=255, extra={"tag": 2102})] | None = None  #: FFD 1.2
    check_result: Annotated[int, Meta(ge=0, le=255, extra={"tag": 2106})] | None = None  #: FFD 1.2 bitmask
    fraction: Annotated[Fraction, _tag(1291)] | None = None  #: FFD 1.2
    industry_props: Annotated[tuple[IndustryProp, ...], _tag(1260)] = ()  #: FFD 1.2
    #: ATOL v5 ``planned_status`` (2003). Not a child of 1059 (table 97): it belongs to the marking request and
    #: notification (forms 81/82), so the receipt builder does not write it.
    planned_status: Annotated[int, Meta(ge=1, le=255, extra={"tag": 2003})] | None = None
    user_data: Annotated[str, _text(1191)] | None = None
    excise: Annotated[int, _money(1229)] | None = None
    country_code: Annotated[str, _digits(1230, "^[0-9]{3}$")] | None = None
    declaration_number: Annotated[str, _text(1231)] | None = None
    agent: Agent | None = None  #: 1222 + 1223
    supplier: Supplier | None = None  #: 1224 + 1226


# --------------------------------------------------------------------------- receipt structures


class CashlessPayment(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """1235 «сведения об оплате безналичными» inside 1234 (2025): the list must add up to 1081."""

    sum: Annotated[int, _money(1082)]
    method: Annotated[int, Meta(ge=0, le=255, extra={"tag": 1236})]  #: признак способа оплаты безналичными
    ids: Annotated[str, _text(1237)] | None = None
    info: Annotated[str, _text(1238)] | None = None


class Payments(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Payment sums by kind (ATOL payment types 0–4). The document tags are always written, zero allowed."""

    cash: Annotated[int, _money(1031)] = 0
    electronic: Annotated[int, _money(1081)] = 0
    prepaid: Annotated[int, _money(1215)] = 0  #: зачёт аванса
    credit: Annotated[int, _money(1216)] = 0  #: постоплата
    provision: Annotated[int, _money(1217)] = 0  #: встречное предоставление
    cashless: Annotated[tuple[CashlessPayment, ...], _tag(1234)] = ()

    @property
    def total(self) -> int:
        return self.cash + self.electronic + self.prepaid + self.credit + self.provision

    def change(self, total: int) -> int:
        """Change given back from cash when the payments exceed ``total`` (0 otherwise)."""
        return max(0, self.total - total)


class Buyer(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """ATOL ``client``: 1227/1228 at the top of a 1.05 receipt; in 1.2 all of them inside 1256 (table 115)."""

    name: Annotated[str, _text(1227)] | None = None
    inn: Annotated[str, _digits(1228, _INN)] | None = None
    birth_date: Annotated[_dt.date, _tag(1243)] | None = None  #: FFD 1.2, written "DD.MM.YYYY"
    citizenship: Annotated[str, _digits(1244, "^[0-9]{3}$")] | None = None  #: FFD 1.2, ОКСМ code
    doc_code: Annotated[str, _digits(1245, "^[0-9]{2}$")] | None = None  #: FFD 1.2, e.g. "21" = passport
    doc_data: Annotated[str, _text(1246)] | None = None  #: FFD 1.2
    address: Annotated[str, _text(1254)] | None = None  #: FFD 1.2


class UserProp(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """1084 «дополнительный реквизит пользователя» (ATOL ``additional_user_props``)."""

    name: Annotated[str, _text(1085)]
    value: Annotated[str, _text(1086)]


class OperationalProp(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """1270 «операционный реквизит чека» (FFD 1.2, table 119)."""

    id: Annotated[int, Meta(ge=0, le=255, extra={"tag": 1271})]
    data: Annotated[str, _text(1272)]
    when: Annotated[_dt.datetime, _tag(1273)]  #: naive local wall-clock time


class VatSum(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A receipt-level VAT entry (ATOL ``vats[]``): the value of the rate's receipt tag.

    For rates with VAT it is the VAT sum (1102/1103/1106/1107, or 1120 in 1115 for rates 7–12); for 0 % (1104)
    and «без НДС» (1105) it is the settlement amount. Given, it replaces what the builder computes from the items.
    """

    rate: Annotated[VatRate, _tag(1199)]
    amount: Annotated[int, Meta(ge=0, le=MAX_MONEY)]


class Receipt(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A receipt (form 3). Identity tags (FN, RNM, seller INN/name, …) come from the drive, not from here."""

    settlement_sign: Annotated[SettlementSign, _tag(1054)]
    tax_system: Annotated[TaxSystem, _tag(1055)]  #: exactly one bit
    items: Annotated[tuple[Item, ...], Meta(max_length=MAX_ITEMS, extra={"tag": 1059})]
    payments: Payments
    total: Annotated[int, _money(1020)]
    vats: tuple[VatSum, ...] | None = None  #: receipt-level VAT (ATOL ``vats``); wins over the items' rates
    client_contact: Annotated[str, _text(1008)] | None = None  #: phone or e-mail
    buyer: Buyer | None = None
    cashier: Annotated[str, _text(1021)] | None = None
    cashier_inn: Annotated[str, _digits(1203, _INN)] | None = None
    sender_email: Annotated[str, _text(1117)] | None = None  #: overrides the drive's
    settlement_address: Annotated[str, _text(1009)] | None = None  #: overrides the drive's
    settlement_place: Annotated[str, _text(1187)] | None = None  #: overrides the drive's (the site for internet sales)
    additional_check_prop: Annotated[str, _text(1192)] | None = None
    user_prop: Annotated[UserProp, _tag(1084)] | None = None
    internet: Annotated[bool, _tag(1125)] = False  #: признак расчёта в «Интернет» (2025)
    timezone: Annotated[int, Meta(ge=1, le=11, extra={"tag": 1011})] | None = None  #: 1 = UTC+2, 2 = Moscow
    operational_props: Annotated[OperationalProp, _tag(1270)] | None = None  #: FFD 1.2
    industry_check_props: Annotated[tuple[IndustryProp, ...], _tag(1261)] = ()  #: FFD 1.2
    marking_check_result: Annotated[int, Meta(ge=0, le=255, extra={"tag": 2107})] | None = None  #: FFD 1.2
    device_number: Annotated[str, _text(1036)] | None = None  #: overrides the drive's automat number
    agent: Agent | None = None  #: FFD 1.05 only: 1057 + the 1223 tags at the top level (table 20)
    supplier: Supplier | None = None  #: FFD 1.05 only: phones (1171) at the top level (table 20)


class Correction(Receipt, frozen=True, kw_only=True, omit_defaults=True):
    """A correction receipt (form 31). FFD 1.2 needs items (table 120); 1.05 may have none (table 27)."""

    correction_type: Annotated[CorrectionType, _tag(1173)]
    base_date: Annotated[_dt.date, _tag(1178)]  #: encoded as the unixtime of local midnight
    base_number: Annotated[str, _text(1179)] | None = None  #: the tax order's number; mandatory in 1.05


# --------------------------------------------------------------------------- arithmetic


def _quantity_parts(quantity: Quantity) -> tuple[int, int]:
    """(mantissa, scale) with quantity = mantissa / 10**scale; ValueError if not a positive finite number."""
    if isinstance(quantity, bool) or not isinstance(quantity, (int, Decimal)):
        raise ValueError("a quantity is an int or a Decimal")
    if isinstance(quantity, int):
        mantissa, scale = quantity, 0
    else:
        if not quantity.is_finite():
            raise ValueError("a quantity must be finite")
        sign, digits, exponent = quantity.as_tuple()
        assert isinstance(exponent, int)
        mantissa = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
        if exponent >= 0:
            mantissa, scale = mantissa * 10**exponent, 0
        else:
            scale = -exponent
    if mantissa <= 0:
        raise ValueError("a quantity must be positive")
    return mantissa, scale


def item_sum(price: int, quantity: Quantity) -> int:
    """``price × quantity`` rounded half up to the kopeck, in exact integer arithmetic."""
    mantissa, scale = _quantity_parts(quantity)
    divisor: int = 10**scale
    return (2 * price * mantissa + divisor) // (2 * divisor)


def vat_amount(amount: int, rate: int) -> int:
    """VAT inside the VAT-inclusive ``amount`` at ``rate`` (a 1199 code), rounded half up; 0 for 0 % and no VAT."""
    return VatRate(rate).vat_included(amount)


def vat_totals(items: Iterable[Item]) -> dict[VatRate, tuple[int, int]]:
    """Per rate, in rate order: ``(vat_sum, turnover)``; the VAT is computed on the rate's whole turnover."""
    turnover: dict[VatRate, int] = {}
    for item in items:
        rate = VatRate(item.vat)
        turnover[rate] = turnover.get(rate, 0) + item.sum
    return {rate: (vat_amount(turnover[rate], rate), turnover[rate]) for rate in sorted(turnover)}


def check_sums(receipt: Receipt) -> None:
    """Raise :class:`ReceiptError` with the field path at the first inconsistency, else return None."""
    items = receipt.items
    if isinstance(receipt, Correction):
        if len(items) > MAX_ITEMS:
            raise ReceiptError(f"at most {MAX_ITEMS} items", "items")
    elif not 1 <= len(items) <= MAX_ITEMS:
        raise ReceiptError(f"a receipt has 1..{MAX_ITEMS} items, got {len(items)}", "items")
    tax = int(receipt.tax_system)
    if tax <= 0 or tax & (tax - 1) or tax not in {int(t) for t in TaxSystem}:
        raise ReceiptError(f"1055 must be exactly one known tax system bit, got {tax}", "tax_system")
    for i, item in enumerate(items):
        _check_item(item, f"items[{i}]")
    if items:
        expected = sum(item.sum for item in items)
        if receipt.total != expected:
            raise ReceiptError(f"total {receipt.total} != sum of the item sums {expected}", "total")
    if receipt.total > MAX_MONEY:
        raise ReceiptError("does not fit in 6 bytes", "total")
    _check_payments(receipt.payments, receipt.total)
    if receipt.vats is not None:
        seen: set[int] = set()
        for i, entry in enumerate(receipt.vats):
            if int(entry.rate) in seen:
                raise ReceiptError(f"rate {int(entry.rate)} is given twice", f"vats[{i}].rate")
            seen.add(int(entry.rate))


def _check_item(item: Item, path: str) -> None:
    try:
        mantissa, _ = _quantity_parts(item.quantity)
    except ValueError as exc:
        raise ReceiptError(str(exc), f"{path}.quantity") from None
    if mantissa > _MAX_QUANTITY_MANTISSA:
        raise ReceiptError("does not fit in an 8-byte FVLN", f"{path}.quantity")
    expected = item_sum(item.price, item.quantity)
    if item.sum != expected:
        raise ReceiptError(
            f"sum {item.sum} != price {item.price} x quantity {item.quantity} = {expected} (rounded half up)",
            f"{path}.sum",
        )
    if item.vat_sum is not None and item.vat_sum > item.sum:
        raise ReceiptError("the VAT of an item cannot exceed its sum", f"{path}.vat_sum")
    if item.marking is not None and item.marking.kind not in _PRODUCT_CODE_TAGS:
        raise ReceiptError(f"{item.marking.kind} is not a 1163 sub-tag", f"{path}.marking.kind")


def _check_payments(payments: Payments, total: int) -> None:
    paid = payments.total
    if paid < total:
        raise ReceiptError(f"payments {paid} do not cover the total {total}", "payments")
    if paid - total > payments.cash:
        # Change can only be handed back in cash: a card or an advance is charged the exact amount.
        raise ReceiptError(
            f"payments exceed the total by {paid - total}, more than the cash {payments.cash} (change is cash only)",
            "payments",
        )
    if payments.cashless:
        details = sum(p.sum for p in payments.cashless)
        if details != payments.electronic:
            raise ReceiptError(
                f"cashless details add up to {details}, not to the electronic sum {payments.electronic}",
                "payments.cashless",
            )


def check_text(receipt: Receipt) -> None:
    """Raise :class:`ReceiptError` at the first string CP866 cannot hold (the FFD text encoding, ffd.md §1).

    Mapping such characters (say «» to "") is request validation's job, which must report what it changed.
    """
    _walk_text(receipt, "")


def _walk_text(value: Any, path: str) -> None:
    if isinstance(value, str):
        if not cp866.can_encode(value):
            bad = next(ch for ch in value if not cp866.can_encode(ch))
            raise ReceiptError(f"character {bad!r} has no CP866 byte", path)
    elif isinstance(value, Struct):
        for name in value.__struct_fields__:
            _walk_text(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, tuple):
        for i, element in enumerate(value):
            _walk_text(element, f"{path}[{i}]")


#: 1199 code -> ``VatRate.vat_included`` of the rate, for the rates that carry VAT (keyed by the plain code: an
#: enum member hashes through Python code).
_VAT_INCLUDED: dict[int, Callable[[int], int]] = {
    int(r): r.vat_included for r in VatRate if r.included_fraction is not None
}


def document_sums(doc: Any) -> tuple[int, ...]:
    """A receipt's or correction's sums as the intake's report index (``agg``) adds them up:
    ``(cash, electronic, rate, turnover, vat, items, rate, …)``, the rates in the order they first appear in the
    items, then those only ``vats`` names. The VAT of a rate is the one ``vats`` states, else the rate's share of
    its turnover (as the document builder computes 1102–1107).

    ``doc`` is a :class:`Receipt` or anything with its ``items`` (``sum``, ``vat``), ``vats`` and ``payments``.
    Validation computes it once (``Validated.sums``; the fast path on its way through the items), so finishing
    a receipt never decodes its document.
    """
    turnover: dict[int, list[int]] = {}
    for item in doc.items:
        rate = int(item.vat)
        t = turnover.get(rate)
        if t is None:
            turnover[rate] = [item.sum, 0, 1]
        else:
            t[0] += item.sum
            t[2] += 1
    vats = doc.vats
    if vats is not None:
        for v in vats:
            rate = int(v.rate)
            t = turnover.get(rate)
            if t is None:
                turnover[rate] = [0, v.amount, 0]
            else:
                t[1] = v.amount
    else:
        for rate, t in turnover.items():
            vat_of = _VAT_INCLUDED.get(rate)
            if vat_of is not None:
                t[1] = vat_of(t[0])
    out = [doc.payments.cash, doc.payments.electronic]
    for rate, t in turnover.items():
        out += (rate, t[0], t[1], t[2])
    return tuple(out)


def payload_digest(operation: str, packed: bytes) -> bytes:
    """SHA-256 over ``operation\\n`` + ``packed`` (the msgpack of a validated document): the API's payload hash,
    which tells a repeated request with the same fiscal content from one with other content."""
    return hashlib.sha256(b"%s\n%s" % (operation.encode(), packed)).digest()
