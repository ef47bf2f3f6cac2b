# Included by _receipt_layout.pxi and _reader.pyx: the tables the body writers take from the spec modules.
#
# Every tag the writers hard-code is checked against the registry at import: a mismatch fails the import
# (ImportError), so the selector falls back to the twin (or FISCAL_CORE_REQUIRE_EXTENSIONS makes it fatal)
# instead of writing wrong bytes.

from fiscal_core.ffd.enums import VAT_RATE_TO_RECEIPT_SUM_TAG, TaxSystem, VatRate
from fiscal_core.ffd.tags import REGISTRY, DataType


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
