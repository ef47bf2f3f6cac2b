"""The receipt QR string (tag 1196): public examples, the two real receipts, lenient reading, strict errors."""

from __future__ import annotations

import base64
import datetime as dt
import json
import pickle
from typing import Any

import pytest
from conftest import VECTORS
from hypothesis import given
from hypothesis import strategies as st

from fiscal_core.errors import FormatError
from fiscal_core.ffd import qr
from fiscal_core.ffd.fnsjson import from_fnsjson
from fiscal_core.ffd.qr import QrError, QrParams

UNIT = json.loads((VECTORS / "unit_vectors.json").read_text())
PEREKRESTOK = json.loads((VECTORS / "real_receipt_ffd105_perekrestok_20200320.json").read_text())
PYATEROCHKA = json.loads((VECTORS / "real_receipt_ffd12_pyaterochka_20260803_fnsjson.json").read_text())
FNSAPI_EXAMPLE = "t=20201225T1016&s=1113.99&fn=9282440300829880&i=10556&fp=189504453&n=1"


def test_public_examples_parse_and_print_back() -> None:
    first, second = UNIT["qr_1196"]
    assert first == FNSAPI_EXAMPLE
    p = qr.parse(first)
    assert p == QrParams(dt.datetime(2020, 12, 25, 10, 16), 111399, "9282440300829880", 10556, 189504453, 1)
    assert not p.seconds
    q = qr.parse(second)
    assert (q.t, q.seconds, q.s, q.fp) == (dt.datetime(2019, 4, 18, 21, 16, 55), True, 394326, 2918241905)
    assert [qr.format(qr.parse(s)) for s in UNIT["qr_1196"]] == UNIT["qr_1196"]


def test_2020_receipt_qr_from_its_decoded_tree(tlv_impl: Any) -> None:
    tree = tlv_impl.decode(base64.b64decode(PEREKRESTOK["rawData_base64"]))
    assert (
        qr.from_document(tree)
        == PEREKRESTOK["qr_expected"]
        == "t=20200320T1524&s=404.49&fn=9280440300332772&i=10756&fp=283222882&n=1"
    )
    assert qr.from_document(tree[0]) == PEREKRESTOK["qr_expected"]


def test_2026_receipt_qr_from_its_fns_json_tree(tlv_impl: Any) -> None:
    node, _ = from_fnsjson(PYATEROCHKA["fns_json"])
    want = PYATEROCHKA["checks"]["qr_expected"]
    assert qr.from_document(node) == want
    assert qr.from_document(tlv_impl.decode(tlv_impl.encode([node]))) == want


def test_seconds_written_only_when_non_zero() -> None:
    doc = [(1012, dt.datetime(2026, 1, 5, 9, 3, 7)), (1020, 5), (1041, "9999078900005488"), (1040, 7)]
    doc += [(1077, b"\x31\x04\x00\x00\x00\x2a"), (1054, 2)]
    assert qr.from_document((3, doc)) == "t=20260105T090307&s=0.05&fn=9999078900005488&i=7&fp=42&n=2"
    doc[0] = (1012, dt.datetime(2026, 1, 5, 9, 3))
    assert qr.from_document((31, doc)).startswith("t=20260105T0903&")


def test_any_order_lower_case_t_and_whitespace() -> None:
    shuffled = "  n=1&fp=189504453&i=10556&fn=9282440300829880&s=1113.99&t=20201225t1016\r\n"
    assert qr.parse(shuffled) == qr.parse(FNSAPI_EXAMPLE)


@pytest.mark.parametrize(
    ("text", "kopecks"), [("100", 10000), ("100.5", 10050), ("404.49", 40449), ("0.07", 7), ("0", 0)]
)
def test_sum_with_zero_to_two_decimals(text: str, kopecks: int) -> None:
    assert qr.parse(FNSAPI_EXAMPLE.replace("s=1113.99", f"s={text}")).s == kopecks


_params = st.builds(
    QrParams,
    t=st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2106, 2, 7, 6, 28, 15)).map(
        lambda t: t.replace(microsecond=0)
    ),
    s=st.integers(0, 2**48 - 1),
    fn=st.text("0123456789", min_size=16, max_size=16),
    i=st.integers(1, 2**32 - 1),
    fp=st.integers(0, 2**32 - 1),
    n=st.integers(1, 4),
    seconds=st.just(True),
) | st.builds(
    QrParams,
    t=st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2106, 2, 7, 6, 28)).map(
        lambda t: t.replace(second=0, microsecond=0)
    ),
    s=st.integers(0, 2**48 - 1),
    fn=st.text("0123456789", min_size=16, max_size=16),
    i=st.integers(1, 2**32 - 1),
    fp=st.integers(0, 2**32 - 1),
    n=st.integers(1, 4),
    seconds=st.just(False),
)


@given(_params)
def test_parse_format_round_trip(p: QrParams) -> None:
    text = qr.format(p)
    assert qr.parse(text) == p
    assert qr.format(qr.parse(text)) == text


@given(_params)
def test_the_time_is_written_as_strftime_writes_it(p: QrParams) -> None:
    assert qr.format(p).split("&")[0] == "t=" + p.t.strftime("%Y%m%dT%H%M%S" if p.seconds else "%Y%m%dT%H%M")


def _slow_iso(when: str, s: Any, fn: Any, i: Any, fp: Any, n: Any) -> str:
    """What format_iso must equal: QrParams built from the parsed time, seconds only when there are some."""
    t = dt.datetime.fromisoformat(when)
    return qr.format(QrParams(t=t, s=s, fn=fn, i=i, fp=fp, n=n, seconds=bool(t.second)))


def _outcome(call: Any) -> tuple[str, str | None]:
    try:
        return ("ok", call())
    except (QrError, ValueError) as exc:
        return (type(exc).__name__, getattr(exc, "param", None))


@given(_params)
def test_format_iso_of_a_stored_time_is_format(p: QrParams) -> None:
    """The API's own case: the drive's time as ``isoformat()`` text, values in range, seconds when not zero."""
    when = p.t.isoformat()
    assert qr.format_iso(when, p.s, p.fn, p.i, p.fp, p.n) == _slow_iso(when, p.s, p.fn, p.i, p.fp, p.n)


_BAD_VALUES: dict[str, list[Any]] = {
    "s": [-1, 2**48, True, 1.5],
    "fn": [
        "",
        "123456789012345",
        "12345678901234567",
        "１２３４５６７８９０１２３４５６",
        1234567890123456,
        "12345678901234a6",
    ],
    "i": [0, 2**32, True, 7.0],
    "fp": [-1, 2**32, 3.0, False],
    "n": [0, 5, True],
}


_FORMS = ["iso", "space", "micro", "zone", "date", "week", "minutes", "early", "late"]


def _iso_form(t: dt.datetime, form: str) -> str:
    return {
        "iso": t.isoformat(),
        "space": t.isoformat(" "),
        "micro": t.replace(microsecond=7).isoformat(),
        "zone": t.replace(tzinfo=dt.UTC).isoformat(),
        "date": t.date().isoformat(),
        "week": "{:04d}-W{:02d}-{:d}T{:02d}:{:02d}:{:02d}".format(*t.isocalendar(), t.hour, t.minute, t.second),
        "minutes": t.isoformat(timespec="minutes"),
        "early": t.replace(year=1969).isoformat(),
        "late": t.replace(year=2107, month=12).isoformat(),
    }[form]


@given(_params)
def test_format_iso_is_format_of_the_parsed_time(p: QrParams) -> None:
    """The same string or the same error as QrParams: other ISO forms of the time, a time out of range, and
    each parameter in turn given a value QrParams refuses."""
    good: dict[str, Any] = {"s": p.s, "fn": p.fn, "i": p.i, "fp": p.fp, "n": p.n}
    cases = [good] + [{**good, name: value} for name, bad in _BAD_VALUES.items() for value in bad]
    for form in _FORMS:
        when = _iso_form(p.t, form)
        for values in cases:
            got = _outcome(lambda: qr.format_iso(when, **values))  # noqa: B023 - called at once
            assert got == _outcome(lambda: _slow_iso(when, **values)), (when, values)  # noqa: B023


def test_format_iso_keeps_its_stamps_bounded() -> None:
    """The stamps of times already seen are a bounded cache: past its bound it starts again, answers unchanged."""
    start = dt.datetime(2026, 6, 1)
    for k in range(qr._STAMPS_MAX + 10):
        when = (start + dt.timedelta(seconds=k)).isoformat()
        assert qr.format_iso(when, k, "9999078900000001", 1, 2, 1) == _slow_iso(when, k, "9999078900000001", 1, 2, 1)
        assert len(qr._STAMPS) <= qr._STAMPS_MAX
    assert 0 < len(qr._STAMPS) < qr._STAMPS_MAX  # it was emptied once on the way


_OK = dict(part.split("=") for part in FNSAPI_EXAMPLE.split("&"))


def _text(**changes: str | None) -> str:
    params = {**_OK, **changes}
    return "&".join(f"{k}={v}" for k, v in params.items() if v is not None)


@pytest.mark.parametrize(
    ("text", "param", "words"),
    [
        (_text(t=None), "t", "missing"),
        (_text(s=None), "s", "missing"),
        (_text(fn=None), "fn", "missing"),
        (_text(i=None), "i", "missing"),
        (_text(fp=None), "fp", "missing"),
        (_text(n=None), "n", "missing"),
        (FNSAPI_EXAMPLE + "&i=10556", "i", "given twice"),
        (FNSAPI_EXAMPLE + "&x=1", "x", "unknown parameter"),
        (FNSAPI_EXAMPLE + "&T=20201225T1016", "T", "unknown parameter"),
        (FNSAPI_EXAMPLE + "&garbage", None, "not a name=value pair"),
        (FNSAPI_EXAMPLE + "&", None, "not a name=value pair"),
        ("", None, "empty"),
        (_text(i="12a"), "i", "expected digits"),
        (_text(i=""), "i", "expected digits"),
        (_text(i="0"), "i", "out of range"),
        (_text(i="4294967296"), "i", "out of range"),
        (_text(fp="-1"), "fp", "expected digits"),
        (_text(fp="4294967296"), "fp", "out of range"),
        (_text(fp="9" * 40), "fp", "too long"),
        (_text(n="0"), "n", "out of range"),
        (_text(n="5"), "n", "out of range"),
        (_text(n="１"), "n", "expected digits"),  # a full-width digit is not an ASCII digit
        (_text(fn="928244030082988"), "fn", "16 digits"),
        (_text(fn="92824403008298800"), "fn", "16 digits"),
        (_text(fn="928244030082988x"), "fn", "16 digits"),
        (_text(s="1113.999"), "s", "0-2 decimals"),
        (_text(s="1113,99"), "s", "0-2 decimals"),
        (_text(s=".99"), "s", "0-2 decimals"),
        (_text(s="1113."), "s", "0-2 decimals"),
        (_text(s="-5"), "s", "0-2 decimals"),
        (_text(s="2814749767106.56"), "s", "out of range"),
        (_text(t="20201225 1016"), "t", "YYYYMMDDTHHMM"),
        (_text(t="20201225T101"), "t", "YYYYMMDDTHHMM"),
        (_text(t="20201225T1016555"), "t", "YYYYMMDDTHHMM"),
        (_text(t="20201325T1016"), "t", "not a valid date-time"),
        (_text(t="20201225T2416"), "t", "not a valid date-time"),
        (_text(t="20201225T1060"), "t", "not a valid date-time"),
        (_text(t="19691231T2359"), "t", "unixtime range"),
    ],
)
def test_errors_name_the_parameter(text: str, param: str | None, words: str) -> None:
    with pytest.raises(QrError) as info:
        qr.parse(text)
    assert info.value.param == param
    assert words in info.value.reason


def test_error_is_a_format_error() -> None:
    with pytest.raises(QrError) as info:
        qr.parse(_text(n="9"))
    err = info.value
    assert isinstance(err, FormatError)
    assert err.to_dict()["param"] == "n" and "QR parameter 'n'" in str(err)
    again = pickle.loads(pickle.dumps(err))
    assert (again.param, again.reason) == ("n", err.reason)


def test_params_refuse_seconds_they_would_drop() -> None:
    with pytest.raises(QrError) as info:
        QrParams(dt.datetime(2020, 1, 1, 10, 0, 5), 1, "9282440300829880", 1, 1, 1)
    assert info.value.param == "t"
    with pytest.raises(QrError) as info:
        QrParams(dt.datetime(2020, 1, 1), True, "9282440300829880", 1, 1, 1)
    assert info.value.param == "s"


def test_from_document_errors() -> None:
    with pytest.raises(QrError, match="forms 3, 4, 31, 41"):
        qr.from_document((1, []))
    with pytest.raises(QrError) as info:
        qr.from_document((3, [(1012, dt.datetime(2020, 1, 1))]))
    assert info.value.param == "s"
    with pytest.raises(QrError) as info:
        qr.from_document((3, [(1012, 0), (1020, 1), (1041, "9282440300829880"), (1040, 1), (1054, 1), (1077, b"1")]))
    assert info.value.param == "fp"
