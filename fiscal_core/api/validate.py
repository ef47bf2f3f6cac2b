"""ATOL v4/v5 request validation: the rules and the code are :mod:`fiscal_core.api._validate_py` (the spec).

``fiscal_core._native._validate`` is that very source compiled by Cython (setup.py copies it and stamps the copy
with the source's SHA-256): the same behaviour, about a third less CPU per request. This module picks one the
way :mod:`fiscal_core._impl` does, and re-exports its names; ``IMPLEMENTATION`` says which.

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

from fiscal_core import _impl

__all__ = [
    "ATOL_CALLBACK_MASK",
    "IMPLEMENTATION",
    "MAX_KOPECKS",
    "TOTAL_TOLERANCE",
    "FieldWarning",
    "Issue",
    "RequestInvalid",
    "Validated",
    "implementations",
    "source_digest",
    "substitute_cp866",
    "validate",
    "validate_token_request",
]

_NATIVE = "fiscal_core._native._validate"
_TWIN = "fiscal_core.api._validate_py"


def source_digest() -> str:
    """SHA-256 (hex) of the twin's source: what a matching compiled copy carries as ``SOURCE_SHA256``."""
    return hashlib.sha256(pathlib.Path(__file__).with_name("_validate_py.py").read_bytes()).hexdigest()


def _matching_native() -> ModuleType | None:
    if not _impl.native_available(_NATIVE):
        return None
    native = importlib.import_module(_NATIVE)
    if getattr(native, "SOURCE_SHA256", None) != source_digest():
        return None
    return native


def implementations() -> dict[str, ModuleType]:
    """Both implementations that can be loaded here (``"py"``, and ``"native"`` when built from this source)."""
    found = {"py": importlib.import_module(_TWIN)}
    native = _matching_native()
    if native is not None:
        found["native"] = native
    return found


def _select() -> tuple[ModuleType, str]:
    if not _impl.NO_EXTENSIONS:
        native = _matching_native()
        if native is not None:
            return native, "native"
        if _impl.REQUIRE_EXTENSIONS:
            raise ImportError(f"{_NATIVE} is missing or was built from another source: run `make install`")
    return importlib.import_module(_TWIN), "py"


_module, IMPLEMENTATION = _select()

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
        validate,
        validate_token_request,
    )
else:
    ATOL_CALLBACK_MASK = _module.ATOL_CALLBACK_MASK
    MAX_KOPECKS = _module.MAX_KOPECKS
    TOTAL_TOLERANCE = _module.TOTAL_TOLERANCE
    FieldWarning = _module.FieldWarning
    Issue = _module.Issue
    RequestInvalid = _module.RequestInvalid
    Validated = _module.Validated
    substitute_cp866 = _module.substitute_cp866
    validate = _module.validate
    validate_token_request = _module.validate_token_request


def __getattr__(name: str) -> Any:
    """The selected implementation's other names (tests reach a few private constants)."""
    return getattr(_module, name)
