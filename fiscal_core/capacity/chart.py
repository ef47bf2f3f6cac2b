"""The p99 wait against the register count, as an SVG document (issue 7). No plotting library needed.

Rules
- Layer 1: a plan in, SVG text out. The CLI writes the file (``fiscal-core plan --chart FILE.svg``).
- Both models are drawn: M/M/c (Erlang C) and M/D/c (exact). The plot also shows the target wait (dashed), the speed
  bound of the plan's model (a vertical line) and, in the title, the recommended count when the drive bound
  puts it off to the right.
- The x axis runs from the first stable pool (c > λ·S, where waits stop being infinite) to a little past the
  count where fewer than 1 % of receipts wait, at most ``points`` counts. The y axis is linear, 0 to a
  "nice" bound of about three times the target (or of the chosen model's p99 at the speed bound when the
  target is 0). Steeper parts leave through the top of the plot area (clipped), as the real waits do.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

from fiscal_core.capacity.model import ModelName, Models, Plan

__all__ = ["p99_chart"]

_W, _H = 760, 440
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 24, 56, 56
_COLOURS = {"mmc": "#c0392b", "mdc": "#1f5fa8"}
_LABELS = {"mmc": "M/M/c (Erlang C, exponential service)", "mdc": "M/D/c (fixed service, exact)"}
_NAMES: tuple[ModelName, ...] = ("mmc", "mdc")


def _nice(x: float) -> float:
    """The smallest 1, 2 or 5 × 10^k ≥ x."""
    if x <= 0:
        return 1.0
    k = 10.0 ** math.floor(math.log10(x))
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * k >= x * (1 - 1e-12):
            return m * k
    return 10.0 * k


def _ticks(top: float, count: int = 5) -> list[float]:
    step = _nice(top / count)
    return [i * step for i in range(int(top / step + 1e-9) + 1)]


def _counts(first: int, last: int, points: int) -> list[int]:
    if last - first + 1 <= points:
        return list(range(first, last + 1))
    return sorted({round(first + i * (last - first) / (points - 1)) for i in range(points)})


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 or x == int(x) else f"{x:g}"


def p99_chart(plan: Plan, points: int = 60) -> str:
    """SVG text: p99 wait at the peak for each register count, both models (see the module rules)."""
    inp = plan.inputs
    models = Models(inp.peak, inp.service_time_s, 0.99)
    first = math.floor(models.load) + 1
    last = max(models.no_wait_from(plan.by_speed), plan.by_speed + 1)
    last += max(1, (last - first) // 10)
    counts = _counts(first, last, points)
    chosen: ModelName = "mdc" if inp.service == "fixed" else "mmc"
    top_wait = 3.0 * inp.target_wait_s if inp.target_wait_s > 0 else 3.0 * max(models.p99(chosen, plan.by_speed), 0.1)
    y_top = _nice(top_wait)
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x_of(c: float) -> float:
        return _LEFT + (c - first) / max(last - first, 1) * pw

    def y_of(v: float) -> float:
        # Infinite or huge waits are drawn a little above the top: the clip path cuts them at the edge.
        return _TOP + ph - min(v, 1.2 * y_top) / y_top * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{_W}" height="{_H}" fill="white"/>',
        f'<clipPath id="plot"><rect x="{_LEFT}" y="{_TOP}" width="{pw}" height="{ph}"/></clipPath>',
    ]
    title = (
        f"p99 wait at the peak: {_fmt(inp.peak)} receipts/s, service {_fmt(inp.service_time_s)} s "
        f"({_fmt(models.load)} Erlangs)"
    )
    out.append(f'<text x="{_LEFT}" y="22" font-size="15" font-weight="bold">{escape(title)}</text>')
    note = f"speed bound {plan.by_speed:,} ({_LABELS[chosen].split(' (')[0]}); recommended {plan.registers:,}"
    if plan.registers > last:
        note += f" ({plan.binding}-bound, off the chart)"
    out.append(f'<text x="{_LEFT}" y="40" fill="#444">{escape(note)}</text>')
    for v in _ticks(y_top):
        y = y_of(v)
        out.append(f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + pw}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{_LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{_fmt(v)}</text>')
    for c in _ticks(last - first, 6):
        x = x_of(first + c)
        if x <= _LEFT + pw + 0.5:
            out.append(f'<line x1="{x:.1f}" y1="{_TOP + ph}" x2="{x:.1f}" y2="{_TOP + ph + 5}" stroke="#333"/>')
            out.append(f'<text x="{x:.1f}" y="{_TOP + ph + 19}" text-anchor="middle">{first + round(c):,}</text>')
    out.append(
        f'<rect x="{_LEFT}" y="{_TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>'
        f'<text x="{_LEFT + pw / 2}" y="{_H - 14}" text-anchor="middle">registers in rotation</text>'
        f'<text x="18" y="{_TOP + ph / 2}" text-anchor="middle" transform="rotate(-90 18 {_TOP + ph / 2})">'
        "p99 wait, s</text>"
    )
    if inp.target_wait_s > 0:
        y = y_of(inp.target_wait_s)
        out.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + pw}" y2="{y:.1f}" stroke="#2e8b57" stroke-dasharray="6 4"/>'
            f'<text x="{_LEFT + pw - 4}" y="{y - 5:.1f}" text-anchor="end" fill="#2e8b57">'
            f"target {_fmt(inp.target_wait_s)} s</text>"
        )
    x = x_of(plan.by_speed)
    out.append(
        f'<line x1="{x:.1f}" y1="{_TOP}" x2="{x:.1f}" y2="{_TOP + ph}" stroke="#888" stroke-dasharray="2 3"/>'
        f'<text x="{x + 4:.1f}" y="{_TOP + 14}" fill="#555">{plan.by_speed:,}</text>'
    )
    for i, name in enumerate(_NAMES):
        pts = " ".join(f"{x_of(c):.1f},{y_of(models.p99(name, c)):.1f}" for c in counts)
        out.append(
            f'<polyline clip-path="url(#plot)" fill="none" stroke="{_COLOURS[name]}" stroke-width="2" points="{pts}"/>'
        )
        ly = _TOP + 16 + 16 * i
        lx = _LEFT + pw - 300
        out.append(
            f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 22}" y2="{ly - 4}" stroke="{_COLOURS[name]}" stroke-width="2"/>'
            f'<text x="{lx + 28}" y="{ly}">{escape(_LABELS[name])}</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
