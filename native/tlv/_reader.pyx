# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Native reader of a bulk receipt (``fiscal_core._native._reader``): a bulk element's bytes straight to what
the journal and the fleet take, in one pass, for the common v5 sale: the ``Validated`` envelope, the document's
msgpack row, its capability bits and its TLV body.

The twin and spec is :func:`fiscal_core.api.validate.read_validated_py`: the byte reader ``scan`` (or the
decoder), the element's head, ``resolve`` and ``validate_decoded`` — the fast path the bulk API ran before
this module — then ``msgspec`` packing, ``capability_bits`` and ``encode_body`` on the fast path's document.
For every body this module answers, the answer is the twin's: the envelope field for field, the row and the
body byte for byte (tests/test_api_reader.py, on the fast path's random and mutated corpora, checked again
against the pure-Python ``encode_body`` of the document the row holds).

What it takes: a JSON object of ``group_code``, ``operation``, ``external_id``, ``timestamp`` and ``receipt``;
the receipt of ``company`` (``inn``, ``sno``, ``email``, ``payment_address``), ``client`` (``email``, ``phone``),
``items``, ``payments`` and ``total``; each item of ``name``, ``price``, ``quantity``, ``sum``, ``measure``,
``payment_method``, ``payment_object`` and ``vat`` (``type``, optional ``sum``), and for a marketplace's marked
good a ``mark_code`` of a ``gs1m`` code alone with ``mark_processing_mode`` "0" or none (the fast path's
``_gs1m``, its byte loops here in C, and its base64 decoded here by binascii's strict rules); each payment of
``type`` and ``sum``.

- Amounts are JSON numbers without sign or exponent.
- A name or address of ASCII and Russian letters is checked here byte by byte, and written from its bytes
  (UTF-8 in the row, CP866 through the codec's table in the body). One with any other character, or with
  escapes (``\\u041c``, what most JSON encoders write by default), goes through the fast path's own text rule:
  CP866 as it is, else substituted with the spec's warning; the resulting text is written.
- An e-mail of ASCII without escapes is checked here against the spec's pattern; any other goes to the fast
  path's ``_email``. A client's phone goes to the fast path's ``_phone`` (normalised: the text written is its
  answer), and is the buyer's contact when there is no e-mail.
- Escaped texts are read by msgspec, as the twin's decoder reads them; an escaped key declines.
- No ``Receipt`` or ``Item`` is made. The row is written as msgspec packs the fast path's ``Receipt``
  (``_write_row``; the Struct header rule is checked at import), and the body as ``_receipt_nodes`` lays it out
  (``_write_body``, with the receipt encoder's own TLV writers and tables, ``_tlv_write.pxi`` and
  ``_receipt_tables.pxi``). The body needs the group's drive identity; without one (a group another process
  fiscalizes) there is no body.
- It returns None for anything else: another key, a key twice, null, a string amount, receipt-level
  ``vats``, ``service``, a group ``resolve`` does not know, a value the body's writers refuse, any error. The
  caller then takes the twin's path, which stays the only source of errors. So a None costs only the time
  spent so far, and nothing here decides a refusal.

Why: the twin reads the element into dicts and rows of Python objects, checks those objects one by one, builds
the document's objects, packs them and encodes the body from them; about 30 µs of a ten-item receipt's 72 on
the one-core bulk path (bench/RESULTS.md, session 20). Here the envelope and the items are read into C values,
checked there and written from there.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_DecodeASCII, PyUnicode_DecodeUTF8
from libc.stdio cimport snprintf
from libc.string cimport memchr, memcmp, memcpy, memset, strlen

include "_tlv_write.pxi"
include "_receipt_tables.pxi"

from binascii import Error as _Base64Error
from binascii import a2b_base64 as _a2b_base64

import msgspec

from fiscal_core.api import _fastpath_py as _fp
from fiscal_core.ffd import _receipt_body_py as _body_spec
from fiscal_core.ffd.enums import FfdVersion as _FfdVersion

cdef object _OPS = _fp._OPS
cdef object _TOP_FFD = _fp._TOP_FFD
cdef dict _VAT = _fp._VAT
cdef dict _METHODS = _fp._METHODS
cdef dict _SUBJECTS_V5 = _fp._SUBJECTS_V5
cdef dict _MEASURES = _fp._MEASURES
cdef dict _SNO = _fp._SNO
cdef object _inn_ok = _fp._inn_ok
cdef object _parse_timestamp = _fp._parse_timestamp
cdef object _email = _fp._email
cdef object _phone = _fp._phone
cdef Py_ssize_t _L1305 = _fp._L1305
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

# What the row and the body are written with (the spec modules' values, checked here once).
cdef int _GS1M_C = _fp._GS1M                        # 1163's sub-tag of a gs1m code: 1305
cdef int _FFD12_C = int(_FfdVersion.FFD_12)         # 1209 of an FFD 1.2 document
cdef int CAP_EXCISE_BIT = _body_spec.CAP_EXCISE
cdef int CAP_MARKED_BIT = _body_spec.CAP_MARKED
cdef unsigned long long EXCISE_MASK = 0, MARKED_MASK = 0  # 1212 codes (below 64) of excise / marked subjects
cdef const char* _PAY_KEYS[5]
_PAY_KEYS[:] = [b"cash", b"electronic", b"prepaid", b"credit", b"provision"]
cdef object _ReceiptBody = _body_spec.ReceiptBody
for _code in _body_spec.EXCISE_SUBJECTS:
    EXCISE_MASK |= 1ULL << _code
for _code in _body_spec.MARKED_SUBJECTS:
    MARKED_MASK |= 1ULL << _code
# msgspec writes a Struct's map header before it knows how many defaults it omits: map16 for a Struct of 16
# fields or more (Receipt, Item), a fixmap for the small ones (Payments, MarkingCode); _write_row does the same.
_probe = msgspec.msgpack.encode(_fp.Receipt(settlement_sign=1, tax_system=1, items=(_fp.Item(
    name="a", price=1, quantity=1, sum=1, vat=6, subject=1, method=4, measure=0, marking=_fp.MarkingCode(
        kind=1305, code="b")),), payments=_fp.Payments(), total=1))
if _GS1M_C != 1305 or not mark_ok[_GS1M_C - 1300] or tuple(_fp.Payments.__struct_fields__[:5]) != (
        "cash", "electronic", "prepaid", "credit", "provision") or _probe[:3] != b"\xde\x00\x05" \
        or b"\xa5items\x91\xde\x00\x09" not in _probe or b"\xa8payments\x80" not in _probe \
        or b"\xa7marking\x82" not in _probe:
    raise ImportError("the bulk reader's row and body writers no longer match the spec modules")

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
    # set by _read once the item is checked, for the row and the body:
    PyObject* name_text   # the name when it is not its span's own bytes (escaped or substituted), else NULL
    char code[40]         # the 1305 code (ASCII) of a marked good; code_len 0: not marked
    int code_len
    int rate, method_code, subject_code, measure_code  # 1199, 1214, 1212, 2108


cdef struct Pay:
    long long kind
    long long paid        # kopecks


cdef struct Rec:
    Span group_code, operation, external_id, timestamp
    Span inn, sno, company_email, place, client_email, client_phone
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


cdef inline Py_ssize_t _jstr(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Span* out) noexcept:
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


DEF GS1M_BUF = 512   # a decoded marking code on the stack; a longer one is decoded by binascii


cdef unsigned char _B64[256]   # base64 alphabet byte -> its 6 bits; 255: not in the alphabet ('=' included)
for _i in range(256):
    _B64[_i] = 255
for _i, _c in enumerate(bytearray(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")):
    _B64[_c] = _i


cdef Py_ssize_t _b64_strict(const unsigned char* s, Py_ssize_t a, Py_ssize_t b, unsigned char* out,
                            Py_ssize_t cap) noexcept:
    """``binascii.a2b_base64(s[a:b], strict_mode=True)`` into ``out``, by CPython's own rules: its length; -1
    where it raises (a byte outside the alphabet, leading or discontinuous padding, data after the padding, a
    length 1 more than a multiple of 4, incomplete padding); -2 when it might not fit in ``cap``."""
    cdef Py_ssize_t i, n = 0
    cdef int quad_pos = 0, pads = 0
    cdef unsigned int left = 0, v
    cdef bint padding_started = False
    cdef unsigned char c
    if (b - a) // 4 * 3 + 3 > cap:
        return -2
    if a < b and s[a] == 61:
        return -1  # leading padding
    for i in range(a, b):
        c = s[i]
        if c == 61:  # '=': a full quad's padding ends the data (strict: nothing may follow)
            padding_started = True
            if quad_pos >= 2:
                pads += 1
                if quad_pos + pads >= 4:
                    return -1 if i + 1 < b else n
            continue
        v = _B64[c]
        if v == 255 or padding_started:
            return -1  # not base64, or data after a padding character
        pads = 0
        if quad_pos == 0:
            quad_pos, left = 1, v
        elif quad_pos == 1:
            out[n] = <unsigned char>(((left << 2) | (v >> 4)) & 0xFF)
            n += 1
            quad_pos, left = 2, v & 0x0F
        elif quad_pos == 2:
            out[n] = <unsigned char>(((left << 4) | (v >> 2)) & 0xFF)
            n += 1
            quad_pos, left = 3, v & 0x03
        else:
            out[n] = <unsigned char>(((left << 6) | v) & 0xFF)
            n += 1
            quad_pos, left = 0, 0
    return n if quad_pos == 0 else -1


def _b64_probe(bytes data):
    """For tests: ``_b64_strict`` on ``data``: the bytes, None where binascii raises, or the str "long"."""
    cdef unsigned char buf[GS1M_BUF]
    cdef Py_ssize_t n = _b64_strict(data, 0, len(data), buf, GS1M_BUF)
    if n == -2:
        return "long"
    return None if n < 0 else PyBytes_FromStringAndSize(<const char*>buf, n)


cdef object _gs1m_code(const unsigned char* c, Py_ssize_t n, bint mode, ItemRec* it):
    """The fast path's ``_gs1m`` on the decoded code: ``(size, full code)`` or None; the 1305 code (the
    document's ``MarkingCode(kind=1305, code=...)``) goes to ``it.code``."""
    cdef Py_ssize_t i, start, head, gs, length
    cdef const void* found
    if n and c[0] == 0xE8:  # FNC1 as byte 232
        c += 1
        n -= 1
    for i in range(n):
        if c[i] >= 0x80:
            return None
    start = _code_start(c, 0, n)
    if start == n:
        return None
    head = _code_start(c, start, n)
    found = memchr(c + head, 29, n - head) if head < n else NULL
    gs = (<const unsigned char*>found - c) if found != NULL else n
    length = _gs1_head(c, head, gs, n)
    if length < 0 or length > <Py_ssize_t>sizeof(it.code):
        return None
    memcpy(it.code, c + head, length)
    it.code_len = <int>length
    return 4 + 4 + length + 5 + (5 if mode else 0), PyUnicode_DecodeASCII(<const char*>c + start, n - start, NULL)


cdef object _gs1m(const unsigned char* s, Span t, bint mode, ItemRec* it):
    """The fast path's ``_gs1m`` for an item of quantity 1 (see ``_gs1m_code``): the span decoded here, or by
    binascii when it has escapes (its text is msgspec's) or is long."""
    cdef unsigned char buf[GS1M_BUF]
    cdef Py_ssize_t n
    cdef bytes raw
    if not t.escaped:
        n = _b64_strict(s, t.a, t.b, buf, GS1M_BUF)
        if n == -1:
            return None
        if n >= 0:
            return _gs1m_code(buf, n, mode, it)
    try:
        raw = _a2b_base64(_text(s, t), strict_mode=True)
    except (_Base64Error, ValueError):
        return None
    return _gs1m_code(raw, len(raw), mode, it)


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
        i = _jstr(s, i, n, &k)
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
        return _once(_jstr(s, i, n, &it.name), seen, 1)
    if _is(s, k, "price", 5):
        return _once(_amount(s, i, n, 2, &it.price), seen, 2)
    if _is(s, k, "quantity", 8):
        return _once(_amount(s, i, n, 3, &it.qty), seen, 4)
    if _is(s, k, "sum", 3):
        return _once(_amount(s, i, n, 2, &it.amount), seen, 8)
    if _is(s, k, "measure", 7):
        return _once(_int(s, i, n, &it.measure), seen, 16)
    if _is(s, k, "payment_method", 14):
        return _once(_jstr(s, i, n, &it.method), seen, 32)
    if _is(s, k, "payment_object", 14):
        return _once(_int(s, i, n, &it.subject), seen, 64)
    if _is(s, k, "vat", 3):  # type, and a sum or not
        i = _members(s, i, n, _vat_member, ctx, &inner)
        return _once(i if inner & 1 else -1, seen, 128)
    if _is(s, k, "mark_code", 9):  # {"gs1m": "<base64>"}: the common marked good's code alone
        i = _members(s, i, n, _mark_member, ctx, &inner)
        return _once(i if inner == 1 else -1, seen, MARK_CODE)
    if _is(s, k, "mark_processing_mode", 20):
        i = _jstr(s, i, n, &mode)
        return _once(i if i >= 0 and _is(s, mode, "0", 1) else -1, seen, MARK_MODE)
    return -1


cdef Py_ssize_t _vat_member(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Span k, void* ctx,
                            unsigned int* seen) noexcept:
    cdef ItemRec* it = <ItemRec*>ctx
    if _is(s, k, "type", 4):
        return _once(_jstr(s, i, n, &it.vat_type), seen, 1)
    if _is(s, k, "sum", 3):
        return _once(_amount(s, i, n, 2, &it.vat_sum), seen, 2)
    return -1


cdef Py_ssize_t _mark_member(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Span k, void* ctx,
                             unsigned int* seen) noexcept:
    if _is(s, k, "gs1m", 4):
        return _once(_jstr(s, i, n, &(<ItemRec*>ctx).gs1m), seen, 1)
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
        return _once(_jstr(s, i, n, &r.inn), seen, 1)
    if _is(s, k, "sno", 3):
        return _once(_jstr(s, i, n, &r.sno), seen, 2)
    if _is(s, k, "email", 5):
        return _once(_jstr(s, i, n, &r.company_email), seen, 4)
    if _is(s, k, "payment_address", 15):
        return _once(_jstr(s, i, n, &r.place), seen, 8)
    return -1


cdef Py_ssize_t _client_member(const unsigned char* s, Py_ssize_t i, Py_ssize_t n, Span k, void* ctx,
                               unsigned int* seen) noexcept:
    if _is(s, k, "email", 5):
        return _once(_jstr(s, i, n, &(<Rec*>ctx).client_email), seen, 1)
    if _is(s, k, "phone", 5):
        return _once(_jstr(s, i, n, &(<Rec*>ctx).client_phone), seen, 2)
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
        return _once(_jstr(s, i, n, &r.external_id), seen, 2)
    if _is(s, k, "timestamp", 9):
        return _once(_jstr(s, i, n, &r.timestamp), seen, 4)
    if _is(s, k, "group_code", 10):
        return _once(_jstr(s, i, n, &r.group_code), seen, 8)
    if _is(s, k, "operation", 9):
        return _once(_jstr(s, i, n, &r.operation), seen, 16)
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


# ----------------------------------------------------------------------------- e-mail

cdef inline bint _email_char(unsigned char c) noexcept:
    """A character the spec's e-mail pattern allows in the local part and in a domain label (a label has no dot
    either: the caller splits on dots): not ``@``, whitespace (ASCII's, with \\x1c-\\x1f as Python's ``\\s``
    has them) or ``"(),:;<>[]\\``."""
    if c <= 32:
        return not (c == 32 or 9 <= c <= 13 or 28 <= c <= 31)
    if c == 64 or c == 34 or c == 40 or c == 41 or c == 44 or c == 58 or c == 59 or c == 60 or c == 62:
        return False
    return not (c == 91 or c == 93 or c == 92)


cdef int _email_span(const unsigned char* s, Span t) noexcept:
    """The fast path's ``_email`` on an ASCII text without escapes: 1 when it holds, 0 when not; -1 for any other
    text (the fast path's own function then decides)."""
    cdef Py_ssize_t i, at = -1, labels = 0, length = 0
    cdef unsigned char c
    if t.escaped:
        return -1
    for i in range(t.a, t.b):
        if s[i] >= 0x80:
            return -1
    if not 0 < t.b - t.a <= 64:
        return 0
    for i in range(t.a, t.b):
        c = s[i]
        if c == 64:
            at = i
            break
        if not _email_char(c):
            return 0
    if at <= t.a:
        return 0  # no @, or an empty local part
    for i in range(at + 1, t.b):
        c = s[i]
        if c == 46:
            if length == 0:
                return 0
            labels += 1
            length = 0
        elif _email_char(c):
            length += 1
        else:
            return 0
    return 1 if length > 0 and labels >= 1 else 0


cdef object _email_text(const unsigned char* s, Span t):
    """The e-mail at ``t`` as the row and the body take it: None when its span is written as it is (ASCII,
    checked here), its text when the fast path's ``_email`` took it, False when refused."""
    cdef int k = _email_span(s, t)
    if k < 0:
        text = _email(_text(s, t))
        return False if text is None else text
    return None if k else False


# ----------------------------------------------------------------------------- writing the row and the body

cdef inline int _mp_uint(Buf* b, unsigned long long v) except -1:
    """A non-negative int as msgspec writes it: the shortest of fixint, uint8/16/32/64 (big-endian)."""
    cdef uint8_t* p
    cdef int width, k
    _reserve(b, 9)
    p = b.p + b.len
    if v < 128:
        p[0] = <uint8_t>v
        b.len += 1
        return 0
    if v <= 0xFF:
        p[0], width = 0xCC, 1
    elif v <= 0xFFFF:
        p[0], width = 0xCD, 2
    elif v <= 0xFFFFFFFF:
        p[0], width = 0xCE, 4
    else:
        p[0], width = 0xCF, 8
    for k in range(width):
        p[1 + k] = (v >> (8 * (width - 1 - k))) & 0xFF
    b.len += 1 + width
    return 0


cdef inline int _mp_head(Buf* b, uint8_t fix, uint8_t limit, uint8_t wide, Py_ssize_t n) except -1:
    """A str, map or array header: ``fix | n`` below ``limit``, else ``wide`` with a 16-bit length (32-bit for
    a str past 65535, 0xdb; a str of 32-255 bytes is str8, 0xd9)."""
    cdef uint8_t* p
    _reserve(b, 5)
    p = b.p + b.len
    if n < limit:
        p[0] = fix | <uint8_t>n
        b.len += 1
    elif fix == 0xA0 and n <= 0xFF:
        p[0], p[1] = 0xD9, <uint8_t>n
        b.len += 2
    elif n <= 0xFFFF:
        p[0], p[1], p[2] = wide, (n >> 8) & 0xFF, n & 0xFF
        b.len += 3
    else:
        p[0], p[1], p[2], p[3], p[4] = wide + 1, (n >> 24) & 0xFF, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF
        b.len += 5
    return 0


cdef inline int _mp_map16(Buf* b, Py_ssize_t n) except -1:
    """A Struct's map header as msgspec writes it for a Struct of 16 fields or more (Receipt, Item): map16
    whatever the count, which omitted defaults make known only after the header."""
    _reserve(b, 3)
    b.p[b.len], b.p[b.len + 1], b.p[b.len + 2] = 0xDE, (n >> 8) & 0xFF, n & 0xFF
    b.len += 3
    return 0


cdef inline int _mp_bytes(Buf* b, const char* data, Py_ssize_t n) except -1:
    """A str of ``n`` UTF-8 bytes."""
    _mp_head(b, 0xA0, 32, 0xDA, n)
    _reserve(b, n)
    memcpy(b.p + b.len, data, n)
    b.len += n
    return 0


cdef inline int _mp_key(Buf* b, const char* key, unsigned long long value) except -1:
    """A member with an int value (keys are short ASCII)."""
    _mp_bytes(b, key, strlen(key))
    return _mp_uint(b, value)


cdef int _mp_text(Buf* b, const unsigned char* s, Span t, object text) except -1:
    """A text: the span's own bytes when ``text`` is None (a span without escapes is its UTF-8), else ``text``."""
    cdef const char* data
    cdef Py_ssize_t n
    if text is None:
        return _mp_bytes(b, <const char*>s + t.a, t.b - t.a)
    data = PyUnicode_AsUTF8AndSize(text, &n)
    return _mp_bytes(b, data, n)


cdef int _tlv_text(Buf* b, uint16_t tag, const unsigned char* s, Span t, object text, Py_ssize_t limit) except -1:
    """A STRING tag: ``text`` through the CP866 table (``_string``), or when it is None the span, of ASCII and the
    Russian letters only (``_cp866_chars`` said so), converted here byte by byte."""
    cdef Py_ssize_t i = t.a, j = 0
    cdef uint8_t* out
    cdef unsigned char c
    if text is not None:
        return _string(b, tag, <PyObject*>text, limit, False)
    _reserve(b, 4 + t.b - t.a)
    out = b.p + b.len + 4
    while i < t.b:
        c = s[i]
        if c < 0x80:
            out[j] = c
            i += 1
        else:
            out[j] = enc_table[((c & 0x1F) << 6) | (s[i + 1] & 0x3F)]
            i += 2
        j += 1
    if j > limit:
        _bail()
    _header(b.p + b.len, tag, j)
    b.len += 4 + j
    return 0


cdef int _ascii(Buf* b, uint16_t tag, const char* data, Py_ssize_t n, Py_ssize_t max_length, bint fixed) except -1:
    """A STRING tag of ASCII bytes (CP866 holds them as they are), as ``_string`` writes it: at most
    ``max_length``, a fixed-width one right-padded with spaces."""
    cdef Py_ssize_t width = max_length if fixed else n
    if n > max_length:
        _bail()
    _reserve(b, 4 + width)
    memcpy(b.p + b.len + 4, data, n)
    if width > n:
        memset(b.p + b.len + 4 + n, 0x20, width - n)
    _header(b.p + b.len, tag, width)
    b.len += 4 + width
    return 0


cdef inline bint _bit(unsigned long long mask, int code) noexcept:
    return 0 <= code < 64 and (mask >> code) & 1


def read_validated(bytes raw, resolve, str path_prefix=""):
    """``(ctx, Validated, caps, body)`` for a bulk element this reader takes, None for anything else (see the
    module rules): the caller then takes the twin's path for it.

    ``ctx = resolve(group_code, operation)`` is a tuple ``(version, group_inn, group_ffd, group_sno, group,
    identity)``. The ``Validated`` has no document: its ``packed`` is the document's msgpack. ``caps`` is the
    document's ``capability_bits``, and ``body`` its ``encode_body(identity, document)``, or None when
    ``identity`` is None. ``path_prefix`` starts the warnings' paths, as the fast path's argument of that name
    does."""
    try:
        return _read(raw, resolve, path_prefix)
    except (UnicodeDecodeError, msgspec.DecodeError, _Bail):
        return None


cdef object _read(bytes raw, resolve, str path_prefix):
    cdef const unsigned char* s = raw
    cdef Py_ssize_t n = len(raw), i, chars, size, item_size, j, place_chars, at
    cdef Rec rec  # on the C stack (~12 KB): each call its own, whatever thread calls
    cdef Rec* r = &rec
    cdef ItemRec* it
    cdef long long price, q, amount, expected, vat_sum, total = 0, paid, kind, num, base
    cdef long long sums[5]
    cdef unsigned long long turnover[N_RATES]
    cdef unsigned long long vat_of[N_RATES]
    cdef long long counts[N_RATES]
    cdef int order[N_RATES]
    cdef int n_rates = 0, rate_code, caps = 0
    cdef unsigned int present = 0
    cdef list warnings = [], marks = [], keep = [], doc_sums
    cdef object found, tax, place = None, sender = None, contact = None
    cdef bint taxed
    cdef Buf row, body
    cdef uint8_t row_stack[STACK_BUF]
    cdef uint8_t body_stack[STACK_BUF]
    r.n_items = 0
    r.n_payments = 0
    # Span.a 0 marks a field not read: 0 is never a string's first byte (the body starts with "{").
    r.inn.a = r.sno.a = r.company_email.a = r.place.a = r.client_email.a = r.client_phone.a = 0
    r.total = -1
    cdef unsigned int seen
    i = _members(s, _ws(s, 0, n), n, _top_member, r, &seen)
    if i < 0 or seen != 31 or _ws(s, i, n) != n or r.n_items == 0 or r.n_payments == 0:
        return None
    if r.sno.a == 0 or r.place.a == 0 or r.inn.a == 0 or r.company_email.a == 0:
        return None  # a company field absent
    operation = _text(s, r.operation)
    ctx = resolve(_text(s, r.group_code), operation)
    if ctx is None:
        return None
    version, group_inn, group_ffd, group_sno, identity = ctx[0], ctx[1], ctx[2], ctx[3], ctx[5]
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

    # company and client; a text kept as None is its span's own bytes (ASCII and the Russian letters)
    inn = _text(s, r.inn).strip()
    if not (len(inn) in (10, 12) and inn.isascii() and inn.isdigit() and _inn_ok(inn)):
        return None
    if group_inn is not None and inn != group_inn.strip():
        return None
    b = path_prefix + "receipt."
    place_chars = _cp866_chars(s, r.place)
    if not 0 < place_chars <= 256:
        place = _kept_text(_text(s, r.place), 256, warnings, b + "company.", -1, "payment_address")
        if place is None:
            return None
    sender = _email_text(s, r.company_email)
    if sender is False:
        return None
    known = _SNO.get(_text(s, r.sno))
    if known is None:
        return None
    tax, tax_bit = known
    if group_sno is not None and not group_sno & tax_bit:
        return None
    # the client: an e-mail, else a phone (the fast path's rule: "" is no value, a phone is normalised and
    # checked even beside an e-mail); contact None means the e-mail's span is written as it is
    has_email = r.client_email.a != 0 and r.client_email.b > r.client_email.a
    if has_email:
        contact = _email_text(s, r.client_email)
        if contact is False:
            return None
    if r.client_phone.a != 0 and r.client_phone.b > r.client_phone.a:
        phone = _phone(_text(s, r.client_phone))
        if phone is None or len(phone) > 64:
            return None
        if not has_email:
            contact = phone
    elif not has_email:
        return None

    # items: checked, and what the row and the body need kept in the item's record
    size = _RESERVE
    memset(turnover, 0, sizeof(turnover))
    memset(counts, 0, sizeof(counts))
    for j in range(r.n_items):
        it = &r.items[j]
        if it.seen & ITEM_FIELDS != ITEM_FIELDS or (it.seen & MARK_MODE and not it.seen & MARK_CODE):
            return None  # a field missing, or a processing mode without a code (the fast path's general case)
        chars = _cp866_chars(s, it.name)
        it.name_text = NULL
        if not 0 < chars <= _L1030:
            name = _kept_text(_text(s, it.name), _L1030, warnings, b + "items", j, "name")
            if name is None:
                return None
            keep.append(name)
            it.name_text = <PyObject*>name
            chars = len(name)
        price, q, amount = it.price, it.qty, it.amount
        expected = price * (q // 1000) if q % 1000 == 0 else (2 * price * q + 1000) // 2000
        if expected != amount:
            return None
        found = _VAT.get(_text(s, it.vat_type))
        if found is None:
            return None
        rate_code = found[1]
        taxed = found[2]
        if not 0 < rate_code < N_RATES:
            return None
        vat_sum = it.vat_sum
        if vat_sum != -2 and (vat_sum > amount or (vat_sum and not taxed)):
            return None
        method = _METHODS.get(_text(s, it.method))
        subject = _SUBJECTS_V5.get(it.subject)
        measure = _MEASURES.get(it.measure)
        if method is None or subject is None or measure is None:
            return None
        it.rate, it.method_code, it.subject_code, it.measure_code = rate_code, method, subject, measure
        if not (0 <= it.method_code <= 255 and 0 <= it.subject_code <= 255 and 0 <= it.measure_code <= 255):
            return None
        item_size = _ITEM_FIXED + chars
        if it.seen & MARK_CODE:  # the common marked good: one piece, a gs1m code, mode "0" or none
            if q != 1000:
                return None
            marked = _gs1m(s, it.gs1m, it.seen & MARK_MODE, it)
            if marked is None:
                return None
            more, full = marked
            item_size += more
            marks.append((j, full))
            caps |= CAP_MARKED_BIT
        if item_size > _MAX_ITEM:
            return None
        if _bit(EXCISE_MASK, it.subject_code):
            caps |= CAP_EXCISE_BIT
        if _bit(MARKED_MASK, it.subject_code):
            caps |= CAP_MARKED_BIT
        size += 4 + item_size
        total += amount
        if not present & (1u << rate_code):
            present |= 1u << rate_code
            order[n_rates] = rate_code
            n_rates += 1
        turnover[rate_code] += amount
        counts[rate_code] += 1
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
    for rate_code in range(N_RATES):
        vat_of[rate_code] = 0
        if present & (1u << rate_code) and vat_num[rate_code]:
            vat_of[rate_code] = (turnover[rate_code] * vat_num[rate_code] * 2 + vat_base[rate_code]) \
                // (vat_base[rate_code] * 2)
    doc_sums = [sums[0], sums[1]]
    for j in range(n_rates):
        rate_code = order[j]
        doc_sums.append(rate_code)
        doc_sums.append(turnover[rate_code])
        doc_sums.append(vat_of[rate_code])
        doc_sums.append(counts[rate_code])

    row.p, row.len, row.cap, row.heap = row_stack, 0, STACK_BUF, False
    body.p, body.len, body.cap, body.heap = body_stack, 0, STACK_BUF, False
    try:
        _write_row(&row, s, r, <int>op.settlement_sign, <int>tax, total, sums, place, sender, contact)
        packed = PyBytes_FromStringAndSize(<const char*>row.p, row.len)
        if identity is None:
            prebuilt = None
        else:
            counter_row = _write_body(&body, s, r, identity, <int>op.settlement_sign, <int>tax, total, sums,
                                      present, vat_of, turnover, place, sender, contact)
            data = PyBytes_FromStringAndSize(<const char*>body.p, body.len)
            prebuilt = _ReceiptBody(3, data, int(op.settlement_sign), total, counter_row)
    finally:
        if row.heap:
            free(row.p)
        if body.heap:
            free(body.p)
    return ctx, _Validated(
        external_id=external_id,
        timestamp=timestamp,
        callback_url=None,
        operation=operation,
        version=5,
        document=None,
        warnings=tuple(warnings),
        packed=packed,
        timestamp_text=stamp,
        ism_optional=False,
        mark_codes=tuple(marks),
        sums=tuple(doc_sums),
    ), caps, prebuilt


cdef int _write_row(Buf* b, const unsigned char* s, Rec* r, int sign, int tax, long long total, long long* sums,
                    object place, object sender, object contact) except -1:
    """The document's msgpack, as msgspec packs the ``Receipt`` the fast path builds (``omit_defaults``: a map of
    the fields that are not their defaults, in the Struct's field order)."""
    cdef ItemRec* it
    cdef int j, paid = 0
    cdef long long q
    cdef char digits[32]
    _mp_map16(b, 8)
    _mp_key(b, "settlement_sign", sign)
    _mp_key(b, "tax_system", tax)
    _mp_bytes(b, "items", 5)
    _mp_head(b, 0x90, 16, 0xDC, r.n_items)
    for j in range(r.n_items):
        it = &r.items[j]
        _mp_map16(b, 8 + (it.vat_sum != -2) + (it.code_len != 0) + (it.seen & MARK_MODE != 0))
        _mp_bytes(b, "name", 4)
        _mp_text(b, s, it.name, None if it.name_text == NULL else <object>it.name_text)
        _mp_key(b, "price", it.price)
        _mp_bytes(b, "quantity", 8)
        q = it.qty
        if q % 1000 == 0:
            _mp_uint(b, q // 1000)
        else:  # the Decimal without trailing zeros, as msgspec writes a Decimal: its str
            _mp_bytes(b, digits, _quantity_text(q, digits))
        _mp_key(b, "sum", it.amount)
        _mp_key(b, "vat", it.rate)
        if it.vat_sum != -2:
            _mp_key(b, "vat_sum", it.vat_sum)
        _mp_key(b, "subject", it.subject_code)
        _mp_key(b, "method", it.method_code)
        _mp_key(b, "measure", it.measure_code)
        if it.code_len:
            _mp_bytes(b, "marking", 7)
            _mp_head(b, 0x80, 16, 0xDE, 2)
            _mp_key(b, "kind", _GS1M_C)
            _mp_bytes(b, "code", 4)
            _mp_bytes(b, it.code, it.code_len)
            if it.seen & MARK_MODE:
                _mp_key(b, "marking_mode", 0)
    _mp_bytes(b, "payments", 8)
    for j in range(5):
        paid += sums[j] != 0
    _mp_head(b, 0x80, 16, 0xDE, paid)
    for j in range(5):
        if sums[j]:
            _mp_key(b, _PAY_KEYS[j], sums[j])
    _mp_key(b, "total", total)
    _mp_bytes(b, "client_contact", 14)
    _mp_text(b, s, r.client_email, contact)
    _mp_bytes(b, "sender_email", 12)
    _mp_text(b, s, r.company_email, sender)
    _mp_bytes(b, "settlement_place", 16)
    _mp_text(b, s, r.place, place)
    return 0


cdef Py_ssize_t _quantity_text(long long q, char* out) noexcept:
    """``str()`` of the fast path's ``_quantity(q)`` for a fractional ``q`` (thousandths): ``whole.fff`` without
    trailing zeros. Returns its length."""
    cdef long long whole = q // 1000, frac = q % 1000
    cdef int digits = 3, k
    cdef Py_ssize_t n = snprintf(out, 24, "%lld.", whole)
    while frac % 10 == 0:
        frac //= 10
        digits -= 1
    for k in range(digits - 1, -1, -1):
        out[n + k] = <char>(48 + frac % 10)
        frac //= 10
    return n + digits


cdef object _write_body(Buf* b, const unsigned char* s, Rec* r, object identity, int sign, int tax,
                        long long total, long long* sums, unsigned int present, unsigned long long* vat_of,
                        unsigned long long* turnover, object place, object sender, object contact):
    """The body ``encode_body(identity, document)`` gives (``_receipt_nodes.receipt_nodes`` after the numbering
    block, for this reader's documents: FFD 1.2, items' VAT by rate, no optional part but the marking code);
    returns its ``counter_row``. A value the writers refuse raises _Bail, and the element is declined."""
    cdef ItemRec* it
    cdef int j, rate, scale
    cdef unsigned long long mantissa, vat
    cdef long long change = sums[0] + sums[1] + sums[2] + sums[3] + sums[4] - total
    cdef Py_ssize_t at, at_mark, at_rate
    if identity.ffd_version != _FFD12_C:
        _bail()
    _byte(b, 1054, sign)
    _vln(b, 1020, total)
    for j in range(r.n_items):
        it = &r.items[j]
        rate = it.rate
        at = _open(b)
        _tlv_text(b, 1030, s, it.name, None if it.name_text == NULL else <object>it.name_text, 128)
        _vln(b, 1079, it.price)
        mantissa, scale = it.qty, 3
        while mantissa % 10 == 0 and scale > 0:
            mantissa //= 10
            scale -= 1
        _fvln(b, 1023, scale, mantissa)
        _vln(b, 1043, it.amount)
        _byte(b, 1199, rate)
        if it.vat_sum != -2:
            _vln(b, 1200, it.vat_sum)
        elif vat_num[rate]:
            vat = (it.amount * vat_num[rate] * 2 + vat_base[rate]) // (vat_base[rate] * 2)
            _vln(b, 1200, vat)
        _byte(b, 1212, it.subject_code)
        _byte(b, 1214, it.method_code)
        _byte(b, 2108, it.measure_code)
        if it.code_len:
            at_mark = _open(b)
            _ascii(b, _GS1M_C, it.code, it.code_len, mark_len[_GS1M_C - 1300], mark_fixed[_GS1M_C - 1300])
            _close(b, 1163, at_mark, 256)
            if it.seen & MARK_MODE:
                _byte(b, 2102, 0)
        _close(b, 1059, at, 1024)
    _vln(b, 1031, sums[0] - change)
    _vln(b, 1081, sums[1])
    _vln(b, 1215, sums[2])
    _vln(b, 1216, sums[3])
    _vln(b, 1217, sums[4])
    _byte(b, 1055, tax)
    _byte(b, 1209, _FFD12_C)
    # 1102-1107 and 1115 (_receipt_nodes._vat_nodes): the VAT of each rate on its whole turnover, or the
    # turnover itself for 0 % and "without VAT"; counter_row takes (rate, amount) in the order written
    cdef list counter_row = [sign, total, sums[0] - change, sums[1], sums[2], sums[3], sums[4]]
    for rate in range(1, N_RATES):
        if present & (1u << rate) and flat_tag[rate]:
            vat = vat_of[rate] if vat_num[rate] else turnover[rate]
            _vln(b, flat_tag[rate], vat)
            counter_row.append(rate)
            counter_row.append(vat)
    if present & by_rate_mask:
        at = _open(b)
        for rate in range(1, N_RATES):
            if present & (1u << rate) and not flat_tag[rate]:
                vat = vat_of[rate] if vat_num[rate] else turnover[rate]
                at_rate = _open(b)
                _byte(b, 1199, rate)
                _vln(b, 1120, vat)
                _close(b, 1119, at_rate, 15)
                counter_row.append(rate)
                counter_row.append(vat)
        _close(b, 1115, at, 228)
    _string(b, 1048, <PyObject*>identity.user_name, 256, False)
    _string(b, 1009, <PyObject*>identity.settlement_address, 256, False)
    _tlv_text(b, 1187, s, r.place, place, 256)
    automat = identity.automat_number
    if automat is not None:
        _string(b, 1036, <PyObject*>automat, 20, False)
    site = identity.fns_site
    if site is not None:
        _string(b, 1060, <PyObject*>site, 256, False)
    _tlv_text(b, 1117, s, r.company_email, sender, 64)
    _tlv_text(b, 1008, s, r.client_email, contact, 64)
    if identity.internet_only:
        _byte(b, 1108, 1)
    return tuple(counter_row)
