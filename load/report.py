"""Plots and a summary from the Locust CSVs of one ``load/run.py`` run (issue 8; ``make load-report``).

    python load/report.py [RESULTS_DIR]     # default: the newest directory under load/results/

For every ``<scenario>_stats.csv`` / ``<scenario>_stats_history.csv`` it writes ``<scenario>.png``: latency
percentiles (p50, p95, p99; Locust's rolling window) of the scenario's main requests over time, and throughput
(requests/s and failures/s per request name, with the user count). With both ``shop`` and ``shop-baseline`` it
adds ``shop-vs-baseline.png`` and the ratio. ``summary.md`` holds the table of figures, the ratio, the machine,
load averages and the commands (from ``meta.json``). Matplotlib with the Agg backend: no display needed.
"""

from __future__ import annotations

import csv
import json
import math
import pathlib
import sys
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = pathlib.Path(__file__).resolve().parent
SELL = "/possystem/v5/sandbox-v5/sell"
#: The requests whose latency is plotted per scenario, in order; others are in the throughput panel only.
MAIN = {
    "shop": [SELL, "sell → done"],
    "shop-baseline": [SELL, "sell → done"],
    "marketplace": ["/api/v1/receipts", "accepted → done"],
    "utility": [SELL, "sell → done"],
    "flash": [SELL],
}
SKIP = {"/possystem/v5/getToken", "Aggregated"}
PERCENTILES = ("50%", "95%", "99%")


def _num(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def read_stats(path: pathlib.Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


def read_history(path: pathlib.Path) -> dict[str, list[dict[str, float]]]:
    """Rows per request name: seconds since the first row, users, percentiles (ms), and throughput.

    ``rps``/``fps`` are per-interval rates from the cumulative counts (Locust writes a row a second), so a
    flash peak is not smeared by Locust's own 10 s ``Requests/s`` average; the percentiles are Locust's
    rolling-window ones (the CSV has nothing finer).
    """
    series: dict[str, list[dict[str, float]]] = {}
    start = None
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            t = _num(row["Timestamp"])
            start = t if start is None else start
            point = {
                "t": t - start,
                "users": _num(row["User Count"]),
                "total": _num(row["Total Request Count"]),
                "failed": _num(row["Total Failure Count"]),
            }
            for p in PERCENTILES:
                point[p] = _num(row[p])
            pts = series.setdefault(row["Name"], [])
            prev = pts[-1] if pts else {"t": point["t"], "total": 0.0, "failed": 0.0}
            span = point["t"] - prev["t"]
            point["rps"] = (point["total"] - prev["total"]) / span if span > 0 else 0.0
            point["fps"] = (point["failed"] - prev["failed"]) / span if span > 0 else 0.0
            pts.append(point)
    return series


def main_names(scenario: str, stats: dict[str, dict[str, str]]) -> list[str]:
    names = [n for n in MAIN.get(scenario, []) if n in stats]
    return names or [n for n in stats if n not in SKIP][:1]


def plot_scenario(
    scenario: str, history: dict[str, list[dict[str, float]]], names: list[str], png: pathlib.Path
) -> None:
    fig, (lat, thr) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    styles = {"50%": "-", "95%": "--", "99%": ":"}
    shown = [n for n in sorted(history) if n not in SKIP]
    color = {name: f"C{k % 10}" for k, name in enumerate(shown)}  # one colour per request name in both panels
    for name in names:
        pts = [q for q in history.get(name, []) if q["total"] > 0 and q["50%"] > 0]  # 0s before the first answer
        for p in PERCENTILES:
            lat.plot([q["t"] for q in pts], [q[p] for q in pts], styles[p], color=color.get(name, "k"),
                     label=f"{name} p{p[:-1]}")  # fmt: skip
    lat.set_ylabel("latency, ms")
    lat.set_yscale("log")
    lat.set_title(f"{scenario}: latency percentiles (Locust's rolling window), throughput per second")
    lat.legend(fontsize=7, loc="upper left")
    lat.grid(alpha=0.3)
    peak = 0.0
    for name in shown:
        pts = history[name]
        peak = max([peak, *(q["rps"] for q in pts)])
        thr.plot([q["t"] for q in pts], [q["rps"] for q in pts], color=color[name], label=f"{name} req/s")
        if any(q["fps"] > 0 for q in pts):
            thr.plot([q["t"] for q in pts], [q["fps"] for q in pts], "x", color=color[name], label=f"{name} failures/s")
    low = min((max(q["rps"] for q in history[n]) for n in shown), default=0.0)
    if low > 0 and peak / low > 30:  # e.g. 10 batches/s beside 1,000 receipts/s: both readable
        thr.set_yscale("log")
    users = history.get("Aggregated", [])
    if users:
        ax2 = thr.twinx()
        ax2.plot([q["t"] for q in users], [q["users"] for q in users], color="grey", alpha=0.5, label="users")
        ax2.set_ylabel("users")
        ax2.legend(fontsize=7, loc="upper right")
    thr.set_ylabel("requests/s")
    thr.set_xlabel("seconds")
    thr.legend(fontsize=7, loc="upper left")
    thr.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def plot_comparison(histories: dict[str, dict[str, list[dict[str, float]]]], png: pathlib.Path) -> None:
    fig, (lat, thr) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for k, (label, history) in enumerate(histories.items()):
        pts = [q for q in history.get(SELL, []) if q["total"] > 0 and q["50%"] > 0]
        t = [q["t"] for q in pts]
        lat.plot(t, [q["50%"] for q in pts], "-", color=f"C{k}", label=f"{label} sell p50")
        lat.plot(t, [q["99%"] for q in pts], ":", color=f"C{k}", label=f"{label} sell p99")
        thr.plot(t, [q["rps"] for q in pts], color=f"C{k}", label=f"{label} sells/s")
    lat.set_ylabel("latency, ms")
    lat.set_yscale("log")
    lat.set_title("ATOL v5 sell, same Locust settings: fiscal_core against the FastAPI baseline")
    lat.legend(fontsize=8)
    lat.grid(alpha=0.3)
    thr.set_ylabel("sells/s")
    thr.set_xlabel("seconds")
    thr.legend(fontsize=8)
    thr.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def _fmt(x: float, digits: int = 0) -> str:
    if math.isnan(x):
        return "—"
    return f"{x:,.{digits}f}"


def steady_rps(history: dict[str, list[dict[str, float]]], name: str) -> float:
    """Median of the per-second rate over the second half of the run: past the logins and the ramp."""
    pts = history.get(name, [])
    if not pts:
        return math.nan
    half = [q["rps"] for q in pts if q["t"] >= pts[-1]["t"] / 2]
    half.sort()
    return half[len(half) // 2] if half else math.nan


def _cores(info: dict[str, Any]) -> str:
    busy = info.get("cores_busy_pct") or {}
    return ", ".join(f"{core} {pct} %" for core, pct in busy.items()) or "?"


def figures(row: dict[str, str]) -> dict[str, float]:
    return {
        "requests": _num(row["Request Count"]),
        "failures": _num(row["Failure Count"]),
        "rps": _num(row["Requests/s"]),
        "p50": _num(row["50%"]),
        "p95": _num(row["95%"]),
        "p99": _num(row["99%"]),
        "max": _num(row["Max Response Time"]),
    }


def render(out: pathlib.Path) -> pathlib.Path:
    """Write the PNGs and ``summary.md`` into ``out``; returns the summary's path."""
    meta: dict[str, Any] = {}
    if (out / "meta.json").exists():
        meta = json.loads((out / "meta.json").read_text())
    scenarios = sorted(p.name[: -len("_stats.csv")] for p in out.glob("*_stats.csv"))
    if not scenarios:
        raise SystemExit(f"no Locust CSVs (*_stats.csv) in {out}")
    lines = [f"# Load run {out.name}", ""]
    m = meta.get("machine", {})
    if m:
        lines += [
            f"Machine: {m.get('cpu')}, {m.get('cores')} cores, Linux {m.get('kernel')}, Python {m.get('python')}"
            f"{', pure-Python twins' if m.get('no_extensions') else ''}; server and Locust "
            f"{'pinned to cores 0 and 1' if meta.get('pinned') else 'not pinned'}; "
            f"fiscal-core serve --ofd {meta.get('ofd', 'none')}.",
            "",
        ]
    lines += [
        "| scenario | request | requests | failures | req/s | peak/s | p50 ms | p95 ms | p99 ms | max ms | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    histories: dict[str, dict[str, list[dict[str, float]]]] = {}
    results: dict[str, dict[str, dict[str, float]]] = {}
    for sc in scenarios:
        stats = read_stats(out / f"{sc}_stats.csv")
        history = read_history(out / f"{sc}_stats_history.csv") if (out / f"{sc}_stats_history.csv").exists() else {}
        histories[sc] = history
        names = main_names(sc, stats)
        plot_scenario(sc, history, names, out / f"{sc}.png")
        info = meta.get("scenarios", {}).get(sc, {})
        load = f"{info.get('load_before', ['?'])[0]} → {info.get('load_after', ['?'])[0]}" if info else "—"
        results[sc] = {}
        for name in [*names, *(n for n in stats if n not in names and n not in SKIP), "Aggregated"]:
            if name not in stats:
                continue
            f = figures(stats[name])
            f["peak"] = max((q["rps"] for q in history.get(name, [])), default=math.nan)
            results[sc][name] = f
            lines.append(
                f"| {sc} | {name} | {_fmt(f['requests'])} | {_fmt(f['failures'])} | {_fmt(f['rps'], 1)} | "
                f"{_fmt(f['peak'])} | "
                f"{_fmt(f['p50'])} | {_fmt(f['p95'])} | {_fmt(f['p99'])} | {_fmt(f['max'])} | {load} |"
            )
    lines += [
        "",
        "req/s: over the whole run; peak/s: the busiest second; percentiles over the whole run (Locust's "
        "approximation); load avg: 1 min, before → after the scenario.",
        "",
    ]
    if (
        "shop" in results
        and "shop-baseline" in results
        and SELL in results["shop"]
        and SELL in results["shop-baseline"]
    ):
        plot_comparison(
            {"fiscal_core": histories["shop"], "baseline": histories["shop-baseline"]}, out / "shop-vs-baseline.png"
        )
        fc, base = results["shop"][SELL], results["shop-baseline"][SELL]
        done_fc = results["shop"].get("sell → done", {})
        done_base = results["shop-baseline"].get("sell → done", {})
        steady_fc, steady_base = steady_rps(histories["shop"], SELL), steady_rps(histories["shop-baseline"], SELL)
        lines += [
            "## Baseline ratio (shop scenario, same Locust settings, same run)",
            "",
            f"- sells/s, steady state (median of the second half): fiscal_core {_fmt(steady_fc, 1)} / baseline "
            f"{_fmt(steady_base, 1)} = **×{_fmt(steady_fc / steady_base if steady_base else math.nan, 2)}**",
            f"- sells/s over the whole run (logins and ramp included): fiscal_core {_fmt(fc['rps'], 1)} / baseline "
            f"{_fmt(base['rps'], 1)} = ×{_fmt(fc['rps'] / base['rps'] if base['rps'] else math.nan, 2)}",
            f"- sell latency p50 / p99: fiscal_core {_fmt(fc['p50'])} / {_fmt(fc['p99'])} ms, "
            f"baseline {_fmt(base['p50'])} / {_fmt(base['p99'])} ms",
        ]
        if done_fc and done_base:
            lines.append(
                f"- sell → done p50 / p99: fiscal_core {_fmt(done_fc['p50'])} / {_fmt(done_fc['p99'])} ms, "
                f"baseline {_fmt(done_base['p50'])} / {_fmt(done_base['p99'])} ms"
            )
        cpu = {k: meta.get("scenarios", {}).get(k, {}) for k in ("shop", "shop-baseline")}
        if all("server_cpu_pct" in v for v in cpu.values()):
            lines.append(
                f"- CPU over the run, % of one core: fiscal_core server {cpu['shop']['server_cpu_pct']}, Locust "
                f"{cpu['shop']['locust_cpu_pct']}; baseline server {cpu['shop-baseline']['server_cpu_pct']}, "
                f"Locust {cpu['shop-baseline']['locust_cpu_pct']} (a server near 100 is the bottleneck)"
            )
        lines += ["", "![shop vs baseline](shop-vs-baseline.png)", ""]
    for sc in scenarios:
        lines += [f"![{sc}]({sc}.png)", ""]
    if meta.get("scenarios"):
        lines += ["## Commands", "", f"`{' '.join(meta.get('command', []))}`", ""]
        for sc, info in meta["scenarios"].items():
            lines += [
                f"- {sc} ({info.get('about', '')}): locust exit {info.get('locust_exit_code')}, "
                f"server exit {info.get('server_exit_code')}, wall {info.get('wall_s')} s; CPU over the run: "
                f"server {info.get('server_cpu_pct', '?')} %, Locust {info.get('locust_cpu_pct', '?')} % of a core "
                f"(cores busy, whoever used them: {_cores(info)})",
                "",
                f"  server: `{' '.join(info.get('server_command', []))}`",
                "",
                f"  locust: `{' '.join(info.get('locust_command', []))}`",
                "",
            ]
    summary = out / "summary.md"
    summary.write_text("\n".join(lines), encoding="utf-8")
    return summary


def latest(results: pathlib.Path = HERE / "results") -> pathlib.Path:
    runs = sorted(p for p in results.glob("*") if p.is_dir() and any(p.glob("*_stats.csv")))
    if not runs:
        raise SystemExit(f"no load results under {results}: run `make load` first")
    return runs[-1]


def main(argv: list[str]) -> int:
    out = pathlib.Path(argv[0]) if argv else latest()
    print(render(out).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
