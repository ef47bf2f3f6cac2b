"""The fleet's model (issue 4 item 1): tenant → groups → registers, kept in ``DATA/fleet.json``.

Rules
- A **tenant** is a merchant: login, password (stored as a salted scrypt hash, never in clear), INN (checked
  by its check digits), name (1048), tax systems (1062). A **group** is one shop and API version: its code,
  ``v4`` (FFD 1.05) or ``v5`` (FFD 1.2) — the pairing ATOL enforces (error 21 otherwise) —, capabilities, the
  target wait and the balancing policy. A **register** has a serial number (1013), a registration number by
  the CRC rule (1037), one fiscal drive at a time (FN numbers start with 9999: test drives), the time zone of
  its place of settlement, a reserve flag and a service-time profile.
- Capabilities are the group's and every register of the group has them: ``internet_only`` (1108 / 1290 bit
  5), ``agent`` (1057 / the 1222 agent data), ``excise`` (1207 / bit 6), ``marked`` (bit 8, FFD 1.2 only).
  A receipt needing one the group lacks is refused at submission (:func:`required_capabilities`).
- Everything that goes into a receipt's body and is not per register (user name, address, place, e-mail, the
  modes) is the group's, so a body encoded once for the group fits every register of it.
- Drives live in LMDB stores ``DATA/drives/shard-N/``. A shard holds the registers of one group, at most
  :data:`SHARD_SIZE` of them: the fleet commits the batches of all registers of a shard in one durable
  transaction (one fsync for the group, the unit that a peak hits), while tenants never share a store (one
  merchant's full disk map or corrupt store stops nobody else, and an archive is exported per merchant).
- ``fleet.json`` is written atomically (temp file, fsync, rename, fsync of the directory) under an exclusive
  lock (``fleet.lock``), so concurrent ``fiscal-core`` commands never lose each other's changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterator
from typing import Literal

import msgspec

from fiscal_core.errors import InputError
from fiscal_core.ffd.documents import DriveIdentity
from fiscal_core.ffd.enums import AgentType, FfdVersion, TaxSystem
from fiscal_core.ffd.identifiers import inn_valid, registration_number
from fiscal_core.ffd.receipt import Receipt
from fiscal_core.ffd.receipt_body import CAP_AGENT, CAP_EXCISE, CAP_MARKED, capability_bits

__all__ = [
    "CAPABILITIES",
    "DEFAULT_DATA",
    "PROFILES",
    "SHARD_SIZE",
    "FleetFile",
    "FleetModel",
    "Group",
    "Register",
    "Tenant",
    "capabilities_of",
    "check_password",
    "group_identity",
    "hash_password",
    "identity_for",
    "parse_tax_systems",
    "required_capabilities",
    "tax_names",
]

DEFAULT_DATA = "./fiscal-data"
#: Registers of one group per drive store (one durable commit carries all of them): see the module rules.
SHARD_SIZE = 64
CAPABILITIES = ("internet_only", "agent", "excise", "marked")
#: Service time per receipt by profile: ``emulated`` as fast as the drive goes (this is only the dispatcher's
#: first estimate), ``hardware`` ~1 receipt/s per register as real ФН devices (cloud-api §3.1).
PROFILES: dict[str, float] = {"emulated": 0.0001, "hardware": 1.0}
FFD_VERSIONS = {"1.05": FfdVersion.FFD_105, "1.2": FfdVersion.FFD_12}
API_FOR_FFD = {"1.05": "v4", "1.2": "v5"}
_TAX_NAMES = {
    "osn": TaxSystem.OSN,
    "usn_income": TaxSystem.USN_INCOME,
    "usn_income_outcome": TaxSystem.USN_INCOME_EXPENSE,
    "envd": TaxSystem.ENVD,
    "esn": TaxSystem.ESHN,
    "patent": TaxSystem.PATENT,
}
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_OFD = ("7704211201", 'ООО "ОФД-эмулятор"')
_KKT_VERSION = "FC 0.1"


def _bad(message: str) -> InputError:
    return InputError(message)


# --------------------------------------------------------------------------------------------- credentials


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (hex), with a fresh 16-byte salt."""
    if not password:
        raise _bad("the password is empty")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(stored: str, password: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


def parse_tax_systems(names: list[str] | str) -> int:
    """``osn,usn_income`` (ATOL ``sno`` names) → the 1062 bitmask."""
    items = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    mask = 0
    for name in filter(None, items):
        if name not in _TAX_NAMES:
            raise _bad(f"unknown tax system {name!r}; one of {', '.join(_TAX_NAMES)}")
        mask |= _TAX_NAMES[name]
    if not mask:
        raise _bad("at least one tax system is needed")
    return mask


def parse_ofd_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` → (host, port); ``InputError`` otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _bad(f"OFD address {address!r}: HOST:PORT expected")
    return host, int(port)


def tax_names(mask: int) -> list[str]:
    return [name for name, bit in _TAX_NAMES.items() if mask & bit]


# --------------------------------------------------------------------------------------------- the model


class Tenant(msgspec.Struct, kw_only=True):
    login: str
    password: str  #: :func:`hash_password`
    inn: str
    name: str
    tax_systems: int  #: 1062 bitmask
    #: The tenant's own OFD as HOST:PORT; "" = the server's (``fiscal-core serve --ofd``).
    ofd: str = ""
    #: That OFD's operator secret (hex): the drives verify its confirmations with keys derived from it.
    ofd_secret: str = ""


class Group(msgspec.Struct, kw_only=True):
    code: str
    tenant: str
    ffd: Literal["1.05", "1.2"]
    api_version: Literal["v4", "v5"]
    capabilities: list[str] = msgspec.field(default_factory=list)
    target_wait_s: float = 1.0
    admission_margin_s: float = 1.0
    policy: Literal["jsq", "p2c"] = "jsq"
    address: str = "127000, г. Москва, ул. Облачная, д. 1"  #: 1009 (the data centre's, as ATOL prints)
    place: str = ""  #: 1187, the site; defaults to the group code
    sender_email: str | None = None  #: 1117
    shards: list[int] = msgspec.field(default_factory=list)


class Register(msgspec.Struct, kw_only=True):
    serial: str  #: 1013
    registration_number: str  #: 1037
    group: str
    fn_number: str  #: the drive fitted now (1041)
    shard: int
    timezone: str = "Europe/Moscow"
    reserve: bool = False
    profile: Literal["emulated", "hardware"] = "emulated"
    service_time_s: float | None = None  #: overrides the profile's
    capacity: int = 250_000  #: documents per drive (a new drive gets the same)
    validity_days: int = 1110
    #: Drives this register has had, oldest first (the current one last); closed ones stay readable.
    drives: list[str] = msgspec.field(default_factory=list)

    @property
    def service_time(self) -> float:
        return self.service_time_s if self.service_time_s is not None else PROFILES[self.profile]


class FleetModel(msgspec.Struct, kw_only=True):
    version: int = 1
    #: Random per data directory: serial and FN numbers of two fleets do not collide.
    fleet_id: int = msgspec.field(default_factory=lambda: secrets.randbelow(10**6))
    next_register: int = 1
    next_drive: int = 1
    next_shard: int = 0
    tenants: dict[str, Tenant] = msgspec.field(default_factory=dict)
    groups: dict[str, Group] = msgspec.field(default_factory=dict)
    registers: dict[str, Register] = msgspec.field(default_factory=dict)

    # -------------------------------------------------------------------------------- look-ups

    def tenant(self, login: str) -> Tenant:
        try:
            return self.tenants[login]
        except KeyError:
            raise _bad(f"no tenant {login!r}") from None

    def group(self, code: str) -> Group:
        try:
            return self.groups[code]
        except KeyError:
            raise _bad(f"no group {code!r}") from None

    def register(self, serial: str) -> Register:
        try:
            return self.registers[serial]
        except KeyError:
            raise _bad(f"no register {serial!r}") from None

    def authenticate(self, login: str, password: str) -> Tenant | None:
        """The tenant when ``password`` is its password (ATOL ``getToken``); scrypt costs ~60 ms: cache tokens."""
        tenant = self.tenants.get(login)
        if tenant is None or not check_password(tenant.password, password):
            return None
        return tenant

    def registers_of(self, code: str) -> list[Register]:
        return [r for r in self.registers.values() if r.group == code]

    # -------------------------------------------------------------------------------- changes (no drives)

    def add_tenant(self, login: str, password: str, inn: str, name: str, tax_systems: int) -> Tenant:
        if not _CODE.match(login):
            raise _bad(f"login {login!r}: letters, digits, '.', '_' or '-', at most 64")
        if login in self.tenants:
            raise _bad(f"tenant {login!r} exists")
        if not inn_valid(inn):
            raise _bad(f"INN {inn!r} is not a valid 10- or 12-digit INN (check digits)")
        if not name.strip():
            raise _bad("the tenant's name (1048) is empty")
        tenant = Tenant(login=login, password=hash_password(password), inn=inn, name=name, tax_systems=tax_systems)
        self.tenants[login] = tenant
        return tenant

    def set_tenant_ofd(self, login: str, address: str, secret: str = "") -> Tenant:
        """Point ``login``'s drives at their own OFD (``address`` = HOST:PORT, ``secret`` = its operator secret in
        hex), or back at the server's OFD (``address`` = "")."""
        tenant = self.tenants.get(login)
        if tenant is None:
            raise _bad(f"no tenant {login!r}")
        if address:
            parse_ofd_address(address)
            if not secret:
                raise _bad("a tenant's own OFD needs its operator secret (hex) to verify confirmations")
            try:
                if len(bytes.fromhex(secret)) < 16:
                    raise ValueError
            except ValueError:
                raise _bad("the OFD's operator secret is hex of at least 16 bytes") from None
        tenant.ofd = address
        tenant.ofd_secret = secret if address else ""
        return tenant

    def add_group(
        self,
        tenant: str,
        code: str,
        ffd: str,
        *,
        api_version: str | None = None,
        capabilities: list[str] | tuple[str, ...] = (),
        target_wait_s: float = 1.0,
        admission_margin_s: float = 1.0,
        policy: str = "jsq",
        address: str | None = None,
        place: str | None = None,
        sender_email: str | None = None,
    ) -> Group:
        self.tenant(tenant)
        if not _CODE.match(code):
            raise _bad(f"group code {code!r}: letters, digits, '.', '_' or '-', at most 64")
        if code in self.groups:
            raise _bad(f"group {code!r} exists")
        if ffd not in FFD_VERSIONS:
            raise _bad(f"FFD {ffd!r}: 1.05 or 1.2")
        api = api_version or API_FOR_FFD[ffd]
        if api != API_FOR_FFD[ffd]:
            # ATOL: "v4 – ФФД 1.05; v5 – ФФД 1.2"; the other pairing answers error 21.
            raise _bad(f"API {api} serves FFD {'1.05' if api == 'v4' else '1.2'}, not {ffd}")
        caps = sorted(set(capabilities))
        unknown = set(caps) - set(CAPABILITIES)
        if unknown:
            raise _bad(f"unknown capabilities {sorted(unknown)}; known: {', '.join(CAPABILITIES)}")
        if "marked" in caps and ffd != "1.2":
            raise _bad("marked goods (1290 bit 8) need FFD 1.2")
        if target_wait_s <= 0 or admission_margin_s < 0:
            raise _bad("target wait > 0 and admission margin ≥ 0 are required")
        if policy not in ("jsq", "p2c"):
            raise _bad(f"policy {policy!r}: jsq or p2c")
        group = Group(
            code=code,
            tenant=tenant,
            ffd=ffd,  # type: ignore[arg-type]
            api_version=api,  # type: ignore[arg-type]
            capabilities=caps,
            target_wait_s=float(target_wait_s),
            admission_margin_s=float(admission_margin_s),
            policy=policy,  # type: ignore[arg-type]
            place=place or code,
            sender_email=sender_email,
        )
        if address:
            group.address = address
        self.groups[code] = group
        return group

    def new_register(
        self,
        group: str,
        *,
        timezone: str,
        reserve: bool,
        profile: str,
        capacity: int,
        validity_days: int,
        service_time_s: float | None = None,
    ) -> Register:
        """Numbers and places a new register (serial, RNM, shard); the caller picks its FN number, makes the drive."""
        g = self.group(group)
        if profile not in PROFILES:
            raise _bad(f"profile {profile!r}: {' or '.join(PROFILES)}")
        n = self.next_register
        self.next_register += 1
        serial = f"{self.fleet_id:06d}{n:08d}"
        # The first ten digits are the tax service's sequence; the tail is the CRC rule (identifiers.py).
        rnm = registration_number(f"{self.fleet_id % 10**4:04d}{n:06d}", self.tenant(g.tenant).inn, serial)
        shard = self._shard_for(g)
        reg = Register(
            serial=serial,
            registration_number=rnm,
            group=group,
            fn_number="",
            shard=shard,
            timezone=timezone,
            reserve=reserve,
            profile=profile,  # type: ignore[arg-type]
            service_time_s=service_time_s,
            capacity=capacity,
            validity_days=validity_days,
        )
        self.registers[serial] = reg
        return reg

    def new_fn_number(self) -> str:
        n = self.next_drive
        self.next_drive += 1
        return f"9999{self.fleet_id:06d}{n:06d}"

    def _shard_for(self, g: Group) -> int:
        if g.shards:
            last = g.shards[-1]
            if sum(1 for r in self.registers.values() if r.shard == last) < SHARD_SIZE:
                return last
        shard = self.next_shard
        self.next_shard += 1
        g.shards.append(shard)
        return shard


def identity_for(model: FleetModel, reg: Register, fn_number: str | None = None) -> DriveIdentity:
    """What the registration report of ``reg`` fixes (its drive ``fn_number``, by default the current one)."""
    g = model.group(reg.group)
    t = model.tenant(g.tenant)
    caps = set(g.capabilities)
    return DriveIdentity(
        fn_number=fn_number or reg.fn_number,
        registration_number=reg.registration_number,
        user_inn=t.inn,
        user_name=t.name,
        kkt_serial=reg.serial,
        ffd_version=FFD_VERSIONS[g.ffd],
        ofd_inn=_OFD[0],
        ofd_name=_OFD[1],
        settlement_address=g.address,
        settlement_place=g.place or g.code,
        tax_systems=TaxSystem(t.tax_systems),
        kkt_version=_KKT_VERSION,
        sender_email=g.sender_email,
        automatic=False,
        internet_only="internet_only" in caps,
        excise="excise" in caps,
        marked_goods="marked" in caps,
        agent_types=AgentType(127) if "agent" in caps else AgentType(0),
    )


def group_identity(model: FleetModel, code: str) -> DriveIdentity:
    """The identity receipt bodies of ``code`` are encoded for: the group's fields, placeholder numbers.

    A body holds no drive, register or registration number (those are in the numbering block the drive puts in
    front of it), so one encoding fits every register of the group.
    """
    reg = Register(serial="0" * 14, registration_number="0" * 16, group=code, fn_number="9" * 16, shard=0)
    return identity_for(model, reg)


#: capability_bits → the names of the group capabilities (``model.CAPABILITIES``) it stands for.
_NEEDS: tuple[frozenset[str], ...] = tuple(
    frozenset(name for bit, name in ((CAP_AGENT, "agent"), (CAP_EXCISE, "excise"), (CAP_MARKED, "marked")) if b & bit)
    for b in range(8)
)


def required_capabilities(receipt: Receipt) -> frozenset[str]:
    """The group capabilities a receipt needs: agent data, excise goods, marked goods
    (:func:`fiscal_core.ffd.receipt_body.capability_bits`, native: it runs twice for every receipt)."""
    return capabilities_of(capability_bits(receipt))


def capabilities_of(bits: int) -> frozenset[str]:
    """:func:`required_capabilities` of a receipt whose ``capability_bits`` are ``bits``."""
    return _NEEDS[bits]


# --------------------------------------------------------------------------------------------- the file


class FleetFile:
    """``DATA/fleet.json`` and the drive store paths of a data directory."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.root = os.path.abspath(os.fspath(data_dir))
        self.path = os.path.join(self.root, "fleet.json")

    def shard_path(self, shard: int) -> str:
        return os.path.join(self.root, "drives", f"shard-{shard}")

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def load(self) -> FleetModel:
        if not os.path.exists(self.path):
            return FleetModel()
        with open(self.path, "rb") as f:
            return msgspec.json.decode(f.read(), type=FleetModel)

    def save(self, model: FleetModel) -> None:
        """Atomically: a reader sees the old file or the new one, never a part; a crash keeps one of them."""
        os.makedirs(self.root, exist_ok=True)
        data = msgspec.json.format(msgspec.json.encode(model), indent=1)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def edit(self) -> Iterator[FleetModel]:
        """Load under the exclusive lock, let the caller change the model, save it (not on an error)."""
        os.makedirs(self.root, exist_ok=True)
        with open(os.path.join(self.root, "fleet.lock"), "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                model = self.load()
                yield model
                self.save(model)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
