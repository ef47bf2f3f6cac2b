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
