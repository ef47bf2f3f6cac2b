"""ATOL v4/v5 request validation: the rules and the code are :mod:`fiscal_core.api._validate_py` (the spec).

:func:`validate` first tries the fast path (:mod:`fiscal_core.api._fastpath_py`): a common receipt that the spec
would accept is checked there on plain values and answered with the very :class:`Validated` the spec would give,
warnings included; anything else (it returns None) goes to the spec, the only source of errors.
:func:`validate_spec` is the spec alone.

``fiscal_core._native._validate`` is that very source compiled by Cython (setup.py copies it and stamps the copy
with the source's SHA-256): the same behaviour, about a third less CPU per request. This module picks one the
way :mod:`fiscal_core._impl` does, and re-exports its names; ``IMPLEMENTATION`` says which.

The fast path is compiled the same way (``fiscal_core._native._fastpath``, stamped over its ``.py`` and the
``.pxd`` that gives it C types); ``FAST_IMPLEMENTATION`` says which one runs.

The bulk API reads its elements through :data:`read_validated` first: ``fiscal_core._native._reader`` takes the
common v5 sale from its bytes to the same :class:`Validated` in one pass, and declines everything else. Its twin
is :func:`read_validated_py`, the fast path on the element; tests hold the two equal.

A compiled copy whose stamp does not match the twin's source (the twin was edited and the extension not
rebuilt: ``make install``) is never used: that is an ``ImportError`` under ``FISCAL_CORE_REQUIRE_EXTENSIONS=1``
and a fall-back to the twin otherwise, so the two can never silently disagree.
"""

from __future__ import annotations

import hashlib
import importlib
import pathlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

import msgspec

from fiscal_core import _impl
from fiscal_core.ffd import receipt_body as _receipt_body

if TYPE_CHECKING:
    from fiscal_core.api import atol

__all__ = [
    "ATOL_CALLBACK_MASK",
    "IMPLEMENTATION",
    "MAX_KOPECKS",
    "SCAN_FROM",
    "TOTAL_TOLERANCE",
    "FieldWarning",
    "Issue",
    "RequestInvalid",
    "Validated",
    "decode",
    "implementations",
    "read_validated",
    "read_validated_py",
    "scan",
    "source_digest",
    "substitute_cp866",
    "validate",
    "validate_decoded",
    "validate_spec",
    "validate_token_request",
]

_NATIVE = "fiscal_core._native._validate"
_TWIN = "fiscal_core.api._validate_py"
_FAST_NATIVE = "fiscal_core._native._fastpath"
_FAST_TWIN = "fiscal_core.api._fastpath_py"
_HERE = pathlib.Path(__file__).parent


def source_digest(*names: str) -> str:
    """SHA-256 (hex) over the twin's source files (default: the spec's): what a matching compiled copy carries
    as ``SOURCE_SHA256`` (setup.py computes it the same way)."""
    digest = hashlib.sha256()
    for name in names or ("_validate_py.py",):
        digest.update((_HERE / name).read_bytes())
    return digest.hexdigest()


_SOURCES = {_NATIVE: ("_validate_py.py",), _FAST_NATIVE: ("_fastpath_py.py", "_fastpath_py.pxd")}


def _matching_native(name: str = _NATIVE) -> ModuleType | None:
    if not _impl.native_available(name):
        return None
    native = importlib.import_module(name)
    if getattr(native, "SOURCE_SHA256", None) != source_digest(*_SOURCES[name]):
        return None
    return native


def implementations(fast: bool = False) -> dict[str, ModuleType]:
    """Both implementations that can be loaded here (``"py"``, and ``"native"`` when built from this source) of
    the spec, or with ``fast`` of the fast path."""
    found = {"py": importlib.import_module(_FAST_TWIN if fast else _TWIN)}
    native = _matching_native(_FAST_NATIVE if fast else _NATIVE)
    if native is not None:
        found["native"] = native
    return found


def _select(native_name: str, twin: str) -> tuple[ModuleType, str]:
    if not _impl.NO_EXTENSIONS:
        native = _matching_native(native_name)
        if native is not None:
            return native, "native"
        if _impl.REQUIRE_EXTENSIONS:
            raise ImportError(f"{native_name} is missing or was built from another source: run `make install`")
    return importlib.import_module(twin), "py"


_module, IMPLEMENTATION = _select(_NATIVE, _TWIN)
_fast_module, FAST_IMPLEMENTATION = _select(_FAST_NATIVE, _FAST_TWIN)
_fast_module.bind(_module)
_fast = _fast_module.validate_fast
_fast_decoded = _fast_module.validate_decoded
#: A body as the fast path reads it, or None when it is not JSON (see :func:`validate_decoded`).
decode = _fast_module.decode
#: The compiled fast path's byte reader (``_fastpath_py.scan``): a body read straight from its bytes into what the
#: dict path reads, its items as rows (``validate_decoded(..., scanned=True)``), or None to decode it instead.
#: The twin's reader gives the same answers (tests hold the two and the dict path equal) but is slower than the
#: decoder in pure Python, so the twin decodes.
scan: Any = _fast_module.scan if FAST_IMPLEMENTATION == "native" else None
#: Bodies from this size on are read by ``scan``: it pays for itself on the items it spares the dict path, and a
#: one- or two-item receipt has too few (bench/RESULTS.md, session 12: a 2-item single POST ran 2-4 % slower).
SCAN_FROM = 1024


def read_validated_py(raw: bytes, resolve: Any, path_prefix: str = "") -> tuple[Any, Any, int, Any] | None:
    """The spec of ``fiscal_core._native._reader.read_validated``: a bulk element through the fast path.

    Its head (``group_code`` and ``operation``, both strings), then ``ctx = resolve(group_code, operation)``, a
    tuple ``(version, group_inn, group_ffd, group_sno, group, identity)`` or None, then the fast path for the
    group's version. Answers ``(ctx, Validated, caps, body)``, or None when any step declines: the caller's own
    path then reads the element again and words its errors.

    The ``Validated`` carries no document (``document`` is None): its msgpack is ``packed``, what the journal
    keeps. ``caps`` is the document's ``capability_bits``; ``body`` is ``encode_body(identity, document)``, what
    the fleet issues, or None when ``identity`` is None (a group this process does not fiscalize).
    """
    obj = decode(raw)
    if type(obj) is not dict:
        return None
    code, operation = obj.get("group_code"), obj.get("operation")
    if type(code) is not str or type(operation) is not str:
        return None
    ctx = resolve(code, operation)
    if ctx is None:
        return None
    v = _fast_decoded(obj, ctx[0], operation, ctx[1], ctx[2], ctx[3], path_prefix, False)
    if v is None:
        return None
    doc, identity = v.document, ctx[5]
    body = None if identity is None else _receipt_body.encode_body(identity, doc)
    return ctx, msgspec.structs.replace(v, document=None), _receipt_body.capability_bits(doc), body


def _native_reader() -> Any:
    """The native bulk reader's ``read_validated`` bound to the selected spec, or None: with the pure-Python
    twins (it reads the compiled fast path's tables and answers what it does), or when it is not built (an
    ``ImportError`` when the native core is required)."""
    if FAST_IMPLEMENTATION != "native":
        return None
    try:
        _reader = importlib.import_module("fiscal_core._native._reader")
    except ImportError:
        if _impl.REQUIRE_EXTENSIONS:
            raise
        return None
    _reader.bind(_module)
    return _reader.read_validated


#: A bulk element's bytes straight to ``(ctx, Validated, caps, body)`` for the common v5 sale (the native twin of
#: :func:`read_validated_py`; None for everything else), or None when the native core is not in use: the bulk
#: API then reads every element with ``scan`` and ``validate_decoded``.
read_validated: Any = _native_reader()

if TYPE_CHECKING:
    from fiscal_core.api._validate_py import (
        ATOL_CALLBACK_MASK,
        MAX_KOPECKS,
        TOTAL_TOLERANCE,
        FieldWarning,
        Issue,
        RequestInvalid,
        Validated,
        substitute_cp866,
        validate_token_request,
    )
    from fiscal_core.api._validate_py import validate as validate_spec
else:
    ATOL_CALLBACK_MASK = _module.ATOL_CALLBACK_MASK
    MAX_KOPECKS = _module.MAX_KOPECKS
    TOTAL_TOLERANCE = _module.TOTAL_TOLERANCE
    FieldWarning = _module.FieldWarning
    Issue = _module.Issue
    RequestInvalid = _module.RequestInvalid
    Validated = _module.Validated
    substitute_cp866 = _module.substitute_cp866
    validate_spec = _module.validate
    validate_token_request = _module.validate_token_request


def validate(
    raw: bytes | bytearray | memoryview | atol.Request,
    *,
    version: int,
    operation: str,
    group_inn: str | None,
    group_ffd: str,
    path_prefix: str = "",
    group_sno: int | None = None,
) -> Validated:
    """The spec's ``validate`` (same arguments, same answers), through the fast path when the body is bytes."""
    if type(raw) is bytes:
        read = scan(raw) if scan is not None and len(raw) >= SCAN_FROM else None
        if read is not None:
            v: Validated | None = _fast_decoded(
                read, version, operation, group_inn, group_ffd, group_sno, path_prefix, True
            )
        else:
            v = _fast(raw, version, operation, group_inn, group_ffd, group_sno, path_prefix)
        if v is not None:
            return v
    return validate_spec(
        raw,
        version=version,
        operation=operation,
        group_inn=group_inn,
        group_ffd=group_ffd,
        path_prefix=path_prefix,
        group_sno=group_sno,
    )


def validate_decoded(
    obj: Any,
    raw: bytes | msgspec.Raw,
    *,
    version: int,
    operation: str,
    group_inn: str | None,
    group_ffd: str,
    path_prefix: str = "",
    group_sno: int | None = None,
    scanned: bool = False,
) -> Validated:
    """:func:`validate` of ``raw`` when :func:`decode` already gave ``obj`` (the bulk API reads its head there),
    or :func:`scan` did (``scanned``)."""
    v: Validated | None = _fast_decoded(obj, version, operation, group_inn, group_ffd, group_sno, path_prefix, scanned)
    if v is not None:
        return v
    return validate_spec(
        raw if type(raw) is bytes else bytes(raw),
        version=version,
        operation=operation,
        group_inn=group_inn,
        group_ffd=group_ffd,
        path_prefix=path_prefix,
        group_sno=group_sno,
    )


def __getattr__(name: str) -> Any:
    """The selected implementation's other names (tests reach a few private constants)."""
    return getattr(_module, name)
