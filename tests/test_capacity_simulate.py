"""Issue 7 acceptance: the analytic p99 wait against a simulation of the real dispatcher, over a grid.

The grid size comes from ``FISCAL_CORE_CAPACITY_GRID``:
- unset or ``ci``: a meaningful subset sized for CI (about 20 s). Small and medium pools run under the real
  dispatcher. Pools of several hundred registers run on the shared-FIFO simulator, because their statistics
  need millions of receipts. That stands in for the dispatcher because
  :func:`test_fixed_service_dispatcher_is_fcfs_receipt_for_receipt` shows the two give the same waits.
- ``full``: λ 0.5–500/s × S 0.5–2 s × pool sizes at P(wait) ≈ 30 %, 10 %, 3 %, 1.2 % and 0.3 % (c ≤ 600), every
  point under the real dispatcher, with 1–12 million receipts each (about 20 minutes per service model).
  Pass ``-k`` to split it over cores.

A full-grid point that disagrees while the simulation's own 95 % interval on its p99 is wider than ±5 % is
too noisy to judge. It is run 4× longer, twice at most: the same random stream, extended.

``FISCAL_CORE_CAPACITY_REPORT=DIR`` writes one JSON line per point to ``DIR/<test>.jsonl`` (docs/capacity.md
quotes such a run). "Agreement within 10 %" is :class:`fiscal_core.capacity.simulate.Agreement`. It is
relative on the p99, or on the tail level where the p99 sits on the atom at zero.
"""

from __future__ import annotations

import json
import math
import os
import pathlib

import numpy as np
import pytest

from fiscal_core.capacity.erlang import MMc
from fiscal_core.capacity.mdc import MDc
from fiscal_core.capacity.simulate import (
    Agreement,
    GridPoint,
    JsqBound,
    SimResult,
    compare,
    receipts_for,
    simulate,
    validation_grid,
    waits,
)

GRID = os.environ.get("FISCAL_CORE_CAPACITY_GRID", "ci")
REPORT = os.environ.get("FISCAL_CORE_CAPACITY_REPORT")
#: Times an unresolved point may be run 4× longer: none in CI (its points are sized to resolve), two in full.
EXTEND = 2 if GRID == "full" else 0

FULL_RATES = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)
FULL_TIMES = (0.5, 1, 2)
FULL_LEVELS = (0.3, 0.1, 0.03, 0.012, 0.003)
# (λ, S, P(wait) level) picks for CI: pools of 2–61 registers through the dispatcher, 282–531 through the
# shared queue; every regime: p99 well above 0, near the atom at 0 (0.012, 0.03), and 0 (0.003).
CI_SMALL = ((0.5, 1, 0.1), (0.5, 2, 0.03), (5, 0.5, 0.1), (5, 2, 0.012), (5, 1, 0.3), (20, 1, 0.1), (50, 1, 0.1))
CI_SMALL += ((50, 0.5, 0.003),)
CI_LARGE = ((200, 2, 0.1), (500, 1, 0.1), (500, 0.5, 0.1))


def _picks(picks: tuple[tuple[float, float, float], ...], service: str) -> list[GridPoint]:
    out: list[GridPoint] = []
    for lam, s, level in picks:
        out += validation_grid([lam], [s], [level], service)  # type: ignore[arg-type]
    return out


def _seed(p: GridPoint) -> int:
    return int(p.arrival_rate * 1000) + int(p.service_time_s * 10) * 7919 + p.registers * 104729


def _run(p: GridPoint, discipline: str, receipts: int) -> SimResult:
    return simulate(
        p.arrival_rate,
        p.service_time_s,
        p.registers,
        service=p.service,
        discipline=discipline,  # type: ignore[arg-type]
        receipts=receipts,
        seed=_seed(p),
    )


def _record(name: str, p: GridPoint, sim: SimResult, a: Agreement, extra: dict[str, object] | None = None) -> None:
    row = {
        "lambda": p.arrival_rate,
        "S": p.service_time_s,
        "c": p.registers,
        "service": p.service,
        "discipline": sim.discipline,
        "level": p.level,
        "receipts": sim.receipts,
        "model_p99": a.model_p99,
        "sim_p99": a.sim_p99,
        "sim_p99_ci": a.sim_p99_ci,
        "model_p_wait": a.model_p_wait,
        "sim_p_wait": a.sim_p_wait,
        "sim_p_wait_ci": sim.p_wait_ci,
        "relative_error": a.relative_error,
        "level_error": a.level_error,
        "agrees": a.agrees,
        "how": a.how,
        **(extra or {}),
    }
    print(
        f"{name}: λ={p.arrival_rate:g} S={p.service_time_s:g} c={p.registers} n={sim.receipts}: model p99 "
        f"{a.model_p99:.4f} sim {a.sim_p99:.4f}±{a.sim_p99_ci:.4f} ({a.how}, rel "
        f"{'-' if a.relative_error is None else f'{a.relative_error:.3f}'}, level {a.level_error:.3f}); "
        f"P(wait) {a.model_p_wait:.4f} vs {a.sim_p_wait:.4f}"
    )
    if REPORT:
        path = pathlib.Path(REPORT) / f"{name}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")


def _grid(service: str, picks: tuple[tuple[float, float, float], ...]) -> list[GridPoint]:
    if GRID == "full":
        return validation_grid(FULL_RATES, FULL_TIMES, FULL_LEVELS, service)  # type: ignore[arg-type]
    return _picks(picks, service)


def _size(p: GridPoint, discipline: str) -> int:
    if GRID == "full":
        if discipline == "shared":  # fast (≈ 0.5 µs a receipt): afford the exponential tail's variance
            return receipts_for(p, relaxations=30_000, least=2_000_000, most=20_000_000)
        return receipts_for(p, relaxations=8_000, least=1_000_000, most=12_000_000)
    if discipline == "shared":
        return receipts_for(p, relaxations=6_000, least=300_000, most=4_000_000)
    return receipts_for(p, relaxations=3_000, least=150_000, most=600_000)


# ------------------------------------------------------------------------------------------ exact identity


@pytest.mark.parametrize(
    ("lam", "s", "c"), [(0.5, 1.0, 2), (5.0, 1.0, 6), (20.0, 0.5, 11), (50.0, 1.0, 51), (500.0, 1.0, 505)]
)
def test_fixed_service_dispatcher_is_fcfs_receipt_for_receipt(lam: float, s: float, c: int) -> None:
    """JSQ with ties to the register that reached its queue length first = FCFS M/D/c, wait for wait.

    Among registers with the fewest receipts, the one that got there first started its current receipt
    first, so with equal fixed service it frees first. That is the one the shared queue would use. The pools
    are loaded (ρ 0.5–0.99), so most receipts meet a tie among busy registers. In the small pools receipts
    also queue two deep (a wait over S); in the large one that needs ~c extra receipts and does not happen.
    """
    n = 60_000 if c < 100 else 200_000
    a = waits(lam, s, c, service="fixed", discipline="dispatcher", receipts=n, seed=3)
    b = waits(lam, s, c, service="fixed", discipline="shared", receipts=n, seed=3)
    assert np.max(np.abs(a - b)) <= 1e-9 * max(1.0, float(b.max()))
    assert float(np.mean(b > 0)) > 0.05
    if c <= 51:
        assert float(np.mean(b > s)) > 0.001  # receipts did queue two deep


def test_exponential_service_dispatcher_is_not_fcfs() -> None:
    a = waits(5.0, 1.0, 7, service="exponential", discipline="dispatcher", receipts=50_000, seed=3)
    b = waits(5.0, 1.0, 7, service="exponential", discipline="shared", receipts=50_000, seed=3)
    assert np.mean(a > 0) < np.mean(b > 0)  # fewer wait …
    assert np.quantile(a, 0.99) > 1.5 * np.quantile(b, 0.99)  # … but those wait longer


# --------------------------------------------------------------------------------------------- the grid


@pytest.mark.parametrize(
    ("service", "discipline", "picks"),
    [
        ("fixed", "dispatcher", CI_SMALL),
        ("fixed", "shared", CI_LARGE),
        ("exponential", "shared", CI_SMALL),
    ],
    ids=["mdc-vs-dispatcher", "mdc-vs-fcfs-large", "mmc-vs-fcfs"],
)
def test_analytic_p99_agrees_with_simulation(
    service: str, discipline: str, picks: tuple[tuple[float, ...], ...]
) -> None:
    if GRID == "full" and (service, discipline) == ("fixed", "shared"):
        pytest.skip("the full grid runs every fixed-service point under the real dispatcher")
    full_dispatcher = GRID == "full" and service == "fixed"
    points = _grid(service, picks)  # type: ignore[arg-type]
    assert points
    bad = []
    for p in points:
        run_as = "dispatcher" if full_dispatcher else discipline
        n = _size(p, run_as)
        sim = _run(p, run_as, n)
        a = compare(p.model(), sim)
        longer = 0
        # Sequential: a point the simulation cannot resolve at 10 % (its own 95 % interval on the p99 wider than
        # ±5 %) runs 4× longer. It is the same random stream extended, so the first run is part of the second.
        while not a.agrees and a.sim_p99_ci > 0.05 * a.sim_p99 and longer < EXTEND:
            n *= 4
            longer += 1
            sim = _run(p, run_as, n)
            a = compare(p.model(), sim)
        _record(f"{'mdc' if service == 'fixed' else 'mmc'}-vs-{run_as}", p, sim, a, {"extended": longer})
        if not a.agrees:
            bad.append((p, a))
    assert not bad, "\n".join(f"{p}: {a}" for p, a in bad)


@pytest.mark.parametrize("picks", [((5, 1, 0.1), (20, 1, 0.1), (50, 1, 0.03))], ids=["mmc-vs-dispatcher"])
def test_exponential_service_under_the_dispatcher(picks: tuple[tuple[float, float, float], ...]) -> None:
    """Documents the discrepancy (docs/capacity.md). With exponential service our dispatcher is not M/M/c.

    A receipt bound to a register at arrival waits for that register's own service, not the first of c.
    Fewer receipts wait than Erlang C says, but they wait up to (c − a) times longer. The balanced-JSQ bound
    C·exp(−(1 − ρ^c)·t/S) stays above the simulation.
    """
    points = _grid("exponential", picks)
    over = []
    for p in points:
        sim = _run(p, "dispatcher", _size(p, "dispatcher"))
        erlang = compare(p.model(), sim)
        bound = compare(JsqBound(p.registers, p.arrival_rate, p.service_time_s), sim)
        _record(
            "mmc-vs-dispatcher",
            p,
            sim,
            erlang,
            {"jsq_bound_p99": bound.model_p99, "ratio_to_erlang": sim.p99_wait_s / max(erlang.model_p99, 1e-12)},
        )
        if erlang.model_p_wait >= 0.03 and p.registers >= 5:  # one register: JSQ is the shared queue
            assert sim.p99_wait_s > 1.3 * erlang.model_p99, p  # Erlang C is optimistic for our dispatcher
            assert sim.p_wait < erlang.model_p_wait, p
        if sim.p99_wait_s > bound.model_p99 * 1.05 + 2 * sim.p99_ci_s:
            over.append((p, sim.p99_wait_s, bound.model_p99))
    assert not over, over


# ---------------------------------------------------------------------------------------------- helpers


def test_compare_rules() -> None:
    class Fake:
        def __init__(self, p_wait: float, decay: float) -> None:
            self.p_wait, self.decay = p_wait, decay

        def tail(self, t: float) -> float:
            return self.p_wait * math.exp(-self.decay * t)

        def quantile(self, q: float) -> float:
            return 0.0 if self.p_wait <= 1 - q else math.log(self.p_wait / (1 - q)) / self.decay

    def sim(p99: float, p_wait: float) -> SimResult:
        return SimResult(1.0, 1.0, 1, "fixed", "shared", 1, p_wait, 0.0, p99, 0.0, 0.0, 0.0, np.zeros(1))

    model = Fake(0.2, 2.0)  # p99 = ln(20)/2 = 1.498
    assert compare(model, sim(1.45, 0.2)).how == "relative"
    assert not compare(model, sim(1.2, 0.2)).agrees
    assert compare(Fake(0.005, 1.0), sim(0.0, 0.004)).how == "both zero"
    # Near the atom: the model says P(wait) = 1.05 % (p99 tiny), the simulation 0.98 % (p99 = 0): agree on the level.
    near = compare(Fake(0.0105, 1.0), sim(0.0, 0.0098))
    assert near.how == "level" and near.agrees
    assert not compare(Fake(0.02, 1.0), sim(0.0, 0.009)).agrees


def test_grid_and_sizes() -> None:
    g = validation_grid([5.0], [1.0], [0.3, 0.1, 0.03, 0.012, 0.003], "fixed")
    cs = [p.registers for p in g]
    assert cs == sorted(set(cs)) and cs[0] > 5
    for p in g:
        assert MDc.of(p.registers, 5.0, 1.0).p_wait <= p.level < MDc.of(p.registers - 1, 5.0, 1.0).p_wait
    assert all(p.registers <= 600 for p in validation_grid([500.0], [2.0], [0.1], "exponential")) is True
    assert validation_grid([500.0], [2.0], [0.1], "exponential") == []  # a = 1000: beyond c ≤ 600
    p = GridPoint(100.0, 1.0, 110, "exponential", 0.2)
    assert receipts_for(p, relaxations=10, least=5, most=10**9) == int(10 * 100 / (math.sqrt(110) - 10) ** 2)
    assert isinstance(p.model(), MMc)


def test_jsq_bound_is_mm1_for_one_register() -> None:
    b, m = JsqBound(1, 0.7, 1.0), MMc.of(1, 0.7, 1.0)
    for t in (0.0, 0.5, 3.0):
        assert b.tail(t) == pytest.approx(m.tail(t), rel=1e-12)
    sim = simulate(0.7, 1.0, 1, service="exponential", receipts=200_000, seed=5)
    assert compare(b, sim).agrees


def test_simulation_checks_its_arguments() -> None:
    with pytest.raises(ValueError):
        waits(0.0, 1.0, 1, service="fixed")
    with pytest.raises(ValueError):
        waits(1.0, 1.0, 1, service="gamma")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        waits(1.0, 1.0, 1, service="fixed", discipline="lifo")  # type: ignore[arg-type]
