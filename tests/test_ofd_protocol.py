"""Issue 6 item 1: the ККТ↔ОФД framing (ffd.md §10), the operator confirmation (§3.5, §5 table 32, §8).

The two Yandex vectors parse, their CRCs recompute to the stored values (60419, 30757) and re-serialising gives
the same bytes; headers, containers and messages round-trip (hypothesis); every refusal names the field and
the absolute byte offset; a stream cut anywhere gives the same messages; the canonical confirmation equals
what the TLV encoder makes of ``documents.operator_confirmation``; ``check_confirmation`` tells each reason.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
from typing import Any

import pytest
from conftest import VECTORS
from hypothesis import given
from hypothesis import strategies as st

from fiscal_core.cli import ofd_cmd
from fiscal_core.crypto.crc import crc16_ccitt
from fiscal_core.crypto.sign import OperatorSigner, operator_key
from fiscal_core.ffd import documents, tlv
from fiscal_core.ofd import protocol as P

DOC1 = bytes.fromhex((VECTORS / "yandex_ofd_container_doc1.hex").read_text().strip())
DOC11 = bytes.fromhex((VECTORS / "yandex_ofd_kkt_to_ofd_message_doc11.hex").read_text().strip())
FN = "9999078900005488"
SIGNER = OperatorSigner(operator_key(bytes(range(32)), FN))
EPOCH = dt.datetime(1970, 1, 1)


# --------------------------------------------------------------------------- the vectors


def test_container_doc1_parses_and_recomputes_its_crc() -> None:
    c = P.parse_container(DOC1)
    h = c.header
    assert (h.length, h.crc, h.message_type, h.form, h.version, h.fd_number) == (305, 60419, 0xA5, 1, 1, 1)
    assert h.service1 == b"\x10\x09"
    assert h.fn_bcd.hex() == "999907891234567f" and h.fn_number is None  # the sample's last nibble is not BCD
    assert c.computed_crc() == 60419
    assert crc16_ccitt(DOC1[:2] + DOC1[4:]) == 60419  # the rule itself, straight on the bytes
    assert c.message_sign is not None and c.message_sign.hex() == "810673fca34b2872"
    assert c.padding == b"\x00\x00"
    assert len(c.document) == 4 + 259 and c.document[:2] == b"\x01\x00"
    assert c.to_bytes() == DOC1


def test_message_doc11_parses_and_recomputes_its_crc() -> None:
    m = P.parse(DOC11)
    s = m.session
    assert (s.fn_number, s.body_length, s.flags, s.crc) == (FN, 436, 0x0014, 0)
    assert (s.s_version, s.p_version) == (b"\x81\xa2", b"\x00\x01")
    assert (s.crc_mode, s.has_container, s.expects_answer) == (P.CRC_NONE, True, True)
    assert m.container is not None
    h = m.container.header
    assert (h.length, h.crc, h.form, h.fd_number, h.fn_number) == (436, 30757, 11, 1, FN)
    assert m.container.computed_crc() == 30757
    assert m.container.message_sign == bytes.fromhex("8106a55ae10c4d75")
    assert m.to_bytes() == DOC11
    # The document inside is a real FFD 1.05 re-registration report: it decodes.
    ((form, nodes),) = tlv.decode(m.container.document)
    assert form == 11 and dict(nodes)[1041] == FN and dict(nodes)[1040] == 1


def test_recomputing_the_crcs_of_the_vectors_changes_nothing_but_the_session_crc_mode() -> None:
    assert P.parse_container(DOC1).with_crc().to_bytes() == DOC1
    assert P.parse(DOC11).with_crcs().to_bytes() == DOC11  # session CRC mode 00: the field stays 0


def test_cli_decode_prints_header_container_and_document(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    path = tmp_path / "doc11.hex"
    path.write_text(DOC11.hex())
    assert _cli("ofd", "decode", str(path)) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["session"]["fn_number"] == FN and out["session"]["flags"] == "0x0014"
    assert out["container"]["header"]["crc"] == out["container"]["header"]["crc_computed"] == 30757
    assert out["container"]["message_sign"] == "8106a55ae10c4d75"
    assert out["container"]["document"][0][0] == 11


def test_cli_decode_shows_what_it_cannot_decode(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    # Doc 1 carries 1058, an FFD 1.0 tag the codec does not know: the frame is printed, the document's error
    # is named with its absolute offset, and the top-level elements are listed raw.
    path = tmp_path / "doc1.bin"
    path.write_bytes(DOC1)
    assert _cli("ofd", "decode", str(path)) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["container"]["header"]["crc_ok"] is True
    err = out["container"]["document_error"]
    assert "unknown tag 1058" in err["message"] and err["offset"] == 32 + 128
    assert any(e["tag"] == 1058 for e in out["container"]["elements"])


def test_cli_decode_refuses_a_bad_frame_with_field_and_offset(tmp_path: Any) -> None:
    bad = bytearray(DOC11)
    bad[30 + 2] ^= 0xFF  # the container CRC
    path = tmp_path / "bad.bin"
    path.write_bytes(bytes(bad))
    with pytest.raises(P.CrcError) as info:
        _cli("ofd", "decode", str(path))
    assert info.value.field == "container CRC" and info.value.offset == 32


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    ofd_cmd.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


# --------------------------------------------------------------------------- round trips

fn_numbers = st.text("0123456789", min_size=1, max_size=16)
u16 = st.integers(0, 0xFFFF)


@st.composite
def session_headers(draw: st.DrawFn) -> P.SessionHeader:
    flags = draw(u16.filter(lambda f: f & 3 != 3 and (f >> 2) & 3 <= 1))
    return P.SessionHeader(
        draw(fn_numbers),
        draw(u16),
        flags,
        draw(u16),
        draw(st.sampled_from([P.S_VERSION, b"\x82\xfb"])),
        draw(st.sampled_from([*P.P_VERSIONS.values(), b"\x00\x01", b"\x00\x02"])),
    )


@given(session_headers())
def test_session_headers_round_trip(h: P.SessionHeader) -> None:
    raw = h.pack()
    assert len(raw) == 30 and P.parse_session_header(raw) == h and P.parse_session_header(raw).pack() == raw


@st.composite
def containers(draw: st.DrawFn) -> P.Container:
    form = draw(st.sampled_from([1, 2, 3, 5, 7, 11, 21, 31]))
    value = draw(st.binary(max_size=300))
    document = _stlv(form, value)
    sign = draw(st.one_of(st.none(), st.binary(min_size=6, max_size=6).map(lambda b: b"\x81\x06" + b)))
    padding = draw(st.sampled_from([b"", b"\x00\x00"]))
    header = P.ContainerHeader(
        0,
        0,
        form,
        draw(st.binary(min_size=8, max_size=8)),
        draw(st.integers(0, 0xFFFFFF)),
        service1=draw(st.binary(min_size=2, max_size=2)),
        service2=draw(st.binary(min_size=12, max_size=12)),
    )
    return P.Container(header, document, sign, padding).with_crc()


def _stlv(form: int, value: bytes) -> bytes:
    return form.to_bytes(2, "little") + len(value).to_bytes(2, "little") + value


@given(containers())
def test_containers_round_trip(c: P.Container) -> None:
    raw = c.to_bytes()
    back = P.parse_container(raw)
    assert back == c and back.to_bytes() == raw and back.computed_crc() == c.header.crc


@given(containers(), fn_numbers, st.sampled_from([P.CRC_NONE, P.CRC_HEADER, P.CRC_HEADER_BODY]))
def test_messages_round_trip_and_check_their_crcs(c: P.Container, fn: str, mode: int) -> None:
    msg = P.Message(P.SessionHeader(fn, 0, mode | 0x14), c).with_crcs()
    raw = msg.to_bytes()
    back = P.parse(raw)
    assert back == msg and back.to_bytes() == raw
    if mode != P.CRC_NONE:
        damaged = bytearray(raw)
        damaged[29] ^= 0x40  # the session CRC itself
        with pytest.raises(P.CrcError) as info:
            P.parse(bytes(damaged))
        assert info.value.field == "session CRC" and info.value.offset == 28


@given(st.lists(containers(), min_size=1, max_size=4), st.data())
def test_a_stream_cut_anywhere_gives_the_same_messages(cs: list[P.Container], data: st.DataObject) -> None:
    msgs = [P.Message(P.SessionHeader(FN, 0, P.CRC_HEADER_BODY | 0x14), c).with_crcs() for c in cs]
    stream = b"".join(m.to_bytes() for m in msgs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    reader = P.MessageReader()
    got = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        reader.feed(stream[prev:cut])
        got.extend(reader)
        prev = cut
    assert got == msgs and reader.buffered == 0


def test_document_message_is_what_the_parser_reads_back() -> None:
    doc = DOC11[62:-10]
    sign = DOC11[-10:-2]
    for mode in (P.CRC_NONE, P.CRC_HEADER, P.CRC_HEADER_BODY):
        raw = P.document_message(FN, 1, doc, sign, ffd_version=2, crc_mode=mode)
        m = P.parse(raw)
        assert m.session.p_version == b"\x01\x05" and m.session.crc_mode == mode and m.session.expects_answer
        assert m.container is not None and m.container.header.form == 11 and m.container.header.fd_number == 1
        assert (m.container.document, m.container.message_sign) == (doc, sign)
        assert m.container.header.fn_number == FN
        assert m.container.computed_crc() == m.container.header.crc
        # Our frames differ from the sample only where the sample's register chose differently.
        assert raw[62:] == DOC11[62:-2] and raw[34:49] == DOC11[34:49]


# --------------------------------------------------------------------------- refusals name field and offset


def _with(raw: bytes, at: int, value: bytes) -> bytes:
    return raw[:at] + value + raw[at + len(value) :]


GOOD = P.Message(P.SessionHeader(FN, 0, P.CRC_HEADER_BODY | 0x14), P.parse_container(DOC11[30:]).with_crc()).with_crcs()
RAW = GOOD.to_bytes()


@pytest.mark.parametrize(
    ("raw", "field", "offset", "words"),
    [
        (_with(RAW, 0, b"\x2a\x08\x41\x0b"), "signature", 0, "not an OFD message"),
        (_with(RAW, 0, b"\xdd\x80\xca\xa1"), "signature", 0, "OISM"),
        (RAW[:20], "session header", 20, "truncated"),
        (_with(RAW, 4, b"\x81\xa3"), "S-protocol version", 4, "81a3"),
        (_with(RAW, 6, b"\x02\x00"), "P-protocol version", 6, "0200"),
        (_with(RAW, 8, b"99990789000054x8"), "FN number", 8, "digits"),
        (_with(RAW, 26, b"\x17\x00"), "flags", 26, "CRC mode 11"),
        (_with(RAW, 26, b"\x1a\x00"), "flags", 26, "container bits 10"),
        (RAW[:-1], "body length", 24, "got 435"),
        (_with(RAW, 28, b"\x00\x00"), "session CRC", 28, "stored 0x0000"),
    ],
)
def test_session_refusals(raw: bytes, field: str, offset: int, words: str) -> None:
    with pytest.raises(P.FrameError) as info:
        P.parse(raw)
    assert (info.value.field, info.value.offset) == (field, offset), info.value
    assert words in str(info.value) and str(info.value).endswith(f"at offset {offset}")


def _container_bytes(mutate: Any) -> bytes:
    body = bytearray(GOOD.container.to_bytes())  # type: ignore[union-attr]
    mutate(body)
    return bytes(body)


@pytest.mark.parametrize(
    ("body", "field", "offset", "words"),
    [
        (bytes(20), "container header", 20, "truncated"),
        (_container_bytes(lambda b: b.__setitem__(0, 0)), "container length", 0, "says"),
        (_container_bytes(lambda b: b.__setitem__(4, 0xA6)), "message type", 4, "0xa6"),
        (_container_bytes(lambda b: b.__setitem__(6, 2)), "container version", 6, "got 2"),
        (_container_bytes(lambda b: b.__setitem__(2, b[2] ^ 1)), "container CRC", 2, "computed"),
    ],
)
def test_container_refusals(body: bytes, field: str, offset: int, words: str) -> None:
    with pytest.raises(P.FrameError) as info:
        P.parse_container(body, 30)
    assert (info.value.field, info.value.offset) == (field, offset + 30), info.value
    assert words in str(info.value)


def _container_with_body(form: int, body: bytes) -> bytes:
    head = P.ContainerHeader(0, 0, form, P.bcd_fn(FN), 1)
    return P.Container(head, body).with_crc().to_bytes()


@pytest.mark.parametrize(
    ("raw", "offset", "words"),
    [
        (_container_with_body(3, b"\x03\x00"), 32, "truncated TLV header"),
        (_container_with_body(3, _stlv(2, b"xx")), 32, "form 2 differs from the container's FD type 3"),
        (_container_with_body(3, _stlv(3, b"xx")[:-1]), 34, "runs 1 bytes past"),
        (_container_with_body(3, _stlv(3, b"") + b"\x81\x06" + bytes(6) + b"\x00\x01"), 44, "after the message sign"),
        (_container_with_body(3, _stlv(3, b"") + b"\x01"), 36, "after the document"),
    ],
)
def test_document_part_refusals(raw: bytes, offset: int, words: str) -> None:
    # parse_container checks the CRC first: these containers have correct CRCs and a bad body.
    with pytest.raises(P.FrameError) as info:
        P.parse_container(raw)
    assert info.value.offset == offset and words in str(info.value), info.value


def test_stream_errors_carry_stream_offsets() -> None:
    reader = P.MessageReader()
    reader.feed(RAW + RAW[:5])
    assert reader.next_message() == GOOD
    assert reader.next_message() is None  # a partial header waits
    reader.feed(b"\x00")  # ...unless it can no longer be one: byte 4 of a header must be 81/82
    with pytest.raises(P.FrameError) as info:
        reader.next_message()
    assert info.value.offset == len(RAW) + 4 and info.value.field == "S-protocol version"
    garbage = P.MessageReader()
    garbage.feed(b"GET / HTTP/1.1")
    with pytest.raises(P.FrameError) as info:
        garbage.next_message()
    assert info.value.field == "signature" and info.value.offset == 0


# --------------------------------------------------------------------------- the operator confirmation


MS = b"\x81\x06" + bytes(6)


def _confirmation(fd: int = 5, code: int = 0, sign_with: OperatorSigner = SIGNER, ms: bytes = MS) -> bytes:
    head = P.confirmation_head("7704358518", FN, fd, 1767323045, code)
    return P.encode_confirmation(head, sign_with.sign(head + ms))


def test_canonical_confirmation_is_what_the_tlv_encoder_makes() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5)
    sign = bytes(range(16))
    head = P.confirmation_head("7704358518", FN, 5, (when - EPOCH) // dt.timedelta(seconds=1), 14)
    ours = P.encode_confirmation(head, sign)
    assert ours == tlv.encode([documents.operator_confirmation("7704358518", FN, 5, when, 14, sign)])
    c = P.decode_confirmation(ours)
    assert (c.ofd_inn, c.fn_number, c.fd_number, c.code, c.operator_sign, c.head) == (
        "7704358518",
        FN,
        5,
        14,
        sign,
        head,
    )
    assert c.when == 1767323045 and not c.accepted


def test_another_layout_decodes_to_the_same_values_and_verifies() -> None:
    ms = b"\x81\x06" + bytes(range(6))
    canonical = _confirmation(ms=ms)
    c = P.decode_confirmation(canonical)
    when = EPOCH + dt.timedelta(seconds=c.when)
    # The same values with 1078 first and an 18-byte sign would be Y's layout; here only the order changes.
    ((form, nodes),) = tlv.decode(canonical)
    reordered = tlv.encode([(form, [nodes[-1], *nodes[:-1]])])
    assert reordered != canonical
    other = P.decode_confirmation(reordered)
    assert (other.fd_number, other.when, other.code, other.operator_sign, other.head) == (
        c.fd_number,
        c.when,
        c.code,
        c.operator_sign,
        c.head,
    )
    assert when.year == 2026
    P.check_confirmation(reordered, fn_number=FN, fd_number=5, message_sign=ms, signer=SIGNER)


@pytest.mark.parametrize(
    ("document", "fd", "reason"),
    [
        (_confirmation(), 6, "wrong_document"),
        (_confirmation(sign_with=OperatorSigner(bytes(32))), 5, "bad_sign"),
        (_confirmation(code=14), 5, "rejected"),
        (_confirmation()[:-1], 5, "malformed"),
        (tlv.encode([(7, [(1017, "7704358518"), (1041, FN)])]), 5, "malformed"),
        (tlv.encode([(5, [(1041, FN)])]), 5, "malformed"),
    ],
)
def test_check_confirmation_names_the_reason(document: bytes, fd: int, reason: str) -> None:
    with pytest.raises(P.ConfirmationError) as info:
        P.check_confirmation(document, fn_number=FN, fd_number=fd, message_sign=b"\x81\x06" + bytes(6), signer=SIGNER)
    assert info.value.reason == reason and info.value.retryable
    if reason == "rejected":
        assert info.value.ofd_code == 14


def test_a_confirmation_is_bound_to_the_document_bytes() -> None:
    # The same FD with another message sign (other document bytes) does not verify.
    doc = _confirmation(ms=b"\x81\x06" + bytes(6))
    with pytest.raises(P.ConfirmationError) as info:
        P.check_confirmation(doc, fn_number=FN, fd_number=5, message_sign=MS[:-1] + b"\x01", signer=SIGNER)
    assert info.value.reason == "bad_sign"
    with pytest.raises(P.ConfirmationError) as info:
        P.check_confirmation(doc, fn_number="9999078900005489", fd_number=5, message_sign=b"", signer=SIGNER)
    assert info.value.reason == "wrong_drive"


def test_confirmation_message_round_trips() -> None:
    doc = _confirmation()
    raw = P.confirmation_message(FN, 5, doc, p_ver=b"\x01\x20")
    m = P.parse(raw)
    assert m.container is not None and m.container.document == doc and m.container.message_sign is None
    assert m.container.header.form == 7 and m.container.header.fd_number == 5 and not m.session.expects_answer
    assert m.session.p_version == b"\x01\x20"


def test_cli_decode_shows_an_answer_as_confirmation_values(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    path = tmp_path / "answer.b64"
    path.write_text(base64.b64encode(P.confirmation_message(FN, 5, _confirmation(code=14))).decode())
    assert _cli("ofd", "decode", str(path), "--pretty") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["session"]["crc_mode"] == "header+body" and out["session"]["crc"] == out["session"]["crc_computed"]
    conf = out["container"]["confirmation"]
    assert (conf["fn_number"], conf["fd_number"], conf["code"], conf["ofd_inn"]) == (FN, 5, 14, "7704358518")
    assert out["container"]["message_sign"] is None
