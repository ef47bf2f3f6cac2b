"""Builders of whole fiscal documents as trees ``(form_code, [nodes])`` for FFD 1.05 (1209 = 2) and 1.2 (4).

Rules
- Every builder takes ``(identity, header, fiscal_sign, ...)``. The drive numbers the document and computes the
  6-byte 1077 value first (it needs the FD number, the time, the settlement sign and the total); a builder
  never invents a number, a time or a sign.
- Which tags a document carries follows the prikaz tables as CF transcribed them (ffd.md §5; registration 15/87,
  shift open 18/94, status 19/95, receipt 20/96, item 21/97, correction 27/120, shift close 30/123, drive close
  31/124, confirmation 32): every mandatory tag is written, a conditional one when its condition holds, an
  optional one when we have its value. Where the yandex/ofd 1.05 JSON schemas (an OFD's own checks) require
  more, we write it too: the 1.05 mode flags of the registration report and 1050–1053 in every shift close.
- Print-only tags (1000, 1196) are left out: an electronic document never carries them (Y strips 1000).
  Tags the tables mark "print" but that are data (1048, 1009, 1187 in the shift and status reports) are kept.
- Always written beyond the tables' minimum, as the brief and real receipts do: 1018 and 1048 in receipts, the
  five payment tags 1031/1081/1215/1216/1217 (zero allowed), 1060.
- 1.05 vs 1.2 in receipts: 1197 vs 2108 (mandatory in 1.2), 1162 vs 1163, 1227/1228 at the top vs inside 1256,
  receipt-level agent data (1057 + 1005/1016/1026/1044/1073–1075, 1171) in 1.05 only. A field of the other
  version raises :class:`~fiscal_core.ffd.receipt.ReceiptError` naming it.
- Receipt VAT (ffd.md §7.4): rates 1–6 go to the flat tags 1102–1107 (1104/1105 hold turnovers); rates 7–12 go
  to 1115 → 1119 {1199, 1120}, one per rate. The sums are computed on each rate's turnover, or taken from
  ``Receipt.vats`` when given.
- Payments: the tags hold what settles the total, so 1031 = cash − change (:meth:`Payments.change`) and the five
  payment tags always add up to 1020.
- Builders do not encode. An over-long receipt (the 32 768-byte form limit, 1024 bytes per item) fails at
  :func:`fiscal_core.ffd.tlv.encode` with an ``EncodeError`` naming the tag.
- The totals counters (1194/1157/1158) are :mod:`fiscal_core.ffd.counters`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from typing import Annotated, Any

from msgspec import Meta, Struct

from fiscal_core.ffd._receipt_nodes import receipt_nodes
from fiscal_core.ffd.counters import Counters
from fiscal_core.ffd.enums import (
    AgentType,
    FfdVersion,
    ReregistrationReason,
    SettlementSign,
    TaxSystem,
    UsageCondition,
)
from fiscal_core.ffd.receipt import Correction, Receipt, ReceiptError

__all__ = [
    "Counters",  # re-exported: the builders take it
    "Document",
    "DriveIdentity",
    "Header",
    "Node",
    "Warnings",
    "correction_receipt",
    "drive_close",
    "operator_confirmation",
    "receipt",
    "registration_report",
    "shift_close",
    "shift_open",
    "status_report",
]

Node = tuple[int, Any]
Document = tuple[int, list[Node]]

_FFD105 = int(FfdVersion.FFD_105)
_FFD12 = int(FfdVersion.FFD_12)
_LABEL = {_FFD105: "1.05", _FFD12: "1.2"}


_INN = Meta(pattern="^(?:[0-9]{10}|[0-9]{12})$")


class DriveIdentity(Struct, frozen=True, kw_only=True):
    """What the registration fixed: the drive, the register, the seller, the OFD and the modes.

    The patterns are checked by ``msgspec.convert`` (a fixed-width tag would otherwise be space-padded silently).
    """

    fn_number: Annotated[str, Meta(pattern="^[0-9]{16}$")]  #: 1041
    registration_number: Annotated[str, Meta(pattern="^[0-9]{16}$")]  #: 1037, РНМ (ffd.md §12.6)
    user_inn: Annotated[str, _INN]  #: 1018
    user_name: str  #: 1048
    kkt_serial: str  #: 1013
    ffd_version: FfdVersion  #: 1209: FFD_105 (2) or FFD_12 (4)
    ofd_inn: Annotated[str, _INN]  #: 1017
    ofd_name: str  #: 1046
    settlement_address: str  #: 1009
    settlement_place: str  #: 1187 (the site for internet sales)
    tax_systems: TaxSystem  #: 1062
    kkt_version: str  #: 1188
    fns_site: str = "www.nalog.gov.ru"  #: 1060
    sender_email: str | None = None  #: 1117
    kkt_ffd_version: FfdVersion | None = None  #: 1189; defaults to ffd_version
    fn_ffd_version: FfdVersion | None = None  #: 1190; defaults to ffd_version
    automatic: bool = False  #: 1001
    autonomous: bool = False  #: 1002
    encryption: bool = False  #: 1056
    internet_only: bool = False  #: 1108 / 1290 bit 5
    services_only: bool = False  #: 1109 / 1290 bit 9
    bso_only: bool = False  #: 1110 / 1290 bit 2
    lottery: bool = False  #: 1126 / 1290 bit 11
    gambling: bool = False  #: 1193 / 1290 bit 10
    excise: bool = False  #: 1207 / 1290 bit 6
    printer_in_machine: bool = False  #: 1221 / 1290 bit 1
    marked_goods: bool = False  #: 1290 bit 8 (FFD 1.2 only)
    pawnshop: bool = False  #: 1290 bit 12
    insurance: bool = False  #: 1290 bit 13
    vending: bool = False  #: 1290 bit 14
    catering: bool = False  #: 1290 bit 15
    wholesale: bool = False  #: 1290 bit 16
    agent_types: AgentType = AgentType(0)  #: 1057 in the 1.05 registration report
    automat_number: str | None = None  #: 1036 (mandatory in automatic mode)
    key_resource_days: int | None = None  #: 1213 at registration time

    def usage_conditions(self) -> int:
        """The 1290 bitmask (FFD 1.2) packed from the mode flags (ffd.md §4)."""
        u = UsageCondition
        flags = (
            (self.printer_in_machine, u.PRINTER_IN_MACHINE),
            (self.bso_only, u.BSO_ONLY),
            (self.internet_only, u.INTERNET_ONLY),
            (self.excise, u.EXCISE),
            (self.marked_goods, u.MARKED_GOODS),
            (self.services_only, u.SERVICES_ONLY),
            (self.gambling, u.GAMBLING),
            (self.lottery, u.LOTTERY),
            (self.pawnshop, u.PAWNSHOP),
            (self.insurance, u.INSURANCE),
            (self.vending, u.VENDING),
            (self.catering, u.CATERING),
            (self.wholesale, u.WHOLESALE),
        )
        return sum(int(flag) for on, flag in flags if on)


class Header(Struct, frozen=True, kw_only=True):
    """The drive's numbers for one document. Registration reports (1/11) carry no shift number."""

    fd_number: Annotated[int, Meta(ge=1, le=0xFFFFFFFF)]  #: 1040
    when: _dt.datetime  #: 1012, naive local wall-clock time
    shift_number: Annotated[int, Meta(ge=0, le=0xFFFFFFFF)] = 0  #: 1038


class Warnings(Struct, frozen=True, kw_only=True):
    """Drive and OFD warnings of the shift reports (ffd.md §3.5)."""

    fn_resource_30_days: bool = False  #: 1050
    urgent_replacement_3_days: bool = False  #: 1051
    memory_full_90_percent: bool = False  #: 1052
    ofd_timeout: bool = False  #: 1053
    operator_message: int = 0  #: 1206 bitmask (OperatorMessage)

    def flag_nodes(self, *, always: bool) -> list[Node]:
        flags = (
            (1050, self.fn_resource_30_days),
            (1051, self.urgent_replacement_3_days),
            (1052, self.memory_full_90_percent),
            (1053, self.ofd_timeout),
        )
        nodes: list[Node] = [(tag, int(on)) for tag, on in flags if on or always]
        if self.operator_message:
            nodes.append((1206, int(self.operator_message)))
        return nodes


_NO_WARNINGS = Warnings()


# --------------------------------------------------------------------------- common parts


def _version(identity: DriveIdentity) -> int:
    version = int(identity.ffd_version)
    if version not in _LABEL:
        raise ValueError(f"FFD version code {version} is not supported (2 = 1.05, 4 = 1.2)")
    return version


def _head(identity: DriveIdentity, header: Header, fiscal_sign: bytes) -> list[Node]:
    """The numbering block, in the order real receipts carry it (V: 1041, 1037, 1018, 1040, 1012, 1077)."""
    if not isinstance(fiscal_sign, (bytes, bytearray)) or len(fiscal_sign) != 6:
        raise ValueError("the fiscal sign (1077) is 6 bytes")
    return [
        (1041, identity.fn_number),
        (1037, identity.registration_number),
        (1018, identity.user_inn),
        (1040, header.fd_number),
        (1012, header.when),
        (1077, bytes(fiscal_sign)),
    ]


def _place(identity: DriveIdentity) -> list[Node]:
    return [(1048, identity.user_name), (1009, identity.settlement_address), (1187, identity.settlement_place)]


def _cashier(cashier: str | None, cashier_inn: str | None) -> list[Node]:
    nodes: list[Node] = []
    if cashier is not None:
        nodes.append((1021, cashier))
    if cashier_inn is not None:
        nodes.append((1203, cashier_inn))
    return nodes


def _midnight(day: _dt.date) -> _dt.datetime:
    return _dt.datetime.combine(day, _dt.time())


# --------------------------------------------------------------------------- reports


def registration_report(
    identity: DriveIdentity,
    header: Header,
    fiscal_sign: bytes,
    *,
    reregistration_reasons: int | Iterable[int] | None = None,
    cashier: str | None = None,
    cashier_inn: str | None = None,
    drive_counters: Counters | None = None,
    key_resource_days: int | None = None,
) -> Document:
    """Form 1, or form 11 when ``reregistration_reasons`` are given.

    Reasons: in 1.05 each value is a 1101 code (:class:`ReregistrationReason`), one node per code; in 1.2 the
    values are :class:`ChangeReason` bits OR-ed into one 1205. ``cashier`` (1021) is mandatory in both tables
    (15/87): the person who registers; it defaults to the user's name, as a cloud register has no cashier.
    ``drive_counters`` (1157) goes into form 11 only (table 88). 1213 defaults to ``identity.key_resource_days``
    and is mandatory in 1.2.
    """
    version = _version(identity)
    days = identity.key_resource_days if key_resource_days is None else key_resource_days
    nodes = _head(identity, header, fiscal_sign)
    nodes += [(1209, version), (1048, identity.user_name), (1062, int(identity.tax_systems))]
    nodes += [(1002, int(identity.autonomous)), (1056, int(identity.encryption)), (1001, int(identity.automatic))]
    if identity.automat_number is not None:
        nodes.append((1036, identity.automat_number))
    if version == _FFD105:
        # Table 15 flags; yandex/ofd's 1.05 fiscalReport schema requires the optional ones as well (0/1).
        flags = (
            (1221, identity.printer_in_machine),
            (1110, identity.bso_only),
            (1108, identity.internet_only),
            (1207, identity.excise),
            (1109, identity.services_only),
            (1193, identity.gambling),
            (1126, identity.lottery),
        )
        nodes += [(tag, int(on)) for tag, on in flags]
        if identity.agent_types:
            nodes.append((1057, int(identity.agent_types)))
    else:
        nodes.append((1290, identity.usage_conditions()))
    nodes.append((1013, identity.kkt_serial))
    nodes += _cashier(identity.user_name if cashier is None else cashier, cashier_inn)
    nodes += [(1009, identity.settlement_address), (1187, identity.settlement_place), (1060, identity.fns_site)]
    if identity.sender_email is not None:
        nodes.append((1117, identity.sender_email))
    nodes += [(1017, identity.ofd_inn), (1046, identity.ofd_name), (1188, identity.kkt_version)]
    nodes.append((1189, int(identity.kkt_ffd_version or version)))
    nodes.append((1190, int(identity.fn_ffd_version or version)))
    if days is not None:
        nodes.append((1213, days))
    elif version == _FFD12:
        raise ValueError("1213 (key resource days) is mandatory in an FFD 1.2 registration report")
    if reregistration_reasons is None:
        return (1, nodes)
    reasons = [reregistration_reasons] if isinstance(reregistration_reasons, int) else list(reregistration_reasons)
    if not reasons:
        raise ValueError("a re-registration report needs at least one reason")
    if version == _FFD105:
        nodes += [(1101, int(ReregistrationReason(code))) for code in reasons]
    else:
        mask = 0
        for bits in reasons:
            mask |= int(bits)
        if not 0 < mask <= 0xFFFFFFFF:
            raise ValueError("1205 is a non-zero uint32 bitmask")
        nodes.append((1205, mask))
    if drive_counters is not None:
        nodes.append(drive_counters.to_stlv(1157))
    return (11, nodes)


def shift_open(
    identity: DriveIdentity,
    header: Header,
    fiscal_sign: bytes,
    *,
    cashier: str | None = None,
    cashier_inn: str | None = None,
    warnings: Warnings = _NO_WARNINGS,
) -> Document:
    """Form 2 (tables 18/94); 1050–1053 and 1206 only when set."""
    version = _version(identity)
    nodes = _head(identity, header, fiscal_sign)
    nodes += [(1038, header.shift_number), (1209, version), *_place(identity), *_cashier(cashier, cashier_inn)]
    nodes += [(1188, identity.kkt_version), (1189, int(identity.kkt_ffd_version or version))]
    nodes += warnings.flag_nodes(always=False)
    return (2, nodes)


def _unsent(unsent_count: int, first_unsent_fd: int | None, first_unsent_when: _dt.datetime | None) -> list[Node]:
    nodes: list[Node] = [(1097, unsent_count)]
    if unsent_count:
        if first_unsent_fd is not None:
            nodes.append((1116, first_unsent_fd))
        if first_unsent_when is not None:
            nodes.append((1098, first_unsent_when))
    return nodes


def status_report(
    identity: DriveIdentity,
    header: Header,
    fiscal_sign: bytes,
    *,
    unsent_count: int,
    first_unsent_fd: int | None,
    first_unsent_when: _dt.datetime | None,
    shift_open: bool,
    drive_counters: Counters | None = None,
    unsent_counters: Counters | None = None,
    key_resource_days: int | None = None,
    unsent_notifications: int | None = None,
) -> Document:
    """Form 21 (tables 19/95).

    1038 (conditional) is the open shift's number, so it is written only when ``shift_open``. 1116/1098 are
    written when something is unsent; 1002 always (yandex/ofd's 1.05 schema requires it). ``drive_counters``
    (1157) and ``key_resource_days`` (1213) are mandatory in 1.2 and written in 1.05 when given;
    ``unsent_counters`` becomes 1158, ``unsent_notifications`` 2104 (1.2).
    """
    version = _version(identity)
    nodes = _head(identity, header, fiscal_sign)
    if shift_open:
        nodes.append((1038, header.shift_number))
    nodes += [(1209, version), *_place(identity), (1002, int(identity.autonomous))]
    nodes += _unsent(unsent_count, first_unsent_fd, first_unsent_when)
    if version == _FFD12:
        if drive_counters is None or key_resource_days is None:
            raise ValueError("1157 and 1213 are mandatory in an FFD 1.2 status report")
        if unsent_notifications is not None:
            nodes.append((2104, unsent_notifications))
    if key_resource_days is not None:
        nodes.append((1213, key_resource_days))
    if drive_counters is not None:
        nodes.append(drive_counters.to_stlv(1157))
    if unsent_counters is not None and unsent_count:
        nodes.append(unsent_counters.to_stlv(1158))
    return (21, nodes)


def shift_close(
    identity: DriveIdentity,
    header: Header,
    fiscal_sign: bytes,
    *,
    shift_counters: Counters,
    drive_counters: Counters,
    receipts_in_shift: int,
    documents_in_shift: int,
    unsent_count: int,
    first_unsent_when: _dt.datetime | None,
    first_unsent_fd: int | None = None,
    key_resource_days: int,
    warnings: Warnings = _NO_WARNINGS,
    cashier: str | None = None,
    cashier_inn: str | None = None,
    unsent_notifications: int | None = None,
    invalid_marking_codes: int | None = None,
    invalid_requests: int | None = None,
) -> Document:
    """Form 5 (tables 30/123) with 1194 and 1157.

    1050–1053 are always written (0/1): yandex/ofd's 1.05 closeShift schema requires all four. ``first_unsent_fd``
    is accepted but not written: 1116 is not in table 30 or 123 (only in the status report). 2104/2112/2113 are
    FFD 1.2. Table 30 (1.05) has no 1194/1157 in CF's transcription, but the 1.05 OFD schema accepts them and the
    drive keeps them for either version, so they are written in both.
    """
    del first_unsent_fd  # see the docstring: not a shift-close tag
    version = _version(identity)
    nodes = _head(identity, header, fiscal_sign)
    nodes += [(1038, header.shift_number), (1209, version), *_place(identity), *_cashier(cashier, cashier_inn)]
    nodes += [(1118, receipts_in_shift), (1111, documents_in_shift), (1097, unsent_count)]
    if unsent_count and first_unsent_when is not None:
        nodes.append((1098, first_unsent_when))
    nodes += warnings.flag_nodes(always=True)
    if version == _FFD12:
        extra = ((2104, unsent_notifications), (2112, invalid_marking_codes), (2113, invalid_requests))
        nodes += [(tag, value) for tag, value in extra if value is not None]
    nodes += [shift_counters.to_stlv(1194), drive_counters.to_stlv(1157), (1213, key_resource_days)]
    return (5, nodes)


def drive_close(
    identity: DriveIdentity,
    header: Header,
    fiscal_sign: bytes,
    *,
    drive_counters: Counters,
    cashier: str | None = None,
    cashier_inn: str | None = None,
) -> Document:
    """Form 6 (tables 31/124) with 1157."""
    version = _version(identity)
    nodes = _head(identity, header, fiscal_sign)
    nodes += [(1038, header.shift_number), (1209, version), *_place(identity), *_cashier(cashier, cashier_inn)]
    nodes.append(drive_counters.to_stlv(1157))
    return (6, nodes)


def operator_confirmation(
    ofd_inn: str, fn_number: str, fd_number: int, when: _dt.datetime, ofd_code: int, operator_sign: bytes
) -> Document:
    """Form 7, the OFD's receipt of a document (table 32): 1017, 1041, 1040, 1012, 1068 {1022}, 1078."""
    return (
        7,
        [
            (1017, ofd_inn),
            (1041, fn_number),
            (1040, fd_number),
            (1012, when),
            (1068, [(1022, int(ofd_code))]),
            (1078, bytes(operator_sign)),
        ],
    )


# --------------------------------------------------------------------------- receipts


def receipt(
    identity: DriveIdentity, header: Header, fiscal_sign: bytes, receipt: Receipt, *, receipt_number: int
) -> Document:
    """Form 3 (tables 20/96); 1042 = ``receipt_number``. Runs :func:`check_sums` first."""
    if isinstance(receipt, Correction):
        raise TypeError("a Correction is built by correction_receipt()")
    version = _version(identity)
    return (3, receipt_nodes(identity, version, _head(identity, header, fiscal_sign), header, receipt, receipt_number))


def correction_receipt(
    identity: DriveIdentity, header: Header, fiscal_sign: bytes, correction: Correction, *, receipt_number: int
) -> Document:
    """Form 31 (tables 27/120) with 1173 and 1174 {1178 = local midnight of ``base_date``, 1179}.

    FFD 1.05: only «приход» and «расход» can be corrected (ATOL v4 sell_correction / buy_correction) and 1179 is
    mandatory (table 29). FFD 1.2: items are mandatory (table 120).
    """
    version = _version(identity)
    if version == _FFD105:
        if correction.settlement_sign not in (SettlementSign.SALE, SettlementSign.PURCHASE):
            raise ReceiptError("an FFD 1.05 correction is «приход» (1) or «расход» (3)", "settlement_sign")
        if correction.base_number is None:
            raise ReceiptError("1179 is mandatory in FFD 1.05 (table 29)", "base_number")
    elif not correction.items:
        raise ReceiptError("an FFD 1.2 correction carries its items (table 120)", "items")
    nodes = receipt_nodes(identity, version, _head(identity, header, fiscal_sign), header, correction, receipt_number)
    basis: list[Node] = [(1178, _midnight(correction.base_date))]
    if correction.base_number is not None:
        basis.append((1179, correction.base_number))
    nodes += [(1173, int(correction.correction_type)), (1174, basis)]
    return (31, nodes)
