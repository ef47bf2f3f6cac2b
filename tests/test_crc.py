"""CRC-16/CCITT-FALSE and CRC32C: check values, the real OFD container vectors, the 1037 rule, chaining, and
native == twin == independent references (``binascii.crc_hqx``; a bit-at-a-time CRC32C written here).

Both implementations run every case; "native" is skipped only when it is not built and
``FISCAL_CORE_REQUIRE_EXTENSIONS`` is unset (conftest makes it a failure otherwise).
"""

from __future__ import annotations

import array
import binascii
import inspect
import json
from typing import Any

import pytest
from conftest import VECTORS, both_impls, impl_params
from hypothesis import given
from hypothesis import strategies as st

from fiscal_core import _impl

CRC_NATIVE = "fiscal_core.crypto._crc_native"
CRC_TWIN = "fiscal_core.crypto._crc_py"


@pytest.fixture(scope="module", params=impl_params(CRC_NATIVE, CRC_TWIN))
def crc(request: pytest.FixtureRequest) -> Any:
    return request.param


def crc32c_bitwise(data: bytes, crc: int = 0) -> int:
    """CRC32C straight from its definition (reflected 0x82F63B78, init/xorout 0xFFFFFFFF), no tables."""
    reg = crc ^ 0xFFFFFFFF
    for byte in data:
        reg ^= byte
        for _ in range(8):
            reg = (reg >> 1) ^ (0x82F63B78 if reg & 1 else 0)
    return reg ^ 0xFFFFFFFF


def _hex_vector(name: str) -> bytes:
    return bytes.fromhex((VECTORS / name).read_text().strip())


def container_crc_parts(container: bytes) -> tuple[bytes, int]:
    """(bytes covered by the container CRC, the stored CRC): header [0:2] + [4:32] + body; CRC LE at [2:4]."""
    return container[0:2] + container[4:32] + container[32:], int.from_bytes(container[2:4], "little")


# --- check values -------------------------------------------------------------------------------------------------


def test_check_values(crc: Any) -> None:
    assert crc.crc16_ccitt(b"123456789") == 0x29B1
    assert crc.crc32c(b"123456789") == 0xE3069283


def test_empty_input_returns_the_running_value(crc: Any) -> None:
    assert crc.crc16_ccitt(b"") == 0xFFFF
    assert crc.crc16_ccitt(b"", 0x1234) == 0x1234
    assert crc.crc32c(b"") == 0
    assert crc.crc32c(b"", 0xDEADBEEF) == 0xDEADBEEF


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # RFC 3720 appendix B.4 (iSCSI CRC32C examples)
        (bytes(32), 0x8A9136AA),
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
        (bytes(range(31, -1, -1)), 0x113FDB5C),
    ],
    ids=["zeros", "ones", "incrementing", "decrementing"],
)
def test_crc32c_rfc3720_vectors(crc: Any, data: bytes, expected: int) -> None:
    assert crc.crc32c(data) == expected


def test_crc16_single_byte(crc: Any) -> None:
    assert crc.crc16_ccitt(b"A") == 0xB915


# --- real vectors (yandex/ofd tests, /work/shared/vectors) --------------------------------------------------------


def test_container_crc_doc1(crc: Any) -> None:
    covered, stored = container_crc_parts(_hex_vector("yandex_ofd_container_doc1.hex"))
    assert stored == 60419
    assert crc.crc16_ccitt(covered) == 60419


def test_container_crc_doc11_after_session_header(crc: Any) -> None:
    message = _hex_vector("yandex_ofd_kkt_to_ofd_message_doc11.hex")
    assert message[:4] == bytes.fromhex("2a08410a")  # session header signature
    covered, stored = container_crc_parts(message[30:])  # the container follows the 30-byte session header
    assert stored == 30757
    assert crc.crc16_ccitt(covered) == 30757


def test_container_crc_detects_a_flipped_bit(crc: Any) -> None:
    covered, stored = container_crc_parts(_hex_vector("yandex_ofd_container_doc1.hex"))
    damaged = bytearray(covered)
    damaged[100] ^= 0x04
    assert crc.crc16_ccitt(damaged) != stored


def test_registration_number_1037(crc: Any) -> None:
    rule = json.loads((VECTORS / "unit_vectors.json").read_text())["rnm_1037"]
    assert rule["cases"]
    for case in rule["cases"]:
        text = case["first10"].zfill(10) + case["inn"].zfill(12) + case["kkt_serial"].zfill(20)
        rnm = case["first10"] + str(crc.crc16_ccitt(text.encode("ascii"))).zfill(6)
        assert rnm == case["rnm"]


# --- chaining, buffer types ---------------------------------------------------------------------------------------


@given(data=st.binary(max_size=600), cut=st.integers(min_value=0, max_value=600))
def test_chaining_equals_one_shot(crc: Any, data: bytes, cut: int) -> None:
    head, tail = data[:cut], data[cut:]
    assert crc.crc16_ccitt(tail, crc.crc16_ccitt(head)) == crc.crc16_ccitt(data)
    assert crc.crc32c(tail, crc.crc32c(head)) == crc.crc32c(data)


def test_chaining_over_many_pieces(crc: Any) -> None:
    data = bytes(range(256)) * 5
    r16, r32 = 0xFFFF, 0
    for i in range(0, len(data), 37):
        r16 = crc.crc16_ccitt(data[i : i + 37], r16)
        r32 = crc.crc32c(data[i : i + 37], r32)
    assert (r16, r32) == (crc.crc16_ccitt(data), crc.crc32c(data))


def test_buffer_types_agree(crc: Any) -> None:
    raw = bytes(range(200))
    words = array.array("I", raw[:100])  # 25 four-byte items: the CRC runs over the raw bytes
    for data in (bytearray(raw), memoryview(raw), memoryview(bytearray(raw))[3:150]):
        expected = bytes(data)
        assert crc.crc16_ccitt(data) == crc.crc16_ccitt(expected)
        assert crc.crc32c(data) == crc.crc32c(expected)
    assert crc.crc32c(words) == crc.crc32c(raw[:100])
    assert crc.crc16_ccitt(words) == crc.crc16_ccitt(raw[:100])


# --- independent references ---------------------------------------------------------------------------------------


@given(data=st.binary(max_size=300), init=st.integers(min_value=0, max_value=0xFFFF))
def test_crc16_matches_binascii(crc: Any, data: bytes, init: int) -> None:
    assert crc.crc16_ccitt(data, init) == binascii.crc_hqx(data, init)


@given(data=st.binary(max_size=300), prev=st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_crc32c_matches_bitwise_definition(crc: Any, data: bytes, prev: int) -> None:
    assert crc.crc32c(data, prev) == crc32c_bitwise(data, prev)


# --- native == twin -----------------------------------------------------------------------------------------------


@given(
    data=st.binary(max_size=2000),
    offset=st.integers(min_value=0, max_value=15),
    init=st.integers(min_value=0, max_value=0xFFFF),
    prev=st.integers(min_value=0, max_value=0xFFFFFFFF),
)
def test_native_equals_twin(data: bytes, offset: int, init: int, prev: int) -> None:
    py, native = both_impls(CRC_NATIVE, CRC_TWIN)
    view = memoryview(data)[offset:]  # unaligned starts exercise the head/tail paths of the word loops
    assert native.crc16_ccitt(view, init) == py.crc16_ccitt(view, init)
    assert native.crc32c(view, prev) == py.crc32c(view, prev)
    # both C paths, whichever one crc32c picked on this CPU
    assert native.crc32c_portable(view, prev) == py.crc32c(view, prev)


def test_native_reports_the_crc32c_path() -> None:
    _, native = both_impls(CRC_NATIVE, CRC_TWIN)
    assert isinstance(native.HW_CRC32C, bool)
    data = bytes(range(256)) * 9 + b"tail!"
    assert native.crc32c(data) == native.crc32c_portable(data) == crc32c_bitwise(data)


# --- argument checks: same exception types in both ----------------------------------------------------------------

BAD_CALLS: list[tuple[str, tuple[Any, ...], type[Exception]]] = [
    ("crc16_ccitt", ("123",), TypeError),
    ("crc16_ccitt", (None,), TypeError),
    ("crc16_ccitt", (123,), TypeError),
    ("crc16_ccitt", ([1, 2, 3],), TypeError),
    ("crc16_ccitt", (b"x", 0x10000), ValueError),
    ("crc16_ccitt", (b"x", -1), ValueError),
    ("crc16_ccitt", (b"x", 1.0), TypeError),
    ("crc16_ccitt", (b"x", True), TypeError),
    ("crc16_ccitt", (b"x", "1"), TypeError),
    ("crc16_ccitt", (memoryview(b"abcdef")[::2],), BufferError),
    ("crc32c", ("123",), TypeError),
    ("crc32c", (None,), TypeError),
    ("crc32c", (b"x", 1 << 32), ValueError),
    ("crc32c", (b"x", -1), ValueError),
    ("crc32c", (b"x", None), TypeError),
    ("crc32c", (b"x", False), TypeError),
    ("crc32c", (memoryview(b"abcdef")[::2],), BufferError),
]


BAD_IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(BAD_CALLS)]


@pytest.mark.parametrize(("name", "args", "error"), BAD_CALLS, ids=BAD_IDS)
def test_bad_arguments(crc: Any, name: str, args: tuple[Any, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        getattr(crc, name)(*args)


def test_same_public_api() -> None:
    py, native = both_impls(CRC_NATIVE, CRC_TWIN)
    assert native.__all__ == py.__all__ == ["crc16_ccitt", "crc32c"]
    for name in py.__all__:
        assert inspect.signature(getattr(native, name)) == inspect.signature(getattr(py, name)), name


def test_selector_picks_native_when_built() -> None:
    from fiscal_core.crypto import crc

    built = _impl.native_available(CRC_NATIVE)
    expected = "native" if built and not _impl.NO_EXTENSIONS else "py"
    assert expected == crc.IMPLEMENTATION
    chosen = _impl.implementations(CRC_NATIVE, CRC_TWIN)[crc.IMPLEMENTATION]
    assert crc.crc16_ccitt is chosen.crc16_ccitt
    assert crc.crc32c is chosen.crc32c
