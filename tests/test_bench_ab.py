"""bench/ab.py, the paired A/B runner: its pairing and summary on given figures, and one real pair of the bulk
load bench against this checkout's own commit (a worktree with its native modules, a live server each side)."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import shutil
import socket
import subprocess
import sys
from typing import Any

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_ab", ROOT / "bench" / "ab.py")
assert _spec is not None and _spec.loader is not None
ab: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ab)


def test_the_sides_take_turns_going_first() -> None:
    firsts = [ab.order(k)[0] for k in range(6)]
    assert firsts == ["base", "head"] * 3
    assert all(sorted(ab.order(k)) == ["base", "head"] for k in range(6))


def test_flatten_keeps_numbers_and_names_nested_ones() -> None:
    got = ab.flatten({"accepted_per_s": 9000, "errors": [], "ofd": "none", "paced_rate": None, "ok": True,
                      "cpu_us_per_receipt": {"MainThread": 60.5, "all": 95},
                      "vm_probe": [{"cpu_us": 47.0, "mem_ns": 150.2}, {"cpu_us": 46.0, "mem_ns": 90.0}]})  # fmt: skip
    assert got == {"accepted_per_s": 9000.0, "cpu_us_per_receipt.MainThread": 60.5, "cpu_us_per_receipt.all": 95.0,
                   "vm_probe.0.cpu_us": 47.0, "vm_probe.0.mem_ns": 150.2, "vm_probe.1.cpu_us": 46.0,
                   "vm_probe.1.mem_ns": 90.0}  # fmt: skip


def test_summary_judges_each_pair_in_the_field_s_direction() -> None:
    def run(fiscalized: int, p99: float, cpu: int, mem: int, **more: int) -> dict[str, Any]:
        # ``batch``: a setting the bench echoes, the same in every run: not reported.
        return {"fiscalized_per_s": fiscalized, "p99_ms": p99, "cpu_us_per_receipt": {"all": cpu},
                "vm_probe": [{"mem_ns": mem}], "batch": 1000, **more}  # fmt: skip

    runs = [
        (run(8000, 20.0, 100, 1), run(8800, 18.0, 90, 2)),
        (run(9000, 15.0, 95, 3), run(8500, 16.0, 99, 1)),
        (run(7000, 30.0, 120, 5), run(7700, 25.0, 110, 5, only_head=1)),
    ]
    rows = {r["field"]: r for r in ab.summarize(runs)}
    assert set(rows) == {"fiscalized_per_s", "p99_ms", "cpu_us_per_receipt.all", "vm_probe.0.mem_ns"}
    f = rows["fiscalized_per_s"]
    assert (f["base_median"], f["head_median"], f["head_better_in"], f["pairs"]) == (8000, 8500, 2, 3)
    assert f["change_percent"] == pytest.approx(6.25) and f["lower_is_better"] is False
    p = rows["p99_ms"]
    assert (p["base_median"], p["head_median"], p["head_better_in"], p["lower_is_better"]) == (20, 18, 2, True)
    assert rows["cpu_us_per_receipt.all"]["head_better_in"] == 2
    assert rows["vm_probe.0.mem_ns"]["head_better_in"] is None  # shown, not judged
    assert ab.summarize([]) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_one_real_pair_against_this_commit(tmp_path: pathlib.Path) -> None:
    trees = tmp_path / "trees"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    sha = head.stdout.strip()
    bench = ["api_load.py", "--receipts", "300", "--batch", "100", "--conns", "2", "--port", str(_free_port())]
    cmd = [sys.executable, str(ROOT / "bench" / "ab.py"), "HEAD", "--pairs", "1", "--json", "--trees", str(trees),
           "--", *bench]  # fmt: skip
    try:
        got = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert got.returncode == 0, got.stderr[-3000:]
        report = json.loads(got.stdout.strip().splitlines()[-1])
        ((base, head),) = report["runs"]
        for run in (base, head):  # every receipt of both runs was accepted and fiscalized
            assert run["receipts"] == run["accepted"] == 300 and run["errors"] == [] and run["fiscalized_per_s"] > 0
        rows = {r["field"]: r for r in report["fields"]}
        assert "receipts" not in rows  # the same in both runs: a setting, not a result
        if base["fiscalized_per_s"] != head["fiscalized_per_s"]:
            f = rows["fiscalized_per_s"]
            assert (f["base"], f["head"]) == ([base["fiscalized_per_s"]], [head["fiscalized_per_s"]])
            assert f["head_better_in"] == (head["fiscalized_per_s"] > base["fiscalized_per_s"]) and f["pairs"] == 1
        # The base side ran from its own worktree, with the compiled modules copied in (the same native sources).
        tree = trees / sha[:12]
        assert (tree / ".git").exists() and sorted(p.name for p in (tree / "fiscal_core" / "_native").glob("*.so"))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(trees / sha[:12])], cwd=ROOT, capture_output=True)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True)
