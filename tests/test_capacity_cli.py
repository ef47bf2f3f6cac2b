"""``fiscal-core plan`` (issue 7): the summary and table, ``--json``, ``--chart``, and one-line errors with exit 2.

Until the top-level CLI lists ``plan``, the command runs through ``fiscal_core.cli.plan_cmd.main`` (in-process)
and ``python -m fiscal_core.cli.plan_cmd`` (a real process: exit codes, stderr, no traceback).
``test_registers_into_a_parser_like_the_top_level_one`` wires ``register(subparsers)`` the way
``fiscal_core/cli/__init__.py`` does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import ROOT

from fiscal_core.capacity import plan
from fiscal_core.capacity.chart import p99_chart
from fiscal_core.cli import plan_cmd

WORKED = ["--daily", "1000000", "--peak", "200", "--start", "2026-01-01"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    return subprocess.run(
        [sys.executable, "-m", "fiscal_core.cli.plan_cmd", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_summary_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan_cmd.main(WORKED) == 0
    out = capsys.readouterr().out
    assert out.startswith("Registers: 1,828  (speed 205, drive 1,827: the drive bound binds; +1 spare)")
    assert "M/M/c, Erlang C (exponential service): 205 registers" in out
    assert "M/D/c, exact (fixed service):          203 registers" in out
    assert "2 shift reports per register per day for 455 days" in out
    assert "Drive replacements: 2027-04-01, 2028-07-01" in out
    rows = [line for line in out.splitlines() if line.strip().startswith(("201 ", "205 ", "1,828 "))]
    assert len(rows) == 3 and " no " in rows[0] and " yes " in rows[1]


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan_cmd.main([*WORKED, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert {k: d[k] for k in ("registers", "by_speed", "by_drive", "binding")} == {
        "registers": 1828,
        "by_speed": 205,
        "by_drive": 1827,
        "binding": "drive",
    }
    assert d["p99_wait_s"] == 0.0 and d["utilisation"] == pytest.approx(200 / 1828)
    assert d["speed"]["mmc"]["p99_wait_s"] <= 1.0 and d["speed"]["mdc"]["registers"] == 203


def test_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "day.csv"
    profile.write_text("hour,receipts\n" + "".join(f"{h},{v}\n" for h, v in enumerate([2_000] * 20 + [90_000] * 4)))
    args = ["--daily", "400000", "--profile", str(profile), "--profile-step", "hour", "--service", "fixed"]
    args += ["--measured", "--validity-months", "36", "--replace-every", "90", "--redundancy", "2", "--json"]
    assert plan_cmd.main([*args, "--start", "2026-03-01", "--table", "1:5"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["inputs"]["peak"] == 25.0 and d["inputs"]["measured"] and d["speed"]["service"] == "fixed"
    assert d["drive"]["lifetime_days"] == 90 and d["redundancy"] == 2
    assert d["registers"] == d["by_drive"] + 2 and d["binding"] == "drive"
    assert [r["registers"] for r in d["table"]] == [1, 2, 3, 4, 5]


def test_chart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p99.svg"
    assert plan_cmd.main([*WORKED, "--chart", str(path)]) == 0
    assert f"Chart: {path}" in capsys.readouterr().out
    root = ET.fromstring(path.read_text())
    ns = "{http://www.w3.org/2000/svg}"
    lines = root.findall(f"{ns}polyline")
    assert len(lines) == 2
    texts = " ".join(t.text or "" for t in root.iter(f"{ns}text"))
    assert "200 receipts/s" in texts and "target 1 s" in texts and "recommended 1,828" in texts
    for line in lines:
        points = [tuple(map(float, p.split(","))) for p in line.get("points", "").split()]
        xs = [x for x, _ in points]
        assert xs == sorted(xs) and len(points) >= 30
        ys = [y for _, y in points]
        assert ys[-1] >= ys[0]  # the wait falls with more registers (y grows downwards)


def test_chart_without_a_target() -> None:
    svg = p99_chart(plan(2_000, 5, start=dt.date(2026, 1, 1), target_wait_s=0.0))
    root = ET.fromstring(svg)
    assert "target" not in " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--daily: required"),
        (["--daily", "1000"], "--peak: give the peak receipts per second or a load profile"),
        (["--daily", "0", "--peak", "1"], "--daily: must be > 0"),
        (["--daily", "-10", "--peak", "1"], "--daily: must be > 0"),
        (["--daily", "nan", "--peak", "1"], "--daily: not a number"),
        (["--daily", "1e30", "--peak", "1"], "--daily: 1e+30 is past any plan"),
        (["--daily", "lots", "--peak", "1"], "--daily: expected a number, got 'lots'"),
        (["--daily", "1000", "--peak", "inf"], "--peak: must be finite"),
        (["--daily", "1000", "--peak", "0"], "--peak: must be > 0"),
        (["--daily", "1000000", "--peak", "2"], "--peak: the peak 2/s is below the day's average"),
        (["--daily", "1000", "--peak", "1", "--service-time", "0"], "--service-time: must be > 0"),
        (["--daily", "1000", "--peak", "1", "--service", "erlang"], "--service: expected 'exponential' or 'fixed'"),
        (["--daily", "1000", "--peak", "1", "--drive-capacity", "100"], "--drive-capacity: 100 documents cannot"),
        (["--daily", "1000", "--peak", "1", "--validity-months", "15.5"], "--validity-months: must be a whole"),
        (["--daily", "1000", "--peak", "1", "--replace-every", "-90"], "--replace-every: must be from 1"),
        (["--daily", "1000", "--peak", "1", "--target-wait", "-1"], "--target-wait: must be from 0"),
        (["--daily", "1000", "--peak", "1", "--redundancy", "-1"], "--redundancy: must be from 0"),
        (["--daily", "1000", "--peak", "1", "--quantile", "2"], "--quantile: must be from 0.5"),
        (["--daily", "1000", "--peak", "1", "--start", "tomorrow"], "--start: expected YYYY-MM-DD"),
        (["--daily", "1000", "--peak", "1", "--table", "9"], "--table: expected FROM:TO"),
        (["--daily", "1000", "--peak", "1", "--table", "9:1"], "--table: must be ≥ the first count"),
        (["--daily", "1000", "--peak", "1", "--measured", "--service-time", "1"], "--service-time: give a service"),
        (["--daily", "1000", "--peak", "1", "--profile", "/nonexistent.csv"], "--profile: give --peak or --profile"),
        (["--daily", "1000", "--profile", "/nonexistent.csv"], "--profile: cannot read /nonexistent.csv"),
        (["--daily", "1000", "--profile", "x", "--profile-step", "minute"], "--profile-step: expected 'second'"),
        (["--daily", "1000", "--peak", "1", "--chart", "/nonexistent/dir/c.svg"], "--chart: cannot write"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert plan_cmd.main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith(f"fiscal-core: error: {message}"), captured.err


def test_bad_profile_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("second,n\n0,5\n1,five\n")
    assert plan_cmd.main(["--daily", "1000", "--profile", str(bad)]) == 2
    assert capsys.readouterr().err == "fiscal-core: error: --profile: line 3: 'five' is not a number\n"
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00")
    assert plan_cmd.main(["--daily", "1000", "--profile", str(binary)]) == 2
    assert "is not UTF-8 text" in capsys.readouterr().err


def test_a_real_process() -> None:
    ok = run(*WORKED, "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["registers"] == 1828
    for args in (["--daily", "0", "--peak", "1"], ["--peak", "1"], ["--daily", "1e400", "--peak", "1"]):
        bad = run(*args)
        assert bad.returncode == 2 and bad.stdout == ""
        assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr, bad.stderr


def test_registers_into_a_parser_like_the_top_level_one(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="fiscal-core")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    plan_cmd.register(sub)
    args = parser.parse_args(["plan", *WORKED, "--json"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["by_speed"] == 205
