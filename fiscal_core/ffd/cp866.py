"""CP866 ("DOS Cyrillic"), the string encoding of every FFD text value.

Rules
- The 256-entry table below is the spec; both codecs use it (the native one as C arrays).
- Bytes 0x00–0x7F are ASCII; every byte decodes (CP866 has no holes), so decoding cannot fail.
- Encoding refuses a character CP866 cannot hold (``UnicodeEncodeError``); mapping such characters to a
  near equivalent is the job of request validation, which must report what it changed.
"""

from __future__ import annotations

__all__ = ["DECODE_TABLE", "ENCODE_MAP", "can_encode", "decode", "encode"]

#: byte value -> character (built once from the stdlib codec; after that the table is the spec).
DECODE_TABLE: str = bytes(range(256)).decode("cp866")

#: code point -> byte value, for every character CP866 holds.
ENCODE_MAP: dict[int, int] = {ord(ch): b for b, ch in enumerate(DECODE_TABLE)}

_TRANSLATE_ENCODE = {cp: chr(b) for cp, b in ENCODE_MAP.items()}


def decode(data: bytes) -> str:
    """CP866 bytes -> str (never fails)."""
    if data.isascii():
        return data.decode("ascii")
    return "".join([DECODE_TABLE[b] for b in data])


def encode(text: str) -> bytes:
    """str -> CP866 bytes; ``UnicodeEncodeError`` names the first character that has no CP866 byte."""
    if text.isascii():
        return text.encode("ascii")
    out = bytearray()
    for i, ch in enumerate(text):
        b = ENCODE_MAP.get(ord(ch))
        if b is None:
            raise UnicodeEncodeError("cp866", text, i, i + 1, f"character {ch!r} has no CP866 byte")
        out.append(b)
    return bytes(out)


def can_encode(text: str) -> bool:
    return text.isascii() or all(ord(ch) in ENCODE_MAP for ch in text)
