# C types for the compiled copy of _fastpath_py.py (Cython's "augmenting .pxd"; the .py stays plain Python).
# The digit loops and the kopeck arithmetic run on C integers: every value is range-checked before it gets here
# (42 949 672.95 ₽ × 99 999.999 × 2 < 2**63), and Python ints of any size never reach a C variable unchecked.
cimport cython

cdef object _Validated
cdef object _FieldWarning

@cython.locals(value=object)
cdef dict _child(dict obj, str key)

@cython.locals(key=object, value=object)
cdef bint _plain(dict obj, frozenset handled, frozenset other) except -1

@cython.locals(n=Py_ssize_t, i=Py_ssize_t, c=cython.int, whole=cython.longlong, frac=cython.longlong,
               used=cython.int, scale=cython.longlong)
cdef long long _digits(bytes s, int decimals, long long limit_whole) except -2

@cython.locals(k=cython.longlong)
cdef long long _kopecks(object value) except -2

@cython.locals(q=cython.longlong)
cdef long long _thousandths(object value) except -2

cdef long long _vat_in(long long gross, long long rate, long long base)

@cython.locals(whole=cython.longlong, frac=cython.longlong)
cdef object _quantity(long long q)

cdef dict _QUANTITIES

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
               marks=list, counts=dict, by_rate=dict, doc_sums=list)
cpdef object validate_decoded(object obj, object version, object operation, object group_inn, object group_ffd,
                              object group_sno, str path_prefix=*)

cpdef object decode(object raw)

cpdef object validate_fast(bytes raw, object version, object operation, object group_inn, object group_ffd,
                           object group_sno, str path_prefix=*)
