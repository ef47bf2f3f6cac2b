# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Native reader of a bulk receipt (``fiscal_core._native._reader``): a bulk element's bytes straight to the
:class:`Validated` the validation fast path gives, in one pass, for the common v5 sale.

The twin and spec is :func:`fiscal_core.api.validate.read_validated_py`: the byte reader ``scan`` (or the
decoder), the element's head, ``resolve`` and ``validate_decoded`` — the fast path the bulk API ran before
this module. For every body this module answers, the answer is the twin's, field for field and the msgpack
byte for byte (tests/test_api_reader.py, on the fast path's random and mutated corpora).

What it takes: a JSON object of ``group_code``, ``operation``, ``external_id``, ``timestamp`` and ``receipt``;
the receipt of ``company`` (``inn``, ``sno``, ``email``, ``payment_address``), ``client`` (``email``),
``items``, ``payments`` and ``total``; each item of ``name``, ``price``, ``quantity``, ``sum``, ``measure``,
``payment_method``, ``payment_object`` and ``vat`` (``type``, optional ``sum``), and for a marketplace's marked
good a ``mark_code`` of a ``gs1m`` code alone with ``mark_processing_mode`` "0" or none (the fast path's
``_gs1m``, its byte loops here in C); each payment of ``type`` and ``sum``.

- Amounts are JSON numbers without sign or exponent.
- A name or address of ASCII and Russian letters is checked here byte by byte. One with any other character,
  or with escapes (``\\u041c``, what most JSON encoders write by default), goes through the fast path's own
  text rule: CP866 as it is, else substituted with the spec's warning.
- Escaped texts are read by msgspec, as the twin's decoder reads them; an escaped key declines.
- It returns None for anything else: another key, a key twice, null, a string amount, a phone, receipt-level
  ``vats``, ``service``, a group ``resolve`` does not know, any error. The caller then takes the twin's path,
  which stays the only source of errors. So a None costs only the time spent so far, and nothing here decides
  a refusal.

Why: the twin reads the element into dicts and rows of Python objects, then checks those objects one by one;
about 30 µs of a ten-item receipt's 72 on the one-core bulk path (bench/RESULTS.md, session 20). Here the
envelope and the items are read into C values and checked there; only the objects the document is made of are
made.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memchr, memcmp, memset

from binascii import Error as _Base64Error
from binascii import a2b_base64 as _a2b_base64

import msgspec

from fiscal_core.api import _fastpath_py as _fp

cdef object _OPS = _fp._OPS
cdef object _TOP_FFD = _fp._TOP_FFD
cdef dict _VAT = _fp._VAT
cdef dict _METHODS = _fp._METHODS
cdef dict _SUBJECTS_V5 = _fp._SUBJECTS_V5
cdef dict _MEASURES = _fp._MEASURES
cdef dict _SNO = _fp._SNO
cdef dict _SHARES = _fp._SHARES
cdef object _inn_ok = _fp._inn_ok
cdef object _parse_timestamp = _fp._parse_timestamp
cdef object _email = _fp._email
cdef object _quantity = _fp._quantity
cdef object _Item = _fp.Item
cdef object _Payments = _fp.Payments
cdef object _Receipt = _fp.Receipt
cdef object _MarkingCode = _fp.MarkingCode
cdef object _GS1M = _fp._GS1M
cdef Py_ssize_t _L1305 = _fp._L1305
cdef object _PACK_ENCODE = _fp._PACK.encode
cdef Py_ssize_t _L1030 = _fp._L1030
cdef Py_ssize_t _ITEM_FIXED = _fp._ITEM_FIXED
cdef Py_ssize_t _MAX_ITEM = _fp._MAX_ITEM
cdef Py_ssize_t _RESERVE = _fp._RESERVE
cdef Py_ssize_t _MAX_DOCUMENT = _fp._MAX_DOCUMENT
cdef long long _MAX_KOPECKS = _fp._MAX_KOPECKS
cdef long long _MAX_RUB_WHOLE = _fp._MAX_RUB_WHOLE
cdef long long _MAX_THOUSANDTHS = _fp._MAX_THOUSANDTHS
cdef object _needs_map = _fp._NEEDS_MAP.search
cdef object _substituted = _fp._substituted
cdef object _Validated = _fp._Validated
cdef object _FieldWarning = _fp._FieldWarning
#: A JSON string with escapes, quotes included, to its text: msgspec's own reading, as the twin's decoder reads it.
cdef object _escaped_text = msgspec.json.Decoder(str).decode

DEF MAX_ITEMS = 100
DEF MAX_PAYMENTS = 10
DEF ITEM_FIELDS = 255     # the eight fields every item has
DEF MARK_CODE = 256
DEF MARK_MODE = 512       # mark_processing_mode "0"


def bind(spec):
    """Answer with ``spec``'s :class:`Validated` and warnings (the compiled spec defines its own classes), as
    the fast path does."""
    global _Validated, _FieldWarning
    _Validated = spec.Validated
    _FieldWarning = spec.FieldWarning


cdef struct Span:
    Py_ssize_t a      # the text's first byte (after the opening quote); 0: absent
    Py_ssize_t b      # after its last byte (the closing quote's index)
    bint escaped      # it has a backslash escape: read by msgspec (_text), never compared as bytes


cdef struct ItemRec:
    Span name
    Span method
    Span vat_type
    long long price       # kopecks
    long long qty         # thousandths
    long long amount      # kopecks
    long long vat_sum     # kopecks, -2: absent
    long long subject
    long long measure
    Span gs1m             # mark_code's gs1m (base64), when the item has a mark_code
    unsigned int seen     # the keys read: ITEM_FIELDS, MARK_CODE, MARK_MODE


cdef struct Pay:
    long long kind
    long long paid        # kopecks


cdef struct Rec:
    Span group_code, operation, external_id, timestamp
    Span inn, sno, company_email, place, client_email
    long long total
    int n_items, n_payments
    Pay payments[MAX_PAYMENTS]
    ItemRec items[MAX_ITEMS]


# Every reader below returns the index after what it read, or -1 to decline; indexes are checked against n
# before every read.

cdef inline Py_ssize_t _ws(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) noexcept:
    cdef unsigned char c
    while i < n:
        c = s[i]
        if c != 32 and c != 10 and c != 13 and c != 9:
            break
        i += 1
    return i


cdef inline bint _hex(unsigned char c) noexcept:
    return 48 <= c <= 57 or 65 <= c <= 70 or 97 <= c <= 102


cdef inline Py_ssize_t _string(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Span* out) noexcept:
    """The JSON string at ``i`` (its quote) as a span: escapes checked against JSON's grammar (their text is
    msgspec's to read), control characters refused."""
    cdef unsigned char c
    if i >= n or s[i] != 34:
        return -1
    i += 1
    out.a = i
    out.escaped = False
    while i < n:
        c = s[i]
        if c == 34:
            out.b = i
            return i + 1
        if c < 32:
            return -1
        if c == 92:
            out.escaped = True
            if i + 1 >= n:
                return -1
            c = s[i + 1]
            if c == 117:  # \uXXXX
                if i + 5 >= n or not (_hex(s[i + 2]) and _hex(s[i + 3]) and _hex(s[i + 4]) and _hex(s[i + 5])):
                    return -1
                i += 6
                continue
            if c != 34 and c != 92 and c != 47 and c != 98 and c != 102 and c != 110 and c != 114 and c != 116:
                return -1
            i += 2
            continue
        i += 1
    return -1


cdef inline bint _is(const unsigned char* s, Span k, const char* word, Py_ssize_t m) noexcept:
    return not k.escaped and k.b - k.a == m and memcmp(s + k.a, word, m) == 0


cdef inline Py_ssize_t _colon(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) noexcept:
    i = _ws(s, i, n)
    if i >= n or s[i] != 58:
        return -1
    return _ws(s, i + 1, n)


cdef inline Py_ssize_t _next(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, unsigned char close) noexcept:
    """After a member: the next key's index (past ``,``), 0 at ``close`` (returned as -2 - index after it), -1."""
    i = _ws(s, i, n)
    if i >= n:
        return -1
    if s[i] == 44:
        return _ws(s, i + 1, n)
    if s[i] == close:
        return -2 - (i + 1)
    return -1


cdef Py_ssize_t _amount(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, int decimals, long long* out) noexcept:
    """A JSON number ``digits[.digits]`` (no sign, no exponent) as the fast path's ``_kopecks`` (``decimals``
    2) or ``_thousandths`` (3) reads it; -1 for any other form or a value they refuse."""
    cdef Py_ssize_t start = i, j
    cdef long long whole = 0, frac = 0, v
    cdef long long limit = _MAX_RUB_WHOLE if decimals == 2 else 99_999
    cdef int used = 0
    cdef unsigned char c
    if i >= n or not 48 <= s[i] <= 57:
        return -1
    if s[i] == 48 and i + 1 < n and 48 <= s[i + 1] <= 57:
        return -1  # a leading zero is not JSON
    while i < n and 48 <= s[i] <= 57:
        whole = whole * 10 + (s[i] - 48)
        if whole > limit:
            return -1
        i += 1
    if i < n and (s[i] == 101 or s[i] == 69):
        return -1  # an exponent: the twin's reader decides
    if i < n and s[i] == 46:
        i += 1
        j = i
        while i < n and 48 <= s[i] <= 57:
            c = s[i]
            if used < decimals:
                frac = frac * 10 + (c - 48)
                used += 1
            elif c != 48:
                return -1
            i += 1
        if i == j or i - start > 40:
            return -1
        if i < n and (s[i] == 101 or s[i] == 69):
            return -1
        while used < decimals:
            frac *= 10
            used += 1
        v = whole * (100 if decimals == 2 else 1000) + frac
    else:  # an int
        if decimals == 2:
            v = whole * 100
        else:
            if whole == 0:
                return -1
            v = whole * 1000
    if decimals == 2:
        if v > _MAX_KOPECKS:
            return -1
    elif not 0 < v <= _MAX_THOUSANDTHS:
        return -1
    out[0] = v
    return i


cdef inline Py_ssize_t _int(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, long long* out) noexcept:
    """A JSON int of at most 9 digits, no sign (a fraction or exponent declines: the field wants an int)."""
    cdef Py_ssize_t start = i
    cdef long long v = 0
    if i >= n or not 48 <= s[i] <= 57:
        return -1
    if s[i] == 48 and i + 1 < n and 48 <= s[i + 1] <= 57:
        return -1
    while i < n and 48 <= s[i] <= 57:
        v = v * 10 + (s[i] - 48)
        i += 1
        if i - start > 9:
            return -1
    if i < n and (s[i] == 46 or s[i] == 101 or s[i] == 69):
        return -1
    out[0] = v
    return i


cdef Py_ssize_t _cp866_chars(const unsigned char* s, Span t) noexcept:
    """The characters of the UTF-8 text ``t`` when each is ASCII or a Russian letter (CP866 holds those as they
    are), else -1 (the fast path's ``_cp866`` asks the spec's pattern about anything else: so does the twin)."""
    cdef Py_ssize_t i = t.a, count = 0
    cdef unsigned char c, d
    if t.escaped:
        return -1
    while i < t.b:
        c = s[i]
        if c < 0x80:
            i += 1
        elif i + 1 < t.b:
            d = s[i + 1]
            if c == 0xD0 and (0x90 <= d <= 0xBF or d == 0x81):  # А..п, Ё
                i += 2
            elif c == 0xD1 and (0x80 <= d <= 0x8F or d == 0x91):  # р..я, ё
                i += 2
            else:
                return -1
        else:
            return -1
        count += 1
    return count


cdef inline object _text(const unsigned char* s, Span t):
    """The span's text (UTF-8; a UnicodeDecodeError for bytes that are not); with escapes, msgspec's reading of
    the string (a msgspec.DecodeError when it refuses it)."""
    if t.escaped:
        return _escaped_text(PyBytes_FromStringAndSize(<const char*>s + t.a - 1, t.b - t.a + 2))
    return PyUnicode_DecodeUTF8(<const char*>s + t.a, t.b - t.a, NULL)


cdef object _kept_text(str value, Py_ssize_t limit, list warnings, str at, Py_ssize_t index, str field):
    """The fast path's ``_text`` and, when that refuses, its ``_text_warned``, for a text with a character
    beyond ASCII and the Russian letters: CP866 may hold it as it is (``№``), else it is substituted and the
    substitution reported in ``warnings`` as the spec words it; None when the spec must decide."""
    if value and len(value) <= limit and _needs_map(value) is None:  # the fast path's _cp866, on the spec's pattern
        return value
    if not value:
        return None
    text, message = _substituted(value)
    if not text or len(text) > limit:
        return None
    if message is not None:
        path = f"{at}[{index}].{field}" if index >= 0 else at + field
        warnings.append(_FieldWarning(path=path, code="cp866_substitution", message=message))
    return text


cdef Py_ssize_t _code_start(const unsigned char* s, Py_ssize_t i, Py_ssize_t n) noexcept:
    """The fast path's ``_code_start``: after an AIM identifier (]d2, ]C1, ]Q3), then after any GS."""
    cdef unsigned char c, d
    if n - i >= 3 and s[i] == 93:
        c = s[i + 1]
        d = s[i + 2]
        if (c == 100 and d == 50) or (c == 67 and d == 49) or (c == 81 and d == 51):
            i += 3
    while i < n and s[i] == 29:
        i += 1
    return i


cdef Py_ssize_t _gs1_head(const unsigned char* s, Py_ssize_t i, Py_ssize_t g, Py_ssize_t n) noexcept:
    """The fast path's ``_gs1_head``: the length of ``01<GTIN>21<serial>`` up to the first GS at ``g``, -1 if
    the code is not one."""
    cdef Py_ssize_t length = g - i, j
    if length < 19 or s[i] != 48 or s[i + 1] != 49 or s[i + 16] != 50 or s[i + 17] != 49:
        return -1
    for j in range(i + 2, i + 16):
        if not 48 <= s[j] <= 57:
            return -1
    if g == n:
        if length > 33 and s[i + 31] == 57 and s[i + 32] == 49:
            length = 31
        elif length > 27 and s[i + 25] == 57 and s[i + 26] == 51:
            length = 25
    return length if length <= _L1305 else -1


cdef object _gs1m(str value, bint mode):
    """The fast path's ``_gs1m`` for an item of quantity 1: ``(size, full code, marking code)`` or None."""
    cdef bytes raw
    cdef const unsigned char* c
    cdef Py_ssize_t n, start, head, gs, length
    cdef const void* found
    try:
        raw = _a2b_base64(value, strict_mode=True)
    except (_Base64Error, ValueError):
        return None
    if raw[:1] == b"\xe8":  # FNC1 as byte 232
        raw = raw[1:]
    if not raw.isascii():
        return None
    c = raw
    n = len(raw)
    start = _code_start(c, 0, n)
    if start == n:
        return None
    head = _code_start(c, start, n)
    found = memchr(c + head, 29, n - head) if head < n else NULL
    gs = (<const unsigned char*>found - c) if found != NULL else n
    length = _gs1_head(c, head, gs, n)
    if length < 0:
        return None
    full = raw[start:n].decode("ascii")
    marking = _MarkingCode(kind=_GS1M, code=raw[head : head + length].decode("ascii"))
    return 4 + 4 + length + 5 + (5 if mode else 0), full, marking


# An object's members: _members reads the object at i, each member's value by its Member function, which
# dispatches on the key, reads the value into ``ctx`` and sets the key's bit in ``seen`` (_once: a key twice
# declines). The caller checks which keys were there.
ctypedef Py_ssize_t (*Member)(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Span k, void* ctx,
                              unsigned int* seen) noexcept


cdef Py_ssize_t _members(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Member read, void* ctx,
                         unsigned int* seen) noexcept:
    cdef Span k
    cdef Py_ssize_t e
    seen[0] = 0
    if i >= n or s[i] != 123:
        return -1
    i = _ws(s, i + 1, n)
    if i < n and s[i] == 125:
        return i + 1
    while True:
        i = _string(s, i, n, &k)
        if i < 0:
            return -1
        i = _colon(s, i, n)
        if i < 0:
            return -1
        i = read(s, i, n, k, ctx, seen)
        if i < 0:
            return -1
        e = _next(s, i, n, 125)
        if e < -1:
            return -2 - e
        if e < 0:
            return -1
        i = e


cdef inline Py_ssize_t _once(Py_ssize_t i, unsigned int* seen, unsigned int bit) noexcept:
    """``i`` (after a member's value), or -1 when the value was not read or its key came before."""
    if i < 0 or seen[0] & bit:
        return -1
    seen[0] |= bit
    return i


cdef Py_ssize_t _item_member(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Span k, void* ctx,
                             unsigned int* seen) noexcept:
    cdef ItemRec* it = <ItemRec*>ctx
    cdef Span mode
    cdef unsigned int inner
    if _is(s, k, "name", 4):
        return _once(_string(s, i, n, &it.name), seen, 1)
    if _is(s, k, "price", 5):
        return _once(_amount(s, i, n, 2, &it.price), seen, 2)
    if _is(s, k, "quantity", 8):
        return _once(_amount(s, i, n, 3, &it.qty), seen, 4)
    if _is(s, k, "sum", 3):
        return _once(_amount(s, i, n, 2, &it.amount), seen, 8)
    if _is(s, k, "measure", 7):
        return _once(_int(s, i, n, &it.measure), seen, 16)
    if _is(s, k, "payment_method", 14):
        return _once(_string(s, i, n, &it.method), seen, 32)
    if _is(s, k, "payment_object", 14):
        return _once(_int(s, i, n, &it.subject), seen, 64)
    if _is(s, k, "vat", 3):  # type, and a sum or not
        i = _members(s, i, n, _vat_member, ctx, &inner)
        return _once(i if inner & 1 else -1, seen, 128)
    if _is(s, k, "mark_code", 9):  # {"gs1m": "<base64>"}: the common marked good's code alone
        i = _members(s, i, n, _mark_member, ctx, &inner)
        return _once(i if inner == 1 else -1, seen, MARK_CODE)
    if _is(s, k, "mark_processing_mode", 20):
        i = _string(s, i, n, &mode)
        return _once(i if i >= 0 and _is(s, mode, "0", 1) else -1, seen, MARK_MODE)
    return -1


cdef Py_ssize_t _vat_member(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Span k, void* ctx,
                            unsigned int* seen) noexcept:
    cdef ItemRec* it = <ItemRec*>ctx
    if _is(s, k, "type", 4):
        return _once(_string(s, i, n, &it.vat_type), seen, 1)
    if _is(s, k, "sum", 3):
        return _once(_amount(s, i, n, 2, &it.vat_sum), seen, 2)
    return -1


cdef Py_ssize_t _mark_member(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Span k, void* ctx,
                             unsigned int* seen) noexcept:
    if _is(s, k, "gs1m", 4):
        return _once(_string(s, i, n, &(<ItemRec*>ctx).gs1m), seen, 1)
    return -1


cdef Py_ssize_t _payment_member(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Span k, void* ctx,
                                unsigned int* seen) noexcept:
    cdef Pay* pay = <Pay*>ctx
    if _is(s, k, "type", 4):
        return _once(_int(s, i, n, &pay.kind), seen, 1)
    if _is(s, k, "sum", 3):
        return _once(_amount(s, i, n, 2, &pay.paid), seen, 2)
    return -1


cdef Py_ssize_t _company_member(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Span k, void* ctx,
                                unsigned int* seen) noexcept:
    cdef Rec* r = <Rec*>ctx
    if _is(s, k, "inn", 3):
        return _once(_string(s, i, n, &r.inn), seen, 1)
    if _is(s, k, "sno", 3):
        return _once(_string(s, i, n, &r.sno), seen, 2)
    if _is(s, k, "email", 5):
        return _once(_string(s, i, n, &r.company_email), seen, 4)
    if _is(s, k, "payment_address", 15):
        return _once(_string(s, i, n, &r.place), seen, 8)
    return -1


cdef Py_ssize_t _client_member(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Span k, void* ctx,
                               unsigned int* seen) noexcept:
    if _is(s, k, "email", 5):
        return _once(_string(s, i, n, &(<Rec*>ctx).client_email), seen, 1)
    return -1


cdef Py_ssize_t _body_member(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Span k, void* ctx,
                             unsigned int* seen) noexcept:
    cdef Rec* r = <Rec*>ctx
    cdef unsigned int inner
    if _is(s, k, "items", 5):
        return _once(_array(s, i, n, r, 0), seen, 1)
    if _is(s, k, "payments", 8):
        return _once(_array(s, i, n, r, 1), seen, 2)
    if _is(s, k, "total", 5):
        return _once(_amount(s, i, n, 2, &r.total), seen, 4)
    if _is(s, k, "company", 7):  # every field read later is checked there
        return _once(_members(s, i, n, _company_member, ctx, &inner), seen, 8)
    if _is(s, k, "client", 6):
        return _once(_members(s, i, n, _client_member, ctx, &inner), seen, 16)
    return -1


cdef Py_ssize_t _top_member(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Span k, void* ctx,
                            unsigned int* seen) noexcept:
    cdef Rec* r = <Rec*>ctx
    cdef unsigned int inner
    if _is(s, k, "receipt", 7):
        i = _members(s, i, n, _body_member, ctx, &inner)
        return _once(i if inner == 31 else -1, seen, 1)
    if _is(s, k, "external_id", 11):
        return _once(_string(s, i, n, &r.external_id), seen, 2)
    if _is(s, k, "timestamp", 9):
        return _once(_string(s, i, n, &r.timestamp), seen, 4)
    if _is(s, k, "group_code", 10):
        return _once(_string(s, i, n, &r.group_code), seen, 8)
    if _is(s, k, "operation", 9):
        return _once(_string(s, i, n, &r.operation), seen, 16)
    return -1


cdef Py_ssize_t _array(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Rec* r, int which) noexcept:
    """``items`` (which 0) or ``payments`` (1): a non-empty array of objects."""
    cdef Py_ssize_t e
    cdef unsigned int seen
    cdef ItemRec* it
    if i >= n or s[i] != 91:
        return -1
    i = _ws(s, i + 1, n)
    while True:
        if which == 0:
            if r.n_items >= MAX_ITEMS:
                return -1
            it = &r.items[r.n_items]
            memset(it, 0, sizeof(ItemRec))  # a field the item does not have reads as absent, never as stale
            it.vat_sum = -2
            i = _members(s, i, n, _item_member, it, &it.seen)
            r.n_items += 1
        else:
            if r.n_payments >= MAX_PAYMENTS:
                return -1
            i = _members(s, i, n, _payment_member, &r.payments[r.n_payments], &seen)
            if seen != 3:
                return -1
            r.n_payments += 1
        if i < 0:
            return -1
        e = _next(s, i, n, 93)
        if e < -1:
            return -2 - e
        if e < 0:
            return -1
        i = e


def read_validated(bytes raw, resolve, str path_prefix=""):
    """``(ctx, Validated)`` for a bulk element this reader takes, where ``ctx = resolve(group_code, operation)``
    is a tuple ``(version, group_inn, group_ffd, group_sno, ...)``; None for anything else (see the module
    rules): the caller then takes the twin's path for it. ``path_prefix`` starts the warnings' paths, as the
    fast path's argument of that name does."""
    try:
        return _read(raw, resolve, path_prefix)
    except (UnicodeDecodeError, msgspec.DecodeError):
        return None


cdef object _read(bytes raw, resolve, str path_prefix):
    cdef const unsigned char* s = raw
    cdef Py_ssize_t n = len(raw), i, chars, size, item_size, j
    cdef Rec rec  # on the C stack (~10 KB): each call its own, whatever thread calls
    cdef Rec* r = &rec
    cdef ItemRec* it
    cdef long long price, q, amount, expected, vat_sum, total = 0, paid, kind, num, base
    cdef long long sums[5]
    cdef dict turnover, counts
    cdef list items, doc_sums, warnings = [], marks = []
    cdef object found, rate, tax
    cdef int code
    cdef bint taxed
    r.n_items = 0
    r.n_payments = 0
    # Span.a 0 marks a field not read: 0 is never a string's first byte (the body starts with "{").
    r.inn.a = r.sno.a = r.company_email.a = r.place.a = r.client_email.a = 0
    r.total = -1
    cdef unsigned int seen
    i = _members(s, _ws(s, 0, n), n, _top_member, r, &seen)
    if i < 0 or seen != 31 or _ws(s, i, n) != n or r.n_items == 0 or r.n_payments == 0:
        return None
    if r.sno.a == 0 or r.place.a == 0 or r.inn.a == 0 or r.company_email.a == 0 or r.client_email.a == 0:
        return None  # a company or client field absent
    operation = _text(s, r.operation)
    ctx = resolve(_text(s, r.group_code), operation)
    if ctx is None:
        return None
    version, group_inn, group_ffd, group_sno = ctx[0], ctx[1], ctx[2], ctx[3]
    if version != 5:
        return None
    op = _OPS.get((5, operation))
    if op is None or _TOP_FFD.get(5) != group_ffd:
        return None

    # the envelope
    external_id = _text(s, r.external_id)
    if not 0 < len(external_id) <= 128:
        return None
    stamp = _text(s, r.timestamp)
    if len(stamp) != 19:
        return None
    try:
        timestamp = _parse_timestamp(stamp)
    except ValueError:
        return None

    # company and client
    inn = _text(s, r.inn).strip()
    if not (len(inn) in (10, 12) and inn.isascii() and inn.isdigit() and _inn_ok(inn)):
        return None
    if group_inn is not None and inn != group_inn.strip():
        return None
    b = path_prefix + "receipt."
    chars = _cp866_chars(s, r.place)
    if 0 < chars <= 256:
        place = _text(s, r.place)
    else:
        place = _kept_text(_text(s, r.place), 256, warnings, b + "company.", -1, "payment_address")
        if place is None:
            return None
    sender = _email(_text(s, r.company_email))
    if sender is None:
        return None
    known = _SNO.get(_text(s, r.sno))
    if known is None:
        return None
    tax, tax_bit = known
    if group_sno is not None and not group_sno & tax_bit:
        return None
    contact = _email(_text(s, r.client_email))
    if contact is None:
        return None

    # items
    size = _RESERVE
    items = []
    turnover = {}
    counts = {}
    for j in range(r.n_items):
        it = &r.items[j]
        if it.seen & ITEM_FIELDS != ITEM_FIELDS or (it.seen & MARK_MODE and not it.seen & MARK_CODE):
            return None  # a field missing, or a processing mode without a code (the fast path's general case)
        chars = _cp866_chars(s, it.name)
        if 0 < chars <= _L1030:
            name = _text(s, it.name)
        else:
            name = _kept_text(_text(s, it.name), _L1030, warnings, b + "items", j, "name")
            if name is None:
                return None
            chars = len(name)
        price, q, amount = it.price, it.qty, it.amount
        expected = price * (q // 1000) if q % 1000 == 0 else (2 * price * q + 1000) // 2000
        if expected != amount:
            return None
        found = _VAT.get(_text(s, it.vat_type))
        if found is None:
            return None
        rate, code, taxed = found
        vat_sum = it.vat_sum
        if vat_sum != -2 and (vat_sum > amount or (vat_sum and not taxed)):
            return None
        method = _METHODS.get(_text(s, it.method))
        subject = _SUBJECTS_V5.get(it.subject)
        measure = _MEASURES.get(it.measure)
        if method is None or subject is None or measure is None:
            return None
        item_size = _ITEM_FIXED + chars
        marking = None
        if it.seen & MARK_CODE:  # the common marked good: one piece, a gs1m code, mode "0" or none
            if q != 1000:
                return None
            marked = _gs1m(_text(s, it.gs1m), it.seen & MARK_MODE)
            if marked is None:
                return None
            more, full, marking = marked
            item_size += more
            marks.append((j, full))
        if item_size > _MAX_ITEM:
            return None
        size += 4 + item_size
        quantity = q // 1000 if q % 1000 == 0 else _quantity(q)
        if marking is not None:
            item = _Item(name=name, price=price, quantity=quantity, sum=amount, vat=rate,
                         vat_sum=None if vat_sum == -2 else vat_sum, subject=subject, method=method, measure=measure,
                         unit_name=None, marking=marking, marking_mode=0 if it.seen & MARK_MODE else None)
        elif vat_sum == -2:
            item = _Item(name=name, price=price, quantity=quantity, sum=amount, vat=rate, subject=subject,
                         method=method, measure=measure, unit_name=None)
        else:
            item = _Item(name=name, price=price, quantity=quantity, sum=amount, vat=rate, vat_sum=vat_sum,
                         subject=subject, method=method, measure=measure, unit_name=None)
        items.append(item)
        total += amount
        turnover[code] = turnover.get(code, 0) + amount
        counts[code] = counts.get(code, 0) + 1
    if total > _MAX_KOPECKS or r.total != total:
        return None

    # payments: kinds 0-4 cover the total; change only from cash
    sums[0] = sums[1] = sums[2] = sums[3] = sums[4] = 0
    for j in range(r.n_payments):
        kind = r.payments[j].kind
        if not 0 <= kind <= 4:
            return None
        sums[kind] += r.payments[j].paid
    paid = sums[0] + sums[1] + sums[2] + sums[3] + sums[4]
    if paid < total or paid - total > sums[0]:
        return None
    if size > _MAX_DOCUMENT:
        return None

    # document_sums: per rate code [turnover, VAT, items], in item order; VAT as the rate's share
    doc_sums = [sums[0], sums[1]]
    for code_obj, amount_obj in turnover.items():
        share = _SHARES.get(code_obj)
        vat = 0
        if share is not None:
            num, base = share
            vat = (<long long>amount_obj * num * 2 + base) // (base * 2)
        doc_sums += (code_obj, amount_obj, vat, counts[code_obj])

    doc = _Receipt(
        settlement_sign=op.settlement_sign,
        tax_system=tax,
        items=tuple(items),
        payments=_Payments(cash=sums[0], electronic=sums[1], prepaid=sums[2], credit=sums[3], provision=sums[4]),
        total=total,
        vats=None,
        client_contact=contact,
        cashier=None,
        sender_email=sender,
        settlement_address=None,
        settlement_place=place,
        internet=False,
    )
    return ctx, _Validated(
        external_id=external_id,
        timestamp=timestamp,
        callback_url=None,
        operation=operation,
        version=5,
        document=doc,
        warnings=tuple(warnings),
        packed=_PACK_ENCODE(doc),
        timestamp_text=stamp,
        ism_optional=False,
        mark_codes=tuple(marks),
        sums=tuple(doc_sums),
    )
