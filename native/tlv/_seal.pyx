# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Native sealing of a batch of receipts (``fiscal_core._native._seal``).

The spec is the pure-Python twin ``fiscal_core.drive._seal_py``: same bytes, same errors. This module only
makes it fast:
- both Magma keys are expanded once per call (fc_magma_expand_key) and wiped on the way out;
- the canonical fields of the whole batch sit back to back in one C buffer and are MACed by one
  fc_magma_cmac_many call (4 chains interleaved); the SHA-256 digests likewise for the message signs;
- each document and each record is written straight into a fresh bytes object, CRC32C in C;
- the only Python call per document is ``hashlib.sha256(tlv).digest()`` (OpenSSL's SHA-256).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from hashlib import sha256 as _sha256

cdef extern from "fc_magma.h":
    ctypedef struct fc_magma_key:
        pass
    void fc_magma_expand_key(fc_magma_key* ks, const uint8_t* key32) nogil
    void fc_magma_wipe_key(fc_magma_key* ks) nogil
    void fc_magma_cmac_many(const fc_magma_key* ks, const uint8_t* msgs, size_t msg_len, size_t count,
                            uint64_t* out) nogil

cdef extern from "fc_crc.h":
    uint32_t fc_crc_crc32c(const uint8_t* data, size_t len, uint32_t crc) nogil

__all__ = ["IMPLEMENTATION", "MAX_DOCUMENT", "seal_receipts"]

IMPLEMENTATION = "native"
#: The largest value of a receipt's document STLV (FFD: a receipt is at most 32,768 bytes).
MAX_DOCUMENT = 32768

cdef enum:
    CANON_SIZE = 34    # form (1) | FN (16) | FD (4) | minute (4) | sign (1) | total (8)
    NUMBERS_SIZE = 42  # 1040, 1012, 1077, 1038, 1042 behind their 4-byte headers
    HEADER_SIZE = 12   # records.HEADER_SIZE
    SIGN_SIZE = 8      # 81 06 + 6 MAC bytes
    MAX_VALUE = 32768  # MAX_DOCUMENT

cdef uint64_t U32_MAX = 0xFFFFFFFF


cdef struct _Numbers:
    uint32_t fd
    uint32_t local
    uint32_t shift
    uint32_t number
    uint8_t form
    uint8_t receipt_form


cdef inline void _le16(uint8_t* p, uint16_t v) noexcept nogil:
    p[0] = <uint8_t>v
    p[1] = <uint8_t>(v >> 8)


cdef inline void _le32(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = <uint8_t>v
    p[1] = <uint8_t>(v >> 8)
    p[2] = <uint8_t>(v >> 16)
    p[3] = <uint8_t>(v >> 24)


cdef inline void _be32(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = <uint8_t>(v >> 24)
    p[1] = <uint8_t>(v >> 16)
    p[2] = <uint8_t>(v >> 8)
    p[3] = <uint8_t>v


cdef inline void _be64(uint8_t* p, uint64_t v) noexcept nogil:
    _be32(p, <uint32_t>(v >> 32))
    _be32(p + 4, <uint32_t>v)


cdef uint64_t _number(object value, uint64_t hi, str what) except? 0xFFFFFFFFFFFFFFFF:
    """``value`` as an unsigned integer ≤ ``hi``, or the twin's ``ValueError``."""
    cdef unsigned long long x
    if not isinstance(value, int):
        raise ValueError(f"{what} {value!r} is out of range 0..{hi}")
    try:
        x = value
    except OverflowError:
        raise ValueError(f"{what} {value!r} is out of range 0..{hi}") from None
    if x > hi:
        raise ValueError(f"{what} {value!r} is out of range 0..{hi}")
    return x


cdef inline void _put_tag(uint8_t* p, uint16_t tag, uint16_t length) noexcept nogil:
    _le16(p, tag)
    _le16(p + 2, length)


def seal_receipts(doc_key, msg_key, fn_number, prefix, ffd_version, items):
    """``(tlv, record, printed fiscal sign, message sign)`` for each ``(form, fd, local seconds, minute
    seconds, shift, receipt number, settlement sign, total, body)`` (see the twin)."""
    cdef bytes dkey = bytes(doc_key)
    cdef bytes mkey = bytes(msg_key)
    cdef bytes fn = bytes(fn_number)
    cdef bytes pre = bytes(prefix)
    if PyBytes_GET_SIZE(dkey) != 32 or PyBytes_GET_SIZE(mkey) != 32:
        raise ValueError("a Magma key is 32 bytes")
    if PyBytes_GET_SIZE(fn) != 16 or not fn.isdigit():
        raise ValueError("an FN number is 16 digits")
    cdef uint8_t ffd = <uint8_t>_number(ffd_version, 0xFF, "FFD version")
    cdef list seq = items if type(items) is list else list(items)
    cdef Py_ssize_t n = len(seq)
    if n == 0:
        return []

    cdef Py_ssize_t pre_len = PyBytes_GET_SIZE(pre)
    cdef const uint8_t* pre_p = <const uint8_t*>PyBytes_AS_STRING(pre)
    cdef const uint8_t* fn_p = <const uint8_t*>PyBytes_AS_STRING(fn)
    cdef fc_magma_key ks_doc
    cdef fc_magma_key ks_msg
    cdef uint8_t* canon = <uint8_t*>malloc(<size_t>n * CANON_SIZE)
    cdef uint8_t* digests = <uint8_t*>malloc(<size_t>n * 32)
    cdef uint64_t* macs = <uint64_t*>malloc(<size_t>n * sizeof(uint64_t))
    cdef uint64_t* signs = <uint64_t*>malloc(<size_t>n * sizeof(uint64_t))
    cdef _Numbers* nums = <_Numbers*>malloc(<size_t>n * sizeof(_Numbers))
    if canon == NULL or digests == NULL or macs == NULL or signs == NULL or nums == NULL:
        free(canon)
        free(digests)
        free(macs)
        free(signs)
        free(nums)
        raise MemoryError()

    cdef list bodies = [None] * n
    cdef list tlvs = [None] * n
    cdef list out = [None] * n
    cdef Py_ssize_t i, vlen, body_len, tlv_len
    cdef uint8_t* p
    cdef uint8_t* c
    cdef uint32_t fp, crc
    cdef uint64_t mac
    cdef bytes body, tlv, record, ms
    cdef _Numbers* num
    try:
        # Pass 1: check every item and lay out the canonical fields (sign.canonical_fields).
        for i in range(n):
            form, fd, local, minute, shift, number, sign, total, body_obj = seq[i]
            num = &nums[i]
            num.form = <uint8_t>_number(form, 0xFF, "form")
            num.fd = <uint32_t>_number(fd, U32_MAX, "FD number")
            num.local = <uint32_t>_number(local, U32_MAX, "local time")
            c = canon + i * CANON_SIZE
            _be32(c + 21, <uint32_t>_number(minute, U32_MAX, "minute time"))
            num.shift = <uint32_t>_number(shift, U32_MAX, "shift number")
            num.number = <uint32_t>_number(number, U32_MAX, "receipt number")
            c[25] = <uint8_t>_number(sign, 0xFF, "settlement sign")
            _be64(c + 26, _number(total, 0xFFFFFFFFFFFFFFFF, "total"))
            if not isinstance(body_obj, bytes):
                raise TypeError("a receipt body is bytes")
            body = <bytes>body_obj
            vlen = pre_len + NUMBERS_SIZE + PyBytes_GET_SIZE(body)
            if vlen > MAX_VALUE:
                raise ValueError(f"the document is {vlen} bytes, more than {MAX_DOCUMENT}")
            c[0] = num.form
            memcpy(c + 1, fn_p, 16)
            _be32(c + 17, num.fd)
            num.receipt_form = num.form == 3 or num.form == 4 or num.form == 31 or num.form == 41
            bodies[i] = body

        _sha = _sha256
        fc_magma_expand_key(&ks_doc, <const uint8_t*>PyBytes_AS_STRING(dkey))
        fc_magma_expand_key(&ks_msg, <const uint8_t*>PyBytes_AS_STRING(mkey))
        # The GIL is kept: a batch's MACs take microseconds, and a thread that lets the GIL go waits for the
        # event loop's switch interval (5 ms) to get it back: ~50 µs of wall time a receipt in a busy server.
        fc_magma_cmac_many(&ks_doc, canon, CANON_SIZE, <size_t>n, macs)

        # Pass 2: the documents (FiscalDrive._splice) and their digests.
        for i in range(n):
            num = &nums[i]
            body = <bytes>bodies[i]
            body_len = PyBytes_GET_SIZE(body)
            vlen = pre_len + NUMBERS_SIZE + body_len
            tlv = PyBytes_FromStringAndSize(NULL, 4 + vlen)
            p = <uint8_t*>PyBytes_AS_STRING(tlv)
            _le16(p, num.form)
            _le16(p + 2, <uint16_t>vlen)
            p += 4
            memcpy(p, pre_p, <size_t>pre_len)
            p += pre_len
            _put_tag(p, 1040, 4)
            _le32(p + 4, num.fd)
            _put_tag(p + 8, 1012, 4)
            _le32(p + 12, num.local)
            _put_tag(p + 16, 1077, 6)
            p[20] = 0x31 if num.receipt_form else 0x21
            p[21] = 0x04
            _be32(p + 22, <uint32_t>(macs[i] >> 32))
            _put_tag(p + 26, 1038, 4)
            _le32(p + 30, num.shift)
            _put_tag(p + 34, 1042, 4)
            _le32(p + 38, num.number)
            memcpy(p + NUMBERS_SIZE, PyBytes_AS_STRING(body), <size_t>body_len)
            tlvs[i] = tlv
            memcpy(digests + i * 32, PyBytes_AS_STRING(_sha(tlv).digest()), 32)

        fc_magma_cmac_many(&ks_msg, digests, 32, <size_t>n, signs)  # the GIL kept, as above

        # Pass 3: message signs and records (records.pack).
        for i in range(n):
            num = &nums[i]
            tlv = <bytes>tlvs[i]
            tlv_len = PyBytes_GET_SIZE(tlv)
            mac = signs[i]
            ms = PyBytes_FromStringAndSize(NULL, SIGN_SIZE)
            p = <uint8_t*>PyBytes_AS_STRING(ms)
            p[0] = 0x81
            p[1] = 0x06
            _be32(p + 2, <uint32_t>(mac >> 32))
            p[6] = <uint8_t>(mac >> 24)
            p[7] = <uint8_t>(mac >> 16)
            record = PyBytes_FromStringAndSize(NULL, HEADER_SIZE + tlv_len + SIGN_SIZE)
            p = <uint8_t*>PyBytes_AS_STRING(record)
            p[0] = 1  # records.RECORD_FORMAT
            p[1] = num.form
            p[2] = ffd
            p[3] = 1  # a message sign follows
            _le32(p + 4, <uint32_t>tlv_len)
            memcpy(p + HEADER_SIZE, PyBytes_AS_STRING(tlv), <size_t>tlv_len)
            memcpy(p + HEADER_SIZE + tlv_len, PyBytes_AS_STRING(ms), SIGN_SIZE)
            crc = fc_crc_crc32c(p, 8, 0)
            crc = fc_crc_crc32c(p + HEADER_SIZE, <size_t>(tlv_len + SIGN_SIZE), crc)
            _le32(p + 8, crc)
            fp = <uint32_t>(macs[i] >> 32)
            out[i] = (tlv, record, fp, ms)
        return out
    finally:
        fc_magma_wipe_key(&ks_doc)
        fc_magma_wipe_key(&ks_msg)
        free(canon)
        free(digests)
        free(macs)
        free(signs)
        free(nums)
