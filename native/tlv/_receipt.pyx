# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Native receipt body encoder (``fiscal_core._native._receipt``).

The spec is the pure-Python twin ``fiscal_core.ffd._receipt_body_py``: the same :class:`ReceiptBody` for
every receipt, and for a receipt the twin refuses the same exception. This module only makes it fast:
- it walks the msgspec Structs by reading their slots at the member descriptors' offsets (checked at
  import against sentinel instances; a mismatch makes the import fail, so the selector takes the twin);
- it re-does ``check_sums`` and the version checks in integers (quantities as mantissa and scale, read
  from the Decimal's digits) and writes the TLV bytes straight into one buffer, in the node order of
  ``_receipt_nodes.receipt_nodes``;
- the VAT totals are computed per rate on the rate's whole turnover (``receipt.vat_totals``);
- rarely used parts (agent, supplier, buyer, operational and industry props, cashless details, fraction)
  are built by the twin's own helpers and encoded by ``fiscal_core._native._tlv``, then spliced in place.

Anything the fast path does not take — a refused or inconsistent receipt, a value of an unexpected type,
an unusual number (a negative or huge one, a Decimal with a positive exponent) — is handed whole to the
twin, which returns the body or raises its own error (type, message and ``path``). A refusal costs the
twin's time; a valid receipt whose fields have their declared types never leaves the fast path
(tests/test_receipt_body.py checks both directions through ``_encode_fast``).
"""

include "_receipt_write.pxi"

from fiscal_core._native._tlv import encode as _tlv_encode
from fiscal_core.ffd import _receipt_body_py as _twin
from fiscal_core.ffd._receipt_body_py import CAP_AGENT, CAP_EXCISE, CAP_MARKED, COUNTER_TAGS, ReceiptBody
from fiscal_core.ffd._receipt_nodes import _BUYER_ONLY_12, _agent_data, _industry, _opt, _refuse, _supplier_nodes
from fiscal_core.ffd.documents import DriveIdentity
from fiscal_core.ffd.enums import (
    VAT_RATE_TO_RECEIPT_SUM_TAG,
    CorrectionType,
    FfdVersion,
    ItemSubject,
    MarkingCheckResult,
    MeasureUnit,
    PaymentMethod,
    SettlementSign,
    TaxSystem,
    VatRate,
)
from fiscal_core.ffd.receipt import MAX_ITEMS, Correction, Item, MarkingCode, Payments, Receipt, UserProp, VatSum

__all__ = ["CAP_AGENT", "CAP_EXCISE", "CAP_MARKED", "IMPLEMENTATION", "ReceiptBody", "capability_bits", "encode_body"]

IMPLEMENTATION = "native"

include "_receipt_layout.pxi"

# ----------------------------------------------------------------------------- rare parts: the twin's code


def _fraction_nodes(item):
    n, m = item.fraction.numerator, item.fraction.denominator
    return [(1291, [(1292, f"{n}/{m}"), (1293, n), (1294, m)])]


def _item_agent_nodes(item):
    nodes = [(1222, int(item.agent.types))]
    data = _agent_data(item.agent)
    if data:
        nodes.append((1223, data))
    return nodes


def _cashless_nodes(pay):
    if sum(p.sum for p in pay.cashless) != pay.electronic:
        raise _Bail()  # check_sums refuses it
    details = [(1235, [(1082, p.sum), (1236, p.method), *_opt((1237, p.ids), (1238, p.info))]) for p in pay.cashless]
    return [(1234, details)]


def _buyer_nodes(b, version):
    buyer = _opt(
        (1227, b.name),
        (1228, b.inn),
        (1243, None if b.birth_date is None else b.birth_date.strftime("%d.%m.%Y")),
        (1244, b.citizenship),
        (1245, b.doc_code),
        (1246, b.doc_data),
        (1254, b.address),
    )
    if version == 4 and buyer:
        return [(1256, buyer)]
    return buyer


def _operational_nodes(op):
    return [(1270, [(1271, op.id), (1272, op.data), (1273, op.when)])]


def _agent_nodes_105(agent):
    return [(1057, int(agent.types)), *_agent_data(agent)]


cdef int _splice(Buf* b, list nodes) except -1:
    if nodes:
        _raw(b, _tlv_encode(nodes))
    return 0


# ----------------------------------------------------------------------------- the walk

ctypedef struct Totals:
    uint64_t items_sum
    uint64_t turnover[N_RATES]
    uint32_t seen                       # bit per rate present among the items


cdef inline int _opt_string(Buf* b, uint16_t tag, PyObject* v, Py_ssize_t max_length, bint fixed) except -1:
    if v != Py_None:
        _string(b, tag, v, max_length, fixed)
    return 0


cdef inline int _opt_money(Buf* b, uint16_t tag, PyObject* v) except -1:
    if v != Py_None:
        _vln(b, tag, _money(v))
    return 0


cdef inline int _opt_byte(Buf* b, uint16_t tag, PyObject* v, PyObject* enum_type) except -1:
    if v != Py_None:
        _byte(b, tag, _code(v, enum_type, 255))
    return 0


cdef inline int _tuple_size(PyObject* v) except -1:
    """Size of a tuple field (industry props, cashless details); anything but a tuple: the twin decides."""
    if not PyTuple_CheckExact(v):
        _bail()
    return <int>PyTuple_GET_SIZE(v)


cdef int _item(Buf* b, PyObject* item, int version, Totals* t) except -1:
    """One 1059 (``_receipt_nodes._item_nodes``) with its ``check_sums`` and version checks."""
    cdef uint64_t price, total, mantissa, expected, vat = 0
    cdef int scale, rate, kind
    cdef bint has_vat
    cdef Py_ssize_t at
    cdef PyObject* v
    cdef PyObject* marking
    if FC_TYPE(item) != T_ITEM:
        _bail()
    if version == 2:
        for idx in (I_MEASURE, I_MARKING_MODE, I_CHECK_RESULT, I_FRACTION, I_INDUSTRY, I_PLANNED):
            if not _absent(_slot(item, I_OFF[idx])):
                _bail()
        if _slot(item, I_OFF[I_MARKING]) != Py_None:
            _bail()  # () passes _refuse, then check_sums reads marking.kind
    elif not _absent(_slot(item, I_OFF[I_UNIT_NAME])) or not _absent(_slot(item, I_OFF[I_PRODUCT_CODE])) \
            or _slot(item, I_OFF[I_MEASURE]) == Py_None:
        _bail()
    price = _money(_slot(item, I_OFF[I_PRICE]))
    _quantity(_slot(item, I_OFF[I_QUANTITY]), &mantissa, &scale)
    total = _money(_slot(item, I_OFF[I_SUM]))
    if not fc_item_sum(price, mantissa, scale, MAX_MONEY, &expected) or expected != total:
        _bail()
    rate = _code(_slot(item, I_OFF[I_VAT]), E_VAT, N_RATES - 1)
    if rate == 0:
        _bail()
    v = _slot(item, I_OFF[I_VAT_SUM])
    if v != Py_None:
        vat = _money(v)
        if vat > total:
            _bail()
        has_vat = True
    else:
        has_vat = vat_num[rate] != 0
        if has_vat:
            vat = (total * vat_num[rate] * 2 + vat_base[rate]) // (vat_base[rate] * 2)

    at = _open(b)
    _string(b, 1030, _slot(item, I_OFF[I_NAME]), 128, False)
    _vln(b, 1079, price)
    _fvln(b, 1023, scale, mantissa)
    _vln(b, 1043, total)
    _byte(b, 1199, rate)
    if has_vat:
        _vln(b, 1200, vat)
    _byte(b, 1212, _code(_slot(item, I_OFF[I_SUBJECT]), E_SUBJECT, 255))
    _byte(b, 1214, _code(_slot(item, I_OFF[I_METHOD]), E_METHOD, 255))
    if version == 4:
        _byte(b, 2108, _code(_slot(item, I_OFF[I_MEASURE]), E_MEASURE, 255))
        marking = _slot(item, I_OFF[I_MARKING])
        if marking != Py_None:
            if FC_TYPE(marking) != T_MARKING:
                _bail()
            kind = _code(_slot(marking, M_OFF[0]), NULL, 1325) - 1300
            if kind < 0 or not mark_ok[kind]:
                _bail()
            at_mark = _open(b)
            _string(b, <uint16_t>(1300 + kind), _slot(marking, M_OFF[1]), mark_len[kind], mark_fixed[kind])
            _close(b, 1163, at_mark, 256)
        _opt_byte(b, 2102, _slot(item, I_OFF[I_MARKING_MODE]), NULL)
        _opt_byte(b, 2106, _slot(item, I_OFF[I_CHECK_RESULT]), E_CHECK)
        if _slot(item, I_OFF[I_FRACTION]) != Py_None:
            _splice(b, _fraction_nodes(<object>item))
        v = _slot(item, I_OFF[I_INDUSTRY])
        if _tuple_size(v):
            _splice(b, [(1260, _industry(p)) for p in <object>v])
    else:
        _opt_string(b, 1197, _slot(item, I_OFF[I_UNIT_NAME]), 16, False)
        v = _slot(item, I_OFF[I_PRODUCT_CODE])
        if v != Py_None:
            _bytes(b, 1162, v, 32)
    _opt_string(b, 1191, _slot(item, I_OFF[I_USER_DATA]), 64, False)
    if _slot(item, I_OFF[I_AGENT]) != Py_None:
        _splice(b, _item_agent_nodes(<object>item))
    v = _slot(item, I_OFF[I_SUPPLIER])
    if v != Py_None:
        _splice(b, _supplier_nodes(<object>v))
    _opt_money(b, 1229, _slot(item, I_OFF[I_EXCISE]))
    _opt_string(b, 1230, _slot(item, I_OFF[I_COUNTRY]), 3, True)
    _opt_string(b, 1231, _slot(item, I_OFF[I_DECLARATION]), 32, False)
    _opt_money(b, 1198, _slot(item, I_OFF[I_UNIT_VAT]))
    _close(b, 1059, at, 1024)

    t.items_sum += total
    t.turnover[rate] += total
    t.seen |= 1u << rate
    return 0


cdef list _write_vat(Buf* b, PyObject* r, Totals* t):
    """1102–1107 and 1115 (``_receipt_nodes._vat_nodes``); returns their (rate, VAT sum) pairs in the order
    written, flat, for ``ReceiptBody.counter_row``."""
    cdef uint64_t amount[N_RATES]
    cdef PyObject* given[N_RATES]
    cdef uint32_t present = 0
    cdef int rate, i
    cdef Py_ssize_t n, at, at_rate
    cdef PyObject* vats = _slot(r, R_OFF[R_VATS])
    cdef PyObject* entry
    memset(given, 0, sizeof(given))
    if vats != Py_None:
        n = _tuple_size(vats)
        for i in range(n):
            entry = PyTuple_GET_ITEM(vats, i)
            if FC_TYPE(entry) != T_VATSUM:
                _bail()
            rate = _code(_slot(entry, V_OFF[0]), E_VAT, N_RATES - 1)
            if rate == 0 or present & (1u << rate):
                _bail()
            present |= 1u << rate
            given[rate] = _slot(entry, V_OFF[1])
            amount[rate] = _money(given[rate])
    else:
        present = t.seen
        for rate in range(1, N_RATES):
            if present & (1u << rate):
                amount[rate] = t.turnover[rate]
                if vat_num[rate]:
                    amount[rate] = (amount[rate] * vat_num[rate] * 2 + vat_base[rate]) // (vat_base[rate] * 2)
    pairs = []
    for rate in range(1, N_RATES):
        if present & (1u << rate) and flat_tag[rate]:
            _vln(b, flat_tag[rate], amount[rate])
            pairs.append(rate)
            pairs.append(<object>given[rate] if given[rate] != NULL else amount[rate])
    if present & by_rate_mask:
        at = _open(b)
        for rate in range(1, N_RATES):
            if present & (1u << rate) and not flat_tag[rate]:
                at_rate = _open(b)
                _byte(b, 1199, rate)
                _vln(b, 1120, amount[rate])
                _close(b, 1119, at_rate, 15)
                pairs.append(rate)
                pairs.append(<object>given[rate] if given[rate] != NULL else amount[rate])
        _close(b, 1115, at, 228)
    return pairs



cdef object _encode(object identity, object receipt):
    """The body, or _Bail (or any exception) when the twin must decide."""
    cdef PyObject* r = <PyObject*>receipt
    cdef PyObject* ident = <PyObject*>identity
    cdef PyObject* items
    cdef PyObject* pay
    cdef PyObject* v
    cdef PyObject* day
    cdef bint correction = False
    cdef int version, sign, tax, i
    cdef Py_ssize_t n, at
    cdef uint64_t total, cash, electronic, prepaid, credit, provision, paid, change
    cdef Totals t
    cdef Buf b
    cdef uint8_t stack_buf[STACK_BUF]

    if FC_TYPE(r) == T_CORRECTION:
        correction = True
    elif FC_TYPE(r) != T_RECEIPT:
        _bail()
    if FC_TYPE(ident) != T_IDENTITY:
        _bail()
    version = _code(_slot(ident, D_OFF[D_VERSION]), E_VERSION, 255)
    if version != 2 and version != 4:
        _bail()
    sign = _code(_slot(r, R_OFF[R_SIGN]), E_SIGN, 255)
    items = _slot(r, R_OFF[R_ITEMS])
    n = _tuple_size(items)
    # documents.correction_receipt, then _receipt_nodes._check_version at the receipt level
    if correction:
        if version == 2 and (sign != 1 and sign != 3 or _slot(r, R_OFF[C_NUMBER]) == Py_None):
            _bail()
        if version == 4 and n == 0:
            _bail()
    if version == 2:
        for i in (R_OPERATIONAL, R_INDUSTRY, R_MARKING_CHECK):
            if not _absent(_slot(r, R_OFF[i])):
                _bail()
        v = _slot(r, R_OFF[R_BUYER])
        if v != Py_None:
            _refuse(<object>v, _BUYER_ONLY_12, "buyer.", version)
        v = _slot(r, R_OFF[R_SUPPLIER])
        if v != Py_None:
            _refuse(<object>v, ("name", "inn"), "supplier.", version)
    elif not _absent(_slot(r, R_OFF[R_AGENT])) or not _absent(_slot(r, R_OFF[R_SUPPLIER])):
        _bail()
    # check_sums: everything but the items (checked as they are written) and the cashless details
    if n > max_items or (n == 0 and not correction):
        _bail()
    tax = _code(_slot(r, R_OFF[R_TAX]), E_TAX, 255)
    if not tax_ok[tax]:
        _bail()
    total = _money(_slot(r, R_OFF[R_TOTAL]))
    pay = _slot(r, R_OFF[R_PAYMENTS])
    if FC_TYPE(pay) != T_PAYMENTS:
        _bail()
    cash = _money(_slot(pay, P_OFF[P_CASH]))
    electronic = _money(_slot(pay, P_OFF[P_ELECTRONIC]))
    prepaid = _money(_slot(pay, P_OFF[P_PREPAID]))
    credit = _money(_slot(pay, P_OFF[P_CREDIT]))
    provision = _money(_slot(pay, P_OFF[P_PROVISION]))
    paid = cash + electronic + prepaid + credit + provision
    if paid < total or paid - total > cash:
        _bail()
    change = paid - total

    memset(&t, 0, sizeof(t))
    b.p = stack_buf
    b.len = 0
    b.cap = STACK_BUF
    b.heap = False
    try:
        _byte(&b, 1054, sign)
        _vln(&b, 1020, total)
        for i in range(n):
            _item(&b, PyTuple_GET_ITEM(items, i), version, &t)
        if n and t.items_sum != total:
            _bail()
        _vln(&b, 1031, cash - change)
        _vln(&b, 1081, electronic)
        _vln(&b, 1215, prepaid)
        _vln(&b, 1216, credit)
        _vln(&b, 1217, provision)
        if _tuple_size(_slot(pay, P_OFF[P_CASHLESS])):
            _splice(&b, _cashless_nodes(<object>pay))
        _opt_string(&b, 1021, _slot(r, R_OFF[R_CASHIER]), 64, False)
        _opt_string(&b, 1203, _slot(r, R_OFF[R_CASHIER_INN]), 12, True)
        _byte(&b, 1055, tax)
        _byte(&b, 1209, version)
        vat_pairs = _write_vat(&b, r, &t)
        _string(&b, 1048, _slot(ident, D_OFF[D_USER_NAME]), 256, False)
        _string(&b, 1009, _or(_slot(r, R_OFF[R_ADDRESS]), _slot(ident, D_OFF[D_ADDRESS])), 256, False)
        _string(&b, 1187, _or(_slot(r, R_OFF[R_PLACE]), _slot(ident, D_OFF[D_PLACE])), 256, False)
        _opt_string(&b, 1036, _or(_slot(r, R_OFF[R_DEVICE]), _slot(ident, D_OFF[D_AUTOMAT])), 20, False)
        _opt_string(&b, 1060, _slot(ident, D_OFF[D_FNS_SITE]), 256, False)
        _opt_string(&b, 1117, _or(_slot(r, R_OFF[R_SENDER]), _slot(ident, D_OFF[D_SENDER])), 64, False)
        _opt_string(&b, 1008, _slot(r, R_OFF[R_CONTACT]), 64, False)
        if _truth(_slot(ident, D_OFF[D_INTERNET_ONLY])):
            _byte(&b, 1108, 1)
        if _truth(_slot(r, R_OFF[R_INTERNET])):
            _byte(&b, 1125, 1)
        _opt_byte(&b, 1011, _slot(r, R_OFF[R_TIMEZONE]), NULL)
        _opt_string(&b, 1192, _slot(r, R_OFF[R_CHECK_PROP]), 16, False)
        v = _slot(r, R_OFF[R_USER_PROP])
        if v != Py_None:
            if FC_TYPE(v) != T_USER_PROP:
                _bail()
            prop = <object>v
            name, value = prop.name, prop.value
            at = _open(&b)
            _string(&b, 1085, <PyObject*>name, 64, False)
            _string(&b, 1086, <PyObject*>value, 256, False)
            _close(&b, 1084, at, 320)
        v = _slot(r, R_OFF[R_BUYER])
        if v != Py_None:
            _splice(&b, _buyer_nodes(<object>v, version))
        if version == 4:
            v = _slot(r, R_OFF[R_OPERATIONAL])
            if v != Py_None:
                _splice(&b, _operational_nodes(<object>v))
            v = _slot(r, R_OFF[R_INDUSTRY])
            if _tuple_size(v):
                _splice(&b, [(1261, _industry(p)) for p in <object>v])
            _opt_byte(&b, 2107, _slot(r, R_OFF[R_MARKING_CHECK]), E_CHECK)
        else:
            v = _slot(r, R_OFF[R_AGENT])
            if v != Py_None:
                _splice(&b, _agent_nodes_105(<object>v))
            v = _slot(r, R_OFF[R_SUPPLIER])
            if v != Py_None:
                _splice(&b, [(1171, phone) for phone in (<object>v).phones])
        if correction:
            # 1173 and 1174 {1178 = local midnight of base_date, 1179} (documents.correction_receipt)
            _byte(&b, 1173, _code(_slot(r, R_OFF[C_TYPE]), E_CORRECTION, 255))
            at = _open(&b)
            day = _slot(r, R_OFF[C_DATE])
            if not (PyDate_CheckExact(<object>day) or PyDateTime_CheckExact(<object>day)):
                _bail()
            _unixtime(&b, 1178, _days_from_civil(
                date_year(<object>day), date_month(<object>day), date_day(<object>day)) * 86400)
            _opt_string(&b, 1179, _slot(r, R_OFF[C_NUMBER]), 32, False)
            _close(&b, 1174, at, 292)
        data = PyBytes_FromStringAndSize(<const char*>b.p, b.len)
    finally:
        if b.heap:
            free(b.p)

    total_obj = <object>_slot(r, R_OFF[R_TOTAL])
    counter_row = (
        sign,
        total_obj,
        cash - change,
        <object>_slot(pay, P_OFF[P_ELECTRONIC]),
        <object>_slot(pay, P_OFF[P_PREPAID]),
        <object>_slot(pay, P_OFF[P_CREDIT]),
        <object>_slot(pay, P_OFF[P_PROVISION]),
        *vat_pairs,
    )
    return _body(31 if correction else 3, data, sign, total_obj, counter_row)


cdef object _body(object form, object data, object sign, object total, object counter_row):
    """``ReceiptBody(...)`` without the NamedTuple's Python-level ``__new__``, as tuple.__new__ builds it."""
    cdef PyObject* body = fc_tuple_alloc(T_BODY, 5)
    if body == NULL:
        raise MemoryError()
    fc_tuple_set(body, 0, <PyObject*>form)
    fc_tuple_set(body, 1, <PyObject*>data)
    fc_tuple_set(body, 2, <PyObject*>sign)
    fc_tuple_set(body, 3, <PyObject*>total)
    fc_tuple_set(body, 4, <PyObject*>counter_row)
    return fc_steal(body)


def _encode_fast(identity, receipt):
    """The fast path alone: the body, or ``_Bail`` (or the error met) where ``encode_body`` asks the twin.

    For tests: a valid receipt must never leave the fast path.
    """
    return _encode(identity, receipt)


def encode_body(identity, receipt):
    """The body of ``receipt`` (a :class:`Correction` gives form 31) for the drive ``identity``."""
    try:
        return _encode(identity, receipt)
    except Exception:
        pass
    # Outside the handler, so the twin's own error carries no context from the fast path.
    return _twin.encode_body(identity, receipt)


# ----------------------------------------------------------------------------- what a receipt needs of a register

cdef bint excise_subject[256]           # 1212 code -> excise goods (the twin's EXCISE_SUBJECTS)
cdef bint marked_subject[256]           # 1212 code -> marked goods (MARKED_SUBJECTS)
for _code_ in range(256):
    excise_subject[_code_] = _code_ in _twin.EXCISE_SUBJECTS
    marked_subject[_code_] = _code_ in _twin.MARKED_SUBJECTS
cdef int CAP_AGENT_C = CAP_AGENT, CAP_EXCISE_C = CAP_EXCISE, CAP_MARKED_C = CAP_MARKED


cdef int _capability_bits(PyObject* r) except -1:
    """The twin's capability_bits from the slots; _Bail on anything but a Receipt/Correction of Items."""
    cdef PyObject* items
    cdef PyObject* item
    cdef Py_ssize_t i, n
    cdef int bits = 0, subject
    if FC_TYPE(r) != T_RECEIPT and FC_TYPE(r) != T_CORRECTION:
        _bail()
    if _slot(r, R_OFF[R_AGENT]) != Py_None:
        bits = CAP_AGENT_C
    items = _slot(r, R_OFF[R_ITEMS])
    n = _tuple_size(items)
    for i in range(n):
        item = PyTuple_GET_ITEM(items, i)
        if FC_TYPE(item) != T_ITEM:
            _bail()
        subject = _code(_slot(item, I_OFF[I_SUBJECT]), E_SUBJECT, 255)
        if _slot(item, I_OFF[I_AGENT]) != Py_None:
            bits |= CAP_AGENT_C
        if excise_subject[subject] or _slot(item, I_OFF[I_EXCISE]) != Py_None:
            bits |= CAP_EXCISE_C
        if marked_subject[subject] or _slot(item, I_OFF[I_MARKING]) != Py_None:
            bits |= CAP_MARKED_C
    return bits


def capability_bits(receipt):
    """What ``receipt`` needs of a register (the twin's ``capability_bits``); anything unusual: the twin."""
    try:
        return _capability_bits(<PyObject*>receipt)
    except _Bail:
        pass
    return _twin.capability_bits(receipt)
