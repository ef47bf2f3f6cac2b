"""Checksums of the fiscal core: CRC-16/CCITT-FALSE (OFD container, registration number) and CRC32C (drive records).

Rules
- ``crc16_ccitt(data, init=0xFFFF)`` and ``crc32c(data, crc=0)`` come from the native wrapper
  :mod:`fiscal_core.crypto._crc_native` when ``fiscal_core._native._crypto`` is built, else from the pure-Python
  twin :mod:`fiscal_core.crypto._crc_py`, which is the spec (parameters, chaining, accepted types, errors).
- ``IMPLEMENTATION`` is ``"native"`` or ``"py"``; ``FISCAL_CORE_NO_EXTENSIONS`` / ``FISCAL_CORE_REQUIRE_EXTENSIONS``
  steer the choice (see :mod:`fiscal_core._impl`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fiscal_core._impl import select

__all__ = ["IMPLEMENTATION", "crc16_ccitt", "crc32c"]

_impl, IMPLEMENTATION = select("fiscal_core.crypto._crc_native", "fiscal_core.crypto._crc_py")

if TYPE_CHECKING:  # the twin is the type source
    from fiscal_core.crypto._crc_py import crc16_ccitt, crc32c
else:
    crc16_ccitt = _impl.crc16_ccitt
    crc32c = _impl.crc32c
