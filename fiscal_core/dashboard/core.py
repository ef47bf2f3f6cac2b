"""What every dashboard page shares: the per-worker state, the signed-in context, responses and forms.

Rules
- A page handler gets a :class:`Ctx` (service, request, session) and returns a Response (or an awaitable of
  one). Handlers only read through the tenant of ``ctx.login``: a receipt, register or group of another tenant
  is answered exactly as one that does not exist (404), so existence never leaks.
- Every HTML response carries a strict Content-Security-Policy (scripts and styles only from /ui/static, images
  also as data: URIs for the QR code), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``,
  ``X-Frame-Options: DENY`` and ``Cache-Control: no-store`` (pages hold a tenant's data).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fiscal_core.api.http import Request, Response
from fiscal_core.dashboard.html import esc, page
from fiscal_core.dashboard.session import Session, Sessions

if TYPE_CHECKING:
    from fiscal_core.api.service import Service

__all__ = [
    "HTML",
    "Ctx",
    "State",
    "day_range",
    "forbidden",
    "html",
    "not_found",
    "parse_form",
    "redirect",
    "state",
]

HTML = "text/html; charset=utf-8"
SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
)


@dataclass
class State:
    """The dashboard's per-worker state (``Service.dashboard``)."""

    sessions: Sessions
    static: dict[str, tuple[bytes, str]] = field(default_factory=dict)


def state(svc: Service) -> State:
    st = svc.dashboard
    if st is None:
        secure = svc.settings.public_url.startswith("https:")
        st = svc.dashboard = State(Sessions(svc.server_key, secure=secure))
    assert isinstance(st, State)
    return st


@dataclass
class Ctx:
    svc: Service
    req: Request
    session: Session
    st: State

    @property
    def login(self) -> str:
        return self.session.login

    def groups(self) -> dict[str, Any]:
        """The tenant's groups, code → Group."""
        model = self.svc._fresh_model()
        return {code: g for code, g in sorted(model.groups.items()) if g.tenant == self.login}

    def page(self, title: str, body: str, active: str = "", status: int = 200, status_line: str = "") -> Response:
        doc = page(title, body, login=self.login, active=active, csrf=self.session.csrf, status_line=status_line)
        return html(doc, status)

    def csrf_field(self) -> str:
        return f'<input type="hidden" name="csrf" value="{esc(self.session.csrf)}">'


def html(doc: str, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, doc.encode(), HTML, SECURITY_HEADERS + headers)


def redirect(location: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(303, b"", HTML, (("Location", location), ("Cache-Control", "no-store"), *headers))


def not_found(ctx: Ctx, what: str = "Страница не найдена") -> Response:
    return ctx.page("Не найдено", f'<p class="empty">{esc(what)}</p>', status=404)


def forbidden(text: str) -> Response:
    return html(page("Запрещено", f'<p class="error">{esc(text)}</p>'), 403)


def parse_form(req: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (first value of each name)."""
    out: dict[str, str] = {}
    text = req.body.decode("utf-8", "replace")
    for name, value in urllib.parse.parse_qsl(text, keep_blank_values=True, max_num_fields=2000):
        out.setdefault(name, value)
    return out


def same_origin(req: Request) -> bool:
    """A POST's ``Origin`` (when the browser sends one) names this host."""
    origin = req.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urllib.parse.urlsplit(origin).netloc == req.headers.get("host", "")


def day_range(query: dict[str, str]) -> tuple[dt.date | None, dt.date | None, str]:
    """``from`` / ``to`` query dates (ГГГГ-ММ-ДД) -> (first, last, error); a malformed one is left out and named."""
    got: dict[str, dt.date] = {}
    error = ""
    for name in ("from", "to"):
        text = query.get(name, "").strip()
        if not text:
            continue
        try:
            got[name] = dt.date.fromisoformat(text)
        except ValueError:
            error = f"Дата {text!r}: нужен формат ГГГГ-ММ-ДД"
    return got.get("from"), got.get("to"), error
