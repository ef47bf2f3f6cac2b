# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Native FFD TLV codec (``fiscal_core._native._tlv``).

The spec is the pure-Python twin ``fiscal_core.ffd._tlv_py``: same tree, same bytes, same errors
(type, offset, path and message). This module only makes it fast:
- the tag registry is flattened at import into C arrays (slot per tag, a children matrix per STLV);
- tag numbers are pre-built int objects, small FVLN quantities are cached Decimals;
- CP866 goes through two tables (byte -> code point, code point -> byte), never the stdlib codec;
- ``check`` walks the bytes without creating a single Python object unless it has to raise.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.datetime cimport (
    PyDate_Check,
    PyDateTime_Check,
    datetime_day,
    datetime_hour,
    datetime_microsecond,
    datetime_minute,
    datetime_month,
    datetime_new,
    datetime_second,
    datetime_tzinfo,
    datetime_year,
    import_datetime,
)
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memset

import datetime as _dt
import decimal as _decimal

from fiscal_core.errors import DecodeError, EncodeError
from fiscal_core.ffd import cp866 as _cp866
from fiscal_core.ffd.tags import REGISTRY, DataType

import_datetime()

cdef extern from "<stdint.h>":
    const uint64_t U64_MAX "UINT64_MAX"

cdef extern from *:
    """
    /* Raw-pointer forms of a few C-API calls, so Cython adds no reference counting of its own. */
    #define PyList_New_raw(n) PyList_New(n)
    #define PyList_SET_ITEM_raw(l, i, o) PyList_SET_ITEM((l), (i), (o))
    #define PyTuple_New_raw(n) PyTuple_New(n)
    #define PyTuple_SET_ITEM_raw(t, i, o) PyTuple_SET_ITEM((t), (i), (o))
    #define Py_DECREF_raw(o) Py_DECREF(o)
    static inline PyObject* steal(PyObject* o) { return o; }

    /* Little-endian stores that compile to one move on little-endian machines and stay correct elsewhere. */
    static inline void fc_store_le32(uint8_t* p, uint32_t v) {
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(p, &v, 4);
    #else
        for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
    #endif
    }
    static inline void fc_store_le64(uint8_t* p, uint64_t v) {
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(p, &v, 8);
    #else
        for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
    #endif
    }

    /* Value of a non-negative int that fits in 60 bits, read without a call into the C-API;
       returns 0 when the caller must take the general path (negative, big, or not an exact int). */
    static inline int fc_small_uint(PyObject* o, unsigned long long* out) {
        if (!PyLong_CheckExact(o)) return 0;
    #if PY_VERSION_HEX >= 0x030C0000
        if (!PyUnstable_Long_IsCompact((PyLongObject*)o)) return 0;
        Py_ssize_t v = PyUnstable_Long_CompactValue((PyLongObject*)o);
        if (v < 0) return 0;
        *out = (unsigned long long)v;
        return 1;
    #else
        Py_ssize_t size = Py_SIZE(o);
        const digit* d = ((PyLongObject*)o)->ob_digit;
        if (size == 0) { *out = 0; return 1; }
        if (size == 1) { *out = d[0]; return 1; }
        if (size == 2) { *out = ((unsigned long long)d[1] << PyLong_SHIFT) | d[0]; return 1; }
        return 0;
    #endif
    }
    """
    int fc_small_uint(PyObject* o, unsigned long long* out) noexcept
    void fc_store_le32(uint8_t* p, uint32_t v) noexcept nogil
    void fc_store_le64(uint8_t* p, uint64_t v) noexcept nogil

cdef extern from *:
    """
    /* CPython's C decimal object as laid out since 3.3 (Modules/_decimal: PyDecObject around libmpdec's
       mpd_t). It is private, so the module reads it only after checking, at import, that the layout
       gives the right digits for known values (fc_dec_layout_ok below); otherwise it never reads it. */
    typedef struct {
        uint8_t flags;
        Py_ssize_t exp;
        Py_ssize_t digits;
        Py_ssize_t len;
        Py_ssize_t alloc;
        uint64_t* data;
    } fc_mpd_t;
    typedef struct {
        PyObject_HEAD
        Py_hash_t hash;
        fc_mpd_t dec;
    } fc_dec_object;
    static int fc_dec_layout_ok = 0;
    /* Non-negative finite decimal with one limb and exp <= 0: mantissa and scale, else 0. */
    static inline int fc_dec_fast(PyObject* o, unsigned long long* mantissa, int* scale) {
        if (!fc_dec_layout_ok) return 0;
        const fc_mpd_t* d = &((const fc_dec_object*)o)->dec;
        if ((d->flags & 0x0F) != 0 || d->len != 1 || d->exp > 0 || d->exp < -255) return 0;
        *mantissa = d->data[0];
        *scale = (int)(-d->exp);
        return 1;
    }
    static int fc_dec_probe(PyObject* o, unsigned long long* mantissa, Py_ssize_t* exp, int* flags) {
        const fc_mpd_t* d = &((const fc_dec_object*)o)->dec;
        if (d->len < 1 || d->len > 4 || d->data == NULL) return 0;
        *mantissa = d->data[0];
        *exp = d->exp;
        *flags = d->flags & 0x0F;
        return 1;
    }
    """
    int fc_dec_layout_ok
    int fc_dec_fast(PyObject* o, unsigned long long* mantissa, int* scale) noexcept
    int fc_dec_probe(PyObject* o, unsigned long long* mantissa, Py_ssize_t* exp, int* flags) noexcept
    PyObject* PyList_New_raw(Py_ssize_t n)
    void PyList_SET_ITEM_raw(PyObject* l, Py_ssize_t i, PyObject* o)
    PyObject* PyTuple_New_raw(Py_ssize_t n)
    void PyTuple_SET_ITEM_raw(PyObject* t, Py_ssize_t i, PyObject* o)
    void Py_DECREF_raw(PyObject* o)
    object steal(PyObject* o)

cdef extern from "Python.h":
    void* PyMem_Malloc(size_t n)
    void PyMem_Free(void* p)
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_DATA(object o)
    int PyUnicode_KIND(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)
    bint PyUnicode_IS_ASCII(object o)
    Py_UCS4 PyUnicode_READ(int kind, void* data, Py_ssize_t index)
    bint PyUnicode_Check(object o)
    bint PyLong_Check(object o)
    bint PyLong_CheckExact(object o)
    bint PyBool_Check(object o)
    bint PyBytes_Check(object o)
    bint PyByteArray_Check(object o)
    bint PyList_CheckExact(object o)
    bint PyTuple_CheckExact(object o)
    bint PyList_Check(object o)
    bint PyTuple_Check(object o)
    Py_ssize_t PyList_GET_SIZE(object o)
    Py_ssize_t PyTuple_GET_SIZE(object o)
    PyObject* PyList_GET_ITEM(object o, Py_ssize_t i)
    PyObject* PyTuple_GET_ITEM(object o, Py_ssize_t i)
    # Declared without an exception clause: callers test for the error value themselves, so no
    # try/except (and its exception-state save) sits on the hot path.
    unsigned long long PyLong_AsUnsignedLongLong(object o)
    long PyLong_AsLong(object o)
    PyObject* PyErr_Occurred()
    object PyLong_FromUnsignedLongLong(unsigned long long v)
    int PyList_Append(object lst, object item) except -1
    object PyList_New(Py_ssize_t n)
    int _PyBytes_Resize(PyObject** b, Py_ssize_t n) except -1
    void PyErr_Clear()
    object PyObject_Str(object o)

IMPLEMENTATION = "native"

# ----------------------------------------------------------------------------- registry as C arrays

DEF MAX_SLOTS = 2048
DEF MAX_DEPTH = 32
DEF QTY_CACHE_SCALES = 7
DEF QTY_CACHE_MANTISSAS = 1000

cdef enum:
    T_BYTE = 1
    T_UINT16 = 2
    T_UINT32 = 3
    T_VLN = 4
    T_FVLN = 5
    T_UNIXTIME = 6
    T_STRING = 7
    T_BYTES = 8
    T_BITMASK = 9
    T_STLV = 10

ctypedef struct Spec:
    uint16_t tag
    uint8_t dtype
    uint8_t fixed
    uint8_t document
    uint16_t max_length
    int group          # index of this STLV's children set (-1: any non-document tag)

cdef uint16_t slot_of[65536]        # tag -> slot (0 = unknown)
cdef Spec specs[MAX_SLOTS]
cdef int n_slots = 1
cdef int n_groups = 0
cdef uint8_t* allowed = NULL        # allowed[group * MAX_SLOTS + slot]
cdef PyObject* tag_objs[MAX_SLOTS]
cdef list _keep_alive = []          # owns the objects behind the borrowed pointers above

cdef Py_UCS4 dec_table[256]         # CP866 byte -> code point
cdef uint8_t enc_table[65536]       # code point -> CP866 byte (0 = none, except for U+0000)
cdef Py_UCS4 dec_max_nonascii = 0

cdef PyObject* qty_cache[QTY_CACHE_SCALES][QTY_CACHE_MANTISSAS]

# Reverse of qty_cache: the cached Decimal objects by address -> (scale << 56) | mantissa, so a tree
# that came out of ``decode`` re-encodes its quantities without asking Decimal for its digits. The
# cached objects live for the life of the module, so an address is never reused for another object.
DEF QTY_INDEX_SIZE = 16384
cdef PyObject* qty_index_key[QTY_INDEX_SIZE]
cdef uint64_t qty_index_val[QTY_INDEX_SIZE]


cdef inline size_t _qty_hash(PyObject* p) noexcept nogil:
    return ((<size_t>p) >> 4) & (QTY_INDEX_SIZE - 1)


cdef void _qty_index_put(PyObject* p, uint64_t packed) noexcept nogil:
    cdef size_t h = _qty_hash(p)
    while qty_index_key[h] != NULL:
        h = (h + 1) & (QTY_INDEX_SIZE - 1)
    qty_index_key[h] = p
    qty_index_val[h] = packed


cdef inline bint _qty_index_get(PyObject* p, uint64_t* packed) noexcept nogil:
    cdef size_t h = _qty_hash(p)
    while qty_index_key[h] != NULL:
        if qty_index_key[h] == p:
            packed[0] = qty_index_val[h]
            return True
        h = (h + 1) & (QTY_INDEX_SIZE - 1)
    return False

_Decimal = _decimal.Decimal
cdef type _DecimalType = _decimal.Decimal
# An explicit context: a caller's thread context (say, prec=5) must never round a quantity.
_CTX = _decimal.Context(prec=60, Emin=-999999, Emax=999999, traps=[])
_EPOCH = _dt.datetime(1970, 1, 1)


cdef void _init_tables() except *:
    global n_slots, n_groups, allowed, dec_max_nonascii
    cdef int slot, i, cp
    memset(slot_of, 0, sizeof(slot_of))
    memset(tag_objs, 0, sizeof(tag_objs))
    memset(qty_cache, 0, sizeof(qty_cache))
    memset(qty_index_key, 0, sizeof(qty_index_key))
    groups = {}
    for tag in sorted(REGISTRY):
        s = REGISTRY[tag]
        if n_slots >= MAX_SLOTS:
            raise RuntimeError("tag registry too large for the native codec")
        if not 0 < tag < 65536:
            raise RuntimeError(f"tag {tag} out of range")
        if s.dtype in (DataType.BYTE, DataType.UINT16, DataType.UINT32, DataType.VLN, DataType.BITMASK) \
                and s.max_length > 8:
            raise RuntimeError(f"integer tag {tag} wider than 8 bytes")
        if s.dtype == DataType.FVLN and s.max_length > 8:
            raise RuntimeError(f"FVLN tag {tag} wider than 8 bytes")
        slot = n_slots
        n_slots += 1
        slot_of[tag] = slot
        specs[slot].tag = tag
        specs[slot].dtype = int(s.dtype)
        specs[slot].fixed = 1 if s.fixed else 0
        specs[slot].document = 1 if s.document else 0
        specs[slot].max_length = s.max_length
        specs[slot].group = -1
        if s.dtype == DataType.STLV and s.children is not None:
            specs[slot].group = len(groups)
            groups[tag] = s.children
        obj = int(tag)
        _keep_alive.append(obj)
        tag_objs[slot] = <PyObject*>obj
    n_groups = len(groups)
    allowed = <uint8_t*>malloc(max(1, n_groups) * MAX_SLOTS)
    if allowed == NULL:
        raise MemoryError()
    memset(allowed, 0, max(1, n_groups) * MAX_SLOTS)
    for tag, children in groups.items():
        g = specs[slot_of[tag]].group
        for child in children:
            if child in REGISTRY:
                allowed[g * MAX_SLOTS + slot_of[child]] = 1
    table = _cp866.DECODE_TABLE
    memset(enc_table, 0, sizeof(enc_table))
    for i in range(256):
        cp = ord(table[i])
        dec_table[i] = cp
        if cp < 65536:
            enc_table[cp] = i
        if i >= 0x80 and cp > dec_max_nonascii:
            dec_max_nonascii = cp


_init_tables()


cdef void _check_decimal_layout() except *:
    """Switch on the direct read of Decimal digits only if it agrees with ``as_tuple`` on known values."""
    global fc_dec_layout_ok
    cdef unsigned long long m
    cdef Py_ssize_t e
    cdef int f
    if getattr(_decimal, "__libmpdec_version__", None) is None:
        return  # the pure-Python decimal module: no C layout to read
    if _DecimalType.__basicsize__ < sizeof(PyObject) + sizeof(Py_ssize_t) + 6 * sizeof(Py_ssize_t):
        return
    cases = ["0.876", "1234567.89", "1", "0", "1.000000", "72057594037927935", "0.000000000001"]
    for text in cases:
        d = _Decimal(text)
        sign, digits, exponent = d.as_tuple()
        want = int("".join(map(str, digits)))
        if not fc_dec_probe(<PyObject*>d, &m, &e, &f) or m != want or e != exponent or f != 0:
            return
    negative = _Decimal("-5")
    if not fc_dec_probe(<PyObject*>negative, &m, &e, &f) or f != 1 or m != 5:
        return
    fc_dec_layout_ok = 1


_check_decimal_layout()
DECIMAL_FAST_PATH = bool(fc_dec_layout_ok)

# ----------------------------------------------------------------------------- helpers


cdef tuple _path_tuple(const uint16_t* path, int n):
    return tuple([path[i] for i in range(n)])


cdef inline int64_t _days_from_civil(int64_t y, int64_t m, int64_t d) noexcept nogil:
    y -= 1 if m <= 2 else 0
    cdef int64_t era = (y if y >= 0 else y - 399) // 400
    cdef int64_t yoe = y - era * 400
    cdef int64_t doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    cdef int64_t doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef object _make_datetime(uint32_t seconds):
    cdef int64_t z = seconds // 86400 + 719468
    cdef int64_t secs = seconds % 86400
    cdef int64_t era = z // 146097
    cdef int64_t doe = z - era * 146097
    cdef int64_t yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    cdef int64_t y = yoe + era * 400
    cdef int64_t doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    cdef int64_t mp = (5 * doy + 2) // 153
    cdef int64_t d = doy - (153 * mp + 2) // 5 + 1
    cdef int64_t m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    return datetime_new(<int>y, <int>m, <int>d, <int>(secs // 3600), <int>((secs // 60) % 60), <int>(secs % 60), 0, None)


cdef inline uint64_t _read_le(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    cdef uint64_t v = 0
    cdef Py_ssize_t i = n
    while i > 0:
        i -= 1
        v = (v << 8) | p[i]
    return v


cdef object _fvln(const uint8_t* p, Py_ssize_t n):
    cdef uint8_t scale = p[0]
    cdef uint64_t mantissa = _read_le(p + 1, n - 1)
    cdef PyObject* cached
    if scale < QTY_CACHE_SCALES and mantissa < QTY_CACHE_MANTISSAS:
        cached = qty_cache[scale][mantissa]
        if cached != NULL:
            return <object>cached
        value = _Decimal(mantissa).scaleb(-scale, _CTX)
        _keep_alive.append(value)
        qty_cache[scale][mantissa] = <PyObject*>value
        _qty_index_put(<PyObject*>value, (<uint64_t>scale << 56) | mantissa)
        return value
    return _Decimal(mantissa).scaleb(-<int>scale, _CTX)


cdef object _string(const uint8_t* p, Py_ssize_t n, bint fixed):
    cdef Py_ssize_t i
    cdef bint ascii = True
    cdef Py_UCS4 maxchar = 0
    cdef Py_UCS4 ch
    cdef uint8_t* d1
    cdef uint16_t* d2
    cdef Py_UCS4* d4
    if fixed:
        while n > 0 and p[n - 1] == 0x20:
            n -= 1
    for i in range(n):
        if p[i] >= 0x80:
            ascii = False
            ch = dec_table[p[i]]
            if ch > maxchar:
                maxchar = ch
    if ascii:
        s = PyUnicode_New(n, 127)
        memcpy(PyUnicode_DATA(s), p, n)
        return s
    if maxchar < 0x80:
        maxchar = 0x80
    s = PyUnicode_New(n, maxchar)
    kind = PyUnicode_KIND(s)
    if kind == 1:
        d1 = <uint8_t*>PyUnicode_DATA(s)
        for i in range(n):
            d1[i] = <uint8_t>dec_table[p[i]]
    elif kind == 2:
        d2 = <uint16_t*>PyUnicode_DATA(s)
        for i in range(n):
            d2[i] = <uint16_t>dec_table[p[i]]
    else:
        d4 = <Py_UCS4*>PyUnicode_DATA(s)
        for i in range(n):
            d4[i] = dec_table[p[i]]
    return s


# ----------------------------------------------------------------------------- decoding

ctypedef struct Walk:
    const uint8_t* data
    PyObject** stack   # built nodes not yet moved into their list (owned references)
    Py_ssize_t top
    uint16_t path[MAX_DEPTH]
    int depth          # number of tags in path
    Py_ssize_t err_off
    int err_kind       # 0 = none
    uint16_t err_tag
    uint16_t err_parent
    Py_ssize_t err_a
    Py_ssize_t err_b

cdef enum:
    E_HEADER = 1
    E_UNKNOWN = 2
    E_DOC_NESTED = 3
    E_NOT_ALLOWED = 4
    E_TRUNCATED = 5
    E_TOO_LONG = 6
    E_FIXED = 7
    E_EMPTY_VLN = 8
    E_SHORT_FVLN = 9
    E_TOO_DEEP = 10


cdef int _validate_element(Walk* w, Py_ssize_t off, Py_ssize_t end, int parent_slot,
                           int* out_slot, Py_ssize_t* out_len) noexcept nogil:
    """Checks 1-5 of the twin's docstring for the element at ``off``; 0 on success, else fills the error."""
    cdef const uint8_t* d = w.data
    if end - off < 4:
        w.err_kind = E_HEADER
        w.err_off = off
        return -1
    cdef uint16_t tag = d[off] | (d[off + 1] << 8)
    cdef Py_ssize_t length = d[off + 2] | (d[off + 3] << 8)
    cdef int slot = slot_of[tag]
    cdef Spec* s
    w.err_tag = tag
    w.err_off = off
    if slot == 0:
        w.err_kind = E_UNKNOWN
        return -1
    s = &specs[slot]
    if parent_slot:
        if s.document:
            w.err_kind = E_DOC_NESTED
            w.err_parent = specs[parent_slot].tag
            return -1
        if specs[parent_slot].group >= 0 and not allowed[specs[parent_slot].group * MAX_SLOTS + slot]:
            w.err_kind = E_NOT_ALLOWED
            w.err_parent = specs[parent_slot].tag
            return -1
    if off + 4 + length > end:
        w.err_kind = E_TRUNCATED
        w.err_a = length
        w.err_b = end - off - 4
        return -1
    if length > s.max_length:
        w.err_kind = E_TOO_LONG
        w.err_a = length
        w.err_b = s.max_length
        return -1
    if s.fixed and length != s.max_length:
        w.err_kind = E_FIXED
        w.err_a = length
        w.err_b = s.max_length
        return -1
    if s.dtype == T_VLN and length == 0:
        w.err_kind = E_EMPTY_VLN
        return -1
    if s.dtype == T_FVLN and length < 2:
        w.err_kind = E_SHORT_FVLN
        return -1
    out_slot[0] = slot
    out_len[0] = length
    return 0


cdef object _raise_walk_error(Walk* w):
    cdef int n = w.depth
    cdef uint16_t tag = w.err_tag
    if w.err_kind == E_HEADER:
        raise DecodeError("truncated TLV header", w.err_off, _path_tuple(w.path, n))
    here = _path_tuple(w.path, n) + (tag,)
    if w.err_kind == E_UNKNOWN:
        msg = f"unknown tag {tag}"
    elif w.err_kind == E_DOC_NESTED:
        msg = f"document tag {tag} inside tag {w.err_parent}"
    elif w.err_kind == E_NOT_ALLOWED:
        msg = f"tag {tag} is not allowed inside tag {w.err_parent}"
    elif w.err_kind == E_TRUNCATED:
        msg = f"truncated value: tag {tag} declares {w.err_a} bytes, {w.err_b} remain"
    elif w.err_kind == E_TOO_LONG:
        msg = f"value of tag {tag} is {w.err_a} bytes, more than its maximum {w.err_b}"
    elif w.err_kind == E_FIXED:
        msg = f"value of tag {tag} is {w.err_a} bytes, its fixed width is {w.err_b}"
    elif w.err_kind == E_EMPTY_VLN:
        msg = f"empty VLN in tag {tag}"
    elif w.err_kind == E_SHORT_FVLN:
        msg = f"FVLN in tag {tag} is shorter than 2 bytes"
    else:
        msg = "nesting too deep"
    raise DecodeError(msg, w.err_off, here)


cdef Py_ssize_t _scan(Walk* w, Py_ssize_t off, Py_ssize_t end, int parent_slot) noexcept nogil:
    """Structure-only walk: element count, or -1 with the error in ``w`` (path left at the fault)."""
    cdef Py_ssize_t count = 0, length, sub
    cdef int slot
    while off < end:
        if _validate_element(w, off, end, parent_slot, &slot, &length) < 0:
            return -1
        if specs[slot].dtype == T_STLV:
            if w.depth >= MAX_DEPTH:
                w.err_kind = E_TOO_DEEP
                return -1
            w.path[w.depth] = specs[slot].tag
            w.depth += 1
            sub = _scan(w, off + 4, off + 4 + length, slot)
            if sub < 0:
                return -1
            w.depth -= 1
            count += sub
        count += 1
        off += 4 + length
    return count


cdef object _leaf(Spec* s, const uint8_t* v, Py_ssize_t length):
    if s.dtype == T_STRING:
        return _string(v, length, s.fixed)
    if s.dtype == T_BYTES:
        return PyBytes_FromStringAndSize(<const char*>v, length)
    if s.dtype == T_UNIXTIME:
        return _make_datetime(<uint32_t>_read_le(v, 4))
    if s.dtype == T_FVLN:
        return _fvln(v, length)
    return PyLong_FromUnsignedLongLong(_read_le(v, length))


cdef PyObject** small_pairs[MAX_SLOTS]  # per slot, 256 shared (tag, value) tuples, made on first use


cdef PyObject* _small_pair(int slot, uint8_t value) except NULL:
    """The shared ``(tag, value)`` tuple of a one-byte integer element (borrowed; the table owns it)."""
    cdef PyObject** row = small_pairs[slot]
    if row == NULL:
        row = <PyObject**>PyMem_Malloc(256 * sizeof(PyObject*))
        if row == NULL:
            raise MemoryError()
        memset(row, 0, 256 * sizeof(PyObject*))
        small_pairs[slot] = row
    if row[value] == NULL:
        pair = (<object>tag_objs[slot], int(value))
        Py_INCREF(pair)  # kept for the life of the module
        row[value] = <PyObject*>pair
    return row[value]


cdef int _build(Walk* w, Py_ssize_t off, Py_ssize_t end, int parent_slot) except -1:
    """Push one tuple per element of [off, end) onto ``w.stack``; STLV values become exact-size lists.

    The stack owns what it holds until the caller moves it into a list, so an error anywhere leaves
    nothing leaked: ``decode`` releases whatever is still on the stack.
    """
    cdef Py_ssize_t length, base, k, j
    cdef int slot
    cdef Spec* s
    cdef PyObject* node
    cdef PyObject* lst
    while off < end:
        if _validate_element(w, off, end, parent_slot, &slot, &length) < 0:
            _raise_walk_error(w)
        s = &specs[slot]
        if s.dtype == T_STLV:
            if w.depth >= MAX_DEPTH:
                w.err_kind = E_TOO_DEEP
                _raise_walk_error(w)
            w.path[w.depth] = s.tag
            w.depth += 1
            base = w.top
            _build(w, off + 4, off + 4 + length, slot)
            w.depth -= 1
            k = w.top - base
            lst = PyList_New_raw(k)
            if lst == NULL:
                raise MemoryError()
            for j in range(k):
                PyList_SET_ITEM_raw(lst, j, w.stack[base + j])  # steals the stack's reference
            w.top = base
            node = PyTuple_New_raw(2)
            if node == NULL:
                Py_DECREF_raw(lst)
                raise MemoryError()
            PyTuple_SET_ITEM_raw(node, 1, lst)
        elif length == 1 and s.dtype != T_STRING and s.dtype != T_BYTES:
            # A one-byte integer (flags, enums, zero sums): the pair is immutable, so one shared tuple per
            # (tag, value) serves every document — no allocation, the most common element of a receipt.
            node = _small_pair(slot, w.data[off + 4])
            Py_INCREF(<object>node)
            w.stack[w.top] = node
            w.top += 1
            off += 5
            continue
        else:
            value = _leaf(s, w.data + off + 4, length)
            node = PyTuple_New_raw(2)
            if node == NULL:
                raise MemoryError()
            Py_INCREF(value)
            PyTuple_SET_ITEM_raw(node, 1, <PyObject*>value)
        Py_INCREF(<object>tag_objs[slot])
        PyTuple_SET_ITEM_raw(node, 0, tag_objs[slot])
        w.stack[w.top] = node
        w.top += 1
        off += 4 + length
    return 0


cdef const uint8_t* _buffer_of(object data, Py_ssize_t* n) except NULL:
    if PyBytes_Check(data):
        n[0] = PyBytes_GET_SIZE(data)
        return <const uint8_t*>PyBytes_AS_STRING(data)
    if PyByteArray_Check(data):
        n[0] = PyByteArray_GET_SIZE(data)
        return <const uint8_t*>PyByteArray_AS_STRING(data)
    raise TypeError(f"expected bytes, got {type(data).__name__}")


def decode(data):
    """Bytes -> tree (see ``fiscal_core.ffd._tlv_py.decode``)."""
    if type(data) is memoryview:
        data = bytes(data)
    cdef Py_ssize_t n, j
    cdef Walk w
    cdef PyObject* result
    w.data = _buffer_of(data, &n)
    w.depth = 0
    w.err_kind = 0
    w.top = 0
    # At most one element per 4 input bytes: the stack is bounded by the input's own size.
    w.stack = <PyObject**>PyMem_Malloc((n // 4 + 1) * sizeof(PyObject*))
    if w.stack == NULL:
        raise MemoryError()
    try:
        _build(&w, 0, n, 0)
        result = PyList_New_raw(w.top)
        if result == NULL:
            raise MemoryError()
        for j in range(w.top):
            PyList_SET_ITEM_raw(result, j, w.stack[j])
        w.top = 0
        return <object>steal(result)
    finally:
        for j in range(w.top):
            Py_DECREF_raw(w.stack[j])
        PyMem_Free(w.stack)


def check(data):
    """Structure-only walk (see ``fiscal_core.ffd._tlv_py.check``)."""
    if type(data) is memoryview:
        data = bytes(data)
    cdef Py_ssize_t n, count
    cdef Walk w
    w.data = _buffer_of(data, &n)
    w.depth = 0
    w.err_kind = 0
    with nogil:
        count = _scan(&w, 0, n, 0)
    if count < 0:
        _raise_walk_error(&w)
    return count


# ----------------------------------------------------------------------------- encoding

ctypedef struct Buf:
    uint8_t* p
    Py_ssize_t len
    Py_ssize_t cap
    uint16_t path[MAX_DEPTH]
    int depth


cdef inline int _reserve(Buf* b, Py_ssize_t extra) except -1:
    if b.len + extra <= b.cap:
        return 0
    return _grow(b, extra)


cdef int _grow(Buf* b, Py_ssize_t extra) except -1:
    cdef Py_ssize_t cap = b.cap
    cdef uint8_t* p
    if b.len + extra <= cap:
        return 0
    while cap < b.len + extra:
        cap *= 2
    p = <uint8_t*>realloc(b.p, cap)
    if p == NULL:
        raise MemoryError()
    b.p = p
    b.cap = cap
    return 0


cdef inline void _put_header(uint8_t* p, uint16_t tag, Py_ssize_t length) noexcept nogil:
    fc_store_le32(p, <uint32_t>tag | (<uint32_t>(length & 0xFFFF) << 16))


cdef int _eerr(Buf* b, str msg, bint with_tag, uint16_t tag) except -1:
    path = _path_tuple(b.path, b.depth)
    if with_tag:
        path = path + (tag,)
    raise EncodeError(msg, path)


cdef inline int _byte_len(uint64_t v) noexcept nogil:
    cdef int n = 1
    while v > 0xFF:
        v >>= 8
        n += 1
    return n


cdef inline uint64_t _as_uint(Buf* b, object value, uint16_t tag) except? <uint64_t>-1:
    """The value as uint64; 2**64-1 also stands for "too big" (the caller tells the two apart)."""
    cdef unsigned long long small
    if fc_small_uint(<PyObject*>value, &small):
        return small
    return _as_uint_slow(b, value, tag)


cdef uint64_t _as_uint_slow(Buf* b, object value, uint16_t tag) except? <uint64_t>-1:
    if PyBool_Check(value) or not PyLong_Check(value):
        _eerr(b, f"tag {tag} must be an int, not {type(value).__name__}", True, tag)
    cdef uint64_t v = PyLong_AsUnsignedLongLong(value)
    if v == U64_MAX and PyErr_Occurred() != NULL:
        PyErr_Clear()
        if value < 0:
            _eerr(b, f"tag {tag} must not be negative", True, tag)
    return v


cdef inline int _put_uint(Buf* b, uint16_t tag, Spec* s, object value) except -1:
    cdef uint64_t v = _as_uint(b, value, tag)
    cdef int width
    if v == U64_MAX and value != 0xFFFFFFFFFFFFFFFF:
        _eerr(b, f"tag {tag} value {value} does not fit in {s.max_length} bytes", True, tag)
    if s.dtype == T_VLN:
        width = _byte_len(v)
        if width > s.max_length:
            _eerr(b, f"tag {tag} value {value} does not fit in {s.max_length} bytes", True, tag)
    else:
        width = s.max_length
        if width < 8 and (v >> (8 * width)) != 0:
            _eerr(b, f"tag {tag} value {value} does not fit in {s.max_length} bytes", True, tag)
    # Room for a whole 8-byte store: the bytes past ``width`` are scratch, overwritten by what follows.
    _reserve(b, 12)
    fc_store_le32(b.p + b.len, <uint32_t>tag | (<uint32_t>width << 16))
    fc_store_le64(b.p + b.len + 4, v)
    b.len += 4 + width
    return 0


cdef int _check_cp866(Buf* b, uint16_t tag, object value, Py_ssize_t n) except -1:
    """Raise for the first character CP866 cannot hold (the slow path of an encode that failed)."""
    cdef int kind = PyUnicode_KIND(value)
    cdef void* data = PyUnicode_DATA(value)
    cdef Py_UCS4 ch
    cdef Py_ssize_t i
    for i in range(n):
        ch = PyUnicode_READ(kind, data, i)
        if ch != 0 and (ch > 0xFFFF or enc_table[ch] == 0):
            _eerr(b, f"tag {tag}: character {value[i]!r} has no CP866 byte", True, tag)
    return 0


cdef int _put_string(Buf* b, uint16_t tag, Spec* s, object value) except -1:
    if not PyUnicode_Check(value):
        _eerr(b, f"tag {tag} must be a str, not {type(value).__name__}", True, tag)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(value)
    cdef Py_ssize_t width, i
    cdef int kind
    cdef void* data
    cdef Py_UCS4 ch
    cdef uint8_t* out
    cdef uint8_t byte
    if n > s.max_length:
        # The twin reports an unencodable character before the length: look for one first.
        if not PyUnicode_IS_ASCII(value):
            _check_cp866(b, tag, value, n)
        _eerr(b, f"tag {tag} is {n} CP866 bytes, more than its maximum {s.max_length}", True, tag)
    width = s.max_length if s.fixed else n
    _reserve(b, 4 + width)
    _put_header(b.p + b.len, tag, width)
    out = b.p + b.len + 4
    if PyUnicode_IS_ASCII(value):
        memcpy(out, PyUnicode_DATA(value), n)
    else:
        kind = PyUnicode_KIND(value)
        data = PyUnicode_DATA(value)
        if kind == 1:
            for i in range(n):
                byte = enc_table[(<uint8_t*>data)[i]]
                if byte == 0 and (<uint8_t*>data)[i] != 0:
                    _check_cp866(b, tag, value, n)
                out[i] = byte
        elif kind == 2:
            for i in range(n):
                byte = enc_table[(<uint16_t*>data)[i]]
                if byte == 0 and (<uint16_t*>data)[i] != 0:
                    _check_cp866(b, tag, value, n)
                out[i] = byte
        else:
            _check_cp866(b, tag, value, n)
    if width > n:
        memset(out + n, 0x20, width - n)
    b.len += 4 + width
    return 0


cdef int _put_bytes(Buf* b, uint16_t tag, Spec* s, object value) except -1:
    cdef const uint8_t* src
    cdef Py_ssize_t n
    if PyBytes_Check(value):
        src = <const uint8_t*>PyBytes_AS_STRING(value)
        n = PyBytes_GET_SIZE(value)
    elif PyByteArray_Check(value):
        src = <const uint8_t*>PyByteArray_AS_STRING(value)
        n = PyByteArray_GET_SIZE(value)
    else:
        _eerr(b, f"tag {tag} must be bytes, not {type(value).__name__}", True, tag)
    if n > s.max_length:
        _eerr(b, f"tag {tag} is {n} bytes, more than its maximum {s.max_length}", True, tag)
    if s.fixed and n != s.max_length:
        _eerr(b, f"tag {tag} is {n} bytes, its fixed width is {s.max_length}", True, tag)
    _reserve(b, 4 + n)
    _put_header(b.p + b.len, tag, n)
    memcpy(b.p + b.len + 4, src, n)
    b.len += 4 + n
    return 0


cdef int _put_unixtime(Buf* b, uint16_t tag, Spec* s, object value) except -1:
    cdef int64_t seconds
    cdef int i
    if PyDateTime_Check(value):
        if datetime_tzinfo(value) is not None:
            _eerr(b, f"tag {tag} needs a naive local wall-clock datetime, not an aware one", True, tag)
        if datetime_microsecond(value):
            _eerr(b, f"tag {tag} has fractions of a second", True, tag)
        seconds = _days_from_civil(datetime_year(value), datetime_month(value), datetime_day(value)) * 86400 \
            + datetime_hour(value) * 3600 + datetime_minute(value) * 60 + datetime_second(value)
    elif PyDate_Check(value):
        _eerr(b, f"tag {tag} needs a datetime, not a date", True, tag)
    else:
        if PyBool_Check(value) or not PyLong_Check(value):
            _eerr(b, f"tag {tag} must be an int, not {type(value).__name__}", True, tag)
        if value < 0:
            _eerr(b, f"tag {tag} must not be negative", True, tag)
        seconds = 0x100000000 if value > 0xFFFFFFFF else <int64_t>value
    if seconds < 0 or seconds > 0xFFFFFFFF:
        _eerr(b, f"tag {tag} time is outside the 32-bit unixtime range", True, tag)
    _reserve(b, 8)
    _put_header(b.p + b.len, tag, 4)
    for i in range(4):
        b.p[b.len + 4 + i] = (seconds >> (8 * i)) & 0xFF
    b.len += 8
    return 0


cdef int _parse_decimal(Buf* b, uint16_t tag, object value, uint64_t* mantissa, int* scale) except -1:
    """Digits and exponent of a Decimal from its canonical string (no Python-level digit tuples).

    Errors in the twin's order: not finite, negative, more than 255 digits after the point, too big.
    """
    # tp_str of the exact Decimal type is its canonical (always ASCII) form; a subclass may override
    # __str__, so go through the base method for those.
    text = PyObject_Str(value) if type(value) is _DecimalType else _Decimal.__str__(value)
    cdef const char* p = <const char*>PyUnicode_DATA(text)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text), i = 0
    cdef uint64_t m = 0
    cdef bint overflow = False, seen_point = False
    cdef int64_t frac = 0, exp = 0
    cdef int exp_sign = 1
    cdef unsigned d
    cdef char c
    for i in range(n):
        c = p[i]
        if c == b'N' or c == b'n' or c == b'I':
            _eerr(b, f"tag {tag} must be a finite decimal", True, tag)
    if n and p[0] == b'-':
        _eerr(b, f"tag {tag} must not be negative", True, tag)
    i = 0
    while i < n:
        c = p[i]
        if c == b'.':
            seen_point = True
        elif c == b'E' or c == b'e':
            i += 1
            if i < n and (p[i] == b'+' or p[i] == b'-'):
                exp_sign = -1 if p[i] == b'-' else 1
                i += 1
            while i < n:
                if exp < 100000000:
                    exp = exp * 10 + (p[i] - 48)
                i += 1
            break
        else:
            d = <unsigned>(c - 48)
            if m > (U64_MAX - d) // 10:
                overflow = True
            else:
                m = m * 10 + d
            if seen_point:
                frac += 1
        i += 1
    cdef int64_t sc = frac - exp_sign * exp
    if sc < 0:
        # A positive exponent: scale the mantissa up, the point stays at zero digits.
        if m != 0:
            while sc < 0 and not overflow:
                if m > U64_MAX // 10:
                    overflow = True
                else:
                    m *= 10
                    sc += 1
        sc = 0
    if sc > 255:
        _eerr(b, f"tag {tag} has more than 255 digits after the point", True, tag)
    mantissa[0] = m
    scale[0] = <int>sc
    return 1 if overflow else 0


cdef int _put_fvln(Buf* b, uint16_t tag, Spec* s, object value) except -1:
    cdef uint64_t mantissa = 0
    cdef int scale = 0
    cdef int width, i, overflow
    cdef uint64_t packed
    cdef unsigned long long small
    if fc_small_uint(<PyObject*>value, &small):
        mantissa = small  # an int quantity: no digits after the point
        scale = 0
        overflow = 0
    elif _qty_index_get(<PyObject*>value, &packed):
        mantissa = packed & 0x00FFFFFFFFFFFFFF
        scale = <int>(packed >> 56)
        overflow = 0
    elif type(value) is _DecimalType and fc_dec_fast(<PyObject*>value, &small, &scale):
        mantissa = small
        overflow = 0
    elif type(value) is _DecimalType or isinstance(value, _Decimal):
        overflow = _parse_decimal(b, tag, value, &mantissa, &scale)
    else:
        mantissa = _as_uint(b, value, tag)
        overflow = mantissa == U64_MAX and value != 0xFFFFFFFFFFFFFFFF
    width = 1 + _byte_len(mantissa)
    if overflow or width > s.max_length:
        _eerr(b, f"tag {tag} value does not fit in {s.max_length} bytes", True, tag)
    _reserve(b, 4 + width)
    _put_header(b.p + b.len, tag, width)
    b.p[b.len + 4] = scale
    for i in range(width - 1):
        b.p[b.len + 5 + i] = (mantissa >> (8 * i)) & 0xFF
    b.len += 4 + width
    return 0


cdef int _encode_nodes(Buf* b, object nodes, int parent_slot) except -1:
    # Borrowed pointers throughout: the loop reads the caller's objects and never writes their
    # reference counts, which keeps the hot path free of stores into Python object headers.
    cdef Py_ssize_t i, n, header_at, length
    cdef int slot
    cdef Spec* s
    cdef PyObject* node
    cdef PyObject* tag_p
    cdef PyObject* value_p
    cdef long tag_l
    cdef unsigned long long small
    cdef uint16_t tag
    cdef bint is_list
    cdef int group = specs[parent_slot].group if parent_slot else -1
    if PyList_Check(nodes):
        is_list = True
        n = PyList_GET_SIZE(nodes)
    elif PyTuple_Check(nodes):
        is_list = False
        n = PyTuple_GET_SIZE(nodes)
    else:
        _eerr(b, f"expected a list of (tag, value) nodes, got {type(nodes).__name__}", False, 0)
    for i in range(n):
        # Re-read the size each time: a value's __str__ could have mutated the list.
        if is_list:
            if i >= PyList_GET_SIZE(nodes):
                break
            node = PyList_GET_ITEM(nodes, i)
        else:
            node = PyTuple_GET_ITEM(nodes, i)
        if PyTuple_CheckExact(<object>node) and PyTuple_GET_SIZE(<object>node) == 2:
            tag_p = PyTuple_GET_ITEM(<object>node, 0)
            value_p = PyTuple_GET_ITEM(<object>node, 1)
        elif (PyTuple_Check(<object>node) or PyList_Check(<object>node)) and len(<object>node) == 2:
            # A list node can change under us: hold its items for the rest of this iteration.
            pair = tuple(<object>node)
            tag_p = PyTuple_GET_ITEM(pair, 0)
            value_p = PyTuple_GET_ITEM(pair, 1)
        else:
            _eerr(b, "a node must be a (tag, value) pair", False, 0)
        if fc_small_uint(tag_p, &small):
            tag_l = <long>small if small <= 65535 else -1
        elif PyLong_CheckExact(<object>tag_p):
            tag_l = PyLong_AsLong(<object>tag_p)
        elif PyBool_Check(<object>tag_p) or not PyLong_Check(<object>tag_p):
            _eerr(b, f"a tag must be an int, not {type(<object>tag_p).__name__}", False, 0)
        else:
            tag_l = PyLong_AsLong(<object>tag_p)
        if tag_l == -1 and PyErr_Occurred() != NULL:
            PyErr_Clear()
        if tag_l < 0 or tag_l > 65535:
            raise EncodeError(f"unknown tag {<object>tag_p}", _path_tuple(b.path, b.depth) + (int(<object>tag_p),))
        tag = <uint16_t>tag_l
        slot = slot_of[tag]
        if slot == 0:
            _eerr(b, f"unknown tag {tag}", True, tag)
        s = &specs[slot]
        if parent_slot:
            if s.document:
                _eerr(b, f"document tag {tag} inside tag {specs[parent_slot].tag}", True, tag)
            if group >= 0 and not allowed[group * MAX_SLOTS + slot]:
                _eerr(b, f"tag {tag} is not allowed inside tag {specs[parent_slot].tag}", True, tag)
        if s.dtype == T_STLV:
            if b.depth >= MAX_DEPTH:
                _eerr(b, "nesting too deep", True, tag)
            _reserve(b, 4)
            header_at = b.len
            b.len += 4
            b.path[b.depth] = tag
            b.depth += 1
            _encode_nodes(b, <object>value_p, slot)
            b.depth -= 1
            length = b.len - header_at - 4
            if length > s.max_length:
                _eerr(b, f"tag {tag} is {length} bytes, more than its maximum {s.max_length}", True, tag)
            _put_header(b.p + header_at, tag, length)
        elif s.dtype == T_STRING:
            _put_string(b, tag, s, <object>value_p)
        elif s.dtype == T_UNIXTIME:
            _put_unixtime(b, tag, s, <object>value_p)
        elif s.dtype == T_FVLN:
            _put_fvln(b, tag, s, <object>value_p)
        elif s.dtype == T_BYTES:
            _put_bytes(b, tag, s, <object>value_p)
        else:
            _put_uint(b, tag, s, <object>value_p)
    return 0


def encode(tree):
    """Tree -> bytes (see ``fiscal_core.ffd._tlv_py.encode``)."""
    cdef Buf b
    b.cap = 2048
    b.len = 0
    b.depth = 0
    b.p = <uint8_t*>malloc(b.cap)
    if b.p == NULL:
        raise MemoryError()
    try:
        _encode_nodes(&b, tree, 0)
        return PyBytes_FromStringAndSize(<const char*>b.p, b.len)
    finally:
        free(b.p)
