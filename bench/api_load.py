"""Bulk API load: receipts accepted and fiscalized per second by ``fiscal-core serve`` on one core (issue 5).

    python bench/api_load.py [--receipts 200000] [--batch 1000] [--items 10] [--conns 4] [--rate R] [--json]

It starts the server pinned to core 0 (``taskset -c 0``, one worker) on a fresh data directory with the sandbox
tenant, pins itself to core 1, pre-encodes every bulk request (unique external_ids, seeded 10-item FFD 1.2
receipts with Cyrillic names and mixed VAT) so the client's CPU is not measured, pushes them over ``--conns``
keep-alive connections and follows the change feed until every receipt is ``done`` (``--marked``: every line a
marked good, a marketplace's receipts). It reports:
- accepted/s: receipts journaled (answered) per second of the push;
- fiscalized/s: receipts ``done`` per second, from the first request sent to the last receipt done;
- accepted → done latency p50/p99 (server timestamps ``accepted_at`` → ``finished_at`` from the feed);
- the server's CPU per receipt by thread (event loop, journal writer, pipeline; from /metrics);
``--rate R`` paces the push at R receipts/s (e.g. 70 % of the measured peak) for the latency figure.
``vm_probe``: the speed of the minutes on core 0 before and after the run (``server_cpu.vm_probe``: interpreter
work and a random walk through memory): this VM's speed swings by up to ×2, so compare figures taken at similar
probes.
``--fiscal-workers N``: the tiered layout (``serve --workers 1 --fiscal-workers N``), the API worker alone on
core 0 and the fiscal-only workers on core 1 beside this client; their CPU per receipt comes from /proc.
``--random-ids``: random uuid4 external_ids, as most integrations send, instead of the default rising counter
(``RUN-n``). The counter's keys land side by side in the intake's idempotency index; random ones land on a
different leaf page each, so every group commit rewrites about a page a receipt there (bench/RESULTS.md,
session 20).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import Any

from server_cpu import cpu_per_item, pin_fiscal_workers, process_cpu, scrape, vm_probe

ROOT = pathlib.Path(__file__).resolve().parents[1]
NAMES = ["Молоко «Домик в деревне» 3,2%", "Хлеб Бородинский", "Сыр Российский 45%", "Кофе молотый 250 г",
         "Шоколад горький 70%", "Яблоки Гала, кг", "Вода минеральная 1,5 л", "Чай чёрный 100 пак.",
         "Масло сливочное 82,5%", "Яйцо куриное С1, 10 шт."]  # fmt: skip
VATS = ["vat22", "vat10", "vat0", "none", "vat122", "vat110"]


def receipt(rng: random.Random, ext: str, items: int, marked: bool = False) -> dict[str, Any]:
    """One bulk element. ``marked``: a marketplace's receipt, every line one marked piece (payment object 33, a
    ``gs1m`` code of GTIN, serial and crypto tail, processing mode "0"), as ``bench_validate_marked`` builds."""
    lines = []
    total = 0
    for k in range(items):
        price = rng.randint(100, 500_000)
        qty = 1 if marked else rng.choice([1, 2, 3])
        line = {"name": NAMES[(k + rng.randint(0, 9)) % 10], "price": price / 100, "quantity": qty,
                "sum": price * qty / 100, "measure": 0, "payment_method": "full_payment",
                "payment_object": 1, "vat": {"type": rng.choice(VATS)}}  # fmt: skip
        if marked:
            full = f"0104601234{k:04d}8721{rng.randrange(10**6):06d}ABCdef9\x1d91EE10\x1d92{'A' * 44}"
            line.update(payment_object=33, mark_processing_mode="0",
                        mark_code={"gs1m": base64.b64encode(full.encode()).decode()})  # fmt: skip
        lines.append(line)
        total += price * qty
    return {
        "group_code": "sandbox-v5",
        "operation": "sell",
        "external_id": ext,
        "timestamp": "01.06.2026 10:00:00",
        "receipt": {
            "client": {"email": "buyer@example.com"},
            "company": {"email": "shop@example.com", "sno": "osn", "inn": "5544332219",
                        "payment_address": "https://shop.example"},
            "items": lines,
            "payments": [{"type": 1, "sum": total / 100}],
            "total": total / 100,
        },
    }  # fmt: skip


def start_server(data: pathlib.Path, port: int, ofd: str, fiscal_workers: int = 0) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = ["taskset", "-c", "0", sys.executable, "-m", "fiscal_core", "serve", "--data", str(data),
           "--port", str(port), "--rate-limit", "1e9", "--ofd", ofd]  # fmt: skip
    if fiscal_workers:
        cmd += ["--fiscal-workers", str(fiscal_workers)]
    data.parent.mkdir(parents=True, exist_ok=True)
    with open(data.parent / "server.log", "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    for _ in range(300):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                c.close()
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--receipts", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--items", type=int, default=10)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--rate", type=float, default=0.0, help="pace the push at this many receipts/s")
    ap.add_argument("--port", type=int, default=18181)
    ap.add_argument("--ofd", default="none", help="the server's --ofd (none, embedded or HOST:PORT)")
    ap.add_argument("--fiscal-workers", type=int, default=0, help="the tiered layout (see above); 0: one process")
    ap.add_argument("--marked", action="store_true", help="every line a marked good (a marketplace's receipts)")
    ap.add_argument(
        "--random-ids",
        action="store_true",
        help="random (uuid4) external_ids, as most integrations send, instead of a rising counter",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.sched_setaffinity(0, {1})
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="fc-load-"))
    proc = start_server(tmp / "data", args.port, args.ofd, args.fiscal_workers)
    try:
        fiscal_pids = pin_fiscal_workers(tmp / "server.log", args.fiscal_workers) if args.fiscal_workers else []
        fiscal0 = sum(process_cpu(pid) for pid in fiscal_pids)
        probe_body = json.dumps(receipt(random.Random(0), "probe", args.items), ensure_ascii=False).encode()
        before = vm_probe(probe_body)
        result = run(args)
        result["vm_probe"] = [before, vm_probe(probe_body)]  # the minutes' speed, before and after the run
        if fiscal_pids:
            spent = sum(process_cpu(pid) for pid in fiscal_pids) - fiscal0
            result["cpu_us_per_receipt"]["fiscal-workers"] = round(spent / max(result["accepted"], 1) * 1e6, 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>28}: {v}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=600)
    conn.request("POST", "/possystem/v5/getToken", json.dumps({"login": "sandbox", "pass": "sandbox"}),
                 {"Content-Type": "application/json"})  # fmt: skip
    token = json.loads(conn.getresponse().read())["token"]
    headers = {"Content-Type": "application/json", "Token": token}
    rng = random.Random(42)
    run_id = f"{time.time():.0f}"
    bodies = []
    n = 0
    while n < args.receipts:
        k = min(args.batch, args.receipts - n)
        ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) if args.random_ids else f"{run_id}-{n + j}"
               for j in range(k)]  # fmt: skip
        bodies.append(json.dumps({"receipts": [receipt(rng, ext, args.items, args.marked) for ext in ids]},
                                 ensure_ascii=False).encode())  # fmt: skip
        n += k
    queue = list(reversed(bodies))
    lock = threading.Lock()
    accepted = [0]
    errors: list[str] = []
    cpu0 = scrape(args.port)
    t0 = time.perf_counter()
    pace = args.batch / args.rate if args.rate else 0.0
    next_at = [t0]

    def push() -> None:
        c = http.client.HTTPConnection("127.0.0.1", args.port, timeout=600)
        while True:
            with lock:
                if not queue:
                    break
                body = queue.pop()
                if pace:
                    wait = next_at[0] - time.perf_counter()
                    next_at[0] += pace
                else:
                    wait = 0.0
            if wait > 0:
                time.sleep(wait)
            c.request("POST", "/api/v1/receipts", body, headers)
            resp = c.getresponse()
            got = json.loads(resp.read())
            if resp.status != 200:
                errors.append(f"{resp.status}: {str(got)[:200]}")
                continue
            with lock:
                accepted[0] += got["accepted"]
        c.close()

    threads = [threading.Thread(target=push) for _ in range(args.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t_pushed = time.perf_counter()
    done = 0
    cursor = 0
    lat: list[float] = []
    while done < accepted[0]:
        conn.request("GET", f"/api/v1/results?after={cursor}&limit=10000&wait=10", headers=headers)
        page = json.loads(conn.getresponse().read())
        for r in page["results"]:
            done += 1
            lat.append(r["finished_at"] - r["accepted_at"])
        cursor = page["next"]
        if not page["results"] and time.perf_counter() - t_pushed > 600:
            break
    t_done = time.perf_counter()
    cpu = cpu_per_item(cpu0, scrape(args.port), done)
    lat.sort()
    conn.close()
    return {
        "receipts": args.receipts,
        "ofd": args.ofd,
        "items_per_receipt": args.items,
        "marked": args.marked,
        "batch": args.batch,
        "connections": args.conns,
        "fiscal_workers": args.fiscal_workers,
        "paced_rate": args.rate or None,
        "accepted": accepted[0],
        "errors": errors[:3],
        "accepted_per_s": round(accepted[0] / (t_pushed - t0)),
        "fiscalized_per_s": round(done / (t_done - t0)),
        "accepted_to_done_p50_ms": round(1000 * lat[len(lat) // 2], 1) if lat else None,
        "accepted_to_done_p99_ms": round(1000 * lat[int(len(lat) * 0.99)], 1) if lat else None,
        "cpu_us_per_receipt": cpu,
    }


if __name__ == "__main__":
    main()
