"""Paired A/B of an end-to-end bench: this checkout against another commit, in alternating runs on this machine.

    python bench/ab.py BASE [--pairs 4] [--json] -- api_load.py --receipts 40000 --batch 1000 --conns 2
    python bench/ab.py 85671d5 --pairs 3 -- api_wrk.py --duration 8 --fiscal-workers 1 --rate 8400

Why: this project's VMs change speed by up to ×2 within minutes (``vm_probe`` in the benches), so a figure taken
now and one taken an hour ago compare the minutes, not the code. Runs of the two sides that alternate closely
(pair k runs BASE then this checkout when k is even, the reverse when odd: neither side always goes first) share
their minutes; what a change is worth is what it wins pair by pair.

Rules
- BASE is any commit-ish. It is checked out as a detached worktree under ``.ab/<sha>`` (``--trees``; kept for
  the next run, ``git worktree remove`` drops it). Its native modules are this checkout's
  ``fiscal_core/_native`` copied over when the native inputs (``native/``, ``setup.py``, the compiled twins)
  are the same in both, else built from BASE's own sources (``pip wheel``, ~2 minutes) and unpacked into it.
- Both sides run with ``FISCAL_CORE_REQUIRE_EXTENSIONS=1``: a side whose compiled modules do not load or do not
  match its sources fails instead of running the pure-Python twins.
- The bench is a script of ``bench/`` that prints one JSON object as its last line with ``--json``
  (``api_load.py``, ``api_wrk.py``); each side runs its own copy of it, with its own code (the scripts put
  their own checkout first on the server's path).
- The report, per numeric field (nested ones flattened with dots) that is not the same in every run: each
  side's median, the change of the medians, and in how many pairs this checkout did better (``--json`` adds
  every run's own output, as ``[base, head]`` per pair). Lower is better for latencies and CPU
  (``_ms``, ``cpu``, ``_us``), higher for everything else; ``vm_probe`` is shown, not judged.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: What the compiled modules are built from: when these are the same in both checkouts, so are the modules.
NATIVE_INPUTS = (
    "native",
    "setup.py",
    "fiscal_core/api/_validate_py.py",
    "fiscal_core/api/_fastpath_py.py",
    "fiscal_core/api/_fastpath_py.pxd",
)
_LOWER_BETTER = ("_ms", "cpu", "_us")


def order(k: int) -> tuple[str, str]:
    """Which side runs first in pair ``k``: ``base`` in even pairs, ``head`` in odd ones."""
    return ("base", "head") if k % 2 == 0 else ("head", "base")


def flatten(obj: Any, prefix: str = "") -> dict[str, float]:
    """The numeric fields of a bench's JSON, nested dicts as ``outer.inner``; lists and text are left out
    (``vm_probe`` is a list: its figures are flattened with their index)."""
    out: dict[str, float] = {}
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}{key}."))
    elif isinstance(obj, list) and prefix.startswith("vm_probe."):
        for k, value in enumerate(obj):
            out.update(flatten(value, f"{prefix}{k}."))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[prefix[:-1]] = float(obj)
    return out


def lower_is_better(name: str) -> bool:
    return any(mark in name for mark in _LOWER_BETTER)


def summarize(runs: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per field present on both sides of every pair and not the same in all runs: medians, change,
    pairs won by this checkout."""
    pairs = [(flatten(base), flatten(head)) for base, head in runs]
    if not pairs:
        return []
    names = [n for n in pairs[0][0] if all(n in b and n in h for b, h in pairs)]
    rows = []
    for name in names:
        base = [b[name] for b, _ in pairs]
        head = [h[name] for _, h in pairs]
        if len(set(base + head)) == 1:
            continue  # the same everywhere: a setting the bench echoes (receipts, batch), not a result
        mb, mh = statistics.median(base), statistics.median(head)
        judged = not name.startswith("vm_probe.")
        lower = lower_is_better(name)
        won = sum(1 for b, h in zip(base, head, strict=True) if (h < b if lower else h > b)) if judged else None
        change = (mh - mb) / mb * 100 if mb else None
        rows.append({"field": name, "base": base, "head": head, "base_median": mb, "head_median": mh,
                     "change_percent": change, "head_better_in": won, "pairs": len(pairs),
                     "lower_is_better": lower if judged else None})  # fmt: skip
    return rows


def _git(*args: str, cwd: pathlib.Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _same_native(sha: str) -> bool:
    """Whether BASE's native inputs equal this checkout's working tree (committed or not)."""
    return subprocess.run(["git", "diff", "--quiet", sha, "--", *NATIVE_INPUTS], cwd=ROOT).returncode == 0


def prepare_base(base: str, trees: pathlib.Path = ROOT / ".ab") -> pathlib.Path:
    """BASE checked out under ``trees/<sha>`` with its native modules in place (see the module rules)."""
    sha = _git("rev-parse", "--verify", f"{base}^{{commit}}")
    tree = trees / sha[:12]
    if not (tree / ".git").exists():
        tree.parent.mkdir(parents=True, exist_ok=True)
        _git("worktree", "add", "--detach", "--force", str(tree), sha)
    native = tree / "fiscal_core" / "_native"
    for old in native.glob("*.so"):
        old.unlink()
    if _same_native(sha):
        for so in (ROOT / "fiscal_core" / "_native").glob("*.so"):
            shutil.copy2(so, native / so.name)
        return tree
    print(f"ab: building {sha[:12]}'s native modules (its native sources differ from this checkout's)", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", tmp, str(tree)], check=True)
        (wheel,) = pathlib.Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                if name.startswith("fiscal_core/_native/") and name.endswith(".so"):
                    (native / pathlib.Path(name).name).write_bytes(zf.read(name))
    return tree


def run_side(root: pathlib.Path, bench: list[str]) -> dict[str, Any]:
    """One run of ``bench`` (a script of ``root/bench`` and its arguments) with ``--json``: its last line."""
    script = root / "bench" / bench[0]
    if not script.exists():
        raise SystemExit(f"ab: {script} does not exist")
    env = {**os.environ, "FISCAL_CORE_REQUIRE_EXTENSIONS": "1", "PYTHONPATH": str(root)}
    env.pop("FISCAL_CORE_NO_EXTENSIONS", None)
    got = subprocess.run([sys.executable, str(script), *bench[1:], "--json"], cwd=root, env=env,
                         capture_output=True, text=True)  # fmt: skip
    lines = got.stdout.strip().splitlines()
    if got.returncode != 0 or not lines:
        raise SystemExit(f"ab: {script} failed ({got.returncode}):\n{got.stderr[-2000:]}")
    return dict(json.loads(lines[-1]))


def _show(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        change = f"{r['change_percent']:+.1f} %" if r["change_percent"] is not None else "—"
        won = f"better in {r['head_better_in']} of {r['pairs']}" if r["head_better_in"] is not None else ""
        print(f"{r['field']:>34}: {r['base_median']:>10.1f} → {r['head_median']:>10.1f}  {change:>9}  {won}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--" not in args:
        raise SystemExit("usage: bench/ab.py BASE [--pairs N] [--json] -- SCRIPT [ARGS...]")
    cut = args.index("--")
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("base", help="the commit to compare this checkout with")
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--trees", type=pathlib.Path, default=ROOT / ".ab", help="where BASE's worktree goes")
    opts = ap.parse_args(args[:cut])
    bench = args[cut + 1 :]
    if not bench:
        raise SystemExit("ab: name the bench script after --")
    tree = prepare_base(opts.base, opts.trees)
    sides = {"base": tree, "head": ROOT}
    runs = []
    for k in range(opts.pairs):
        got = {side: run_side(sides[side], bench) for side in order(k)}
        runs.append((got["base"], got["head"]))
        print(f"ab: pair {k + 1} of {opts.pairs} done", file=sys.stderr)
    rows = summarize(runs)
    if opts.json:
        print(json.dumps({"base": opts.base, "bench": bench, "pairs": opts.pairs, "fields": rows, "runs": runs}))
    else:
        print(f"{opts.base} → this checkout, {opts.pairs} alternating pairs of: {' '.join(bench)}")
        _show(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
