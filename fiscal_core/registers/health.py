"""Register health (issue 4 item 5): the drive's numbers pushed into the dispatcher, and the status report.

Rules
- :func:`push` runs once a second per register (and when a submission uses up a register's room): fill
  counting the queue (:mod:`.fleet_state`), days of key life left, age of the oldest document the OFD has
  not confirmed (one outbox entry read), blocked (a closed drive). The dispatcher turns these into drains
  (99 %, 1 day, 29 days, blocked) and warning events (90 %, 30 / 3 days, 1 / 7 / 25 days).
- :func:`report` is for status pages and metrics: it reads every outbox in full (the unsent count), so it is
  called on demand, never per pump.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from fiscal_core.drive.state import DAY
from fiscal_core.registers.dispatch import Dispatcher
from fiscal_core.registers.fleet_state import Reg
from fiscal_core.registers.shifts import zone

__all__ = ["RegisterHealth", "push", "report"]


@dataclass(frozen=True, slots=True)
class RegisterHealth:
    """One register for the API layer's status pages, notifications and metrics."""

    register: str
    group: str
    fn_number: str
    reserve: bool
    profile: str
    in_rotation: bool
    reasons: tuple[str, ...]
    fill_percent: float  #: documents issued / capacity (without the queue)
    documents: int
    capacity: int
    days_to_expiry: float
    unsent: int  #: documents without the OFD's confirmation
    oldest_unsent_age_s: float
    shift_open: bool
    shift_number: int
    shift_age_s: float
    shift_closes_at: dt.datetime | None  #: local time of the planned close
    queue: int
    throughput: float  #: receipts/s over the dispatcher's window


def _days_left(reg: Reg, now: float) -> float:
    st = reg.drive.state
    if not st.registered_utc:
        return math.inf
    return (st.registered_utc + reg.drive.config.validity_days * DAY - now) / DAY


def push(d: Dispatcher, reg: Reg, now: float) -> None:
    drive = reg.drive
    reg.refresh_room()
    projected = reg.level - reg.room
    store = drive.store
    with store.read() as txn:
        first = next(store.outbox(txn, drive.drive_id, limit=1), None)
    d.update_health(
        reg.serial,
        now,
        fill_percent=100.0 * projected / drive.config.capacity,
        days_to_expiry=_days_left(reg, now),
        ofd_backlog_age_s=max(0.0, now - first[1]) if first else 0.0,
        blocked=drive.state.phase == "closed",
    )


def report(d: Dispatcher, regs: list[Reg], now: float) -> list[RegisterHealth]:
    snaps = {r.register: r for g in d.snapshot(now).values() for r in g.registers}
    out = []
    for reg in regs:
        drive = reg.drive
        st = drive.state
        with drive.store.read() as txn:
            first = next(drive.store.outbox(txn, drive.drive_id, limit=1), None)
        snap = snaps[reg.serial]
        issued = st.next_fd - 1
        # The OFD confirms in FD order (ofd.client sends in order and stops at the first failure), so the
        # unconfirmed documents are the FDs from the first one to the last: O(1), not a walk of the outbox.
        unsent = 0 if first is None else st.next_fd - first[0]
        closes = None
        if st.shift_open and math.isfinite(reg.close_due):
            closes = dt.datetime.fromtimestamp(reg.close_due, zone(reg.model.timezone)).replace(tzinfo=None)
        out.append(
            RegisterHealth(
                register=reg.serial,
                group=reg.grp.code,
                fn_number=drive.fn_number,
                reserve=reg.model.reserve,
                profile=reg.model.profile,
                in_rotation=snap.in_rotation,
                reasons=snap.reasons,
                fill_percent=round(100.0 * issued / drive.config.capacity, 3),
                documents=issued,
                capacity=drive.config.capacity,
                days_to_expiry=_days_left(reg, now),
                unsent=unsent,
                oldest_unsent_age_s=max(0.0, now - first[1]) if first else 0.0,
                shift_open=st.shift_open,
                shift_number=st.shift_number,
                shift_age_s=now - st.shift_opened_utc if st.shift_open else 0.0,
                shift_closes_at=closes,
                queue=snap.queue,
                throughput=snap.throughput,
            )
        )
    return out
