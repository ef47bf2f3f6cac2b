"""Refusals of the fiscal drive, each with the real ФН's error code (reference §11) and whether to retry.

Rules
- ``fn_code`` is the code a real ФН answers with (0x02 wrong state, 0x05 keys expired, 0x06 archive full,
  0x07 bad date/time, 0x14 storage exhausted, 0x15 OFD wait exhausted, 0x16 shift over 24 h, ...).
- ``retryable`` says whether the same request can succeed later without a human: a closed shift reopens,
  a confirmed outbox unblocks, but an expired or full drive needs replacement.
"""

from __future__ import annotations

from fiscal_core.errors import FiscalError

__all__ = [
    "ArchiveFull",
    "DriveClosed",
    "DriveCorrupt",
    "DriveError",
    "KeysExpired",
    "OfdWaitExhausted",
    "ShiftExpired",
    "StorageFull",
    "TimeWentBack",
    "WrongState",
]


class DriveError(FiscalError):
    """Base of drive refusals."""

    code = "drive_error"
    fn_code = 0x03
    status_hint = 503

    def to_dict(self) -> dict[str, object]:
        d = super().to_dict()
        d["fn_code"] = self.fn_code
        return d


class WrongState(DriveError):
    """The command does not fit the drive's phase or the shift state (ФН 0x02)."""

    code = "drive_wrong_state"
    fn_code = 0x02
    status_hint = 409


class KeysExpired(DriveError):
    """The fiscal-sign keys' validity (470 / 1110 days) is over; only the drive close report remains (ФН 0x05)."""

    code = "drive_keys_expired"
    fn_code = 0x05


class ArchiveFull(DriveError):
    """The drive's document capacity is used up; only the close reports remain (ФН 0x06)."""

    code = "drive_archive_full"
    fn_code = 0x06


class TimeWentBack(DriveError):
    """A document dated before the drive's last document (ФН 0x07)."""

    code = "drive_bad_time"
    fn_code = 0x07
    status_hint = 409


class StorageFull(DriveError):
    """The storage under the drive (map or disk) is full; nothing was written (ФН 0x14)."""

    code = "drive_storage_full"
    fn_code = 0x14
    retryable = True


class OfdWaitExhausted(DriveError):
    """A document has waited 30 days for the OFD's confirmation; new documents are blocked (ФН 0x15)."""

    code = "drive_ofd_wait_exhausted"
    fn_code = 0x15
    retryable = True


class ShiftExpired(DriveError):
    """The shift is older than 24 hours: receipts are refused until it is closed (ФН 0x16)."""

    code = "drive_shift_expired"
    fn_code = 0x16
    retryable = True


class DriveClosed(DriveError):
    """The drive was closed (document 6); it only serves its archive."""

    code = "drive_closed"
    fn_code = 0x02


class DriveCorrupt(DriveError):
    """A stored record fails its CRC, decoding, numbering or a sign check."""

    code = "drive_corrupt"
    fn_code = 0x03
