"""The embedded default's sandbox tenant (issue 4 item 1), provisioned idempotently.

Rules
- Login ``sandbox``, password ``sandbox``, INN ``5544332219`` (ATOL's public test INN, cloud-api §1.2); group
  ``sandbox-v4`` (API v4, FFD 1.05) and group ``sandbox-v5`` (API v5, FFD 1.2, marked goods), 4 registers
  each, ``emulated`` profile, Moscow time.
- Idempotent: what exists is kept (a changed password included), what is missing is added, a group with
  fewer than 4 registers is topped up. :func:`provision` returns the line the server prints at start.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from fiscal_core.registers.model import FleetFile, parse_tax_systems
from fiscal_core.registers.provision import add_registers

__all__ = ["GROUPS", "INN", "LOGIN", "PASSWORD", "REGISTERS", "provision"]

LOGIN = "sandbox"
PASSWORD = "sandbox"
INN = "5544332219"
NAME = 'ООО "Песочница"'
REGISTERS = 4
#: code → (FFD, capabilities)
GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sandbox-v4": ("1.05", ("internet_only",)),
    "sandbox-v5": ("1.2", ("internet_only", "marked")),
}


def provision(data_dir: str | os.PathLike[str], *, clock: Callable[[], float] = time.time) -> str:
    """Make sure the sandbox tenant, its two groups and their registers exist; say so in one line."""
    files = FleetFile(data_dir)
    added = 0
    with files.edit() as model:
        if LOGIN not in model.tenants:
            model.add_tenant(
                LOGIN, PASSWORD, INN, NAME, parse_tax_systems("osn,usn_income,usn_income_outcome,esn,patent")
            )
        for code, (ffd, caps) in GROUPS.items():
            if code not in model.groups:
                model.add_group(LOGIN, code, ffd, capabilities=list(caps), place="sandbox.fiscal-core.local")
        missing = {code: REGISTERS - len(model.registers_of(code)) for code in GROUPS}
    for code, n in missing.items():
        if n > 0:
            added += len(add_registers(files, code, n, clock=clock))
    groups = ", ".join(f"{code} (FFD {ffd}, {REGISTERS} registers)" for code, (ffd, _) in GROUPS.items())
    state = f"{added} registers added" if added else "already provisioned"
    return (
        f"sandbox tenant: login {LOGIN!r}, password {PASSWORD!r}, INN {INN}; groups {groups} in {files.root} ({state})"
    )
