"""Guard for ``make bench-compare``: name the saved run it compares with, or say why there is none.

    python bench/last_run.py [STORAGE]      # default .benchmarks (pytest-benchmark's default storage)

pytest-benchmark keeps runs saved by ``make bench`` (``--benchmark-autosave``) under
``STORAGE/<machine id>/NNNN_*.json`` and ``--benchmark-compare`` takes the newest of this machine's folder. On a
fresh clone there is none, and pytest-benchmark's warning becomes an INTERNALERROR traceback under the
project's ``filterwarnings = error``; this prints one clear line instead and exits 2.
"""

from __future__ import annotations

import pathlib
import sys

from pytest_benchmark.utils import get_machine_id


def main(argv: list[str]) -> int:
    storage = pathlib.Path(argv[0] if argv else ".benchmarks")
    folder = storage / get_machine_id()
    runs = sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.json"))
    if not runs:
        print(
            f"bench-compare: no saved benchmark run in {folder}/ yet. Run `make bench` first (it saves one), "
            "then `make bench-compare` compares a new run with it and fails on a >10 % median regression.",
            file=sys.stderr,
        )
        return 2
    print(f"bench-compare: comparing with {runs[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
