# Included by _receipt.pyx: fast reads of Python objects; the TLV writers of the body are _tlv_write.pxi's.
#
# Rules
# - A reader or writer that meets anything the fast path does not handle raises _Bail; the caller then
#   hands the whole receipt to the pure-Python twin, which gives the result or the exact error.
# - Struct fields are read at the slot offsets of their member descriptors (msgspec keeps fields in slots),
#   as borrowed pointers: the receipt owns them for the whole call and nothing here writes to it.

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.datetime cimport (
    PyDate_CheckExact,
    PyDateTime_CheckExact,
    date_day,
    date_month,
    date_year,
    import_datetime,
)
from cpython.object cimport PyObject, PyTypeObject
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memset

import decimal as _decimal

from fiscal_core.ffd import cp866 as _cp866

import_datetime()

include "_tlv_write.pxi"

cdef extern from *:
    """
    #define FC_SLOT(o, off) (*(PyObject**)((char*)(o) + (off)))
    /* A tuple subclass instance filled item by item, as tuple_subtype_new does (tp_alloc tracks it). */
    static inline PyObject* fc_tuple_alloc(PyObject* type, Py_ssize_t n) {
        return ((PyTypeObject*)type)->tp_alloc((PyTypeObject*)type, n);
    }
    static inline void fc_tuple_set(PyObject* t, Py_ssize_t i, PyObject* o) {
        Py_INCREF(o);
        PyTuple_SET_ITEM(t, i, o);
    }
    static inline PyObject* fc_steal(PyObject* o) { return o; }
    #define FC_TYPE(o) ((PyObject*)Py_TYPE(o))

    /* The value of a non-negative int (an exact int, or an int subclass when ``exact`` is 0, as IntEnum
       members are) that fits in 60 bits, read without a call into the C-API; 0 when it is not one. */
    static inline int fc_uint(PyObject* o, int exact, unsigned long long* out) {
        if (exact ? !PyLong_CheckExact(o) : !PyLong_Check(o)) return 0;
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

    /* CPython's C decimal object (Modules/_decimal), read only after the import-time check below agrees
       with as_tuple() on known values; the same layout _tlv.pyx reads. */
    typedef struct {
        uint8_t flags;
        Py_ssize_t exp;
        Py_ssize_t digits;
        Py_ssize_t len;
        Py_ssize_t alloc;
        uint64_t* data;
    } fc_rb_mpd_t;
    typedef struct {
        PyObject_HEAD
        Py_hash_t hash;
        fc_rb_mpd_t dec;
    } fc_rb_dec_object;
    static int fc_rb_dec_ok = 0;
    /* A non-negative finite decimal with one limb: its digits as an integer and its exponent, else 0. */
    static inline int fc_rb_dec(PyObject* o, unsigned long long* digits, Py_ssize_t* exp) {
        if (!fc_rb_dec_ok) return 0;
        const fc_rb_mpd_t* d = &((const fc_rb_dec_object*)o)->dec;
        if ((d->flags & 0x0F) != 0 || d->len != 1) return 0;
        *digits = d->data[0];
        *exp = d->exp;
        return 1;
    }
    static int fc_rb_dec_probe(PyObject* o, unsigned long long* mantissa, Py_ssize_t* exp, int* flags) {
        const fc_rb_mpd_t* d = &((const fc_rb_dec_object*)o)->dec;
        if (d->len < 1 || d->len > 4 || d->data == NULL) return 0;
        *mantissa = d->data[0];
        *exp = d->exp;
        *flags = d->flags & 0x0F;
        return 1;
    }

    /* receipt.item_sum: (2 * price * mantissa + 10**scale) // (2 * 10**scale), exact; 0 when the result
       would pass ``limit`` (the caller then refuses the sum) or the scale is beyond 10**38. */
    static inline int fc_item_sum(uint64_t price, uint64_t mantissa, int scale, uint64_t limit, uint64_t* out) {
        static const uint64_t pow10[19] = {1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL,
            10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
            10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
            100000000000000000ULL, 1000000000000000000ULL};
        unsigned __int128 d, r;
        int i;
        if (scale < 0) return 0;
        if (scale > 38) {
            /* 2 * price * mantissa < 2**105 < 10**38 < 10**scale: the quotient is 0. */
            *out = 0;
            return 1;
        }
        if (scale <= 18 && price < (1ULL << 28) && mantissa < (1ULL << 32)) {
            /* The common case in 64 bits: 2 * price * mantissa + 10**18 < 2**61 + 2**60. */
            uint64_t d64 = pow10[scale];
            uint64_t r64 = (2 * price * mantissa + d64) / (2 * d64);
            if (r64 > limit) return 0;
            *out = r64;
            return 1;
        }
        d = 1;
        for (i = 0; i < scale; i++) d *= 10;
        r = (2 * (unsigned __int128)price * mantissa + d) / (2 * d);
        if (r > limit) return 0;
        *out = (uint64_t)r;
        return 1;
    }

    /* The hot readers, in C so that the compiler inlines them; on a value the fast path does not take
       they set _Bail (fc_bail_exc) and return the error value. */
    static PyObject* fc_bail_exc = NULL;
    static inline PyObject* fc_slot(PyObject* o, Py_ssize_t off) {
        PyObject* v = FC_SLOT(o, off);
        if (__builtin_expect(v == NULL, 0)) PyErr_SetNone(fc_bail_exc);  /* unset: the twin's getattr raises */
        return v;
    }
    /* An exact int in 0..limit (a money tag the twin can encode), else -1. */
    static inline int64_t fc_money(PyObject* o, uint64_t limit) {
        unsigned long long v = 0;
        if (__builtin_expect(fc_uint(o, 1, &v) && v <= limit, 1)) return (int64_t)v;
        PyErr_SetNone(fc_bail_exc);
        return -1;
    }
    /* int(o) of an exact int or a member of enum_type (IntEnum / IntFlag), in 0..limit, else -1. */
    static inline int fc_code(PyObject* o, PyObject* enum_type, int limit) {
        unsigned long long v = 0;
        if (__builtin_expect(fc_uint(o, FC_TYPE(o) != enum_type, &v) && v <= (unsigned long long)limit, 1))
            return (int)v;
        PyErr_SetNone(fc_bail_exc);
        return -1;
    }
    """
    PyObject* FC_SLOT(PyObject* o, Py_ssize_t off) noexcept
    PyObject* fc_tuple_alloc(PyObject* type, Py_ssize_t n) noexcept
    void fc_tuple_set(PyObject* t, Py_ssize_t i, PyObject* o) noexcept
    object fc_steal(PyObject* o)
    PyObject* FC_TYPE(PyObject* o) noexcept
    int fc_uint(PyObject* o, int exact, unsigned long long* out) noexcept
    int fc_rb_dec_ok
    int fc_rb_dec(PyObject* o, unsigned long long* digits, Py_ssize_t* exp) noexcept
    int fc_rb_dec_probe(PyObject* o, unsigned long long* mantissa, Py_ssize_t* exp, int* flags) noexcept
    int fc_item_sum(uint64_t price, uint64_t mantissa, int scale, uint64_t limit, uint64_t* out) noexcept
    PyObject* fc_bail_exc
    PyObject* _slot "fc_slot"(PyObject* o, Py_ssize_t off) except NULL
    int64_t fc_money(PyObject* o, uint64_t limit) except -1
    int _code "fc_code"(PyObject* o, PyObject* enum_type, int limit) except -1

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    bint PyLong_CheckExact(PyObject* o)
    bint PyTuple_CheckExact(PyObject* o)
    Py_ssize_t PyTuple_GET_SIZE(PyObject* o)
    PyObject* PyTuple_GET_ITEM(PyObject* o, Py_ssize_t i)
    PyObject* Py_None
    PyObject* Py_True
    PyObject* Py_False


fc_bail_exc = <PyObject*>_Bail


DEF MAX_MONEY = 0xFFFFFFFFFFFF          # money tags are VLN of at most 6 bytes
DEF MAX_MANTISSA = 0xFFFFFFFFFFFFFF     # 1023 is FVLN of at most 8 bytes


cdef inline uint64_t _money(PyObject* o) except? 0xFFFFFFFFFFFFFFFF:
    """An exact int in 0..MAX_MONEY, else bail."""
    return <uint64_t>fc_money(o, MAX_MONEY)


cdef PyObject* DecimalType = <PyObject*>_decimal.Decimal


cdef void _check_decimal_layout() except *:
    """Switch on the direct read of Decimal digits only if it agrees with ``as_tuple`` on known values."""
    global fc_rb_dec_ok
    cdef unsigned long long m
    cdef Py_ssize_t e
    cdef int f
    cdef type dec_type = _decimal.Decimal
    if getattr(_decimal, "__libmpdec_version__", None) is None:
        return  # the pure-Python decimal module: no C layout to read
    if dec_type.__basicsize__ < sizeof(PyObject) + 7 * sizeof(Py_ssize_t):
        return
    for text in ["0.876", "1234567.89", "1", "0", "1.000000", "72057594037927935", "0.000000000001"]:
        d = _decimal.Decimal(text)
        sign, digits, exponent = d.as_tuple()
        want = int("".join(map(str, digits)))
        if not fc_rb_dec_probe(<PyObject*>d, &m, &e, &f) or m != want or e != exponent or f != 0:
            return
    negative = _decimal.Decimal("-5")
    if not fc_rb_dec_probe(<PyObject*>negative, &m, &e, &f) or f != 1 or m != 5:
        return
    fc_rb_dec_ok = 1


_check_decimal_layout()


# ----------------------------------------------------------------------------- reading objects


cdef inline bint _truth(PyObject* o) except -1:
    """Truthiness of a bool, None or an exact int (what the twin's ``1 if x else None`` reads), else bail."""
    if o == Py_True:
        return True
    if o == Py_False or o == Py_None:
        return False
    if PyLong_CheckExact(o):
        return <object>o != 0
    _bail()


cdef inline bint _absent(PyObject* o) noexcept:
    """What ``_refuse`` lets through: None or an empty tuple (anything else: the twin decides)."""
    return o == Py_None or (PyTuple_CheckExact(o) and PyTuple_GET_SIZE(o) == 0)


cdef inline PyObject* _or(PyObject* a, PyObject* b) except NULL:
    """``a or b`` for str-or-None values."""
    if a == Py_None:
        return b
    if not PyUnicode_CheckExact(a):
        _bail()
    return a if PyUnicode_GET_LENGTH(<object>a) else b


cdef inline int _quantity(PyObject* q, uint64_t* mantissa, int* scale) except -1:
    """receipt._quantity_parts and _receipt_nodes._quantity: the FVLN mantissa and scale of a quantity.

    Bails for what check_sums or the encoder refuses (zero, negative, not finite, over 7 mantissa bytes,
    over 255 digits after the point) and for anything but an int or a Decimal.
    """
    cdef unsigned long long m = 0
    cdef Py_ssize_t exp = 0
    if fc_uint(q, 1, &m):
        scale[0] = 0
    elif FC_TYPE(q) == DecimalType and fc_rb_dec(q, &m, &exp):
        if exp > 0:
            # Decimal("1E+1") is written as the int 10 (_receipt_nodes._quantity).
            while exp > 0 and m <= MAX_MANTISSA:
                m *= 10
                exp -= 1
            if exp > 0:
                _bail()
        elif exp < -255:
            _bail()
        scale[0] = <int>-exp
    elif PyLong_CheckExact(q) or isinstance(<object>q, _decimal.Decimal):
        return _quantity_slow(<object>q, mantissa, scale)
    else:
        _bail()
    if m == 0 or m > MAX_MANTISSA:
        _bail()
    mantissa[0] = m
    return 0


cdef int _quantity_slow(object q, uint64_t* mantissa, int* scale) except -1:
    """The twin's own reading, for big ints, Decimal subclasses and a Decimal whose layout is not known."""
    cdef object m
    if isinstance(q, int):
        m, s = q, 0
    else:
        if not q.is_finite():
            _bail()
        sign, digits, exponent = q.as_tuple()
        m = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
        if exponent >= 0:
            m, s = m * 10**exponent, 0
        else:
            s = -exponent
    if m <= 0 or m > MAX_MANTISSA or s > 255:
        _bail()
    mantissa[0] = m
    scale[0] = s
    return 0


cdef inline int64_t _days_from_civil(int64_t y, int64_t m, int64_t d) noexcept nogil:
    y -= 1 if m <= 2 else 0
    cdef int64_t era = (y if y >= 0 else y - 399) // 400
    cdef int64_t yoe = y - era * 400
    cdef int64_t doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    cdef int64_t doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468
