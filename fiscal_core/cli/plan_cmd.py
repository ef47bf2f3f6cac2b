"""``fiscal-core plan``: how many registers a load needs, with both bounds and the working (issue 7).

Rules
- The model is :mod:`fiscal_core.capacity` (pure). This module reads the profile CSV and today's date and
  writes the chart, and nothing else touches files or the clock.
- Every value is taken as text and converted here, so a bad or missing one is one line on stderr naming the
  flag (``fiscal-core: error: --daily: must be > 0 …``), exit code 2, never argparse's usage block or a
  traceback. Flags with a fixed set of values are checked the same way, not with argparse ``choices``.
- Output: a summary and a table on a terminal. ``--json`` gives the plan object instead (at least
  ``registers``, ``by_speed``, ``by_drive``, ``binding``, ``p99_wait_s``, ``utilisation``), and
  ``--chart FILE.svg`` writes the p99-against-registers chart.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from typing import Any

from fiscal_core.capacity import MEASURED_SERVICE_TIME_S, PlanInputError, PlanInputs, parse_profile_csv
from fiscal_core.capacity.model import Plan, Waits, build_plan
from fiscal_core.errors import FiscalError

__all__ = ["main", "register"]

#: Field name in the model → the flag that sets it (errors name the flag).
_FLAGS = {
    "daily": "--daily",
    "peak": "--peak",
    "profile": "--profile",
    "service_time_s": "--service-time",
    "measured": "--measured",
    "service": "--service",
    "drive_capacity": "--drive-capacity",
    "validity_months": "--validity-months",
    "replace_every_days": "--replace-every",
    "target_wait_s": "--target-wait",
    "quantile": "--quantile",
    "redundancy": "--redundancy",
    "start": "--start",
    "table": "--table",
}


def _flag(path: str) -> str:
    head = path.split(".", 1)[0].split("[", 1)[0]
    return _FLAGS.get(head, path)


def _num(text: str | None, flag: str) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise PlanInputError(f"expected a number, got {text!r}", flag) from None


def _table(text: str | None) -> tuple[float, float, float] | None:
    if text is None:
        return None
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise PlanInputError(f"expected FROM:TO or FROM:TO:STEP, got {text!r}", "--table")
    values = [_num(p, "--table") for p in parts] + ([1.0] if len(parts) == 2 else [])
    lo, hi, step = (float(v) for v in values if v is not None)
    return lo, hi, step


def _inputs(args: argparse.Namespace) -> PlanInputs:
    start = dt.date.today()  # the CLI is an edge: it may read the clock (architecture.md, layers)
    if args.start is not None:
        try:
            start = dt.date.fromisoformat(args.start)
        except ValueError:
            raise PlanInputError(f"expected YYYY-MM-DD, got {args.start!r}", "--start") from None
    profile = None
    if args.profile_step not in ("second", "hour"):
        raise PlanInputError(f"expected 'second' or 'hour', got {args.profile_step!r}", "--profile-step")
    if args.profile is not None:
        if args.peak is not None:
            raise PlanInputError("give --peak or --profile, not both", "--profile")
        try:
            with open(args.profile, encoding="utf-8-sig") as fh:
                text = fh.read()
        except OSError as exc:
            raise PlanInputError(f"cannot read {args.profile}: {exc.strerror or exc}", "--profile") from None
        except UnicodeDecodeError:
            raise PlanInputError(f"{args.profile} is not UTF-8 text", "--profile") from None
        profile = parse_profile_csv(text, args.profile_step, "--profile")
    try:
        return PlanInputs.checked(
            daily=_num(args.daily, "--daily"),
            start=start,
            peak=_num(args.peak, "--peak"),
            profile=profile,
            service_time_s=_num(args.service_time, "--service-time"),
            measured=args.measured,
            service=args.service,
            drive_capacity=_num(args.drive_capacity, "--drive-capacity"),
            validity_months=_num(args.validity_months, "--validity-months"),
            replace_every_days=_num(args.replace_every, "--replace-every"),
            target_wait_s=_num(args.target_wait, "--target-wait"),
            quantile=_num(args.quantile, "--quantile"),
            redundancy=_num(args.redundancy, "--redundancy"),
            table=_table(args.table),
        )
    except PlanInputError as exc:
        if exc.path.startswith("--"):
            raise
        raise PlanInputError(exc.reason, _flag(exc.path)) from None


def _s(x: float | None) -> str:
    """Seconds for people: ∞, 0, under a tenth of a millisecond, or three significant digits."""
    if x is None or x != x or x == float("inf"):
        return "∞"
    if x == 0:
        return "0 s"
    if x < 1e-4:
        return "<0.1 ms"
    return f"{x:.3g} s" if x < 100 else f"{x:,.0f} s"


def _pct(x: float) -> str:
    if x == 0:
        return "0%"
    if x < 1e-4:
        return "<0.01%"
    if 0.999 < x < 1:
        return f"{100 * x:.2f}%"  # 99.97 %, not a misleading 100.0 %
    return f"{100 * x:.1f}%" if x >= 0.001 else f"{100 * x:.2f}%"


def _n(x: float) -> str:
    """A count or a rate: 10,000 or 0.118, never 1e+04."""
    return f"{x:,.0f}" if x >= 1000 or x == int(x) else f"{x:.4g}"


def _registers(n: int) -> str:
    return f"{n:,} register{'s' if n != 1 else ''}"


def _waits_line(w: Waits) -> str:
    return (
        f"utilisation {_pct(w.utilisation)}, P(wait) {_pct(w.p_wait)}, "
        f"p50 {_s(w.p50_wait_s)}, p99 {_s(w.p99_wait_s)}, mean {_s(w.mean_wait_s)}"
    )


def render(plan: Plan) -> str:
    """The terminal form of a plan: the answer, both bounds with their working, the table."""
    i, sp, dr = plan.inputs, plan.speed, plan.drive
    spare = f"+{i.redundancy} spare" if i.redundancy else "no spare"
    why = {
        "speed": "the speed bound binds",
        "drive": "the drive bound binds",
        "both": "both bounds agree",
    }[plan.binding]
    share = f"{100 * i.quantile:g}%"
    source = "measured, emulated drive" if i.measured else "per receipt"
    lines = [
        f"Registers: {plan.registers:,}  (speed {plan.by_speed:,}, drive {plan.by_drive:,}: {why}; {spare})",
        "",
        f"Speed: peak {_n(i.peak)} receipts/s × {i.service_time_s:g} s ({source}) = {_n(sp.offered_load)} Erlangs; "
        f"target: {share} of receipts wait ≤ {i.target_wait_s:g} s",
        f"  M/M/c, Erlang C (exponential service): {_registers(sp.mmc.registers)} — {_waits_line(sp.mmc)}",
        f"  M/D/c, exact (fixed service):          {_registers(sp.mdc.registers)} — {_waits_line(sp.mdc)}",
        f"  sizing with the {i.service} model: {plan.by_speed:,}",
        f"Drive: {i.daily:,.0f} receipts/day + 2 shift reports per register per day for {dr.lifetime_days} days "
        f"({dr.lifetime_reason}), {dr.capacity:,} documents per drive → {_registers(plan.by_drive)}",
        f"  at {plan.registers:,}: {dr.documents_per_register_per_day:,.1f} documents per drive per day, "
        f"full in {dr.days_to_full:,.1f} days",
        f"At the peak with {_registers(plan.registers)}: {_waits_line(plan.at_peak)}",
        f"  with {i.redundancy} out of rotation ({plan.degraded.registers:,}): {_waits_line(plan.degraded)}",
        "Drive replacements: " + ", ".join(d.isoformat() for d in plan.replacements),
        "",
        f"{'registers':>10} {'util.':>7} {'P(wait) M/M/c':>14} {'p99 M/M/c':>10} {'P(wait) M/D/c':>14} "
        f"{'p99 M/D/c':>10} {'meets':>6} {'drive full in':>14}",
    ]
    for r in plan.table:
        lines.append(
            f"{r.registers:>10,} {_pct(r.utilisation):>7} {_pct(r.p_wait_mmc):>14} {_s(r.p99_wait_s_mmc):>10} "
            f"{_pct(r.p_wait_mdc):>14} {_s(r.p99_wait_s_mdc):>10} {'yes' if r.meets_target else 'no':>6} "
            f"{r.days_to_full:>12,.1f} d"
        )
    lines += ["", "A derived model (cloud-api §3.2); the formulas and their validation: docs/capacity.md."]
    return "\n".join(lines) + "\n"


def _plan(args: argparse.Namespace) -> int:
    plan = build_plan(_inputs(args))
    if args.chart:
        from fiscal_core.capacity.chart import p99_chart

        try:
            with open(args.chart, "w", encoding="utf-8") as fh:
                fh.write(p99_chart(plan))
        except OSError as exc:
            raise PlanInputError(f"cannot write {args.chart}: {exc.strerror or exc}", "--chart") from None
    if args.json:
        json.dump(plan.to_dict(), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render(plan))
        if args.chart:
            sys.stdout.write(f"Chart: {args.chart}\n")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "plan",
        help="how many registers a load needs (speed and drive bounds)",
        description="Size a register pool from daily volume and the per-second peak: the registers needed for "
        "the wait target (M/M/c Erlang C or exact M/D/c) and for the fiscal drives' capacity over their life.",
    )
    p.add_argument("--daily", metavar="RECEIPTS", help="average receipts per day (required)")
    p.add_argument("--peak", metavar="PER_S", help="peak receipts per second (or --profile)")
    p.add_argument(
        "--profile", metavar="FILE", help="load profile CSV instead of --peak: a value per line (last column)"
    )
    p.add_argument("--profile-step", metavar="second|hour", default="second", help="what a profile row covers")
    p.add_argument("--service-time", metavar="SECONDS", help="seconds per receipt on one register (default 1.0)")
    p.add_argument(
        "--measured",
        action="store_true",
        help=f"use the emulated drive's measured {MEASURED_SERVICE_TIME_S * 1000:g} ms per receipt",
    )
    p.add_argument("--service", metavar="exponential|fixed", default="exponential", help="service-time model")
    p.add_argument("--drive-capacity", metavar="DOCUMENTS", default="250000", help="documents per fiscal drive")
    p.add_argument("--validity-months", metavar="MONTHS", default="15", help="fiscal drive validity (15 or 36)")
    p.add_argument("--replace-every", metavar="DAYS", help="replace drives on this cadence instead")
    p.add_argument("--target-wait", metavar="SECONDS", default="1", help="wait target at the quantile (default 1)")
    p.add_argument("--quantile", metavar="Q", default="0.99", help="share of receipts meeting the target")
    p.add_argument("--redundancy", metavar="N", default="1", help="spare registers (default 1: N+1)")
    p.add_argument("--start", metavar="YYYY-MM-DD", help="day the drives are fitted (default today)")
    p.add_argument("--table", metavar="FROM:TO[:STEP]", help="register counts for the table")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--chart", metavar="FILE.svg", help="write the p99-wait-against-registers chart")
    p.set_defaults(func=_plan)


def main(argv: Sequence[str] | None = None) -> int:
    """``fiscal-core plan ARGS`` on its own (for tests and before the top-level CLI lists it)."""
    parser = argparse.ArgumentParser(prog="fiscal-core")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(["plan", *(sys.argv[1:] if argv is None else argv)])
    try:
        code: int = args.func(args)
    except FiscalError as exc:
        print(f"fiscal-core: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
