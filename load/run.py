"""Run the Locust load suites headless against fresh servers, then render the report (issue 8; ``make load``).

    python load/run.py [--scenarios shop,shop-baseline,marketplace,utility,flash] [--duration 60]
                       [--users N] [--ofd none|embedded] [--out DIR] [--no-pin] [--no-report]

For each scenario it
- starts the server on a free 127.0.0.1 port with a fresh temporary data directory: ``fiscal-core serve``
  (one worker, sandbox tenant; ``--ofd none`` by default, so the OFD exchange — another host's work — does not
  share the measured core; ``--ofd embedded`` puts it back), or for ``shop-baseline`` the FastAPI twin in
  ``bench/baselines/fastapi_app.py`` on uvicorn;
- pins the server to core 0 and Locust to core 1 with ``taskset`` when there are 2+ cores (``--no-pin``: not);
- runs ``locust --headless --csv … --csv-full-history`` for ``--duration`` seconds (default ``$FC_LOAD_DURATION``
  or 60; the utility and flash shapes stretch onto it);
- stops every process it started by its pid (SIGTERM, then SIGKILL after a grace period) and reaps it.
Results go to ``load/results/<UTC timestamp>/`` (or ``--out``): ``<scenario>_stats.csv``,
``<scenario>_stats_history.csv``, ``<scenario>_failures.csv``, the Locust and server logs, ``meta.json`` (the
machine, the commands, load averages, exit codes), then ``load/report.py`` adds the PNGs and ``summary.md``.
Exit status: 1 when any scenario had a failed request or a process that did not behave, else 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import pathlib
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"


@dataclass(frozen=True)
class Scenario:
    locustfile: str
    server: str  # "fiscal_core" or "baseline"
    users: int | None  # None: the locustfile's LoadTestShape sets the users
    env: dict[str, str] = field(default_factory=dict)
    about: str = ""


SCENARIOS = {
    "shop": Scenario("locustfile_shop.py", "fiscal_core", 64, about="single ATOL v5 sells + report polling"),
    "shop-baseline": Scenario(
        "locustfile_shop.py", "baseline", 64, about="the same against FastAPI + pydantic + pure-Python codec"
    ),
    "marketplace": Scenario(
        "locustfile_marketplace.py", "fiscal_core", 6, about="5 sellers × 2 batches of 100 per s + the feed"
    ),
    "utility": Scenario("locustfile_utility.py", "fiscal_core", None, about="end-of-month ramp (LoadTestShape)"),
    "flash": Scenario("locustfile_flash.py", "fiscal_core", None, about="flash peak from shapes/flash_peak.csv"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "no_extensions": os.environ.get("FISCAL_CORE_NO_EXTENSIONS", ""),
    }


class Child:
    """A process started here; ``stop`` ends it by its pid (SIGTERM, then SIGKILL) and reaps it."""

    def __init__(self, cmd: list[str], env: dict[str, str], log: pathlib.Path) -> None:
        self.cmd = cmd
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)

    def stop(self, grace: float = 15.0) -> int:
        proc = self.proc
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        return proc.returncode


def wait_healthy(child: Child, port: int, log: pathlib.Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(f"the server exited with {child.proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the server did not answer /health in {timeout} s:\n{log.read_text()[-2000:]}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants (0 once gone); Linux /proc only."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            stat = pathlib.Path(f"/proc/{p}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14 and 15 of stat)
            for task in pathlib.Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def core_ticks() -> dict[int, tuple[int, int]]:
    """(busy, total) jiffies per core from /proc/stat: how busy a core was, whoever used it."""
    out = {}
    try:
        for line in pathlib.Path("/proc/stat").read_text().splitlines():
            if line.startswith("cpu") and line[3:4].isdigit():
                name, *values = line.split()
                ticks = [int(v) for v in values]
                idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
                out[int(name[3:])] = (sum(ticks) - idle, sum(ticks))
    except OSError:
        pass
    return out


def busy_pct(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]) -> dict[str, float]:
    return {
        f"core{c}": round(100 * (after[c][0] - before[c][0]) / max(1, after[c][1] - before[c][1]), 1)
        for c in sorted(after)
        if c in before
    }


def pin(core: int, enabled: bool) -> list[str]:
    return ["taskset", "-c", str(core)] if enabled else []


def server_command(kind: str, data: pathlib.Path, port: int, ofd: str) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if kind == "baseline":
        env.update(FISCAL_CORE_NO_EXTENSIONS="1", FC_BASELINE_DATA=str(data))
        env.pop("FISCAL_CORE_REQUIRE_EXTENSIONS", None)
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(ROOT / "bench" / "baselines"),
            "fastapi_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        return cmd, env
    cmd = [
        sys.executable,
        "-m",
        "fiscal_core",
        "serve",
        "--data",
        str(data),
        "--port",
        str(port),
        "--ofd",
        ofd,
        "--public-url",
        f"http://127.0.0.1:{port}",
    ]
    return cmd, env


def run_scenario(name: str, sc: Scenario, args: argparse.Namespace, out: pathlib.Path, pinned: bool) -> dict[str, Any]:
    port = free_port()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"fc-load-{name}-"))
    server_log = out / f"{name}_server.log"
    cmd, env = server_command(sc.server, tmp / "data", port, args.ofd)
    cmd = [*pin(0, pinned), *cmd]
    info: dict[str, Any] = {
        "scenario": name,
        "server": sc.server,
        "about": sc.about,
        "server_command": cmd,
        "load_before": load_average(),
    }
    t0 = time.time()
    server = Child(cmd, env, server_log)
    try:
        wait_healthy(server, port, server_log)
        users = args.users if args.users and sc.users else sc.users
        lenv = {
            **os.environ,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}",
            "FC_LOAD_DURATION": str(args.duration),
            "FC_LOAD_RUN_ID": f"{name}-{int(t0)}-{os.getpid()}",
            **sc.env,
        }
        lcmd = [
            *pin(1, pinned),
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(HERE / sc.locustfile),
            "--headless",
            "--host",
            f"http://127.0.0.1:{port}",
            "--csv",
            str(out / name),
            "--csv-full-history",
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--stop-timeout",
            "5",
        ]
        if users:
            lcmd += ["-u", str(users), "-r", str(users), "-t", f"{args.duration}s"]
        else:  # a LoadTestShape ends the run itself; -t is the safety net
            lcmd += ["-t", f"{args.duration + 15}s"]
        info.update(locust_command=lcmd, users=users, duration_s=args.duration)
        print(f"[load] {name}: {sc.about} — {args.duration} s against {sc.server} on port {port}", flush=True)
        server_cpu = cpu_seconds(server.proc.pid)
        cores = core_ticks()
        t_locust = time.monotonic()
        locust = Child(lcmd, lenv, out / f"{name}_locust.log")
        locust_cpu = 0.0
        code: int | None = None
        try:
            while locust.proc.poll() is None and time.monotonic() - t_locust < args.duration + 120:
                locust_cpu = max(locust_cpu, cpu_seconds(locust.proc.pid))
                time.sleep(0.5)
            code = locust.proc.wait(1)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if code is None:  # still running past its time limit, or we are being interrupted
                code = locust.stop()
        span = time.monotonic() - t_locust
        # CPU used over the Locust run, in % of one core (Locust's own start-up included, so it reads high)
        info["server_cpu_pct"] = round(100 * (cpu_seconds(server.proc.pid) - server_cpu) / span, 1)
        info["locust_cpu_pct"] = round(100 * locust_cpu / span, 1)
        info["cores_busy_pct"] = busy_pct(cores, core_ticks())  # > the two above: someone else used the cores
        info["locust_exit_code"] = code
    finally:
        info["server_exit_code"] = server.stop()
        info["load_after"] = load_average()
        info["wall_s"] = round(time.time() - t0, 1)
        shutil.rmtree(tmp, ignore_errors=True)
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated, from: " + ", ".join(SCENARIOS))
    ap.add_argument("--duration", type=int, default=int(os.environ.get("FC_LOAD_DURATION", "60")))
    ap.add_argument("--users", type=int, default=0, help="users for the fixed-count scenarios (default per scenario)")
    ap.add_argument("--ofd", default="none", help="fiscal-core serve --ofd: none (default), embedded or HOST:PORT")
    ap.add_argument("--out", type=pathlib.Path, help="results directory (default load/results/<UTC timestamp>)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin server and Locust to cores 0 and 1")
    ap.add_argument("--no-report", action="store_true", help="only the CSVs; render later with load/report.py")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown or not names:
        ap.error(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}")
    out = args.out or RESULTS / dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    pinned = not args.no_pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    meta: dict[str, Any] = {
        "started_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": [sys.executable, *sys.argv] if argv is None else ["load/run.py", *argv],
        "machine": machine(),
        "pinned": pinned,
        "ofd": args.ofd,
        "scenarios": {},
    }
    ok = True
    for name in names:
        try:
            info = run_scenario(name, SCENARIOS[name], args, out, pinned)
        except RuntimeError as exc:  # the server did not come up: say so, go on with the next scenario
            print(f"[load] {name}: {exc}", file=sys.stderr, flush=True)
            ok = False
            continue
        meta["scenarios"][name] = info
        ok = ok and info["locust_exit_code"] == 0 and info["server_exit_code"] in (0, -signal.SIGTERM)
        (out / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    print(f"[load] results in {out}", flush=True)
    if not args.no_report:
        sys.path.insert(0, str(HERE))
        import report

        summary = report.render(out)
        print(summary.read_text(), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
