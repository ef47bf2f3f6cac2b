"""Error hierarchy shared by every layer.

Rules (after h11): an error says whose fault it is and what the caller can do about it.
- ``retryable``: True when the same request may succeed later unchanged (a full queue, a dead OFD).
- ``status_hint``: the HTTP status the API layer should answer with.
- ``code``: a short stable machine-readable code; ``path``: where in the input the problem is.
"""

from __future__ import annotations

__all__ = ["DecodeError", "EncodeError", "FieldError", "FiscalError", "FormatError", "InputError"]


class FiscalError(Exception):
    """Base of every fiscal_core error."""

    code: str = "fiscal_error"
    retryable: bool = False
    status_hint: int = 500

    def __init__(self, message: str, *, code: str | None = None, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


class InputError(FiscalError):
    """The caller sent something wrong; repeating it unchanged cannot help."""

    code = "invalid_input"
    status_hint = 400


class FieldError(InputError):
    """Bad input at a field path (``items[3].sum``): what the API answers with, field by field."""

    code = "invalid_field"
    #: How the message names the whole input when the path is empty.
    top = "(input)"

    def __init__(self, reason: str, path: str = "") -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"{path or self.top}: {reason}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.reason, self.path))

    def to_dict(self) -> dict[str, object]:
        d = super().to_dict()
        d["path"] = self.path
        return d


class FormatError(InputError, ValueError):
    """Bytes or a tree that do not follow the fiscal document format."""

    code = "format_error"


def _path_text(path: tuple[int, ...]) -> str:
    return "/".join(str(t) for t in path) if path else "(top)"


class DecodeError(FormatError):
    """Bytes that are not a valid FFD TLV stream.

    ``offset`` is the absolute byte offset of the TLV element at fault (its tag field), or of the
    truncated header; ``path`` is the tags from the top of the document down to that element.
    """

    code = "tlv_decode_error"

    def __init__(self, message: str, offset: int, path: tuple[int, ...] = ()) -> None:
        self.reason = message
        self.offset = offset
        self.path = tuple(path)
        super().__init__(f"{message} at offset {offset}, tag path {_path_text(self.path)}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.reason, self.offset, self.path))

    def to_dict(self) -> dict[str, object]:
        d = super().to_dict()
        d.update(offset=self.offset, path=list(self.path))
        return d


class EncodeError(FormatError):
    """A tree that cannot be encoded; ``path`` names the tag at fault (never silently truncated)."""

    code = "tlv_encode_error"

    def __init__(self, message: str, path: tuple[int, ...] = ()) -> None:
        self.reason = message
        self.path = tuple(path)
        super().__init__(f"{message}, tag path {_path_text(self.path)}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.reason, self.path))

    def to_dict(self) -> dict[str, object]:
        d = super().to_dict()
        d.update(path=list(self.path))
        return d
