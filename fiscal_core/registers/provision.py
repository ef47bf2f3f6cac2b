"""Provisioning registers and replacing drives in a data directory (issue 4 items 1 and 6).

Rules
- A register is provisioned with its registration report: :meth:`FiscalDrive.create` issues form 1 on the new
  drive, in the shard store of its group (``DATA/drives/shard-N``). The model is saved after every register, so
  a crash midway leaves the registers made so far, and a number an interrupted run took is never reused
  (:func:`_free_fn_number` skips a drive the model does not know yet).
- Replacing a drive (form 6 then 11): the old drive's shift is closed (5), the drive is closed (6) and stays in
  its store, readable and verifiable (:func:`fiscal_core.drive.archive.verify`); the new drive, with a new FN
  number, in the same store, starts with the re-registration report (11) with the reason «замена ФН»
  (FFD 1.05: 1101 = 1; FFD 1.2: 1205 bit 0) as its FD 1.
- These functions take a clock (UTC seconds): the CLI passes the wall clock, tests and the fleet their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from fiscal_core.drive.drive import FiscalDrive
from fiscal_core.drive.store import DriveStore
from fiscal_core.errors import InputError
from fiscal_core.ffd.enums import ChangeReason, FfdVersion, ReregistrationReason
from fiscal_core.registers import shifts
from fiscal_core.registers.model import FleetFile, FleetModel, Register, identity_for

__all__ = ["add_registers", "fit_replacement", "replace_drive", "replacement_reason"]

Clock = Callable[[], float]


def _free_fn_number(model: FleetModel, store: DriveStore) -> str:
    taken = store.drive_ids()
    while True:
        fn = model.new_fn_number()
        if fn not in taken:
            return fn


def add_registers(
    files: FleetFile,
    group: str,
    count: int,
    *,
    reserve: bool = False,
    timezone: str = "Europe/Moscow",
    profile: str = "emulated",
    capacity: int = 250_000,
    validity_days: int = 1110,
    service_time_s: float | None = None,
    clock: Clock = time.time,
    open_stores: dict[int, DriveStore] | None = None,
) -> list[Register]:
    """``count`` new registers of ``group``, each with a registered drive (module rules).

    ``open_stores`` (shard → store) are stores this process already has open (a running fleet: LMDB opens an
    environment once per process); they are used and left open.
    """
    if count < 1:
        raise InputError("--count must be at least 1")
    try:
        shifts.check_zone(timezone, clock())
    except ValueError as exc:
        raise InputError(str(exc)) from None
    made: list[Register] = []
    given = open_stores or {}
    stores: dict[int, DriveStore] = {}
    try:
        with files.edit() as model:
            model.group(group)
            for _ in range(count):
                reg = model.new_register(
                    group,
                    timezone=timezone,
                    reserve=reserve,
                    profile=profile,
                    capacity=capacity,
                    validity_days=validity_days,
                    service_time_s=service_time_s,
                )
                store = given.get(reg.shard) or stores.get(reg.shard)
                if store is None:
                    store = stores[reg.shard] = DriveStore(files.shard_path(reg.shard))
                reg.fn_number = _free_fn_number(model, store)
                reg.drives = [reg.fn_number]
                made.append(reg)
            # The numbers are taken before any drive exists: a crash from here on leaves drives nobody refers
            # to (harmless, kept) and numbers that are never used again, not a number used twice.
            reserved = msgspec.structs.replace(model, registers=dict(model.registers))
            for reg in made:
                del reserved.registers[reg.serial]
            files.save(reserved)
            for reg in made:
                try:
                    FiscalDrive.create(
                        given.get(reg.shard) or stores[reg.shard],
                        identity_for(model, reg),
                        capacity=capacity,
                        validity_days=validity_days,
                        timezone=timezone,
                        clock=clock,
                    )
                except ValueError as exc:
                    raise InputError(str(exc)) from None
    finally:
        for store in stores.values():
            store.close()
    return made


def replacement_reason(ffd_version: int) -> int:
    """«замена ФН»: 1101 = 1 in FFD 1.05, bit 0 of 1205 in FFD 1.2."""
    if ffd_version == FfdVersion.FFD_105:
        return int(ReregistrationReason.FN_REPLACEMENT)
    return int(ChangeReason.FN_REPLACEMENT)


def fit_replacement(model: FleetModel, reg: Register, store: DriveStore, old: FiscalDrive, clock: Clock) -> FiscalDrive:
    """Close ``old`` (5 if a shift is open, then 6) and fit a new registered drive with report 11 as FD 1.

    The caller saves the model afterwards (``reg.fn_number`` and ``reg.drives`` are updated here).
    """
    if old.state.phase == "fiscal":
        if old.state.shift_open:
            old.close_shift()
        old.close()
    fn = _free_fn_number(model, store)
    identity = identity_for(model, reg, fn)
    new = FiscalDrive.create(
        store,
        identity,
        capacity=reg.capacity,
        validity_days=reg.validity_days,
        timezone=reg.timezone,
        sign_algorithm=old.config.sign_algorithm,
        clock=clock,
        register=False,
    )
    # A replacement drive's first document is the re-registration report (11, «замена ФН»), not form 1.
    new.reregister(replacement_reason(int(identity.ffd_version)))
    reg.fn_number = fn
    reg.drives.append(fn)
    return new


def replace_drive(files: FleetFile, serial: str, *, clock: Clock = time.time) -> tuple[str, str]:
    """Offline replacement (the service is stopped): ``(old FN, new FN)``."""
    with files.edit() as model:
        reg = model.register(serial)
        store = DriveStore(files.shard_path(reg.shard))
        try:
            old_fn = reg.fn_number
            old = FiscalDrive.open(store, old_fn, clock=clock)
            fit_replacement(model, reg, store, old, clock)
            files.save(model)
        finally:
            store.close()
    return old_fn, reg.fn_number
