"""Identifiers with check digits: the register's registration number (1037) and the taxpayer number (INN).

Rules (reference §12.6, §12.7)
- Registration number = 10 digits given by the tax service + 6 digits of CRC-16/CCITT-FALSE over the ASCII
  of ``first10.zfill(10) + inn.zfill(12) + kkt_serial.zfill(20)``, zero-padded to 6.
- INN: 10 digits (organisations, one check digit) or 12 (individuals, two); weights per the tax service.
"""

from __future__ import annotations

from fiscal_core.crypto.crc import crc16_ccitt

__all__ = ["inn_valid", "registration_number", "registration_number_valid"]

_W10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_W12A = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_W12B = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def registration_number(first10: str | int, inn: str, kkt_serial: str) -> str:
    """The 16-digit registration number of a register (tag 1037, without its space padding)."""
    head = str(first10).zfill(10)
    if len(head) != 10 or not head.isdigit():
        raise ValueError("the tax service's part of a registration number is 10 digits")
    crc = crc16_ccitt((head + inn.strip().zfill(12) + kkt_serial.strip().zfill(20)).encode("ascii"))
    return head + str(crc).zfill(6)


def registration_number_valid(rnm: str, inn: str, kkt_serial: str) -> bool:
    rnm = rnm.strip()
    return len(rnm) == 16 and rnm.isdigit() and registration_number(rnm[:10], inn, kkt_serial) == rnm


def _check(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


def inn_valid(inn: str) -> bool:
    """Whether ``inn`` is a 10- or 12-digit INN with correct check digits."""
    if not inn.isdigit() or not inn.isascii():
        return False
    if len(inn) == 10:
        return _check(inn, _W10) == int(inn[9])
    if len(inn) == 12:
        return _check(inn, _W12A) == int(inn[10]) and _check(inn, _W12B) == int(inn[11])
    return False
