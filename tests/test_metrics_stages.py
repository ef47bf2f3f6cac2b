"""The request-stage histograms of /metrics and the quantile read from them (``fiscal_core.api.metrics``)."""

from __future__ import annotations

import bisect
import random

import pytest

from fiscal_core.api.metrics import STAGE_BUCKETS, STAGES, StageStats, quantile


def test_observe_counts_each_request_once_in_its_bucket() -> None:
    stats = StageStats()
    stats.observe("commit", 0.0015)  # between the 1 ms and 2 ms bounds
    stats.observe("commit", 0.0015, 3)  # a bulk unit of three entries
    stats.observe("queued", 2.0)  # past the last bound
    hist = stats.hist
    assert hist["commit"][STAGE_BUCKETS.index(0.002)] == 4 and sum(hist["commit"]) == 4
    assert hist["queued"][-1] == 1 and sum(hist["queued"]) == 1
    assert sum(hist["validate"]) == sum(hist["answer"]) == 0
    assert stats.sums["commit"] == pytest.approx(0.006)
    assert set(hist) == set(STAGES)
    with pytest.raises(KeyError):
        stats.observe("nonsense", 0.001)


def test_quantile_edges() -> None:
    bounds = (1.0, 2.0)
    assert quantile(0.5, bounds, [0, 0, 0]) is None
    assert quantile(0.5, bounds, [2, 2, 0]) == pytest.approx(1.0)  # the rank-2 sample ends the first bucket
    assert quantile(0.75, bounds, [2, 2, 0]) == pytest.approx(1.5)  # halfway into the second
    assert quantile(0.99, bounds, [0, 0, 5]) == 2.0  # unbounded: the last bound, a lower bound of the truth
    assert quantile(0.25, bounds, [4, 0, 0]) == pytest.approx(0.25)  # the first bucket starts at zero


@pytest.mark.parametrize("seed", range(5))
def test_quantile_lands_in_the_bucket_of_the_exact_quantile(seed: int) -> None:
    rng = random.Random(seed)
    samples = [rng.lognormvariate(-6.0, 1.2) for _ in range(rng.randint(50, 3000))]
    stats = StageStats()
    for x in samples:
        stats.observe("answer", x)
    ordered = sorted(samples)
    for q in (0.5, 0.9, 0.99):
        exact = ordered[max(0, int(q * len(ordered) + 0.999999) - 1)]  # the smallest sample with rank >= q·n
        got = quantile(q, STAGE_BUCKETS, stats.hist["answer"])
        assert got is not None
        i = bisect.bisect_left(STAGE_BUCKETS, exact)
        if i == len(STAGE_BUCKETS):
            assert got == STAGE_BUCKETS[-1]
        else:
            low = STAGE_BUCKETS[i - 1] if i else 0.0
            assert low <= got <= STAGE_BUCKETS[i], (q, exact, got)
