"""The register fleet (issue 4). This package's layer-1 part, the dispatcher, is re-exported here.

Rules
- :mod:`.dispatch` (and its state module) is pure: no I/O, no clock, importable by anything.
- Modules that drive fiscal drives (layer 2) live beside it and are imported by name, never from here, so
  importing the dispatcher never pulls in LMDB.
"""

from __future__ import annotations

from fiscal_core.registers.dispatch import (
    Dispatcher,
    DispatchError,
    Event,
    EventKind,
    GroupSettings,
    GroupSnapshot,
    HealthLimits,
    Policy,
    Reason,
    Refusal,
    RegisterSnapshot,
    UnknownGroup,
    UnknownRegister,
)

__all__ = [
    "DispatchError",
    "Dispatcher",
    "Event",
    "EventKind",
    "GroupSettings",
    "GroupSnapshot",
    "HealthLimits",
    "Policy",
    "Reason",
    "Refusal",
    "RegisterSnapshot",
    "UnknownGroup",
    "UnknownRegister",
]
