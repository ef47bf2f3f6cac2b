"""The fleet's runtime records: settings, results, events, and what it keeps per register, group and store.

Rules
- :class:`Result` is what a client gets back for one receipt: the fiscal data (FD number, fiscal sign, shift
  and receipt numbers, local time, FN and registration numbers), or ``error`` for a receipt that can never be
  issued (an input fault found late; the fleet checks receipts at submission, so this is rare). A drive
  refusal never becomes a Result: the receipt goes to another register.
- :class:`FleetEvent` has the dispatcher's :class:`~fiscal_core.registers.dispatch.Event` shape (kind, at,
  group, register, detail) so the API layer treats both alike; its kinds are :class:`FleetEventKind`.
- A register's *room* is how many more receipts may be routed to it before its drive reaches the drain level:
  ``level − (issued + queued + 2)`` documents, the 2 being a shift open and a shift close kept in hand. A
  receipt routed to a drive is as good as issued there, so the fill pushed to the dispatcher counts the queue:
  the register is drained the moment its queue would take the drive to the level, never after.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import msgspec

from fiscal_core.errors import FiscalError
from fiscal_core.registers.dispatch import HealthLimits
from fiscal_core.registers.shifts import ShiftPolicy

if TYPE_CHECKING:
    from fiscal_core.drive.drive import FiscalDrive
    from fiscal_core.drive.store import DriveStore
    from fiscal_core.ffd.documents import DriveIdentity
    from fiscal_core.registers.model import Register

__all__ = ["FleetEvent", "FleetEventKind", "FleetReason", "FleetSettings", "Result"]

#: Documents kept in hand per drive beyond the queue: a shift open and a shift close.
SPARE_DOCUMENTS = 2


class FleetEventKind(StrEnum):
    SHIFT_OPENED = "shift_opened"
    SHIFT_CLOSED = "shift_closed"
    DRIVE_REFUSED = "drive_refused"
    DRIVE_REPLACED = "drive_replaced"
    STORAGE_FAILED = "storage_failed"
    RECEIPT_FAILED = "receipt_failed"


class FleetReason(StrEnum):
    """Why the fleet took a register out of rotation (beside the dispatcher's :class:`Reason`)."""

    DRIVE_REFUSED = "drive_refused"  #: the drive refused a document: passing ones are tried again, others wait
    STORAGE_FAILED = "storage_failed"  #: the shard store could not commit: tried again after ``retry_s``
    DRIVE_REPLACEMENT = "drive_replacement"  #: while its drive is being replaced


@dataclass(frozen=True, slots=True)
class FleetEvent:
    kind: FleetEventKind
    at: float
    group: str
    register: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FleetSettings:
    """Tuning of a fleet; the per-group values (target wait, policy) come from the model."""

    #: Receipts a register takes per batch: emulated drives batch for group commit, hardware serves one at a time.
    max_batch: int = 512
    hardware_batch: int = 1
    shift: ShiftPolicy = field(default_factory=ShiftPolicy)
    #: After a passing drive refusal or a failed store commit, the register is tried again this much later.
    retry_s: float = 5.0
    limits: HealthLimits = field(default_factory=HealthLimits)
    release_hold_s: float = 30.0
    cashier: str | None = None  #: 1021 of the shift reports (a cloud register has none by default)

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.hardware_batch < 1 or self.retry_s <= 0:
            raise ValueError("max_batch ≥ 1, hardware_batch ≥ 1 and retry_s > 0 are required")


class Result(msgspec.Struct, frozen=True, gc=False):
    """One receipt's outcome; see the module rules. ``at`` is the fleet time it was finished.

    A msgspec Struct (its ``__init__`` is C): the fleet makes one per receipt on its hot path.
    """

    ticket: int
    ref: Any
    group: str
    register: str
    at: float
    fn_number: str = ""
    registration_number: str = ""
    fd_number: int = 0
    fiscal_sign: int = 0
    shift_number: int = 0
    receipt_number: int = 0
    when: dt.datetime | None = None  #: 1012, local wall-clock time of the place of settlement
    total: int = 0
    form: int = 0
    error: FiscalError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Store:
    """A shard store and the registers whose drives it holds."""

    __slots__ = ("failed_until", "path", "regs", "store")

    def __init__(self, path: str, store: DriveStore) -> None:
        self.path = path
        self.store = store
        self.regs: list[Reg] = []
        self.failed_until = -math.inf


class Grp:
    """A group at run time: the identity bodies are encoded for, its capabilities, receipts with no home yet."""

    __slots__ = ("caps", "check_caps", "code", "identity", "orphans", "regs")

    def __init__(self, code: str, identity: DriveIdentity, caps: frozenset[str], all_caps: frozenset[str]) -> None:
        self.code = code
        self.identity = identity
        self.caps = caps
        #: Only a group that lacks some capability has to look at what a receipt needs.
        self.check_caps = caps != all_caps
        self.regs: list[Reg] = []
        #: Accepted receipts that no register could take when they had to move (none in rotation): tried each pump.
        self.orphans: deque[tuple[int, Any, Any]] = deque()


class Reg:
    """A register at run time. ``queue`` holds routed, not started receipts as ``(ticket, body, ref)``."""

    __slots__ = (
        "busy",
        "close_due",
        "closing",
        "drive",
        "grp",
        "hardware",
        "lead",
        "leave_at",
        "level",
        "listed",
        "max_batch",
        "model",
        "position",
        "queue",
        "retry_at",
        "room",
        "serial",
        "service_time",
        "serving",
        "started",
        "store",
    )

    def __init__(
        self,
        model: Register,
        grp: Grp,
        store: Store,
        drive: FiscalDrive,
        position: int,
        settings: FleetSettings,
        drain_percent: float,
    ) -> None:
        self.model = model
        self.serial = model.serial
        self.grp = grp
        self.store = store
        self.drive = drive
        self.position = position
        self.hardware = model.profile == "hardware"
        self.service_time = model.service_time
        self.max_batch = settings.hardware_batch if self.hardware else settings.max_batch
        self.queue: deque[tuple[int, Any, Any]] = deque()
        self.started = 0  #: receipts taken for a batch and not yet on the drive (inside a pump only)
        self.serving = 0  #: hardware: receipts on the drive whose service time has not passed (results held)
        self.busy = False
        self.listed = False  #: in the fleet's work list
        self.close_due = math.inf  #: UTC seconds at which the open shift must be closed
        #: A register that serves at a real pace leaves rotation ahead of the close to finish its queue; an
        #: emulated one finishes any queue within a pump, so it is out only for the pump that closes.
        self.lead = settings.shift.lead_s if self.hardware else 0.0
        self.leave_at = math.inf
        self.closing = False
        self.retry_at = math.inf
        self.level = drain_level(drive.config.capacity, drain_percent)
        self.room = 0

    def projected(self) -> int:
        """Documents the drive will hold once its queue is done, plus the spare ones."""
        return self.drive.state.next_fd - 1 + len(self.queue) + self.started + SPARE_DOCUMENTS

    def refresh_room(self) -> None:
        self.room = self.level - self.projected()


def drain_level(capacity: int, percent: float) -> int:
    """The fewest documents at which ``100 × documents / capacity`` reaches ``percent``."""
    level = math.ceil(percent * capacity / 100)
    while level > 0 and 100 * (level - 1) / capacity >= percent:
        level -= 1
    while 100 * level / capacity < percent:
        level += 1
    return level
