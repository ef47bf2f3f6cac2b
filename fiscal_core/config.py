"""Provisioning from a config file (issue 4 item 1): a TOML description of tenants, groups and registers.

Rules
- The file says what should exist; :func:`apply` adds what is missing and never removes or renumbers
  anything, so applying the same file twice changes nothing. A tenant's password is rehashed only when it
  no longer matches. A ``[[tenants.groups.registers]]`` entry asks for ``count`` registers of that kind
  (reserve flag, time zone, profile) in the group: the missing ones are made, each with its registration
  report.
- ``sandbox = true`` (the default) provisions the sandbox tenant as well (:mod:`fiscal_core.registers.sandbox`).
- Unknown keys are errors (a typo must not pass silently); every error is an
  :class:`~fiscal_core.errors.InputError` naming the key.

Example::

    data = "./fiscal-data"

    [[tenants]]
    login = "shop"
    password = "s3cret"
    inn = "7707083893"
    name = 'ООО "Магазин"'
    tax_systems = ["osn", "usn_income"]
    # ofd = "ofd.example.ru:7777"         # the tenant's own OFD (default: the server's --ofd)
    # ofd_secret = "…hex…"                # its operator secret, needed with ofd

    [[tenants.groups]]
    code = "shop-v5"
    ffd = "1.2"
    capabilities = ["internet_only", "marked"]
    target_wait_s = 1.0

    [[tenants.groups.registers]]
    count = 8
    timezone = "Asia/Yekaterinburg"
    profile = "hardware"

    [[tenants.groups.registers]]
    count = 2
    reserve = true
"""

from __future__ import annotations

import os
import time
import tomllib
from collections.abc import Callable
from typing import Literal

import msgspec

from fiscal_core.errors import InputError
from fiscal_core.registers import sandbox
from fiscal_core.registers.model import DEFAULT_DATA, FleetFile, check_password, hash_password, parse_tax_systems
from fiscal_core.registers.provision import add_registers

__all__ = ["Config", "GroupSpec", "RegisterSpec", "TenantSpec", "apply", "load", "loads"]


class RegisterSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    count: int
    reserve: bool = False
    timezone: str = "Europe/Moscow"
    profile: Literal["emulated", "hardware"] = "emulated"
    capacity: int = 250_000
    validity_days: int = 1110


class GroupSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: str
    ffd: Literal["1.05", "1.2"] = "1.2"
    api_version: Literal["v4", "v5"] | None = None
    capabilities: list[str] = msgspec.field(default_factory=list)
    target_wait_s: float = 1.0
    admission_margin_s: float = 1.0
    policy: Literal["jsq", "p2c"] = "jsq"
    address: str | None = None
    place: str | None = None
    sender_email: str | None = None
    registers: list[RegisterSpec] = msgspec.field(default_factory=list)


class TenantSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    login: str
    password: str
    inn: str
    name: str
    tax_systems: list[str] = msgspec.field(default_factory=lambda: ["osn"])
    ofd: str = ""  #: the tenant's own OFD, HOST:PORT ("" = the server's)
    ofd_secret: str = ""  #: its operator secret, hex (needed with ``ofd``)
    groups: list[GroupSpec] = msgspec.field(default_factory=list)


class Config(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    data: str = DEFAULT_DATA
    sandbox: bool = True
    tenants: list[TenantSpec] = msgspec.field(default_factory=list)


def loads(text: str) -> Config:
    try:
        raw = tomllib.loads(text)
        return msgspec.convert(raw, Config)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"config: not TOML: {exc}") from None
    except msgspec.ValidationError as exc:
        raise InputError(f"config: {exc}") from None


def load(path: str | os.PathLike[str]) -> Config:
    try:
        with open(path, encoding="utf-8") as f:
            return loads(f.read())
    except OSError as exc:
        raise InputError(f"config: {exc}") from None


def apply(config: Config, data_dir: str | None = None, *, clock: Callable[[], float] = time.time) -> list[str]:
    """Make the data directory hold what ``config`` describes; one line per change (module rules)."""
    files = FleetFile(data_dir or config.data)
    lines: list[str] = []
    if config.sandbox:
        lines.append(sandbox.provision(files.root, clock=clock))
    wanted: list[tuple[str, RegisterSpec, int]] = []
    with files.edit() as model:
        for t in config.tenants:
            if t.login not in model.tenants:
                model.add_tenant(t.login, t.password, t.inn, t.name, parse_tax_systems(t.tax_systems))
                lines.append(f"tenant {t.login} added")
            else:
                have = model.tenants[t.login]
                if have.inn != t.inn:
                    raise InputError(f"tenant {t.login}: the INN is {have.inn}, the config says {t.inn}")
                if not check_password(have.password, t.password):
                    have.password = hash_password(t.password)
                    lines.append(f"tenant {t.login}: password changed")
            have = model.tenants[t.login]
            if (have.ofd, have.ofd_secret) != (t.ofd, t.ofd_secret if t.ofd else ""):
                model.set_tenant_ofd(t.login, t.ofd, t.ofd_secret)
                lines.append(f"tenant {t.login}: OFD {t.ofd or 'of the server'}")
            for g in t.groups:
                if g.code not in model.groups:
                    model.add_group(
                        t.login,
                        g.code,
                        g.ffd,
                        api_version=g.api_version,
                        capabilities=g.capabilities,
                        target_wait_s=g.target_wait_s,
                        admission_margin_s=g.admission_margin_s,
                        policy=g.policy,
                        address=g.address,
                        place=g.place,
                        sender_email=g.sender_email,
                    )
                    lines.append(f"group {g.code} added (FFD {g.ffd})")
                elif model.groups[g.code].tenant != t.login:
                    raise InputError(f"group {g.code} belongs to tenant {model.groups[g.code].tenant}")
                keys = [(r.reserve, r.timezone, r.profile) for r in g.registers]
                if len(set(keys)) != len(keys):
                    raise InputError(f"group {g.code}: two register entries with the same reserve, timezone, profile")
                for spec in g.registers:
                    have_n = sum(
                        1
                        for r in model.registers_of(g.code)
                        if (r.reserve, r.timezone, r.profile) == (spec.reserve, spec.timezone, spec.profile)
                    )
                    if spec.count > have_n:
                        wanted.append((g.code, spec, spec.count - have_n))
    for code, spec, n in wanted:
        made = add_registers(
            files,
            code,
            n,
            reserve=spec.reserve,
            timezone=spec.timezone,
            profile=spec.profile,
            capacity=spec.capacity,
            validity_days=spec.validity_days,
            clock=clock,
        )
        kind = "reserve " if spec.reserve else ""
        lines.append(f"group {code}: {len(made)} {kind}registers added ({spec.profile}, {spec.timezone})")
    return lines
