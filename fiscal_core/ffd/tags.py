"""Tag registry of FFD 1.05 and 1.2: every tag a document of forms 1, 2, 3, 5, 6, 7, 11, 21 and 31 can carry.

Rules
- One :class:`TagSpec` per tag number; the table itself is data in :mod:`fiscal_core.ffd._tag_table`.
- ``max_length`` is the largest value length in bytes (CP866 bytes for strings). ``fixed`` means the value
  has exactly ``max_length`` bytes; fixed strings are right-padded with spaces (FFD §1), fixed integers and
  bitmasks have their natural width.
- ``children`` lists the tags an STLV may contain. ``None`` means "any non-document tag" (documents).
- Document form codes (1, 2, 3, …) are registered as STLV tags with ``document=True``: a whole fiscal
  document is an STLV tagged with its form code, and a document never nests inside another.
- Tags whose meaning changed (1011, 1082, 1115, 1119, 1120 in 2025) carry their *current* meaning only;
  FFD 1.0 is out of scope.

The codec (:mod:`fiscal_core.ffd.tlv`) reads nothing but this module, so the native and the pure-Python
codec can never disagree on what a tag is.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "BY_JSON_NAME",
    "FFD_12",
    "FFD_105",
    "REGISTRY",
    "DataType",
    "FormCode",
    "Tag",
    "TagSpec",
    "is_known",
    "spec",
]

FFD_105 = "1.05"
FFD_12 = "1.2"


class DataType(enum.IntEnum):
    """How a value is laid out in bytes (FFD §1, reference table "Data types")."""

    BYTE = 1  #: 1 byte unsigned
    UINT16 = 2  #: 2 bytes little-endian
    UINT32 = 3  #: 4 bytes little-endian
    VLN = 4  #: unsigned little-endian, minimal length, at most max_length bytes (money in kopecks)
    FVLN = 5  #: byte 0 = digits after the point, then a little-endian mantissa
    UNIXTIME = 6  #: uint32 LE seconds; the local wall-clock time of the place of settlement
    STRING = 7  #: CP866, no terminator; fixed ones right-padded with spaces
    BYTES = 8  #: raw bytes
    BITMASK = 9  #: an unsigned integer of max_length (1 or 4) bytes, little-endian
    STLV = 10  #: a nested list of TLVs


@dataclass(frozen=True, slots=True)
class TagSpec:
    """Everything the codec and the FNS JSON converter need to know about one tag."""

    number: int
    name: str  #: constant name, e.g. ``TOTAL``
    title_ru: str  #: the Russian name from the FFD tables
    dtype: DataType
    max_length: int
    fixed: bool = False
    json_name: str | None = None  #: FNS JSON field name
    versions: frozenset[str] = frozenset({FFD_105, FFD_12})
    children: frozenset[int] | None = None  #: STLV only; None = any non-document tag
    document: bool = False  #: a form code (whole document)
    repeatable: bool = False  #: may occur more than once in its parent


def _load() -> dict[int, TagSpec]:
    from fiscal_core.ffd._tag_table import TAGS

    table: dict[int, TagSpec] = {}
    for row in TAGS:
        if row.number in table:
            raise RuntimeError(f"tag {row.number} registered twice")
        table[row.number] = row
    return table


REGISTRY: Mapping[int, TagSpec] = MappingProxyType(_load())

BY_JSON_NAME: Mapping[str, TagSpec] = MappingProxyType(
    {s.json_name: s for s in REGISTRY.values() if s.json_name and not s.document}
)

#: ``Tag.TOTAL == 1020`` and so on, generated from the table so constants and registry cannot drift.
Tag = enum.IntEnum(  # type: ignore[misc]
    "Tag", [(s.name, s.number) for s in sorted(REGISTRY.values(), key=lambda s: s.number) if not s.document]
)
Tag.__doc__ = "FFD tag numbers by constant name (Russian names: ``REGISTRY[tag].title_ru``)."

#: Document form codes (FFD §2).
FormCode = enum.IntEnum(  # type: ignore[misc]
    "FormCode", [(s.name, s.number) for s in sorted(REGISTRY.values(), key=lambda s: s.number) if s.document]
)
FormCode.__doc__ = "Form codes of fiscal documents: the tag of a whole-document STLV and the container's FD type."


def spec(tag: int) -> TagSpec:
    """The spec of ``tag``; ``KeyError`` if unknown."""
    return REGISTRY[tag]


def is_known(tag: int) -> bool:
    return tag in REGISTRY
