"""The totals counters of shift-close, status and drive-close reports: 1194 (shift), 1157 (drive), 1158 (unsent).

Rules (CF ``structs.rs`` tables 51–54 / 89–92 and the tag descriptions in CF ``fields.rs``)
- ``1194``/``1157`` = {1134, 1129, 1130, 1131, 1132, 1133}. 1129–1132 are per settlement sign (приход, возврат
  прихода, расход, возврат расхода) and count receipts **and correction receipts** with that sign: 1135 count,
  1136 cash, 1138 electronic, 1218 prepaid, 1219 credit, 1220 provision, 1201 total, then the VAT sums 1139 (20 %),
  1140 (10 %), 1141 (20/120), 1142 (10/110) and the turnovers 1143 (0 %) and 1183 (without VAT).
- ``1133`` counts the correction receipts only: 1144 their number, then per sign 1145 (приход), 1146 (расход),
  1232 (возврат прихода), 1233 (возврат расхода), each {1136, 1138, 1218, 1219, 1220, 1201, 1135} without VAT.
  A sign without corrections is left out: all four at full size would pass 1133's limit of 216 bytes.
- Every child of these structures is optional (tables 51–54, 89–92) and the limits are tight (1129–1132: 116
  bytes, 1133: 216, 1194/1157: 708 = 8 for 1134 + 4 × (4 + 116) + (4 + 216)), so a zero sum is left out; the
  counts (1134, 1135, 1144) and the totals (1201) are always written. A sum that is absent is zero. Even so, a
  structure whose every sum needs 6+ bytes would pass its limit; tlv.encode then names it.
- ``1134`` = the number of receipts and correction receipts of all signs (= Σ 1135 of 1129–1132).
- ``1158`` (unsent documents) has 1133's layout: 1144 = how many, 1145/1146/1232/1233 = their sums per sign. Keep a
  separate :class:`Counters` of the unsent documents and call ``to_stlv(1158)`` on it.
- The counters are read from the document TREE (1054, 1020, 1031/1081/1215/1216/1217, 1102–1107, 1115), so they
  equal what the signed documents say, never what a request asked for.
- VAT rates 7–12 (5 %, 7 %, 5/105, 7/107, 22 %, 22/122) have no counter tags in any FFD table we could reach; their
  sums are kept in ``vat`` (from 1115/1119) and persisted, but not encoded.
- :class:`Counters` is a mutable msgspec Struct: ``apply`` updates it in place. ``msgspec.msgpack.encode(c)`` /
  ``msgspec.msgpack.decode(b, type=Counters)`` persist it. Counter sums are VLN of at most 8 bytes.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Struct

from fiscal_core.ffd.enums import SettlementSign

__all__ = ["VAT_COUNTER_TAGS", "Accumulator", "Counters", "DocumentTotals", "OperationCounters", "totals_of"]

#: 1199 rate -> its counter tag inside 1129–1132 (1143/1183 hold turnovers, the others VAT sums).
VAT_COUNTER_TAGS: dict[int, int] = {1: 1139, 2: 1140, 3: 1141, 4: 1142, 5: 1143, 6: 1183}
#: receipt tag -> 1199 rate, for the flat per-rate receipt sums (ffd.md §3.2).
_RECEIPT_VAT_TAGS: dict[int, int] = {1102: 1, 1103: 2, 1106: 3, 1107: 4, 1104: 5, 1105: 6}
_RECEIPT_FORMS = frozenset({3, 4})
_CORRECTION_FORMS = frozenset({31, 41})
_SIGN_TAGS = {  # settlement sign -> (operation counters tag, correction / unsent counters tag)
    SettlementSign.SALE: (1129, 1145),
    SettlementSign.SALE_REFUND: (1130, 1232),
    SettlementSign.PURCHASE: (1131, 1146),
    SettlementSign.PURCHASE_REFUND: (1132, 1233),
}
_CORRECTION_ORDER = (  # table 53/91 order: 1145, 1146, 1232, 1233
    SettlementSign.SALE,
    SettlementSign.PURCHASE,
    SettlementSign.SALE_REFUND,
    SettlementSign.PURCHASE_REFUND,
)


class OperationCounters(Struct, kw_only=True):
    """The totals of one settlement sign."""

    count: int = 0  #: 1135
    cash: int = 0  #: 1136
    electronic: int = 0  #: 1138
    prepaid: int = 0  #: 1218
    credit: int = 0  #: 1219
    provision: int = 0  #: 1220
    total: int = 0  #: 1201
    #: 1199 rate -> VAT sum (turnover for 5 = 0 % and 6 = without VAT); rates 7–12 are kept but not encoded.
    vat: dict[int, int] = msgspec.field(default_factory=dict)

    def _add(self, sums: dict[int, int], vat: dict[int, int]) -> None:
        self.count += 1
        self.cash += sums.get(1031, 0)
        self.electronic += sums.get(1081, 0)
        self.prepaid += sums.get(1215, 0)
        self.credit += sums.get(1216, 0)
        self.provision += sums.get(1217, 0)
        self.total += sums[1020]
        for rate, amount in vat.items():
            self.vat[rate] = self.vat.get(rate, 0) + amount

    def copy(self) -> OperationCounters:
        """An independent copy (its own ``vat`` dict)."""
        return msgspec.structs.replace(self, vat=dict(self.vat))

    def _merge(self, other: OperationCounters) -> None:
        self.count += other.count
        self.cash += other.cash
        self.electronic += other.electronic
        self.prepaid += other.prepaid
        self.credit += other.credit
        self.provision += other.provision
        self.total += other.total
        for rate, amount in other.vat.items():
            self.vat[rate] = self.vat.get(rate, 0) + amount

    def operation_nodes(self) -> list[tuple[int, Any]]:
        """The children of 1129–1132 (table 52/90 order); zero sums other than 1201 are left out."""
        vat = [(tag, self.vat.get(rate, 0)) for rate, tag in VAT_COUNTER_TAGS.items()]
        return [(1135, self.count), *self._sum_nodes(), *((tag, v) for tag, v in vat if v)]

    def sign_nodes(self) -> list[tuple[int, Any]]:
        """The children of 1145/1146/1232/1233 (table 54/92 order: the count comes last)."""
        return [*self._sum_nodes(), (1135, self.count)]

    def _sum_nodes(self) -> list[tuple[int, Any]]:
        sums = ((1136, self.cash), (1138, self.electronic), (1218, self.prepaid), (1219, self.credit))
        return [*((tag, v) for tag, v in (*sums, (1220, self.provision)) if v), (1201, self.total)]


def _operation_counters() -> OperationCounters:
    return OperationCounters()


class Counters(Struct, kw_only=True):
    """Totals of a shift or of a whole drive; see the module rules."""

    sale: OperationCounters = msgspec.field(default_factory=_operation_counters)
    sale_refund: OperationCounters = msgspec.field(default_factory=_operation_counters)
    purchase: OperationCounters = msgspec.field(default_factory=_operation_counters)
    purchase_refund: OperationCounters = msgspec.field(default_factory=_operation_counters)
    correction_sale: OperationCounters = msgspec.field(default_factory=_operation_counters)
    correction_sale_refund: OperationCounters = msgspec.field(default_factory=_operation_counters)
    correction_purchase: OperationCounters = msgspec.field(default_factory=_operation_counters)
    correction_purchase_refund: OperationCounters = msgspec.field(default_factory=_operation_counters)

    def copy(self) -> Counters:
        """An independent deep copy (a drive works on one inside a transaction)."""
        return Counters(
            sale=self.sale.copy(),
            sale_refund=self.sale_refund.copy(),
            purchase=self.purchase.copy(),
            purchase_refund=self.purchase_refund.copy(),
            correction_sale=self.correction_sale.copy(),
            correction_sale_refund=self.correction_sale_refund.copy(),
            correction_purchase=self.correction_purchase.copy(),
            correction_purchase_refund=self.correction_purchase_refund.copy(),
        )

    def by_sign(self, sign: int) -> OperationCounters:
        """Receipts and corrections with settlement sign ``sign`` (1129–1132)."""
        if not 1 <= sign <= 4:
            raise ValueError(f"settlement sign {sign} is not 1..4")
        return (self.sale, self.sale_refund, self.purchase, self.purchase_refund)[sign - 1]

    def corrections_by_sign(self, sign: int) -> OperationCounters:
        """Correction receipts only with settlement sign ``sign`` (1145/1232/1146/1233 of 1133)."""
        signs = (
            self.correction_sale,
            self.correction_sale_refund,
            self.correction_purchase,
            self.correction_purchase_refund,
        )
        return signs[SettlementSign(sign) - 1]

    @property
    def receipt_count(self) -> int:
        """1134: receipts and correction receipts of every sign."""
        return sum(self.by_sign(s).count for s in SettlementSign)

    @property
    def correction_count(self) -> int:
        """1144 inside 1133: correction receipts of every sign."""
        return sum(self.corrections_by_sign(s).count for s in SettlementSign)

    def apply(self, document: Any) -> None:
        """Add one receipt (form 3/4) or correction receipt (31/41): a node ``(form, nodes)`` or ``[node]``.

        ``ValueError`` for another form or a document without 1054/1020; nothing is changed then.
        """
        self.add(totals_of(document))

    def add(self, totals: DocumentTotals) -> None:
        """Add what :func:`totals_of` read from one document (the drive reads once, adds to shift and drive)."""
        form, sign, top, vat = totals
        self.by_sign(sign)._add(top, vat)
        if form in _CORRECTION_FORMS:
            self.corrections_by_sign(sign)._add(top, vat)

    def to_stlv(self, tag: int = 1194) -> tuple[int, list[tuple[int, Any]]]:
        """The 1194 / 1157 node (all four operation counters and 1133) or the 1158 node (unsent documents)."""
        if tag in (1194, 1157):
            corrections: list[tuple[int, Any]] = [(1144, self.correction_count)]
            for sign in _CORRECTION_ORDER:
                part = self.corrections_by_sign(sign)
                if part.count:
                    corrections.append((_SIGN_TAGS[sign][1], part.sign_nodes()))
            return (
                tag,
                [
                    (1134, self.receipt_count),
                    *((_SIGN_TAGS[s][0], self.by_sign(s).operation_nodes()) for s in SettlementSign),
                    (1133, corrections),
                ],
            )
        if tag == 1158:
            unsent: list[tuple[int, Any]] = [(1144, self.receipt_count)]
            for sign in _CORRECTION_ORDER:
                part = self.by_sign(sign)
                if part.count:
                    unsent.append((_SIGN_TAGS[sign][1], part.sign_nodes()))
            return (1158, unsent)
        raise ValueError(f"tag {tag} is not a totals counters structure (1194, 1157, 1158)")


class Accumulator:
    """Sums of many documents gathered once and added to several :class:`Counters` (shift and drive) at once.

    The drive adds every receipt of a batch here, so :meth:`add_row` is its hot path: a row of plain ints per
    (correction?, sign) instead of a Struct per document; :meth:`flush_into` turns the rows into counters.
    :meth:`add_row` takes what the body encoder read from the receipt (``ReceiptBody.counter_row``), :meth:`add`
    what :func:`totals_of` reads from a document tree.
    """

    __slots__ = ("_rows",)

    def __init__(self) -> None:
        #: (correction?, sign) -> [count, cash, electronic, prepaid, credit, provision, total, {rate: VAT}]
        self._rows: dict[tuple[bool, int], list[Any]] = {}

    def __bool__(self) -> bool:
        return bool(self._rows)

    def _row(self, form: int, sign: int) -> list[Any]:
        key = (form in _CORRECTION_FORMS, sign)
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = [0, 0, 0, 0, 0, 0, 0, {}]
        return row

    def add(self, totals: DocumentTotals) -> None:
        form, sign, top, vat = totals
        row = self._row(form, sign)
        row[0] += 1
        row[1] += top.get(1031, 0)
        row[2] += top.get(1081, 0)
        row[3] += top.get(1215, 0)
        row[4] += top.get(1216, 0)
        row[5] += top.get(1217, 0)
        row[6] += top[1020]
        by_rate = row[7]
        for rate, amount in vat.items():
            by_rate[rate] = by_rate.get(rate, 0) + amount

    def add_row(self, form: int, row: tuple[int, ...]) -> None:
        """Add one receipt or correction of form ``form`` given by its ``ReceiptBody.counter_row``: sign, total,
        cash, electronic, prepaid, credit, provision, then (rate, VAT sum) pairs — :func:`totals_of` of the body,
        as plain ints (the encoders compute it; tests/test_receipt_body.py checks it against this reader)."""
        r = self._row(form, row[0])
        r[0] += 1
        r[1] += row[2]
        r[2] += row[3]
        r[3] += row[4]
        r[4] += row[5]
        r[5] += row[6]
        r[6] += row[1]
        by_rate = r[7]
        for i in range(7, len(row), 2):
            rate = row[i]
            by_rate[rate] = by_rate.get(rate, 0) + row[i + 1]

    def flush_into(self, *targets: Counters) -> None:
        for (correction, sign), row in self._rows.items():
            count, cash, electronic, prepaid, credit, provision, total, vat = row
            part = OperationCounters(
                count=count,
                cash=cash,
                electronic=electronic,
                prepaid=prepaid,
                credit=credit,
                provision=provision,
                total=total,
                vat=vat,
            )
            for target in targets:
                target.by_sign(sign)._merge(part)
                if correction:
                    target.corrections_by_sign(sign)._merge(part)
        self._rows.clear()


#: (form, settlement sign, the sums by tag, the VAT sums by 1199 rate) of one receipt or correction.
DocumentTotals = tuple[int, int, dict[int, Any], dict[int, int]]


def totals_of(document: Any) -> DocumentTotals:
    """The sums a receipt or correction adds to the counters, read from its tree (see :meth:`Counters.apply`)."""
    form, nodes = _document_node(document)
    if form not in _RECEIPT_FORMS and form not in _CORRECTION_FORMS:
        raise ValueError(f"form {form} does not move the totals counters (only 3, 4, 31, 41 do)")
    top: dict[int, Any] = {}
    vat: dict[int, int] = {}
    for tag, value in nodes:
        if tag in _RECEIPT_VAT_TAGS:
            rate = _RECEIPT_VAT_TAGS[tag]
            vat[rate] = vat.get(rate, 0) + value
        elif tag == 1115:
            for _, entry in value:  # 1119 {1199 rate, 1120 VAT sum}, one per rate 7–12
                fields = dict(entry)
                vat[fields[1199]] = vat.get(fields[1199], 0) + fields[1120]
        elif tag not in top:
            top[tag] = value
    for tag in (1054, 1020):
        if tag not in top:
            raise ValueError(f"the document has no tag {tag}")
    sign = top[1054]
    if not 1 <= sign <= 4:
        raise ValueError(f"settlement sign {sign} is not 1..4")
    return form, sign, top, vat


def _document_node(document: Any) -> tuple[int, list[tuple[int, Any]]]:
    if isinstance(document, list) and len(document) == 1:
        document = document[0]
    if not isinstance(document, (tuple, list)) or len(document) != 2 or not isinstance(document[0], int):
        raise ValueError("expected a document node (form, nodes) or a one-document tree")
    return int(document[0]), list(document[1])
