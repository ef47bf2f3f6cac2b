"""``fiscal-core tenant|group|register|fleet …``: provision and inspect the register fleet of a data directory.

Rules
- Every command takes ``--data DIR`` (default ``$FISCAL_CORE_DATA`` or ``./fiscal-data``) and changes
  ``DIR/fleet.json`` under its lock; drives go to ``DIR/drives/shard-N``.
- ``register add`` registers each new drive (form 1); ``register replace-drive`` closes the old drive (5, 6)
  and fits a new one (11, «замена ФН»). Both write fiscal documents with the wall clock: run them with the
  service stopped (a running service replaces drives through its API, see ``Fleet.replace_drive``).
- ``fleet show`` reads only; ``--json`` prints the model and each drive's numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from fiscal_core.errors import InputError


def _data(args: argparse.Namespace) -> str:
    return str(args.data or os.environ.get("FISCAL_CORE_DATA") or "./fiscal-data")


def _files(args: argparse.Namespace) -> Any:
    from fiscal_core.registers.model import FleetFile

    return FleetFile(_data(args))


def _caps(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def _tenant_add(args: argparse.Namespace) -> int:
    from fiscal_core.registers.model import parse_tax_systems

    files = _files(args)
    with files.edit() as model:
        t = model.add_tenant(args.login, args.password, args.inn, args.name, parse_tax_systems(args.tax_systems))
        if args.ofd:
            model.set_tenant_ofd(t.login, args.ofd, args.ofd_secret or "")
    print(f"tenant {t.login} added (INN {t.inn}) in {files.root}")
    return 0


def _tenant_set_ofd(args: argparse.Namespace) -> int:
    files = _files(args)
    address = "" if args.ofd == "default" else args.ofd
    with files.edit() as model:
        model.set_tenant_ofd(args.login, address, args.secret or "")
    where = address or "the server's (serve --ofd)"
    print(f"tenant {args.login}: OFD {where}; running servers pick it up within seconds")
    return 0


def _group_add(args: argparse.Namespace) -> int:
    files = _files(args)
    with files.edit() as model:
        g = model.add_group(
            args.tenant,
            args.code,
            args.ffd,
            api_version=args.api,
            capabilities=_caps(args.capabilities),
            target_wait_s=args.target_wait,
            admission_margin_s=args.admission_margin,
            policy=args.policy,
            address=args.address,
            place=args.place,
            sender_email=args.email,
        )
    caps = ", ".join(g.capabilities) or "none"
    print(f"group {g.code} added for {g.tenant}: API {g.api_version}, FFD {g.ffd}, capabilities {caps}")
    return 0


def _register_add(args: argparse.Namespace) -> int:
    from fiscal_core.registers.provision import add_registers

    made = add_registers(
        _files(args),
        args.group,
        args.count,
        reserve=args.reserve,
        timezone=args.timezone,
        profile=args.profile,
        capacity=args.capacity,
        validity_days=args.validity_days,
    )
    for reg in made:
        kind = "reserve register" if reg.reserve else "register"
        print(
            f"{kind} {reg.serial} (RNM {reg.registration_number}) in {reg.group}: drive {reg.fn_number} registered, "
            f"{reg.timezone}, {reg.profile}"
        )
    return 0


def _replace_drive(args: argparse.Namespace) -> int:
    from fiscal_core.registers.provision import replace_drive

    old, new = replace_drive(_files(args), args.register)
    print(f"register {args.register}: drive {old} closed (archive kept), drive {new} fitted and re-registered")
    return 0


def _drive_numbers(files: Any, model: Any) -> dict[str, dict[str, Any]]:
    """Per register, the current drive's numbers (read-only; a missing store reads as nothing)."""
    from fiscal_core.drive.archive import info
    from fiscal_core.drive.drive import FiscalDrive
    from fiscal_core.drive.store import DriveStore

    out: dict[str, dict[str, Any]] = {}
    stores: dict[int, Any] = {}
    try:
        for serial, reg in model.registers.items():
            if reg.shard not in stores:
                try:
                    stores[reg.shard] = DriveStore(files.shard_path(reg.shard), readonly=True)
                except FileNotFoundError:
                    stores[reg.shard] = None
            store = stores[reg.shard]
            if store is None:
                continue
            d = info(FiscalDrive.open(store, reg.fn_number))
            out[serial] = {k: d[k] for k in ("phase", "documents", "capacity", "fill_percent", "days_left", "shift")}
            out[serial]["unsent"] = d["outbox"]["unconfirmed"]
    finally:
        for store in stores.values():
            if store is not None:
                store.close()
    return out


def _show(args: argparse.Namespace) -> int:
    import msgspec

    from fiscal_core.registers.model import tax_names

    files = _files(args)
    if not files.exists():
        raise InputError(f"no fleet in {files.root}")
    model = files.load()
    drives = _drive_numbers(files, model)
    if args.json:
        doc = msgspec.to_builtins(model)
        for t in doc["tenants"].values():
            t.pop("password")
        for serial, numbers in drives.items():
            doc["registers"][serial]["drive"] = numbers
        json.dump(doc, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return 0
    print(f"fleet in {files.root}")
    for t in model.tenants.values():
        print(f"tenant {t.login}: {t.name}, INN {t.inn}, tax systems {', '.join(tax_names(t.tax_systems))}")
        for g in (g for g in model.groups.values() if g.tenant == t.login):
            caps = ", ".join(g.capabilities) or "none"
            print(
                f"  group {g.code}: API {g.api_version}, FFD {g.ffd}, capabilities {caps}, "
                f"target wait {g.target_wait_s:g} s, {g.policy}"
            )
            for r in model.registers_of(g.code):
                d = drives.get(r.serial, {})
                shift = d.get("shift") or {}
                opened = "open" if shift.get("open") else "closed"
                state = (
                    f"{d['phase']}, {d['documents']}/{d['capacity']} documents ({d['fill_percent']}%), "
                    f"{d['days_left']} days left, shift {shift.get('number')} {opened}, {d['unsent']} unsent"
                    if d
                    else "drive store missing"
                )
                print(
                    f"    {'reserve ' if r.reserve else ''}register {r.serial} RNM {r.registration_number} "
                    f"FN {r.fn_number} {r.timezone} {r.profile}: {state}"
                )
    return 0


def _apply(args: argparse.Namespace) -> int:
    from fiscal_core import config

    for line in config.apply(config.load(args.config), args.data or os.environ.get("FISCAL_CORE_DATA")):
        print(line)
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    from fiscal_core.registers.sandbox import provision

    print(provision(_data(args)))
    return 0


def _with_data(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--data", help="the data directory (default: $FISCAL_CORE_DATA or ./fiscal-data)")
    return p


def register(sub: Any) -> None:
    t = sub.add_parser("tenant", help="merchants: credentials, INN, name, tax systems")
    tsub = t.add_subparsers(dest="tenant_command", metavar="ACTION", required=True)
    q = _with_data(tsub.add_parser("add", help="add a tenant (the password is stored as a salted scrypt hash)"))
    q.add_argument("--login", required=True)
    q.add_argument("--password", required=True)
    q.add_argument("--inn", required=True, help="10 or 12 digits with valid check digits")
    q.add_argument("--name", required=True, help="the user's name as receipts print it (1048)")
    q.add_argument("--tax-systems", default="osn", help="comma-separated: osn, usn_income, usn_income_outcome, …")
    q.add_argument("--ofd", help="the tenant's own OFD, HOST:PORT (default: the server's --ofd)")
    q.add_argument("--ofd-secret", help="that OFD's operator secret, hex (needed with --ofd)")
    q.set_defaults(func=_tenant_add)
    q = _with_data(tsub.add_parser("set-ofd", help="point a tenant's drives at its own OFD, or back at the server's"))
    q.add_argument("--login", required=True)
    q.add_argument("--ofd", required=True, help="HOST:PORT, or 'default' for the server's --ofd")
    q.add_argument("--secret", help="the OFD's operator secret, hex (fiscal-core ofd-emulator --secret)")
    q.set_defaults(func=_tenant_set_ofd)

    g = sub.add_parser("group", help="groups of registers: one per shop and API version")
    gsub = g.add_subparsers(dest="group_command", metavar="ACTION", required=True)
    q = _with_data(gsub.add_parser("add", help="add a group to a tenant"))
    q.add_argument("--tenant", required=True, help="the tenant's login")
    q.add_argument("--code", required=True, help="the group code the API uses")
    q.add_argument("--ffd", required=True, choices=("1.05", "1.2"))
    q.add_argument("--api", choices=("v4", "v5"), help="default: v4 for FFD 1.05, v5 for 1.2")
    q.add_argument("--capabilities", help="comma-separated: internet_only, agent, excise, marked")
    q.add_argument("--target-wait", type=float, default=1.0, help="seconds a receipt may wait (reserves beyond)")
    q.add_argument("--admission-margin", type=float, default=1.0, help="seconds past the target before refusing")
    q.add_argument("--policy", choices=("jsq", "p2c"), default="jsq")
    q.add_argument("--address", help="address of settlement (1009)")
    q.add_argument("--place", help="place of settlement, the site (1187); default: the group code")
    q.add_argument("--email", help="sender e-mail (1117)")
    q.set_defaults(func=_group_add)

    r = sub.add_parser("register", help="registers: provision, replace drives")
    rsub = r.add_subparsers(dest="register_command", metavar="ACTION", required=True)
    q = _with_data(rsub.add_parser("add", help="add registers to a group, each with a registered drive"))
    q.add_argument("--group", required=True)
    q.add_argument("--count", type=int, default=1)
    q.add_argument("--reserve", action="store_true", help="reserve registers join the group at peaks only")
    q.add_argument("--timezone", default="Europe/Moscow", help="time zone of the place of settlement (UTC+2 … +12)")
    q.add_argument("--profile", choices=("emulated", "hardware"), default="emulated")
    q.add_argument("--capacity", type=int, default=250_000, help="documents per drive")
    q.add_argument("--validity-days", type=int, default=1110, help="key validity: 410, 470 or 1110 days")
    q.set_defaults(func=_register_add)
    q = _with_data(rsub.add_parser("replace-drive", help="close the drive (5, 6) and fit a new one (11)"))
    q.add_argument("--register", required=True, help="the register's serial number")
    q.set_defaults(func=_replace_drive)

    f = sub.add_parser("fleet", help="the whole fleet: show, apply a config file, the sandbox")
    fsub = f.add_subparsers(dest="fleet_command", metavar="ACTION", required=True)
    q = _with_data(fsub.add_parser("show", help="tenants, groups, registers and their drives"))
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_show)
    q = _with_data(fsub.add_parser("apply", help="provision from a TOML config file (idempotent)"))
    q.add_argument("config", help="the TOML file")
    q.set_defaults(func=_apply)
    q = _with_data(fsub.add_parser("sandbox", help="provision the sandbox tenant (idempotent)"))
    q.set_defaults(func=_sandbox)
