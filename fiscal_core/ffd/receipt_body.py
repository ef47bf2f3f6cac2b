"""A receipt's TLV body, encoded once ahead of numbering (see :mod:`fiscal_core.ffd._receipt_body_py`).

``encode_body`` and ``capability_bits`` come from ``fiscal_core._native._receipt`` when built, else from the
pure-Python twin, which is the spec; ``IMPLEMENTATION`` says which.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fiscal_core._impl import select
from fiscal_core.ffd._receipt_body_py import CAP_AGENT, CAP_EXCISE, CAP_MARKED, COUNTER_TAGS, ReceiptBody

__all__ = [
    "CAP_AGENT",
    "CAP_EXCISE",
    "CAP_MARKED",
    "COUNTER_TAGS",
    "IMPLEMENTATION",
    "ReceiptBody",
    "capability_bits",
    "encode_body",
    "implementations",
]

_impl, IMPLEMENTATION = select("fiscal_core._native._receipt", "fiscal_core.ffd._receipt_body_py")

if TYPE_CHECKING:
    from fiscal_core.ffd._receipt_body_py import capability_bits, encode_body
else:
    encode_body = _impl.encode_body
    capability_bits = _impl.capability_bits


def implementations() -> dict[str, object]:
    from fiscal_core._impl import implementations as _both

    return dict(_both("fiscal_core._native._receipt", "fiscal_core.ffd._receipt_body_py"))
