"""The merchant dashboard (issue 9): server-rendered pages under ``/ui/``, served by every API worker.

Rules
- ``Service.handle`` sends every ``/ui`` path here (:func:`route`); there is no build step: HTML is rendered by
  Python (``html.py``), one CSS and one JS file are package data (``static/``). Any worker serves any page: all
  data is read from the shared intake (LMDB) and fleet.json; only the registers' live health is per worker
  (``fleet.py`` says how it is shared).
- Sign-in with the tenant's login and password, checked exactly as ATOL ``getToken`` checks them (scrypt in a
  thread); the session is a signed cookie (``session.py``). Every page but the sign-in form and the static
  files needs a session (GET without one: a redirect to the sign-in form; POST: 403), every POST its CSRF
  token and a same-origin ``Origin``.
- Tenancy: pages and exports read only the session's tenant: feed keys, the FD index and the aggregates are
  prefixed by the tenant, lookups by uuid or external_id check the journal entry's tenant, registers and
  groups are filtered by the model's tenant. Another tenant's receipt is "not found" (404).
- Pages: ``receipts.py`` (search, list, receipt, receipt export), ``reports.py`` (per day / shift / register,
  export), ``forms.py`` (manual receipt and correction through the ATOL path), ``fleet.py`` (registers,
  calculator, live throughput).
"""

from __future__ import annotations

import asyncio
import importlib.resources
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from fiscal_core.api.http import Request, Response
from fiscal_core.dashboard import core
from fiscal_core.dashboard.core import Ctx, forbidden, html, redirect
from fiscal_core.dashboard.html import esc, page, url
from fiscal_core.dashboard.session import PRE_COOKIE, SESSION_COOKIE, cookies

if TYPE_CHECKING:
    from fiscal_core.api.service import Service

__all__ = ["route"]

_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def route(svc: Service, req: Request) -> Response | Awaitable[Response]:
    from fiscal_core.dashboard import fleet, forms, receipts, reports

    parts = [p for p in req.path.split("/") if p][1:]  # after "ui"
    st = core.state(svc)
    if parts[:1] == ["static"] and len(parts) == 2:
        return _static(st, parts[1])
    if parts == ["login"]:
        return _login(svc, req, st)
    jar = cookies(req.headers.get("cookie", ""))
    tenants = svc._fresh_model().tenants

    def password_hash(login: str) -> str | None:
        tenant = tenants.get(login)
        return None if tenant is None else tenant.password

    session = st.sessions.check(jar.get(SESSION_COOKIE, ""), password_hash, svc.clock())
    if session is None:
        if req.method in ("GET", "HEAD"):
            return redirect(url("/ui/login", {"next": req.path if parts else ""}))
        return forbidden("Сессия истекла: войдите снова")
    ctx = Ctx(svc, req, session, st)
    form: dict[str, str] = {}
    if req.method == "POST":
        form = core.parse_form(req)
        if not core.same_origin(req) or not st.sessions.csrf_ok(session, form.get("csrf", "")):
            return forbidden("Неверный CSRF-токен: обновите страницу и повторите")
    elif req.method not in ("GET", "HEAD"):
        return forbidden(f"{req.method} не поддерживается")
    if not parts:
        return redirect("/ui/receipts")
    head, rest = parts[0], parts[1:]
    if head == "logout" and req.method == "POST":
        return redirect("/ui/login", (st.sessions.cookie(SESSION_COOKIE, "", 0),))
    if head == "receipts":
        return receipts.receipts_page(ctx) if not rest else receipts.receipt_page(ctx, rest[0])
    if head == "export" and len(rest) == 1:
        name = rest[0]
        if name.startswith("receipts."):
            return receipts.export(ctx, name.partition(".")[2])
        if name.startswith("report."):
            return reports.export(ctx, name.partition(".")[2])
    if head == "reports" and not rest:
        return reports.reports_page(ctx)
    if head == "registers" and not rest:
        return fleet.registers_page(ctx)
    if head == "calculator" and not rest:
        return fleet.calculator_page(ctx)
    if head == "live" and not rest:
        return fleet.live_page(ctx)
    if head == "live.json" and not rest:
        return fleet.live_json(ctx)
    if head == "new" and len(rest) == 1 and rest[0] in ("receipt", "correction"):
        return forms.form_page(ctx, rest[0], form)
    return core.not_found(ctx)


def _static(st: core.State, name: str) -> Response:
    got = st.static.get(name)
    if got is None:
        kind = _STATIC_TYPES.get(name[name.rfind(".") :]) if "." in name else None
        resource = importlib.resources.files("fiscal_core.dashboard") / "static" / name
        if kind is None or "/" in name or name.startswith(".") or not resource.is_file():
            return Response(404, b"not found", "text/plain; charset=utf-8")
        got = st.static[name] = (resource.read_bytes(), kind)
    return Response(200, got[0], got[1], (("Cache-Control", "max-age=300"), ("X-Content-Type-Options", "nosniff")))


def _login_form(token: str, next_path: str, error: str = "", login: str = "") -> str:
    err = f'<p class="error" id="login-error">{esc(error)}</p>' if error else ""
    return page(
        "Вход",
        f'{err}<form method="post" action="/ui/login" class="card narrow" id="login-form">'
        f'<input type="hidden" name="pre" value="{esc(token)}">'
        f'<input type="hidden" name="next" value="{esc(next_path)}">'
        f'<label>Логин <input name="login" autocomplete="username" required value="{esc(login)}"></label>'
        '<label>Пароль <input name="password" type="password" autocomplete="current-password" required></label>'
        '<button type="submit">Войти</button></form>'
        '<p class="hint">Логин и пароль — те же, что для getToken в API.</p>',
    )


def _login(svc: Service, req: Request, st: core.State) -> Response | Awaitable[Response]:
    if req.method in ("GET", "HEAD"):
        value, token = st.sessions.pre()
        next_path = req.query.get("next", "")
        return html(_login_form(token, next_path), headers=(st.sessions.cookie(PRE_COOKIE, value, 3600),))
    if req.method != "POST":
        return forbidden(f"{req.method} не поддерживается")
    form = core.parse_form(req)
    pre = cookies(req.headers.get("cookie", "")).get(PRE_COOKIE, "")
    if not pre or not core.same_origin(req) or form.get("pre", "") != st.sessions.pre_token(pre):
        return forbidden("Форма входа устарела: откройте её снова")
    login, password = form.get("login", ""), form.get("password", "")
    next_path = form.get("next", "")
    if not next_path.startswith("/ui/") or "//" in next_path or "\\" in next_path:
        next_path = "/ui/receipts"  # never an open redirect
    model = svc._fresh_model()
    if not login or not password:
        return _login_failed(st, next_path, login)
    wait = svc.login_guard.retry_after(login, req.remote, svc.clock())
    if wait is not None:  # throttled: no password check at all (see fiscal_core.api.login_guard)
        return _login_failed(st, next_path, login, wait)
    fut = asyncio.get_running_loop().run_in_executor(None, model.authenticate, login, password)
    return _after_login(svc, st, fut, login, next_path, req.remote)


async def _after_login(
    svc: Service, st: core.State, fut: Awaitable[object], login: str, next_path: str, address: str
) -> Response:
    tenant = await fut
    svc.signed_in(login, address, tenant is not None)
    if tenant is None:
        return _login_failed(st, next_path, login)
    password_hash = svc._fresh_model().tenants[login].password
    value = st.sessions.issue(login, password_hash, svc.clock())
    return redirect(
        next_path, (st.sessions.cookie(SESSION_COOKIE, value, st.sessions.ttl_s), st.sessions.cookie(PRE_COOKIE, "", 0))
    )


def _login_failed(st: core.State, next_path: str, login: str, retry_after: int | None = None) -> Response:
    value, token = st.sessions.pre()
    cookie = st.sessions.cookie(PRE_COOKIE, value, 3600)
    if retry_after is not None:
        text = f"Слишком много неудачных попыток входа: повторите через {retry_after} с"
        return html(_login_form(token, next_path, text, login), 429, (cookie, ("Retry-After", str(retry_after))))
    return html(_login_form(token, next_path, "Неверный логин или пароль", login), 401, (cookie,))
