"""Pure-Python twin of ``fiscal_core._native._receipt``: a receipt's TLV body, encoded once, ahead of numbering.

A receipt document (form 3 or 31) is ``numbering block + 1038 + 1042 + body`` (documents.receipt /
documents.correction_receipt build it in that order). Only the numbering block (1041, 1037, 1018, 1040,
1012, 1077), the shift number and the receipt number depend on the moment the drive issues it; the body —
items, payments, VAT sums, places, buyer, and for corrections 1173/1174 — does not. So the body is encoded
once, and the drive splices it behind the few tags it numbers and signs: the result is byte for byte
``tlv.encode([documents.receipt(...)])``.

``encode_body`` returns a :class:`ReceiptBody` with the bytes and the few values the drive and the
counters need: settlement sign, total, and ``counter_row``, what the receipt adds to the totals counters as
plain ints (:meth:`fiscal_core.ffd.counters.Accumulator.add_row` adds it; the spec is
:func:`~fiscal_core.ffd.counters.totals_of` on the body's nodes).

``capability_bits`` tells what a receipt needs of its group's registers (agent data, excise goods, marked
goods): ``registers.model.required_capabilities`` asks it for every receipt, once before it is journaled and
once when the fleet takes it, so the native module reads it from the Structs' slots too.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from fiscal_core.ffd import documents, tlv
from fiscal_core.ffd.counters import totals_of
from fiscal_core.ffd.documents import DriveIdentity, Header
from fiscal_core.ffd.receipt import Correction, Receipt

__all__ = ["CAP_AGENT", "CAP_EXCISE", "CAP_MARKED", "IMPLEMENTATION", "ReceiptBody", "capability_bits", "encode_body"]

IMPLEMENTATION = "py"

#: Tags ``Counters.apply`` reads from a receipt (sign, total, payments, flat VAT sums and 1115): ``counter_row``'s.
COUNTER_TAGS = frozenset({1054, 1020, 1031, 1081, 1215, 1216, 1217, 1102, 1103, 1104, 1105, 1106, 1107, 1115})
#: The numbering block and 1038/1042: everything before the body.
_NUMBERED = 8
_DUMMY_HEADER = Header(fd_number=1, when=dt.datetime(2000, 1, 1), shift_number=1)
_DUMMY_SIGN = b"\x31\x04\x00\x00\x00\x00"
#: capability_bits: agent data (1222/1057), excise goods, marked goods.
CAP_AGENT, CAP_EXCISE, CAP_MARKED = 1, 2, 4
#: 1212 subjects (ffd.md §4): excise goods are 2 and the excise marked 30–31; marked goods are 30–33.
EXCISE_SUBJECTS = frozenset({2, 30, 31})
MARKED_SUBJECTS = frozenset({30, 31, 32, 33})


class ReceiptBody(NamedTuple):
    form: int  #: 3 or 31
    data: bytes  #: the encoded nodes after 1042
    settlement_sign: int
    total: int
    #: What the receipt adds to the totals counters, read from the body as ``counters.totals_of`` reads it:
    #: (1054 sign, 1020 total, 1031 cash, 1081 electronic, 1215 prepaid, 1216 credit, 1217 provision, then
    #: rate, VAT sum for each 1199 rate in the body's order: 1102–1107 as their rates, then 1115's entries).
    counter_row: tuple[int, ...]


def encode_body(identity: DriveIdentity, receipt: Receipt) -> ReceiptBody:
    """The body of ``receipt`` (a :class:`Correction` gives form 31) for the drive ``identity``."""
    if isinstance(receipt, Correction):
        form, nodes = documents.correction_receipt(identity, _DUMMY_HEADER, _DUMMY_SIGN, receipt, receipt_number=1)
    else:
        form, nodes = documents.receipt(identity, _DUMMY_HEADER, _DUMMY_SIGN, receipt, receipt_number=1)
    body = nodes[_NUMBERED:]
    _, sign, top, vat = totals_of((form, [(tag, value) for tag, value in body if tag in COUNTER_TAGS]))
    row = (sign, top[1020], *(top.get(tag, 0) for tag in (1031, 1081, 1215, 1216, 1217)))
    counter_row = row + tuple(x for pair in vat.items() for x in pair)
    return ReceiptBody(form, tlv.encode(body), int(receipt.settlement_sign), receipt.total, counter_row)


def capability_bits(receipt: Receipt) -> int:
    """The capabilities ``receipt`` needs of a register: :data:`CAP_AGENT` for agent data (the receipt's or an
    item's), :data:`CAP_EXCISE` for an excise subject or an item with 1229, :data:`CAP_MARKED` for a marked
    subject or an item with a marking code."""
    bits = CAP_AGENT if receipt.agent is not None else 0
    for item in receipt.items:
        if item.agent is not None:
            bits |= CAP_AGENT
        subject = int(item.subject)
        if subject in EXCISE_SUBJECTS or item.excise is not None:
            bits |= CAP_EXCISE
        if subject in MARKED_SUBJECTS or item.marking is not None:
            bits |= CAP_MARKED
    return bits
