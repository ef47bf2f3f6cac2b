"""Argument checks shared by the pure-Python crypto twins (their native wrappers raise the same errors)."""

from __future__ import annotations

from typing import Any

__all__ = ["as_bytes"]


def as_bytes(data: Any) -> bytes:
    """A bytes-like argument as bytes: TypeError for anything else, BufferError for a non-contiguous view."""
    if isinstance(data, bytes):
        return data
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not {type(data).__name__!r}") from None
    if not view.c_contiguous:
        raise BufferError("the buffer is not C-contiguous")
    return view.tobytes()
