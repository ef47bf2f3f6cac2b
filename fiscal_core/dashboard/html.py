"""HTML building for the dashboard: escaping, the page frame, tables, labels and number formats.

Rules
- Pages are Python f-strings. Every value that did not come from this package's own literals goes through
  :func:`esc` (text and attribute values alike: ``&<>"'`` are escaped), URLs built from user input through
  :func:`url` (query parts percent-encoded) and then :func:`esc`. Nothing user-supplied is ever put into a
  ``<script>``, a ``style`` or an event attribute: the Content-Security-Policy forbids inline script and style.
- Money is integer kopecks, shown as roubles with two decimals (``1 234.50``); times of the service are shown in
  Moscow time (as ATOL's), a receipt's 1012 in the local time of its place of settlement, as the document has it.
"""

from __future__ import annotations

import datetime as dt
import html
import urllib.parse
from collections.abc import Iterable, Mapping

from fiscal_core.ffd.enums import ItemSubject, MeasureUnit, PaymentMethod, VatRate

__all__ = [
    "KIND_NAMES",
    "MSK",
    "OPERATION_NAMES",
    "VAT_NAMES",
    "esc",
    "field_error",
    "money",
    "msk_time",
    "page",
    "table",
    "url",
]

MSK = dt.timezone(dt.timedelta(hours=3))
VAT_NAMES = {
    0: "—",
    int(VatRate.VAT20): "НДС 20%",
    int(VatRate.VAT10): "НДС 10%",
    int(VatRate.VAT20_120): "НДС 20/120",
    int(VatRate.VAT10_110): "НДС 10/110",
    int(VatRate.VAT0): "НДС 0%",
    int(VatRate.NO_VAT): "без НДС",
    int(VatRate.VAT5): "НДС 5%",
    int(VatRate.VAT7): "НДС 7%",
    int(VatRate.VAT5_105): "НДС 5/105",
    int(VatRate.VAT7_107): "НДС 7/107",
    int(VatRate.VAT22): "НДС 22%",
    int(VatRate.VAT22_122): "НДС 22/122",
}
#: The ``agg`` kinds: 1054 settlement sign, + 10 for corrections.
KIND_NAMES = {
    1: "приход",
    2: "возврат прихода",
    3: "расход",
    4: "возврат расхода",
    11: "коррекция прихода",
    12: "коррекция возврата прихода",
    13: "коррекция расхода",
    14: "коррекция возврата расхода",
}
OPERATION_NAMES = {
    "sell": "приход",
    "sell_refund": "возврат прихода",
    "buy": "расход",
    "buy_refund": "возврат расхода",
    "sell_correction": "коррекция прихода",
    "sell_refund_correction": "коррекция возврата прихода",
    "buy_correction": "коррекция расхода",
    "buy_refund_correction": "коррекция возврата расхода",
}
NAV = (
    ("receipts", "/ui/receipts", "Чеки"),
    ("registers", "/ui/registers", "Кассы"),
    ("reports", "/ui/reports", "Отчёты"),
    ("new", "/ui/new/receipt", "Новый чек"),
    ("correction", "/ui/new/correction", "Коррекция"),
    ("calculator", "/ui/calculator", "Калькулятор"),
    ("live", "/ui/live", "Поток"),
)


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def url(path: str, query: Mapping[str, object] | None = None) -> str:
    """``path`` with the non-empty ``query`` items percent-encoded (pass the result through :func:`esc`)."""
    items = [(k, str(v)) for k, v in (query or {}).items() if v not in (None, "")]
    return path + ("?" + urllib.parse.urlencode(items) if items else "")


def money(kopecks: int) -> str:
    sign = "-" if kopecks < 0 else ""
    rub, kop = divmod(abs(kopecks), 100)
    return f"{sign}{rub:,}.{kop:02d}".replace(",", "\u202f")


def msk_time(at: float) -> str:
    return dt.datetime.fromtimestamp(at, MSK).strftime("%d.%m.%Y %H:%M:%S")


def enum_name(kind: type[ItemSubject] | type[PaymentMethod] | type[MeasureUnit], value: object) -> str:
    try:
        return f"{int(str(value))} {kind(int(str(value))).name.lower()}"
    except (ValueError, TypeError):
        return str(value)


def table(head: Iterable[str], rows: Iterable[Iterable[str]], *, cls: str = "grid", tid: str = "") -> str:
    """A table of cells that are already HTML (escape them when building ``rows``)."""
    ths = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    ident = f' id="{esc(tid)}"' if tid else ""
    return f'<table class="{esc(cls)}"{ident}><thead><tr>{ths}</tr></thead><tbody>{body}</tbody></table>'


def field_error(errors: Mapping[str, str], path: str) -> str:
    """The validation message for field ``path`` (an API path like ``receipt.items[0].price``), or ""."""
    message = errors.get(path)
    if message is None:
        return ""
    return f'<span class="field-error" data-path="{esc(path)}">{esc(message)}</span>'


def page(title: str, body: str, *, login: str = "", active: str = "", csrf: str = "", status_line: str = "") -> str:
    """The whole HTML document: the navigation (for a signed-in tenant), ``body`` (already HTML)."""
    nav = ""
    if login:
        links = "".join(
            f'<a href="{href}"{" class=active" if key == active else ""}>{label}</a>' for key, href, label in NAV
        )
        nav = (
            f'<nav class="top"><span class="brand">fiscal_core</span>{links}'
            f'<form method="post" action="/ui/logout" class="logout"><input type="hidden" name="csrf" '
            f'value="{esc(csrf)}"><span class="who">{esc(login)}</span><button type="submit">Выйти</button></form>'
            "</nav>"
        )
    note = f'<p class="status-line">{status_line}</p>' if status_line else ""
    return (
        '<!doctype html><html lang="ru"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} — fiscal_core</title>"
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="/ui/static/dashboard.css">'
        '<script src="/ui/static/dashboard.js" defer></script></head>'
        f"<body>{nav}<main><h1>{esc(title)}</h1>{note}{body}</main></body></html>"
    )
