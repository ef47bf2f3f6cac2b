# Included by _receipt_write.pxi and _reader.pyx: the TLV writers of a receipt body, into one growing buffer.
#
# Rules
# - Writers mirror _tlv.pyx byte for byte: tag and length little-endian uint16, minimal VLN, FVLN = scale
#   byte + minimal mantissa, CP866 through a table, fixed-width strings right-padded with spaces.
# - A value a writer cannot write as the twin would (too long, a character CP866 lacks) raises _Bail: the
#   caller's fast path then hands the whole receipt to its twin.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memset

from fiscal_core.ffd import cp866 as _cp866

cdef extern from "Python.h":
    void* PyUnicode_DATA(object o)
    int PyUnicode_KIND(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    bint PyUnicode_IS_ASCII(object o)
    bint PyUnicode_CheckExact(PyObject* o)
    bint PyBytes_CheckExact(PyObject* o)


class _Bail(Exception):
    """The fast path does not take this receipt: the twin does (and raises, if the receipt is wrong)."""


cdef int _bail() except -1:
    raise _Bail()


cdef uint8_t enc_table[65536]           # code point -> CP866 byte (0 = none, except for U+0000)


cdef void _init_cp866() except *:
    cdef int i, cp
    table = _cp866.DECODE_TABLE
    memset(enc_table, 0, sizeof(enc_table))
    for i in range(256):
        cp = ord(table[i])
        if cp < 65536:
            enc_table[cp] = i


_init_cp866()


DEF STACK_BUF = 4096                    # a 10-item receipt body is about 1.3 KB

ctypedef struct Buf:
    uint8_t* p
    Py_ssize_t len
    Py_ssize_t cap
    bint heap                           # p was malloc'ed (else it is the caller's stack buffer)


cdef int _grow(Buf* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t cap = b.cap
    cdef uint8_t* p
    while cap < b.len + extra:
        cap *= 2
    if b.heap:
        p = <uint8_t*>realloc(b.p, cap)
    else:
        p = <uint8_t*>malloc(cap)
        if p != NULL:
            memcpy(p, b.p, b.len)
    if p == NULL:
        raise MemoryError()
    b.p = p
    b.cap = cap
    b.heap = True
    return 0


cdef inline int _reserve(Buf* b, Py_ssize_t extra) except -1:
    if b.len + extra <= b.cap:
        return 0
    return _grow(b, extra)


cdef inline void _header(uint8_t* p, uint16_t tag, Py_ssize_t length) noexcept nogil:
    p[0] = tag & 0xFF
    p[1] = tag >> 8
    p[2] = length & 0xFF
    p[3] = (length >> 8) & 0xFF


cdef inline int _byte_len(uint64_t v) noexcept nogil:
    cdef int n = 1
    while v > 0xFF:
        v >>= 8
        n += 1
    return n


cdef inline int _vln(Buf* b, uint16_t tag, uint64_t v) except -1:
    """A VLN of at most 8 bytes (the callers' values are money, at most 6)."""
    cdef int width = _byte_len(v), i
    _reserve(b, 4 + width)
    _header(b.p + b.len, tag, width)
    for i in range(width):
        b.p[b.len + 4 + i] = (v >> (8 * i)) & 0xFF
    b.len += 4 + width
    return 0


cdef inline int _byte(Buf* b, uint16_t tag, int v) except -1:
    """BYTE / 1-byte BITMASK: the caller has checked 0 <= v <= 255."""
    _reserve(b, 5)
    _header(b.p + b.len, tag, 1)
    b.p[b.len + 4] = <uint8_t>v
    b.len += 5
    return 0


cdef inline int _fvln(Buf* b, uint16_t tag, int scale, uint64_t mantissa) except -1:
    cdef int width = 1 + _byte_len(mantissa), i
    _reserve(b, 4 + width)
    _header(b.p + b.len, tag, width)
    b.p[b.len + 4] = <uint8_t>scale
    for i in range(width - 1):
        b.p[b.len + 5 + i] = (mantissa >> (8 * i)) & 0xFF
    b.len += 4 + width
    return 0


cdef inline int _unixtime(Buf* b, uint16_t tag, int64_t seconds) except -1:
    cdef int i
    if seconds < 0 or seconds > 0xFFFFFFFF:
        _bail()
    _reserve(b, 8)
    _header(b.p + b.len, tag, 4)
    for i in range(4):
        b.p[b.len + 4 + i] = (seconds >> (8 * i)) & 0xFF
    b.len += 8
    return 0


cdef int _string(Buf* b, uint16_t tag, PyObject* value, Py_ssize_t max_length, bint fixed) except -1:
    """An exact str in CP866, at most ``max_length`` characters (one byte each), else bail."""
    if not PyUnicode_CheckExact(value):
        _bail()
    cdef object s = <object>value
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s), i
    cdef Py_ssize_t width = max_length if fixed else n
    cdef void* data
    cdef uint8_t* out
    cdef uint8_t byte
    cdef uint32_t ch
    cdef int kind, bad = 0
    if n > max_length:
        _bail()
    _reserve(b, 4 + width)
    out = b.p + b.len + 4
    if PyUnicode_IS_ASCII(s):
        memcpy(out, PyUnicode_DATA(s), n)
    else:
        kind = PyUnicode_KIND(s)
        data = PyUnicode_DATA(s)
        # A character without a CP866 byte maps to 0 (only U+0000 maps to 0 rightly): flag, check once.
        if kind == 1:
            for i in range(n):
                ch = (<uint8_t*>data)[i]
                byte = enc_table[ch]
                bad |= (byte == 0) & (ch != 0)
                out[i] = byte
        elif kind == 2:
            for i in range(n):
                ch = (<uint16_t*>data)[i]
                byte = enc_table[ch]
                bad |= (byte == 0) & (ch != 0)
                out[i] = byte
        else:
            bad = 1  # astral characters have no CP866 byte
        if bad:
            _bail()
    if width > n:
        memset(out + n, 0x20, width - n)
    _header(b.p + b.len, tag, width)
    b.len += 4 + width
    return 0


cdef int _bytes(Buf* b, uint16_t tag, PyObject* value, Py_ssize_t max_length) except -1:
    if not PyBytes_CheckExact(value):
        _bail()
    cdef Py_ssize_t n = PyBytes_GET_SIZE(<object>value)
    if n > max_length:
        _bail()
    _reserve(b, 4 + n)
    _header(b.p + b.len, tag, n)
    memcpy(b.p + b.len + 4, PyBytes_AS_STRING(<object>value), n)
    b.len += 4 + n
    return 0


cdef inline Py_ssize_t _open(Buf* b) except -1:
    """Room for an STLV header; ``_close`` fills it once the children are written."""
    _reserve(b, 4)
    b.len += 4
    return b.len - 4


cdef inline int _close(Buf* b, uint16_t tag, Py_ssize_t at, Py_ssize_t max_length) except -1:
    cdef Py_ssize_t length = b.len - at - 4
    if length > max_length:
        _bail()
    _header(b.p + at, tag, length)
    return 0


cdef int _raw(Buf* b, bytes data) except -1:
    """Bytes encoded elsewhere (the rare nodes, through the TLV codec)."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    _reserve(b, n)
    memcpy(b.p + b.len, PyBytes_AS_STRING(data), n)
    b.len += n
    return 0
