"""Shared fixtures: both codec implementations, the shared vectors, hypothesis profiles.

``FISCAL_CORE_REQUIRE_EXTENSIONS=1`` makes a missing native module a failure, not a skip.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from fiscal_core import _impl

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
VECTORS = SHARED / "vectors"

settings.register_profile(
    "ci", derandomize=True, max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _both(native: str, twin: str) -> dict[str, Any]:
    found = _impl.implementations(native, twin)
    if "native" not in found and _impl.REQUIRE_EXTENSIONS:
        raise RuntimeError(f"{native} is not built but FISCAL_CORE_REQUIRE_EXTENSIONS is set")
    return found


def impl_params(native: str, twin: str) -> list[Any]:
    found = _both(native, twin)
    params = [pytest.param(found["py"], id="py")]
    if "native" in found:
        params.append(pytest.param(found["native"], id="native", marks=pytest.mark.native))
    else:
        params.append(pytest.param(None, id="native", marks=pytest.mark.skip(reason="native module not built")))
    return params


def both_impls(native: str, twin: str) -> tuple[Any, Any]:
    """(twin, native) for equivalence tests; skips when the native module is not built (and not required)."""
    found = _both(native, twin)
    if "native" not in found:
        pytest.skip("native module not built")
    return found["py"], found["native"]


TLV_NATIVE = "fiscal_core._native._tlv"
TLV_TWIN = "fiscal_core.ffd._tlv_py"


@pytest.fixture(params=impl_params(TLV_NATIVE, TLV_TWIN))
def tlv_impl(request: pytest.FixtureRequest) -> Any:
    """Each TLV codec in turn: the pure-Python twin and the native module."""
    return request.param


@pytest.fixture
def tlv_pair() -> tuple[Any, Any]:
    return both_impls(TLV_NATIVE, TLV_TWIN)
