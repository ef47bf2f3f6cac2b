"""Pure-Python twin of ``fiscal_core._native._receipt``: a receipt's TLV body, encoded once, ahead of numbering.

A receipt document (form 3 or 31) is ``numbering block + 1038 + 1042 + body`` (documents.receipt /
documents.correction_receipt build it in that order). Only the numbering block (1041, 1037, 1018, 1040,
1012, 1077), the shift number and the receipt number depend on the moment the drive issues it; the body —
items, payments, VAT sums, places, buyer, and for corrections 1173/1174 — does not. So the body is encoded
once, and the drive splices it behind the few tags it numbers and signs: the result is byte for byte
``tlv.encode([documents.receipt(...)])``.

``encode_body`` returns a :class:`ReceiptBody` with the bytes and the few values the drive and the
counters need (settlement sign, total, and the nodes ``Counters.apply`` reads).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from fiscal_core.ffd import documents, tlv
from fiscal_core.ffd.documents import DriveIdentity, Header
from fiscal_core.ffd.receipt import Correction, Receipt

__all__ = ["IMPLEMENTATION", "ReceiptBody", "encode_body"]

IMPLEMENTATION = "py"

#: Tags ``Counters.apply`` reads from a receipt: sign, total, payments, flat VAT sums and 1115.
COUNTER_TAGS = frozenset({1054, 1020, 1031, 1081, 1215, 1216, 1217, 1102, 1103, 1104, 1105, 1106, 1107, 1115})
#: The numbering block and 1038/1042: everything before the body.
_NUMBERED = 8
_DUMMY_HEADER = Header(fd_number=1, when=dt.datetime(2000, 1, 1), shift_number=1)
_DUMMY_SIGN = b"\x31\x04\x00\x00\x00\x00"


class ReceiptBody(NamedTuple):
    form: int  #: 3 or 31
    data: bytes  #: the encoded nodes after 1042
    settlement_sign: int
    total: int
    counter_nodes: list[tuple[int, Any]]  #: the body's nodes Counters.apply reads, as a tree fragment


def encode_body(identity: DriveIdentity, receipt: Receipt) -> ReceiptBody:
    """The body of ``receipt`` (a :class:`Correction` gives form 31) for the drive ``identity``."""
    if isinstance(receipt, Correction):
        form, nodes = documents.correction_receipt(identity, _DUMMY_HEADER, _DUMMY_SIGN, receipt, receipt_number=1)
    else:
        form, nodes = documents.receipt(identity, _DUMMY_HEADER, _DUMMY_SIGN, receipt, receipt_number=1)
    body = nodes[_NUMBERED:]
    counter_nodes = [(tag, value) for tag, value in body if tag in COUNTER_TAGS]
    return ReceiptBody(form, tlv.encode(body), int(receipt.settlement_sign), receipt.total, counter_nodes)
