"""Benchmarks of the crypto kernels, native vs pure-Python twin: CRC-16/CCITT-FALSE and CRC32C over a 1.2 KB
document, Magma CMAC over 1 KiB and 64 KiB with a pre-expanded key (the fiscal-sign shape), and the batch MAC
``cmac_many`` over 1,024 messages of 32 bytes (the drive's group commit: one MAC per SHA-256 document digest) and
64 messages of 1 KiB, beside a plain loop over ``cmac`` on the same 1,024 digests.

Rules
- Not collected by plain ``pytest`` (``testpaths = ["tests"]``); cases are ``bench_*`` like ``bench_tlv.py``; run::

      PYTHONPATH=. .venv/bin/python -m pytest -p no:cacheprovider -o python_files='bench_*.py' \
          -o python_functions='bench_*' bench/bench_crypto.py --benchmark-only

- Every case runs for ``py`` and ``native`` (plus ``native-portable``: CRC32C without SSE4.2); a missing native
  build is skipped, or fails under ``FISCAL_CORE_REQUIRE_EXTENSIONS``.
- Each case records its throughput (``extra_info["MB/s"]``, from the median); a summary with the native/py
  ratios is printed at the end of the module.
- Data is seeded: runs are comparable.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fiscal_core import _impl

CRC = _impl.implementations("fiscal_core.crypto._crc_native", "fiscal_core.crypto._crc_py")
MAGMA = _impl.implementations("fiscal_core.crypto._magma_native", "fiscal_core.crypto._magma_py")

_rng = random.Random(54)
DOC = _rng.randbytes(1200)  # a typical receipt TLV is 0.5..2 KB
KEY = _rng.randbytes(32)
KIB = _rng.randbytes(1024)
KIB64 = _rng.randbytes(64 * 1024)
DIGESTS = [_rng.randbytes(32) for _ in range(1024)]  # a group commit's SHA-256 document digests
KIB_BATCH = [_rng.randbytes(1024) for _ in range(64)]

#: (case, implementation) -> (median seconds, MB/s)
RESULTS: dict[tuple[str, str], tuple[float, float]] = {}


def _params(found: dict[str, Any]) -> list[Any]:
    out = [pytest.param("py", id="py")]
    if "native" in found:
        out.append(pytest.param("native", id="native"))
    elif _impl.REQUIRE_EXTENSIONS:
        raise RuntimeError("the native crypto module is not built but FISCAL_CORE_REQUIRE_EXTENSIONS is set")
    else:
        out.append(pytest.param("native", id="native", marks=pytest.mark.skip(reason="native module not built")))
    return out


def _run(benchmark: Any, case: str, impl: str, nbytes: int, fn: Callable[[], object]) -> None:
    benchmark.group = case
    benchmark(fn)
    if benchmark.stats is None:  # --benchmark-disable (the CI smoke run): ran once, nothing timed
        return
    median = benchmark.stats.stats.median
    mbps = nbytes / median / 1e6
    benchmark.extra_info["MB/s"] = round(mbps, 2)
    RESULTS[(case, impl)] = (median, mbps)


@pytest.fixture(scope="module", autouse=True)
def _summary(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capman = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capman is None or not RESULTS:
        return
    lines = ["", "crypto throughput (median):"]
    for case in dict.fromkeys(c for c, _ in RESULTS):
        row = {impl: RESULTS[(c, impl)] for (c, impl) in RESULTS if c == case}
        cells = [f"{impl} {m * 1e6:9.2f} us {mbps:8.2f} MB/s" for impl, (m, mbps) in row.items()]
        ratio = f"  native/py x{row['py'][0] / row['native'][0]:.0f}" if "py" in row and "native" in row else ""
        lines.append(f"  {case:<20} " + " | ".join(cells) + ratio)
    with capman.global_and_fixture_disabled():  # module teardown output is captured otherwise
        for line in lines:
            reporter.write_line(line)


@pytest.mark.parametrize("impl", _params(CRC))
def bench_crc16_1200b(benchmark: Any, impl: str) -> None:
    crc16 = CRC[impl].crc16_ccitt
    assert crc16(DOC) == CRC["py"].crc16_ccitt(DOC)
    _run(benchmark, "crc16 1.2KB", impl, len(DOC), lambda: crc16(DOC))


@pytest.mark.parametrize("impl", [*_params(CRC), pytest.param("native-portable", id="native-portable")])
def bench_crc32c_1200b(benchmark: Any, impl: str) -> None:
    if impl == "native-portable":
        if "native" not in CRC:
            pytest.skip("native module not built")
        crc32c = CRC["native"].crc32c_portable
    else:
        crc32c = CRC[impl].crc32c
    assert crc32c(DOC) == CRC["py"].crc32c(DOC)
    _run(benchmark, "crc32c 1.2KB", impl, len(DOC), lambda: crc32c(DOC))


@pytest.mark.parametrize("impl", _params(MAGMA))
def bench_cmac_1kib(benchmark: Any, impl: str) -> None:
    cmac = MAGMA[impl].MagmaKey(KEY).cmac
    assert cmac(KIB) == MAGMA["py"].cmac(KEY, KIB)
    _run(benchmark, "cmac 1KiB", impl, len(KIB), lambda: cmac(KIB))


@pytest.mark.parametrize("impl", _params(MAGMA))
def bench_cmac_64kib(benchmark: Any, impl: str) -> None:
    cmac = MAGMA[impl].MagmaKey(KEY).cmac
    _run(benchmark, "cmac 64KiB", impl, len(KIB64), lambda: cmac(KIB64))


@pytest.mark.parametrize("impl", _params(MAGMA))
def bench_cmac_loop_1024x32b(benchmark: Any, impl: str) -> None:
    cmac = MAGMA[impl].MagmaKey(KEY).cmac
    _run(benchmark, "cmac loop 1024x32B", impl, 32 * len(DIGESTS), lambda: [cmac(d) for d in DIGESTS])


@pytest.mark.parametrize("impl", _params(MAGMA))
def bench_cmac_many_1024x32b(benchmark: Any, impl: str) -> None:
    cmac_many = MAGMA[impl].MagmaKey(KEY).cmac_many
    assert cmac_many(DIGESTS[:9]) == [MAGMA["py"].cmac(KEY, d) for d in DIGESTS[:9]]
    _run(benchmark, "cmac_many 1024x32B", impl, 32 * len(DIGESTS), lambda: cmac_many(DIGESTS))


@pytest.mark.parametrize("impl", _params(MAGMA))
def bench_cmac_many_64x1kib(benchmark: Any, impl: str) -> None:
    cmac_many = MAGMA[impl].MagmaKey(KEY).cmac_many
    assert cmac_many(KIB_BATCH[:5]) == [MAGMA["py"].cmac(KEY, m) for m in KIB_BATCH[:5]]
    _run(benchmark, "cmac_many 64x1KiB", impl, 1024 * len(KIB_BATCH), lambda: cmac_many(KIB_BATCH))
