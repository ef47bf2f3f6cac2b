"""The receipt and correction-receipt nodes (forms 3 and 31) behind :mod:`fiscal_core.ffd.documents`.

Private: the rules are stated in :mod:`fiscal_core.ffd.documents`; this module only keeps that one under the
house size limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from msgspec import Struct

from fiscal_core.ffd.enums import VAT_RATE_TO_RECEIPT_SUM_TAG, FfdVersion, VatRate
from fiscal_core.ffd.receipt import (
    Agent,
    IndustryProp,
    Item,
    Quantity,
    Receipt,
    ReceiptError,
    Supplier,
    check_sums,
    vat_amount,
    vat_totals,
)

if TYPE_CHECKING:
    from fiscal_core.ffd.documents import DriveIdentity, Header

__all__ = ["receipt_nodes"]

Node = tuple[int, Any]

_FFD105 = int(FfdVersion.FFD_105)
_FFD12 = int(FfdVersion.FFD_12)
_LABEL = {_FFD105: "1.05", _FFD12: "1.2"}


def _refuse(obj: Struct, names: Iterable[str], path: str, version: int) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is not None and value != ():
            raise ReceiptError(f"not a field of FFD {_LABEL[version]}", f"{path}{name}")


_ITEM_ONLY_12 = ("measure", "marking", "marking_mode", "check_result", "fraction", "industry_props", "planned_status")
_ITEM_ONLY_105 = ("unit_name", "product_code")
_RECEIPT_ONLY_12 = ("operational_props", "industry_check_props", "marking_check_result")
_RECEIPT_ONLY_105 = ("agent", "supplier")
_BUYER_ONLY_12 = ("birth_date", "citizenship", "doc_code", "doc_data", "address")


def _check_version(r: Receipt, version: int) -> None:
    if version == _FFD105:
        _refuse(r, _RECEIPT_ONLY_12, "", version)
        if r.buyer is not None:
            _refuse(r.buyer, _BUYER_ONLY_12, "buyer.", version)
        if r.supplier is not None:
            _refuse(r.supplier, ("name", "inn"), "supplier.", version)
    else:
        _refuse(r, _RECEIPT_ONLY_105, "", version)
    for i, item in enumerate(r.items):
        _refuse(item, _ITEM_ONLY_12 if version == _FFD105 else _ITEM_ONLY_105, f"items[{i}].", version)
        if version == _FFD12 and item.measure is None:
            raise ReceiptError("2108 is mandatory in FFD 1.2", f"items[{i}].measure")


def receipt_nodes(
    identity: DriveIdentity, version: int, head: list[Node], header: Header, r: Receipt, receipt_number: int
) -> list[Node]:
    """The nodes of a receipt or correction after the numbering block ``head`` (the correction adds 1173/1174)."""
    _check_version(r, version)
    check_sums(r)
    pay = r.payments
    nodes = list(head)
    nodes += [(1038, header.shift_number), (1042, receipt_number), (1054, int(r.settlement_sign)), (1020, r.total)]
    nodes += [(1059, _item_nodes(item, version)) for item in r.items]
    nodes += [(1031, pay.cash - pay.change(r.total)), (1081, pay.electronic), (1215, pay.prepaid)]
    nodes += [(1216, pay.credit), (1217, pay.provision)]
    if pay.cashless:
        details = [
            (1235, [(1082, p.sum), (1236, p.method), *_opt((1237, p.ids), (1238, p.info))]) for p in pay.cashless
        ]
        nodes.append((1234, details))
    nodes += _opt((1021, r.cashier), (1203, r.cashier_inn))
    nodes += [(1055, int(r.tax_system)), (1209, version), *_vat_nodes(r)]
    nodes += [
        (1048, identity.user_name),
        (1009, r.settlement_address or identity.settlement_address),
        (1187, r.settlement_place or identity.settlement_place),
    ]
    nodes += _opt(
        (1036, r.device_number or identity.automat_number),
        (1060, identity.fns_site),
        (1117, r.sender_email or identity.sender_email),
        (1008, r.client_contact),
        (1108, 1 if identity.internet_only else None),
        (1125, 1 if r.internet else None),
        (1011, r.timezone),
        (1192, r.additional_check_prop),
    )
    if r.user_prop is not None:
        nodes.append((1084, [(1085, r.user_prop.name), (1086, r.user_prop.value)]))
    if r.buyer is not None:
        b = r.buyer
        buyer = _opt(
            (1227, b.name),
            (1228, b.inn),
            (1243, None if b.birth_date is None else b.birth_date.strftime("%d.%m.%Y")),
            (1244, b.citizenship),
            (1245, b.doc_code),
            (1246, b.doc_data),
            (1254, b.address),
        )
        if version == _FFD12 and buyer:
            nodes.append((1256, buyer))
        else:
            nodes += buyer
    if version == _FFD12:
        if r.operational_props is not None:
            op = r.operational_props
            nodes.append((1270, [(1271, op.id), (1272, op.data), (1273, op.when)]))
        nodes += [(1261, _industry(p)) for p in r.industry_check_props]
        nodes += _opt((2107, r.marking_check_result))
    else:
        if r.agent is not None:
            nodes.append((1057, int(r.agent.types)))
            nodes += _agent_data(r.agent)
        if r.supplier is not None:
            nodes += [(1171, phone) for phone in r.supplier.phones]
    return nodes


def _opt(*pairs: tuple[int, Any]) -> list[Node]:
    """The pairs whose value is given (None means "not in the document")."""
    return [(tag, value) for tag, value in pairs if value is not None]


def _vat_nodes(r: Receipt) -> list[Node]:
    amounts: dict[VatRate, int] = {}
    if r.vats is not None:
        amounts = {VatRate(entry.rate): entry.amount for entry in r.vats}
    else:
        for rate, (vat, turnover) in vat_totals(r.items).items():
            # 1104/1105 hold the settlement sum at 0 % / without VAT, the other tags the VAT itself.
            amounts[rate] = vat if rate.included_fraction is not None else turnover
    flat: list[Node] = []
    by_rate: list[Node] = []
    for rate in sorted(amounts):
        if rate in VAT_RATE_TO_RECEIPT_SUM_TAG:
            flat.append((VAT_RATE_TO_RECEIPT_SUM_TAG[rate], amounts[rate]))
        else:
            by_rate.append((1119, [(1199, int(rate)), (1120, amounts[rate])]))
    if by_rate:
        flat.append((1115, by_rate))
    return flat


def _quantity(q: Quantity) -> Quantity:
    # A Decimal with a positive exponent (Decimal("1E+1")) has no digits after the point: write it as an int.
    if not isinstance(q, int) and int(q.as_tuple().exponent) >= 0:
        return int(q)
    return q


def _industry(p: IndustryProp) -> list[Node]:
    return [(1262, p.foiv_id), (1263, p.doc_date.strftime("%d.%m.%Y")), (1264, p.doc_number), (1265, p.value)]


def _agent_data(agent: Agent) -> list[Node]:
    d = agent.data
    if d is None:
        return []
    nodes = _opt((1044, d.operation))
    nodes += [(1073, p) for p in d.agent_phones]
    nodes += [(1074, p) for p in d.operator_phones]
    nodes += [(1075, p) for p in d.transfer_operator_phones]
    nodes += _opt(
        (1026, d.transfer_operator_name), (1005, d.transfer_operator_address), (1016, d.transfer_operator_inn)
    )
    return nodes


def _supplier_nodes(s: Supplier) -> list[Node]:
    data = [(1171, phone) for phone in s.phones] + _opt((1225, s.name))
    return ([(1224, data)] if data else []) + _opt((1226, s.inn))


def _item_nodes(item: Item, version: int) -> list[Node]:
    rate = VatRate(item.vat)
    vat = item.vat_sum
    if vat is None and rate.included_fraction is not None:
        vat = vat_amount(item.sum, rate)
    nodes: list[Node] = [
        (1030, item.name),
        (1079, item.price),
        (1023, _quantity(item.quantity)),
        (1043, item.sum),
        (1199, int(rate)),
        *_opt((1200, vat)),
        (1212, int(item.subject)),
        (1214, int(item.method)),
    ]
    if version == _FFD12:
        nodes.append((2108, int(item.measure or 0)))
        if item.marking is not None:
            nodes.append((1163, [(item.marking.kind, item.marking.code)]))
        nodes += _opt((2102, item.marking_mode), (2106, item.check_result))
        if item.fraction is not None:
            n, m = item.fraction.numerator, item.fraction.denominator
            nodes.append((1291, [(1292, f"{n}/{m}"), (1293, n), (1294, m)]))
        nodes += [(1260, _industry(p)) for p in item.industry_props]
    else:
        nodes += _opt((1197, item.unit_name), (1162, item.product_code))
    nodes += _opt((1191, item.user_data))
    if item.agent is not None:
        nodes.append((1222, int(item.agent.types)))
        data = _agent_data(item.agent)
        if data:
            nodes.append((1223, data))
    if item.supplier is not None:
        nodes += _supplier_nodes(item.supplier)
    nodes += _opt((1229, item.excise), (1230, item.country_code), (1231, item.declaration_number))
    nodes += _opt((1198, item.unit_vat))
    return nodes
