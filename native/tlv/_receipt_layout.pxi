# Included by _receipt.pyx: where the Structs keep their fields (the tables are _receipt_tables.pxi's).
#
# Every offset is checked at import on an instance whose fields are distinct sentinels: a mismatch fails the
# import (ImportError), so the selector falls back to the twin instead of reading the wrong field.

from types import MemberDescriptorType


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


include "_receipt_tables.pxi"
