"""The native API (``/api/v1/…``, issue 5 items 6–8): bulk submit, many results at once, the change feed, the
receipt check, notices, register status, callback deliveries and the capacity plan.

Rules
- JSON or msgpack by ``Content-Type`` (``application/msgpack``); the answer uses the same format (or the
  ``Accept`` header's).
- ``POST /api/v1/receipts``: ``{"receipts": [item, …]}`` with up to ``max_bulk`` (10,000) items; an item is an
  ATOL v4/v5 request body (``external_id``, ``timestamp``, ``service``, ``receipt`` | ``correction``) plus
  ``group_code`` and ``operation``; the API version follows the group's FFD. Every item is validated on its own;
  the valid ones are journaled together in one group commit; the answer has one result per item, in order:
  ``{"uuid", "status": "queued", "duplicate", "payload_differs"?, "warnings"?}`` or ``{"error": {…}}`` with field
  paths like ``receipts[7].receipt.items[3].vat.type``. An item of the common v5 sale is read and checked by
  the native reader (``validate.read_validated``) in one pass; any other item, or one it declines, is read by
  ``scan`` or the decoder and validated on its own path, which words every error.
- ``GET /api/v1/receipts/{uuid}``; ``POST /api/v1/results`` ``{"uuids": […]}`` (up to 10,000) — many at once.
- ``GET /api/v1/results?after=CURSOR&limit=N&wait=S``: the tenant's finished receipts after the cursor, oldest
  first, with ``next`` (the cursor to send next time); with ``wait`` it long-polls up to S seconds (≤ 60) when
  nothing is there yet.
- ``GET /api/v1/check?t=&s=&fn=&i=&fp=&n=`` needs no token (what the tax service's check does): it finds the
  document, verifies the fiscal sign with the drive's key and compares every parameter, then answers the
  document as FNS JSON; a mismatch is 404 with the parameter that does not match.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid as uuidlib
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import msgspec

from fiscal_core.api import views
from fiscal_core.api.http import Later, Request, Response
from fiscal_core.api.intake import Accepted, Entry, NewEntry
from fiscal_core.api.validate import SCAN_FROM, RequestInvalid, decode, read_validated, scan, validate_decoded
from fiscal_core.ffd import fnsjson, qr, tlv
from fiscal_core.registers.fleet import Prebuilt

if TYPE_CHECKING:
    from fiscal_core.api.service import Service

__all__ = ["route"]

MSGPACK = "application/msgpack"
MAX_RESULTS = 10_000


class BulkBody(msgspec.Struct):
    receipts: list[msgspec.Raw]


class BulkHead(msgspec.Struct):
    group_code: str
    operation: str


class UuidList(msgspec.Struct):
    uuids: list[str]


def _reply(req: Request, obj: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    if MSGPACK in req.headers.get("accept", "") or MSGPACK in req.headers.get("content-type", ""):
        return Response(status, msgspec.msgpack.encode(obj), MSGPACK, headers or [])
    return Response.json(obj, status, headers or [])


def _body_json(req: Request) -> bytes:
    """The body as JSON bytes (msgpack bodies are converted once)."""
    from fiscal_core.api.service import ApiError

    if MSGPACK in req.headers.get("content-type", ""):
        try:
            return msgspec.json.encode(msgspec.msgpack.decode(req.body))
        except (msgspec.DecodeError, TypeError) as exc:
            raise ApiError(40, f"the body is not msgpack: {exc}") from None
    return req.body


def route(svc: Service, req: Request, parts: list[str]) -> Response | Awaitable[Response]:
    from fiscal_core.api.service import ApiError

    head = parts[0]
    if head == "check" and req.method == "GET":
        return _check(svc, req)
    if head == "plan" and req.method == "POST":
        return _plan(svc, req)
    if head == "token" and req.method == "POST":
        return svc._get_token(req)
    login = svc._login(req)
    if head == "receipts" and len(parts) == 1 and req.method == "POST":
        return _submit(svc, req, login)
    if head == "receipts" and len(parts) == 2 and req.method == "GET":
        return _one(svc, req, login, parts[1])
    if head == "results" and req.method == "POST":
        return _many(svc, req, login)
    if head == "results" and req.method == "GET":
        return _feed(svc, req, login)
    if head == "notices" and len(parts) == 2 and parts[1] == "webhook":
        return _notice_webhook(svc, req, login)
    if head == "notices" and req.method == "GET":
        after = _int(req.query.get("after", "0"), "after")
        return _reply(req, {"notices": svc.intake.notices_of(login, after, 1000)})
    if head == "registers" and req.method == "GET":
        return _registers(svc, req, login)
    if head == "deliveries" and len(parts) == 2 and req.method == "GET":
        uuid = _uuid(parts[1])
        entry = svc.intake.entry(uuid)
        if entry is None or entry.tenant != login:
            raise ApiError(30, f"no receipt {parts[1]}", http=404, symbol="not_found")
        return _reply(req, {"uuid": parts[1], "deliveries": svc.intake.deliveries_of(uuid)})
    if head == "callback-key" and req.method == "GET":
        from fiscal_core.api.callbacks import callback_key

        return _reply(req, {"algorithm": "HMAC-SHA256", "key_hex": callback_key(svc.server_key, login).hex()})
    raise ApiError(40, f"no route {req.method} {req.path}", http=404, symbol="not_found")


def _int(text: str, name: str, low: int = 0, high: int = 1 << 62) -> int:
    from fiscal_core.api.service import ApiError

    try:
        value = int(text)
    except ValueError:
        raise ApiError(
            40, f"{name} must be an integer", fields=[{"path": name, "code": "not_int", "message": text}]
        ) from None
    if not low <= value <= high:
        raise ApiError(
            40, f"{name} must be within {low}..{high}", fields=[{"path": name, "code": "range", "message": text}]
        )
    return value


def _uuid(text: str) -> bytes:
    from fiscal_core.api.service import ApiError

    try:
        return uuidlib.UUID(text).bytes
    except ValueError:
        raise ApiError(30, f"{text!r} is not a uuid", symbol="bad_uuid") from None


# ---------------------------------------------------------------------------------------------- submit


def _submit(svc: Service, req: Request, login: str) -> Response | Awaitable[Response]:
    from fiscal_core.api.service import ApiError, _issues

    body = _body_json(req)
    try:
        bulk = msgspec.json.decode(body, type=BulkBody)
    except msgspec.ValidationError as exc:
        raise ApiError(32, f'the body must be {{"receipts": [...]}}: {exc}', symbol="bad_shape") from None
    except msgspec.DecodeError as exc:
        raise ApiError(40, f"the body is not JSON: {exc}", symbol="bad_json") from None
    n = len(bulk.receipts)
    if not 1 <= n <= svc.settings.max_bulk:
        raise ApiError(32, f"1..{svc.settings.max_bulk} receipts per request, got {n}", symbol="bulk_size")
    svc._limit(login, n)
    model = svc._fresh_model()
    tenant = model.tenants[login]
    results: list[dict[str, Any] | None] = [None] * n
    entries: list[Entry] = []
    docs: list[Any] = []
    where: list[tuple[int, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    gates: dict[str, tuple[int, str, str] | None] = {}
    prebuild = svc.pipeline.prebuild
    svc.clock()
    contexts: dict[str, Any] = {}

    def resolve(code: str, operation: str) -> tuple[Any, ...] | None:
        """The native reader's view of a group: (version, INN, FFD, tax systems, the group, its drive identity
        when this process fiscalizes it, else None), None when it is not this tenant's (the element's own path
        then words the error)."""
        ctx = contexts.get(code)
        if ctx is None and code not in contexts:
            group = model.groups.get(code)
            if group is not None and group.tenant == login:
                ctx = (
                    4 if group.ffd == "1.05" else 5,
                    tenant.inn,
                    group.ffd,
                    tenant.tax_systems,
                    group,
                    svc.pipeline.identity(code),
                )
            contexts[code] = ctx
        return ctx

    for i, raw in enumerate(bulk.receipts):
        prefix = f"receipts[{i}]"
        data = bytes(raw)
        got = read_validated(data, resolve, prefix + ".") if read_validated is not None else None
        if got is not None:  # the common v5 sale, read, checked and written (row and body) in one native pass
            group, v = got[0][4], got[1]
            operation = v.operation
        else:
            # One read serves the head and the validation fast path (the byte reader's, else the decoder's); the
            # typed decode words the shape errors.
            read = scan(data) if scan is not None and len(raw) >= SCAN_FROM else None
            obj = read if read is not None else decode(memoryview(raw))
            if type(obj) is dict and type(obj.get("group_code")) is str and type(obj.get("operation")) is str:
                head = BulkHead(group_code=obj["group_code"], operation=obj["operation"])
            else:
                try:
                    head = msgspec.json.decode(raw, type=BulkHead)
                except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                    results[i] = _item_error(32, "bad_item", str(exc).replace("$", prefix), prefix)
                    continue
            group = model.groups.get(head.group_code)
            if group is None or group.tenant != login:
                results[i] = _item_error(
                    20, "group_not_yours", f"no group {head.group_code!r} of this tenant", f"{prefix}.group_code"
                )
                continue
            operation = head.operation
        try:
            if got is None:
                v = validate_decoded(
                    obj,
                    raw,
                    version=4 if group.ffd == "1.05" else 5,
                    operation=operation,
                    group_inn=tenant.inn,
                    group_ffd=group.ffd,
                    group_sno=tenant.tax_systems,
                    path_prefix=prefix + ".",
                    scanned=read is not None,
                )
                svc._check_caps(group, v.document, f"{prefix}.receipt")
            elif got[2]:  # marked, excise or agent goods: the group must have registers for them
                svc._check_bits(group, got[2], f"{prefix}.receipt")
        except RequestInvalid as exc:
            results[i] = {
                "error": {"code": "invalid", "atol_code": exc.atol_code, "retryable": False, "fields": _issues(exc)}
            }
            continue
        except ApiError as err:
            results[i] = {
                "error": {
                    "code": err.symbol,
                    "atol_code": err.atol_code,
                    "text": err.text,
                    "retryable": False,
                    "fields": err.fields,
                }
            }
            continue
        # Read once per group per request: this request's receipts are not queued yet, so they would not change it.
        if group.code not in gates:
            gates[group.code] = svc.gate(group.code)
        gate = gates[group.code]
        if gate is not None:
            results[i] = {
                "error": {
                    "code": gate[2],
                    "text": gate[1],
                    "retryable": gate[2] != "no_capable_register",
                    "retry_after": gate[0],
                }
            }
            continue
        key = (group.code, v.external_id)
        if key in seen:
            results[i] = {"duplicate_of_item": seen[key]}
        seen.setdefault(key, i)
        entry = svc._entry(login, group.code, operation, 0, v)
        entries.append(entry)
        if got is not None:  # the reader wrote the body (None: a group this process does not fiscalize)
            body = got[3]
            docs.append(None if body is None else Prebuilt(group.code, body, got[2]))
        else:
            # The body encoded now, while the receipt's objects are in the cache; they are freed with ``v`` at
            # the end of this iteration (the answer keeps only the warnings, which the entry already holds).
            docs.append(prebuild(group.code, v.document))
        where.append((i, entry.warnings))
    if not entries:
        return _reply(req, {"results": results, "accepted": 0})
    news = [NewEntry(uuid, e) for uuid, e in zip(views.new_uuids(len(entries)), entries, strict=True)]
    fut = Later()  # answered as soon as the journal's commit is (api.http's rules)

    def answer(got: list[Accepted] | BaseException) -> None:
        if fut.done():
            return
        if isinstance(got, BaseException):
            from fiscal_core.api.service import _stored_error

            fut.set_result(svc._native_error(_stored_error(got)))
            return
        accepted = 0
        for (i, w), a in zip(where, got, strict=True):
            r: dict[str, Any] = {"uuid": views.uuid_str(a.uuid), "status": "queued", "duplicate": a.duplicate}
            if a.duplicate:
                r["payload_differs"] = not a.same_payload
                svc.stats["duplicates"] += 1
            else:
                accepted += 1
            if w:
                r["warnings"] = w
            results[i] = r
        svc.stats["accepted"] += accepted
        fut.set_result(_reply(req, {"results": results, "accepted": accepted}))

    assert svc.writer is not None
    svc.stage_stats.observe("validate", time.perf_counter() - req.at, len(news))
    svc.writer.submit(news, docs, answer)
    return fut


def _item_error(atol_code: int, code: str, text: str, path: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "atol_code": atol_code,
            "text": text,
            "retryable": False,
            "fields": [{"path": path, "code": code, "message": text}],
        }
    }


# ---------------------------------------------------------------------------------------------- results


def _one(svc: Service, req: Request, login: str, text: str) -> Response:
    from fiscal_core.api.service import ApiError

    uuid = _uuid(text)
    rep = svc.intake.report(uuid)
    if rep is None or rep[0].tenant != login:
        raise ApiError(30, f"no receipt {text}", http=404, symbol="not_found")
    return _reply(req, views.native_result(uuid, rep[0], rep[1]))


def _many(svc: Service, req: Request, login: str) -> Response:
    from fiscal_core.api.service import ApiError

    try:
        body = msgspec.json.decode(_body_json(req), type=UuidList)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ApiError(32, f'the body must be {{"uuids": [...]}}: {exc}', symbol="bad_shape") from None
    if len(body.uuids) > MAX_RESULTS:
        raise ApiError(32, f"at most {MAX_RESULTS} uuids per request", symbol="too_many")
    out: list[dict[str, Any] | views.NativeResult] = []
    raws: list[bytes] = []
    for text in body.uuids:
        try:
            raws.append(uuidlib.UUID(text).bytes)
        except ValueError:
            raws.append(b"")
    for text, got in zip(body.uuids, svc.intake.reports(raws), strict=True):
        if got is None or got[1].tenant != login:
            out.append({"uuid": text, "status": "unknown"})
        else:
            out.append(views.native_result(got[0], got[1], got[2]))
    return _reply(req, {"results": out})


def _feed(svc: Service, req: Request, login: str) -> Response | Awaitable[Response]:
    after = _int(req.query.get("after", "0"), "after")
    limit = _int(req.query.get("limit", "1000"), "limit", 1, MAX_RESULTS)
    wait = float(_int(req.query.get("wait", "0"), "wait", 0, 60))
    rows = svc.intake.feed(login, after, limit)
    if rows or wait <= 0:
        return _feed_reply(req, rows, after)
    return _long_poll(svc, req, login, after, limit, wait)


def _feed_reply(req: Request, rows: list[Any], after: int) -> Response:
    results = [views.native_result(u, e, o) for _, u, e, o in rows]
    return _reply(req, {"results": results, "next": rows[-1][0] if rows else after})


async def _long_poll(svc: Service, req: Request, login: str, after: int, limit: int, wait: float) -> Response:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        left = deadline - loop.time()
        if left <= 0:
            return _feed_reply(req, [], after)
        fut: asyncio.Future[None] = loop.create_future()
        svc._feed_waiters.append(fut)
        # Outcomes written by another worker do not wake this one: look again at least every 100 ms.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fut, min(left, 0.1))
        rows = svc.intake.feed(login, after, limit)
        if rows:
            return _feed_reply(req, rows, after)


class Webhook(msgspec.Struct):
    url: str | None


def _notice_webhook(svc: Service, req: Request, login: str) -> Response:
    """``PUT /api/v1/notices/webhook {"url": ...}`` (null to stop), ``GET`` to read it."""
    from fiscal_core.api.callbacks import URL_PATTERN
    from fiscal_core.api.service import ApiError

    if req.method == "GET":
        hook = svc.intake.notice_webhooks().get(login)
        return _reply(req, {"url": hook[0] if hook else None, "delivered_up_to": hook[1] if hook else None})
    if req.method not in ("PUT", "POST"):
        raise ApiError(40, "GET or PUT", http=405, symbol="method_not_allowed")
    try:
        body = msgspec.json.decode(_body_json(req), type=Webhook)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ApiError(32, f'the body must be {{"url": "http(s)://..."}}: {exc}', symbol="bad_shape") from None
    if body.url is not None and (len(body.url) > 2048 or not URL_PATTERN.match(body.url)):
        raise ApiError(32, "url must be an http:// or https:// URL", symbol="bad_url",
                       fields=[{"path": "url", "code": "bad_url", "message": body.url[:200]}])  # fmt: skip
    svc.intake.set_notice_webhook(login, body.url)
    return _reply(req, {"url": body.url})


def _registers(svc: Service, req: Request, login: str) -> Response:
    groups = {code for code, g in svc.model.groups.items() if g.tenant == login}
    rows = []
    # Every worker's registers, whichever worker answers: its own and the others' as last published (≤ 2 s old);
    # in the tiered layout the answering API worker runs none itself.
    for h in svc.register_health():
        if h["group"] not in groups:
            continue
        rows.append(
            {
                "register": h["register"],
                "group_code": h["group"],
                "fn_number": h["fn_number"],
                "reserve": h["reserve"],
                "profile": h["profile"],
                "in_rotation": h["in_rotation"],
                "reasons": list(h["reasons"]),
                "fill_percent": h["fill_percent"],
                "documents": h["documents"],
                "capacity": h["capacity"],
                "days_to_expiry": h["days_to_expiry"],
                "ofd_unsent": h["unsent"],
                "ofd_oldest_unsent_age_s": h["oldest_unsent_age_s"],
                "shift_open": h["shift_open"],
                "shift_number": h["shift_number"],
                "queue": h["queue"],
                "throughput": h["throughput"],
            }
        )
    return _reply(req, {"registers": rows})


# ---------------------------------------------------------------------------------------------- check


def _check(svc: Service, req: Request) -> Response:
    from fiscal_core.api.service import ApiError

    q = req.query
    text = "&".join(f"{k}={q[k]}" for k in ("t", "s", "fn", "i", "fp", "n") if k in q)
    try:
        params = qr.parse(text)
    except qr.QrError as exc:
        raise ApiError(
            40,
            f"bad receipt-check parameters: {exc}",
            symbol="bad_qr",
            fields=[{"path": getattr(exc, "param", "") or "", "code": "bad_qr", "message": str(exc)}],
        ) from None
    drive = svc.find_drive(params.fn)
    if drive is None:
        raise ApiError(
            40,
            f"no fiscal drive {params.fn}",
            http=404,
            symbol="not_found",
            fields=[{"path": "fn", "code": "not_found", "message": params.fn}],
        )
    try:
        rec = drive.document(params.i)
    except Exception:
        raise ApiError(
            40,
            f"no document {params.i} on drive {params.fn}",
            http=404,
            symbol="not_found",
            fields=[{"path": "i", "code": "not_found", "message": str(params.i)}],
        ) from None
    ((form, nodes),) = tlv.decode(rec.tlv)
    tags = dict(nodes)
    when: dt.datetime | None = tags.get(1012)
    checks = {
        "t": when is not None and when.replace(second=when.second if params.seconds else 0) == params.t,
        "s": tags.get(1020, -1) == params.s,
        "n": tags.get(1054, -1) == params.n,
        "fp": 1077 in tags and tlv.printed_fiscal_sign(tags[1077]) == params.fp,
    }
    if when is not None and not params.seconds:
        checks["t"] = when.replace(second=0) == params.t
    bad = [k for k, ok in checks.items() if not ok]
    if not bad and (when is None or not drive.signer.verify(params.i, when, params.s, params.n, params.fp)):
        bad = ["fp"]
    if bad:
        raise ApiError(
            40,
            f"the receipt does not match: {', '.join(bad)}",
            http=404,
            symbol="mismatch",
            fields=[{"path": k, "code": "mismatch", "message": f"{k} differs from the document"} for k in bad],
        )
    return _reply(req, {"verified": True, "form": form, "document": fnsjson.to_fnsjson((form, nodes))})


def _plan(svc: Service, req: Request) -> Response:
    """``POST /api/v1/plan``: the register-count calculator (fiscal_core.capacity) on a JSON object of inputs."""
    from fiscal_core.api.service import ApiError
    from fiscal_core.capacity import plan_from_json
    from fiscal_core.errors import FieldError

    today = dt.datetime.fromtimestamp(svc.clock(), dt.UTC).date()
    try:
        return Response(200, plan_from_json(req.body, today=today), "application/json; charset=utf-8")
    except FieldError as exc:
        raise ApiError(
            32,
            str(exc),
            symbol=exc.code,
            fields=[{"path": exc.path, "code": exc.code, "message": exc.reason}],
        ) from None
