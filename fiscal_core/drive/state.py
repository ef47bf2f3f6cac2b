"""What a fiscal drive remembers between documents, and the legal limits it enforces (reference §12).

Rules
- ``DriveConfig`` is fixed when the drive is made (FN number, secret, capacity, validity, time zone);
  ``DriveState`` changes with every document and is written in the same transaction as the document.
- Times kept by the drive are UTC seconds from the injected clock; documents carry local wall-clock time
  (FFD §1) derived from the register's time zone.
- Limits (all as a real ФН): capacity (default 250,000 documents, two kept for the closing reports),
  key validity 470 / 1,110 days for 15 / 36-month drives, a shift of at most 24 hours, 30 days for the
  oldest document without an operator confirmation. Warnings 1050–1053 appear in shift reports from
  30 / 3 days of key life left, 90 % capacity, and an OFD silent for a day.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Literal

import msgspec

from fiscal_core.ffd.counters import Counters
from fiscal_core.ffd.documents import DriveIdentity

__all__ = [
    "DAY",
    "OFD_WAIT_LIMIT",
    "SHIFT_LIMIT",
    "VALIDITY_DAYS",
    "DriveConfig",
    "DriveState",
    "local_time",
]

DAY = 86_400
SHIFT_LIMIT = 24 * 3600
OFD_WAIT_LIMIT = 30 * DAY
OFD_WARNING_AFTER = DAY
#: Key validity in days by drive model (months), reference §12.1.
VALIDITY_DAYS = {13: 410, 15: 470, 36: 1110}
#: Documents kept back for the closing reports: the shift close and the drive close.
CLOSING_RESERVE = 2

Phase = Literal["ready", "fiscal", "closed"]


class DriveConfig(msgspec.Struct, frozen=True, kw_only=True):
    fn_number: str
    secret: bytes
    capacity: int = 250_000
    validity_days: int = VALIDITY_DAYS[36]
    timezone: str = "Europe/Moscow"
    sign_algorithm: Literal["magma-cmac", "hmac-sha256"] = "magma-cmac"
    created_utc: int = 0


class DriveState(msgspec.Struct, kw_only=True):
    phase: Phase = "ready"
    next_fd: int = 1
    identity: DriveIdentity | None = None
    registered_utc: int = 0
    last_doc_utc: int = 0
    shift_number: int = 0
    shift_open: bool = False
    shift_opened_utc: int = 0
    receipt_number: int = 0
    shift_documents: int = 0
    shift_receipts: int = 0
    shift_counters: Counters = msgspec.field(default_factory=Counters)
    drive_counters: Counters = msgspec.field(default_factory=Counters)
    closed_utc: int = 0

    def copy(self) -> DriveState:
        """A deep copy to work on inside a transaction; swapped in only after the commit."""
        # Every other field is an int, a str, a bool or the frozen identity: only the counters are mutable.
        return msgspec.structs.replace(
            self, shift_counters=self.shift_counters.copy(), drive_counters=self.drive_counters.copy()
        )


_ZONES: dict[str, dt.tzinfo] = {}


def _zone(name: str) -> dt.tzinfo:
    zone = _ZONES.get(name)
    if zone is None:
        if name.startswith(("UTC+", "UTC-")):
            hours = int(name[3:])
            zone = dt.timezone(dt.timedelta(hours=hours))
        else:
            zone = zoneinfo.ZoneInfo(name)
        _ZONES[name] = zone
    return zone


def local_time(utc_seconds: float, timezone: str) -> dt.datetime:
    """Naive local wall-clock time of the place of settlement, to the second (what tag 1012 holds)."""
    aware = dt.datetime.fromtimestamp(int(utc_seconds), tz=_zone(timezone))
    return aware.replace(tzinfo=None)


def check_timezone(name: str) -> str:
    _zone(name)
    return name
