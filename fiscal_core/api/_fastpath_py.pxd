# C types for the compiled copy of _fastpath_py.py (Cython's "augmenting .pxd"; the .py stays plain Python).
# The digit loops and the kopeck arithmetic run on C integers: every value is range-checked before it gets here
# (42 949 672.95 ₽ × 99 999.999 × 2 < 2**63), and Python ints of any size never reach a C variable unchecked.
cimport cython

cdef object _Validated
cdef object _FieldWarning
# Module constants the C code compares with, and the byte reader's key tables, as C-level module variables.
cdef long long _MAX_KOPECKS, _MAX_RUB_WHOLE, _MAX_THOUSANDTHS
cdef int _NULL, _MAX_DEPTH
cdef dict _TOP_KEYS, _BODY_KEYS, _ITEM_KEYS, _SERVICE_KEYS, _COMPANY_KEYS, _CLIENT_KEYS, _TYPE_SUM_KEYS, _MARK_KEYS
cdef tuple _MARK_FIELDS
cdef tuple _TOP_NAMES, _BODY_NAMES, _ITEM_NAMES, _SERVICE_NAMES, _COMPANY_NAMES, _CLIENT_NAMES, _TYPE_SUM_NAMES
# The tables an item is looked up in, and the limits its sizes are checked against: C-level, so a lookup is a
# PyDict call (not a bound ``get`` method made per call) and a limit is not converted from a Python int per item.
cdef dict _VAT, _METHODS, _SUBJECTS_V4, _SUBJECTS_V5, _MEASURES, _SNO, _TOP_FFD, _OPS, _SHARES
cdef Py_ssize_t _L1030, _L1197, _L1021, _ITEM_FIXED, _MAX_ITEM, _RESERVE, _MAX_DOCUMENT
cdef long long _TOTAL_TOLERANCE

@cython.locals(value=object)
cdef dict _child(dict obj, str key)

@cython.locals(key=object, value=object)
cdef bint _plain(dict obj, frozenset handled, frozenset other) except -1

@cython.locals(i=Py_ssize_t, c=cython.int, whole=cython.longlong, frac=cython.longlong, used=cython.int,
               scale=cython.longlong)
cdef long long _digits(const unsigned char* s, Py_ssize_t start, Py_ssize_t n, int decimals,
                       long long limit_whole) except -2

@cython.locals(k=cython.longlong, text=bytes)
cdef long long _kopecks(object value) except -2

@cython.locals(q=cython.longlong, text=bytes)
cdef long long _thousandths(object value) except -2

# The byte reader: every index is a Py_ssize_t, -1 declines. ``s`` is the body's buffer (a bytes object's, so
# s[n] is its terminating NUL): every read is at an index checked against n first.
@cython.locals(c=cython.uchar)
cdef Py_ssize_t _ws(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) except -2

@cython.locals(c=cython.uchar)
cdef Py_ssize_t _str_end(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, bint ascii_only) except -2

@cython.locals(c=cython.uchar)
cdef Py_ssize_t _num_end(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) except -2

@cython.locals(m=Py_ssize_t, j=Py_ssize_t)
cdef inline bint _same(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, const char* word) noexcept

@cython.locals(found=tuple, word=bytes, code=Py_ssize_t)
cdef Py_ssize_t _lookup(const unsigned char* s, Py_ssize_t i, Py_ssize_t e, dict table) except -2

@cython.locals(c=cython.uchar, m=Py_ssize_t)
cdef Py_ssize_t _item_key(const unsigned char* s, Py_ssize_t i, Py_ssize_t e) except -2

@cython.locals(c=cython.uchar, m=Py_ssize_t)
cdef Py_ssize_t _lit_end(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) except -2

@cython.locals(c=cython.uchar)
cdef Py_ssize_t _scalar_end(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) except -2

@cython.locals(c=cython.uchar, j=Py_ssize_t, v=cython.longlong, negative=bint)
cdef object _scalar(const unsigned char* s, Py_ssize_t i, Py_ssize_t e)

cdef Py_ssize_t _SHORT_TEXT, _TEXT_SLOTS
cdef list _texts

@cython.locals(h=cython.ulonglong, j=Py_ssize_t, slot=tuple, word=bytes, found=str, text=str)
cdef str _short_text(const unsigned char* s, Py_ssize_t i, Py_ssize_t e)

@cython.locals(j=Py_ssize_t)
cdef inline bint _same_text(const unsigned char* s, Py_ssize_t i, const unsigned char* word, Py_ssize_t m) noexcept

cdef object _short_scalar(const unsigned char* s, Py_ssize_t i, Py_ssize_t e)

@cython.locals(c=cython.uchar, j=Py_ssize_t, w=cython.longlong, v=cython.longlong, negative=bint)
cdef long long _amount(const unsigned char* s, Py_ssize_t i, Py_ssize_t e, int decimals) except -2

@cython.locals(c=cython.uchar, close=cython.uchar, e=Py_ssize_t)
cdef Py_ssize_t _skip(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, int depth) except -2

@cython.locals(seen=cython.ulonglong, e=Py_ssize_t, k=Py_ssize_t)
cdef Py_ssize_t _flat(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, dict keys, tuple names, dict out) except -2

@cython.locals(d=dict)
cdef Py_ssize_t _flat_list(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, dict keys, tuple names,
                          list out) except -2

@cython.locals(seen=cython.ulonglong, e=Py_ssize_t, k=Py_ssize_t, given=cython.longlong)
cdef Py_ssize_t _vat(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, list out) except -2

@cython.locals(seen=cython.ulonglong, e=Py_ssize_t, k=Py_ssize_t, price=cython.longlong,
               q=cython.longlong, amount=cython.longlong)
cdef Py_ssize_t _item(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, list rows, list vats) except -2

@cython.locals(seen=cython.ulonglong, e=Py_ssize_t, k=Py_ssize_t, d=dict, rows=list, entries=list, scratch=list)
cdef Py_ssize_t _body(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, dict body) except -2

@cython.locals(seen=cython.ulonglong, e=Py_ssize_t, k=Py_ssize_t, d=dict, body=dict)
cdef Py_ssize_t _top(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, dict top) except -2

@cython.locals(n=Py_ssize_t, i=Py_ssize_t, top=dict)
cpdef object scan(bytes raw)

cdef long long _vat_in(long long gross, long long rate, long long base)

@cython.locals(whole=cython.longlong, frac=cython.longlong)
cdef object _quantity(long long q)

cdef dict _QUANTITIES

@cython.locals(mark=object, given=dict, key=object, value=object, stand_in=object, run=object, extra=dict,
               plain_mode=bint)
cdef object _marking(object mark_in, object mode_in, object status_in, object quantity)

@cython.locals(raw=bytes, full=str, code=str, extra=dict, size=Py_ssize_t, n=Py_ssize_t, start=Py_ssize_t,
               head=Py_ssize_t, gs=Py_ssize_t, length=Py_ssize_t)
cdef object _gs1m(str value, bint mode, object quantity)

cdef Py_ssize_t _L1305

# The decoded gs1m code read in place (``s`` a bytes object's buffer, every index checked against n first).
@cython.locals(c=cython.uchar, d=cython.uchar)
cdef Py_ssize_t _code_start(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) noexcept

@cython.locals(length=Py_ssize_t, j=Py_ssize_t)
cdef Py_ssize_t _gs1_head(const unsigned char* s, Py_ssize_t i, Py_ssize_t g, Py_ssize_t n) noexcept

@cython.locals(ch=Py_UCS4, c=Py_UCS4)
cdef bint _cp866(str s) except -1

cdef object _text(object value, Py_ssize_t limit)

cdef object _text_warned(object value, Py_ssize_t limit, list warnings, str at, Py_ssize_t index, str name)

cdef object _email(object value)

@cython.locals(v5=bint, price=cython.longlong, q=cython.longlong, amount=cython.longlong,
               expected=cython.longlong, vat_sum=cython.longlong, total=cython.longlong, size=cython.longlong,
               item_size=cython.longlong, k=cython.longlong, paid_k=cython.longlong, paid=cython.longlong,
               claimed=cython.longlong, num=cython.longlong, base=cython.longlong, j=Py_ssize_t,
               position=Py_ssize_t, code=cython.int, taxed=bint,
               req=dict, body=dict, company=dict, client=dict, it=dict, vat=dict, entry=dict, p=dict,
               items=list, rates=list, claimed_vat=list, turnover=dict, sums=list, warnings=list,
               marks=list, counts=dict, by_rate=dict, doc_sums=list, item_row=tuple, vat_given=cython.longlong,
               extra=dict)
cpdef object validate_decoded(object obj, object version, object operation, object group_inn, object group_ffd,
                              object group_sno, str path_prefix=*, bint scanned=*)

cpdef object decode(object raw)

cpdef object validate_fast(bytes raw, object version, object operation, object group_inn, object group_ffd,
                           object group_sno, str path_prefix=*)
