"""The ККТ↔ОФД transport protocol, sans-IO (reference §10, §8, §3.5, §4, §5): bytes in, values out, and back.

Rules
- A message is a 30-byte session header and a body. Header, little-endian: signature ``2A 08 41 0A``,
  S-protocol version (``81 A2``; ``82 FB`` for test messages), P-protocol version = the FFD (``01 05`` 1.05,
  ``01 10`` 1.1, ``01 20`` 1.2; ``01 00``, ``00 01``, ``00 02`` for 1.0 — Y's 1.05 sample says ``00 01``), FN
  number (16 ASCII digits, space-padded), body length (u16), flags (u16), CRC (u16).
- Flags: bits 0–1 CRC mode (00 none, 01 header, 10 header + body; 11 is reserved: an error), bits 2–3 = 01
  the body is a container (00 no container; 10/11 reserved: an error), bits 4–5 = 01 the sender expects an
  answer. Other bits are carried as they are. The session CRC is CRC-16/CCITT-FALSE over header bytes
  ``[0:28]`` (+ the body in mode 10); in mode 00 the field is carried, not checked (Y sends zeros).
- Container (the body): a 32-byte header — length (u16 LE, header included), CRC (u16 LE, CRC-16/CCITT-FALSE
  over bytes ``[0:2] + [4:32]`` + body, always present), message type ``0xA5`` (both directions, as Y's mock
  OFD), FD type = form code (§2), version 1, service data 1 (2 bytes; we send ``10 09`` as observed), FN
  number in BCD (8 bytes), FD number (u24 big-endian), service data 2 (12 bytes; we send zeros). Then the
  document STLV (its tag must be the FD type), the 8-byte message sign ``81 06 …`` (documents to the OFD) and
  zero padding (both Y samples end in ``00 00``, meaning unknown: accepted and kept, never sent).
- The OFD's answer is a container of form 7 (§3.5, §5 table 32): 1017 ИНН ОФД, 1041, 1040, 1012,
  1068 {1022 код ответа ОФД}, 1078 ФПО; its container FD number is the confirmed document's. 1022 (§4):
  0 accepted, 11 not recognised, 14 failed the format-logical check (ФЛК). The sign (1078) is checked
  with :class:`~fiscal_core.crypto.sign.OperatorSigner` over the values and the confirmed document's
  message sign (:func:`check_confirmation`).
- Parsing is strict: every refusal is a :class:`FrameError` naming the field, what is wrong and the absolute
  byte offset of the field (in the stream, for :class:`MessageReader`). The BCD FN number is kept as raw
  bytes (one Y sample has a non-BCD nibble), so ``parse(b).to_bytes() == b`` for every accepted ``b``.
- The operator sign (1078) covers the confirmation's canonical bytes before 1078 (:func:`confirmation_head`:
  the 4-byte form-7 header and 1017, 1041, 1040, 1012, 1068 in that order, fixed widths) followed by the
  confirmed document's 8-byte message sign: a confirmation is bound to the exact document the OFD received.
  A confirmation laid out otherwise is verified over the canonical bytes of its values.
- Pure: no sockets, no clock; the CRC comes from :mod:`fiscal_core.crypto.crc` (native or its twin). The
  value classes are plain slotted dataclasses (a frozen one costs five times as much to make, and a sender
  makes several per document): treat them as values.
"""

from __future__ import annotations

import datetime as _dt
import struct
from dataclasses import dataclass, replace

from fiscal_core.crypto.crc import crc16_ccitt
from fiscal_core.crypto.sign import OperatorSigner
from fiscal_core.errors import DecodeError, FiscalError, FormatError
from fiscal_core.ffd import tlv

__all__ = [
    "CONTAINER_SIZE",
    "CRC_HEADER",
    "CRC_HEADER_BODY",
    "CRC_NONE",
    "HEADER_SIZE",
    "MESSAGE_TYPE",
    "P_VERSIONS",
    "SIGNATURE",
    "S_VERSION",
    "Confirmation",
    "ConfirmationError",
    "Container",
    "ContainerHeader",
    "CrcError",
    "FrameError",
    "Message",
    "MessageReader",
    "SessionHeader",
    "bcd_fn",
    "check_confirmation",
    "confirmation_head",
    "confirmation_message",
    "decode_confirmation",
    "document_message",
    "encode_confirmation",
    "fn_from_bcd",
    "p_version",
    "parse",
    "parse_container",
    "parse_session_header",
]

SIGNATURE = b"\x2a\x08\x41\x0a"
_OISM_SIGNATURE = b"\xdd\x80\xca\xa1"
S_VERSION = b"\x81\xa2"
S_VERSION_TEST = b"\x82\xfb"
_S_VERSIONS = frozenset({S_VERSION, S_VERSION_TEST})
#: P-protocol version bytes by FFD version code (1209: 1 = 1.0, 2 = 1.05, 3 = 1.1, 4 = 1.2).
P_VERSIONS = {1: b"\x01\x00", 2: b"\x01\x05", 3: b"\x01\x10", 4: b"\x01\x20"}
_P_ACCEPTED = frozenset({*P_VERSIONS.values(), b"\x00\x01", b"\x00\x02"})

#: What the parsers take: any contiguous bytes (a memoryview over a receive buffer avoids a copy).
Buffer = bytes | bytearray | memoryview
HEADER_SIZE = 30
CONTAINER_SIZE = 32
MESSAGE_TYPE = 0xA5
CONTAINER_VERSION = 1
SERVICE1 = b"\x10\x09"
SERVICE2 = bytes(12)
MAX_BODY = 0xFFFF

CRC_NONE, CRC_HEADER, CRC_HEADER_BODY = 0, 1, 2
_FLAG_CONTAINER = 1 << 2
_FLAG_ANSWER = 1 << 4

_SESSION = struct.Struct("<4s2s2s16sHHH")
_CONTAINER = struct.Struct("<HHBBB2s8s3s12s")
_TLV_HEAD = struct.Struct("<HH")
_MESSAGE_SIGN_PREFIX = tlv.MESSAGE_SIGN_PREFIX
_MESSAGE_SIGN_SIZE = 8
_EPOCH = _dt.datetime(1970, 1, 1)
_SECOND = _dt.timedelta(seconds=1)


def p_version(ffd_version: int) -> bytes:
    """P-protocol version bytes for an FFD version code (1209); unknown codes are sent as 1.05."""
    return P_VERSIONS.get(ffd_version, P_VERSIONS[2])


# --------------------------------------------------------------------------- errors


class FrameError(FormatError):
    """Bytes that are not a valid OFD message; ``field`` and ``offset`` say where (the absolute byte offset)."""

    code = "ofd_frame_error"

    def __init__(self, field: str, reason: str, offset: int) -> None:
        self.field = field
        self.reason = reason
        self.offset = offset
        super().__init__(f"{field}: {reason} at offset {offset}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.field, self.reason, self.offset))

    def to_dict(self) -> dict[str, object]:
        d = super().to_dict()
        d.update(field=self.field, offset=self.offset)
        return d


class CrcError(FrameError):
    """A stored CRC that does not match the bytes it guards."""

    code = "ofd_crc_error"

    def __init__(self, field: str, stored: int, computed: int, offset: int) -> None:
        self.stored = stored
        self.computed = computed
        super().__init__(field, f"stored {stored:#06x}, computed {computed:#06x}", offset)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.field, self.stored, self.computed, self.offset))


class ConfirmationError(FiscalError):
    """A confirmation the drive must not store. ``reason``: ``malformed``, ``wrong_drive``, ``wrong_document``,
    ``bad_sign`` or ``rejected`` (1022 ≠ 0; ``ofd_code`` holds it). The document stays unconfirmed and is sent
    again later, so it is retryable."""

    code = "ofd_confirmation_error"
    retryable = True
    status_hint = 502

    def __init__(self, reason: str, message: str, ofd_code: int | None = None) -> None:
        self.reason = reason
        self.ofd_code = ofd_code
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.reason, self.message, self.ofd_code))

    def to_dict(self) -> dict[str, object]:
        d = super().to_dict()
        d.update(reason=self.reason, ofd_code=self.ofd_code)
        return d


# --------------------------------------------------------------------------- BCD FN number


def bcd_fn(fn_number: str) -> bytes:
    """The 8-byte BCD form of an FN number (16 digits; a shorter one is zero-filled on the left)."""
    if not fn_number.isdigit() or len(fn_number) > 16:
        raise ValueError(f"an FN number is up to 16 digits, got {fn_number!r}")
    return bytes.fromhex(fn_number.rjust(16, "0"))


def fn_from_bcd(raw: bytes) -> str | None:
    """The FN number in an 8-byte BCD field, or None when a nibble is not a decimal digit."""
    text = bytes(raw).hex()
    return text if text.isdigit() else None


# --------------------------------------------------------------------------- session header


@dataclass(slots=True)
class SessionHeader:
    """The 30-byte session header (see the module rules)."""

    fn_number: str
    body_length: int
    flags: int = CRC_HEADER_BODY | _FLAG_CONTAINER | _FLAG_ANSWER
    crc: int = 0
    s_version: bytes = S_VERSION
    p_version: bytes = P_VERSIONS[2]

    @property
    def crc_mode(self) -> int:
        return self.flags & 3

    @property
    def has_container(self) -> bool:
        return (self.flags >> 2) & 3 == 1

    @property
    def expects_answer(self) -> bool:
        return (self.flags >> 4) & 3 == 1

    def pack(self) -> bytes:
        fn = self.fn_number.encode("ascii").ljust(16, b" ")
        return _SESSION.pack(SIGNATURE, self.s_version, self.p_version, fn, self.body_length, self.flags, self.crc)

    def computed_crc(self, body: bytes) -> int:
        """The CRC the flags ask for over this header (its CRC field excluded) and ``body``; 0 in mode 00."""
        mode = self.crc_mode
        if mode == CRC_NONE:
            return 0
        crc = crc16_ccitt(self.pack()[:28])
        return crc16_ccitt(body, crc) if mode == CRC_HEADER_BODY else crc


def parse_session_header(data: Buffer, offset: int = 0) -> SessionHeader:
    """The session header in ``data[:30]`` (its CRC is checked by :func:`parse`, which has the body).

    ``offset`` is where ``data`` starts in the stream: error offsets are absolute.
    """
    if len(data) < 4:
        if not SIGNATURE.startswith(bytes(data)):
            raise FrameError("signature", f"expected {SIGNATURE.hex()}, got {bytes(data).hex()}", offset)
        raise FrameError("session header", f"truncated: {len(data)} of {HEADER_SIZE} bytes", offset + len(data))
    signature = bytes(data[:4])
    if signature != SIGNATURE:
        what = "an OISM channel message, not supported" if signature == _OISM_SIGNATURE else "not an OFD message"
        raise FrameError("signature", f"expected {SIGNATURE.hex()}, got {signature.hex()} ({what})", offset)
    if len(data) < HEADER_SIZE:
        raise FrameError("session header", f"truncated: {len(data)} of {HEADER_SIZE} bytes", offset + len(data))
    _sig, s_version, p_ver, fn_raw, body_length, flags, crc = _SESSION.unpack_from(data)
    if s_version not in _S_VERSIONS:
        raise FrameError("S-protocol version", f"unknown version {s_version.hex()}", offset + 4)
    if p_ver not in _P_ACCEPTED:
        raise FrameError("P-protocol version", f"unknown version {p_ver.hex()}", offset + 6)
    fn = fn_raw.rstrip(b" ")
    if not fn.isdigit():  # bytes.isdigit: ASCII digits only, and False when empty
        raise FrameError("FN number", f"not ASCII digits padded with spaces: {fn_raw!r}", offset + 8)
    if flags & 3 == 3:
        raise FrameError("flags", "CRC mode 11 is reserved", offset + 26)
    if (flags >> 2) & 3 > 1:
        raise FrameError("flags", f"container bits {(flags >> 2) & 3:02b} are reserved", offset + 26)
    return SessionHeader(fn.decode("ascii"), body_length, flags, crc, s_version, p_ver)


# --------------------------------------------------------------------------- container


@dataclass(slots=True)
class ContainerHeader:
    """The 32-byte container header (see the module rules)."""

    length: int
    crc: int
    form: int
    fn_bcd: bytes
    fd_number: int
    message_type: int = MESSAGE_TYPE
    version: int = CONTAINER_VERSION
    service1: bytes = SERVICE1
    service2: bytes = SERVICE2

    @property
    def fn_number(self) -> str | None:
        return fn_from_bcd(self.fn_bcd)

    def pack(self) -> bytes:
        return _CONTAINER.pack(
            self.length,
            self.crc,
            self.message_type,
            self.form,
            self.version,
            self.service1,
            self.fn_bcd,
            self.fd_number.to_bytes(3, "big"),
            self.service2,
        )


@dataclass(slots=True)
class Container:
    """A container: header, document STLV, message sign (documents to the OFD) and zero padding."""

    header: ContainerHeader
    document: bytes
    message_sign: bytes | None = None
    padding: bytes = b""

    @property
    def body(self) -> bytes:
        return b"".join((self.document, self.message_sign or b"", self.padding))

    def to_bytes(self) -> bytes:
        return self.header.pack() + self.body

    def computed_crc(self) -> int:
        head = self.header.pack()
        return crc16_ccitt(self.body, crc16_ccitt(head[4:], crc16_ccitt(head[:2])))

    def with_crc(self) -> Container:
        """The same container with its length and CRC recomputed."""
        header = replace(self.header, length=CONTAINER_SIZE + len(self.body))
        sized = replace(self, header=header)
        return replace(sized, header=replace(header, crc=sized.computed_crc()))


def parse_container(data: Buffer, offset: int = 0, *, check_crc: bool = True) -> Container:
    """The container that is exactly ``data``; ``offset`` is where it starts in the stream."""
    return _parse_container_at(bytes(data), 0, offset, check_crc)


def _parse_container_at(data: bytes, start: int, offset: int, check_crc: bool) -> Container:
    """The container that is ``data[start:]`` (read in place: a message is not copied to reach its body)."""
    n = len(data) - start
    if n < CONTAINER_SIZE:
        raise FrameError("container header", f"truncated: {n} of {CONTAINER_SIZE} bytes", offset + n)
    length, crc, mtype, form, version, service1, fn_bcd, fd_raw, service2 = _CONTAINER.unpack_from(data, start)
    if length != n:
        raise FrameError("container length", f"says {length} bytes, the body has {n}", offset)
    if mtype != MESSAGE_TYPE:
        raise FrameError("message type", f"expected {MESSAGE_TYPE:#04x}, got {mtype:#04x}", offset + 4)
    if version != CONTAINER_VERSION:
        raise FrameError("container version", f"expected {CONTAINER_VERSION}, got {version}", offset + 6)
    if check_crc:
        computed = crc16_ccitt(data[start : start + 2] + data[start + 4 :])  # one pass over a copy beats two calls
        if computed != crc:
            raise CrcError("container CRC", crc, computed, offset + 2)
    header = ContainerHeader(
        length, crc, form, fn_bcd, int.from_bytes(fd_raw, "big"), mtype, version, service1, service2
    )
    at = start + CONTAINER_SIZE
    end = start + n
    if end - at < 4:
        raise FrameError("document", f"truncated TLV header: {end - at} bytes", offset + CONTAINER_SIZE)
    tag, doc_length = _TLV_HEAD.unpack_from(data, at)
    if tag != form:
        raise FrameError("document", f"form {tag} differs from the container's FD type {form}", offset + CONTAINER_SIZE)
    stop = at + 4 + doc_length
    if stop > end:
        where = offset + CONTAINER_SIZE + 2
        raise FrameError("document", f"length {doc_length} runs {stop - end} bytes past the container", where)
    document = data[at:stop]
    sign = None
    if end - stop >= _MESSAGE_SIGN_SIZE and data[stop : stop + 2] == _MESSAGE_SIGN_PREFIX:
        sign = data[stop : stop + _MESSAGE_SIGN_SIZE]
        stop += _MESSAGE_SIGN_SIZE
    padding = data[stop:end]
    if padding.strip(b"\x00"):
        what = "the message sign" if sign else "the document"
        where = offset + stop - start
        raise FrameError("container body", f"{len(padding)} unexpected bytes after {what}", where)
    return Container(header, document, sign, padding)


# --------------------------------------------------------------------------- messages


@dataclass(slots=True)
class Message:
    """A whole message; ``raw_body`` holds the body when it is not a container."""

    session: SessionHeader
    container: Container | None
    raw_body: bytes = b""

    @property
    def body(self) -> bytes:
        return self.container.to_bytes() if self.container is not None else self.raw_body

    def to_bytes(self) -> bytes:
        """The message as it was parsed (stored CRCs and lengths are written back, never recomputed)."""
        return self.session.pack() + self.body

    def with_crcs(self) -> Message:
        """The same message with body length and both CRCs recomputed."""
        container = self.container.with_crc() if self.container is not None else None
        body = container.to_bytes() if container is not None else self.raw_body
        session = replace(self.session, body_length=len(body), crc=0)
        session = replace(session, crc=session.computed_crc(body))
        return Message(session, container, self.raw_body)


def parse(data: Buffer, offset: int = 0, *, check_crc: bool = True) -> Message:
    """The message that is exactly ``data`` (header and body); ``offset`` is where it starts in the stream."""
    data = bytes(data)
    return _parse_body(parse_session_header(data, offset), data, offset, check_crc)


def _parse_body(session: SessionHeader, data: bytes, offset: int, check_crc: bool) -> Message:
    n = len(data) - HEADER_SIZE
    if n != session.body_length:
        raise FrameError("body length", f"header says {session.body_length} bytes, got {n}", offset + 24)
    if check_crc and session.crc_mode != CRC_NONE:
        crc = crc16_ccitt(data[:28] if session.crc_mode == CRC_HEADER else data[:28] + data[HEADER_SIZE:])
        if crc != session.crc:
            raise CrcError("session CRC", session.crc, crc, offset + 28)
    if not session.has_container:
        return Message(session, None, data[HEADER_SIZE:])
    if n == 0:
        raise FrameError("body length", "the flags announce a container but the body is empty", offset + 24)
    return Message(session, _parse_container_at(data, HEADER_SIZE, offset + HEADER_SIZE, check_crc))


class MessageReader:
    """Cuts whole messages out of a byte stream (TCP): :meth:`feed` bytes, then take :meth:`next_message`.

    A :class:`FrameError` leaves the stream unusable (the framing is lost): close the connection.
    ``buffered`` > 0 when the peer closes means it stopped in the middle of a frame.
    """

    __slots__ = ("_buf", "_check_crc", "_pos", "_start")

    def __init__(self, *, check_crc: bool = True) -> None:
        self._buf = bytearray()
        self._pos = 0  # next unread byte in _buf
        self._start = 0  # stream offset of _buf[0]
        self._check_crc = check_crc

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos * 2 >= len(self._buf):
            # Compact only when most of the buffer is consumed: pipelined messages stay O(n) overall.
            del self._buf[: self._pos]
            self._start += self._pos
            self._pos = 0
        self._buf += data

    def next_message(self) -> Message | None:
        pos, buf = self._pos, self._buf
        have = len(buf) - pos
        if have < HEADER_SIZE:
            if have:
                # Refuse garbage as soon as it shows, not when 30 bytes have piled up.
                head = bytes(buf[pos : pos + min(have, 6)])
                if not SIGNATURE.startswith(head[:4]):
                    parse_session_header(head[:4], self._start + pos)
                if len(head) == 6 and head[4:] not in _S_VERSIONS:
                    raise FrameError("S-protocol version", f"unknown version {head[4:].hex()}", self._start + pos + 4)
            return None
        session = parse_session_header(bytes(buf[pos : pos + HEADER_SIZE]), self._start + pos)
        total = HEADER_SIZE + session.body_length
        if have < total:
            return None
        raw = bytes(buf[pos : pos + total])
        self._pos = pos + total
        return _parse_body(session, raw, self._start + pos, self._check_crc)

    def __iter__(self) -> MessageReader:
        return self

    def __next__(self) -> Message:
        msg = self.next_message()
        if msg is None:
            raise StopIteration
        return msg


def _frame(
    fn_number: str,
    fd_number: int,
    form: int,
    parts: tuple[bytes, ...],
    p_ver: bytes,
    flags: int,
    fn_bcd: bytes | None,
) -> bytes:
    body_length = CONTAINER_SIZE + sum(len(p) for p in parts)
    if body_length > MAX_BODY:
        raise ValueError(f"a container of {body_length} bytes does not fit the 16-bit body length")
    head = _CONTAINER.pack(
        body_length,
        0,
        MESSAGE_TYPE,
        form,
        CONTAINER_VERSION,
        SERVICE1,
        fn_bcd or bcd_fn(fn_number),
        fd_number.to_bytes(3, "big"),
        SERVICE2,
    )
    body = b"".join((head[4:], *parts))
    crc = crc16_ccitt(head[:2] + body).to_bytes(2, "little")
    fn = fn_number.encode("ascii").ljust(16, b" ")
    session = _SESSION.pack(SIGNATURE, S_VERSION, p_ver, fn, body_length, flags, 0)[:28]
    mode = flags & 3
    if mode == CRC_HEADER:
        session += crc16_ccitt(session).to_bytes(2, "little")
    elif mode == CRC_HEADER_BODY:
        session += crc16_ccitt(b"".join((session, head[:2], crc, body))).to_bytes(2, "little")
    else:
        session += b"\x00\x00"
    return b"".join((session, head[:2], crc, body))


def document_message(
    fn_number: str,
    fd_number: int,
    document: bytes,
    message_sign: bytes,
    *,
    ffd_version: int = 2,
    crc_mode: int = CRC_HEADER_BODY,
    fn_bcd: bytes | None = None,
) -> bytes:
    """A register→OFD message for one document (the sender's fast path): form from the document's tag."""
    if len(document) < 4:
        raise ValueError("a document is an STLV of at least 4 bytes")
    form = int.from_bytes(document[:2], "little")
    flags = crc_mode | _FLAG_CONTAINER | _FLAG_ANSWER
    return _frame(fn_number, fd_number, form, (document, message_sign), p_version(ffd_version), flags, fn_bcd)


def confirmation_message(
    fn_number: str,
    fd_number: int,
    confirmation: bytes,
    *,
    p_ver: bytes = P_VERSIONS[2],
    crc_mode: int = CRC_HEADER_BODY,
    fn_bcd: bytes | None = None,
) -> bytes:
    """An OFD→register answer carrying a form-7 document (no answer expected)."""
    return _frame(fn_number, fd_number, 7, (confirmation,), p_ver, crc_mode | _FLAG_CONTAINER, fn_bcd)


# --------------------------------------------------------------------------- the operator confirmation (form 7)

# 7 { 1017 (12) | 1041 (16) | 1040 u32 | 1012 u32 | 1068 { 1022 byte } | 1078 (16) }: every value has a fixed
# width, so the canonical confirmation is a fixed struct (byte for byte what tlv.encode makes of
# documents.operator_confirmation; a test holds the two together). The operator sign covers the head, the
# bytes before 1078, and the confirmed document's message sign.
_CONF_HEAD = struct.Struct("<HH HH12s HH16s HHI HHI HH HHB".replace(" ", ""))
_SIGN_TLV = struct.Struct("<HH")
_CONF_SIZE = _CONF_HEAD.size + _SIGN_TLV.size + 16
_CONF_BODY = _CONF_SIZE - 4
_CONF_TAGS = (7, _CONF_BODY, 1017, 12, 1041, 16, 1040, 4, 1012, 4, 1068, 5, 1022, 1)
_SIGN_HEAD = _SIGN_TLV.pack(1078, 16)


@dataclass(slots=True)
class Confirmation:
    """The values of a form-7 document; ``when`` is 1012 as local seconds since 1970; ``head`` the canonical
    bytes before 1078 (what the operator sign covers, with the message sign)."""

    ofd_inn: str
    fn_number: str
    fd_number: int
    when: int
    code: int
    operator_sign: bytes
    head: bytes

    @property
    def accepted(self) -> bool:
        return self.code == 0

    def covered(self, message_sign: bytes) -> bytes:
        """The bytes the operator sign covers for a document whose message sign is ``message_sign``."""
        return self.head + message_sign


def confirmation_head(ofd_inn: str, fn_number: str, fd_number: int, when: int, code: int) -> bytes:
    """The canonical form-7 bytes before 1078 (1017 is space-padded to 12, 1041 to 16)."""
    return _CONF_HEAD.pack(
        7,
        _CONF_BODY,
        1017,
        12,
        ofd_inn.encode("ascii").ljust(12, b" "),
        1041,
        16,
        fn_number.encode("ascii").ljust(16, b" "),
        1040,
        4,
        fd_number,
        1012,
        4,
        when,
        1068,
        5,
        1022,
        1,
        code,
    )


def encode_confirmation(head: bytes, operator_sign: bytes) -> bytes:
    """The canonical form-7 document: :func:`confirmation_head` and the 16-byte 1078."""
    if len(operator_sign) != 16 or len(head) != _CONF_HEAD.size:
        raise ValueError("a canonical confirmation is a 65-byte head and a 16-byte operator sign")
    return b"".join((head, _SIGN_HEAD, operator_sign))


def decode_confirmation(document: bytes) -> Confirmation:
    """The values of a form-7 document; :class:`ConfirmationError` (``malformed``) when it is not one.

    The canonical layout is read with one struct; any other valid layout (another tag order, an 18-byte
    1078) goes through the strict TLV decoder.
    """
    if len(document) == _CONF_SIZE and document[_CONF_HEAD.size : _CONF_HEAD.size + 4] == _SIGN_HEAD:
        v = _CONF_HEAD.unpack_from(document)
        if v[:4] + v[5:7] + v[8:10] + v[11:13] + v[14:18] == _CONF_TAGS:
            inn, fn = v[4].rstrip(b" "), v[7]
            if inn.isdigit() and fn.isdigit():
                head = document[: _CONF_HEAD.size]
                return Confirmation(inn.decode(), fn.decode(), v[10], v[13], v[18], document[-16:], head)
    try:
        tree = tlv.decode(document)
    except DecodeError as exc:
        raise ConfirmationError("malformed", f"the confirmation does not decode: {exc}") from None
    if len(tree) != 1 or tree[0][0] != 7:
        raise ConfirmationError("malformed", "the answer is not one form-7 document")
    values: dict[int, object] = {}
    for tag, value in tree[0][1]:
        if tag in values:
            raise ConfirmationError("malformed", f"tag {tag} appears twice in the confirmation")
        values[tag] = value
    missing = [t for t in (1017, 1041, 1040, 1012, 1068, 1078) if t not in values]
    if missing:
        raise ConfirmationError("malformed", f"the confirmation lacks tags {missing}")
    inn, fn, fd, when, message, sign = (values[t] for t in (1017, 1041, 1040, 1012, 1068, 1078))
    # The decoder has typed every value by the tag table; these asserts only tell the type checker.
    assert isinstance(inn, str) and isinstance(fn, str) and isinstance(fd, int)
    assert isinstance(when, _dt.datetime) and isinstance(message, list) and isinstance(sign, bytes)
    inner = dict(message)
    if 1022 not in inner:
        raise ConfirmationError("malformed", "1068 of the confirmation lacks 1022")
    seconds = (when - _EPOCH) // _SECOND
    if not inn.isascii() or not fn.isascii():
        raise ConfirmationError("malformed", "1017 and 1041 of a confirmation are digits")
    code = int(inner[1022])
    return Confirmation(inn, fn, fd, seconds, code, sign, confirmation_head(inn, fn, fd, seconds, code))


def check_confirmation(
    document: bytes, *, fn_number: str, fd_number: int, message_sign: bytes, signer: OperatorSigner
) -> Confirmation:
    """The confirmation of FD ``fd_number`` of drive ``fn_number`` whose message sign is ``message_sign``,
    checked as a ФН checks a receipt: for this drive and document, signed by the operator, and accepted.

    Raises :class:`ConfirmationError`: ``malformed``, ``wrong_drive``, ``wrong_document``, ``bad_sign``, or
    ``rejected`` (a validly signed answer whose 1022 is not 0).
    """
    conf = decode_confirmation(document)
    if conf.fn_number != fn_number:
        raise ConfirmationError("wrong_drive", f"the confirmation is for drive {conf.fn_number}, not {fn_number}")
    if conf.fd_number != fd_number:
        raise ConfirmationError("wrong_document", f"the confirmation is for FD {conf.fd_number}, not {fd_number}")
    if not signer.verify(conf.head + message_sign, conf.operator_sign):
        raise ConfirmationError("bad_sign", f"the operator sign of the confirmation of FD {fd_number} does not verify")
    if conf.code != 0:
        raise ConfirmationError(
            "rejected", f"the OFD rejected FD {fd_number} with 1022 = {conf.code}", ofd_code=conf.code
        )
    return conf
