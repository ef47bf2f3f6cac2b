"""Native codec == pure-Python twin: same bytes, same trees, same errors (type, offset, path, message).

Trees are generated from the registry itself (every data type, nested STLVs, Cyrillic, edge values);
inputs are arbitrary bytes and valid documents with mutations.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from conftest import TLV_NATIVE, TLV_TWIN, both_impls
from hypothesis import given
from hypothesis import strategies as st

from fiscal_core.errors import DecodeError, EncodeError
from fiscal_core.ffd.cp866 import DECODE_TABLE
from fiscal_core.ffd.tags import REGISTRY, DataType

DOCUMENTS = sorted(t for t, s in REGISTRY.items() if s.document)
PLAIN = sorted(t for t, s in REGISTRY.items() if not s.document)
CP866_TEXT = st.text(alphabet=st.sampled_from(DECODE_TABLE[32:]), max_size=40)
EPOCH = dt.datetime(1970, 1, 1)


def canon(tree: Any) -> Any:
    """Trees compared strictly: Decimal by its digits and exponent, not only its value."""
    if isinstance(tree, list):
        return [canon(n) for n in tree]
    if isinstance(tree, tuple):
        return tuple(canon(n) for n in tree)
    if isinstance(tree, Decimal):
        return ("D", str(tree))
    if isinstance(tree, dt.datetime):
        return ("T", tree.isoformat())
    return (type(tree).__name__, tree)


def _edge_uint(nbytes: int) -> st.SearchStrategy[int]:
    top = 2 ** (8 * nbytes) - 1
    return st.one_of(st.sampled_from([0, 1, 255, 256, top]), st.integers(0, top))


def value_strategy(tag: int, depth: int) -> st.SearchStrategy[Any]:
    s = REGISTRY[tag]
    d = s.dtype
    if d in (DataType.BYTE, DataType.UINT16, DataType.UINT32, DataType.BITMASK):
        return _edge_uint(s.max_length)
    if d == DataType.VLN:
        return _edge_uint(min(s.max_length, 8))
    if d == DataType.FVLN:
        return st.builds(
            lambda m, sc: Decimal(m).scaleb(-sc),
            _edge_uint(s.max_length - 1),
            st.integers(0, 12),
        )
    if d == DataType.UNIXTIME:
        return st.integers(0, 2**32 - 1).map(lambda x: EPOCH + dt.timedelta(seconds=x))
    if d == DataType.STRING:
        text = st.text(alphabet=st.sampled_from(DECODE_TABLE[32:]), max_size=min(s.max_length, 40))
        if s.fixed:
            # Fixed strings decode without their space padding, so generate them unpadded.
            text = text.map(lambda x: x.rstrip(" "))
        return text
    if d == DataType.BYTES:
        if s.fixed:
            return st.binary(min_size=s.max_length, max_size=s.max_length)
        return st.binary(max_size=min(s.max_length, 32))
    assert d == DataType.STLV
    children = sorted(s.children) if s.children is not None else PLAIN
    if depth >= 3:
        return st.just([])
    return st.lists(node_strategy(children, depth + 1), max_size=4)


def node_strategy(tags: list[int], depth: int) -> st.SearchStrategy[tuple[int, Any]]:
    return st.sampled_from(tags).flatmap(lambda t: st.tuples(st.just(t), value_strategy(t, depth)))


TREES = st.lists(node_strategy(DOCUMENTS, 0), min_size=1, max_size=2) | st.lists(node_strategy(PLAIN, 1), max_size=6)


def _outcome_encode(impl: Any, tree: Any) -> Any:
    try:
        return ("ok", impl.encode(tree))
    except EncodeError as e:
        return ("err", type(e), e.path, str(e))


def _outcome_decode(impl: Any, data: bytes) -> Any:
    try:
        return ("ok", canon(impl.decode(data)), impl.check(data))
    except DecodeError as e:
        try:
            impl.check(data)
        except DecodeError as e2:
            assert (e2.offset, e2.path, str(e2)) == (e.offset, e.path, str(e))
        else:
            raise AssertionError("check() accepted what decode() refused") from None
        return ("err", type(e), e.offset, e.path, str(e))


@given(TREES)
def test_trees_encode_identically_and_round_trip(tree: Any) -> None:
    py, native = both_impls(TLV_NATIVE, TLV_TWIN)
    a = _outcome_encode(py, tree)
    b = _outcome_encode(native, tree)
    assert a == b
    if a[0] == "ok":
        data = a[1]
        assert canon(native.decode(data)) == canon(tree)
        assert canon(py.decode(data)) == canon(tree)
        assert native.check(data) == py.check(data)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_identically(data: bytes) -> None:
    py, native = both_impls(TLV_NATIVE, TLV_TWIN)
    assert _outcome_decode(py, data) == _outcome_decode(native, data)


@given(TREES, st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4))
def test_mutated_documents_decode_identically(tree: Any, flips: list[tuple[int, int]]) -> None:
    py, native = both_impls(TLV_NATIVE, TLV_TWIN)
    try:
        data = bytearray(py.encode(tree))
    except EncodeError:
        return
    if not data:
        return
    for pos, byte in flips:
        data[pos % len(data)] = byte
    assert _outcome_decode(py, bytes(data)) == _outcome_decode(native, bytes(data))


@given(
    st.one_of(
        st.integers(-(2**70), 2**70),
        st.decimals(allow_nan=True, allow_infinity=True),
        st.floats(),
        st.booleans(),
        CP866_TEXT,
        st.text(max_size=5),
        st.binary(max_size=10),
        st.none(),
        st.datetimes(),
        st.lists(st.integers(), max_size=2),
    ),
    st.sampled_from(PLAIN),
)
def test_wrong_values_fail_identically(value: Any, tag: int) -> None:
    py, native = both_impls(TLV_NATIVE, TLV_TWIN)
    tree = [(tag, value)]
    assert _outcome_encode(py, tree) == _outcome_encode(native, tree)
