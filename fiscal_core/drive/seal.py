"""Sealing a batch of receipts (sign, splice, pack) in one pass: ``seal_receipts``.

From ``fiscal_core._native._seal`` when built, else the pure-Python twin :mod:`fiscal_core.drive._seal_py`,
which is the spec. ``IMPLEMENTATION`` says which.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fiscal_core._impl import select

__all__ = ["IMPLEMENTATION", "seal_receipts"]

_impl, IMPLEMENTATION = select("fiscal_core._native._seal", "fiscal_core.drive._seal_py")

if TYPE_CHECKING:
    from fiscal_core.drive._seal_py import seal_receipts
else:
    seal_receipts = _impl.seal_receipts
