# Included by _receipt.pyx: where the Structs keep their fields, and the tables taken from the spec modules.
#
# Every offset is checked at import on an instance whose fields are distinct sentinels, and every tag the
# writers hard-code is checked against the registry: a mismatch fails the import (ImportError), so the
# selector falls back to the twin (or FISCAL_CORE_REQUIRE_EXTENSIONS makes it fatal) instead of writing
# wrong bytes.

from types import MemberDescriptorType

from fiscal_core.ffd.tags import REGISTRY, DataType

# Field indexes; the name tuples below list the fields in the same order.
cdef enum:
    R_SIGN, R_TAX, R_ITEMS, R_PAYMENTS, R_TOTAL, R_VATS, R_CONTACT, R_BUYER, R_CASHIER, R_CASHIER_INN
    R_SENDER, R_ADDRESS, R_PLACE, R_CHECK_PROP, R_USER_PROP, R_INTERNET, R_TIMEZONE, R_OPERATIONAL
    R_INDUSTRY, R_MARKING_CHECK, R_DEVICE, R_AGENT, R_SUPPLIER, C_TYPE, C_DATE, C_NUMBER, R_COUNT

cdef enum:
    I_NAME, I_PRICE, I_QUANTITY, I_SUM, I_VAT, I_VAT_SUM, I_UNIT_VAT, I_SUBJECT, I_METHOD, I_MEASURE
    I_UNIT_NAME, I_PRODUCT_CODE, I_MARKING, I_MARKING_MODE, I_CHECK_RESULT, I_FRACTION, I_INDUSTRY
    I_PLANNED, I_USER_DATA, I_EXCISE, I_COUNTRY, I_DECLARATION, I_AGENT, I_SUPPLIER, I_COUNT

cdef enum:
    D_VERSION, D_USER_NAME, D_ADDRESS, D_PLACE, D_AUTOMAT, D_FNS_SITE, D_SENDER, D_INTERNET_ONLY, D_COUNT

cdef enum:
    P_CASH, P_ELECTRONIC, P_PREPAID, P_CREDIT, P_PROVISION, P_CASHLESS, P_COUNT

_RECEIPT_FIELDS = (
    "settlement_sign", "tax_system", "items", "payments", "total", "vats", "client_contact", "buyer", "cashier",
    "cashier_inn", "sender_email", "settlement_address", "settlement_place", "additional_check_prop",
    "user_prop", "internet", "timezone", "operational_props", "industry_check_props", "marking_check_result",
    "device_number", "agent", "supplier",
)
_CORRECTION_FIELDS = (*_RECEIPT_FIELDS, "correction_type", "base_date", "base_number")
_ITEM_FIELDS = (
    "name", "price", "quantity", "sum", "vat", "vat_sum", "unit_vat", "subject", "method", "measure",
    "unit_name", "product_code", "marking", "marking_mode", "check_result", "fraction", "industry_props",
    "planned_status", "user_data", "excise", "country_code", "declaration_number", "agent", "supplier",
)
_IDENTITY_FIELDS = (
    "ffd_version", "user_name", "settlement_address", "settlement_place", "automat_number", "fns_site",
    "sender_email", "internet_only",
)
_PAYMENT_FIELDS = ("cash", "electronic", "prepaid", "credit", "provision", "cashless")

cdef Py_ssize_t R_OFF[R_COUNT]          # Receipt and Correction (a subclass keeps its base's slots)
cdef Py_ssize_t I_OFF[I_COUNT]
cdef Py_ssize_t D_OFF[D_COUNT]
cdef Py_ssize_t P_OFF[P_COUNT]
cdef Py_ssize_t M_OFF[2]                # MarkingCode: kind, code
cdef Py_ssize_t V_OFF[2]                # VatSum: rate, amount

cdef Py_ssize_t max_items = MAX_ITEMS
cdef PyObject* T_BODY = <PyObject*>ReceiptBody
cdef PyObject* T_RECEIPT = <PyObject*>Receipt
cdef PyObject* T_CORRECTION = <PyObject*>Correction
cdef PyObject* T_ITEM = <PyObject*>Item
cdef PyObject* T_IDENTITY = <PyObject*>DriveIdentity
cdef PyObject* T_PAYMENTS = <PyObject*>Payments
cdef PyObject* T_MARKING = <PyObject*>MarkingCode
cdef PyObject* T_VATSUM = <PyObject*>VatSum
cdef PyObject* T_USER_PROP = <PyObject*>UserProp
cdef PyObject* E_SIGN = <PyObject*>SettlementSign
cdef PyObject* E_TAX = <PyObject*>TaxSystem
cdef PyObject* E_VAT = <PyObject*>VatRate
cdef PyObject* E_SUBJECT = <PyObject*>ItemSubject
cdef PyObject* E_METHOD = <PyObject*>PaymentMethod
cdef PyObject* E_MEASURE = <PyObject*>MeasureUnit
cdef PyObject* E_CHECK = <PyObject*>MarkingCheckResult
cdef PyObject* E_CORRECTION = <PyObject*>CorrectionType
cdef PyObject* E_VERSION = <PyObject*>FfdVersion


cdef void _layout(object cls, tuple names, Py_ssize_t* out) except *:
    """Slot offsets of ``names``, checked on an instance whose every field is a distinct sentinel."""
    for i, name in enumerate(names):
        descr = getattr(cls, name)
        if type(descr) is not MemberDescriptorType:
            raise ImportError(f"{cls.__name__}.{name} is not a slot; the native receipt encoder cannot read it")
        out[i] = (<PyMemberDescrObject*>descr).d_member.offset
    sentinels = {name: object() for name in cls.__struct_fields__}
    instance = cls(**sentinels)
    for i, name in enumerate(names):
        if FC_SLOT(<PyObject*>instance, out[i]) != <PyObject*>sentinels[name]:
            raise ImportError(f"{cls.__name__}.{name}: slot layout check failed")


_layout(Correction, _CORRECTION_FIELDS, R_OFF)
_layout(Receipt, _RECEIPT_FIELDS, R_OFF)
if any(getattr(Correction, name) is not getattr(Receipt, name) for name in _RECEIPT_FIELDS):
    raise ImportError("Correction does not share Receipt's slots")
_layout(Item, _ITEM_FIELDS, I_OFF)
_layout(DriveIdentity, _IDENTITY_FIELDS, D_OFF)
_layout(Payments, _PAYMENT_FIELDS, P_OFF)
_layout(MarkingCode, ("kind", "code"), M_OFF)
_layout(VatSum, ("rate", "amount"), V_OFF)
# _body fills a ReceiptBody the way tuple.__new__ does: it must stay a plain NamedTuple of five fields.
if not (issubclass(ReceiptBody, tuple) and ReceiptBody._fields == ("form", "data", "settlement_sign", "total",
        "counter_row") and ReceiptBody.__dictoffset__ == 0 and ReceiptBody.__basicsize__ == tuple.__basicsize__):
    raise ImportError("ReceiptBody is no longer a five-field NamedTuple; update the native receipt encoder")

# ----------------------------------------------------------------------------- tables from the spec modules

DEF N_RATES = 13                        # 1199 codes 1..12
cdef uint16_t flat_tag[N_RATES]         # rate -> 1102..1107, 0 = goes to 1115
cdef uint32_t by_rate_mask = 0          # bit per rate that goes to 1115
cdef uint64_t vat_num[N_RATES]          # rate -> included_fraction (num, base); num 0 = no VAT
cdef uint64_t vat_base[N_RATES]
cdef bint tax_ok[256]                   # 1055: exactly one known bit
cdef bint mark_ok[26]                   # 1163 sub-tags 1300..1325 that are strings
cdef uint16_t mark_len[26]
cdef bint mark_fixed[26]


_S, _B, _V, _F, _T = DataType.STRING, DataType.BYTE, DataType.VLN, DataType.FVLN, DataType.STLV
_WRITTEN = {  # tag -> (type, max length, fixed) as the writers of _receipt.pyx write it
    1054: (_B, 1, True), 1020: (_V, 6, False), 1059: (_T, 1024, False), 1030: (_S, 128, False),
    1079: (_V, 6, False), 1023: (_F, 8, False), 1043: (_V, 6, False), 1199: (_B, 1, True), 1200: (_V, 6, False),
    1212: (_B, 1, True), 1214: (_B, 1, True), 2108: (_B, 1, True), 1163: (_T, 256, False),
    2102: (_B, 1, True), 2106: (DataType.BITMASK, 1, True), 1197: (_S, 16, False), 1162: (DataType.BYTES, 32, False),
    1191: (_S, 64, False), 1229: (_V, 6, False), 1230: (_S, 3, True), 1231: (_S, 32, False), 1198: (_V, 6, False),
    1031: (_V, 6, False), 1081: (_V, 6, False), 1215: (_V, 6, False), 1216: (_V, 6, False), 1217: (_V, 6, False),
    1021: (_S, 64, False), 1203: (_S, 12, True), 1055: (DataType.BITMASK, 1, True), 1209: (_B, 1, True),
    1102: (_V, 6, False), 1103: (_V, 6, False), 1104: (_V, 6, False), 1105: (_V, 6, False), 1106: (_V, 6, False),
    1107: (_V, 6, False), 1115: (_T, 228, False), 1119: (_T, 15, False), 1120: (_V, 6, False),
    1048: (_S, 256, False), 1009: (_S, 256, False), 1187: (_S, 256, False), 1036: (_S, 20, False),
    1060: (_S, 256, False), 1117: (_S, 64, False), 1008: (_S, 64, False), 1108: (_B, 1, True), 1125: (_B, 1, True),
    1011: (_B, 1, True), 1192: (_S, 16, False), 1084: (_T, 320, False), 1085: (_S, 64, False),
    1086: (_S, 256, False), 2107: (_B, 1, True), 1173: (_B, 1, True), 1174: (_T, 292, False),
    1178: (DataType.UNIXTIME, 4, True), 1179: (_S, 32, False),
}


cdef void _init_tables() except *:
    global by_rate_mask
    memset(flat_tag, 0, sizeof(flat_tag))
    memset(vat_num, 0, sizeof(vat_num))
    memset(vat_base, 0, sizeof(vat_base))
    memset(tax_ok, 0, sizeof(tax_ok))
    memset(mark_ok, 0, sizeof(mark_ok))
    for rate in VatRate:
        if not 0 < rate < N_RATES:
            raise ImportError(f"VAT rate code {int(rate)} is outside the native table")
        flat_tag[rate] = VAT_RATE_TO_RECEIPT_SUM_TAG.get(rate, 0)
        if not flat_tag[rate]:
            by_rate_mask |= 1u << rate
        if rate.included_fraction is not None:
            vat_num[rate], vat_base[rate] = rate.included_fraction
    for t in TaxSystem:
        if 0 < t < 256 and not (t & (t - 1)):
            tax_ok[t] = True
    for tag in REGISTRY[1163].children:
        spec = REGISTRY[tag]
        if 1300 <= tag <= 1325 and spec.dtype == DataType.STRING:
            mark_ok[tag - 1300] = True
            mark_len[tag - 1300] = spec.max_length
            mark_fixed[tag - 1300] = spec.fixed
    # The writers hard-code each body tag's type and width (ffd/_tag_table.py): refuse to load if the
    # registry says otherwise, rather than write what the twin would not.
    for tag, (dtype, length, fixed) in _WRITTEN.items():
        spec = REGISTRY[tag]
        if (spec.dtype, spec.max_length, spec.fixed) != (dtype, length, fixed):
            raise ImportError(f"tag {tag} is not {dtype.name}/{length}/fixed={fixed} in the registry any more")

_init_tables()
