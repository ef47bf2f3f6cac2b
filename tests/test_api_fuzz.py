"""Fuzzing the live API (issue 5 acceptance): no 5xx, no crash, every rejection a precise 4xx.

Hypothesis drives a real ``fiscal-core serve`` over a socket with: mutations of valid ATOL v4/v5 and bulk
requests (fields dropped, retyped, replaced by extreme values, strings with characters CP866 lacks), arbitrary
JSON and arbitrary bytes as bodies, and arbitrary paths, methods and query strings over every route of
``/openapi.json``. Each answer must be < 500, be JSON (for the API routes), and a 4xx must carry an error object
with a code and text — for ATOL routes ``error.code`` and ``error.text``, with field paths on validation errors.
The server must still answer afterwards.

``FISCAL_CORE_API_FUZZ`` sets the number of examples per strategy (CI: 150; full size: 5,000+).
"""

from __future__ import annotations

import copy
import json
import os
import pathlib
import uuid as uuidlib
from collections.abc import Iterator
from typing import Any

import pytest
from apiclient import Client, Server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_api_e2e import V4_EXAMPLE, V5_EXAMPLE

N = int(os.environ.get("FISCAL_CORE_API_FUZZ", "150"))
FUZZ = settings(max_examples=N, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    data: pathlib.Path = tmp_path_factory.mktemp("fuzz") / "data"
    srv = Server(data).start()
    c = srv.client()
    token = c.login("v5")
    c.close()
    try:
        yield srv, token
    finally:
        assert srv.stop() == 0


def check(status: int, raw: bytes, path: str) -> None:
    assert status < 500, (status, path, raw[:500])
    if status >= 400:
        body = json.loads(raw)
        err = body["error"]
        assert isinstance(err, dict) and err.get("code") not in (None, "") and err.get("text"), body
        if path.startswith("/possystem/") and err["code"] == 32:
            assert err.get("fields") and all(f["path"] is not None and f["code"] for f in err["fields"]), body


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["", "vat18", "vat22", "«ёлка» — €", "0" * 300, "💥", "01.13.2026 25:61:61", "-1", "1e400"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    doc["external_id"] = uuidlib.uuid4().hex
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        path = draw(st.sampled_from(paths))
        parent: Any = doc
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["drop", "replace", "replace"]))
        if action == "drop":
            if isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif isinstance(parent, list) and parent:
                parent.pop(path[-1])
        else:
            parent[path[-1]] = draw(json_values)
    return doc


@FUZZ
@given(body=mutated(V4_EXAMPLE))
def test_mutated_v4_requests_never_5xx(live: tuple[Server, str], body: dict[str, Any]) -> None:
    srv, token = live
    c = Client(srv.port, token)
    try:
        path = "/possystem/v4/sandbox-v4/sell"
        status, raw, _ = c.request("POST", path, json.dumps(body, ensure_ascii=False).encode())
        check(status, raw, path)
    finally:
        c.close()


@FUZZ
@given(body=mutated(V5_EXAMPLE), op=st.sampled_from(["sell", "buy_refund", "sell_correction", "nope"]))
def test_mutated_v5_requests_never_5xx(live: tuple[Server, str], body: dict[str, Any], op: str) -> None:
    srv, token = live
    c = Client(srv.port, token)
    try:
        path = f"/possystem/v5/sandbox-v5/{op}"
        status, raw, _ = c.request("POST", path, json.dumps(body, ensure_ascii=False).encode())
        check(status, raw, path)
    finally:
        c.close()


@FUZZ
@given(
    items=st.lists(
        st.one_of(mutated({**V5_EXAMPLE, "group_code": "sandbox-v5", "operation": "sell"}), json_values), max_size=5
    )
)
def test_mutated_bulk_requests_never_5xx(live: tuple[Server, str], items: list[Any]) -> None:
    srv, token = live
    c = Client(srv.port, token)
    try:
        status, raw, _ = c.request("POST", "/api/v1/receipts", json.dumps({"receipts": items}).encode())
        check(status, raw, "/api/v1/receipts")
        if status == 200:
            assert len(json.loads(raw)["results"]) == len(items)
    finally:
        c.close()


ROUTES = [
    "/possystem/v4/getToken", "/possystem/v5/getToken", "/possystem/v4/sandbox-v4/sell",
    "/possystem/v5/sandbox-v5/sell_refund_correction", "/possystem/v4/sandbox-v4/report/",
    "/possystem/v9/x/y", "/api/v1/receipts", "/api/v1/results", "/api/v1/check", "/api/v1/notices",
    "/api/v1/registers", "/api/v1/deliveries/", "/api/v1/plan", "/api/v1/receipts/", "/metrics", "/openapi.json",
]  # fmt: skip


@FUZZ
@given(
    route=st.sampled_from(ROUTES),
    tail=st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="#?%"), max_size=20),
    query=st.dictionaries(st.sampled_from(["t", "s", "fn", "i", "fp", "n", "after", "wait", "limit", "token", "x"]),
                          st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="#&=%"),
                                  max_size=12),
                          max_size=6),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"]),
    body=st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())),
    with_token=st.booleans(),
)  # fmt: skip
def test_arbitrary_routes_and_bodies_never_5xx(
    live: tuple[Server, str], route: str, tail: str, query: dict[str, str], method: str, body: bytes,
    with_token: bool,
) -> None:  # fmt: skip
    srv, token = live
    c = Client(srv.port, token if with_token else None)
    try:
        if "wait" in query:
            query["wait"] = "0"
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        path = route + tail.replace(" ", "") + (f"?{qs}" if qs else "")
        status, raw, _ = c.request(method, path, body)
        assert status < 500, (status, method, path, raw[:300])
        if status >= 400 and method != "HEAD" and raw:
            assert "error" in json.loads(raw), raw[:300]
    finally:
        c.close()


def test_the_server_still_serves_after_the_fuzzing(live: tuple[Server, str]) -> None:
    srv, token = live
    c = Client(srv.port, token)
    try:
        body = copy.deepcopy(V5_EXAMPLE)
        body["external_id"] = uuidlib.uuid4().hex
        status, got = c.post("/possystem/v5/sandbox-v5/sell", body)
        assert status == 200 and got["status"] == "wait"
        assert c.wait_done("v5", "sandbox-v5", got["uuid"])["status"] == "done"
    finally:
        c.close()
