"""Issue 4 item 1 acceptance: the model, provisioning from the CLI (end to end, ``python -m fiscal_core`` in a
temp data dir) and from a TOML config file, the sandbox tenant (idempotent), fleet.json written atomically.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import msgspec
import pytest

from fiscal_core.drive.archive import documents, verify
from fiscal_core.drive.drive import FiscalDrive
from fiscal_core.drive.store import DriveStore
from fiscal_core.errors import InputError
from fiscal_core.ffd import tlv
from fiscal_core.ffd.identifiers import registration_number_valid
from fiscal_core.registers import sandbox
from fiscal_core.registers.model import SHARD_SIZE, FleetFile, FleetModel, check_password, parse_tax_systems
from fiscal_core.registers.provision import add_registers

ROOT = pathlib.Path(__file__).resolve().parent.parent
T0 = 1_780_000_000.0


def cli(*args: str, data: pathlib.Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    env.pop("FISCAL_CORE_DATA", None)
    extra = ["--data", str(data)] if data is not None else []
    return subprocess.run(
        [sys.executable, "-m", "fiscal_core", *args, *extra], capture_output=True, text=True, env=env, timeout=120
    )


def drive_docs(root: pathlib.Path, shard: int, fn: str) -> list[tuple[int, dict[int, Any]]]:
    with DriveStore(FleetFile(root).shard_path(shard), readonly=True) as store:
        drive = FiscalDrive.open(store, fn)
        assert verify(drive).ok
        return [(rec.form, dict(tlv.decode(rec.tlv)[0][1])) for _fd, rec in documents(drive)]


def test_provisioning_from_the_cli_end_to_end(tmp_path: pathlib.Path) -> None:
    data = tmp_path / "data"
    ok = cli("tenant", "add", "--login", "shop", "--password", "s3cret", "--inn", "7707083893",
             "--name", 'ООО "Магазин"', "--tax-systems", "osn,usn_income", data=data)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    bad = cli("tenant", "add", "--login", "x", "--password", "p", "--inn", "7707083894", "--name", "X", data=data)
    assert bad.returncode == 2 and "INN" in bad.stderr
    dup = cli("tenant", "add", "--login", "shop", "--password", "p", "--inn", "7707083893", "--name", "X", data=data)
    assert dup.returncode == 2 and "exists" in dup.stderr
    assert cli("group", "add", "--tenant", "shop", "--code", "shop-v4", "--ffd", "1.05", "--capabilities",
               "internet_only,agent", data=data).returncode == 0  # fmt: skip
    assert cli("group", "add", "--tenant", "shop", "--code", "shop-v5", "--ffd", "1.2", "--capabilities",
               "marked,excise", "--target-wait", "2", "--policy", "p2c", data=data).returncode == 0  # fmt: skip
    wrong = cli("group", "add", "--tenant", "shop", "--code", "g", "--ffd", "1.05", "--api", "v5", data=data)
    assert wrong.returncode == 2 and "v5" in wrong.stderr
    nomark = cli("group", "add", "--tenant", "shop", "--code", "g", "--ffd", "1.05", "--capabilities", "marked",
                 data=data)  # fmt: skip
    assert nomark.returncode == 2 and "1.2" in nomark.stderr
    added = cli("register", "add", "--group", "shop-v5", "--count", "3", "--timezone", "Asia/Vladivostok",
                "--profile", "hardware", data=data)  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.count("registered") == 3
    assert cli("register", "add", "--group", "shop-v5", "--reserve", data=data).returncode == 0
    assert cli("register", "add", "--group", "shop-v4", "--count", "2", data=data).returncode == 0
    far = cli("register", "add", "--group", "shop-v4", "--timezone", "Europe/London", data=data)
    assert far.returncode == 2 and "UTC+2" in far.stderr

    model = FleetFile(data).load()
    tenant = model.tenants["shop"]
    assert "s3cret" not in (data / "fleet.json").read_text()
    assert check_password(tenant.password, "s3cret") and not check_password(tenant.password, "s3cret ")
    assert tenant.tax_systems == parse_tax_systems("osn,usn_income")
    v4, v5 = model.groups["shop-v4"], model.groups["shop-v5"]
    assert (v4.api_version, v4.ffd, v4.capabilities) == ("v4", "1.05", ["agent", "internet_only"])
    assert (v5.api_version, v5.ffd, v5.target_wait_s, v5.policy) == ("v5", "1.2", 2.0, "p2c")
    regs = list(model.registers.values())
    assert len(regs) == 6 and len({r.serial for r in regs}) == 6 and len({r.fn_number for r in regs}) == 6
    assert [r.reserve for r in regs] == [False, False, False, True, False, False]
    assert {r.shard for r in regs if r.group == "shop-v5"} != {r.shard for r in regs if r.group == "shop-v4"}
    for r in regs:
        assert r.fn_number.startswith("9999") and len(r.fn_number) == 16
        assert registration_number_valid(r.registration_number, "7707083893", r.serial)
        assert (data / "drives" / f"shard-{r.shard}" / "data.mdb").exists()
        docs = drive_docs(data, r.shard, r.fn_number)
        # provisioned with its registration report, the model's numbers and the group's modes in it
        ((form, reg),) = docs
        assert form == 1
        assert (reg[1041], reg[1037], reg[1013], reg[1018]) == (
            r.fn_number,
            r.registration_number,
            r.serial,
            "7707083893",
        )
        if r.group == "shop-v4":
            assert reg[1209] == 2 and reg[1108] == 1 and reg[1057] == 127
        else:
            assert reg[1209] == 4 and reg[1290] & (1 << 8) and reg[1290] & (1 << 6)  # marked, excise

    shown = cli("fleet", "show", "--json", data=data)
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert "password" not in doc["tenants"]["shop"]
    assert {s: r["drive"]["documents"] for s, r in doc["registers"].items()} == {r.serial: 1 for r in regs}
    text = cli("fleet", "show", data=data).stdout
    assert "group shop-v5: API v5, FFD 1.2" in text and "reserve register" in text

    serial = regs[0].serial
    replaced = cli("register", "replace-drive", "--register", serial, data=data)
    assert replaced.returncode == 0, replaced.stderr
    after = FleetFile(data).load().registers[serial]
    assert after.drives == [regs[0].fn_number, after.fn_number] and after.fn_number != regs[0].fn_number
    assert [f for f, _ in drive_docs(data, after.shard, regs[0].fn_number)] == [1, 6]
    ((form, rereg),) = drive_docs(data, after.shard, after.fn_number)
    assert form == 11 and rereg[1040] == 1 and rereg[1205] == 1  # «замена ФН»
    assert cli("register", "replace-drive", "--register", "nope", data=data).returncode == 2


def test_fleet_json_is_written_atomically_and_reloads_equal(tmp_path: pathlib.Path) -> None:
    files = FleetFile(tmp_path)
    with files.edit() as model:
        model.add_tenant("a", "pw", "7707083893", "A", parse_tax_systems("osn"))
    with pytest.raises(InputError), files.edit() as model:
        model.add_tenant("b", "pw", "7707083893", "B", parse_tax_systems("osn"))
        model.add_group("nobody", "g", "1.2")  # fails: the whole edit is dropped
    assert set(files.load().tenants) == {"a"}
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    again = files.load()
    assert msgspec.json.encode(again) == msgspec.json.encode(
        msgspec.json.decode((tmp_path / "fleet.json").read_bytes(), type=FleetModel)
    )


def test_a_group_shard_holds_at_most_shard_size_registers(tmp_path: pathlib.Path) -> None:
    files = FleetFile(tmp_path)
    with files.edit() as model:
        model.add_tenant("a", "pw", "7707083893", "A", parse_tax_systems("osn"))
        model.add_group("a", "g", "1.2")
        model.add_group("a", "h", "1.2")
        for _ in range(SHARD_SIZE + 3):
            model.new_register(
                "g", timezone="Europe/Moscow", reserve=False, profile="emulated", capacity=10, validity_days=10
            )
        model.new_register(
            "h", timezone="Europe/Moscow", reserve=False, profile="emulated", capacity=10, validity_days=10
        )
        shards = [r.shard for r in model.registers.values()]
    assert shards == [0] * SHARD_SIZE + [1] * 3 + [2]


def test_numbers_taken_by_an_interrupted_run_are_not_reused(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = FleetFile(tmp_path)
    with files.edit() as model:
        model.add_tenant("a", "pw", "7707083893", "A", parse_tax_systems("osn"))
        model.add_group("a", "g", "1.2")
    real = FiscalDrive.create
    calls = [0]

    def crash_on_second(*a: Any, **kw: Any) -> Any:
        calls[0] += 1
        if calls[0] == 2:
            raise RuntimeError("power cut")
        return real(*a, **kw)

    monkeypatch.setattr(FiscalDrive, "create", crash_on_second)
    with pytest.raises(RuntimeError):
        add_registers(files, "g", 3, clock=lambda: T0)
    assert files.load().registers == {}  # none was saved: the first drive is an orphan nobody refers to
    monkeypatch.setattr(FiscalDrive, "create", real)
    made = add_registers(files, "g", 2, clock=lambda: T0)
    with DriveStore(files.shard_path(0)) as store:
        held = store.drive_ids()
    assert len(held) == 3 and all(r.fn_number in held for r in made)
    assert len({r.serial for r in made}) == 2


def test_the_sandbox_is_provisioned_once(tmp_path: pathlib.Path) -> None:
    line = sandbox.provision(tmp_path, clock=lambda: T0)
    assert "login 'sandbox', password 'sandbox', INN 5544332219" in line and "8 registers added" in line
    assert "sandbox-v4 (FFD 1.05, 4 registers)" in line and "sandbox-v5 (FFD 1.2, 4 registers)" in line
    first = (tmp_path / "fleet.json").read_bytes()
    again = sandbox.provision(tmp_path, clock=lambda: T0 + 60)
    assert "already provisioned" in again
    assert (tmp_path / "fleet.json").read_bytes() == first
    model = FleetFile(tmp_path).load()
    assert check_password(model.tenants["sandbox"].password, "sandbox")
    assert model.tenants["sandbox"].inn == "5544332219"
    assert {c: (g.ffd, g.api_version) for c, g in model.groups.items()} == {
        "sandbox-v4": ("1.05", "v4"),
        "sandbox-v5": ("1.2", "v5"),
    }
    for code in model.groups:
        regs = model.registers_of(code)
        assert len(regs) == 4
        for r in regs:
            ((form, t),) = drive_docs(tmp_path, r.shard, r.fn_number)
            assert form == 1 and t[1209] == (2 if code == "sandbox-v4" else 4)
    # A group short of registers (an interrupted first start) is topped up, nothing else changes.
    with FleetFile(tmp_path).edit() as m:
        serial = m.registers_of("sandbox-v5")[-1].serial
        del m.registers[serial]
    assert "1 registers added" in sandbox.provision(tmp_path, clock=lambda: T0 + 120)
    assert len(FleetFile(tmp_path).load().registers_of("sandbox-v5")) == 4
    shown = cli("fleet", "sandbox", data=tmp_path)
    assert shown.returncode == 0 and "already provisioned" in shown.stdout


CONFIG = """
data = "{data}"

[[tenants]]
login = "shop"
password = "pw1"
inn = "7707083893"
name = 'ООО "Магазин"'
tax_systems = ["osn", "patent"]

[[tenants.groups]]
code = "shop-v5"
ffd = "1.2"
capabilities = ["internet_only", "marked"]
target_wait_s = 1.5

[[tenants.groups.registers]]
count = 3
timezone = "Asia/Yekaterinburg"
profile = "hardware"

[[tenants.groups.registers]]
count = 1
reserve = true
timezone = "Asia/Yekaterinburg"
"""


def test_provisioning_from_a_config_file_is_idempotent(tmp_path: pathlib.Path) -> None:
    from fiscal_core import config

    data = tmp_path / "data"
    path = tmp_path / "fleet.toml"
    path.write_text(CONFIG.format(data=data), encoding="utf-8")
    lines = config.apply(config.load(path), clock=lambda: T0)
    assert lines[0].startswith("sandbox tenant")
    assert "tenant shop added" in lines and "group shop-v5 added (FFD 1.2)" in lines
    model = FleetFile(data).load()
    regs = model.registers_of("shop-v5")
    assert [(r.reserve, r.profile, r.timezone) for r in regs] == [(False, "hardware", "Asia/Yekaterinburg")] * 3 + [
        (True, "emulated", "Asia/Yekaterinburg")
    ]
    assert model.groups["shop-v5"].target_wait_s == 1.5
    # Again, through the CLI: nothing to do.
    out = cli("fleet", "apply", str(path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1:] == []
    assert len(FleetFile(data).load().registers) == len(model.registers)
    # More registers asked for, and a new password: only the difference is made.
    path.write_text(CONFIG.format(data=data).replace("count = 3", "count = 5").replace("pw1", "pw2"), encoding="utf-8")
    lines = config.apply(config.load(path), clock=lambda: T0)
    assert "tenant shop: password changed" in lines
    assert "group shop-v5: 2 registers added (hardware, Asia/Yekaterinburg)" in lines
    assert check_password(FleetFile(data).load().tenants["shop"].password, "pw2")
    with pytest.raises(InputError, match="colour"):
        config.loads('colour = "blue"')
    with pytest.raises(InputError, match="TOML"):
        config.loads("[[tenants]")


def test_a_config_file_sets_a_tenants_own_ofd(tmp_path: pathlib.Path) -> None:
    from fiscal_core import config

    data = tmp_path / "data"
    keys = f'tax_systems = ["osn"]\nofd = "ofd.example.ru:7777"\nofd_secret = "{"ab" * 32}"'
    own = CONFIG.format(data=data).replace('tax_systems = ["osn", "patent"]', keys)
    lines = config.apply(config.loads(own), clock=lambda: T0)
    assert "tenant shop: OFD ofd.example.ru:7777" in lines
    tenant = FleetFile(data).load().tenants["shop"]
    assert (tenant.ofd, tenant.ofd_secret) == ("ofd.example.ru:7777", "ab" * 32)
    assert "tenant shop: OFD ofd.example.ru:7777" not in config.apply(config.loads(own), clock=lambda: T0)
    # Back to the server's OFD when the keys go.
    lines = config.apply(config.loads(CONFIG.format(data=data)), clock=lambda: T0)
    assert "tenant shop: OFD of the server" in lines
    assert FleetFile(data).load().tenants["shop"].ofd == ""
    for bad, message in (("ofd.example.ru", "HOST:PORT"), ("h:99999", "HOST:PORT")):
        with pytest.raises(InputError, match=message):
            config.apply(config.loads(own.replace("ofd.example.ru:7777", bad)), clock=lambda: T0)
    with pytest.raises(InputError, match="operator secret"):
        config.apply(config.loads(own.replace("ab" * 32, "")), clock=lambda: T0)
