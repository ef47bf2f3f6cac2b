"""The native / pure-Python switch (the aio-libs and py-lmdb pattern).

Rules
- Every native module ``fiscal_core._native._X`` has a pure-Python twin that is the spec.
- ``FISCAL_CORE_NO_EXTENSIONS=1`` forces the twins everywhere.
- ``FISCAL_CORE_REQUIRE_EXTENSIONS=1`` turns a missing or broken native module into an ``ImportError``
  (CI and production set it, so a silently slow deployment cannot happen).
- Otherwise a missing native module falls back to its twin.
- Tests and benchmarks ask for both implementations by name (``"py"`` / ``"native"``) through
  :func:`implementations`, whatever the environment says.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

__all__ = ["NO_EXTENSIONS", "REQUIRE_EXTENSIONS", "implementations", "native_available", "select"]


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


NO_EXTENSIONS = _flag("FISCAL_CORE_NO_EXTENSIONS")
REQUIRE_EXTENSIONS = _flag("FISCAL_CORE_REQUIRE_EXTENSIONS") and not NO_EXTENSIONS


def _import_native(native: str) -> ModuleType | None:
    try:
        return importlib.import_module(native)
    except ImportError:
        if REQUIRE_EXTENSIONS:
            raise
        return None


def native_available(native: str) -> bool:
    try:
        importlib.import_module(native)
    except ImportError:
        return False
    return True


def select(native: str, twin: str) -> tuple[ModuleType, str]:
    """The module to use and its implementation name, ``"native"`` or ``"py"``."""
    if not NO_EXTENSIONS:
        mod = _import_native(native)
        if mod is not None:
            return mod, "native"
    return importlib.import_module(twin), "py"


def implementations(native: str, twin: str) -> dict[str, ModuleType]:
    """Both implementations that can be loaded here, keyed ``"py"`` and ``"native"``."""
    found = {"py": importlib.import_module(twin)}
    if native_available(native):
        found["native"] = importlib.import_module(native)
    return found
