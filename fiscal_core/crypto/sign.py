"""The fiscal sign (ФП, tag 1077) and the message sign (ФПС) of an emulated fiscal drive.

A real ФН's algorithms and keys are secret (reference §8); this emulation follows the public shape with a
real GOST primitive, so its signs are structurally exact and verifiable by whoever holds the drive secret:

- Keys: a 32-byte drive secret gives two keys, each HMAC-SHA256(secret, label): the *document key* (the
  fiscal sign) and the *message key* (the message sign for the OFD). A key never signs the other's data.
- ФП: a MAC with the document key over the canonical fields a receipt check has (QR parameters), laid out
  as ``form (1) | FN number (16 ASCII) | FD number (u32 BE) | time (u32 BE, local wall-clock seconds since
  1970 truncated to the minute, because a QR string may omit seconds) | settlement sign (1) | total
  (u64 BE kopecks)``; the printed sign is the first 4 MAC bytes read big-endian, and 1077 is
  ``31 04`` (receipts) or ``21 04`` (reports) + those 4 bytes.
- ФПС: ``81 06`` + the first 6 bytes of a MAC with the message key over SHA-256 of the whole document
  STLV (digest first: a long document costs one fast hash, not a long cipher run).
- The MAC is CMAC over Magma (GOST R 34.13-2015 / 34.12-2015); HMAC-SHA256 is the configurable alternative.
- ФПО (1078, the operator's sign in a confirmation, reference §8, §10): a real ФН checks it with a key it shares
  with the tax service's infrastructure, which no public source describes. Here an OFD holds one *operator
  secret*; the *operator key* of a drive is HMAC-SHA256(secret, label + FN number), so a leaked drive key
  signs for that drive only, and whoever is given the secret (the tenant's OFD settings) can derive the key of
  any drive. The sign is the first 16 bytes (1078's length in SH/CF/RD) of HMAC-SHA256(operator key, covered
  bytes); :mod:`fiscal_core.ofd.protocol` says what a confirmation's sign covers (its values and the message
  sign of the confirmed document, so it is bound to the exact bytes the OFD received).

The documents this signs are emulated ones: they never verify at the tax service.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from typing import Literal

from fiscal_core.crypto import magma
from fiscal_core.ffd.tlv import MESSAGE_SIGN_PREFIX, fiscal_sign_bytes

__all__ = [
    "ALGORITHMS",
    "OPERATOR_SIGN_LENGTH",
    "FiscalSigner",
    "OperatorSigner",
    "canonical_fields",
    "minute_seconds",
    "operator_key",
]

Algorithm = Literal["magma-cmac", "hmac-sha256"]
ALGORITHMS: tuple[Algorithm, ...] = ("magma-cmac", "hmac-sha256")

_DOCUMENT_KEY_LABEL = b"fiscal_core/v1/document-key"
_MESSAGE_KEY_LABEL = b"fiscal_core/v1/message-key"
_OPERATOR_KEY_LABEL = b"fiscal_core/v1/operator-key/"
#: Bytes of an operator sign (1078): 16 in SH, CF and RD (Y says 18; the decoder accepts up to 18).
OPERATOR_SIGN_LENGTH = 16
_EPOCH = dt.datetime(1970, 1, 1)
# Forms a receipt check can name: a QR string does not say whether it is a receipt or a correction.
_CHECKABLE_FORMS = (3, 31, 4, 41)


def minute_seconds(when: dt.datetime) -> int:
    """Local wall-clock seconds since 1970, truncated to the minute."""
    if when.tzinfo is not None:
        raise ValueError("the fiscal sign covers the local wall-clock time: pass a naive datetime")
    delta = when.replace(second=0, microsecond=0) - _EPOCH
    return delta.days * 86400 + delta.seconds


def canonical_fields(
    form: int, fn_number: str, fd_number: int, when: dt.datetime, settlement_sign: int, total: int
) -> bytes:
    """The exact bytes the fiscal sign covers (see the module docstring)."""
    fn = fn_number.encode("ascii")
    if len(fn) != 16 or not fn.isdigit():
        raise ValueError("an FN number is 16 digits")
    return (
        bytes((form,))
        + fn
        + fd_number.to_bytes(4, "big")
        + minute_seconds(when).to_bytes(4, "big")
        + bytes((settlement_sign,))
        + total.to_bytes(8, "big")
    )


class FiscalSigner:
    """Signs for one drive. Holds expanded keys; cheap to call, safe to share between threads."""

    __slots__ = ("_doc_hmac", "_doc_key", "_msg_hmac", "_msg_key", "algorithm", "fn_number")

    def __init__(self, secret: bytes, fn_number: str, algorithm: Algorithm = "magma-cmac") -> None:
        if len(secret) < 16:
            raise ValueError("a drive secret has at least 16 bytes")
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown fiscal sign algorithm {algorithm!r}; use one of {ALGORITHMS}")
        self.algorithm = algorithm
        self.fn_number = fn_number
        doc_key = hmac.new(secret, _DOCUMENT_KEY_LABEL, hashlib.sha256).digest()
        msg_key = hmac.new(secret, _MESSAGE_KEY_LABEL, hashlib.sha256).digest()
        self._doc_hmac = doc_key
        self._msg_hmac = msg_key
        self._doc_key = magma.MagmaKey(doc_key) if algorithm == "magma-cmac" else None
        self._msg_key = magma.MagmaKey(msg_key) if algorithm == "magma-cmac" else None

    def __repr__(self) -> str:
        return f"FiscalSigner(fn_number={self.fn_number!r}, algorithm={self.algorithm!r})"

    @property
    def magma_keys(self) -> tuple[bytes, bytes] | None:
        """(document key, message key) for the native sealing pass; None with the HMAC alternative."""
        return (self._doc_hmac, self._msg_hmac) if self.algorithm == "magma-cmac" else None

    def _doc_mac(self, data: bytes) -> bytes:
        if self._doc_key is not None:
            return self._doc_key.cmac(data, 8)
        return hmac.new(self._doc_hmac, data, hashlib.sha256).digest()[:8]

    def _msg_mac(self, digest: bytes) -> bytes:
        if self._msg_key is not None:
            return self._msg_key.cmac(digest, 8)
        return hmac.new(self._msg_hmac, digest, hashlib.sha256).digest()[:8]

    def fiscal_sign(
        self, form: int, fd_number: int, when: dt.datetime, settlement_sign: int = 0, total: int = 0
    ) -> int:
        """The printed fiscal sign (≤ 10 digits): 32 bits of the document-key MAC."""
        mac = self._doc_mac(canonical_fields(form, self.fn_number, fd_number, when, settlement_sign, total))
        return int.from_bytes(mac[:4], "big")

    def tag_1077(self, form: int, fd_number: int, when: dt.datetime, settlement_sign: int = 0, total: int = 0) -> bytes:
        """The 6-byte value of tag 1077."""
        return fiscal_sign_bytes(self.fiscal_sign(form, fd_number, when, settlement_sign, total), form)

    def tags_1077(self, fields: Sequence[tuple[int, int, dt.datetime, int, int]]) -> list[bytes]:
        """1077 values for many ``(form, fd_number, when, settlement_sign, total)`` at once (group commit)."""
        fn = self.fn_number.encode("ascii")
        if len(fn) != 16 or not fn.isdigit():
            raise ValueError("an FN number is 16 digits")
        minutes: dict[dt.datetime, bytes] = {}  # a batch shares a handful of minutes
        data = []
        for form, fd, when, sign, total in fields:
            t = minutes.get(when)
            if t is None:
                t = minutes[when] = minute_seconds(when).to_bytes(4, "big")
            data.append(bytes((form,)) + fn + fd.to_bytes(4, "big") + t + bytes((sign,)) + total.to_bytes(8, "big"))
        many = getattr(self._doc_key, "cmac_many", None)
        macs = many(data, 8) if many is not None else [self._doc_mac(d) for d in data]
        return [fiscal_sign_bytes(int.from_bytes(mac[:4], "big"), f[0]) for mac, f in zip(macs, fields, strict=True)]

    def message_sign(self, document: bytes) -> bytes:
        """``81 06`` + 6 MAC bytes over SHA-256 of the document STLV."""
        return MESSAGE_SIGN_PREFIX + self._msg_mac(hashlib.sha256(document).digest())[:6]

    def message_signs(self, documents: Sequence[bytes]) -> list[bytes]:
        """Message signs of many documents at once (the group-commit path)."""
        digests = [hashlib.sha256(d).digest() for d in documents]
        many = getattr(self._msg_key, "cmac_many", None)
        if many is not None:
            return [MESSAGE_SIGN_PREFIX + mac[:6] for mac in many(digests, 8)]
        return [MESSAGE_SIGN_PREFIX + self._msg_mac(d)[:6] for d in digests]

    def verify(self, fd_number: int, when: dt.datetime, total: int, settlement_sign: int, fp: int) -> bool:
        """Does ``fp`` sign these receipt-check fields (QR ``i``, ``t``, ``s``, ``n``)? Constant-time compare."""
        if not 0 <= fp <= 0xFFFFFFFF or not 0 <= fd_number <= 0xFFFFFFFF or not 0 <= total < 2**64:
            return False
        if not 0 <= settlement_sign <= 255:
            return False
        for form in _CHECKABLE_FORMS:
            want = self.fiscal_sign(form, fd_number, when, settlement_sign, total)
            if hmac.compare_digest(want.to_bytes(4, "big"), fp.to_bytes(4, "big")):
                return True
        return False

    def verify_message_sign(self, document: bytes, sign: bytes) -> bool:
        return hmac.compare_digest(self.message_sign(document), bytes(sign))


# --------------------------------------------------------------------------- the operator's sign (ФПО, 1078)


def operator_key(ofd_secret: bytes, fn_number: str) -> bytes:
    """The 32-byte operator key of drive ``fn_number`` under an OFD's secret (see the module docstring)."""
    if len(ofd_secret) < 16:
        raise ValueError("an operator secret has at least 16 bytes")
    return hmac.new(ofd_secret, _OPERATOR_KEY_LABEL + fn_number.encode("ascii"), hashlib.sha256).digest()


class OperatorSigner:
    """Signs and checks the operator's sign of one drive's confirmations (HMAC-SHA256, 16 bytes)."""

    __slots__ = ("_mac",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("an operator key has at least 16 bytes")
        self._mac = hmac.new(key, digestmod=hashlib.sha256)  # copied per sign: the key schedule is done once

    @classmethod
    def for_drive(cls, ofd_secret: bytes, fn_number: str) -> OperatorSigner:
        return cls(operator_key(ofd_secret, fn_number))

    def __repr__(self) -> str:
        return "OperatorSigner(...)"

    def sign(self, covered: bytes) -> bytes:
        """The 16-byte operator sign (1078) over ``covered``."""
        mac = self._mac.copy()
        mac.update(covered)
        return mac.digest()[:OPERATOR_SIGN_LENGTH]

    def verify(self, covered: bytes, sign: bytes) -> bool:
        """Constant-time check of an operator sign over ``covered``."""
        return hmac.compare_digest(self.sign(covered), bytes(sign))
