"""Enumerations of FFD tag values (ffd.md §4; CF ``fiscal-data/src/enums.rs``; 2025–2026 VAT codes: KL, YK, V).

Rules
- Plain value lists are :class:`enum.IntEnum`; bitmask tags (1055/1062, 1057/1222, 1205, 1206, 1290,
  2004/2005/2106) are :class:`enum.IntFlag`, so unknown bits survive a decode/encode round trip.
- Value names are English; the Russian wording is in each member's comment.
- 1199 (VAT rate) values 1 and 3 keep their meaning in 2026: 22 % has its own codes 11 and 12 (ffd.md §7.3).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "VAT_RATE_TO_RECEIPT_SUM_TAG",
    "AgentType",
    "ChangeReason",
    "CorrectionType",
    "FfdVersion",
    "ItemStatus",
    "ItemSubject",
    "MarkingCheckResult",
    "MarkingCodeType",
    "MeasureUnit",
    "OfdResponseCode",
    "OperatorMessage",
    "PaymentMethod",
    "ReregistrationReason",
    "SettlementSign",
    "TaxSystem",
    "UsageCondition",
    "VatRate",
]


class SettlementSign(enum.IntEnum):
    """1054 «признак расчёта» (ffd.md §4); also the QR ``n=`` parameter."""

    SALE = 1  #: приход
    SALE_REFUND = 2  #: возврат прихода
    PURCHASE = 3  #: расход
    PURCHASE_REFUND = 4  #: возврат расхода


class TaxSystem(enum.IntFlag):
    """1055 (exactly one bit) / 1062 (a set) «система налогообложения» (ffd.md §4)."""

    OSN = 1  #: общая
    USN_INCOME = 2  #: упрощённая, доход
    USN_INCOME_EXPENSE = 4  #: упрощённая, доход минус расход
    ENVD = 8  #: ЕНВД (abolished 2021, still decodable)
    ESHN = 16  #: единый сельскохозяйственный налог
    PATENT = 32  #: патентная


class VatRate(enum.IntEnum):
    """1199 «ставка НДС» (ffd.md §4, §7): 1–6 since FFD 1.05, 7–10 from 2025, 11–12 (22 %) from 2026."""

    VAT20 = 1  #: НДС 20 % (18 % before 2019)
    VAT10 = 2  #: НДС 10 %
    VAT20_120 = 3  #: НДС расч. 20/120
    VAT10_110 = 4  #: НДС расч. 10/110
    VAT0 = 5  #: НДС 0 %
    NO_VAT = 6  #: НДС не облагается
    VAT5 = 7  #: НДС 5 % (приказ 17.12.2024)
    VAT7 = 8  #: НДС 7 %
    VAT5_105 = 9  #: НДС расч. 5/105
    VAT7_107 = 10  #: НДС расч. 7/107
    VAT22 = 11  #: НДС 22 % (приказ 08.12.2025 № ЕД-7-20/1050@)
    VAT22_122 = 12  #: НДС расч. 22/122

    @property
    def fraction(self) -> tuple[int, int] | None:
        """The rate as ``(numerator, denominator)``: VAT20 → (20, 100), VAT20_120 → (20, 120); None without VAT."""
        return _FRACTIONS[self]

    @property
    def is_calculated(self) -> bool:
        """True for the «расчётная ставка» codes (20/120, 10/110, 5/105, 7/107, 22/122)."""
        fraction = _FRACTIONS[self]
        return fraction is not None and fraction[1] != 100

    @property
    def included_fraction(self) -> tuple[int, int] | None:
        """The VAT share of a VAT-inclusive amount: both VAT20 and VAT20_120 give (20, 120); None without VAT."""
        return _INCLUDED[self._value_]

    def vat_included(self, gross: int) -> int:
        """VAT inside a VAT-inclusive amount in kopecks, rounded half up (0 for VAT0 and NO_VAT).

        Real 2026 data (ffd.md §7.4): ``VatRate.VAT22.vat_included(24697) == 4454``.
        """
        if gross < 0:
            raise ValueError("amount must be non-negative kopecks")
        # Keyed by the plain value: a member as a key hashes through Python code (Enum.__hash__), and this runs
        # for every rate of every receipt.
        share = _INCLUDED[self._value_]
        if share is None:
            return 0
        rate, base = share
        return (gross * rate * 2 + base) // (base * 2)


_FRACTIONS: Mapping[VatRate, tuple[int, int] | None] = MappingProxyType(
    {
        VatRate.VAT20: (20, 100),
        VatRate.VAT10: (10, 100),
        VatRate.VAT20_120: (20, 120),
        VatRate.VAT10_110: (10, 110),
        VatRate.VAT0: None,
        VatRate.NO_VAT: None,
        VatRate.VAT5: (5, 100),
        VatRate.VAT7: (7, 100),
        VatRate.VAT5_105: (5, 105),
        VatRate.VAT7_107: (7, 107),
        VatRate.VAT22: (22, 100),
        VatRate.VAT22_122: (22, 122),
    }
)

#: 1199 value → :attr:`VatRate.included_fraction`: (rate, 100 + rate), None without VAT.
_INCLUDED: dict[int, tuple[int, int] | None] = {
    int(r): None if f is None else (f[0], 100 + f[0]) for r, f in _FRACTIONS.items()
}

#: 1199 value → the flat receipt tag that carries its total (ffd.md §3.2, §7.4): 1102/1103/1106/1107 hold VAT
#: sums, 1104/1105 hold the settlement sums at 0 % and without VAT. Rates 7–12 have no flat tag: their VAT sum
#: goes to 1115 «суммы НДС чека» → 1119 (one per rate) → {1199, 1120} (rule inferred from real 2026 receipts).
VAT_RATE_TO_RECEIPT_SUM_TAG: Mapping[VatRate, int] = MappingProxyType(
    {
        VatRate.VAT20: 1102,
        VatRate.VAT10: 1103,
        VatRate.VAT20_120: 1106,
        VatRate.VAT10_110: 1107,
        VatRate.VAT0: 1104,
        VatRate.NO_VAT: 1105,
    }
)


class ItemSubject(enum.IntEnum):
    """1212 «признак предмета расчёта» (ffd.md §4, FFD 1.2 wording; 20–33 are 1.2 only)."""

    GOODS = 1  #: товар
    EXCISE_GOODS = 2  #: подакцизный товар
    WORK = 3  #: работа
    SERVICE = 4  #: услуга
    GAMBLING_BET = 5  #: ставка азартной игры
    GAMBLING_WIN = 6  #: выигрыш азартной игры
    LOTTERY_TICKET = 7  #: лотерейный билет
    LOTTERY_WIN = 8  #: выигрыш лотереи
    INTELLECTUAL_PROPERTY = 9  #: предоставление РИД
    PAYMENT = 10  #: платёж (аванс, задаток, предоплата, кредит)
    AGENT_FEE = 11  #: агентское вознаграждение
    CONTRIBUTION = 12  #: взнос, пени, штраф, бонус (1.05: составной предмет расчёта)
    OTHER = 13  #: иной предмет расчёта
    PROPERTY_RIGHT = 14  #: имущественное право
    NON_OPERATING_INCOME = 15  #: внереализационный доход
    TAX_REDUCING_PREMIUM = 16  #: страховые взносы, уменьшающие налог
    TRADE_FEE = 17  #: торговый сбор
    RESORT_FEE = 18  #: курортный сбор
    PLEDGE = 19  #: залог
    EXPENSE = 20  #: расход (ст. 346.16 НК)
    PENSION_PREMIUM_IP = 21  #: взносы на ОПС, ИП
    PENSION_PREMIUM = 22  #: взносы на ОПС
    MEDICAL_PREMIUM_IP = 23  #: взносы на ОМС, ИП
    MEDICAL_PREMIUM = 24  #: взносы на ОМС
    SOCIAL_PREMIUM = 25  #: взносы на ОСС
    CASINO = 26  #: расчёты казино
    CASH_ISSUE = 27  #: выдача денежных средств банковским платёжным агентом
    EXCISE_MARKED_NO_CODE = 30  #: АТНМ, подакцизный маркируемый без КМ
    EXCISE_MARKED = 31  #: АТМ, подакцизный с КМ
    MARKED_NO_CODE = 32  #: ТНМ, маркируемый без КМ
    MARKED = 33  #: ТМ, маркируемый с КМ


class PaymentMethod(enum.IntEnum):
    """1214 «признак способа расчёта» (ffd.md §4)."""

    FULL_PREPAYMENT = 1  #: предоплата 100 %
    PARTIAL_PREPAYMENT = 2  #: частичная предоплата
    ADVANCE = 3  #: аванс
    FULL_SETTLEMENT = 4  #: полный расчёт
    PARTIAL_SETTLEMENT_CREDIT = 5  #: частичный расчёт и кредит
    CREDIT = 6  #: передача в кредит
    CREDIT_PAYMENT = 7  #: оплата кредита


class MeasureUnit(enum.IntEnum):
    """2108 «мера количества предмета расчёта» (ffd.md §4). Pieces are 0 (real FNS data; CF's 1 is a bug)."""

    PIECE = 0  #: шт. или ед.
    GRAM = 10
    KILOGRAM = 11
    TONNE = 12
    CENTIMETRE = 20
    DECIMETRE = 21
    METRE = 22
    SQUARE_CENTIMETRE = 30
    SQUARE_DECIMETRE = 31
    SQUARE_METRE = 32
    MILLILITRE = 40
    LITRE = 41
    CUBIC_METRE = 42
    KILOWATT_HOUR = 50
    GIGACALORIE = 51
    DAY = 70
    HOUR = 71
    MINUTE = 72
    SECOND = 73
    KILOBYTE = 80
    MEGABYTE = 81
    GIGABYTE = 82
    TERABYTE = 83
    OTHER = 255  #: иная единица


class CorrectionType(enum.IntEnum):
    """1173 «тип коррекции» (ffd.md §3.4)."""

    SELF = 0  #: самостоятельно
    BY_ORDER = 1  #: по предписанию налогового органа


class AgentType(enum.IntFlag):
    """1057 «признак агента» / 1222 «признак агента по предмету расчёта» (ffd.md §4)."""

    BANK_PAYING_AGENT = 1  #: банковский платёжный агент
    BANK_PAYING_SUBAGENT = 2  #: банковский платёжный субагент
    PAYING_AGENT = 4  #: платёжный агент
    PAYING_SUBAGENT = 8  #: платёжный субагент
    ATTORNEY = 16  #: поверенный
    COMMISSIONER = 32  #: комиссионер
    OTHER_AGENT = 64  #: иной агент


class OfdResponseCode(enum.IntEnum):
    """1022 «код ответа ОФД» inside 1068 of the operator confirmation (ffd.md §4, §10)."""

    OK = 0  #: документ принят
    NOT_RECOGNIZED = 11  #: содержание документа не распознано
    FLK_ERROR = 14  #: документ не прошёл форматно-логический контроль


class ReregistrationReason(enum.IntEnum):
    """1101 «код причины перерегистрации», FFD 1.05 (ffd.md §4); 1.2 uses the 1205 bitmask."""

    FN_REPLACEMENT = 1  #: замена ФН
    OFD_CHANGE = 2  #: замена ОФД
    DETAILS_CHANGE = 3  #: изменение реквизитов
    SETTINGS_CHANGE = 4  #: изменение настроек ККТ


class ChangeReason(enum.IntFlag):
    """1205 «коды причин изменения сведений о ККТ», uint32 (ffd.md §4; full list: CF ``KktInfoUpdateReasons``)."""

    FN_REPLACEMENT = 0x1  #: замена ФН
    OFD_CHANGE = 0x2  #: замена ОФД
    USER_NAME_CHANGE = 0x4  #: изменение наименования пользователя
    ADDRESS_CHANGE = 0x8  #: изменение адреса и (или) места установки
    TO_ONLINE = 0x10  #: из автономного режима в режим передачи данных
    TO_OFFLINE = 0x20  #: из режима передачи данных в автономный
    MODEL_VERSION_CHANGE = 0x40  #: изменение версии модели ККТ
    TAX_SYSTEMS_CHANGE = 0x80  #: изменение перечня СНО
    MACHINE_NUMBER_CHANGE = 0x100  #: изменение номера автомата
    TO_NON_AUTOMATIC = 0x200  #: из автоматического режима в неавтоматический
    TO_AUTOMATIC = 0x400  #: из неавтоматического в автоматический
    TO_BSO = 0x800  #: в режим, позволяющий формировать БСО
    FROM_BSO = 0x1000  #: из режима, позволяющего формировать БСО
    INTERNET_TO_PRINT = 0x2000  #: из режима расчётов в Интернет в режим печати
    PRINT_TO_INTERNET = 0x4000  #: из режима печати в режим расчётов в Интернет
    PAYING_AGENT_OFF = 0x8000  #: прекращение услуг платёжного агента
    PAYING_AGENT_ON = 0x10000  #: начало услуг платёжного агента
    GAMBLING_OFF = 0x20000
    GAMBLING_ON = 0x40000
    LOTTERY_OFF = 0x80000
    LOTTERY_ON = 0x100000
    FFD_VERSION_CHANGE = 0x200000  #: изменение версии ФФД
    OTHER = 0x80000000  #: иные причины


class UsageCondition(enum.IntFlag):
    """1290 «признаки условий применения ККТ», uint32, FFD 1.2 (ffd.md §4; CF ``KktUsage``)."""

    PRINTER_IN_MACHINE = 1 << 1  #: принтер в корпусе автомата
    BSO_ONLY = 1 << 2  #: АС БСО
    INTERNET_ONLY = 1 << 5  #: расчёты только в Интернет
    EXCISE = 1 << 6  #: подакцизные товары
    MARKED_GOODS = 1 << 8  #: маркированные товары
    SERVICES_ONLY = 1 << 9  #: только услуги
    GAMBLING = 1 << 10  #: азартные игры
    LOTTERY = 1 << 11  #: лотереи
    PAWNSHOP = 1 << 12  #: ломбард
    INSURANCE = 1 << 13  #: страхование
    VENDING = 1 << 14  #: автомат с выдачей товара
    CATERING = 1 << 15  #: общественное питание
    WHOLESALE = 1 << 16  #: оптовая торговля маркированным товаром


class FfdVersion(enum.IntEnum):
    """1209 / 1189 / 1190 «номер версии ФФД» and FNS JSON ``fiscalDocumentFormatVer`` (ffd.md §2)."""

    FFD_10 = 1  #: 1.0, decode only (out of scope)
    FFD_105 = 2
    FFD_11 = 3
    FFD_12 = 4


class OperatorMessage(enum.IntFlag):
    """1206 «сообщение оператора» (ffd.md §4)."""

    FLK_ERROR = 2  #: ошибка форматно-логического контроля
    CHECK_KKT_CABINET = 4  #: проверить сообщения в кабинете ККТ
    UPDATE_FFD = 8  #: обновить версию ФФД в ККТ
    INSPECTION_PLANNED = 16  #: ККТ включена в план проверок
    CONTACT_OFD = 32  #: связаться с ОФД для настройки связи
    OFD_CEASES = 64  #: ОФД прекращает деятельность


class MarkingCodeType(enum.IntEnum):
    """2100 «тип кода маркировки» (ffd.md §4)."""

    UNIDENTIFIED = 0  #: тип не идентифицирован
    SHORT = 1  #: короткий КМ
    CHECK88_FN = 2  #: код проверки 88 символов, проверяется ФН
    CHECK44_NO_FN = 3  #: код проверки 44 символа, не проверяется ФН
    CHECK44_FN = 4  #: код проверки 44 символа, проверяется ФН
    CHECK4_NO_FN = 5  #: код проверки 4 символа, не проверяется ФН


class ItemStatus(enum.IntEnum):
    """2003 «планируемый статус товара» / 2110 «присвоенный статус товара» (ffd.md §4)."""

    PIECE_SOLD = 1  #: штучный товар реализован
    MEASURED_SOLD = 2  #: мерный товар в стадии реализации
    PIECE_RETURNED = 3  #: штучный товар возвращён
    PART_RETURNED = 4  #: часть товара возвращена
    UNCHANGED = 255  #: статус не изменился


class MarkingCheckResult(enum.IntFlag):
    """2004 / 2005 / 2106 results of the marking-code checks (ffd.md §4); 15 = all four checks passed."""

    CHECKED_BY_FN = 1  #: КМ проверен ФН
    FN_CHECK_OK = 2  #: результат проверки ФН положительный
    OISM_CHECKED = 4  #: проверка в ОИСМ выполнена
    OISM_OK = 8  #: ОИСМ: планируемый статус корректен
    CHECKED_OFFLINE = 16  #: результат сформирован ККТ в автономном режиме
