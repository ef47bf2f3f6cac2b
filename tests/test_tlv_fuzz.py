"""Fuzzing the native decoder: random and mutated inputs never crash, hang or raise anything but DecodeError.

Size: ``FISCAL_CORE_FUZZ_INPUTS`` (default 20,000 for CI; the full run uses 1,000,000, and once more under
ASAN: ``make fuzz-asan``). Every 64th input is also decoded by the twin and must give the same outcome.
"""

from __future__ import annotations

import base64
import json
import os
import random
from typing import Any

from conftest import TLV_NATIVE, TLV_TWIN, VECTORS, both_impls

from fiscal_core.errors import DecodeError

FUZZ_INPUTS = int(os.environ.get("FISCAL_CORE_FUZZ_INPUTS", "20000"))


def _seeds() -> list[bytes]:
    seeds = []
    perekrestok = json.loads((VECTORS / "real_receipt_ffd105_perekrestok_20200320.json").read_text())
    seeds.append(base64.b64decode(perekrestok["rawData_base64"]))
    doc1 = bytes.fromhex((VECTORS / "yandex_ofd_container_doc1.hex").read_text().strip())
    seeds.append(doc1[32:-10])  # container body without its message sign and trailing zeros
    doc11 = bytes.fromhex((VECTORS / "yandex_ofd_kkt_to_ofd_message_doc11.hex").read_text().strip())
    seeds.append(doc11[30 + 32 : -10])
    return seeds


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        if not buf:
            buf = bytearray(rng.randbytes(rng.randint(0, 16)))
            continue
        pos = rng.randrange(len(buf))
        if op == 0:
            buf[pos] = rng.randrange(256)
        elif op == 1:
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == 2:
            del buf[pos:]
        elif op == 3:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 4:
            # rewrite a length field near pos: the most interesting lie a TLV stream can tell
            at = pos & ~1
            if at + 1 < len(buf):
                buf[at : at + 2] = rng.choice([0, 1, 0xFFFF, len(buf), rng.randrange(65536)]).to_bytes(2, "little")
        elif op == 5:
            end = min(len(buf), pos + rng.randint(1, 64))
            buf[pos:pos] = buf[pos:end]
        else:
            del buf[pos : pos + rng.randint(1, 16)]
    return bytes(buf)


def _outcome(impl: Any, data: bytes) -> Any:
    try:
        return ("ok", impl.decode(data))
    except DecodeError as e:
        return ("err", e.offset, e.path, str(e))


def test_native_decoder_survives_random_and_mutated_inputs() -> None:
    py, native = both_impls(TLV_NATIVE, TLV_TWIN)
    rng = random.Random(20261123)
    seeds = _seeds()
    accepted = rejected = 0
    for i in range(FUZZ_INPUTS):
        kind = i % 4
        if kind == 0:
            data = rng.randbytes(rng.randint(0, 80))
        elif kind == 1:
            # random bytes behind a plausible document header
            body = rng.randbytes(rng.randint(0, 200))
            data = bytes((3, 0)) + len(body).to_bytes(2, "little") + body
        else:
            data = _mutate(rng, rng.choice(seeds))
        try:
            native.decode(data)
            native.check(data)
            accepted += 1
        except DecodeError:
            rejected += 1
        if i % 64 == 0:
            assert _outcome(py, data) == _outcome(native, data), data.hex()
    assert accepted + rejected == FUZZ_INPUTS
    # The mix must exercise both sides, or it is not testing the decoder.
    assert accepted > FUZZ_INPUTS // 100 and rejected > FUZZ_INPUTS // 4
