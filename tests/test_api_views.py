"""The API's answer shapes that are computed from stored text (fiscal_core.api.views)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from fiscal_core.api import views


@given(
    t=st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
    form=st.sampled_from(["iso", "iso", "space", "micro", "zone", "minutes"]),
)
def test_receipt_datetime_is_strftime_of_the_parsed_time(t: dt.datetime, form: str) -> None:
    """ATOL's ``dd.mm.yyyy HH:MM:SS`` exactly as strftime writes it, years below 1000 and other ISO forms too."""
    t = t.replace(microsecond=0)
    when = {
        "iso": t.isoformat(),
        "space": t.isoformat(" "),
        "micro": t.replace(microsecond=5).isoformat(),
        "zone": t.replace(tzinfo=dt.UTC).isoformat(),
        "minutes": t.isoformat(timespec="minutes"),
    }[form]
    assert views.receipt_datetime(when) == dt.datetime.fromisoformat(when).strftime(views.ATOL_TIME)


def test_receipt_datetime_of_a_drive_time() -> None:
    assert views.receipt_datetime("2026-06-01T09:05:07") == "01.06.2026 09:05:07"


def test_a_native_result_has_each_states_fields_in_order() -> None:
    """Queued: the envelope only; done: + finished_at, cursor, register, fiscal (with the QR string); failed:
    + error. The same JSON, key for key and in this order, whether the entry is whole or read as its head."""
    import msgspec

    from fiscal_core.api.intake import Entry, EntryHead, Outcome

    entry = Entry("shop", "g1", "ext-\u00abq\u00bb\"1", "sell_refund", 5, "01.06.2026 10:00:00", "", b"", False,
                  b"\x80", 1_780_000_000.25, seq=3, sums=(1, 2))  # fmt: skip
    head = msgspec.msgpack.decode(msgspec.msgpack.encode(entry), type=EntryHead)
    uuid = bytes(range(16))
    done = Outcome("done", 1_780_000_001.5, "R1", "9999078900000001", "0000000001012345", 7, 123, 2, 5,
                   "2026-06-01T10:00:00", 40000, 3, feed_seq=11)  # fmt: skip
    failed = Outcome("fail", 1_780_000_002.0, "R2", error_code="E7", error_text="drive full", feed_seq=12)
    envelope = {"uuid": "00010203-0405-0607-0809-0a0b0c0d0e0f", "external_id": "ext-\u00abq\u00bb\"1",
                "group_code": "g1", "operation": "sell_refund"}  # fmt: skip
    expected = [
        {**envelope, "status": "queued", "accepted_at": 1_780_000_000.25},
        {**envelope, "status": "done", "accepted_at": 1_780_000_000.25, "finished_at": 1_780_000_001.5, "cursor": 11,
         "register": "R1", "fiscal": {"fn_number": "9999078900000001", "registration_number": "0000000001012345",
                                      "fd_number": 7, "fiscal_sign": 123, "shift_number": 2, "receipt_number": 5,
                                      "datetime": "2026-06-01T10:00:00", "total": 40000,
                                      "qr": "t=20260601T1000&s=400.00&fn=9999078900000001&i=7&fp=123&n=2"}},
        {**envelope, "status": "fail", "accepted_at": 1_780_000_000.25, "finished_at": 1_780_000_002.0, "cursor": 12,
         "register": "R2", "error": {"code": "E7", "text": "drive full", "retryable": False}},
    ]  # fmt: skip
    for source in (entry, head):
        got = [msgspec.json.encode(views.native_result(uuid, source, out)) for out in (None, done, failed)]
        assert got == [msgspec.json.encode(e) for e in expected]
