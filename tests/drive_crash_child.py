"""Child of ``test_drive_crash.py``: append to a drive in a loop until SIGKILLed.

Usage: ``python drive_crash_child.py DIR SEED``

Opens the only drive in the store at DIR (creating and registering it when there is none, finishing the
registration when an earlier child was killed between the two), then loops: ``append_many`` of 1..50 receipts,
now and then closing and opening the shift inside the same batch. After every ``append_many`` that returns it
prints one line and flushes it::

    OK fd:fp fd:fp ...       the FD numbers it got, each with its printed fiscal sign

so every line the parent reads is an append the drive reported as durable. ``READY`` is printed once the drive
is open, so the parent's random delay falls on the append loop, not on interpreter start-up.

The clock is synthetic and moves forward one second per call from the drive's last document, so a shift never
passes 24 h and no document is ever dated before the last one, however many children ran before.
"""

from __future__ import annotations

import random
import sys

from fiscal_core import samples
from fiscal_core.drive.drive import FiscalDrive, Issued
from fiscal_core.drive.store import DriveStore

T0 = 1_780_000_000
CAPACITY = 10_000_000  # 200+ kills at full size issue a few hundred thousand documents
POOL = 64


def main() -> int:
    path, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    store = DriveStore(path)
    now = [T0]

    def clock() -> float:
        now[0] += 1
        return float(now[0])

    out = sys.stdout
    ids = store.drive_ids()
    if ids:
        drive = FiscalDrive.open(store, clock=clock)
        now[0] = max(T0, drive.state.last_doc_utc)
        if drive.state.phase == "ready":  # killed between create() and register()
            issued = drive.register()
            out.write(f"OK {issued.fd_number}:{issued.fiscal_sign}\n")
            out.flush()
    else:
        drive = FiscalDrive.create(
            store,
            samples.identity(),
            clock=clock,
            capacity=CAPACITY,
            secret=b"crash-test-secret-32-bytes-long!",
            register=False,
        )
        issued = drive.register()
        out.write(f"OK {issued.fd_number}:{issued.fiscal_sign}\n")
        out.flush()
    pool = [samples.receipt(rng.randint(1, 4), seed * POOL + k, sign=1 + k % 4) for k in range(POOL)]
    out.write("READY\n")
    out.flush()
    while True:
        requests: list[tuple[int, object]] = []
        if not drive.state.shift_open:
            requests.append((2, None))
        elif rng.random() < 0.05:
            requests += [(5, None), (2, None)]
        requests += [(3, rng.choice(pool)) for _ in range(rng.randint(1, 50))]
        results = drive.append_many(requests)
        bad = [r for r in results if not isinstance(r, Issued)]
        if bad:  # the loop only asks for what the drive must accept
            out.write(f"REFUSED {bad[0]!r}\n")
            out.flush()
            return 3
        out.write("OK " + " ".join(f"{r.fd_number}:{r.fiscal_sign}" for r in results if isinstance(r, Issued)) + "\n")
        out.flush()


if __name__ == "__main__":
    sys.exit(main())
