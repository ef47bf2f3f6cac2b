"""ATOL Online v4 (FFD 1.05) and v5 (FFD 1.2) wire contract: request bodies, operations, errors, dates, payload.

Sources: cloud-api.md §1.3–1.7, §1.11–1.13 (the v4 PDF, doc version 5.15), and for v5 the SDK field names
(``sushi-market/atol-online-sdk`` ``src/V5/**``, ``ili/atol-online`` ``AtolOnline/V5/**``).

Rules
- The request Structs are the *shape* only: JSON types and which fields must be present. msgspec's typed decode
  is the shape check; everything semantic (lengths in CP866 bytes, money scale, INN check digits, enum strings,
  sums) is :mod:`fiscal_core.api.validate`'s, which collects every issue with its path instead of stopping at
  the first. So the Structs carry no ``Meta`` constraints.
- Money and quantities are :data:`Number` (``int | Decimal``): msgspec parses the JSON number text straight into
  an exact int (``100``) or Decimal (``19.99``), never through a binary float. Integers skip the Decimal
  constructor, which makes them ~4× cheaper to decode; both are exact. A JSON string holding a number becomes a
  Decimal too (msgspec's Decimal rule); validation refuses NaN and infinities.
- Unknown keys are ignored, as ATOL clients send extras (``source_id``, vendor fields). Known fields of the
  *other* API version (``mark_code`` in v4, ``measurement_unit`` in v5, …) are declared as ``Any`` so that
  validation can refuse them with a path instead of dropping them silently.
- Version-neutral 2025 fields (``internet`` → 1125, ``timezone`` → 1011, ``cashless_payments`` → 1234,
  ``cashier_inn`` → 1203) are accepted in v4 as well: the receipt builder writes them for both FFD versions.
- Dates on the wire are ``dd.mm.yyyy HH:MM:SS`` (naive local time) and ``dd.mm.yyyy`` (§1.13).
- Errors are ``{"error_id", "code", "text", "type"}`` with the HTTP status of PDF table 6 (:data:`SERVICE_ERRORS`).
"""

from __future__ import annotations

import datetime as _dt
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

import msgspec
from msgspec import Struct

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

__all__ = [
    "AGENT_TYPES",
    "CORRECTION_TYPES",
    "MARK_CODE_TAGS",
    "MEASURES",
    "OBSOLETE_VAT_TYPES",
    "OPERATIONS",
    "PAYMENT_METHODS",
    "PAYMENT_OBJECTS_V4",
    "PAYMENT_OBJECTS_V5",
    "SERVICE_ERRORS",
    "SNO",
    "VAT_TYPES",
    "AgentInfo",
    "ClientV4",
    "ClientV5",
    "Company",
    "CorrectionBodyV4",
    "CorrectionBodyV5",
    "CorrectionInfo",
    "CorrectionRequestV4",
    "CorrectionRequestV5",
    "Error",
    "ItemV4",
    "ItemV5",
    "MarkCode",
    "MarkQuantity",
    "MarkResult",
    "Number",
    "Operation",
    "Payment",
    "ReceiptBodyV4",
    "ReceiptBodyV5",
    "ReceiptRequestV4",
    "ReceiptRequestV5",
    "ReportPayload",
    "Request",
    "ServiceError",
    "TokenRequest",
    "Vat",
    "build_payload",
    "error",
    "format_date",
    "format_datetime",
    "parse_date",
    "parse_datetime",
    "request_type",
    "roubles",
]


# --------------------------------------------------------------------------- dates (§1.13)

_DATETIME = re.compile(r"([0-9]{2})\.([0-9]{2})\.([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")
_DATE = re.compile(r"([0-9]{2})\.([0-9]{2})\.([0-9]{4})")


def parse_datetime(text: str) -> _dt.datetime:
    """``"01.02.2017 13:45:00"`` -> naive datetime; ``ValueError`` for any other form or an impossible date."""
    m = _DATETIME.fullmatch(text)
    if m is None:
        raise ValueError(f"expected dd.mm.yyyy HH:MM:SS, got {text!r}")
    d, mo, y, h, mi, s = m.groups()
    return _dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s))


def format_datetime(when: _dt.datetime) -> str:
    """Naive datetime -> ``"dd.mm.yyyy HH:MM:SS"`` (seconds; fractions dropped as ATOL prints none)."""
    return f"{when.day:02d}.{when.month:02d}.{when.year:04d} {when.hour:02d}:{when.minute:02d}:{when.second:02d}"


def parse_date(text: str) -> _dt.date:
    """``"01.02.2017"`` -> date; ``ValueError`` for any other form or an impossible date."""
    m = _DATE.fullmatch(text)
    if m is None:
        raise ValueError(f"expected dd.mm.yyyy, got {text!r}")
    d, mo, y = m.groups()
    return _dt.date(int(y), int(mo), int(d))


def format_date(day: _dt.date) -> str:
    return f"{day.day:02d}.{day.month:02d}.{day.year:04d}"


# --------------------------------------------------------------------------- wire values -> FFD values

#: ``company.sno`` (1055): exactly one tax system per receipt (§1.5).
SNO: Mapping[str, TaxSystem] = MappingProxyType(
    {
        "osn": TaxSystem.OSN,
        "usn_income": TaxSystem.USN_INCOME,
        "usn_income_outcome": TaxSystem.USN_INCOME_EXPENSE,
        "envd": TaxSystem.ENVD,
        "esn": TaxSystem.ESHN,
        "patent": TaxSystem.PATENT,
    }
)

#: ``vat.type`` (1199). Every rate is accepted in v4 and v5: the 2025 (5 %, 7 %) and 2026 (22 %) codes apply to
#: documents of either FFD version (ffd.md §7), and clients of both versions must send them from those dates.
VAT_TYPES: Mapping[str, VatRate] = MappingProxyType(
    {
        "none": VatRate.NO_VAT,
        "vat0": VatRate.VAT0,
        "vat5": VatRate.VAT5,
        "vat7": VatRate.VAT7,
        "vat10": VatRate.VAT10,
        "vat20": VatRate.VAT20,
        "vat22": VatRate.VAT22,
        "vat105": VatRate.VAT5_105,
        "vat107": VatRate.VAT7_107,
        "vat110": VatRate.VAT10_110,
        "vat120": VatRate.VAT20_120,
        "vat122": VatRate.VAT22_122,
    }
)

#: Refused since 2019-04-01 with IncomingValidationException (§1.5); the value is the 20 % replacement.
OBSOLETE_VAT_TYPES: Mapping[str, str] = MappingProxyType({"vat18": "vat20", "vat118": "vat120"})

#: ``payment_method`` (1214), v4 and v5.
PAYMENT_METHODS: Mapping[str, PaymentMethod] = MappingProxyType(
    {
        "full_prepayment": PaymentMethod.FULL_PREPAYMENT,
        "prepayment": PaymentMethod.PARTIAL_PREPAYMENT,
        "advance": PaymentMethod.ADVANCE,
        "full_payment": PaymentMethod.FULL_SETTLEMENT,
        "partial_payment": PaymentMethod.PARTIAL_SETTLEMENT_CREDIT,
        "credit": PaymentMethod.CREDIT,
        "credit_payment": PaymentMethod.CREDIT_PAYMENT,
    }
)

#: v4 ``payment_object`` strings (1212), §1.5; v5 sends the FFD number itself.
PAYMENT_OBJECTS_V4: Mapping[str, ItemSubject] = MappingProxyType(
    {
        "commodity": ItemSubject.GOODS,
        "excise": ItemSubject.EXCISE_GOODS,
        "job": ItemSubject.WORK,
        "service": ItemSubject.SERVICE,
        "gambling_bet": ItemSubject.GAMBLING_BET,
        "gambling_prize": ItemSubject.GAMBLING_WIN,
        "lottery": ItemSubject.LOTTERY_TICKET,
        "lottery_prize": ItemSubject.LOTTERY_WIN,
        "intellectual_activity": ItemSubject.INTELLECTUAL_PROPERTY,
        "payment": ItemSubject.PAYMENT,
        "agent_commission": ItemSubject.AGENT_FEE,
        "award": ItemSubject.CONTRIBUTION,
        "another": ItemSubject.OTHER,
        "property_right": ItemSubject.PROPERTY_RIGHT,
        "non-operating_gain": ItemSubject.NON_OPERATING_INCOME,
        "insurance_premium": ItemSubject.TAX_REDUCING_PREMIUM,
        "sales_tax": ItemSubject.TRADE_FEE,
        "resort_fee": ItemSubject.RESORT_FEE,
        "deposit": ItemSubject.PLEDGE,
        "expense": ItemSubject.EXPENSE,
        "pension_insurance_ip": ItemSubject.PENSION_PREMIUM_IP,
        "pension_insurance": ItemSubject.PENSION_PREMIUM,
        "medical_insurance_ip": ItemSubject.MEDICAL_PREMIUM_IP,
        "medical_insurance": ItemSubject.MEDICAL_PREMIUM,
        "social_insurance": ItemSubject.SOCIAL_PREMIUM,
        "casino_payment": ItemSubject.CASINO,
    }
)

#: v5 ``payment_object`` integers (1212, FFD 1.2): 1..27 and 30..33 (§1.6); 28 and 29 do not exist.
PAYMENT_OBJECTS_V5: Mapping[int, ItemSubject] = MappingProxyType({int(s): s for s in ItemSubject})

#: ``agent_info.type`` -> one bit of 1222 (item) / 1057 (1.05 receipt).
AGENT_TYPES: Mapping[str, AgentType] = MappingProxyType(
    {
        "bank_paying_agent": AgentType.BANK_PAYING_AGENT,
        "bank_paying_subagent": AgentType.BANK_PAYING_SUBAGENT,
        "paying_agent": AgentType.PAYING_AGENT,
        "paying_subagent": AgentType.PAYING_SUBAGENT,
        "attorney": AgentType.ATTORNEY,
        "commission_agent": AgentType.COMMISSIONER,
        "another": AgentType.OTHER_AGENT,
    }
)

#: ``correction_info.type`` (1173).
CORRECTION_TYPES: Mapping[str, CorrectionType] = MappingProxyType(
    {"self": CorrectionType.SELF, "instruction": CorrectionType.BY_ORDER}
)

#: v5 ``mark_code`` key -> the 1163 sub-tag (§1.6; ffd.md §3.3).
MARK_CODE_TAGS: Mapping[str, int] = MappingProxyType(
    {
        "unknown": 1300,
        "ean8": 1301,
        "ean13": 1302,
        "itf14": 1303,
        "gs10": 1304,
        "gs1m": 1305,
        "short": 1306,
        "fur": 1307,
        "egais20": 1308,
        "egais30": 1309,
    }
)

#: v5 ``measure`` (2108) codes.
MEASURES: Mapping[int, MeasureUnit] = MappingProxyType({int(m): m for m in MeasureUnit})


# --------------------------------------------------------------------------- operations (§1.4)


class Operation(NamedTuple):
    name: str
    settlement_sign: SettlementSign  #: 1054
    correction: bool  #: a correction receipt (form 31), body key ``correction``; else ``receipt`` (form 3)
    versions: frozenset[int]  #: API versions that have the endpoint


_BOTH = frozenset({4, 5})
OPERATIONS: Mapping[str, Operation] = MappingProxyType(
    {
        op.name: op
        for op in (
            Operation("sell", SettlementSign.SALE, False, _BOTH),
            Operation("sell_refund", SettlementSign.SALE_REFUND, False, _BOTH),
            Operation("buy", SettlementSign.PURCHASE, False, _BOTH),
            Operation("buy_refund", SettlementSign.PURCHASE_REFUND, False, _BOTH),
            Operation("sell_correction", SettlementSign.SALE, True, _BOTH),
            Operation("buy_correction", SettlementSign.PURCHASE, True, _BOTH),
            # FFD 1.2 corrects refunds too; FFD 1.05 corrections are «приход»/«расход» only (table 29).
            Operation("sell_refund_correction", SettlementSign.SALE_REFUND, True, frozenset({5})),
            Operation("buy_refund_correction", SettlementSign.PURCHASE_REFUND, True, frozenset({5})),
        )
    }
)


# --------------------------------------------------------------------------- service errors (§1.7, table 6)


class ServiceError(NamedTuple):
    name: str
    http_status: int
    code: int
    type: str  #: error.type: unknown / system
    text: str  #: default Russian text; ``{0}``/``{1}`` are filled by :func:`error`


SERVICE_ERRORS: Mapping[int, ServiceError] = MappingProxyType(
    {
        e.code: e
        for e in (
            ServiceError("Undefined", 400, 0, "unknown", "Неизвестная ошибка"),
            ServiceError("IncomingChequeProcessingFailed", 400, 1, "system", "Ошибка обработки входящего документа"),
            ServiceError("MissingToken", 401, 10, "system", "Не передан токен доступа"),
            ServiceError("ExpiredToken", 401, 11, "system", "Срок действия токена истёк"),
            ServiceError("WrongLoginOrPassword", 401, 12, "system", "Неверный логин или пароль"),
            ServiceError("ValidationException", 400, 13, "system", "Ошибка валидации запроса"),
            ServiceError("UserBlocked", 403, 14, "system", "Пользователь заблокирован"),
            ServiceError("GroupCodeAndTokenDontMatch", 401, 20, "system", "Код группы не соответствует токену"),
            ServiceError(
                "NotSupportedGroupCodeForProtocol", 401, 21, "system", "Группа ККТ не поддерживает эту версию протокола"
            ),
            ServiceError("MissingUuid", 400, 30, "system", "Передан некорректный UUID: {0}"),
            ServiceError("IncomingOperationNotSupported", 400, 31, "system", "Операция не поддерживается: {0}"),
            ServiceError("IncomingValidationException", 400, 32, "system", "Ошибочные поля: {0}"),
            ServiceError(
                "IncomingExternalIdAlreadyExists",
                400,
                33,
                "system",
                "В системе существует чек с external_id : {0} и group_code: {1}",
            ),
            ServiceError("StateCheckNotFound", 200, 34, "system", "Состояние чека не найдено. Попробуйте позднее"),
            ServiceError("BadRequest", 400, 40, "system", "Некорректный запрос"),
            ServiceError("UnsupportedMediaType", 415, 41, "system", "Неподдерживаемый тип содержимого"),
            ServiceError("ErrorServerConfiguration", 500, 50, "system", "Ошибка конфигурации сервера"),
        )
    }
)


class Error(Struct, frozen=True, kw_only=True):
    """The ``error`` object of every ATOL response."""

    error_id: str
    code: int
    text: str
    type: str


def error(code: int, text: str | None = None, *args: object) -> Error:
    """The error object for service error ``code`` with a fresh ``error_id``; ``text`` defaults to the table's
    text with ``args`` filled in (``error(33, None, "ord-1", "shop_1")``). ``KeyError`` for an unknown code."""
    spec = SERVICE_ERRORS[code]
    if text is None:
        text = spec.text.format(*args) if args else spec.text.replace(": {0}", "").replace("{0}", "")
    return Error(error_id=str(uuid.uuid4()), code=code, text=text, type=spec.type)


# --------------------------------------------------------------------------- request bodies (shape only)

#: A JSON number in the request: an int when written without a fraction or exponent, else an exact Decimal.
Number = int | Decimal


class _In(Struct, kw_only=True, frozen=True, gc=False):
    """Request Structs: no reference cycles, so they skip the GC (msgspec ``gc=False``)."""


class Service(_In, kw_only=True, frozen=True, gc=False):
    callback_url: str | None = None


class Vat(_In, kw_only=True, frozen=True, gc=False):
    type: str
    sum: Number | None = None


class PayingAgent(_In, kw_only=True, frozen=True, gc=False):
    operation: str | None = None  #: 1044
    phones: list[str] | None = None  #: 1073


class ReceivePaymentsOperator(_In, kw_only=True, frozen=True, gc=False):
    phones: list[str] | None = None  #: 1074


class MoneyTransferOperator(_In, kw_only=True, frozen=True, gc=False):
    phones: list[str] | None = None  #: 1075
    name: str | None = None  #: 1026
    address: str | None = None  #: 1005
    inn: str | None = None  #: 1016


class AgentInfo(_In, kw_only=True, frozen=True, gc=False):
    type: str | None = None  #: 1222 / 1057
    paying_agent: PayingAgent | None = None
    receive_payments_operator: ReceivePaymentsOperator | None = None
    money_transfer_operator: MoneyTransferOperator | None = None


class SupplierInfo(_In, kw_only=True, frozen=True, gc=False):
    phones: list[str] | None = None  #: 1171
    name: str | None = None  #: 1225
    inn: str | None = None  #: 1226


class ClientV4(_In, kw_only=True, frozen=True, gc=False):
    email: str | None = None  #: 1008 (email wins when both are given)
    phone: str | None = None  #: 1008
    name: str | None = None  #: 1227
    inn: str | None = None  #: 1228
    # FFD 1.2 buyer data (1256): refused in v4 with a path.
    birthdate: Any = None
    citizenship: Any = None
    document_code: Any = None
    document_data: Any = None
    address: Any = None


class ClientV5(_In, kw_only=True, frozen=True, gc=False):
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    inn: str | None = None
    birthdate: str | None = None  #: 1243, dd.mm.yyyy
    citizenship: str | None = None  #: 1244, ОКСМ code
    document_code: str | None = None  #: 1245
    document_data: str | None = None  #: 1246
    address: str | None = None  #: 1254


class Company(_In, kw_only=True, frozen=True, gc=False):
    inn: str  #: compared with the group's INN (1018 comes from the drive)
    payment_address: str  #: 1187 «место расчётов»
    email: str | None = None  #: 1117; required in receipts (§1.5), absent from v4 corrections
    sno: str | None = None  #: 1055; optional when the group has a single tax system
    location: str | None = None  #: 1009 «адрес расчётов»


class Payment(_In, kw_only=True, frozen=True, gc=False):
    type: int  #: 0 cash, 1 cashless, 2 prepayment, 3 credit, 4 other consideration; 5–9 refused
    sum: Number


class CashlessPayment(_In, kw_only=True, frozen=True, gc=False):
    sum: Number  #: 1082
    method: int  #: 1236
    id: str | None = None  #: 1237
    additional_info: str | None = None  #: 1238


class AdditionalUserProps(_In, kw_only=True, frozen=True, gc=False):
    name: str  #: 1085
    value: str  #: 1086


class OperatingCheckProps(_In, kw_only=True, frozen=True, gc=False):
    name: str  #: 1271, the operation id as a decimal string ("0")
    value: str  #: 1272
    timestamp: str  #: 1273, dd.mm.yyyy HH:MM:SS


class SectoralProps(_In, kw_only=True, frozen=True, gc=False):
    federal_id: str  #: 1262
    date: str  #: 1263, dd.mm.yyyy
    number: str  #: 1264
    value: str  #: 1265


class MarkCode(_In, kw_only=True, frozen=True, gc=False):
    """Exactly one key (§1.6); ``gs1m`` is the base64 of the full code, GS separators included."""

    unknown: str | None = None
    ean8: str | None = None
    ean13: str | None = None
    itf14: str | None = None
    gs10: str | None = None
    gs1m: str | None = None
    short: str | None = None
    fur: str | None = None
    egais20: str | None = None
    egais30: str | None = None


class MarkQuantity(_In, kw_only=True, frozen=True, gc=False):
    numerator: int  #: 1293
    denominator: int  #: 1294


class CorrectionInfo(_In, kw_only=True, frozen=True, gc=False):
    type: str  #: 1173: self | instruction
    base_date: str  #: 1178, dd.mm.yyyy
    base_number: str | None = None  #: 1179


class _Item(_In, kw_only=True, frozen=True, gc=False):
    name: str  #: 1030
    price: Number  #: 1079, roubles
    quantity: Number  #: 1023
    sum: Number  #: 1043, roubles, = price × quantity
    vat: Vat | None = None  #: 1199/1200; may be omitted when the receipt-level ``vats`` has one rate
    payment_method: str | None = None  #: 1214
    user_data: str | None = None  #: 1191
    excise: Number | None = None  #: 1229
    country_code: str | None = None  #: 1230
    declaration_number: str | None = None  #: 1231
    agent_info: AgentInfo | None = None  #: 1222 + 1223
    supplier_info: SupplierInfo | None = None  #: 1224 + 1226


class ItemV4(_Item, kw_only=True, frozen=True, gc=False):
    payment_object: str | None = None  #: 1212 as a string; default commodity
    measurement_unit: str | None = None  #: 1197
    nomenclature_code: str | None = None  #: 1162: hex bytes separated by spaces, or a raw GS1 DataMatrix
    # FFD 1.2 fields: refused in v4 with a path.
    measure: Any = None
    mark_code: Any = None
    mark_quantity: Any = None
    mark_processing_mode: Any = None
    sectoral_item_props: Any = None
    planned_status: Any = None


class ItemV5(_Item, kw_only=True, frozen=True, gc=False):
    measure: int | None = None  #: 2108, mandatory in FFD 1.2 (refused with a path when absent)
    payment_object: int | None = None  #: 1212 as the FFD number; mandatory in v5
    mark_code: MarkCode | None = None  #: 1163
    mark_quantity: MarkQuantity | None = None  #: 1291
    mark_processing_mode: str | None = None  #: 2102, "0"
    sectoral_item_props: list[SectoralProps] | None = None  #: 1260
    planned_status: int | None = None  #: 2003 (for the marking request, not written in the receipt)
    wholesale: bool | None = None  #: marking-check hint only, no receipt tag
    # FFD 1.05 fields: refused in v5 with a path.
    measurement_unit: Any = None
    nomenclature_code: Any = None


class _Body(_In, kw_only=True, frozen=True, gc=False):
    company: Company
    payments: list[Payment]
    vats: list[Vat] | None = None  #: 1102–1107 / 1115; wins over the items' rates
    cashier: str | None = None  #: 1021
    cashier_inn: str | None = None  #: 1203
    device_number: str | None = None  #: 1036
    additional_check_props: str | None = None  #: 1192
    additional_user_props: AdditionalUserProps | None = None  #: 1084
    internet: bool | None = None  #: 1125 (2025)
    timezone: int | None = None  #: 1011 (2025): 1..11
    cashless_payments: list[CashlessPayment] | None = None  #: 1234 (2025)


class ReceiptBodyV4(_Body, kw_only=True, frozen=True, gc=False):
    client: ClientV4
    items: list[ItemV4]
    total: Number  #: 1020
    agent_info: AgentInfo | None = None  #: 1057 + top-level 1223 tags (table 20)
    supplier_info: SupplierInfo | None = None  #: 1171 at the top level (phones only in 1.05)
    operating_check_props: Any = None  #: FFD 1.2: refused in v4
    sectoral_check_props: Any = None  #: FFD 1.2: refused in v4


class ReceiptBodyV5(_Body, kw_only=True, frozen=True, gc=False):
    client: ClientV5
    items: list[ItemV5]
    total: Number
    agent_info: AgentInfo | None = None  #: applied to the items without their own (no receipt-level agent in 1.2)
    supplier_info: SupplierInfo | None = None  #: likewise
    operating_check_props: OperatingCheckProps | None = None  #: 1270
    sectoral_check_props: list[SectoralProps] | None = None  #: 1261


class CorrectionBodyV4(_Body, kw_only=True, frozen=True, gc=False):
    """v4 correction (§1.5): no items; ``vats`` are required; the total is the payments' sum unless given."""

    correction_info: CorrectionInfo
    total: Number | None = None
    items: Any = None  #: refused: a v4 (FFD 1.05) correction carries no items here
    client: Any = None  #: refused: no client in a v4 correction


class CorrectionBodyV5(_Body, kw_only=True, frozen=True, gc=False):
    """v5 correction (§1.6): items are mandatory (FFD 1.2 table 120)."""

    correction_info: CorrectionInfo
    items: list[ItemV5]
    total: Number
    client: ClientV5 | None = None
    operating_check_props: OperatingCheckProps | None = None
    sectoral_check_props: list[SectoralProps] | None = None


class _Envelope(_In, kw_only=True, frozen=True, gc=False):
    external_id: str  #: ≤128, the idempotency key within the group
    timestamp: str  #: dd.mm.yyyy HH:MM:SS
    service: Service | None = None


class ReceiptRequestV4(_Envelope, kw_only=True, frozen=True, gc=False):
    receipt: ReceiptBodyV4


class CorrectionRequestV4(_Envelope, kw_only=True, frozen=True, gc=False):
    correction: CorrectionBodyV4


class ReceiptRequestV5(_Envelope, kw_only=True, frozen=True, gc=False):
    receipt: ReceiptBodyV5
    ism_optional: bool | None = None  #: register with 2106 = 0 when the marking system times out
    source_id: int | None = None


class CorrectionRequestV5(_Envelope, kw_only=True, frozen=True, gc=False):
    correction: CorrectionBodyV5
    ism_optional: bool | None = None
    source_id: int | None = None


Request = ReceiptRequestV4 | CorrectionRequestV4 | ReceiptRequestV5 | CorrectionRequestV5

_REQUEST_TYPES: Mapping[tuple[int, bool], type[Request]] = MappingProxyType(
    {
        (4, False): ReceiptRequestV4,
        (4, True): CorrectionRequestV4,
        (5, False): ReceiptRequestV5,
        (5, True): CorrectionRequestV5,
    }
)


def request_type(version: int, operation: str) -> type[Request]:
    """The body Struct of ``operation`` in API ``version``; ``KeyError`` if the pair does not exist."""
    op = OPERATIONS[operation]
    if version not in op.versions:
        raise KeyError(f"{operation} is not an operation of API v{version}")
    return _REQUEST_TYPES[(version, op.correction)]


class TokenRequest(_In, kw_only=True, frozen=True, gc=False):
    """``POST getToken`` body (§1.3); ``pass`` is a Python keyword, hence ``pass_``."""

    login: str
    pass_: str = msgspec.field(name="pass")
    source: str | None = None  #: integrator name, ≤100


# --------------------------------------------------------------------------- report payload (§1.11)


class MarkResult(Struct, frozen=True, kw_only=True):
    """v5 ``payload.marks_result[]``: the 2106 bitmask per marked item (0-based position)."""

    position: int
    mark_code: str
    result: int


class ReportPayload(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The ``payload`` of a ``done`` report and callback; ``total`` is roubles as a JSON number."""

    fiscal_receipt_number: int  #: 1042
    shift_number: int  #: 1038
    receipt_datetime: str  #: 1012, dd.mm.yyyy HH:MM:SS
    total: int | float  #: 1020 in roubles
    fn_number: str  #: 1041
    ecr_registration_number: str  #: 1037
    fiscal_document_number: int  #: 1040
    fiscal_document_attribute: int  #: 1077 printed (uint32)
    fns_site: str  #: 1060
    ofd_inn: str  #: 1017
    ofd_receipt_url: str | None = None  #: only some OFDs; omitted when None
    marks_result: list[MarkResult] | None = None  #: v5 only; omitted when None


def roubles(kopecks: int) -> int | float:
    """Kopecks as the JSON number ATOL prints: an int for whole roubles, else a float.

    ``k / 100`` is exact on the wire: for |k| < 2**53 the shortest repr of the nearest double is the decimal
    ``k/100`` itself (at most 15 significant digits), and msgspec and ``json`` both print the shortest repr.
    """
    return kopecks // 100 if kopecks % 100 == 0 else kopecks / 100


def build_payload(
    *,
    fd_number: int,
    fiscal_sign: int,
    shift_number: int,
    receipt_number: int,
    when: _dt.datetime,
    total: int,
    fn_number: str,
    rnm: str,
    ofd_inn: str,
    ofd_receipt_url: str | None = None,
    fns_site: str = "www.nalog.gov.ru",
    marks_result: list[MarkResult] | None = None,
) -> ReportPayload:
    """The report payload from plain fiscal data: ``total`` in kopecks, ``fiscal_sign`` the printed 1077 value."""
    if not 0 <= fiscal_sign <= 0xFFFFFFFF:
        raise ValueError("the printed fiscal sign is a uint32")
    return ReportPayload(
        fiscal_receipt_number=receipt_number,
        shift_number=shift_number,
        receipt_datetime=format_datetime(when),
        total=roubles(total),
        fn_number=fn_number.strip(),
        ecr_registration_number=rnm.strip(),
        fiscal_document_number=fd_number,
        fiscal_document_attribute=fiscal_sign,
        fns_site=fns_site,
        ofd_inn=ofd_inn.strip(),
        ofd_receipt_url=ofd_receipt_url,
        marks_result=marks_result,
    )
