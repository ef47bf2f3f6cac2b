"""Registers, the register-count calculator and the live throughput chart.

Rules
- Registers: the same facts as ``GET /api/v1/registers`` (``RegisterHealth``), for the tenant's groups only.
  A worker knows the live health (queue, throughput, rotation) of the groups it fiscalizes; with several
  workers each publishes its own to the intake every 2 s (``Service.register_health``), so any worker's page
  shows every register, at most a few seconds old. Warnings: the dispatcher's reasons, and a drive ≥ 90 % full or
  expiring within 30 days, an OFD backlog older than an hour, a shift open for more than 23 h (it must close
  within 24 h), a register out of rotation.
- Calculator: the form's fields are the ``POST /api/v1/plan`` JSON fields, checked and computed by
  ``fiscal_core.capacity`` exactly as that endpoint does (a GET: it changes nothing); a bad field is shown next
  to it by its path; the chart is ``capacity.chart.p99_chart`` inline (SVG attributes only, no script or style).
- Live: ``/ui/live.json`` answers the tenant's finished-receipt counters (``Intake.finished_counts``, shared by
  all workers) and queue; the page's script polls it every second and draws receipts/s over the last 2 minutes.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from fiscal_core.api.http import Response
from fiscal_core.dashboard.core import Ctx
from fiscal_core.dashboard.html import MSK, esc, field_error, table

__all__ = ["calculator_page", "live_json", "live_page", "register_rows", "registers_page", "warnings_of"]


def register_rows(ctx: Ctx) -> list[dict[str, Any]]:
    groups = ctx.groups()
    rows = [h for h in ctx.svc.register_health() if h["group"] in groups]
    return sorted(rows, key=lambda h: (h["group"], h["register"]))


def warnings_of(h: dict[str, Any]) -> list[str]:
    out = [str(r) for r in h["reasons"]]
    if not h["in_rotation"] and not h["reserve"]:
        out.append("вне ротации")
    if h["fill_percent"] >= 90:
        out.append(f"ФН заполнен на {h['fill_percent']:.0f}%")
    if h["days_to_expiry"] < 30:
        out.append(f"ФН истекает через {max(0.0, h['days_to_expiry']):.0f} дн.")
    if h["oldest_unsent_age_s"] > 3600:
        out.append(f"ОФД: не отправлено {h['oldest_unsent_age_s'] / 3600:.1f} ч")
    if h["shift_open"] and h["shift_age_s"] > 23 * 3600:
        out.append("смена открыта дольше 23 ч")
    return out


def registers_page(ctx: Ctx) -> Response:
    rows = []
    for h in register_rows(ctx):
        warns = warnings_of(h)
        days = h["days_to_expiry"]
        shift = f"№ {h['shift_number']} открыта {h['shift_age_s'] / 3600:.1f} ч" if h["shift_open"] else "закрыта"
        rows.append(
            [
                f'<span class="register">{esc(h["register"])}</span>' + (" (резерв)" if h["reserve"] else ""),
                esc(h["group"]),
                esc(h["fn_number"]),
                f'<span class="num">{h["fill_percent"]:.2f}%</span> ({h["documents"]:,} из {h["capacity"]:,})',
                "∞" if not math.isfinite(days) else f"{days:.0f} дн.",
                esc(shift),
                f"{h['unsent']:,}" + (f" ({h['oldest_unsent_age_s']:.0f} с)" if h["unsent"] else ""),
                str(h["queue"]),
                f"{h['throughput']:.1f}/с",
                f'<span class="warn-list">{esc("; ".join(warns))}</span>'
                if warns
                else '<span class="badge done">ок</span>',
            ]
        )
    head = ("Касса", "Группа", "ФН", "Заполнение ФН", "Срок ФН", "Смена", "ОФД: не отправлено", "Очередь",
            "Поток", "Предупреждения")  # fmt: skip
    now = dt.datetime.fromtimestamp(ctx.svc.clock(), MSK).strftime("%H:%M:%S")
    body = table(head, rows, tid="registers") if rows else '<p class="empty">Касс нет (или они ещё запускаются)</p>'
    return ctx.page("Кассы", body, "registers", status_line=f"Состояние на {now} МСК")


# ---------------------------------------------------------------------------------------------- calculator

_FIELDS = (
    ("daily", "Чеков в сутки", "100000"),
    ("peak", "Пик, чеков/с", "50"),
    ("service_time_s", "Время чека на кассе, с", "1"),
    ("target_wait_s", "Допустимое ожидание, с", "1"),
    ("redundancy", "Запас, касс", "1"),
)


_SVG_CLASS = '<svg class="chart" '


def calculator_page(ctx: Ctx) -> Response:
    from fiscal_core.capacity import PlanInputError
    from fiscal_core.capacity.chart import p99_chart
    from fiscal_core.capacity.inputs import parse_json
    from fiscal_core.capacity.model import build_plan

    q = ctx.req.query
    values = {name: q.get(name, default if not q else "") for name, _, default in _FIELDS}
    service = q.get("service", "exponential")
    errors: dict[str, str] = {}
    result = ""
    if q:
        body: dict[str, Any] = {"service": service}
        for name, value in values.items():
            if value.strip():
                try:
                    body[name] = json.loads(value.strip().replace(",", "."))
                except ValueError:
                    body[name] = value  # the calculator names the field and the problem
        today = dt.datetime.fromtimestamp(ctx.svc.clock(), MSK).date()
        try:
            plan = build_plan(parse_json(json.dumps(body).encode(), today))
        except PlanInputError as exc:
            errors[exc.path or "daily"] = exc.reason
        else:
            p99 = plan.p99_wait_s
            result = (
                '<div class="cards" id="plan-result">'
                f'<div class="card">Нужно касс<b id="plan-registers">{plan.registers}</b></div>'
                f'<div class="card">По скорости<b>{plan.by_speed}</b></div>'
                f'<div class="card">По ресурсу ФН<b>{plan.by_drive}</b></div>'
                f'<div class="card">Загрузка<b>{plan.utilisation * 100:.1f}%</b></div>'
                f'<div class="card">p99 ожидания<b>{"∞" if not math.isfinite(p99) else f"{p99:.3f} с"}</b></div>'
                "</div>"
                f'<div id="plan-chart">{p99_chart(plan).replace("<svg ", _SVG_CLASS, 1)}</div>'
            )
    fields = "".join(
        f'<label>{label}<input name="{name}" value="{esc(values[name])}" size="10">{field_error(errors, name)}</label>'
        for name, label, _ in _FIELDS
    )
    kinds = (("exponential", "экспоненциальное (M/M/c)"), ("fixed", "фиксированное (M/D/c)"))
    options = "".join(f'<option value="{k}"{" selected" if k == service else ""}>{v}</option>' for k, v in kinds)
    form = (
        f'<form method="get" action="/ui/calculator" class="filters" id="calc-form">{fields}'
        f'<label>Время обслуживания<select name="service">{options}</select>{field_error(errors, "service")}</label>'
        '<button type="submit">Рассчитать</button></form>'
    )
    other = "".join(f'<p class="error">{esc(k)}: {esc(v)}</p>' for k, v in errors.items() if k not in values)
    return ctx.page("Калькулятор касс", form + other + result, "calculator", 400 if errors else 200)


# ---------------------------------------------------------------------------------------------- live


def live_json(ctx: Ctx) -> Response:
    done, fail = ctx.svc.intake.finished_counts(ctx.login)
    queue = sum(int(h["queue"]) for h in register_rows(ctx))
    return Response.json({"t": ctx.svc.clock(), "done": done, "fail": fail, "queue": queue},
                         headers=(("Cache-Control", "no-store"),))  # fmt: skip


def live_page(ctx: Ctx) -> Response:
    body = (
        '<div class="cards"><div class="card">Сейчас, чеков/с<b id="live-now">—</b></div>'
        '<div class="card">В очереди<b id="live-queue">—</b></div>'
        '<div class="card">Проведено всего<b id="live-total">—</b></div></div>'
        '<svg id="live-chart" class="chart" viewBox="0 0 720 260" width="720" height="260" data-samples="0" '
        'font-family="sans-serif" font-size="11">'
        '<line x1="48" y1="236" x2="712" y2="236" stroke="#888"/><line x1="48" y1="12" x2="48" y2="236" stroke="#888"/>'
        '<text x="44" y="16" text-anchor="end" id="live-top">1</text><text x="44" y="236" text-anchor="end">0</text>'
        '<text x="380" y="254" text-anchor="middle">последние 2 минуты, чеков в секунду</text>'
        '<polyline points="" fill="none" stroke="#1f5fa8" stroke-width="2"/></svg>'
    )
    return ctx.page("Поток чеков", body, "live")
