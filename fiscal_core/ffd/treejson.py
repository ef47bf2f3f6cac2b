"""A tree as JSON: what ``fiscal-core tlv decode --format tree`` prints and ``tlv encode`` reads.

Rules
- A node is ``[tag, value]``; STLV values are lists of nodes, so the JSON mirrors the tree exactly.
- Values are converted by the tag's data type: UNIXTIME <-> ``"YYYY-MM-DDTHH:MM:SS"`` (local wall-clock
  time), FVLN <-> a decimal *string* (``"0.876"``: a JSON float would lose the digits after the point),
  BYTES <-> hex; integers and strings stay as they are.
- Unknown tags are passed through unchanged so the encoder reports them with their path.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from fiscal_core.errors import FormatError
from fiscal_core.ffd.tags import REGISTRY, DataType

__all__ = ["TreeJsonError", "from_json", "to_json"]


class TreeJsonError(FormatError):
    """A JSON tree whose value cannot be read for its tag; ``path`` is the tag path."""

    code = "tree_json_error"

    def __init__(self, message: str, path: tuple[int, ...]) -> None:
        self.path = path
        super().__init__(f"{message}, tag path {'/'.join(map(str, path)) or '(top)'}")


def to_json(tree: list[tuple[int, Any]]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for tag, value in tree:
        spec = REGISTRY.get(tag)
        dtype = spec.dtype if spec else None
        if dtype == DataType.STLV:
            out.append([tag, to_json(value)])
        elif dtype == DataType.UNIXTIME:
            out.append([tag, value.isoformat(timespec="seconds")])
        elif dtype == DataType.FVLN:
            out.append([tag, str(value)])
        elif dtype == DataType.BYTES:
            out.append([tag, bytes(value).hex()])
        else:
            out.append([tag, value])
    return out


def _value(tag: int, value: Any, path: tuple[int, ...]) -> Any:
    spec = REGISTRY.get(tag)
    if spec is None:
        return value
    try:
        if spec.dtype == DataType.STLV:
            return from_json(value, path)
        if spec.dtype == DataType.UNIXTIME and isinstance(value, str):
            return dt.datetime.fromisoformat(value)
        if spec.dtype == DataType.FVLN and isinstance(value, (str, int)) and not isinstance(value, bool):
            return Decimal(value)
        if spec.dtype == DataType.BYTES and isinstance(value, str):
            return bytes.fromhex(value)
    except (ValueError, InvalidOperation) as exc:
        raise TreeJsonError(f"tag {tag}: cannot read {value!r} as {spec.dtype.name}: {exc}", path) from None
    return value


def from_json(nodes: Any, path: tuple[int, ...] = ()) -> list[tuple[int, Any]]:
    if not isinstance(nodes, list):
        raise TreeJsonError(f"expected a list of [tag, value] nodes, got {type(nodes).__name__}", path)
    out: list[tuple[int, Any]] = []
    for node in nodes:
        if not isinstance(node, list) or len(node) != 2 or type(node[0]) is not int:
            raise TreeJsonError(f"a node must be [tag, value], got {node!r:.60}", path)
        tag = node[0]
        out.append((tag, _value(tag, node[1], (*path, tag))))
    return out
