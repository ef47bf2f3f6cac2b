"""Issue 3 acceptance: the fiscal drive's numbering, shifts, totals counters, group commit and outbox.

Every expectation here is computed by the test from what it asked the drive to do (the clock it set, the
receipts it built), never read back from the drive's own counters: 1040 is one gapless counter across all
document types and survives a reopen, 1038 grows at each shift open, 1042 restarts every shift, 1012 is the
Moscow wall-clock time of the injected UTC clock, 1077 is ``31 04`` for receipts and ``21 04`` for reports,
and a shift close report's 1194 / 1157 equal the hand-made sums of the shift's / drive's receipts per
settlement sign, payment type and VAT rate (ffd.md §3.5, §8, §12; fiscal_core.ffd.counters is not used).

The clock is injected (``clock=lambda: t[0]``, UTC seconds): nothing sleeps.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fiscal_core import samples
from fiscal_core.drive import archive, records
from fiscal_core.drive.drive import FiscalDrive, Issued, make_fn_number
from fiscal_core.drive.errors import DriveCorrupt, DriveError, WrongState
from fiscal_core.drive.state import DriveState
from fiscal_core.drive.store import DriveStore
from fiscal_core.errors import FiscalError
from fiscal_core.ffd import identifiers, tlv
from fiscal_core.ffd.counters import Counters, OperationCounters
from fiscal_core.ffd.enums import ChangeReason, CorrectionType, FfdVersion, ReregistrationReason, VatRate
from fiscal_core.ffd.receipt import Correction, IndustryProp, Payments, Receipt

#: 2026-06-01 06:00:17 UTC = 09:00:17 in Moscow (UTC+3 all year since 2014).
T0 = int(dt.datetime(2026, 6, 1, 6, 0, 17, tzinfo=dt.UTC).timestamp())
MSK = dt.timedelta(hours=3)
SECRET = bytes(range(32))
FFD = {"1.05": 2, "1.2": 4}
RECEIPT_FORMS = (3, 31)
#: Forms whose document carries 1038 (the status report only while a shift is open, see below).
SHIFT_FORMS = (2, 3, 31, 5, 6)


class Clock:
    """The injected clock: ``clock.t`` is UTC seconds; ``tick`` moves it forward."""

    def __init__(self, t: int = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return float(self.t)

    def tick(self, seconds: int) -> int:
        self.t += seconds
        return self.t


def msk(utc: int) -> dt.datetime:
    """1012 as the test expects it: Moscow wall-clock time, naive, to the second."""
    return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=utc) + MSK


def top(tree: Any) -> dict[int, Any]:
    """First value of each top-level tag of a one-document tree; duplicates of the numbering tags are errors."""
    (form_node,) = tree
    out: dict[int, Any] = {}
    for tag, value in form_node[1]:
        if tag in out and tag in (1040, 1041, 1012, 1077, 1038, 1042, 1194, 1157):
            raise AssertionError(f"tag {tag} appears twice")
        out.setdefault(tag, value)
    return out


def stored(drive: FiscalDrive) -> list[tuple[int, records.Record]]:
    """Every stored record of ``drive`` in key order, read straight from the store."""
    with drive.store.read() as txn:
        return [(fd, records.unpack(raw, fd)) for fd, raw in drive.store.iter_documents(txn, drive.drive_id)]


# --------------------------------------------------------------------------- receipts built by the test


def _vat(turnover: int, rate: int) -> int:
    """Receipt-level VAT of one rate computed on its turnover, half up (ffd.md §7.4); 0 % / no VAT: the turnover."""
    share = {1: (20, 120), 2: (10, 110), 3: (20, 120), 4: (10, 110)}
    if rate in (5, 6):
        return turnover
    num, den = share[rate]
    return (2 * turnover * num + den) // (2 * den)


def payments_for(total: int, kind: str, change: int = 0) -> Payments:
    if kind == "cash":
        return Payments(cash=total + change)
    if kind == "electronic":
        return Payments(electronic=total)
    if kind == "prepaid":
        return Payments(prepaid=total)
    if kind == "credit":
        return Payments(credit=total)
    if kind == "provision":
        return Payments(provision=total)
    assert kind == "mixed"
    part = total // 5
    return Payments(cash=part + change, electronic=part, prepaid=part, credit=part, provision=total - 4 * part)


def make_receipt(
    seed: int,
    sign: int = 1,
    *,
    ffd: int = 4,
    n_items: int = 3,
    rates: Sequence[int] | None = None,
    pay: str = "electronic",
    change: int = 0,
    correction: bool = False,
) -> Receipt:
    base = samples.receipt(n_items, seed, ffd=ffd, sign=sign)
    items = base.items
    if rates:
        items = tuple(
            msgspec.structs.replace(it, vat=VatRate(rates[k % len(rates)]), vat_sum=None) for k, it in enumerate(items)
        )
    total = sum(i.sum for i in items)
    fields = msgspec.structs.asdict(base)
    fields.update(items=items, total=total, payments=payments_for(total, pay, change))
    if correction:
        return Correction(
            **fields, correction_type=CorrectionType.SELF, base_date=dt.date(2026, 5, 4), base_number="17-ИФНС"
        )
    return Receipt(**fields)


# --------------------------------------------------------------------------- hand-made totals counters

SUMS = ("count", "cash", "electronic", "prepaid", "credit", "provision", "total")
SUM_TAGS = {1135: "count", 1136: "cash", 1138: "electronic", 1218: "prepaid", 1219: "credit", 1220: "provision"}
SUM_TAGS[1201] = "total"
#: VAT counters inside 1129–1132 by 1199 rate (1143 / 1183 hold turnovers); rates 7–12 have no counter tags.
VAT_TAGS = {1139: 1, 1140: 2, 1141: 3, 1142: 4, 1143: 5, 1183: 6}
SIGN_TAGS = {1129: 1, 1130: 2, 1131: 3, 1132: 4}
CORRECTION_SIGN_TAGS = {1145: 1, 1232: 2, 1146: 3, 1233: 4}


def _zero(with_vat: bool) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(SUMS, 0)
    if with_vat:
        out["vat"] = dict.fromkeys(range(1, 7), 0)
    return out


class Expected:
    """Totals of a shift or a drive, summed by the test from the Receipt objects it issued."""

    def __init__(self) -> None:
        self.signs = {s: _zero(True) for s in range(1, 5)}
        self.corrections = {s: _zero(False) for s in range(1, 5)}

    def add(self, r: Receipt) -> None:
        sign = int(r.settlement_sign)
        p = r.payments
        change = p.total - r.total
        sums = {
            "count": 1,
            "cash": p.cash - change,
            "electronic": p.electronic,
            "prepaid": p.prepaid,
            "credit": p.credit,
            "provision": p.provision,
            "total": r.total,
        }
        turnover: dict[int, int] = {}
        for it in r.items:
            turnover[int(it.vat)] = turnover.get(int(it.vat), 0) + it.sum
        for key, value in sums.items():
            self.signs[sign][key] += value
            if isinstance(r, Correction):
                self.corrections[sign][key] += value
        for rate, amount in turnover.items():
            if rate <= 6:
                self.signs[sign]["vat"][rate] += _vat(amount, rate)

    def as_dict(self) -> dict[str, Any]:
        return {
            "1134": sum(v["count"] for v in self.signs.values()),
            "signs": self.signs,
            "1144": sum(v["count"] for v in self.corrections.values()),
            "corrections": {s: v for s, v in self.corrections.items() if v["count"]},
        }


def parse_counters(children: list[tuple[int, Any]]) -> dict[str, Any]:
    """1194 / 1157 as decoded, into the shape of :meth:`Expected.as_dict` (an absent sum is zero)."""
    out: dict[str, Any] = {"signs": {}, "corrections": {}}
    for tag, value in children:
        if tag == 1134:
            out["1134"] = value
        elif tag in SIGN_TAGS:
            entry = _zero(True)
            for sub, v in value:
                if sub in SUM_TAGS:
                    entry[SUM_TAGS[sub]] = v
                elif sub in VAT_TAGS:
                    entry["vat"][VAT_TAGS[sub]] = v
                else:
                    raise AssertionError(f"unexpected tag {sub} in {tag}")
            out["signs"][SIGN_TAGS[tag]] = entry
        elif tag == 1133:
            for sub, v in value:
                if sub == 1144:
                    out["1144"] = v
                elif sub in CORRECTION_SIGN_TAGS:
                    entry = _zero(False)
                    for sub2, v2 in v:
                        assert sub2 in SUM_TAGS, f"unexpected tag {sub2} in {sub}"
                        entry[SUM_TAGS[sub2]] = v2
                    out["corrections"][CORRECTION_SIGN_TAGS[sub]] = entry
                else:
                    raise AssertionError(f"unexpected tag {sub} in 1133")
        else:
            raise AssertionError(f"unexpected tag {tag} in a totals counters structure")
    return out


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def clock() -> Clock:
    return Clock()


def new_drive(
    path: pathlib.Path | DriveStore, clock: Clock, *, ffd: int = 4, fn: str | None = None, **kw: Any
) -> FiscalDrive:
    ident = samples.identity(fn or "9999078900005488", ffd=ffd)
    kw.setdefault("secret", SECRET)
    return FiscalDrive.create(path if isinstance(path, DriveStore) else str(path), ident, clock=clock, **kw)


def reopen(drive: FiscalDrive, clock: Clock) -> FiscalDrive:
    """Close the drive's store and open the drive again from disk, as after a restart."""
    path = drive.store.path
    drive.store.close()
    return FiscalDrive.open(path, drive.fn_number, clock=clock)


# --------------------------------------------------------------------------- numbering


class Ledger:
    """What the test expects of each document it had the drive issue."""

    def __init__(self, drive: FiscalDrive, clock: Clock) -> None:
        self.drive = drive
        self.clock = clock
        self.docs: dict[int, dict[str, Any]] = {}
        self.shift = 0
        self.shift_open = False
        self.receipt_no = 0

    def expect(self, issued: Issued, form: int, utc: int) -> None:
        fd = len(self.docs) + 1
        assert issued.fd_number == fd, f"form {form} got FD {issued.fd_number}, expected {fd}"
        assert issued.form == form
        entry: dict[str, Any] = {"form": form, "utc": utc, "fs": issued.fiscal_sign}
        if form == 2:
            self.shift += 1
            self.shift_open = True
            self.receipt_no = 0
        if form in SHIFT_FORMS or (form == 21 and self.shift_open):
            entry[1038] = self.shift
        if form in RECEIPT_FORMS:
            self.receipt_no += 1
            entry[1042] = self.receipt_no
            assert issued.receipt_number == self.receipt_no
        if form == 5:
            self.shift_open = False
        if form in SHIFT_FORMS:
            assert issued.shift_number == self.shift
        self.docs[fd] = entry

    def issue(self, form: int, call: Callable[[], Issued], step: int = 7) -> Issued:
        utc = self.clock.tick(step)
        issued = call()
        self.expect(issued, form, utc)
        return issued


def check_archive(drive: FiscalDrive, ledger: Ledger, ffd: int) -> None:
    docs = stored(drive)
    assert [fd for fd, _ in docs] == list(range(1, len(ledger.docs) + 1)), "FD numbers on disk are not gapless"
    assert drive.state.next_fd == len(ledger.docs) + 1
    for fd, rec in docs:
        want = ledger.docs[fd]
        assert rec.form == want["form"], f"FD {fd}"
        assert rec.ffd_version == ffd
        tree = tlv.decode(rec.tlv)
        assert tree[0][0] == want["form"]
        t = top(tree)
        assert t[1040] == fd
        assert t[1041] == drive.fn_number
        assert t[1012] == msk(want["utc"]), f"FD {fd}: 1012"
        assert t.get(1038) == want.get(1038), f"FD {fd} (form {want['form']}): 1038"
        assert t.get(1042) == want.get(1042), f"FD {fd} (form {want['form']}): 1042"
        assert t[1037] == drive.identity.registration_number
        assert t[1209] == ffd
        fs = t[1077]
        assert len(fs) == 6
        assert fs[:2] == (b"\x31\x04" if want["form"] in RECEIPT_FORMS else b"\x21\x04"), f"FD {fd}: 1077 prefix"
        assert int.from_bytes(fs[2:], "big") == want["fs"]
        assert rec.message_sign[:2] == b"\x81\x06" and len(rec.message_sign) == 8
    report = archive.verify(drive)
    assert report.ok, report.error
    assert report.documents == len(ledger.docs)
    by_form: dict[int, int] = {}
    for entry in ledger.docs.values():
        by_form[entry["form"]] = by_form.get(entry["form"], 0) + 1
    assert report.by_form == by_form


@pytest.mark.parametrize("version", FFD.keys())
def test_gapless_numbering_across_all_forms_and_reopen(tmp_path: pathlib.Path, clock: Clock, version: str) -> None:
    ffd = FFD[version]
    drive = new_drive(tmp_path / "d", clock, ffd=ffd)
    led = Ledger(drive, clock)
    led.expect(_issued_from_disk(drive, 1), 1, T0)  # create() registers at T0
    # Corrections: 1.05 corrects «приход» and «расход» only (documents.correction_receipt).
    correction_signs = (1, 2, 3, 4) if ffd == 4 else (1, 3)
    reasons: Any = ChangeReason.ADDRESS_CHANGE if ffd == 4 else [ReregistrationReason.DETAILS_CHANGE]

    led.issue(2, lambda: drive.open_shift("Кассир Петров"))
    for sign in (1, 2, 3, 4):
        led.issue(3, lambda s=sign: drive.receipt(make_receipt(s, s, ffd=ffd)))
    for sign in correction_signs:
        led.issue(31, lambda s=sign: drive.correction(make_receipt(10 + s, s, ffd=ffd, correction=True)))
    led.issue(21, drive.status_report)  # with the shift open: carries 1038
    led.issue(5, drive.close_shift)
    led.issue(21, drive.status_report)  # shift closed: no 1038
    led.issue(11, lambda: drive.reregister(reasons))

    drive = reopen(drive, clock)
    led.drive = drive
    assert drive.state.next_fd == len(led.docs) + 1
    led.issue(2, drive.open_shift)
    for n, sign in enumerate((4, 3, 2, 1, 1)):
        led.issue(3, lambda s=sign, n=n: drive.receipt(make_receipt(20 + n, s, ffd=ffd)))
    drive = reopen(drive, clock)  # mid-shift: 1042 and 1038 carry on
    led.drive = drive
    led.issue(3, lambda: drive.receipt(make_receipt(40, 1, ffd=ffd)))
    led.issue(31, lambda: drive.correction(make_receipt(41, 1, ffd=ffd, correction=True)))
    led.issue(5, drive.close_shift)

    # A third shift in one group commit: open, receipts, close.
    clock.tick(60)
    batch = [(2, None), *((3, make_receipt(50 + k, 1 + k % 4, ffd=ffd)) for k in range(6)), (5, None)]
    results = drive.append_many(batch)
    assert all(isinstance(r, Issued) for r in results)
    for (form, _), issued in zip(batch, results, strict=True):
        led.expect(issued, form, clock.t)
    led.issue(6, drive.close)

    check_archive(drive, led, ffd)
    drive = reopen(drive, clock)
    check_archive(drive, led, ffd)
    assert drive.state.phase == "closed"
    assert led.shift == 3


def _issued_from_disk(drive: FiscalDrive, fd: int) -> Issued:
    """An ``Issued`` for a document the test did not issue itself (the registration inside ``create``)."""
    rec = drive.document(fd)
    t = top(tlv.decode(rec.tlv))
    return Issued(
        fd_number=t[1040],
        form=rec.form,
        when=t[1012],
        fiscal_sign=tlv.printed_fiscal_sign(t[1077]),
        shift_number=0,
        receipt_number=0,
        total=0,
        tlv=rec.tlv,
        message_sign=rec.message_sign,
        fn_number=t[1041],
    )


def test_issued_matches_the_stored_document(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path / "d", clock)
    drive.open_shift()
    clock.tick(61)
    r = make_receipt(3, 2, pay="mixed", change=150)
    issued = drive.receipt(r)
    rec = drive.document(issued.fd_number)
    assert rec.tlv == issued.tlv
    assert rec.message_sign == issued.message_sign
    t = top(tlv.decode(rec.tlv))
    assert issued.when == t[1012] == msk(clock.t)
    assert issued.total == t[1020] == r.total
    assert t[1054] == 2
    assert issued.fn_number == drive.fn_number
    assert issued.fiscal_sign == tlv.printed_fiscal_sign(t[1077])


def test_shift_number_grows_and_receipt_number_restarts(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path / "d", clock)
    for shift in range(1, 5):
        clock.tick(3600)
        opened = drive.open_shift()
        assert opened.shift_number == shift
        numbers = [drive.receipt(make_receipt(shift * 10 + k)).receipt_number for k in range(shift)]
        assert numbers == list(range(1, shift + 1))
        closed = drive.close_shift()
        assert closed.shift_number == shift
        t = top(tlv.decode(closed.tlv))
        assert t[1038] == shift
        assert t[1118] == shift  # receipts in the shift
        assert t[1111] == shift + 2  # every FD of the shift: open + receipts + close


# --------------------------------------------------------------------------- totals counters


RATES_105 = ((1,), (2, 5), (3, 6), (4, 1, 2))
RATES_12 = ((1, 11), (2, 5), (3, 6, 11), (4, 1, 2), (11,))
PAYS = ("cash", "electronic", "prepaid", "credit", "provision", "mixed")


@pytest.mark.parametrize("version", FFD.keys())
def test_shift_close_counters_equal_hand_sums(tmp_path: pathlib.Path, clock: Clock, version: str) -> None:
    ffd = FFD[version]
    drive = new_drive(tmp_path / "d", clock, ffd=ffd)
    rates = RATES_12 if ffd == 4 else RATES_105
    correction_signs = (1, 2, 3, 4) if ffd == 4 else (1, 3)
    lifetime = Expected()
    seed = 0
    for shift in range(3):
        clock.tick(3600)
        drive.open_shift()
        this_shift = Expected()
        requests: list[tuple[int, Any]] = []
        for sign in (1, 2, 3, 4):
            for k in range(3 + shift):
                seed += 1
                pay = PAYS[(seed + shift) % len(PAYS)]
                change = 1234 if pay in ("cash", "mixed") and seed % 2 else 0
                requests.append(
                    (
                        3,
                        make_receipt(
                            seed,
                            sign,
                            ffd=ffd,
                            n_items=1 + k % 4,
                            rates=rates[seed % len(rates)],
                            pay=pay,
                            change=change,
                        ),
                    )
                )
        if shift != 1:  # one shift without corrections: 1133 then holds only 1144 = 0
            for sign in correction_signs:
                seed += 1
                requests.append(
                    (
                        31,
                        make_receipt(
                            seed, sign, ffd=ffd, rates=rates[seed % len(rates)], pay=PAYS[seed % 6], correction=True
                        ),
                    )
                )
        # Half one by one, half as a group commit: both paths feed the counters.
        half = len(requests) // 2
        for form, r in requests[:half]:
            (drive.receipt if form == 3 else drive.correction)(r)
        assert all(isinstance(x, Issued) for x in drive.append_many(requests[half:]))
        for _, r in requests:
            this_shift.add(r)
            lifetime.add(r)
        drive.status_report()  # reports do not move the counters
        closed = drive.close_shift()
        t = top(tlv.decode(drive.document(closed.fd_number).tlv))
        assert parse_counters(t[1194]) == this_shift.as_dict(), f"1194 of shift {shift + 1}"
        assert parse_counters(t[1157]) == lifetime.as_dict(), f"1157 after shift {shift + 1}"
        assert t[1118] == len(requests)
    # The drive close report carries the lifetime totals too.
    closed = drive.close()
    t = top(tlv.decode(closed.tlv))
    assert parse_counters(t[1157]) == lifetime.as_dict()


def test_counters_survive_a_reopen_mid_shift(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path / "d", clock)
    drive.open_shift()
    shift = Expected()
    for k in range(4):
        r = make_receipt(k, 1 + k % 4, pay=PAYS[k], rates=RATES_12[k])
        drive.receipt(r)
        shift.add(r)
    drive = reopen(drive, clock)
    for k in range(4, 8):
        r = make_receipt(k, 1 + k % 4, pay=PAYS[k % 6], rates=RATES_12[k % 5])
        drive.receipt(r)
        shift.add(r)
    t = top(tlv.decode(drive.close_shift().tlv))
    assert parse_counters(t[1194]) == shift.as_dict()
    assert parse_counters(t[1157]) == shift.as_dict()


# --------------------------------------------------------------------------- append_many


def test_append_many_results_in_order_and_refusals_take_no_number(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path / "d", clock)
    r = [make_receipt(k) for k in range(4)]
    requests: list[tuple[int, Any]] = [
        (3, r[0]),  # refused: no shift open
        (2, None),  # FD 2
        (3, r[1]),  # FD 3, 1042 = 1
        (2, None),  # refused: the shift is open
        (6, None),  # refused: close the shift first
        (21, None),  # FD 4
        (5, None),  # FD 5
        (5, None),  # refused: no shift open
        (31, make_receipt(9, correction=True)),  # refused: no shift open
        (2, None),  # FD 6, shift 2
        (3, r[2]),  # FD 7, 1042 = 1 again
        (3, r[3]),  # FD 8, 1042 = 2
    ]
    results = drive.append_many(requests)
    assert len(results) == len(requests)
    kinds = [type(x).__name__ if isinstance(x, DriveError) else x.fd_number for x in results]
    assert kinds == ["WrongState", 2, 3, "WrongState", "WrongState", 4, 5, "WrongState", "WrongState", 6, 7, 8]
    for x in results:
        if isinstance(x, DriveError):
            assert isinstance(x, WrongState) and x.fn_code == 0x02
    issued = [x for x in results if isinstance(x, Issued)]
    assert [x.form for x in issued] == [2, 3, 21, 5, 2, 3, 3]
    assert [x.receipt_number for x in issued if x.form == 3] == [1, 1, 2]
    assert [x.shift_number for x in issued if x.form == 3] == [1, 2, 2]
    assert [fd for fd, _ in stored(drive)] == list(range(1, 9))
    assert drive.state.next_fd == 9
    # The issued documents are the stored ones, in request order.
    for x in issued:
        assert drive.document(x.fd_number).tlv == x.tlv
    assert archive.verify(drive).ok


def test_append_many_keep_going_false_is_all_or_nothing(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path / "d", clock)
    drive.open_shift()
    with pytest.raises(WrongState):
        drive.append_many([(3, make_receipt(1)), (3, make_receipt(2)), (2, None)], keep_going=False)
    assert drive.state.next_fd == 3
    assert [fd for fd, _ in stored(drive)] == [1, 2]
    assert drive.receipt(make_receipt(3)).fd_number == 3
    assert drive.receipt(make_receipt(4)).receipt_number == 2


def test_append_many_is_one_transaction(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path / "d", clock)
    drive.open_shift()
    before = drive.store.env.info()["last_txnid"]
    results = drive.append_many([(3, make_receipt(k, n_items=2)) for k in range(50)])
    assert [x.fd_number for x in results if isinstance(x, Issued)] == list(range(3, 53))
    assert drive.store.env.info()["last_txnid"] == before + 1, "a group commit is one durable transaction"


def test_reregistration_identity_applies_to_the_next_receipts_in_the_same_batch(
    tmp_path: pathlib.Path, clock: Clock
) -> None:
    drive = new_drive(tmp_path / "d", clock)
    moved = msgspec.structs.replace(drive.identity, settlement_address="190000, г. Санкт-Петербург, Невский пр., д. 2")
    results = drive.append_many([(11, (ChangeReason.ADDRESS_CHANGE, moved)), (2, None), (3, make_receipt(1))])
    assert [x.form for x in results if isinstance(x, Issued)] == [11, 2, 3]
    for x in results:
        assert isinstance(x, Issued)
        assert top(tlv.decode(drive.document(x.fd_number).tlv))[1009] == moved.settlement_address, f"form {x.form}"
    drive = reopen(drive, clock)
    assert drive.identity.settlement_address == moved.settlement_address
    later = drive.receipt(make_receipt(2))
    assert top(tlv.decode(later.tlv))[1009] == moved.settlement_address
    assert archive.verify(drive).ok


# --------------------------------------------------------------------------- several drives in one store


FNS = ("9999078900000011", "9999078900000022", "9999078900000033")


def test_drives_in_one_store_number_independently(tmp_path: pathlib.Path, clock: Clock) -> None:
    store = DriveStore(tmp_path / "shard")
    drives = [new_drive(store, clock, fn=fn, ffd=(4, 2, 4)[k]) for k, fn in enumerate(FNS)]
    counts = [1, 1, 1]
    for round_ in range(5):
        for k, drive in enumerate(drives):
            clock.tick(5)
            if round_ == 0:
                drive.open_shift()
                counts[k] += 1
            n = k + round_
            results = drive.append_many(
                [(3, make_receipt(100 * k + round_ * 10 + j, ffd=drive.identity.ffd_version)) for j in range(n)]
            )
            got = [x.fd_number for x in results if isinstance(x, Issued)]
            assert got == list(range(counts[k] + 1, counts[k] + n + 1))
            counts[k] += n
    for k, drive in enumerate(drives):
        docs = stored(drive)
        assert [fd for fd, _ in docs] == list(range(1, counts[k] + 1))
        assert {top(tlv.decode(rec.tlv))[1041] for _, rec in docs} == {FNS[k]}
        assert archive.verify(drive).ok
    assert store.drive_ids().keys() == set(FNS)
    store.close()
    # Reopened by FN number: each keeps its own counter.
    store = DriveStore(tmp_path / "shard")
    for k, fn in enumerate(FNS):
        drive = FiscalDrive.open(store, fn, clock=clock)
        assert drive.state.next_fd == counts[k] + 1
        assert archive.verify(drive).documents == counts[k]
    with pytest.raises(ValueError):
        FiscalDrive.open(store, clock=clock)  # three drives: the FN number must be given
    with pytest.raises(KeyError):
        FiscalDrive.open(store, "9999000000000000", clock=clock)
    store.close()


def test_commit_prepared_commits_two_drives_in_one_transaction(tmp_path: pathlib.Path, clock: Clock) -> None:
    store = DriveStore(tmp_path / "shard")
    a = new_drive(store, clock, fn=FNS[0])
    b = new_drive(store, clock, fn=FNS[1])
    a.open_shift()
    clock.tick(3)
    pa = a.prepare([(3, make_receipt(k)) for k in range(3)])
    pb = b.prepare([(2, None), (3, make_receipt(7)), (3, make_receipt(8))])
    # Nothing is written by prepare.
    assert a.state.next_fd == 3 and b.state.next_fd == 2
    assert [fd for fd, _ in stored(a)] == [1, 2]
    before = store.env.info()["last_txnid"]
    FiscalDrive.commit_prepared(store, [pa, pb])
    assert store.env.info()["last_txnid"] == before + 1
    assert [fd for fd, _ in stored(a)] == [1, 2, 3, 4, 5]
    assert [fd for fd, _ in stored(b)] == [1, 2, 3, 4]
    assert a.state.next_fd == 6 and b.state.next_fd == 5
    assert a.receipt(make_receipt(9)).fd_number == 6
    assert b.receipt(make_receipt(10)).receipt_number == 3
    assert archive.verify(a).ok and archive.verify(b).ok


def test_commit_prepared_rolls_back_every_drive_when_one_batch_fails(tmp_path: pathlib.Path, clock: Clock) -> None:
    store = DriveStore(tmp_path / "shard")
    a = new_drive(store, clock, fn=FNS[0])
    b = new_drive(store, clock, fn=FNS[1])
    for d in (a, b):
        d.open_shift()
    pa = a.prepare([(3, make_receipt(1))])
    pb1 = b.prepare([(3, make_receipt(2))])
    pb2 = b.prepare([(3, make_receipt(3))])  # the same FD as pb1: writing both must fail
    with pytest.raises(DriveCorrupt):
        FiscalDrive.commit_prepared(store, [pa, pb1, pb2])
    # Nothing of the transaction stayed, for either drive, in memory or on disk.
    assert [fd for fd, _ in stored(a)] == [1, 2] and [fd for fd, _ in stored(b)] == [1, 2]
    assert a.state.next_fd == 3 and b.state.next_fd == 3
    FiscalDrive.commit_prepared(store, [pa, pb1])
    assert [fd for fd, _ in stored(a)] == [1, 2, 3] and [fd for fd, _ in stored(b)] == [1, 2, 3]
    assert archive.verify(a).ok and archive.verify(b).ok


@pytest.mark.parametrize("which", [0, 1], ids=["inner drive (tree insert)", "newest drive (append)"])
def test_put_documents_never_overwrites_on_either_path(tmp_path: pathlib.Path, clock: Clock, which: int) -> None:
    """The first drive of a store inserts into the middle of the key space, the newest appends (MDB_APPEND):
    on both paths a taken FD is refused as DriveCorrupt naming it, and the transaction keeps nothing."""
    store = DriveStore(tmp_path / "shard")
    drives = [new_drive(store, clock, fn=fn) for fn in FNS[:2]]
    drive = drives[which]
    before = stored(drive)
    last = before[-1][0]
    with pytest.raises(DriveCorrupt, match=f"FD {last} already exists"), store.write() as txn:
        store.put_documents(txn, drive.drive_id, [(last, b"x"), (last + 1, b"y")], 0)
    with pytest.raises(DriveCorrupt, match=f"FD {last + 1} already exists"), store.write() as txn:
        store.put_documents(txn, drive.drive_id, [(last + 1, b"y"), (last + 2, b"z")], 0)
        store.put_documents(txn, drive.drive_id, [(last + 1, b"again")], 0)
    assert stored(drive) == before
    with store.write() as txn:
        store.put_documents(txn, drive.drive_id, [(last + 1, b"y"), (last + 2, b"z")], 7)
    with store.read() as txn:
        assert [fd for fd, _ in store.iter_documents(txn, drive.drive_id)][-3:] == [last, last + 1, last + 2]
        assert store.get_document(txn, drive.drive_id, last + 2) == b"z"
        assert dict(store.outbox(txn, drive.drive_id))[last + 2] == 7
    other = drives[1 - which]
    assert [fd for fd, _ in stored(other)] == [1]  # the neighbour's keys are untouched


# --------------------------------------------------------------------------- outbox and confirmations


def test_confirm_takes_a_document_out_of_the_outbox(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path / "d", clock)
    drive.open_shift()
    for k in range(3):
        drive.receipt(make_receipt(k))
    outbox = drive.outbox()
    assert [fd for fd, _ in outbox] == [1, 2, 3, 4, 5]
    for fd, data in outbox:  # what the OFD exchange sends: the document STLV + its message sign
        rec = drive.document(fd)
        assert data == rec.tlv + rec.message_sign
        assert tlv.split_document(data) == (rec.tlv, rec.message_sign)
    assert [fd for fd, _ in drive.outbox(limit=2)] == [1, 2]

    assert drive.confirm(3, b"ack-3") is True
    assert drive.confirm(3, b"ack-3 again") is False
    assert drive.confirm(1, b"ack-1") is True
    assert [fd for fd, _ in drive.outbox()] == [2, 4, 5]
    with drive.store.read() as txn:
        assert drive.store.get_confirmation(txn, drive.drive_id, 3) == b"ack-3"
        assert drive.store.get_confirmation(txn, drive.drive_id, 2) is None
    with pytest.raises(WrongState):
        drive.confirm(99, b"no such FD")
    report = archive.verify(drive)
    assert report.ok and report.confirmed == 2

    drive = reopen(drive, clock)
    assert [fd for fd, _ in drive.outbox()] == [2, 4, 5]
    assert drive.confirm(3, b"x") is False
    for fd in (2, 4, 5):
        assert drive.confirm(fd, b"ack") is True
    assert drive.outbox() == []
    assert archive.verify(drive).confirmed == 5


# --------------------------------------------------------------------------- identifiers


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection), written out by the test."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def rnm(first10: str, inn: str, serial: str) -> str:
    return first10 + str(crc16_ccitt_false((first10.zfill(10) + inn.zfill(12) + serial.zfill(20)).encode())).zfill(6)


def test_registration_number_follows_the_crc_rule(tmp_path: pathlib.Path, clock: Clock) -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    # ffd.md §12.6: three real registrations.
    assert rnm("0000000005", "7702203276", "000000000002") == "0000000005008570"
    assert rnm("0007993537", "4703148343", "00106925180632").endswith("061927")
    assert rnm("0006828493", "7825706086", "0141870012176301").endswith("046904")
    ident = samples.identity()
    assert ident.registration_number == rnm("0000000001", ident.user_inn, ident.kkt_serial)
    assert identifiers.registration_number_valid(ident.registration_number, ident.user_inn, ident.kkt_serial)
    other = samples.identity(inn="7825706086", first10="0006828493", kkt_serial="0141870012176301")
    assert other.registration_number == "0006828493046904"
    drive = new_drive(tmp_path / "d", clock)
    assert top(tlv.decode(drive.document(1).tlv))[1037] == ident.registration_number


def test_drive_numbers_start_with_9999(tmp_path: pathlib.Path, clock: Clock) -> None:
    numbers = {make_fn_number() for _ in range(50)}
    assert len(numbers) > 1
    for fn in [*numbers, make_fn_number(0), make_fn_number(10**12 - 1)]:
        assert len(fn) == 16 and fn.isdigit() and fn.startswith("9999"), fn
    assert make_fn_number(42) == "9999000000000042"
    assert samples.identity().fn_number.startswith("9999")
    drive = new_drive(tmp_path / "d", clock, fn=make_fn_number(7))
    assert top(tlv.decode(drive.document(1).tlv))[1041] == "9999000000000007"


def test_create_refuses_a_production_fn_number(tmp_path: pathlib.Path, clock: Clock) -> None:
    """Regression: create() took any 16-digit FN number, so an emulated drive could pass for a production one."""
    with pytest.raises((ValueError, DriveError)):
        new_drive(tmp_path / "d", clock, fn="9282440300829880")
    with pytest.raises((ValueError, DriveError)):
        new_drive(tmp_path / "e", clock, fn="0999907890000548")
    assert new_drive(tmp_path / "f", clock, fn="9999440300829880").fn_number == "9999440300829880"


def test_counters_of_whole_shifts_inside_one_group_commit(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path / "d", clock)
    first = [make_receipt(k, 1 + k % 4, pay=PAYS[k % 6], rates=RATES_12[k % 5]) for k in range(6)]
    second = [make_receipt(20 + k, 4 - k % 4, pay=PAYS[(k + 3) % 6], rates=RATES_12[(k + 2) % 5]) for k in range(5)]
    second.append(make_receipt(40, 2, pay="mixed", change=99, correction=True))
    requests: list[tuple[int, Any]] = [(2, None)]
    requests += [(3, r) for r in first]
    requests += [(21, None), (5, None), (2, None)]
    requests += [(31 if isinstance(r, Correction) else 3, r) for r in second]
    requests += [(21, None), (5, None)]
    results = drive.append_many(requests)
    assert all(isinstance(r, Issued) for r in results)
    one, two, lifetime = Expected(), Expected(), Expected()
    for r in first:
        one.add(r)
        lifetime.add(r)
    status_1 = top(tlv.decode(results[7].tlv))
    close_1 = top(tlv.decode(results[8].tlv))
    for r in second:
        two.add(r)
        lifetime.add(r)
    status_2 = top(tlv.decode(results[-2].tlv))
    close_2 = top(tlv.decode(results[-1].tlv))
    assert parse_counters(close_1[1194]) == one.as_dict()
    assert parse_counters(close_1[1157]) == one.as_dict()
    assert parse_counters(status_1[1157]) == one.as_dict()
    assert parse_counters(close_2[1194]) == two.as_dict()
    assert parse_counters(close_2[1157]) == lifetime.as_dict()
    assert parse_counters(status_2[1157]) == lifetime.as_dict()
    assert (close_1[1118], close_1[1111], close_2[1118], close_2[1111]) == (6, 9, 6, 9)


def test_append_many_refuses_an_invalid_receipt_alone(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path / "d", clock)
    drive.open_shift()
    good = make_receipt(1)
    bad = msgspec.structs.replace(make_receipt(2), total=make_receipt(2).total + 1)  # total != Σ items
    results = drive.append_many([(3, good), (3, bad), (3, make_receipt(3))])
    assert isinstance(results[0], Issued) and results[0].fd_number == 3
    assert isinstance(results[1], FiscalError) and not isinstance(results[1], Issued)
    assert isinstance(results[2], Issued) and (results[2].fd_number, results[2].receipt_number) == (4, 2)
    assert [fd for fd, _ in stored(drive)] == [1, 2, 3, 4]


def oversized_receipt() -> Receipt:
    """100 items of ~360 bytes: every field valid, the document over the 32 768 bytes of a receipt."""
    base = samples.receipt(100, 3)
    prop = IndustryProp(foiv_id="030", doc_date=dt.date(2026, 1, 1), doc_number="N1", value="v" * 60)
    items = tuple(
        msgspec.structs.replace(
            it,
            name=(f"{k}:" + "Товар с очень длинным названием " * 5)[:128],
            user_data="x" * 64,
            industry_props=(prop,),
        )
        for k, it in enumerate(base.items)
    )
    return msgspec.structs.replace(base, items=items)


def test_an_oversized_receipt_is_refused_and_takes_no_number(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path / "d", clock)
    drive.open_shift()
    with pytest.raises(FiscalError):
        drive.receipt(oversized_receipt())
    assert drive.state.next_fd == 3
    assert drive.receipt(make_receipt(1)).fd_number == 3


def test_append_many_refuses_an_oversized_receipt_alone(tmp_path: pathlib.Path, clock: Clock) -> None:
    """Regression: the 32,768-byte check ran after the batch was numbered and failed the whole batch."""
    drive = new_drive(tmp_path / "d", clock)
    drive.open_shift()
    results = drive.append_many([(3, make_receipt(1)), (3, oversized_receipt()), (3, make_receipt(2))])
    assert isinstance(results[1], FiscalError)
    assert [r.fd_number for r in results if isinstance(r, Issued)] == [3, 4]
    assert [fd for fd, _ in stored(drive)] == [1, 2, 3, 4]


# --------------------------------------------------------------------------- unconfirmed documents in the reports


def unsent_tags(issued: Issued) -> tuple[Any, Any, Any]:
    t = top(tlv.decode(issued.tlv))
    return t.get(1097), t.get(1116), t.get(1098)


def test_reports_count_the_unconfirmed_documents(tmp_path: pathlib.Path, clock: Clock) -> None:
    drive = new_drive(tmp_path / "d", clock)  # FD 1 at T0
    clock.tick(60)
    drive.open_shift()  # FD 2
    clock.tick(60)
    drive.receipt(make_receipt(1))  # FD 3
    drive.confirm(1, b"ack")
    status = drive.status_report()  # FD 4: FD 2 and 3 are unconfirmed, FD 2 is the first
    assert unsent_tags(status) == (2, 2, msk(T0 + 60))
    drive.confirm(2, b"ack")
    closed = drive.close_shift()  # FD 5: FD 3 and 4 unconfirmed since FD 3's time
    assert unsent_tags(closed)[0] == 2 and unsent_tags(closed)[2] == msk(T0 + 120)
    for fd, _ in drive.outbox():
        drive.confirm(fd, b"ack")
    assert unsent_tags(drive.status_report()) == (0, None, None)


def test_reports_in_a_group_commit_count_the_batch_documents(tmp_path: pathlib.Path, clock: Clock) -> None:
    """Regression: 1097/1116/1098 left out the batch's own documents (1097 = 0 here instead of 3)."""
    drive = new_drive(tmp_path / "d", clock)
    drive.confirm(1, b"ack")
    clock.tick(60)
    results = drive.append_many([(2, None), (3, make_receipt(1)), (3, make_receipt(2)), (21, None), (5, None)])
    assert all(isinstance(r, Issued) for r in results)
    assert unsent_tags(results[3]) == (3, 2, msk(T0 + 60))
    assert unsent_tags(results[4])[0] == 4 and unsent_tags(results[4])[2] == msk(T0 + 60)


# --------------------------------------------------------------------------- record header


def test_record_header_ffd_version_follows_an_ffd_change(tmp_path: pathlib.Path, clock: Clock) -> None:
    """Regression: records were stamped with the FFD version of the committed identity, not the document's."""
    drive = new_drive(tmp_path / "d", clock, ffd=2)
    to_12 = msgspec.structs.replace(drive.identity, ffd_version=FfdVersion.FFD_12)
    results = drive.append_many(
        [(11, (ChangeReason.FFD_VERSION_CHANGE, to_12)), (2, None), (3, make_receipt(1, ffd=4))]
    )
    assert all(isinstance(r, Issued) for r in results)
    for fd, rec in stored(drive):
        assert rec.ffd_version == top(tlv.decode(rec.tlv))[1209], f"FD {fd} (form {rec.form})"


@pytest.mark.parametrize(("zone", "hours"), [("UTC+5", 5), ("Asia/Vladivostok", 10), ("Europe/Kaliningrad", 2)])
def test_document_time_is_the_wall_clock_of_the_drive_time_zone(
    tmp_path: pathlib.Path, clock: Clock, zone: str, hours: int
) -> None:
    drive = new_drive(tmp_path / "d", clock, timezone=zone)
    clock.tick(125)
    drive.open_shift()
    issued = drive.receipt(make_receipt(1))
    local = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=clock.t, hours=hours)
    assert top(tlv.decode(issued.tlv))[1012] == local == issued.when
    assert top(tlv.decode(drive.document(1).tlv))[1012] == dt.datetime(1970, 1, 1) + dt.timedelta(
        seconds=T0, hours=hours
    )
    assert drive.signer.verify(issued.fd_number, local, issued.total, 1, issued.fiscal_sign)
    assert archive.verify(drive).ok


@pytest.mark.parametrize("ffd", [2, 4])
def test_spliced_receipts_equal_the_builder_output(tmp_path: pathlib.Path, ffd: int) -> None:
    """The drive's fast path (pre-encoded body behind a packed numbering block) is byte for byte the builder's."""
    from fiscal_core.ffd import documents
    from fiscal_core.ffd.documents import Header

    t = [1_790_000_000]
    drive = FiscalDrive.create(tmp_path / "d", samples.identity(ffd=ffd), clock=lambda: t[0])
    drive.open_shift("Иванова")
    models = [samples.receipt(10, seed, ffd=ffd) for seed in range(6)]
    issued = drive.append_many([(3, m) for m in models])
    for model, result in zip(models, issued, strict=True):
        assert isinstance(result, Issued)
        header = Header(fd_number=result.fd_number, when=result.when, shift_number=result.shift_number)
        fs = tlv.fiscal_sign_bytes(result.fiscal_sign, 3)
        built = documents.receipt(drive.identity, header, fs, model, receipt_number=result.receipt_number)
        assert tlv.encode([built]) == result.tlv == drive.document(result.fd_number).tlv


# --------------------------------------------------------------------------- a batch = the same requests one by one

# Runs of one form (a run of receipts is the fast path) and the shift changes and reports that end a run.
_BATCH_FORMS = st.lists(
    st.tuples(st.sampled_from([3, 3, 31, 2, 5, 21]), st.integers(min_value=1, max_value=12)), min_size=1, max_size=6
).map(lambda runs: [form for form, n in runs for _ in range(n)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(forms=_BATCH_FORMS, capacity=st.integers(min_value=6, max_value=30), signs=st.randoms(use_true_random=False))
def test_append_many_equals_one_by_one(tmp_path_factory: Any, forms: list[int], capacity: int, signs: Any) -> None:
    """The batch path checks a run of receipts once (drive.prepare): it must refuse, number, sign and count
    exactly as issuing each request alone does, across shift changes and the archive filling up mid-batch."""
    base = tmp_path_factory.mktemp("batch")
    clock = Clock()
    batched = new_drive(base / "batched", clock, capacity=capacity)
    single = new_drive(base / "single", clock, capacity=capacity)
    requests: list[tuple[int, Any]] = [(2, None)]
    for k, form in enumerate(forms):
        if form in (3, 31):
            payload: Any = make_receipt(k, sign=signs.choice([1, 2, 3, 4]), correction=form == 31)
        else:
            payload = None
        requests.append((form, payload))
    clock.tick(60)
    got = batched.append_many(requests)
    one_by_one = [single.append_many([r])[0] for r in requests]

    def shape(results: Sequence[Any]) -> list[Any]:
        return [type(x).__name__ if isinstance(x, FiscalError) else (x.fd_number, x.tlv) for x in results]

    assert shape(got) == shape(one_by_one)
    assert msgspec.msgpack.encode(batched.state) == msgspec.msgpack.encode(single.state)
    assert [rec for _, rec in stored(batched)] == [rec for _, rec in stored(single)]
    assert archive.verify(batched).ok
    batched.store.close()
    single.store.close()


# --------------------------------------------------------------------------- the working copy of the state

_op_counters = st.builds(
    OperationCounters,
    count=st.integers(0, 10**6),
    cash=st.integers(0, 10**12),
    electronic=st.integers(0, 10**12),
    total=st.integers(0, 10**12),
    vat=st.dictionaries(st.integers(1, 12), st.integers(0, 10**12), max_size=6),
)
_counters = st.builds(Counters, **{name: _op_counters for name in Counters.__struct_fields__})


@settings(max_examples=200)
@given(
    shift=_counters,
    drive=_counters,
    next_fd=st.integers(1, 250_000),
    shift_open=st.booleans(),
    which=st.sampled_from(Counters.__struct_fields__),
)
def test_state_copy_is_deep_where_the_state_is_mutable(
    shift: Counters, drive: Counters, next_fd: int, shift_open: bool, which: str
) -> None:
    state = DriveState(
        phase="fiscal", next_fd=next_fd, shift_open=shift_open, shift_counters=shift, drive_counters=drive
    )
    before = msgspec.msgpack.encode(state)
    copy = state.copy()
    assert copy == state and msgspec.msgpack.encode(copy) == before  # every field, byte for byte
    # A prepared batch works on the copy; the drive's state must not move until the commit swaps it in.
    for counters in (copy.shift_counters, copy.drive_counters):
        ops = getattr(counters, which)
        ops.count += 1
        ops.vat[1] = ops.vat.get(1, 0) + 7
    copy.next_fd += 1
    assert msgspec.msgpack.encode(state) == before
