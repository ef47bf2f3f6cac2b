"""The physical ceilings the drive benchmarks are measured against: durable LMDB commits on this disk.

    python bench/lmdb_ceiling.py [--seconds 2] [--dir /path/on/the/data/disk]

Prints the disk's own fsync latency first (4 KiB written then ``fsync``, appended to a growing file, and
overwritten in place then ``fdatasync`` — the floor under every durable commit), then documents/s and ms per
commit (mean, p50, p99) for 1 KiB-ish records committed durably (sync + metasync, no writemap) at batch sizes
1, 10, 100 and 1000, then the cost of many drives committing one document each: an environment per drive
(sequential and with 8 threads) against one shared environment (a shard).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import lmdb

RECORD = os.urandom(1200)


def _pct(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def fsync_latency(base: str, seconds: float) -> None:
    block = os.urandom(4096)
    path = os.path.join(base, "fsync.bin")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for label, in_place, sync in (("append 4 KiB + fsync", False, os.fsync),
                                      ("overwrite 4 KiB + fdatasync", True, os.fdatasync)):  # fmt: skip
            times: list[float] = []
            offset = 0
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                os.pwrite(fd, block, 0 if in_place else offset)
                offset += len(block)
                t = time.perf_counter()
                sync(fd)
                times.append(time.perf_counter() - t)
            print(f"{label:28s}: {len(times) / (time.perf_counter() - t0):8,.0f} syncs/s  "
                  f"p50 {_pct(times, 0.5) * 1e3:6.3f} ms  p99 {_pct(times, 0.99) * 1e3:6.3f} ms  "
                  f"mean {sum(times) / len(times) * 1e3:6.3f} ms")  # fmt: skip
    finally:
        os.close(fd)
        os.unlink(path)


def batches(base: str, seconds: float) -> None:
    env = lmdb.open(os.path.join(base, "one"), map_size=1 << 31, max_dbs=4)
    db = env.open_db(b"docs")
    n = 0
    for batch in (1, 10, 100, 1000):
        commits = 0
        times: list[float] = []
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            t = time.perf_counter()
            with env.begin(write=True, db=db) as txn:
                for _ in range(batch):
                    txn.put(n.to_bytes(4, "big"), RECORD, append=True)
                    n += 1
            times.append(time.perf_counter() - t)
            commits += 1
        dt = time.perf_counter() - t0
        rate = commits * batch / dt
        print(f"durable commit, batch {batch:5d}: {rate:10,.0f} records/s  {dt / commits * 1e3:7.3f} ms/commit  "
              f"p50 {_pct(times, 0.5) * 1e3:6.3f}  p99 {_pct(times, 0.99) * 1e3:6.3f} ms")  # fmt: skip
    env.close()


def shards(base: str, seconds: float, drives: int = 64) -> None:
    envs = [lmdb.open(os.path.join(base, f"d{i}"), map_size=1 << 28, max_dbs=4) for i in range(drives)]
    dbs = [e.open_db(b"docs") for e in envs]
    counters = [0] * drives
    shard = lmdb.open(os.path.join(base, "shard"), map_size=1 << 31, max_dbs=4)
    shard_db = shard.open_db(b"docs")

    def commit(i: int, k: int) -> None:
        with envs[i].begin(write=True, db=dbs[i]) as txn:
            for _ in range(k):
                txn.put(counters[i].to_bytes(4, "big"), RECORD, append=True)
                counters[i] += 1

    pool = ThreadPoolExecutor(8)

    def sequential(k: int) -> None:
        for i in range(drives):
            commit(i, k)

    def threaded(k: int) -> None:
        list(pool.map(commit, range(drives), [k] * drives))

    for k in (1, 10):
        for label, run in (("env per drive, sequential", sequential), ("env per drive, 8 threads ", threaded)):
            rounds = 0
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                run(k)
                rounds += 1
            rate = rounds * drives * k / (time.perf_counter() - t0)
            print(f"{label} {drives} drives x {k:2d}/commit: {rate:9,.0f} records/s")
        n = rounds = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            with shard.begin(write=True, db=shard_db) as txn:
                for i in range(drives):
                    for _ in range(k):
                        txn.put(i.to_bytes(4, "big") + n.to_bytes(4, "big"), RECORD)
                        n += 1
            rounds += 1
        rate = rounds * drives * k / (time.perf_counter() - t0)
        print(f"one env (shard),           {drives} drives x {k:2d}/commit: {rate:9,.0f} records/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--dir", default=os.getcwd(), help="a directory on the disk to measure (default: here)")
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="lmdb-ceiling-", dir=args.dir)
    try:
        fsync_latency(base, args.seconds)
        batches(base, args.seconds)
        shards(base, args.seconds)
    finally:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
