"""Sealing a batch of receipts in one call: the native module against its twin and against the drive."""

from __future__ import annotations

import datetime as dt
import inspect
import pathlib
from typing import Any

import pytest
from conftest import both_impls, impl_params
from hypothesis import given
from hypothesis import strategies as st

from fiscal_core import samples
from fiscal_core.drive import records
from fiscal_core.drive.drive import FiscalDrive, Issued
from fiscal_core.ffd import tlv
from fiscal_core.ffd.receipt_body import encode_body

SEAL_NATIVE = "fiscal_core._native._seal"
SEAL_TWIN = "fiscal_core.drive._seal_py"

DOC_KEY = bytes(range(32))
MSG_KEY = bytes(range(32, 64))
FN = b"9999078900005488"
PREFIX = tlv.encode([(1041, FN.decode()), (1037, "0000000001012345"), (1018, "7704211201")])
_EPOCH = dt.datetime(1970, 1, 1)

_U32 = st.integers(0, 2**32 - 1)
_ITEM = st.tuples(
    st.sampled_from([3, 31]),
    _U32,
    _U32,
    _U32,
    _U32,
    _U32,
    st.integers(1, 4),
    st.integers(0, 2**64 - 1),
    st.binary(max_size=2000),
).map(lambda t: (t[0], t[1], t[2], t[2] // 60 * 60, *t[4:]))


@pytest.fixture(params=impl_params(SEAL_NATIVE, SEAL_TWIN))
def seal(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture(scope="module")
def seal_pair() -> tuple[Any, Any]:
    return both_impls(SEAL_NATIVE, SEAL_TWIN)


def _items(n: int, body: bytes = b"\x01\x02") -> list[tuple[int, int, int, int, int, int, int, int, bytes]]:
    return [(3, i + 1, 1_790_000_000 + i, (1_790_000_000 + i) // 60 * 60, 7, i + 1, 1, 100 * i, body) for i in range(n)]


@given(items=st.lists(_ITEM, max_size=40), ffd=st.sampled_from([2, 4]))
def test_native_matches_twin(seal_pair: tuple[Any, Any], items: list[Any], ffd: int) -> None:
    twin, native = seal_pair
    want = twin.seal_receipts(DOC_KEY, MSG_KEY, FN, PREFIX, ffd, items)
    assert native.seal_receipts(DOC_KEY, MSG_KEY, FN, PREFIX, ffd, items) == want
    for (form, *_rest), (doc, record, _fp, ms) in zip(items, want, strict=True):
        assert records.unpack(record) == records.Record(form, ffd, doc, ms)


def test_same_names_and_signatures(seal_pair: tuple[Any, Any]) -> None:
    twin, native = seal_pair
    assert twin.__all__ == native.__all__
    assert (twin.IMPLEMENTATION, native.IMPLEMENTATION) == ("py", "native")
    assert twin.MAX_DOCUMENT == native.MAX_DOCUMENT
    names = list(inspect.signature(twin.seal_receipts).parameters)
    assert names == list(inspect.signature(native.seal_receipts).parameters)


def test_empty_batch(seal: Any) -> None:
    assert seal.seal_receipts(DOC_KEY, MSG_KEY, FN, PREFIX, 4, []) == []


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((DOC_KEY[:31], MSG_KEY, FN, PREFIX, 4), "32 bytes"),
        ((DOC_KEY, MSG_KEY + b"x", FN, PREFIX, 4), "32 bytes"),
        ((DOC_KEY, MSG_KEY, FN[:15], PREFIX, 4), "16 digits"),
        ((DOC_KEY, MSG_KEY, b"999907890000548x", PREFIX, 4), "16 digits"),
        ((DOC_KEY, MSG_KEY, FN, PREFIX, 256), "FFD version"),
    ],
)
def test_bad_arguments(seal: Any, args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        seal.seal_receipts(*args, _items(2))


@pytest.mark.parametrize(
    ("index", "value", "match"),
    [
        (0, 256, "form"),
        (1, -1, "FD number"),
        (1, 2**32, "FD number"),
        (2, 2**32, "local time"),
        (3, -5, "minute time"),
        (4, 2**40, "shift number"),
        (5, 2**32, "receipt number"),
        (6, 256, "settlement sign"),
        (7, 2**64, "total"),
        (7, 1.5, "total"),
    ],
)
def test_numbers_out_of_range(seal: Any, index: int, value: Any, match: str) -> None:
    items: list[Any] = _items(3)
    bad = list(items[1])
    bad[index] = value
    items[1] = tuple(bad)
    with pytest.raises(ValueError, match=match):
        seal.seal_receipts(DOC_KEY, MSG_KEY, FN, PREFIX, 4, items)


def test_document_length_limit(seal: Any) -> None:
    room = 32768 - len(PREFIX) - 42
    [(doc, *_rest)] = seal.seal_receipts(DOC_KEY, MSG_KEY, FN, PREFIX, 4, _items(1, b"\x00" * room))
    assert len(doc) == 4 + 32768
    with pytest.raises(ValueError, match="more than 32768"):
        seal.seal_receipts(DOC_KEY, MSG_KEY, FN, PREFIX, 4, _items(1, b"\x00" * (room + 1)))


def test_body_must_be_bytes(seal: Any) -> None:
    with pytest.raises(TypeError, match="bytes"):
        seal.seal_receipts(DOC_KEY, MSG_KEY, FN, PREFIX, 4, _items(1, bytearray(b"ab")))  # type: ignore[arg-type]


def test_report_forms_take_the_report_prefix(seal: Any) -> None:
    items = [(f, *rest) for f, (_form, *rest) in zip((3, 4, 31, 41, 1, 11), _items(6), strict=True)]
    out = seal.seal_receipts(DOC_KEY, MSG_KEY, FN, PREFIX, 4, items)
    heads = [doc[4 + len(PREFIX) + 20 : 4 + len(PREFIX) + 22] for doc, *_rest in out]
    assert heads == [b"\x31\x04"] * 4 + [b"\x21\x04"] * 2


def test_matches_the_drive(seal: Any, tmp_path: pathlib.Path) -> None:
    t = 1_790_000_000
    drive = FiscalDrive.create(tmp_path / "d", samples.identity(), clock=lambda: t)
    drive.open_shift()
    models = [samples.receipt(10, s) for s in range(8)]
    issued = drive.append_many([(3, m) for m in models])
    ident = drive.identity
    prefix = tlv.encode([(1041, ident.fn_number), (1037, ident.registration_number), (1018, ident.user_inn)])
    items = []
    for model, result in zip(models, issued, strict=True):
        assert isinstance(result, Issued)
        body = encode_body(ident, model)
        local = (result.when - _EPOCH) // dt.timedelta(seconds=1)
        items.append(
            (
                result.form,
                result.fd_number,
                local,
                local // 60 * 60,
                result.shift_number,
                result.receipt_number,
                body.settlement_sign,
                body.total,
                body.data,
            )
        )
    signer = drive.signer
    out = seal.seal_receipts(
        signer._doc_hmac, signer._msg_hmac, ident.fn_number.encode(), prefix, int(ident.ffd_version), items
    )
    with drive.store.read() as txn:
        stored = [drive.store.get_document(txn, drive.drive_id, r.fd_number) for r in issued]  # type: ignore[union-attr]
    for result, record, (doc, rec, fp, ms) in zip(issued, stored, out, strict=True):
        assert isinstance(result, Issued)
        assert (doc, fp, ms) == (result.tlv, result.fiscal_sign, result.message_sign)
        assert rec == record
