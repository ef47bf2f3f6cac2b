"""Manual receipt and correction forms: punched by hand, registered exactly as the ATOL API registers them.

Rules
- Form fields are named by their ATOL JSON paths (``receipt.items[0].price``, ``correction.correction_info.
  base_date``); the posted form is turned back into the ATOL request body (numbers where ATOL has numbers; a
  value that is not a number is passed on as text for the validator to refuse) and sent through
  ``Service._register`` — the same token-less path as ``POST /possystem/{v}/{group}/{operation}`` after the
  token check: group ownership and FFD version, operation, rate limit, ``validate()``, capabilities, admission
  gate, idempotency and the journal. Nothing is stored when it refuses.
- Refusals come back as the API's ``fields: [{path, message}]`` and are shown next to the field of that path
  (the others above the form). A repeated ``external_id`` (ATOL 33) links to the original receipt.
- Accepted: a redirect to the receipt's page, which shows it queued until it is fiscalized (then it is in the
  search and the list like any other). ``timestamp`` is the time of posting; empty trailing item rows are
  left out; empty fields are left out (the validator then says which are required).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Awaitable
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from fiscal_core.api import atol
from fiscal_core.api.http import Request, Response
from fiscal_core.dashboard.core import Ctx, redirect
from fiscal_core.dashboard.html import MSK, esc, field_error
from fiscal_core.ffd.enums import ItemSubject
from fiscal_core.registers.model import tax_names

__all__ = ["build_body", "form_page", "unflatten"]

ITEM_ROWS = 3
_SEGMENT = re.compile(r"([A-Za-z_]+)(?:\[(\d{1,3})\])?")
_NUMERIC = frozenset({"price", "quantity", "sum", "total", "measure"})
_encode = msgspec.json.Encoder(decimal_format="number").encode
_OPERATIONS = {
    "receipt": ("sell", "sell_refund", "buy", "buy_refund"),
    "correction": ("sell_correction", "buy_correction", "sell_refund_correction", "buy_refund_correction"),
}
_OP_LABELS = {
    "sell": "приход", "sell_refund": "возврат прихода", "buy": "расход", "buy_refund": "возврат расхода",
    "sell_correction": "коррекция прихода", "buy_correction": "коррекция расхода",
    "sell_refund_correction": "коррекция возврата прихода", "buy_refund_correction": "коррекция возврата расхода",
}  # fmt: skip
_PAYMENT_TYPES = (("1", "безналичными"), ("0", "наличными"), ("2", "предоплата"), ("3", "постоплата"),
                  ("4", "встречное предоставление"))  # fmt: skip


def unflatten(fields: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b[0].c": v}`` → ``{"a": {"b": [{"c": v}]}}``; list holes become ``{}`` (the validator names them)."""
    root: dict[str, Any] = {}
    for path, value in fields.items():
        node: Any = root
        segments = path.split(".")
        for i, seg in enumerate(segments):
            m = _SEGMENT.fullmatch(seg)
            if m is None:
                break
            name, index = m.group(1), m.group(2)
            last = i == len(segments) - 1
            if index is None:
                if last:
                    node[name] = value
                else:
                    node = node.setdefault(name, {})
            else:
                seq = node.setdefault(name, [])
                k = int(index)
                while len(seq) <= k:
                    seq.append({})
                if last:
                    seq[k] = value
                else:
                    node = seq[k]
    return root


def _value(path: str, text: str, version: int) -> Any:
    leaf = path.rsplit(".", 1)[-1]
    numeric = leaf in _NUMERIC or (leaf == "type" and ".payments[" in path)
    numeric = numeric or (leaf == "sum" and ".vats[" in path) or (leaf == "payment_object" and version == 5)
    if not numeric:
        return text
    try:
        number = Decimal(text.replace(",", ".").replace("\u202f", "").replace(" ", ""))
    except InvalidOperation:
        return text
    if not number.is_finite():
        return text
    return int(number) if number == number.to_integral_value() and "." not in text else number


def build_body(form: dict[str, str], kind: str, version: int, now: float) -> bytes:
    """The ATOL request body of a posted form (see the module rules)."""
    fields: dict[str, Any] = {}
    prefix = kind + "."
    rows: dict[int, dict[str, str]] = {}
    for name, text in form.items():
        text = text.strip()
        if name.startswith(prefix + "items["):
            k = int(name[len(prefix) + 6 : name.index("]")]) if "]" in name else 0
            rows.setdefault(k, {})[name] = text
            continue
        if (name.startswith(prefix) or name == "external_id") and text:
            fields[name] = _value(name, text, version)
    filled = [k for k, row in rows.items() if any(row.get(f"{prefix}items[{k}].{f}") for f in ("name", "price", "sum"))]
    last = max(filled, default=-1)
    for k, row in rows.items():
        if k <= last:
            fields.update({n: _value(n, t, version) for n, t in row.items() if t})
    body = unflatten(fields)
    body["timestamp"] = dt.datetime.fromtimestamp(now, MSK).strftime("%d.%m.%Y %H:%M:%S")
    body.setdefault("service", {"callback_url": ""})
    return _encode(body)


# ---------------------------------------------------------------------------------------------- the page


def _select(name: str, options: list[tuple[str, str]], form: dict[str, str], default: str,
            errors: dict[str, str]) -> str:  # fmt: skip
    current = form.get(name, default)
    opts = "".join(
        f'<option value="{esc(v)}"{" selected" if v == current else ""}>{esc(label)}</option>' for v, label in options
    )
    return f'<select name="{esc(name)}" id="{esc(name)}">{opts}</select>{field_error(errors, name)}'


def _input(name: str, form: dict[str, str], errors: dict[str, str], *, size: int = 12, extra: str = "") -> str:
    return (
        f'<input name="{esc(name)}" id="{esc(name)}" value="{esc(form.get(name, ""))}" size="{size}"{extra}>'
        + field_error(errors, name)
    )


def _items(kind: str, version: int, form: dict[str, str], errors: dict[str, str]) -> str:
    vats = [(k, k) for k in atol.VAT_TYPES]
    methods = [(k, k) for k in atol.PAYMENT_METHODS]
    if version == 4:
        objects = [(k, k) for k in atol.PAYMENT_OBJECTS_V4]
    else:
        objects = [(str(int(s)), f"{int(s)} {s.name.lower()}") for s in ItemSubject]
    out = []
    for i in range(ITEM_ROWS):
        p = f"{kind}.items[{i}]."
        unit = (
            f"<label>Ед. изм.{_input(p + 'measurement_unit', form, errors, size=6)}</label>"
            if version == 4
            else f"<label>Мера (2108){_input(p + 'measure', form, errors, size=3)}</label>"
        )
        out.append(
            f'<div class="row" data-item="{i}">'
            f"<label>Наименование{_input(p + 'name', form, errors, size=28)}</label>"
            f"<label>Цена{_input(p + 'price', form, errors, size=8, extra=' data-price')}</label>"
            f"<label>Кол-во{_input(p + 'quantity', form, errors, size=5, extra=' data-qty')}</label>"
            f"<label>Сумма{_input(p + 'sum', form, errors, size=8, extra=' data-sum')}</label>{unit}"
            f"<label>НДС{_select(p + 'vat.type', vats, form, 'vat20', errors)}</label>"
            f"<label>Способ{_select(p + 'payment_method', methods, form, 'full_payment', errors)}</label>"
            f"<label>Предмет{_select(p + 'payment_object', objects, form, objects[0][0], errors)}</label>"
            "</div>"
        )
    return "<fieldset><legend>Позиции</legend>" + "".join(out) + "</fieldset>"


def _page(ctx: Ctx, kind: str, group: Any, form: dict[str, str], errors: dict[str, str], top: str,
          status: int = 200) -> Response:  # fmt: skip
    version = 4 if group.ffd == "1.05" else 5
    ops = [(op, _OP_LABELS[op]) for op in _OPERATIONS[kind] if version in atol.OPERATIONS[op].versions]
    tenant = ctx.svc._fresh_model().tenants[ctx.login]
    snos = [(n, n) for n in tax_names(tenant.tax_systems)]
    p = kind + "."
    form.setdefault("external_id", f"ui-{secrets.token_hex(6)}")
    form.setdefault(p + "company.inn", tenant.inn)
    form.setdefault(p + "company.payment_address", "https://shop.example/")
    switch = " ".join(
        f'<a href="/ui/new/{kind}?group={esc(code)}"{" class=active" if code == group.code else ""}>{esc(code)}</a>'
        for code in ctx.groups()
    )
    head = (
        f'<p class="hint">Группа: {switch} (ФФД {esc(group.ffd)}, API v{version})</p>'
        f'<form method="post" action="/ui/new/{kind}" id="manual-form" class="manual">{ctx.csrf_field()}'
        f'<input type="hidden" name="group" value="{esc(group.code)}">'
        '<fieldset><legend>Чек</legend><div class="row">'
        f"<label>external_id{_input('external_id', form, errors, size=24)}</label>"
        f"<label>Операция{_select('operation', ops, form, ops[0][0], errors)}</label>"
        f"<label>СНО{_select(p + 'company.sno', snos, form, snos[0][0], errors)}</label>"
        f"<label>ИНН{_input(p + 'company.inn', form, errors)}</label>"
        f"<label>Место расчётов{_input(p + 'company.payment_address', form, errors, size=24)}</label>"
    )
    if kind == "receipt":
        head += (
            f"<label>E-mail покупателя{_input(p + 'client.email', form, errors, size=20)}</label>"
            f"<label>E-mail магазина{_input(p + 'company.email', form, errors, size=20)}</label>"
        )
    head += "</div></fieldset>"
    if kind == "correction":
        types = [("self", "самостоятельно"), ("instruction", "по предписанию")]
        ci = p + "correction_info."
        head += (
            '<fieldset><legend>Основание коррекции</legend><div class="row">'
            f"<label>Тип{_select(ci + 'type', types, form, 'self', errors)}</label>"
            f"<label>Дата документа (ДД.ММ.ГГГГ){_input(ci + 'base_date', form, errors, size=10)}</label>"
            f"<label>Номер предписания{_input(ci + 'base_number', form, errors, size=10)}</label>"
            "</div></fieldset>"
        )
    items = _items(kind, version, form, errors) if kind == "receipt" or version == 5 else ""
    vats = [(k, k) for k in atol.VAT_TYPES]
    money_rows = (
        '<fieldset><legend>Оплата</legend><div class="row">'
        f"<label>Вид оплаты{_select(p + 'payments[0].type', list(_PAYMENT_TYPES), form, '1', errors)}</label>"
        f"<label>Сумма оплаты{_input(p + 'payments[0].sum', form, errors, size=10, extra=' data-total')}</label>"
    )  # fmt: skip
    if kind == "receipt" or version == 5:
        money_rows += f"<label>Итого{_input(p + 'total', form, errors, size=10, extra=' data-total')}</label>"
    if kind == "correction":
        money_rows += (
            f"<label>Ставка НДС{_select(p + 'vats[0].type', vats, form, 'vat20', errors)}</label>"
            f"<label>Сумма НДС{_input(p + 'vats[0].sum', form, errors, size=10)}</label>"
        )  # fmt: skip
    money_rows += "</div></fieldset>"
    shown = {k for k in errors if f'name="{k}"' in head + items + money_rows}
    rest = [f"<li>{esc(k)}: {esc(v)}</li>" for k, v in errors.items() if k not in shown]
    problems = (f'<div class="error" id="form-errors"><p>{esc(top)}</p><ul>{"".join(rest)}</ul></div>'
                if top or rest else "")  # fmt: skip
    body = problems + head + items + money_rows + '<button type="submit" id="submit">Пробить</button></form>'
    title = "Новый чек" if kind == "receipt" else "Чек коррекции"
    return ctx.page(title, body, "new" if kind == "receipt" else "correction", status)


def form_page(ctx: Ctx, kind: str, form: dict[str, str]) -> Response | Awaitable[Response]:
    from fiscal_core.api.service import ApiError

    groups = ctx.groups()
    if not groups:
        return ctx.page("Новый чек", '<p class="empty">У вас нет групп касс</p>', "new")
    code = (form.get("group") if ctx.req.method == "POST" else ctx.req.query.get("group")) or next(iter(groups))
    group = groups.get(code)
    if group is None:  # another tenant's group or none: as if it did not exist
        return ctx.page("Новый чек", '<p class="error">Группа не найдена</p>', "new", 404)
    if ctx.req.method != "POST":
        return _page(ctx, kind, group, {}, {}, "")
    version = 4 if group.ffd == "1.05" else 5
    operation = form.get("operation", "")
    if operation not in _OPERATIONS[kind]:
        return _page(ctx, kind, group, form, {"operation": "неизвестная операция"}, "Проверьте поля", 400)
    body = build_body(form, kind, version, ctx.svc.clock())
    req = Request(
        "POST",
        f"/possystem/v{version}/{group.code}/{operation}",
        {},
        {"content-type": "application/json; charset=utf-8"},
        body,
        True,
        ctx.req.remote,
    )
    try:
        checked = ctx.svc._group(ctx.login, group.code, version)
        got = ctx.svc._register(req, ctx.login, checked, version, operation)
    except ApiError as err:
        return _refused(ctx, kind, group, form, err.text, err.fields or [])
    return _after(ctx, kind, group, form, got)


async def _after(ctx: Ctx, kind: str, group: Any, form: dict[str, str],
                 got: Response | Awaitable[Response]) -> Response:  # fmt: skip
    resp = got if isinstance(got, Response) else await got
    answer = json.loads(resp.body)
    error = answer.get("error")
    if not error:
        return redirect(f"/ui/receipts/{answer['uuid']}")
    if error.get("code") == 33:
        link = f'<a id="original" href="/ui/receipts/{esc(answer["uuid"])}">исходный чек</a>'
        errors = {"external_id": "этот external_id уже использован"}
        page = _page(ctx, kind, group, form, errors, "Чек с таким external_id уже есть", 400)
        page.body = page.body.replace(b"</ul></div>", f"</ul><p>{link}</p></div>".encode(), 1)
        return page
    return _refused(ctx, kind, group, form, str(error.get("text", "")), error.get("fields") or [])


def _refused(ctx: Ctx, kind: str, group: Any, form: dict[str, str], text: str,
             fields: list[dict[str, Any]]) -> Response:  # fmt: skip
    errors: dict[str, str] = {}
    for f in fields:
        errors.setdefault(str(f.get("path", "")), str(f.get("message", "")))
    status = 429 if "rate limit" in text else 400
    return _page(ctx, kind, group, form, errors, "Чек не принят: " + text.split(": ", 1)[0], status)
