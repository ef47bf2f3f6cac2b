"""``/openapi.json``: an OpenAPI 3.1 description of every endpoint, request schemas generated from the Structs.

Rules
- Request bodies are described by the very msgspec Structs that decode them (``msgspec.json.schema_components``),
  so the document cannot drift from what the server accepts.
- Responses are described by example shapes (they are built as dicts, see :mod:`fiscal_core.api.views`).
- Built once per process and cached.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from fiscal_core import __version__
from fiscal_core.api import atol

__all__ = ["document"]

_ERR = {"$ref": "#/components/schemas/AtolErrorBody"}


def _op(
    summary: str,
    *,
    body: str | None = None,
    params: list[dict[str, Any]] | None = None,
    auth: bool = True,
    responses: dict[str, str] | None = None,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": tags or []}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
    resp = responses or {"200": "OK"}
    op["responses"] = {
        code: {"description": text, "content": {"application/json": {"schema": {"type": "object"}}}}
        for code, text in resp.items()
    }
    if auth:
        op["security"] = [{"token": []}, {"tokenQuery": []}]
    return op


def _path_param(name: str, desc: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": desc, "schema": {"type": "string"}}


def _query(name: str, desc: str, typ: str = "string", required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": desc, "schema": {"type": typ}}


@functools.cache
def document() -> dict[str, Any]:
    structs = [
        atol.ReceiptRequestV4,
        atol.CorrectionRequestV4,
        atol.ReceiptRequestV5,
        atol.CorrectionRequestV5,
    ]
    _, components = msgspec.json.schema_components(structs, ref_template="#/components/schemas/{name}")
    components["TokenRequest"] = {
        "type": "object",
        "required": ["login", "pass"],
        "properties": {"login": {"type": "string"}, "pass": {"type": "string"}, "source": {"type": "string"}},
    }
    components["AtolErrorBody"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "error_id": {"type": "string"},
                    "code": {"type": "integer"},
                    "text": {"type": "string"},
                    "type": {"type": "string"},
                    "retryable": {"type": "boolean"},
                    "fields": {"type": "array", "items": {"type": "object"}},
                },
            },
            "timestamp": {"type": "string"},
        },
    }
    components["BulkRequest"] = {
        "type": "object",
        "required": ["receipts"],
        "properties": {
            "receipts": {
                "type": "array",
                "maxItems": 10000,
                "items": {
                    "description": "an ATOL v4/v5 request body plus group_code and operation",
                    "type": "object",
                    "required": ["group_code", "operation", "external_id"],
                },
            }
        },
    }
    components["UuidList"] = {
        "type": "object",
        "required": ["uuids"],
        "properties": {"uuids": {"type": "array", "items": {"type": "string", "format": "uuid"}}},
    }
    components["PlanRequest"] = {"type": "object", "description": "see fiscal-core plan --help"}
    errors = {"400": "validation / duplicate (ATOL 32/33)", "401": "token (10/11/20/21)", "503": "overloaded"}
    sign_in = {
        "200": "the token",
        "401": "wrong login or password (12)",
        "429": "too many failed sign-ins: Retry-After seconds (api/login_guard.py)",
    }
    paths: dict[str, Any] = {}
    for v in ("v4", "v5"):
        base = f"/possystem/{v}"
        paths[f"{base}/getToken"] = {
            "post": _op("Get a 24-hour token", body="TokenRequest", auth=False, responses=sign_in, tags=["ATOL"]),
            "get": _op(
                "Get a 24-hour token",
                params=[_query("login", "login", required=True), _query("pass", "password", required=True)],
                auth=False,
                responses=sign_in,
                tags=["ATOL"],
            ),
        }
        ops = [name for name, op in atol.OPERATIONS.items() if int(v[1]) in op.versions]
        for name in ops:
            op = atol.OPERATIONS[name]
            body = f"{'Correction' if op.correction else 'Receipt'}Request{v.upper()}"
            paths[f"{base}/{{group_code}}/{name}"] = {
                "post": {
                    **_op(f"Register a {name} document", body=body, responses={"200": "wait", **errors}, tags=["ATOL"]),
                    "parameters": [_path_param("group_code", "the group of registers")],
                }
            }
        paths[f"{base}/{{group_code}}/report/{{uuid}}"] = {
            "get": {
                **_op("Report: wait/done/fail with the fiscal data", tags=["ATOL"]),
                "parameters": [_path_param("group_code", "group"), _path_param("uuid", "receipt uuid")],
            }
        }
    paths["/api/v1/token"] = {
        "post": _op("Get a token (as getToken)", body="TokenRequest", auth=False, responses=sign_in, tags=["bulk"])
    }
    paths["/api/v1/receipts"] = {
        "post": _op("Submit up to 10,000 receipts; a result per item", body="BulkRequest", tags=["bulk"])
    }
    paths["/api/v1/receipts/{uuid}"] = {
        "get": {**_op("One receipt's result", tags=["bulk"]), "parameters": [_path_param("uuid", "receipt uuid")]}
    }
    paths["/api/v1/results"] = {
        "get": _op(
            "Change feed: finished receipts after a cursor (long-poll with wait)",
            params=[
                _query("after", "cursor", "integer"),
                _query("limit", "1..10000", "integer"),
                _query("wait", "seconds to wait, 0..60", "integer"),
            ],
            tags=["bulk"],
        ),
        "post": _op("Many results at once", body="UuidList", tags=["bulk"]),
    }
    paths["/api/v1/notices"] = {
        "get": _op("Register warnings for the tenant", params=[_query("after", "cursor", "integer")], tags=["bulk"])
    }
    paths["/api/v1/notices/webhook"] = {
        "get": _op("Where the tenant's notices are POSTed", tags=["bulk"]),
        "put": _op("Set (or null to stop) the tenant's notice webhook: signed POSTs {tenant, notices}", tags=["bulk"]),
    }
    paths["/api/v1/registers"] = {"get": _op("Registers of the tenant: drive, shift, OFD backlog", tags=["bulk"])}
    paths["/api/v1/deliveries/{uuid}"] = {
        "get": {**_op("Callback delivery log", tags=["bulk"]), "parameters": [_path_param("uuid", "receipt uuid")]}
    }
    paths["/api/v1/callback-key"] = {"get": _op("The tenant's HMAC-SHA256 callback key", tags=["bulk"])}
    paths["/api/v1/check"] = {
        "get": _op(
            "Receipt check by QR parameters: verifies the fiscal sign, answers FNS JSON",
            params=[
                _query(k, d, required=True)
                for k, d in (
                    ("t", "date-time"),
                    ("s", "sum"),
                    ("fn", "FN"),
                    ("i", "FD"),
                    ("fp", "fiscal sign"),
                    ("n", "sign"),
                )
            ],
            auth=False,
            responses={"200": "verified", "400": "bad parameters", "404": "no such receipt / mismatch"},
            tags=["check"],
        )
    }
    paths["/api/v1/plan"] = {"post": _op("Register-count plan", body="PlanRequest", auth=False, tags=["capacity"])}
    paths["/metrics"] = {"get": _op("Prometheus metrics", auth=False, tags=["operations"])}
    paths["/health"] = {"get": _op("Liveness", auth=False, tags=["operations"])}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fiscal_core API",
            "version": __version__,
            "description": "ATOL Online v4/v5-compatible API and the native bulk API of fiscal_core.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "Token"},
                "tokenQuery": {"type": "apiKey", "in": "query", "name": "token"},
            },
        },
    }
