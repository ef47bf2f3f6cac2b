"""The emulated fiscal drive (ФН): numbering, fiscal signs, durable storage in LMDB, legal limits.

``FiscalDrive`` (:mod:`.drive`) issues and keeps documents; :mod:`.store` is the LMDB layout (a shard of
drives), :mod:`.records` the CRC-checked record format, :mod:`.state` the limits, :mod:`.errors` the refusals
with the real ФН's codes, :mod:`.archive` verification, export and summaries.
"""

from fiscal_core.drive.drive import TEST_FN_PREFIX, FiscalDrive, Issued, make_fn_number
from fiscal_core.drive.errors import DriveError
from fiscal_core.drive.store import DriveStore

__all__ = ["TEST_FN_PREFIX", "DriveError", "DriveStore", "FiscalDrive", "Issued", "make_fn_number"]
