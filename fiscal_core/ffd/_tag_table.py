"""The FFD 1.05 / 1.2 tag table: data only, loaded by :mod:`fiscal_core.ffd.tags`.

Scope: every tag that documents of forms 1, 2, 3, 5, 6, 7, 11, 21 and 31 can carry (4/41 share the receipt
layout), with all nested STLV sub-tags, plus the 2000-series marking tags and the 2025–2026 additions.

Sources (IDs as in ``/work/shared/reference/ffd.md`` §0):

- **CF** — ``chayleaf/coop-fd`` ``fiscal-data/src/fields.rs`` (types, lengths, padding, JSON names) and
  ``structs.rs`` (the per-document and per-structure tables of приказ ФНС ЕД-7-20/662@: tables 20–33 for
  1.05, 49–70 for 1.1, 87–133 for 1.2). Preferred for 1.2 where sources disagree (ffd.md §15).
- **SH** — Shtrih-M driver unit ``TLVTags`` (type, max length, fixed flag).
- **Y** — ``yandex/ofd`` ``ofd/protocol.py`` and ``schemas/1.05/*.json`` (JSON names, a few lengths).
- **CS** — the C# FNS-JSON converter (tag → FNS JSON name and type, incl. 1115/1119/1120/1125/1234–1238/1082).
- **KA** / **YK** / **KL** — the 2025–2026 additions (1115/1119/1120, 1011, 1082, 1125, 1234–1238, 2040).
- **V** — the real receipts in ``/work/shared/vectors`` (byte lengths and 2026 FNS JSON names).

Row format: ``T(number, NAME, title_ru, dtype, max_length, fixed, json_name, versions=, children=,
repeatable=, document=)``. ``versions`` defaults to both 1.05 and 1.2.

Row order matters: :data:`fiscal_core.ffd.tags.BY_JSON_NAME` keeps the *last* row for a JSON name shared by
several tags (``totalSum`` = 1201 in counters and 1020 in a receipt; ``dateTime`` = 1273 and 1012;
``prepaidSum``/``creditSum``/``provisionSum`` = 1218–1220 and 1215–1217; ``ndsSum`` = 1120 and 1200).
So nested structures come first and the document-level tags after them.
"""

from fiscal_core.ffd.tags import FFD_12, FFD_105
from fiscal_core.ffd.tags import DataType as D
from fiscal_core.ffd.tags import TagSpec as T

_105 = frozenset({FFD_105})  # dropped in 1.2 (tables 87/96/97 of the 1.2 prikaz have no such row)
_12 = frozenset({FFD_12})  # introduced by FFD 1.1/1.2; 1.1 itself is out of scope


def _c(*tags: int) -> frozenset[int]:
    return frozenset(tags)


# Data below: one row per tag reads better than the formatter's one-argument-per-line layout.
# fmt: off
# Children of the nested structures, from CF structs.rs; trailing comments give the prikaz table numbers (1.05/1.2).
_ITEM = _c(
    1030, 1079, 1023, 1043, 1199, 1200, 1198, 1212, 1214,  # core (tables 21, 97)
    1197, 1162,  # 1.05 unit text and product code (replaced by 2108 and 1163 in 1.2)
    2108, 1163, 1291, 1260, 2102, 2106, 2110, 2115,  # 1.2 marking / measure / industry
    1191, 1222, 1223, 1224, 1226, 1229, 1230, 1231,  # agent, supplier, excise, customs
)
_OPERATION_COUNTERS = _c(1135, 1136, 1138, 1218, 1219, 1220, 1201, 1139, 1140, 1141, 1142, 1143, 1183)  # 52/90
_SIGN_COUNTERS = _c(1135, 1136, 1138, 1218, 1219, 1220, 1201)  # tables 54/92
_CORRECTION_COUNTERS = _c(1144, 1145, 1146, 1232, 1233)  # tables 53/91
_TOTAL_COUNTERS = _c(1134, 1129, 1130, 1131, 1132, 1133)  # tables 51/89
_INDUSTRY = _c(1262, 1263, 1264, 1265)  # table 102
_PRODUCT_CODES = _c(1300, 1301, 1302, 1303, 1304, 1305, 1306, 1307, 1308, 1309, 1320, 1321, 1322, 1323, 1324, 1325)
_MARKED_ITEM = _c(  # table 130 (inside the notification, form 82)
    2000, 2100, 2101, 2115, 2110, 2106, 1023, 2108, 1291, 2102, 1214, 1030,
    1226, 1222, 1223, 1224, 1079, 1043, 1199, 1200, 1260,
)

TAGS = [
    # ── Documents: form code = tag of the whole-document STLV (ffd.md §1, §2; max lengths: CF) ──────────
    T(1, "REGISTRATION_REPORT", "Отчёт о регистрации", D.STLV, 6144, json_name="fiscalReport", document=True),
    T(2, "SHIFT_OPEN", "Отчёт об открытии смены", D.STLV, 4096, json_name="openShift", document=True),
    T(3, "RECEIPT", "Кассовый чек", D.STLV, 32768, json_name="receipt", document=True),
    T(4, "BSO", "Бланк строгой отчётности", D.STLV, 32768, json_name="bso", document=True),
    T(5, "SHIFT_CLOSE", "Отчёт о закрытии смены", D.STLV, 4096, json_name="closeShift", document=True),
    T(6, "DRIVE_CLOSE", "Отчёт о закрытии фискального накопителя", D.STLV, 4096, json_name="closeArchive",
      document=True),
    T(7, "OPERATOR_CONFIRMATION", "Подтверждение оператора", D.STLV, 512, json_name="operatorAck", document=True),
    T(11, "REREGISTRATION_REPORT", "Отчёт об изменении параметров регистрации", D.STLV, 6144,
      json_name="fiscalReportCorrection", document=True),
    T(21, "STATUS_REPORT", "Отчёт о текущем состоянии расчётов", D.STLV, 32768, json_name="currentStateReport",
      document=True),
    T(31, "CORRECTION_RECEIPT", "Кассовый чек коррекции", D.STLV, 32768, json_name="receiptCorrection",
      document=True),
    T(41, "BSO_CORRECTION", "Бланк строгой отчётности коррекции", D.STLV, 32768, json_name="bsoCorrection",
      document=True),
    # ── Shift / drive counters (forms 5, 6, 11, 21). Sums are VLN 8 (SH; ffd.md §3.5); CF says 6 ──────
    T(1194, "SHIFT_COUNTERS", "счётчики итогов смены", D.STLV, 916, False, "shiftSumReports",
      children=_TOTAL_COUNTERS),
    T(1157, "FN_COUNTERS", "счётчики итогов ФН", D.STLV, 916, False, "fiscalDriveSumReports",
      children=_TOTAL_COUNTERS),
    T(1158, "UNSENT_COUNTERS", "счётчики итогов непереданных ФД", D.STLV, 916, False,
      "notTransmittedDocumentsSumReports", children=_CORRECTION_COUNTERS),
    T(1134, "RECEIPT_COUNT_ALL", "количество чеков (БСО) и чеков коррекции со всеми признаками расчётов", D.UINT32,
      4, True, "totalReceiptBsoCount"),
    T(1129, "SALE_COUNTERS", "счётчики операций «приход»", D.STLV, 116, False, "sellOper",
      children=_OPERATION_COUNTERS),
    T(1130, "SALE_REFUND_COUNTERS", "счётчики операций «возврат прихода»", D.STLV, 116, False, "sellReturnOper",
      children=_OPERATION_COUNTERS),
    T(1131, "PURCHASE_COUNTERS", "счётчики операций «расход»", D.STLV, 116, False, "buyOper",
      children=_OPERATION_COUNTERS),
    T(1132, "PURCHASE_REFUND_COUNTERS", "счётчики операций «возврат расхода»", D.STLV, 116, False, "buyReturnOper",
      children=_OPERATION_COUNTERS),
    # 1133 is 216 in the 1.05 tables (two correction signs); FFD 1.2 corrects all four signs, which needs
    # 8 + 4 × (4 + 100) = 424, and 1194/1157/1158 grow by the same 208 bytes (708 -> 916).
    T(1133, "CORRECTION_COUNTERS", "счётчики операций по чекам коррекции", D.STLV, 424, False, "receiptCorrection",
      children=_CORRECTION_COUNTERS),
    T(1144, "CORRECTION_OR_UNSENT_COUNT", "количество чеков коррекции или непереданных чеков", D.UINT32, 4, True,
      "receiptCorrectionCount"),
    # 1145/1146: 100 (SH, Y) vs 32 (CF) vs 144 (RD); 1232/1233: 32 (SH, CF) vs 144 (RD). Their 7 children
    # (tables 54/92) need up to 80 bytes, so 32 cannot be right: all four take 100.
    T(1145, "SALE_CORRECTION_COUNTERS", "счётчики по признаку «приход»", D.STLV, 100, False, "sellCorrection",
      children=_SIGN_COUNTERS),
    T(1146, "PURCHASE_CORRECTION_COUNTERS", "счётчики по признаку «расход»", D.STLV, 100, False, "buyCorrection",
      children=_SIGN_COUNTERS),
    T(1232, "SALE_REFUND_CORRECTION_COUNTERS", "счётчики по признаку «возврат прихода»", D.STLV, 100, False,
      "sellReturnCorrection", children=_SIGN_COUNTERS),
    T(1233, "PURCHASE_REFUND_CORRECTION_COUNTERS", "счётчики по признаку «возврат расхода»", D.STLV, 100, False,
      "buyReturnCorrection", children=_SIGN_COUNTERS),
    T(1135, "RECEIPT_COUNT", "количество чеков (БСО) по признаку расчётов", D.UINT32, 4, True, "receiptBsoCount"),
    T(1136, "COUNTER_CASH_SUM", "итоговая сумма в чеках (БСО) наличными", D.VLN, 8, False, "cashSum"),
    T(1138, "COUNTER_ECASH_SUM", "итоговая сумма в чеках (БСО) безналичными", D.VLN, 8, False, "ecashSum"),
    T(1218, "COUNTER_PREPAID_SUM", "итоговая сумма в чеках (БСО) предоплатами (авансами)", D.VLN, 8, False,
      "prepaidSum"),
    T(1219, "COUNTER_CREDIT_SUM", "итоговая сумма в чеках (БСО) постоплатами (кредитами)", D.VLN, 8, False,
      "creditSum"),
    T(1220, "COUNTER_PROVISION_SUM", "итоговая сумма в чеках (БСО) встречными предоставлениями", D.VLN, 8, False,
      "provisionSum"),
    T(1201, "COUNTER_TOTAL_SUM", "общая итоговая сумма в чеках (БСО)", D.VLN, 8, False, "totalSum"),
    # JSON names 1139/1141 keep the FNS "18" spelling of the pre-2019 rate.
    T(1139, "COUNTER_VAT20_SUM", "сумма НДС по ставке 20%", D.VLN, 8, False, "tax18Sum"),
    T(1140, "COUNTER_VAT10_SUM", "сумма НДС по ставке 10%", D.VLN, 8, False, "tax10Sum"),
    T(1141, "COUNTER_VAT20_120_SUM", "сумма НДС по расч. ставке 20/120", D.VLN, 8, False, "tax18118Sum"),
    T(1142, "COUNTER_VAT10_110_SUM", "сумма НДС по расч. ставке 10/110", D.VLN, 8, False, "tax10110Sum"),
    T(1143, "COUNTER_VAT0_TOTAL", "сумма расчётов с НДС по ставке 0%", D.VLN, 8, False, "tax0Sum"),
    T(1183, "COUNTER_NO_VAT_TOTAL", "сумма расчётов без НДС", D.VLN, 8, False, "taxFreeSum"),
    # ── 2025–2026 structures. 1115/1119/1120 and 1082 carry their NEW meaning only (ffd.md §7) ─────────
    # Max lengths are computed from the children (the prikaz tables were not reachable): 1119 = 5 + 10,
    # 1115 = 12 rates x (4 + 15).
    T(1115, "RECEIPT_VAT_SUMS", "суммы НДС чека", D.STLV, 228, False, "amountsReceiptNds", children=_c(1119)),
    T(1119, "RECEIPT_VAT_SUM", "сумма НДС чека", D.STLV, 15, False, "amountsNds", children=_c(1199, 1120),
      repeatable=True),
    T(1120, "VAT_SUM", "сумма НДС", D.VLN, 6, False, "ndsSum"),
    # 1234/1235 lengths and 1237/1238 string limits are not verified: 1235 = sum of its children, 1234 generous.
    T(1234, "ECASH_PAYMENTS", "сведения обо всех оплатах по чеку безналичными", D.STLV, 4096, False, "allECashProp",
      children=_c(1235)),
    T(1235, "ECASH_PAYMENT", "сведения об оплате безналичными", D.STLV, 535, False, "ecashProp",
      children=_c(1082, 1236, 1237, 1238), repeatable=True),
    T(1082, "ECASH_PAYMENT_SUM", "сумма оплаты безналичными", D.VLN, 6, False, "ecashSum"),
    T(1236, "ECASH_METHOD", "признак способа оплаты безналичными", D.BYTE, 1, True, "ecashSign"),
    T(1237, "ECASH_IDS", "идентификаторы безналичной оплаты", D.STRING, 256, False, "ecashIdent"),
    T(1238, "ECASH_INFO", "дополнительные сведения о безналичной оплате", D.STRING, 256, False, "ecashAddInfo"),
    # ── 1.2 operational and industry attributes (tables 102, 119) ─────────────────────────────────────
    T(1270, "OPERATIONAL_PROPERTY", "операционный реквизит чека", D.STLV, 144, False, "operationalDetails",
      versions=_12, children=_c(1271, 1272, 1273)),
    T(1271, "OPERATION_ID", "идентификатор операции", D.BYTE, 1, True, "operationId", versions=_12),
    T(1272, "OPERATION_DATA", "данные операции", D.STRING, 64, False, "operationData", versions=_12),
    T(1273, "OPERATION_DATE_TIME", "дата, время операции", D.UNIXTIME, 4, True, "dateTime", versions=_12),
    # 1260/1261: 317 (CF, = the sum of the four children) vs 302 (SH, ffd.md); CF wins for 1.2.
    T(1260, "ITEM_INDUSTRY_PROPERTY", "отраслевой реквизит предмета расчёта", D.STLV, 317, False,
      "itemsIndustryDetails", versions=_12, children=_INDUSTRY, repeatable=True),
    T(1261, "RECEIPT_INDUSTRY_PROPERTY", "отраслевой реквизит чека", D.STLV, 317, False, "industryReceiptDetails",
      versions=_12, children=_INDUSTRY, repeatable=True),
    # 1262: CF/SH say "up to 3"; the ФОИВ ids are always three digits ("030"), so fixed.
    T(1262, "FOIV_ID", "идентификатор ФОИВ", D.STRING, 3, True, "idFoiv", versions=_12),
    T(1263, "BASIS_DOC_DATE", "дата документа основания (ДД.ММ.ГГГГ)", D.STRING, 10, True, "foundationDocDateTime",
      versions=_12),
    T(1264, "BASIS_DOC_NUMBER", "номер документа основания", D.STRING, 32, False, "foundationDocNumber",
      versions=_12),
    T(1265, "INDUSTRY_PROPERTY_VALUE", "значение отраслевого реквизита", D.STRING, 256, False, "industryPropValue",
      versions=_12),  # SH 265 is a typo of 256 (CF)
    # ── Common document header ───────────────────────────────────────────────────────────────────────
    T(1000, "DOC_NAME", "наименование документа (только печатная форма)", D.STRING, 256, False, "docName"),
    T(1209, "FFD_VERSION", "номер версии ФФД", D.BYTE, 1, True, "fiscalDocumentFormatVer"),
    T(1048, "USER_NAME", "наименование пользователя", D.STRING, 256, False, "user"),
    T(1018, "USER_INN", "ИНН пользователя", D.STRING, 12, True, "userInn"),
    T(1012, "DATE_TIME", "дата, время", D.UNIXTIME, 4, True, "dateTime"),
    # 1011 (2025): time zone of the place of settlement; the old 1.0 meaning (agent fee) is obsolete.
    T(1011, "TIME_ZONE", "часовая зона", D.BYTE, 1, True, None),
    T(1037, "KKT_REG_ID", "регистрационный номер ККТ", D.STRING, 20, True, "kktRegId"),
    T(1013, "KKT_SERIAL", "заводской номер ККТ", D.STRING, 20, False, "kktNumber"),
    T(1036, "MACHINE_NUMBER", "номер автомата", D.STRING, 20, False, "machineNumber"),
    T(1021, "CASHIER", "кассир", D.STRING, 64, False, "operator"),
    T(1203, "CASHIER_INN", "ИНН кассира", D.STRING, 12, True, "operatorInn"),
    T(1009, "SETTLEMENT_ADDRESS", "адрес расчётов", D.STRING, 256, False, "retailPlaceAddress"),
    T(1187, "SETTLEMENT_PLACE", "место расчётов", D.STRING, 256, False, "retailPlace"),
    T(1038, "SHIFT_NUMBER", "номер смены", D.UINT32, 4, True, "shiftNumber"),
    T(1040, "FD_NUMBER", "номер ФД", D.UINT32, 4, True, "fiscalDocumentNumber"),
    T(1041, "FN_NUMBER", "номер ФН", D.STRING, 16, True, "fiscalDriveNumber"),
    T(1077, "FISCAL_SIGN", "ФПД (фискальный признак документа)", D.BYTES, 6, True, "fiscalSign"),
    T(1060, "FNS_SITE", "адрес сайта ФНС", D.STRING, 256, False, "fnsUrl"),
    T(1117, "SENDER_EMAIL", "адрес электронной почты отправителя чека", D.STRING, 64, False, "sellerAddress"),
    T(1084, "USER_PROPERTY", "дополнительный реквизит пользователя", D.STLV, 320, False, "properties",
      children=_c(1085, 1086)),  # 320 (CF, SH) vs 328 (Y); once per document: the FNS JSON holds an object
    T(1085, "USER_PROPERTY_NAME", "наименование дополнительного реквизита пользователя", D.STRING, 64, False,
      "propertyName"),
    T(1086, "USER_PROPERTY_VALUE", "значение дополнительного реквизита пользователя", D.STRING, 256, False,
      "propertyValue"),
    T(1192, "RECEIPT_PROPERTY", "дополнительный реквизит чека (БСО)", D.STRING, 16, False, "propertiesData"),
    T(1196, "QR_CODE", "QR-код (только печатная форма)", D.STRING, 256, False, None),
    # ── Receipt / BSO / correction receipt (forms 3, 4, 31, 41) ─────────────────────────────────────────
    T(1054, "SETTLEMENT_SIGN", "признак расчёта", D.BYTE, 1, True, "operationType"),
    T(1055, "TAX_SYSTEM", "применяемая система налогообложения", D.BITMASK, 1, True, "appliedTaxationType"),
    T(1042, "RECEIPT_NUMBER", "номер чека за смену", D.UINT32, 4, True, "requestNumber"),
    T(1008, "BUYER_CONTACT", "телефон или электронный адрес покупателя", D.STRING, 64, False, "buyerPhoneOrAddress"),
    T(1020, "TOTAL", "сумма расчёта, указанного в чеке (БСО)", D.VLN, 6, False, "totalSum"),
    T(1031, "CASH_TOTAL", "сумма по чеку (БСО) наличными", D.VLN, 6, False, "cashTotalSum"),
    T(1081, "ECASH_TOTAL", "сумма по чеку (БСО) безналичными", D.VLN, 6, False, "ecashTotalSum"),
    T(1215, "PREPAID_TOTAL", "сумма по чеку (БСО) предоплатой (зачётом аванса)", D.VLN, 6, False, "prepaidSum"),
    T(1216, "CREDIT_TOTAL", "сумма по чеку (БСО) постоплатой (в кредит)", D.VLN, 6, False, "creditSum"),
    T(1217, "PROVISION_TOTAL", "сумма по чеку (БСО) встречным предоставлением", D.VLN, 6, False, "provisionSum"),
    # 1102: "nds18" is the legacy FNS name (CF, CS, Y); newer FNS JSON (the 2020 receipt, V) says "nds20".
    T(1102, "VAT20_SUM", "сумма НДС чека по ставке 20%", D.VLN, 6, False, "nds20"),
    T(1103, "VAT10_SUM", "сумма НДС чека по ставке 10%", D.VLN, 6, False, "nds10"),
    T(1104, "VAT0_TOTAL", "сумма расчёта по чеку с НДС по ставке 0%", D.VLN, 6, False, "nds0"),
    T(1105, "NO_VAT_TOTAL", "сумма расчёта по чеку без НДС", D.VLN, 6, False, "ndsNo"),
    T(1106, "VAT20_120_SUM", "сумма НДС чека по расч. ставке 20/120", D.VLN, 6, False, "nds18118"),
    T(1107, "VAT10_110_SUM", "сумма НДС чека по расч. ставке 10/110", D.VLN, 6, False, "nds10110"),
    T(1108, "INTERNET_ONLY", "признак ККТ для расчётов только в Интернет", D.BYTE, 1, True, "internetSign"),
    T(1125, "INTERNET_SETTLEMENT", "признак расчёта в «Интернет»", D.BYTE, 1, True, "internetPayment"),
    # 1057 sits in the 1.05 receipt and registration report; the 1.2 tables use 1222 per item instead.
    T(1057, "AGENT_SIGN", "признак агента", D.BITMASK, 1, True, "paymentAgentType", versions=_105),
    # 1227/1228 are top-level in 1.05 and live inside 1256 in 1.2, so the tag itself is in both versions.
    T(1227, "BUYER", "покупатель (клиент)", D.STRING, 256, False, "buyer"),  # 256 (CF) vs 128 (SH)
    T(1228, "BUYER_INN", "ИНН покупателя (клиента)", D.STRING, 12, True, "buyerInn"),
    T(1256, "BUYER_INFO", "сведения о покупателе (клиенте)", D.STLV, 1024, False, "buyerInformation", versions=_12,
      children=_c(1227, 1228, 1243, 1244, 1245, 1246, 1254)),
    T(1243, "BUYER_BIRTH_DATE", "дата рождения покупателя (ДД.ММ.ГГГГ)", D.STRING, 10, True, "buyerBirthday",
      versions=_12),
    T(1244, "BUYER_CITIZENSHIP", "гражданство (код ОКСМ)", D.STRING, 3, True, "buyerCitizenship", versions=_12),
    # 1245: a two-digit document kind code ("21" = passport): 2F (CF) vs 32F (SH).
    T(1245, "BUYER_ID_DOC_CODE", "код вида документа, удостоверяющего личность", D.STRING, 2, True,
      "buyerDocumentCode", versions=_12),
    T(1246, "BUYER_ID_DOC_DATA", "данные документа, удостоверяющего личность", D.STRING, 64, False,
      "buyerDocumentData", versions=_12),
    T(1254, "BUYER_ADDRESS", "адрес покупателя (клиента)", D.STRING, 256, False, "buyerAddress", versions=_12),
    T(2107, "MARKED_ITEMS_CHECK_RESULT", "результаты проверки маркированных товаров", D.BYTE, 1, True,
      "checkingLabeledProdResult", versions=_12),
    # Agent data at the top of a 1.05 receipt (table 20); in 1.2 only inside 1223/1224 of an item.
    T(1005, "TRANSFER_OPERATOR_ADDRESS", "адрес оператора перевода", D.STRING, 256, False, "transferOperatorAddress"),
    T(1016, "TRANSFER_OPERATOR_INN", "ИНН оператора перевода", D.STRING, 12, True, "transferOperatorInn"),
    T(1026, "TRANSFER_OPERATOR_NAME", "наименование оператора перевода", D.STRING, 64, False, "transferOperatorName"),
    T(1044, "PAYMENT_AGENT_OPERATION", "операция платёжного агента", D.STRING, 24, False, "paymentAgentOperation"),
    T(1073, "PAYMENT_AGENT_PHONE", "телефон платёжного агента", D.STRING, 19, False, "paymentAgentPhone",
      repeatable=True),
    T(1074, "PAYMENT_OPERATOR_PHONE", "телефон оператора по приёму платежей", D.STRING, 19, False,
      "paymentOperatorPhone", repeatable=True),
    T(1075, "TRANSFER_OPERATOR_PHONE", "телефон оператора перевода", D.STRING, 19, False, "transferOperatorPhone",
      repeatable=True),
    T(1171, "SUPPLIER_PHONE", "телефон поставщика", D.STRING, 19, False, "providerPhone", repeatable=True),
    # Correction receipt (tables 27/29, 120/122). 1177 (basis name) is obsolete and not registered.
    T(1173, "CORRECTION_TYPE", "тип коррекции", D.BYTE, 1, True, "correctionType"),
    # The FNS JSON name starts with a Cyrillic "с" (U+0441) in both CF and CS: kept as the FNS spells it.
    T(1174, "CORRECTION_BASIS", "основание для коррекции", D.STLV, 292, False, "\u0441orrectionBase",
      children=_c(1178, 1179)),
    T(1178, "CORRECTED_DATE", "дата совершения корректируемого расчёта", D.UNIXTIME, 4, True,
      "correctionDocumentDate"),
    T(1179, "INSPECTION_ORDER_NUMBER", "номер предписания налогового органа", D.STRING, 32, False,
      "correctionDocumentNumber"),
    # ── Item 1059 and its structures (tables 21–23, 97–99, 117) ───────────────────────────────────────
    T(1059, "ITEM", "предмет расчёта", D.STLV, 1024, False, "items", children=_ITEM, repeatable=True),
    T(1030, "ITEM_NAME", "наименование предмета расчёта", D.STRING, 128, False, "name"),
    T(1079, "ITEM_PRICE", "цена за единицу предмета расчёта с учётом скидок и наценок", D.VLN, 6, False, "price"),
    T(1023, "ITEM_QUANTITY", "количество предмета расчёта", D.FVLN, 8, False, "quantity"),
    T(1043, "ITEM_SUM", "стоимость предмета расчёта с учётом скидок и наценок", D.VLN, 6, False, "sum"),
    T(1199, "VAT_RATE", "ставка НДС", D.BYTE, 1, True, "nds"),
    T(1200, "ITEM_VAT_SUM", "сумма НДС за предмет расчёта", D.VLN, 6, False, "ndsSum"),
    T(1198, "ITEM_UNIT_VAT", "размер НДС за единицу предмета расчёта", D.VLN, 6, False, "unitNds"),
    T(1212, "ITEM_SUBJECT", "признак предмета расчёта", D.BYTE, 1, True, "productType"),
    T(1214, "PAYMENT_METHOD", "признак способа расчёта", D.BYTE, 1, True, "paymentType"),
    T(1197, "ITEM_UNIT", "единица измерения предмета расчёта", D.STRING, 16, False, "unit", versions=_105),
    T(1162, "PRODUCT_CODE_105", "код товара (ФФД 1.05)", D.BYTES, 32, False, "productCode", versions=_105),
    T(2108, "MEASURE_UNIT", "мера количества предмета расчёта", D.BYTE, 1, True, "itemsQuantityMeasure",
      versions=_12),
    T(1191, "ITEM_PROPERTY", "дополнительный реквизит предмета расчёта", D.STRING, 64, False, "propertiesItem"),
    T(1222, "ITEM_AGENT_SIGN", "признак агента по предмету расчёта", D.BITMASK, 1, True,
      "paymentAgentByProductType"),
    T(1223, "AGENT_DATA", "данные агента", D.STLV, 512, False, "paymentAgentData",
      children=_c(1005, 1016, 1026, 1044, 1073, 1074, 1075)),
    T(1224, "SUPPLIER_DATA", "данные поставщика", D.STLV, 512, False, "providerData", children=_c(1171, 1225)),
    T(1225, "SUPPLIER_NAME", "наименование поставщика", D.STRING, 256, False, "providerName"),
    T(1226, "SUPPLIER_INN", "ИНН поставщика", D.STRING, 12, True, "providerInn"),
    T(1229, "EXCISE_DUTY", "акциз", D.VLN, 6, False, "exciseDuty"),
    T(1230, "ORIGIN_COUNTRY", "код страны происхождения товара", D.STRING, 3, True, "originCountryCode"),
    T(1231, "CUSTOMS_DECLARATION", "номер декларации на товар", D.STRING, 32, False, "customEntryNum"),
    T(1291, "FRACTIONAL_QUANTITY", "дробное количество маркированного товара", D.STLV, 52, False,
      "labeledProdFractionalQuantity", versions=_12, children=_c(1292, 1293, 1294)),
    T(1292, "FRACTION", "дробная часть", D.STRING, 24, False, "fractionalPart", versions=_12),
    T(1293, "NUMERATOR", "числитель", D.VLN, 8, False, "numerator", versions=_12),
    T(1294, "DENOMINATOR", "знаменатель", D.VLN, 8, False, "denominator", versions=_12),
    T(2102, "MARKING_MODE", "режим обработки кода маркировки", D.BYTE, 1, True, "labelCodeProcesMode",
      versions=_12),
    T(2106, "ITEM_CHECK_RESULT", "результат проверки сведений о товаре", D.BITMASK, 1, True,
      "checkingProdInformationResult", versions=_12),
    T(2110, "ASSIGNED_ITEM_STATUS", "присвоенный статус товара", D.BYTE, 1, True, None, versions=_12),
    T(2115, "MARKING_CONTROL_CODE", "контрольный код КМ", D.STRING, 4, True, "controlCode", versions=_12),
    # 1163: 256 (CF) vs 64 (SH); CF wins for 1.2. It holds exactly one of the 13xx codes.
    T(1163, "PRODUCT_CODE", "код товара (ФФД 1.2)", D.STLV, 256, False, "productCodeNew", versions=_12,
      children=_PRODUCT_CODES),
    T(1300, "CODE_UNRECOGNIZED", "нераспознанный код товара", D.STRING, 32, False, "undefined", versions=_12),
    T(1301, "CODE_EAN8", "КТ EAN-8", D.STRING, 8, True, "ean8", versions=_12),
    T(1302, "CODE_EAN13", "КТ EAN-13", D.STRING, 13, True, "ean13", versions=_12),
    T(1303, "CODE_ITF14", "КТ ITF-14", D.STRING, 14, True, "itf14", versions=_12),
    T(1304, "CODE_GS1", "КТ GS1.0", D.STRING, 38, False, "gs1", versions=_12),
    T(1305, "CODE_GS1M", "КТ GS1.М", D.STRING, 38, False, "gs1m", versions=_12),
    T(1306, "CODE_KMK", "КТ КМК", D.STRING, 38, False, "kmk", versions=_12),
    T(1307, "CODE_FUR", "КТ МИ (контрольно-идентификационный знак мехового изделия)", D.STRING, 20, True, "mi",
      versions=_12),
    T(1308, "CODE_EGAIS2", "КТ ЕГАИС-2.0", D.STRING, 23, True, "egais2", versions=_12),  # 23F (CF) vs 33F (SH)
    T(1309, "CODE_EGAIS3", "КТ ЕГАИС-3.0", D.STRING, 14, True, "egais3", versions=_12),
    T(1320, "CODE_F1", "КТ Ф.1", D.STRING, 32, False, "f1", versions=_12),
    T(1321, "CODE_F2", "КТ Ф.2", D.STRING, 32, False, "f2", versions=_12),
    T(1322, "CODE_F3", "КТ Ф.3", D.STRING, 32, False, "f3", versions=_12),
    T(1323, "CODE_F4", "КТ Ф.4", D.STRING, 32, False, "f4", versions=_12),
    T(1324, "CODE_F5", "КТ Ф.5", D.STRING, 32, False, "f5", versions=_12),
    T(1325, "CODE_F6", "КТ Ф.6", D.STRING, 32, False, "f6", versions=_12),
    # ── Registration / re-registration (forms 1, 11: tables 15/16, 87/88) ───────────────────────────────
    T(1062, "TAX_SYSTEMS", "системы налогообложения", D.BITMASK, 1, True, "taxationType"),
    T(1001, "AUTO_MODE", "признак автоматического режима", D.BYTE, 1, True, "autoMode"),
    T(1002, "OFFLINE_MODE", "признак автономного режима", D.BYTE, 1, True, "offlineMode"),
    T(1056, "ENCRYPTION", "признак шифрования", D.BYTE, 1, True, "encryptionSign"),
    # 1.05 mode flags; 1.2 packs them into the 1290 bitmask.
    T(1109, "SERVICES_ONLY", "признак расчётов за услуги", D.BYTE, 1, True, "serviceSign", versions=_105),
    T(1110, "BSO_ONLY", "признак АС БСО", D.BYTE, 1, True, "bsoSign", versions=_105),
    T(1126, "LOTTERY", "признак проведения лотереи", D.BYTE, 1, True, "lotterySign", versions=_105),
    T(1193, "GAMBLING", "признак проведения азартных игр", D.BYTE, 1, True, "gamblingSign", versions=_105),
    T(1207, "EXCISE", "признак торговли подакцизными товарами", D.BYTE, 1, True, "exciseDutyProductSign",
      versions=_105),
    T(1221, "PRINTER_IN_MACHINE", "признак установки принтера в автомате", D.BYTE, 1, True, "printInMachineSign",
      versions=_105),
    T(1290, "USAGE_CONDITIONS", "признаки условий применения ККТ", D.BITMASK, 4, True, "usageConditionSigns",
      versions=_12),  # uint32 (CF, CS); SH's length 1 is a typo
    T(1017, "OFD_INN", "ИНН ОФД", D.STRING, 12, True, "ofdInn"),
    T(1046, "OFD_NAME", "наименование ОФД", D.STRING, 256, False, "ofdName"),
    T(1188, "KKT_VERSION", "версия ККТ", D.STRING, 8, False, "kktVersion"),
    T(1189, "KKT_FFD_VERSION", "версия ФФД ККТ", D.BYTE, 1, True, "documentKktVersion"),
    T(1190, "FN_FFD_VERSION", "версия ФФД ФН", D.BYTE, 1, True, "documentFdVersion"),
    T(1213, "KEY_RESOURCE_DAYS", "ресурс ключей ФП (дней)", D.UINT16, 2, True, "fdKeyResource"),  # Y says uint32
    T(1101, "REREGISTRATION_REASON", "код причины перерегистрации", D.BYTE, 1, True, "correctionReasonCode",
      versions=_105, repeatable=True),
    T(1205, "REREGISTRATION_REASONS", "коды причин изменения сведений о ККТ", D.BITMASK, 4, True,
      "correctionKktReasonCode", versions=_12),
    T(1274, "REGISTRATION_EXTRA_PROPERTY", "дополнительный реквизит ОР", D.STRING, 32, False, "additionalPropsFRC",
      versions=_12),
    T(1275, "REGISTRATION_EXTRA_DATA", "дополнительные данные ОР", D.BYTES, 32, False, "additionalDataFRC",
      versions=_12),
    # ── Shift open / close, status report, FN close (forms 2, 5, 21, 6) ──────────────────────────────────
    T(1050, "FN_EXPIRY_WARNING", "признак исчерпания ресурса ФН (менее 30 дней)", D.BYTE, 1, True,
      "fiscalDriveExhaustionSign"),
    T(1051, "FN_REPLACE_URGENT", "признак необходимости срочной замены ФН (менее 3 дней)", D.BYTE, 1, True,
      "fiscalDriveReplaceRequiredSign"),
    T(1052, "FN_MEMORY_FULL", "признак переполнения памяти ФН", D.BYTE, 1, True, "fiscalDriveMemoryExceededSign"),
    T(1053, "OFD_TIMEOUT", "признак превышения времени ожидания ответа ОФД", D.BYTE, 1, True,
      "ofdResponseTimeoutSign"),
    T(1206, "OPERATOR_MESSAGE", "сообщение оператора", D.BITMASK, 1, True, "operatorMessage"),
    # 1118: "receiptsQuantity" (Y's 1.05 schema) vs "receiptQuantity" (CS); Y is an OFD's own schema.
    T(1118, "SHIFT_RECEIPT_COUNT", "количество кассовых чеков (БСО) за смену", D.UINT32, 4, True,
      "receiptsQuantity"),
    T(1111, "SHIFT_FD_COUNT", "общее количество ФД за смену", D.UINT32, 4, True, "documentsQuantity"),
    T(1097, "UNSENT_FD_COUNT", "количество непереданных ФД", D.UINT32, 4, True, "notTransmittedDocumentsQuantity"),
    T(1098, "FIRST_UNSENT_FD_DATE", "дата и время первого из непереданных ФД", D.UNIXTIME, 4, True,
      "notTransmittedDocumentsDateTime"),
    T(1116, "FIRST_UNSENT_FD_NUMBER", "номер первого непереданного документа", D.UINT32, 4, True,
      "notTransmittedDocumentNumber"),
    T(2104, "UNSENT_NOTIFICATION_COUNT", "количество непереданных уведомлений", D.UINT32, 4, True,
      "undeliveredNotificationsNumber", versions=_12),
    T(2112, "INVALID_MARKING_CODES", "признак некорректных кодов маркировки", D.BITMASK, 1, True,
      "invalidLabelCodesSign", versions=_12),
    T(2113, "INVALID_REQUESTS", "признак некорректных запросов и уведомлений", D.BITMASK, 1, True,
      "invalidRequestsNotificationsSign", versions=_12),
    T(1276, "SHIFT_OPEN_EXTRA_PROPERTY", "дополнительный реквизит ООС", D.STRING, 32, False, "additionalPropsOS",
      versions=_12),
    T(1277, "SHIFT_OPEN_EXTRA_DATA", "дополнительные данные ООС", D.BYTES, 32, False, "additionalDataOS",
      versions=_12),
    T(1278, "SHIFT_CLOSE_EXTRA_PROPERTY", "дополнительный реквизит ОЗС", D.STRING, 32, False, "additionalPropsCS",
      versions=_12),
    T(1279, "SHIFT_CLOSE_EXTRA_DATA", "дополнительные данные ОЗС", D.BYTES, 32, False, "additionalDataCS",
      versions=_12),
    T(1280, "STATUS_REPORT_EXTRA_PROPERTY", "дополнительный реквизит ОТР", D.STRING, 32, False,
      "additionalPropsCSR", versions=_12),
    T(1281, "STATUS_REPORT_EXTRA_DATA", "дополнительные данные ОТР", D.BYTES, 32, False, "additionalDataCSR",
      versions=_12),
    T(1282, "DRIVE_CLOSE_EXTRA_PROPERTY", "дополнительный реквизит ОЗФН", D.STRING, 32, False, "additionalPropsCA",
      versions=_12),
    T(1283, "DRIVE_CLOSE_EXTRA_DATA", "дополнительные данные ОЗФН", D.BYTES, 32, False, "additionalDataCA",
      versions=_12),
    # ── Operator confirmation (form 7, tables 32/33, 125) ────────────────────────────────────────────────
    # 1068: 169 (Y, CF) vs 9 (SH, RD); the larger bound also admits the optional string of table 33.
    T(1068, "OPERATOR_MESSAGE_FOR_FN", "сообщение оператора для ФН", D.STLV, 169, False, None, children=_c(1022)),
    T(1022, "OFD_RESPONSE_CODE", "код ответа ОФД", D.BYTE, 1, True, None),
    # 1078: 16 (SH, CF, RD) vs 18 (Y): accept up to 18, so not fixed.
    T(1078, "OPERATOR_FISCAL_SIGN", "ФПО (фискальный признак оператора)", D.BYTES, 18, False, None),
    # ── Marking (FFD 1.2, 2000-series; forms 81–84 themselves are out of scope) ───────────────────────────
    T(2000, "MARKING_CODE", "код маркировки", D.STRING, 256, False, None, versions=_12),
    T(2001, "MARKING_REQUEST_NUMBER", "номер запроса", D.UINT32, 4, True, None, versions=_12),
    T(2002, "NOTIFICATION_NUMBER", "номер уведомления", D.UINT32, 4, True, None, versions=_12),
    T(2003, "PLANNED_ITEM_STATUS", "планируемый статус товара", D.BYTE, 1, True, None, versions=_12),
    T(2004, "MARKING_CHECK_RESULT", "результат проверки КМ", D.BITMASK, 1, True, None, versions=_12),
    T(2005, "REQUEST_PROCESSING_RESULTS", "результаты обработки запроса", D.BITMASK, 1, True, None, versions=_12),
    T(2006, "NOTIFICATION_PROCESSING_RESULTS", "результаты обработки уведомления", D.BYTE, 1, True, None,
      versions=_12),
    T(2007, "MARKED_ITEM_DATA", "данные о маркированном товаре", D.STLV, 512, False, None, versions=_12,
      children=_MARKED_ITEM, repeatable=True),
    # 2040 (2025): "номер ФД кассового чека (кассового чека коррекции)" in the sale notification.
    T(2040, "RECEIPT_FD_NUMBER", "номер ФД кассового чека (кассового чека коррекции)", D.UINT32, 4, True, None),
    T(2100, "MARKING_CODE_TYPE", "тип кода маркировки", D.BYTE, 1, True, None, versions=_12),
    T(2101, "PRODUCT_ID", "идентификатор товара", D.STRING, 38, False, None, versions=_12),  # 38 (CF) vs 34 (SH)
    T(2105, "REQUEST_PROCESSING_CODES", "коды обработки запроса", D.BYTE, 1, True, None, versions=_12),
    T(2109, "OISM_ITEM_STATUS", "ответ ОИСМ о статусе товара", D.BYTE, 1, True, None, versions=_12),
    T(2111, "NOTIFICATION_PROCESSING_CODES", "коды обработки уведомления", D.BYTE, 1, True, None, versions=_12),
    T(2114, "REQUEST_DATE_TIME", "дата и время запроса", D.UNIXTIME, 4, True, None, versions=_12),
    T(2116, "OPERATION_KIND", "вид операции", D.BITMASK, 1, True, None, versions=_12),
]
# fmt: on
