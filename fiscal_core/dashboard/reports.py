"""Reports: sales per day, per shift or per register, by settlement sign and VAT rate; CSV and JSON export.

Rules
- Read from the intake's ``agg`` index only (per tenant, local day of the receipt's 1012, group, register and
  shift; written once per batch of outcomes): a report over a year costs one read per (day, register, shift),
  never a read per receipt. The days are the receipts' own local days, as on the register's shift reports.
- Grouping: ``day`` (all registers of a day), ``shift`` (a register's shift on a day — a shift crossing
  midnight shows on both days), ``register`` (the whole period). Rows by kind: the 1054 settlement sign, and the
  corrections of each sign apart. VAT rows: turnover and VAT per rate as the receipts state them.
- Exports stream one flat row per (key, kind, rate): ``vat_rate`` 0 is the receipt row (receipts, total, cash,
  electronic), other rates the VAT rows (turnover, vat, items).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass

import msgspec

from fiscal_core.api.http import Response, StreamResponse
from fiscal_core.api.intake import RECEIPT_ROW, AggRow
from fiscal_core.dashboard.core import Ctx, day_range, not_found
from fiscal_core.dashboard.html import KIND_NAMES, MSK, VAT_NAMES, esc, money, table, url

__all__ = ["export", "report_rows", "reports_page"]

BY = {"day": ("Дата",), "shift": ("Дата", "Группа", "Касса", "Смена"), "register": ("Группа", "Касса")}
_KEYS = {"day": ("day",), "shift": ("day", "group", "register", "shift"), "register": ("group", "register")}


@dataclass
class Query:
    first: dt.date
    last: dt.date
    by: str
    error: str = ""

    @property
    def params(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "by": self.by}


def query_of(ctx: Ctx) -> Query:
    today = dt.datetime.fromtimestamp(ctx.svc.clock(), MSK).date()
    q = Query(today - dt.timedelta(days=6), today, ctx.req.query.get("by", "day"))
    if q.by not in BY:
        q.by = "day"
    first, last, error = day_range(ctx.req.query)
    q.first, q.last, q.error = first or q.first, last or q.last, error or q.error
    return q


def _key(a: AggRow, by: str) -> tuple[str | int, ...]:
    if by == "day":
        return (a.day,)
    if by == "shift":
        return (a.day, a.group, a.register, a.shift)
    return (a.group, a.register)


def report_rows(ctx: Ctx, q: Query) -> Iterator[tuple[tuple[str | int, ...], dict[tuple[int, int], list[int]]]]:
    """(key, {(kind, rate): values}) in key order. ``day`` and ``shift`` stream in the index's order; ``register``
    sums the period first (memory: one entry per register)."""
    source = ctx.svc.intake.aggregates(ctx.login, q.first.isoformat(), q.last.isoformat())
    if q.by == "register":
        acc: dict[tuple[str | int, ...], dict[tuple[int, int], list[int]]] = {}
        for a in source:
            _add(acc.setdefault(_key(a, q.by), {}), a.rows)
        yield from sorted(acc.items())
        return
    current: tuple[str | int, ...] | None = None
    rows: dict[tuple[int, int], list[int]] = {}
    for a in source:
        key = _key(a, q.by)
        if key != current:
            if current is not None:
                yield current, rows
            current, rows = key, {}
        _add(rows, a.rows)
    if current is not None:
        yield current, rows


def _add(into: dict[tuple[int, int], list[int]], rows: dict[tuple[int, int], list[int]]) -> None:
    for k, v in rows.items():
        got = into.get(k)
        if got is None:
            into[k] = list(v)
        else:
            for i, x in enumerate(v):
                got[i] += x


def reports_page(ctx: Ctx) -> Response:
    q = query_of(ctx)
    form = (
        '<form method="get" action="/ui/reports" class="filters" id="report-form">'
        f'<label>С <input type="date" name="from" value="{esc(q.first.isoformat())}"></label>'
        f'<label>По <input type="date" name="to" value="{esc(q.last.isoformat())}"></label>'
        '<label>Группировка <select name="by">'
        + "".join(
            f'<option value="{k}"{" selected" if k == q.by else ""}>{label}</option>'
            for k, label in (("day", "по дням"), ("shift", "по сменам"), ("register", "по кассам"))
        )
        + '</select></label><button type="submit">Показать</button>'
        f'<a class="button" id="report-csv" href="{esc(url("/ui/export/report.csv", q.params))}">CSV</a>'
        f'<a class="button" id="report-json" href="{esc(url("/ui/export/report.json", q.params))}">JSON</a></form>'
    )
    if q.error:
        return ctx.page("Отчёты", form + f'<p class="error">{esc(q.error)}</p>', "reports", 400)
    sales: list[list[str]] = []
    vats: list[list[str]] = []
    totals: dict[tuple[int, int], list[int]] = {}
    for key, rows in report_rows(ctx, q):
        cells = [esc(k) for k in key]
        for (kind, rate), v in sorted(rows.items()):
            name = esc(KIND_NAMES.get(kind, kind))
            if rate == RECEIPT_ROW:
                sales.append([*cells, name, str(v[0]), *(f'<span class="num">{money(x)}</span>' for x in v[1:4])])
            else:
                vats.append([*cells, name, esc(VAT_NAMES.get(rate, rate)), f'<span class="num">{money(v[0])}</span>',
                             f'<span class="num">{money(v[1])}</span>', str(v[2])])  # fmt: skip
        _add(totals, rows)
    head = BY[q.by]
    summary = [
        [esc(KIND_NAMES.get(kind, kind)), str(v[0]), *(f'<span class="num">{money(x)}</span>' for x in v[1:4])]
        for (kind, rate), v in sorted(totals.items())
        if rate == RECEIPT_ROW
    ]
    body = form + (
        "<h2>Итого за период</h2>"
        + table(("Тип", "Чеков", "Сумма", "Наличными", "Безналичными"), summary, tid="report-total")
        + "<h2>Продажи</h2>"
        + table((*head, "Тип", "Чеков", "Сумма", "Наличными", "Безналичными"), sales, tid="report-sales")
        + "<h2>По ставкам НДС</h2>"
        + table((*head, "Тип", "Ставка", "Оборот", "НДС", "Позиций"), vats, tid="report-vat")
        if summary
        else '<p class="empty">За период чеков нет</p>'
    )
    return ctx.page("Отчёты", body, "reports")


CSV_HEAD = (
    "day", "group_code", "register", "shift", "kind", "kind_name", "vat_rate", "receipts", "total", "cash",
    "electronic", "turnover", "vat", "items",
)  # fmt: skip


def _flat(q: Query, key: tuple[str | int, ...], rows: dict[tuple[int, int], list[int]]) -> Iterator[dict[str, object]]:
    named = dict(zip(_KEYS[q.by], key, strict=True))
    base: dict[str, object] = {"day": "", "group_code": "", "register": "", "shift": ""}
    base.update({("group_code" if k == "group" else k): v for k, v in named.items()})
    for (kind, rate), v in sorted(rows.items()):
        row: dict[str, object] = {**base, "kind": kind, "kind_name": KIND_NAMES.get(kind, str(kind)), "vat_rate": rate}
        if rate == RECEIPT_ROW:
            row.update(receipts=v[0], total=v[1], cash=v[2], electronic=v[3], turnover="", vat="", items="")
        else:
            row.update(receipts="", total="", cash="", electronic="", turnover=v[0], vat=v[1], items=v[2])
        yield row


def _csv_chunks(ctx: Ctx, q: Query) -> Iterator[bytes]:
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_HEAD, lineterminator="\r\n")
    w.writeheader()
    yield ("\ufeff" + buf.getvalue()).encode()
    for n, (key, rows) in enumerate(report_rows(ctx, q), 1):
        w.writerows(_flat(q, key, rows))
        if n % 200 == 0:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()


def _json_chunks(ctx: Ctx, q: Query) -> Iterator[bytes]:
    enc = msgspec.json.Encoder()
    yield b'{"from":' + enc.encode(q.first.isoformat()) + b',"to":' + enc.encode(q.last.isoformat())
    yield b',"by":' + enc.encode(q.by) + b',"money":"kopecks","rows":['
    sep = b""
    for key, rows in report_rows(ctx, q):
        flat = list(_flat(q, key, rows))
        yield sep + b",".join(enc.encode(r) for r in flat)
        sep = b","
    yield b"]}"


def export(ctx: Ctx, fmt: str) -> Response | Awaitable[Response]:
    q = query_of(ctx)
    if fmt not in ("csv", "json") or q.error:
        return not_found(ctx, q.error or "Формат выгрузки: csv или json")
    name = f"report-{q.by}-{q.first:%Y%m%d}-{q.last:%Y%m%d}.{fmt}"
    headers = (("Content-Disposition", f'attachment; filename="{name}"'), ("Cache-Control", "no-store"),
               ("X-Content-Type-Options", "nosniff"))  # fmt: skip
    if fmt == "csv":
        return StreamResponse(200, _csv_chunks(ctx, q), "text/csv; charset=utf-8", headers)
    return StreamResponse(200, _json_chunks(ctx, q), "application/json; charset=utf-8", headers)
