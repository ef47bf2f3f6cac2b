"""The fleet's shift keeper (issue 4 item 4): which register closes its shift when, and its rotation meanwhile.

Rules
- The schedule is :mod:`.shifts` (``close_at`` local time with the register's stagger, never past
  ``max_age_s``); a register's close is planned when its shift opens (:meth:`ShiftKeeper.opened`).
- At ``leave_at`` (the close time less the register's lead) a register leaves rotation for ``shift_close`` and
  is *closing*; at the close time the fleet moves what is still queued to other registers, issues the close
  report (5) and calls :meth:`ShiftKeeper.finished`, which brings the register back.
- ``due_at`` is the earliest ``leave_at`` of the registers not closing yet, so the fleet looks at the schedule
  only when something is due, not at every pump.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from fiscal_core.registers.dispatch import Dispatcher, Reason
from fiscal_core.registers.fleet_state import Reg
from fiscal_core.registers.shifts import ShiftPolicy, next_close

__all__ = ["ShiftKeeper"]


class ShiftKeeper:
    """Close times of the registers' shifts and the set of registers closing now."""

    def __init__(self, policy: ShiftPolicy, dispatcher: Dispatcher) -> None:
        self.policy = policy
        self._d = dispatcher
        self.closing: set[Reg] = set()
        self.due_at = math.inf

    def opened(self, reg: Reg, opened_utc: float) -> None:
        """``reg``'s shift opened at ``opened_utc``: plan its close."""
        self.set_close(reg, next_close(opened_utc, reg.model.timezone, self.policy, reg.position))

    def set_close(self, reg: Reg, due: float) -> None:
        reg.close_due = due
        reg.leave_at = due - reg.lead
        if reg.leave_at < self.due_at:
            self.due_at = reg.leave_at

    def check(self, regs: Iterable[Reg], now: float) -> None:
        """Registers whose time has come leave rotation; ``due_at`` moves to the next one."""
        soonest = math.inf
        for reg in regs:
            if reg.closing:
                continue
            if now >= reg.leave_at:
                self.start(reg, now)
            elif reg.leave_at < soonest:
                soonest = reg.leave_at
        self.due_at = soonest

    def start(self, reg: Reg, now: float) -> None:
        if not reg.closing:
            reg.closing = True
            self.closing.add(reg)
            self._d.set_in_rotation(reg.serial, False, Reason.SHIFT_CLOSE, now)

    def ready(self, reg: Reg, now: float) -> bool:
        """Whether a closing register closes now: its time has come, no batch is being served, no retry waits."""
        return not reg.busy and now >= reg.close_due and not math.isfinite(reg.retry_at)

    def finished(self, reg: Reg, now: float) -> None:
        """The shift is closed (or there was none to close, or closing is given up): back to rotation."""
        reg.closing = False
        reg.close_due = reg.leave_at = math.inf
        self.closing.discard(reg)
        self._d.set_in_rotation(reg.serial, True, Reason.SHIFT_CLOSE, now)

    def wakeup(self, reg: Reg) -> float:
        return reg.close_due if reg.closing else reg.leave_at
