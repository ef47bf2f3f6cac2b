"""Receipts: search, the paged list, one receipt (items, totals, VAT, payments, fiscal data, QR, paper layout)
and the receipts export.

Rules
- Nothing here scans the journal. A search term is tried as a uuid (one get), as an external_id in each of the
  tenant's groups (one get per group: the idempotency index), and when it is a number as an FD number, with an
  optional FN before it (``9999…:123``; the ``fdidx`` prefix scan). A search term ignores the other filters.
- The list is the tenant's feed (finished receipts in commit order), newest first, keyset-paged by feed number
  (``?below=N``): a page costs its 50 rows whatever the feed's length. A date range (Moscow days, as the
  service's timestamps) is turned into a feed-number range by bisection (``Intake.feed_seq_at``) and each row's
  ``at`` is checked as well. Status and register filters are applied while paging: a page then looks at most at
  :data:`SCAN` feed entries and, when it stopped there, says so and offers to go on from where it stopped.
- Pending receipts are not in the feed: a search by uuid or external_id finds them, the list does not.
- Exports (CSV and JSON) take the same filters, read the feed 1,000 rows per read transaction and are streamed
  (``StreamResponse``): memory stays at one chunk whatever the number of rows. CSV cells that a spreadsheet would
  read as a formula (``= + - @``) get a leading ``'``.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import re
import uuid as uuidlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import msgspec
import segno

from fiscal_core.api import views
from fiscal_core.api.http import Response, StreamResponse
from fiscal_core.api.intake import Entry, Outcome
from fiscal_core.dashboard.core import Ctx, day_range, not_found
from fiscal_core.dashboard.html import (
    MSK,
    OPERATION_NAMES,
    VAT_NAMES,
    enum_name,
    esc,
    money,
    msk_time,
    table,
    url,
)
from fiscal_core.ffd.enums import ItemSubject, MeasureUnit, PaymentMethod
from fiscal_core.ffd.receipt import Correction, vat_totals

__all__ = ["SCAN", "export", "receipt_page", "receipts_page"]

PAGE = 50
SCAN = 5000
EXPORT_PAGE = 1000
_FD = re.compile(r"^(?:(\d{16})\s*[:/ ]\s*)?(\d{1,10})$")
_TOP = 1 << 63
Row = tuple[int, bytes, Entry, Outcome | None]


@dataclass
class Filters:
    q: str = ""
    first: dt.date | None = None
    last: dt.date | None = None
    status: str = ""
    register: str = ""
    error: str = ""

    @property
    def query(self) -> dict[str, str]:
        return {
            "q": self.q,
            "from": self.first.isoformat() if self.first else "",
            "to": self.last.isoformat() if self.last else "",
            "status": self.status,
            "register": self.register,
        }

    def span(self) -> tuple[float | None, float | None]:
        """[from, to) in UTC seconds: Moscow midnights."""
        lo = dt.datetime.combine(self.first, dt.time(), MSK).timestamp() if self.first else None
        hi = dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(), MSK).timestamp() if self.last else None
        return lo, hi


def filters_of(query: dict[str, str]) -> Filters:
    f = Filters(q=query.get("q", "").strip()[:256], register=query.get("register", "").strip()[:64])
    status = query.get("status", "")
    f.status = status if status in ("done", "fail") else ""
    first, last, error = day_range(query)
    f.first, f.last, f.error = first or f.first, last or f.last, error or f.error
    return f


def keep_of(f: Filters) -> Callable[[Outcome], bool] | None:
    lo, hi = f.span()
    if not (f.status or f.register or lo is not None or hi is not None):
        return None

    def keep(o: Outcome) -> bool:
        return (
            (not f.status or o.status == f.status)
            and (not f.register or o.register == f.register)
            and (lo is None or o.at >= lo)
            and (hi is None or o.at < hi)
        )

    return keep


def feed_range(ctx: Ctx, f: Filters) -> tuple[int, int]:
    """[floor, ceiling) of feed numbers for the date range (bisection, see the module rules)."""
    lo, hi = f.span()
    intake, login = ctx.svc.intake, ctx.login
    floor = intake.feed_seq_at(login, lo) if lo is not None else 1
    ceiling = intake.feed_seq_at(login, hi) if hi is not None else _TOP
    return floor, ceiling


def search(ctx: Ctx, q: str) -> list[Row]:
    """Receipts of the tenant matching ``q`` as a uuid, an external_id or an FD number (see the module rules)."""
    intake, login = ctx.svc.intake, ctx.login
    found: list[bytes] = []
    with contextlib.suppress(ValueError):
        found.append(uuidlib.UUID(q).bytes)
    for code in ctx.groups():
        u = intake.find(code, q)
        if u is not None:
            found.append(u)
    m = _FD.match(q)
    if m:
        found.extend(intake.by_fd(login, int(m.group(2)), m.group(1) or ""))
    rows: list[Row] = []
    seen: set[bytes] = set()
    for got in intake.reports(dict.fromkeys(found)):
        if got is None or got[1].tenant != login or got[0] in seen:
            continue
        seen.add(got[0])
        uuid, entry, out = got
        rows.append((out.feed_seq if out is not None else 0, uuid, entry, out))
    return rows


# ---------------------------------------------------------------------------------------------- the list


_STATUS = {"done": "проведён", "fail": "ошибка", "wait": "в очереди"}


def _row_cells(row: Row) -> list[str]:
    _, uuid, e, o = row
    u = views.uuid_str(uuid)
    status = "wait" if o is None else o.status
    return [
        esc(msk_time(o.at)) if o is not None else esc(msk_time(e.accepted_at)),
        esc(e.external_id),
        f'<a class="uuid" href="/ui/receipts/{esc(u)}">{esc(u)}</a>',
        esc(OPERATION_NAMES.get(e.operation, e.operation)),
        f'<span class="num">{money(o.total)}</span>' if o is not None and o.status == "done" else "—",
        f'<span class="badge {esc(status)}">{esc(_STATUS.get(status, status))}</span>',
        esc(o.register) if o is not None else "",
        esc(o.fn_number) if o is not None else "",
        str(o.fd_number) if o is not None and o.fd_number else "",
        str(o.shift_number) if o is not None and o.shift_number else "",
    ]


HEAD = ("Время (МСК)", "external_id", "uuid", "Операция", "Сумма", "Статус", "Касса", "ФН", "ФД", "Смена")


def _filter_form(ctx: Ctx, f: Filters) -> str:
    def opt(value: str, label: str, current: str) -> str:
        sel = " selected" if value == current else ""
        return f'<option value="{esc(value)}"{sel}>{esc(label)}</option>'

    statuses = opt("", "все", f.status) + opt("done", "проведён", f.status) + opt("fail", "ошибка", f.status)
    q = f.query
    return (
        '<form method="get" action="/ui/receipts" class="filters" id="search-form">'
        f'<label>Поиск <input name="q" id="q" value="{esc(f.q)}" placeholder="external_id, uuid или номер ФД"></label>'
        f'<label>С <input type="date" name="from" value="{esc(q["from"])}"></label>'
        f'<label>По <input type="date" name="to" value="{esc(q["to"])}"></label>'
        f'<label>Статус <select name="status">{statuses}</select></label>'
        f'<label>Касса <input name="register" value="{esc(f.register)}" size="12"></label>'
        '<button type="submit">Найти</button>'
        f'<a class="button" id="export-csv" href="{esc(url("/ui/export/receipts.csv", q))}">CSV</a>'
        f'<a class="button" id="export-json" href="{esc(url("/ui/export/receipts.json", q))}">JSON</a>'
        "</form>"
    )


def receipts_page(ctx: Ctx) -> Response:
    f = filters_of(ctx.req.query)
    form = _filter_form(ctx, f)
    if f.error:
        return ctx.page("Чеки", form + f'<p class="error">{esc(f.error)}</p>', "receipts", 400)
    if f.q:
        rows = search(ctx, f.q)
        note = f'<p class="count" id="found">Найдено: {len(rows)}</p>'
        body = table(HEAD, (_row_cells(r) for r in rows), tid="receipts") if rows else ""
        return ctx.page("Чеки", form + note + (body or '<p class="empty">Ничего не найдено</p>'), "receipts")
    floor, ceiling = feed_range(ctx, f)
    try:
        below = min(int(ctx.req.query.get("below", "") or _TOP), ceiling)
    except ValueError:
        below = ceiling
    keep = keep_of(f)
    page_rows, resume = ctx.svc.intake.feed_page(
        ctx.login, below=below, floor=floor, limit=PAGE, scan=SCAN if keep else PAGE + 1, keep=keep
    )
    listed: list[Row] = list(page_rows)
    nav = []
    if "below" in ctx.req.query:
        nav.append(f'<a href="{esc(url("/ui/receipts", f.query))}">« Новейшие</a>')
    if resume:
        label = "Старше »" if len(listed) >= PAGE else f"Просмотрено {SCAN:,} чеков — искать дальше »"
        nav.append(f'<a id="older" href="{esc(url("/ui/receipts", {**f.query, "below": resume}))}">{label}</a>')
    pager = f'<p class="pager">{" ".join(nav)}</p>' if nav else ""
    body = table(HEAD, (_row_cells(r) for r in listed), tid="receipts") if listed else '<p class="empty">Чеков нет</p>'
    return ctx.page("Чеки", form + body + pager, "receipts")


# ---------------------------------------------------------------------------------------------- one receipt


def _dl(pairs: list[tuple[str, str]]) -> str:
    return '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in pairs) + "</dl>"


def receipt_page(ctx: Ctx, text: str) -> Response:
    from fiscal_core.api.pipeline import decode_document

    try:
        uuid = uuidlib.UUID(text).bytes
    except ValueError:
        return not_found(ctx, "Чек не найден")
    rep = ctx.svc.intake.report(uuid)
    if rep is None or rep[0].tenant != ctx.login:
        return not_found(ctx, "Чек не найден")
    entry, out = rep
    doc = decode_document(entry)
    u = views.uuid_str(uuid)
    items = [
        [
            str(i + 1),
            f'<span class="name">{esc(it.name)}</span>',
            f'<span class="num">{money(it.price)}</span>',
            esc(it.quantity),
            esc(enum_name(MeasureUnit, it.measure) if it.measure is not None else it.unit_name or ""),
            f'<span class="num">{money(it.sum)}</span>',
            esc(VAT_NAMES.get(int(it.vat), it.vat)),
            esc(enum_name(ItemSubject, it.subject)),
            esc(enum_name(PaymentMethod, it.method)),
        ]
        for i, it in enumerate(doc.items)
    ]
    vats = (
        [(int(v.rate), v.amount, None) for v in doc.vats]
        if doc.vats is not None
        else [(int(rate), vat, turnover) for rate, (vat, turnover) in vat_totals(doc.items).items()]
    )
    p = doc.payments
    payments = [
        (label, amount)
        for label, amount in (
            ("Наличными", p.cash),
            ("Безналичными", p.electronic),
            ("Предоплата (зачёт аванса)", p.prepaid),
            ("Постоплата (кредит)", p.credit),
            ("Встречное предоставление", p.provision),
        )
        if amount
    ]
    status = "wait" if out is None else out.status
    facts = [
        ("uuid", f'<span id="receipt-uuid">{esc(u)}</span>'),
        ("external_id", f'<span id="receipt-external-id">{esc(entry.external_id)}</span>'),
        ("Группа", esc(entry.group)),
        ("Операция", esc(OPERATION_NAMES.get(entry.operation, entry.operation))),
        ("Статус", f'<span class="badge {esc(status)}" id="receipt-status">{esc(_STATUS.get(status, status))}</span>'),
        ("Принят", esc(msk_time(entry.accepted_at))),
    ]
    if isinstance(doc, Correction):
        facts.append(("Коррекция", esc(f"тип {int(doc.correction_type)}, основание {doc.base_date:%d.%m.%Y} "
                                       f"№ {doc.base_number or '—'}")))  # fmt: skip
    fiscal = ""
    qr_block = ""
    paper_fiscal = ""
    if out is not None and out.status == "done":
        qr_text = views.qr_string(entry, out)
        check = ctx.svc.settings.public_url.rstrip("/") + "/api/v1/check?" + qr_text
        fiscal_pairs = [
            ("Дата и время (1012)", esc(dt.datetime.fromisoformat(out.when).strftime("%d.%m.%Y %H:%M:%S"))),
            ("Касса (заводской №)", esc(out.register)),
            ("РН ККТ (1037)", esc(out.registration_number)),
            ("ФН (1041)", f'<span id="fn">{esc(out.fn_number)}</span>'),
            ("ФД (1040)", f'<span id="fd">{out.fd_number}</span>'),
            ("ФП (1077)", esc(out.fiscal_sign)),
            ("Смена (1038)", str(out.shift_number)),
            ("Чек за смену (1042)", str(out.receipt_number)),
            ("ОФД ИНН", esc(ctx.svc.identity(entry.group).ofd_inn)),
        ]
        fiscal = "<h2>Фискальные данные</h2>" + _dl(fiscal_pairs)
        svg = segno.make(qr_text, error="m").svg_data_uri(scale=4, border=2)
        qr_block = (
            f'<figure class="qr"><img id="qr" src="{esc(svg)}" alt="QR-код чека" width="180" height="180">'
            f'<figcaption><code id="qr-text">{esc(qr_text)}</code><br>'
            f'<a id="check-link" href="{esc(check)}">Проверить чек</a></figcaption></figure>'
        )
        paper_fiscal = (
            f"<p>ФН {esc(out.fn_number)} ФД {out.fd_number} ФП {esc(out.fiscal_sign)}</p>"
            f"<p>Смена {out.shift_number} Чек {out.receipt_number}</p>"
            f"<p>{esc(dt.datetime.fromisoformat(out.when).strftime('%d.%m.%Y %H:%M'))}</p>"
            f'<img src="{esc(svg)}" alt="" width="140" height="140">'
        )
    elif out is not None:
        fiscal = f'<p class="error">Ошибка: {esc(out.error_code)} — {esc(out.error_text)}</p>'
    vat_rows = [
        [esc(VAT_NAMES.get(rate, rate)), f'<span class="num">{money(t)}</span>' if t is not None else "—",
         f'<span class="num">{money(v)}</span>'] for rate, v, t in vats
    ]  # fmt: skip
    totals = (
        "<h2>Итоги</h2>"
        + _dl(
            [("Итого", f'<b class="num" id="total">{money(doc.total)}</b>')]
            + [(esc(label), f'<span class="num">{money(a)}</span>') for label, a in payments]
        )
        + (table(("Ставка", "Оборот", "НДС"), vat_rows, tid="vats") if vat_rows else "")
    )
    paper = (
        '<section class="paper" id="paper"><p class="center">КАССОВЫЙ ЧЕК</p>'
        f'<p class="center">{esc(OPERATION_NAMES.get(entry.operation, entry.operation).upper())}</p>'
        + "".join(
            f'<div class="line"><span>{esc(it.name)}</span><span>{esc(it.quantity)} × {money(it.price)} = '
            f"{money(it.sum)}</span></div>"
            for it in doc.items
        )
        + f'<div class="line total"><span>ИТОГ</span><span>{money(doc.total)}</span></div>'
        + "".join(f'<div class="line"><span>{esc(label)}</span><span>{money(a)}</span></div>' for label, a in payments)
        + "".join(
            f'<div class="line"><span>{esc(VAT_NAMES.get(rate, rate))}</span><span>{money(v)}</span></div>'
            for rate, v, _ in vats
        )
        + paper_fiscal
        + "</section>"
    )
    body = (
        '<div class="actions"><a href="/ui/receipts">« К чекам</a> <button type="button" data-print>Печать</button>'
        "</div>"
        '<div class="receipt-grid"><div>'
        + _dl(facts)
        + fiscal
        + "</div>"
        + qr_block
        + "</div><h2>Позиции</h2>"
        + table(("№", "Наименование", "Цена", "Кол-во", "Ед.", "Сумма", "НДС", "Предмет", "Способ"), items, tid="items")
        + totals
        + paper
    )
    return ctx.page(f"Чек {entry.external_id}", body, "receipts")


# ---------------------------------------------------------------------------------------------- export

CSV_HEAD = (
    "finished_at_msk", "uuid", "external_id", "group_code", "operation", "status", "total", "register", "fn_number",
    "fd_number", "fiscal_sign", "shift_number", "receipt_number", "receipt_datetime", "error",
)  # fmt: skip
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA) else text


def _csv_row(fseq: int, uuid: bytes, e: Entry, o: Outcome) -> list[object]:
    done = o.status == "done"
    return [
        dt.datetime.fromtimestamp(o.at, MSK).isoformat(timespec="seconds"),
        views.uuid_str(uuid),
        safe_cell(e.external_id),
        e.group,
        e.operation,
        o.status,
        money(o.total).replace("\u202f", "") if done else "",
        o.register,
        o.fn_number,
        o.fd_number if done else "",
        o.fiscal_sign if done else "",
        o.shift_number if done else "",
        o.receipt_number if done else "",
        o.when,
        safe_cell(o.error_text),
    ]


def feed_rows(ctx: Ctx, f: Filters) -> Iterator[list[tuple[int, bytes, Entry, Outcome]]]:
    """The filtered feed, newest first, a list of up to EXPORT_PAGE rows per read transaction."""
    floor, below = feed_range(ctx, f)
    keep = keep_of(f)
    intake, login = ctx.svc.intake, ctx.login
    while below:
        rows, below = intake.feed_page(login, below=below, floor=floor, limit=EXPORT_PAGE, scan=20 * EXPORT_PAGE,
                                       keep=keep)  # fmt: skip
        if rows:
            yield rows


def _csv_chunks(ctx: Ctx, f: Filters) -> Iterator[bytes]:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_HEAD)
    yield ("\ufeff" + buf.getvalue()).encode()  # the BOM: spreadsheets then read UTF-8
    for rows in feed_rows(ctx, f):
        buf.seek(0)
        buf.truncate()
        w.writerows(_csv_row(*r) for r in rows)
        yield buf.getvalue().encode()


_json = msgspec.json.Encoder()


def _json_chunks(ctx: Ctx, f: Filters) -> Iterator[bytes]:
    yield b'{"receipts":['
    first = True
    for rows in feed_rows(ctx, f):
        parts = [_json.encode(views.native_result(u, e, o)) for _, u, e, o in rows]
        yield (b"" if first else b",") + b",".join(parts)
        first = False
    yield b"]}"


def export(ctx: Ctx, fmt: str) -> Response | Awaitable[Response]:
    f = filters_of(ctx.req.query)
    if fmt not in ("csv", "json") or f.error:
        return not_found(ctx, f.error or "Формат выгрузки: csv или json")
    stamp = dt.datetime.fromtimestamp(ctx.svc.clock(), MSK).strftime("%Y%m%d-%H%M%S")
    disposition = ("Content-Disposition", f'attachment; filename="receipts-{stamp}.{fmt}"')
    headers = (disposition, ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"))
    if fmt == "csv":
        return StreamResponse(200, _csv_chunks(ctx, f), "text/csv; charset=utf-8", headers)
    return StreamResponse(200, _json_chunks(ctx, f), "application/json; charset=utf-8", headers)
