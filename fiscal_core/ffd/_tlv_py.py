"""Pure-Python TLV codec: the spec that the native codec (``fiscal_core._native._tlv``) must match exactly.

The tree
- A tree is a list of nodes; a node is a ``(tag, value)`` tuple. A whole document is one node whose tag is
  its form code, e.g. ``[(3, [(1041, "9999078900005488"), ...])]``.
- Values by data type: BYTE/UINT16/UINT32/VLN/BITMASK -> ``int``; FVLN -> ``decimal.Decimal`` (its exponent
  keeps the digits after the point); UNIXTIME -> naive ``datetime`` = the local wall-clock time of the
  place of settlement; STRING -> ``str`` (fixed-width strings without their space padding); BYTES ->
  ``bytes``; STLV -> a list of nodes.
- Encoding accepts, besides those: ``int`` for UNIXTIME (seconds) and for FVLN; a list ``[tag, value]``
  as a node; ``bytearray`` for BYTES.

Byte rules (FFD §1): tag and length are little-endian uint16; VLN is minimal little-endian (zero is one
``00`` byte); FVLN is the number of digits after the point, then a minimal little-endian mantissa;
strings are CP866, fixed ones right-padded with spaces. ``encode(decode(b)) == b`` for every canonical
``b``; the decoder also accepts zero-padded VLN/FVLN (as some registers send) and re-encodes them minimal.

Decoding is strict (see :class:`fiscal_core.errors.DecodeError` for ``offset`` and ``path``). Checks, in
this order, for an element at offset ``off`` inside a container ending at ``end``:
1. fewer than 4 bytes left -> "truncated TLV header" (path = the parent's path);
2. tag not registered -> "unknown tag";
3. a document tag below the top level, or a tag outside its parent's children -> "not allowed";
4. the value runs past ``end`` -> "truncated value";
5. length over the maximum, not the fixed width, an empty VLN or an FVLN shorter than 2 bytes;
6. STLV values are walked recursively (the registry's children sets bound the depth).
Nothing is allocated beyond what the input's own elements need.
"""

from __future__ import annotations

import datetime as _dt
from decimal import Context, Decimal
from typing import Any

from fiscal_core.errors import DecodeError, EncodeError
from fiscal_core.ffd import cp866
from fiscal_core.ffd.tags import REGISTRY, DataType

__all__ = ["IMPLEMENTATION", "check", "decode", "encode"]

IMPLEMENTATION = "py"

_BYTE = int(DataType.BYTE)
_UINT16 = int(DataType.UINT16)
_UINT32 = int(DataType.UINT32)
_VLN = int(DataType.VLN)
_FVLN = int(DataType.FVLN)
_UNIXTIME = int(DataType.UNIXTIME)
_STRING = int(DataType.STRING)
_BYTES = int(DataType.BYTES)
_BITMASK = int(DataType.BITMASK)
_STLV = int(DataType.STLV)

_EPOCH = _dt.datetime(1970, 1, 1)
# An explicit context: a caller's thread context (say, prec=5) must never round a quantity.
_CTX = Context(prec=60, Emin=-999999, Emax=999999, traps=[])
_MAX_U32 = 0xFFFFFFFF

# tag -> (dtype, max_length, fixed, children or None, document)
_SPECS: dict[int, tuple[int, int, bool, frozenset[int] | None, bool]] = {
    t: (int(s.dtype), s.max_length, s.fixed, s.children, s.document) for t, s in REGISTRY.items()
}


# --------------------------------------------------------------------------- decoding


def _decode_value(dtype: int, fixed: bool, raw: bytes) -> Any:
    if dtype in (_BYTE, _UINT16, _UINT32, _VLN, _BITMASK):
        return int.from_bytes(raw, "little")
    if dtype == _STRING:
        text = cp866.decode(raw)
        return text.rstrip(" ") if fixed else text
    if dtype == _BYTES:
        return bytes(raw)
    if dtype == _UNIXTIME:
        return _EPOCH + _dt.timedelta(seconds=int.from_bytes(raw, "little"))
    if dtype == _FVLN:
        mantissa = int.from_bytes(raw[1:], "little")
        return Decimal(mantissa).scaleb(-raw[0], _CTX)
    raise AssertionError(f"unhandled data type {dtype}")  # pragma: no cover - the registry is closed


def _walk(data: bytes, off: int, end: int, parent: int, path: tuple[int, ...], build: bool) -> Any:
    nodes: list[tuple[int, Any]] = []
    count = 0
    parent_children = _SPECS[parent][3] if parent else None
    while off < end:
        if end - off < 4:
            raise DecodeError("truncated TLV header", off, path)
        tag = data[off] | (data[off + 1] << 8)
        length = data[off + 2] | (data[off + 3] << 8)
        here = (*path, tag)
        spec = _SPECS.get(tag)
        if spec is None:
            raise DecodeError(f"unknown tag {tag}", off, here)
        dtype, max_length, fixed, _children, document = spec
        if parent:
            if document:
                raise DecodeError(f"document tag {tag} inside tag {parent}", off, here)
            if parent_children is not None and tag not in parent_children:
                raise DecodeError(f"tag {tag} is not allowed inside tag {parent}", off, here)
        start = off + 4
        stop = start + length
        if stop > end:
            raise DecodeError(f"truncated value: tag {tag} declares {length} bytes, {end - start} remain", off, here)
        if length > max_length:
            raise DecodeError(f"value of tag {tag} is {length} bytes, more than its maximum {max_length}", off, here)
        if fixed and length != max_length:
            raise DecodeError(f"value of tag {tag} is {length} bytes, its fixed width is {max_length}", off, here)
        if dtype == _VLN and length == 0:
            raise DecodeError(f"empty VLN in tag {tag}", off, here)
        if dtype == _FVLN and length < 2:
            raise DecodeError(f"FVLN in tag {tag} is shorter than 2 bytes", off, here)
        if dtype == _STLV:
            value = _walk(data, start, stop, tag, here, build)
            if build:
                nodes.append((tag, value))
            else:
                count += value + 1
        elif build:
            nodes.append((tag, _decode_value(dtype, fixed, data[start:stop])))
        else:
            count += 1
        off = stop
    return nodes if build else count


def _as_bytes(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"expected bytes, got {type(data).__name__}")


def decode(data: bytes) -> list[tuple[int, Any]]:
    """Bytes -> tree; :class:`DecodeError` on anything that is not exact FFD TLV."""
    buf = _as_bytes(data)
    result: list[tuple[int, Any]] = _walk(buf, 0, len(buf), 0, (), True)
    return result


def check(data: bytes) -> int:
    """Walk the structure without building objects; the number of elements, or the same
    :class:`DecodeError` that :func:`decode` would raise."""
    buf = _as_bytes(data)
    result: int = _walk(buf, 0, len(buf), 0, (), False)
    return result


# --------------------------------------------------------------------------- encoding


def _minimal_le(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "little")


def _uint(value: Any, what: str, path: tuple[int, ...]) -> int:
    if type(value) is bool or not isinstance(value, int):
        raise EncodeError(f"{what} must be an int, not {type(value).__name__}", path)
    if value < 0:
        raise EncodeError(f"{what} must not be negative", path)
    return int(value)


def _encode_value(tag: int, dtype: int, max_length: int, fixed: bool, value: Any, path: tuple[int, ...]) -> bytes:
    if dtype in (_BYTE, _UINT16, _UINT32, _BITMASK):
        v = _uint(value, f"tag {tag}", path)
        if v.bit_length() > 8 * max_length:
            raise EncodeError(f"tag {tag} value {v} does not fit in {max_length} bytes", path)
        return v.to_bytes(max_length, "little")
    if dtype == _VLN:
        v = _uint(value, f"tag {tag}", path)
        raw = _minimal_le(v)
        if len(raw) > max_length:
            raise EncodeError(f"tag {tag} value {v} does not fit in {max_length} bytes", path)
        return raw
    if dtype == _STRING:
        if not isinstance(value, str):
            raise EncodeError(f"tag {tag} must be a str, not {type(value).__name__}", path)
        try:
            raw = cp866.encode(value)
        except UnicodeEncodeError as exc:
            raise EncodeError(f"tag {tag}: character {value[exc.start]!r} has no CP866 byte", path) from None
        if len(raw) > max_length:
            raise EncodeError(f"tag {tag} is {len(raw)} CP866 bytes, more than its maximum {max_length}", path)
        return raw.ljust(max_length, b" ") if fixed else raw
    if dtype == _BYTES:
        if not isinstance(value, (bytes, bytearray)):
            raise EncodeError(f"tag {tag} must be bytes, not {type(value).__name__}", path)
        if len(value) > max_length:
            raise EncodeError(f"tag {tag} is {len(value)} bytes, more than its maximum {max_length}", path)
        if fixed and len(value) != max_length:
            raise EncodeError(f"tag {tag} is {len(value)} bytes, its fixed width is {max_length}", path)
        return bytes(value)
    if dtype == _UNIXTIME:
        if isinstance(value, _dt.datetime):
            if value.tzinfo is not None:
                raise EncodeError(f"tag {tag} needs a naive local wall-clock datetime, not an aware one", path)
            if value.microsecond:
                raise EncodeError(f"tag {tag} has fractions of a second", path)
            delta = value - _EPOCH
            seconds = delta.days * 86400 + delta.seconds
        elif isinstance(value, _dt.date):
            raise EncodeError(f"tag {tag} needs a datetime, not a date", path)
        else:
            seconds = _uint(value, f"tag {tag}", path)
        if not 0 <= seconds <= _MAX_U32:
            raise EncodeError(f"tag {tag} time is outside the 32-bit unixtime range", path)
        return seconds.to_bytes(4, "little")
    if dtype == _FVLN:
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise EncodeError(f"tag {tag} must be a finite decimal", path)
            sign, digits, exponent = value.as_tuple()
            if sign:
                raise EncodeError(f"tag {tag} must not be negative", path)
            mantissa = int("".join(map(str, digits))) if digits else 0
            assert isinstance(exponent, int)
            if exponent > 0:
                mantissa *= 10**exponent
                scale = 0
            else:
                scale = -exponent
        else:
            mantissa = _uint(value, f"tag {tag}", path)
            scale = 0
        if scale > 255:
            raise EncodeError(f"tag {tag} has more than 255 digits after the point", path)
        raw = bytes((scale,)) + _minimal_le(mantissa)
        if len(raw) > max_length:
            raise EncodeError(f"tag {tag} value does not fit in {max_length} bytes", path)
        return raw
    raise AssertionError(f"unhandled data type {dtype}")  # pragma: no cover


def _encode_nodes(nodes: Any, parent: int, path: tuple[int, ...], out: bytearray) -> None:
    if not isinstance(nodes, (list, tuple)):
        raise EncodeError(f"expected a list of (tag, value) nodes, got {type(nodes).__name__}", path)
    parent_children = _SPECS[parent][3] if parent else None
    for node in nodes:
        if not isinstance(node, (tuple, list)) or len(node) != 2:
            raise EncodeError("a node must be a (tag, value) pair", path)
        tag, value = node
        if type(tag) is bool or not isinstance(tag, int):
            raise EncodeError(f"a tag must be an int, not {type(tag).__name__}", path)
        here = (*path, tag)
        spec = _SPECS.get(tag)
        if spec is None:
            raise EncodeError(f"unknown tag {tag}", here)
        dtype, max_length, fixed, _children, document = spec
        if parent:
            if document:
                raise EncodeError(f"document tag {tag} inside tag {parent}", here)
            if parent_children is not None and tag not in parent_children:
                raise EncodeError(f"tag {tag} is not allowed inside tag {parent}", here)
        if dtype == _STLV:
            header_at = len(out)
            out += b"\0\0\0\0"
            _encode_nodes(value, tag, here, out)
            length = len(out) - header_at - 4
            if length > max_length:
                raise EncodeError(f"tag {tag} is {length} bytes, more than its maximum {max_length}", here)
            out[header_at : header_at + 4] = bytes((tag & 0xFF, tag >> 8, length & 0xFF, length >> 8))
        else:
            raw = _encode_value(tag, dtype, max_length, fixed, value, here)
            out += bytes((tag & 0xFF, tag >> 8, len(raw) & 0xFF, len(raw) >> 8))
            out += raw


def encode(tree: Any) -> bytes:
    """Tree -> bytes; :class:`EncodeError` naming the tag for anything that does not fit."""
    out = bytearray()
    _encode_nodes(tree, 0, (), out)
    return bytes(out)
