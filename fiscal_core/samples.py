"""Seeded, realistic receipt trees for benchmarks, load profiles, fuzz corpora and demos.

Rules
- Deterministic: the same seed gives the same documents on every machine.
- Realistic: Cyrillic item names, weighed and piece goods, marked goods (1163/GS1.M, 2102, 2106, 1260),
  mixed VAT rates (10% and the 2026 22%), the receipt-level VAT sums exactly as the FFD wants them
  (1102–1107 for rates 1–6, 1115/1119/1120 for rates 7–12), payments that add up.
- These are sample *trees*, not fiscal documents issued by a drive: the FD number and fiscal sign are
  made up and the FN number starts with 9999 (a test drive).
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = ["identity", "receipt", "receipt_tree", "receipt_trees", "receipts"]

_NAMES = [
    "Молоко ПРОСТОКВ.паст.3,2%930мл",
    "Хлеб Бородинский нарез.300г",
    "Сыр РОССИЙСКИЙ 50% вес",
    "Яблоки Гренни Смит вес",
    "Шоколад АЛЁНКА молоч.90г",
    "Вода ЕССЕНТУКИ №17 0,5л",
    "Кофе JARDIN Espresso зерно 1кг",
    "Творог Д.В Д. 5% 170г",
    "Бананы вес",
    "Пакет-майка 65х40см",
    "Сок ДОБРЫЙ яблочный 1л",
    "Колбаса Докторская 400г",
]
_GTINS = ["04605035006964", "04602547000046", "04690228112072", "04600605026533"]
_SERIAL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!%&'*+-./:;<=>?_"


def _vat(total: int, rate: int) -> int:
    """VAT inside a VAT-inclusive sum, rounded half up, in kopecks."""
    percent = {1: 20, 2: 10, 7: 5, 8: 7, 11: 22}[rate]
    return int((Decimal(total) * percent / (100 + percent)).quantize(Decimal(1), ROUND_HALF_UP))


def receipt_tree(n_items: int = 10, seed: int = 0, fd_number: int = 1) -> list[tuple[int, Any]]:
    """One FFD 1.2 sale receipt as a tree ``[(3, [...])]``."""
    rng = random.Random(seed * 1_000_003 + n_items)
    items: list[tuple[int, Any]] = []
    vat_by_rate: dict[int, int] = {}
    total = 0
    for k in range(n_items):
        name = f"{k + 1}:{rng.randrange(10**6, 10**7)} {rng.choice(_NAMES)}"
        weighed = "вес" in name
        price = rng.randrange(2_900, 89_900, 100) - 1
        qty: Decimal | int
        if weighed:
            qty = Decimal(rng.randrange(150, 2_500)).scaleb(-3)
            item_sum = int((price * qty).quantize(Decimal(1), ROUND_HALF_UP))
            unit = 11  # kg
        else:
            qty = rng.choice((1, 1, 1, 2, 3))  # piece goods: an int quantity (FVLN with no point)
            item_sum = price * qty
            unit = 0  # pieces
        rate = rng.choice((2, 11, 11))
        vat = _vat(item_sum, rate)
        vat_by_rate[rate] = vat_by_rate.get(rate, 0) + vat
        total += item_sum
        item: list[tuple[int, Any]] = [
            (1030, name[:128]),
            (1079, price),
            (1023, qty),
            (1043, item_sum),
            (1199, rate),
            (1200, vat),
            (1212, 1),
            (1214, 4),
            (2108, unit),
        ]
        if not weighed and rng.random() < 0.2:
            gtin = rng.choice(_GTINS)
            serial = "".join(rng.choice(_SERIAL_ALPHABET) for _ in range(13))
            item[6] = (1212, 33)  # marked goods with a marking code
            item += [
                (1163, [(1305, f"01{gtin}21{serial}")]),
                (2102, 0),
                (2106, 15),
                (
                    1260,
                    [
                        (1262, "030"),
                        (1263, "21.11.2023"),
                        (1264, "1944"),
                        (1265, f"UUID={rng.getrandbits(64):016x}"),
                    ],
                ),
            ]
        items.append((1059, item))
    when = dt.datetime(2026, 11, 23, 9, 0) + dt.timedelta(seconds=rng.randrange(0, 12 * 3600))
    doc: list[tuple[int, Any]] = [
        (1041, "9999078900005488"),
        (1037, "0006828493046904"),
        (1018, "7825706086"),
        (1040, fd_number),
        (1012, when),
        (1077, bytes((0x31, 0x04)) + rng.getrandbits(32).to_bytes(4, "big")),
        (1038, 245),
        (1042, fd_number),
        (1054, 1),
        (1020, total),
        (1031, 0),
        (1081, total),
        (1215, 0),
        (1216, 0),
        (1217, 0),
        (1021, "Кассир Иванова А.П."),
        (1055, 1),
        (1209, 4),
        (1048, 'ООО "Агроторг"'),
        (1009, "192286, г. Санкт-Петербург, ул. Димитрова, д. 18 к. 1"),
        (1187, "Магазин 5564"),
        (1008, "buyer@example.ru"),
        *items,
    ]
    if 2 in vat_by_rate:
        doc.append((1103, vat_by_rate[2]))
    new_rates = [(1119, [(1199, r), (1120, v)]) for r, v in sorted(vat_by_rate.items()) if r >= 7]
    if new_rates:
        doc.append((1115, new_rates))
    return [(3, doc)]


def receipt_trees(count: int, n_items: int = 10, seed: int = 0) -> list[list[tuple[int, Any]]]:
    return [receipt_tree(n_items, seed + i, fd_number=i + 1) for i in range(count)]


# --------------------------------------------------------------------------- model objects (drive input)


def identity(
    fn_number: str = "9999078900005488",
    *,
    ffd: int = 4,
    inn: str = "5544332219",
    first10: str = "0000000001",
    kkt_serial: str = "00000000000001",
    user_name: str = 'ООО "Песочница"',
) -> Any:
    """A registered register's identity (sandbox-like INN, a 9999 test drive, the RNM by its CRC rule)."""
    from fiscal_core.ffd.documents import DriveIdentity
    from fiscal_core.ffd.enums import FfdVersion, TaxSystem
    from fiscal_core.ffd.identifiers import registration_number

    return DriveIdentity(
        fn_number=fn_number,
        registration_number=registration_number(first10, inn, kkt_serial),
        user_inn=inn,
        user_name=user_name,
        kkt_serial=kkt_serial,
        ffd_version=FfdVersion(ffd),
        ofd_inn="7704211201",
        ofd_name='ООО "ОФД-эмулятор"',
        settlement_address="127000, г. Москва, ул. Облачная, д. 1",
        settlement_place="shop.example.ru",
        tax_systems=TaxSystem.OSN | TaxSystem.USN_INCOME,
        kkt_version="FC 0.1",
        sender_email="noreply@shop.example.ru",
        internet_only=True,
    )


def receipt(n_items: int = 10, seed: int = 0, *, ffd: int = 4, sign: int = 1) -> Any:
    """A validated receipt of ``n_items`` with settlement sign ``sign``, as the drive takes it (a ``Receipt``)."""
    from fiscal_core.ffd.enums import ItemSubject, MeasureUnit, PaymentMethod, SettlementSign, TaxSystem, VatRate
    from fiscal_core.ffd.receipt import Item, MarkingCode, Payments, Receipt, item_sum

    rng = random.Random(seed * 1_000_003 + n_items * 7 + ffd)
    items = []
    for k in range(n_items):
        name = f"{k + 1}:{rng.randrange(10**6, 10**7)} {rng.choice(_NAMES)}"
        weighed = "вес" in name
        price = rng.randrange(2_900, 89_900, 100) - 1
        qty: int | Decimal = Decimal(rng.randrange(150, 2_500)).scaleb(-3) if weighed else rng.choice((1, 1, 1, 2, 3))
        marked = ffd == 4 and not weighed and qty == 1 and rng.random() < 0.2
        fields: dict[str, Any] = {
            "name": name[:128],
            "price": price,
            "quantity": qty,
            "sum": item_sum(price, qty),
            "vat": rng.choice((VatRate.VAT10, VatRate.VAT22, VatRate.VAT22)) if ffd == 4 else VatRate.VAT20,
            "subject": ItemSubject.MARKED if marked else ItemSubject.GOODS,
            "method": PaymentMethod.FULL_SETTLEMENT,
        }
        if ffd == 4:
            fields["measure"] = MeasureUnit.KILOGRAM if weighed else MeasureUnit.PIECE
        else:
            fields["unit_name"] = "кг" if weighed else "шт"
        if marked:
            gtin = rng.choice(_GTINS)
            serial = "".join(rng.choice(_SERIAL_ALPHABET) for _ in range(13))
            fields.update(marking=MarkingCode(kind=1305, code=f"01{gtin}21{serial}"), marking_mode=0, check_result=15)
        items.append(Item(**fields))
    total = sum(i.sum for i in items)
    return Receipt(
        settlement_sign=SettlementSign(sign),
        tax_system=TaxSystem.OSN,
        items=tuple(items),
        payments=Payments(electronic=total),
        total=total,
        client_contact="buyer@example.ru",
        cashier="Кассир Иванова А.П.",
        internet=True,
    )


def receipts(count: int, n_items: int = 10, seed: int = 0, *, ffd: int = 4) -> list[Any]:
    return [receipt(n_items, seed + i, ffd=ffd) for i in range(count)]
