"""Issue 3 acceptance: the fiscal sign (1077) and the message sign (ФПС) of the emulated drive.

- GOST R 34.13-2015's own MAC example through :mod:`fiscal_core.crypto.magma`, for the twin and the native module.
- The signs against an oracle built here from the documented construction (``fiscal_core.crypto.sign``'s
  docstring): keys = HMAC-SHA256(secret, label), ФП = first 4 bytes of CMAC-Magma (``gostcrypto``, an independent
  implementation) or HMAC-SHA256 over ``form | FN | FD | minute | sign | total``, ФПС = ``81 06`` + 6 bytes of the
  MAC over SHA-256 of the document.
- What the sign covers: every canonical field changes it, the seconds of the time do not (a QR may omit them).
- ``verify`` from the QR string of a receipt the drive issued; tampered parameters fail.
- Native and twin give identical signs: the signer is run under each ``MagmaKey``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import pathlib
import random
import struct
from typing import Any

import pytest
from conftest import both_impls, impl_params
from gostcrypto import gostcipher

from fiscal_core import samples
from fiscal_core.crypto import magma, sign
from fiscal_core.crypto.sign import FiscalSigner, canonical_fields
from fiscal_core.drive.drive import FiscalDrive, Issued
from fiscal_core.ffd import qr, tlv
from fiscal_core.ffd.enums import CorrectionType
from fiscal_core.ffd.receipt import Correction

MAGMA_NATIVE = "fiscal_core.crypto._magma_native"
MAGMA_TWIN = "fiscal_core.crypto._magma_py"

# GOST R 34.13-2015 appendix A.2 (Magma MAC)
KEY = bytes.fromhex("ffeeddccbbaa99887766554433221100f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
MSG = bytes.fromhex("92def06b3c130a59db54c704f8189d204a98fb2e67a8024c8912409b17b57e41")
MAC = bytes.fromhex("154e72102030c5bb")

SECRET = bytes.fromhex("5f" * 16 + "a0" * 16)
FN = "9999078900005488"
WHEN = dt.datetime(2026, 6, 1, 9, 41, 27)
ALGORITHMS = ("magma-cmac", "hmac-sha256")


@pytest.fixture(scope="module", params=impl_params(MAGMA_NATIVE, MAGMA_TWIN))
def magma_impl(request: pytest.FixtureRequest) -> Any:
    return request.param


# --------------------------------------------------------------------------- the standard's vector


def test_gost_mac_vector(magma_impl: Any) -> None:
    assert magma_impl.cmac(KEY, MSG, 8) == MAC
    assert magma_impl.MagmaKey(KEY).cmac(MSG, 8) == MAC
    assert magma_impl.MagmaKey(KEY).cmac(MSG, 4) == MAC[:4]
    assert magma_impl.MagmaKey(KEY).cmac_many([MSG, MSG[:16], MSG], 8) == [MAC, magma_impl.cmac(KEY, MSG[:16], 8), MAC]
    assert magma_impl.cmac(KEY, MSG[:-1] + bytes([MSG[-1] ^ 1]), 8) != MAC


def test_gost_mac_vector_through_the_selected_module() -> None:
    assert magma.IMPLEMENTATION in ("native", "py")
    assert magma.cmac(KEY, MSG, 8) == MAC
    assert magma.MagmaKey(KEY).cmac(MSG) == MAC


# --------------------------------------------------------------------------- the oracle


def oracle_cmac(key: bytes, msg: bytes) -> bytes:
    """gostcrypto's Magma MAC (it zero-fills the buffers it gets, so it gets copies); msg is ≥ 8 bytes here."""
    assert len(msg) >= 8
    return bytes(gostcipher.new("magma", bytearray(key), gostcipher.MODE_MAC, data=bytearray(msg)).digest(8))


def oracle_keys(secret: bytes) -> tuple[bytes, bytes]:
    doc = hmac.new(secret, b"fiscal_core/v1/document-key", hashlib.sha256).digest()
    msg = hmac.new(secret, b"fiscal_core/v1/message-key", hashlib.sha256).digest()
    return doc, msg


def oracle_mac(algorithm: str, key: bytes, data: bytes) -> bytes:
    if algorithm == "magma-cmac":
        return oracle_cmac(key, data)
    return hmac.new(key, data, hashlib.sha256).digest()[:8]


def oracle_fields(form: int, fn: str, fd: int, when: dt.datetime, settlement_sign: int, total: int) -> bytes:
    minute = int((when.replace(second=0) - dt.datetime(1970, 1, 1)).total_seconds())
    return struct.pack(">B16sIIBQ", form, fn.encode(), fd, minute, settlement_sign, total)


def oracle_fiscal_sign(algorithm: str, secret: bytes, *fields: Any) -> int:
    return int.from_bytes(oracle_mac(algorithm, oracle_keys(secret)[0], oracle_fields(*fields))[:4], "big")


def oracle_message_sign(algorithm: str, secret: bytes, document: bytes) -> bytes:
    return b"\x81\x06" + oracle_mac(algorithm, oracle_keys(secret)[1], hashlib.sha256(document).digest())[:6]


CASES = [
    (3, 1, WHEN, 1, 143_596),
    (31, 77, WHEN, 4, 0),
    (3, 0xFFFFFFFF, dt.datetime(2038, 1, 19, 3, 14, 7), 2, (1 << 48) - 1),
    (2, 5, WHEN, 0, 0),
    (5, 123_456, dt.datetime(2026, 12, 31, 23, 59, 59), 0, 0),
]


def test_canonical_fields_layout() -> None:
    for form, fd, when, s, total in CASES:
        assert canonical_fields(form, FN, fd, when, s, total) == oracle_fields(form, FN, fd, when, s, total)
    assert len(canonical_fields(3, FN, 1, WHEN, 1, 1)) == 34
    with pytest.raises(ValueError):
        canonical_fields(3, "12345", 1, WHEN, 1, 1)
    with pytest.raises(ValueError):
        canonical_fields(3, FN, 1, WHEN.replace(tzinfo=dt.UTC), 1, 1)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_fiscal_sign_against_the_oracle(algorithm: str) -> None:
    signer = FiscalSigner(SECRET, FN, algorithm)  # type: ignore[arg-type]
    for form, fd, when, s, total in CASES:
        fp = oracle_fiscal_sign(algorithm, SECRET, form, FN, fd, when, s, total)
        assert signer.fiscal_sign(form, fd, when, s, total) == fp
        prefix = b"\x31\x04" if form in (3, 31) else b"\x21\x04"
        assert signer.tag_1077(form, fd, when, s, total) == prefix + fp.to_bytes(4, "big")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_message_sign_against_the_oracle(algorithm: str) -> None:
    signer = FiscalSigner(SECRET, FN, algorithm)  # type: ignore[arg-type]
    rng = random.Random(3)
    docs = [rng.randbytes(n) for n in (0, 1, 7, 8, 9, 31, 32, 33, 1200, 5000)]
    for d in docs:
        ms = signer.message_sign(d)
        assert len(ms) == 8 and ms[:2] == b"\x81\x06"
        assert ms == oracle_message_sign(algorithm, SECRET, d)
        assert signer.verify_message_sign(d, ms)
        assert not signer.verify_message_sign(d + b"\x00", ms)
        assert not signer.verify_message_sign(d, ms[:-1] + bytes([ms[-1] ^ 0x10]))


# --------------------------------------------------------------------------- what the sign covers


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_fiscal_sign_is_deterministic_per_secret(algorithm: str) -> None:
    a = FiscalSigner(SECRET, FN, algorithm)  # type: ignore[arg-type]
    b = FiscalSigner(bytes(SECRET), FN, algorithm)  # type: ignore[arg-type]
    other = FiscalSigner(SECRET[::-1], FN, algorithm)  # type: ignore[arg-type]
    for case in CASES:
        assert a.fiscal_sign(*case) == a.fiscal_sign(*case) == b.fiscal_sign(*case)
    assert [a.fiscal_sign(*c) for c in CASES] != [other.fiscal_sign(*c) for c in CASES]
    assert sum(a.fiscal_sign(*c) == other.fiscal_sign(*c) for c in CASES) == 0
    assert a.message_sign(b"doc") == b.message_sign(b"doc") != other.message_sign(b"doc")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_fiscal_sign_changes_with_every_canonical_field_but_not_the_seconds(algorithm: str) -> None:
    signer = FiscalSigner(SECRET, FN, algorithm)  # type: ignore[arg-type]
    base = dict(form=3, fd_number=1000, when=WHEN, settlement_sign=1, total=143_596)
    fp = signer.fiscal_sign(**base)  # type: ignore[arg-type]
    changes: list[tuple[str, Any]] = [
        ("form", 31),
        ("form", 2),
        ("fd_number", 1001),
        ("fd_number", 1000 + (1 << 16)),
        ("when", WHEN + dt.timedelta(minutes=1)),
        ("when", WHEN - dt.timedelta(minutes=1)),
        ("when", WHEN + dt.timedelta(days=1)),
        ("settlement_sign", 2),
        ("settlement_sign", 4),
        ("total", 143_597),
        ("total", 143_596 + (1 << 40)),
    ]
    for name, value in changes:
        assert signer.fiscal_sign(**{**base, name: value}) != fp, f"{name}={value!r} does not change the sign"
    other_fn = FiscalSigner(SECRET, "9999078900005489", algorithm)  # type: ignore[arg-type]
    assert other_fn.fiscal_sign(**base) != fp  # type: ignore[arg-type]
    # Seconds are not covered: a QR string may print the time without them.
    for second in (0, 1, 30, 59):
        assert signer.fiscal_sign(**{**base, "when": WHEN.replace(second=second)}) == fp


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_batch_signs_equal_single_signs(algorithm: str) -> None:
    signer = FiscalSigner(SECRET, FN, algorithm)  # type: ignore[arg-type]
    rng = random.Random(11)
    for n in (0, 1, 2, 3, 4, 5, 17, 64, 129):
        docs = [rng.randbytes(rng.randrange(0, 3000)) for _ in range(n)]
        assert signer.message_signs(docs) == [signer.message_sign(d) for d in docs]
        fields = [
            (
                rng.choice((3, 31, 2, 5, 21)),
                rng.randrange(1, 1 << 32),
                WHEN + dt.timedelta(seconds=rng.randrange(0, 400)),
                rng.randrange(0, 5),
                rng.randrange(0, 1 << 48),
            )
            for _ in range(n)
        ]
        tags_1077 = getattr(signer, "tags_1077", None)
        if tags_1077 is not None:  # the group-commit form of tag_1077
            assert tags_1077(fields) == [signer.tag_1077(*f) for f in fields]


def test_algorithms_give_different_signs() -> None:
    m = FiscalSigner(SECRET, FN, "magma-cmac")
    h = FiscalSigner(SECRET, FN, "hmac-sha256")
    assert [m.fiscal_sign(*c) for c in CASES] != [h.fiscal_sign(*c) for c in CASES]
    assert m.message_sign(b"x") != h.message_sign(b"x")
    with pytest.raises(ValueError):
        FiscalSigner(SECRET, FN, "streebog")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FiscalSigner(b"short", FN)


# --------------------------------------------------------------------------- verify from a QR string


def _issue(tmp_path: pathlib.Path, algorithm: str) -> tuple[FiscalDrive, list[Any]]:
    t = [1_780_300_017.0]  # a time with seconds, so the QR carries them
    drive = FiscalDrive.create(
        str(tmp_path / "d"), samples.identity(), clock=lambda: t[0], secret=SECRET, sign_algorithm=algorithm
    )
    issued = [drive.open_shift()]
    for k, s in enumerate((1, 2, 3, 4)):
        t[0] += 61 + k
        issued.append(drive.receipt(samples.receipt(2 + k, k, sign=s)))
    base = samples.receipt(2, 9, sign=3)
    fields = {f: getattr(base, f) for f in base.__struct_fields__}
    corr = Correction(**fields, correction_type=CorrectionType.SELF, base_date=dt.date(2026, 5, 1))
    issued.append(drive.correction(corr))
    return drive, issued


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_verify_from_the_qr_string_of_an_issued_receipt(tmp_path: pathlib.Path, algorithm: str) -> None:
    drive, issued = _issue(tmp_path, algorithm)
    checker = FiscalSigner(SECRET, FN, algorithm)  # type: ignore[arg-type]  # whoever holds the secret
    for doc in [drive.document(1), *issued]:
        # Every document the drive stored carries the signs of the documented construction (oracle above).
        rec = drive.document(doc.fd_number) if isinstance(doc, Issued) else doc
        t = dict(tlv.decode(rec.tlv)[0][1])
        settlement, total = (t[1054], t[1020]) if rec.form in (3, 31) else (0, 0)
        fp = oracle_fiscal_sign(algorithm, SECRET, rec.form, FN, t[1040], t[1012], settlement, total)
        assert tlv.printed_fiscal_sign(t[1077]) == fp, f"FD {t[1040]}"
        assert rec.message_sign == oracle_message_sign(algorithm, SECRET, rec.tlv)
    for doc in issued[1:]:
        text = qr.from_document(tlv.decode(drive.document(doc.fd_number).tlv))
        p = qr.parse(text)
        assert (p.fn, p.i, p.fp, p.s) == (FN, doc.fd_number, doc.fiscal_sign, doc.total)
        assert checker.verify(p.i, p.t, p.s, p.n, p.fp)
        assert drive.signer.verify(p.i, p.t, p.s, p.n, p.fp)
        # The same QR printed without seconds still verifies.
        no_seconds = qr.parse(qr.format(qr.QrParams(p.t.replace(second=0), p.s, p.fn, p.i, p.fp, p.n)))
        assert checker.verify(no_seconds.i, no_seconds.t, no_seconds.s, no_seconds.n, no_seconds.fp)
        # Tampered parameters fail.
        assert not checker.verify(p.i, p.t, p.s, p.n, p.fp ^ 1)
        assert not checker.verify(p.i, p.t, p.s, p.n, (p.fp + 1) & 0xFFFFFFFF)
        assert not checker.verify(p.i, p.t, p.s + 1, p.n, p.fp)
        assert not checker.verify(p.i, p.t, p.s - 100, p.n, p.fp)
        assert not checker.verify(p.i + 1, p.t, p.s, p.n, p.fp)
        assert not checker.verify(p.i - 1, p.t, p.s, p.n, p.fp)
        assert not checker.verify(p.i, p.t + dt.timedelta(minutes=1), p.s, p.n, p.fp)
        assert not checker.verify(p.i, p.t, p.s, p.n % 4 + 1, p.fp)
        assert not FiscalSigner(SECRET[::-1], FN, algorithm).verify(p.i, p.t, p.s, p.n, p.fp)  # type: ignore[arg-type]
        # Out-of-range values are a plain False, not an exception.
        assert not checker.verify(p.i, p.t, p.s, p.n, 1 << 32)
        assert not checker.verify(-1, p.t, p.s, p.n, p.fp)


# --------------------------------------------------------------------------- native == twin


def _signer_under(monkeypatch: pytest.MonkeyPatch, impl: Any, secret: bytes, fn: str) -> FiscalSigner:
    monkeypatch.setattr(magma, "MagmaKey", impl.MagmaKey)
    signer = FiscalSigner(secret, fn, "magma-cmac")
    assert type(signer._doc_key) is impl.MagmaKey  # the signer really runs on this implementation
    return signer


def test_native_and_twin_give_identical_signs(monkeypatch: pytest.MonkeyPatch) -> None:
    twin, native = both_impls(MAGMA_NATIVE, MAGMA_TWIN)
    rng = random.Random(2024)
    doc_key, msg_key = oracle_keys(SECRET)
    ktwin, knative = twin.MagmaKey(doc_key), native.MagmaKey(doc_key)
    fields = []
    for _ in range(300):
        when = dt.datetime(2026, 1, 1) + dt.timedelta(seconds=rng.randrange(0, 10**8))
        args = (
            rng.choice((2, 3, 5, 21, 31)),
            rng.randrange(1, 1 << 32),
            when,
            rng.randrange(0, 5),
            rng.randrange(0, 1 << 48),
        )
        fields.append(args)
        data = canonical_fields(args[0], FN, *args[1:])
        assert ktwin.cmac(data, 8) == knative.cmac(data, 8)
    docs = [rng.randbytes(rng.randrange(0, 4000)) for _ in range(97)]

    results = []
    for impl in (twin, native):
        signer = _signer_under(monkeypatch, impl, SECRET, FN)
        results.append(
            (
                [signer.fiscal_sign(*f) for f in fields],
                [signer.tag_1077(*f) for f in fields],
                [signer.message_sign(d) for d in docs],
                signer.message_signs(docs),
            )
        )
    assert results[0] == results[1]
    # ... and both equal the independent oracle.
    assert results[0][0][:20] == [oracle_fiscal_sign("magma-cmac", SECRET, f[0], FN, *f[1:]) for f in fields[:20]]
    assert results[0][2][:20] == [oracle_message_sign("magma-cmac", SECRET, d) for d in docs[:20]]
    assert sign.FiscalSigner is FiscalSigner
    assert native.MagmaKey(msg_key).cmac_many([hashlib.sha256(d).digest() for d in docs], 8) == twin.MagmaKey(
        msg_key
    ).cmac_many([hashlib.sha256(d).digest() for d in docs], 8)
