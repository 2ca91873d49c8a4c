"""Tests for llmtriage.evals.metrics: hand-worked cases, edge cases, bootstrap, properties."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmtriage.evals.metrics import (
    Resample,
    aiq,
    apgr,
    best_single,
    bootstrap,
    cost_to_reach,
    cpt,
    curve_points,
    pareto_front,
    pgr,
    quality_at_cost,
    quality_hull,
    summarize,
)

# ---------------------------------------------------------------- curve_points


def test_curve_points_means_over_prompts() -> None:
    # point 0: cost (3+0+3)/3 = 2, quality (1+0+1)/3 = 2/3
    # point 1: cost (1+1+1)/3 = 1, quality (0+0+1)/3 = 1/3
    q = [[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
    c = [[3.0, 0.0, 3.0], [1.0, 1.0, 1.0]]
    cost, quality = curve_points(q, c)
    np.testing.assert_allclose(cost, [2.0, 1.0])
    np.testing.assert_allclose(quality, [2 / 3, 1 / 3])


def test_curve_points_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="must both be"):
        curve_points([[1.0, 0.0]], [[1.0, 0.0, 2.0]])


# ---------------------------------------------------------------- pareto_front


def test_pareto_front_hand_case() -> None:
    # by cost: (0.5,.5) keep; (1,.5) same quality dearer: drop; (2,.7) keep; (2,.6) drop;
    # (3,.9) keep; (4,.85) dearer and worse than (3,.9): drop
    cost = [3.0, 1.0, 2.0, 2.0, 4.0, 0.5]
    quality = [0.9, 0.5, 0.7, 0.6, 0.85, 0.5]
    fc, fq = pareto_front(cost, quality)
    np.testing.assert_array_equal(fc, [0.5, 2.0, 3.0])
    np.testing.assert_array_equal(fq, [0.5, 0.7, 0.9])


def test_pareto_front_duplicates_single_and_empty() -> None:
    fc, fq = pareto_front([1.0, 1.0, 1.0], [0.5, 0.5, 0.5])  # exact duplicates -> one point
    assert fc.tolist() == [1.0] and fq.tolist() == [0.5]
    fc, fq = pareto_front([2.0], [0.3])
    assert fc.tolist() == [2.0] and fq.tolist() == [0.3]
    fc, fq = pareto_front([], [])
    assert fc.size == 0 and fq.size == 0


def test_pareto_front_ignores_non_finite_points() -> None:
    # the nan-quality point would otherwise be the cheapest
    fc, fq = pareto_front([0.1, 1.0, 2.0], [math.nan, 0.4, 0.6])
    assert fc.tolist() == [1.0, 2.0] and fq.tolist() == [0.4, 0.6]


finite = st.floats(min_value=0.0, max_value=10.0, allow_nan=False, allow_infinity=False)


@settings(database=None, max_examples=200, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=30))
def test_pareto_front_property(points: list[tuple[float, float]]) -> None:
    cost = [p[0] for p in points]
    quality = [p[1] for p in points]
    fc, fq = pareto_front(cost, quality)
    # strictly increasing in both cost and quality
    assert np.all(np.diff(fc) > 0) and np.all(np.diff(fq) > 0)
    # every front point is an input point
    assert all((x, y) in points for x, y in zip(fc, fq, strict=True))
    # every input point is dominated by, or equal to, some front point
    for x, y in points:
        assert np.any((fc <= x) & (fq >= y))


grid = st.integers(min_value=0, max_value=1000).map(lambda i: i / 100)  # exact-ish arithmetic


@settings(database=None, max_examples=200, deadline=None)
@given(st.lists(st.tuples(grid, grid), min_size=1, max_size=30))
def test_quality_hull_is_concave_monotone_and_above_points(
    points: list[tuple[float, float]],
) -> None:
    cost = np.array([p[0] for p in points])
    quality = np.array([p[1] for p in points])
    hc, hq = quality_hull(cost, quality)
    assert np.all(np.diff(hc) > 0) and np.all(np.diff(hq) > 0)
    # strictly concave: every consecutive vertex triple turns clockwise
    dx, dy = np.diff(hc), np.diff(hq)
    assert np.all(dx[:-1] * dy[1:] - dy[:-1] * dx[1:] < 0)
    # at or above every point it covers (flat after the last vertex)
    covered = cost >= hc[0]
    assert np.all(np.interp(cost[covered], hc, hq) >= quality[covered] - 1e-9)


# ---------------------------------------------------------------- cost_to_reach / quality_at_cost

COST = [1.0, 2.0, 3.0]
QUAL = [0.4, 0.8, 0.7]  # not monotone: the point at cost 3 is dominated


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (0.75, 2.0),  # only 0.8 qualifies
        (0.7, 2.0),  # 0.8 (cost 2) and 0.7 (cost 3) qualify; cheaper wins
        (0.4, 1.0),  # boundary: quality == target counts
        (0.0, 1.0),
    ],
)
def test_cost_to_reach_hand_cases(target: float, expected: float) -> None:
    assert cost_to_reach(COST, QUAL, target) == expected


def test_cost_to_reach_unreachable_and_empty_are_nan() -> None:
    assert math.isnan(cost_to_reach(COST, QUAL, 0.81))
    assert math.isnan(cost_to_reach([], [], 0.1))


def test_cost_to_reach_duplicate_costs_and_float_noise() -> None:
    assert cost_to_reach([2.0, 2.0], [0.5, 0.9], 0.9) == 2.0
    # a mean that equals the target up to rounding still reaches it
    assert cost_to_reach([1.0], [0.1 + 0.2], 0.3 + 1e-15) == 1.0


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        (2.5, 0.8),  # costs 1 and 2 fit: max(0.4, 0.8)
        (3.0, 0.8),  # the point at 3 fits but is worse
        (1.0, 0.4),  # boundary: cost == budget counts
    ],
)
def test_quality_at_cost_hand_cases(budget: float, expected: float) -> None:
    assert quality_at_cost(COST, QUAL, budget) == expected


def test_quality_at_cost_nothing_affordable_is_nan() -> None:
    assert math.isnan(quality_at_cost(COST, QUAL, 0.5))


# ---------------------------------------------------------------- quality_hull / aiq

HC = [0.0, 1.0, 2.0, 3.0, 4.0]
HQ = [0.0, 0.6, 0.7, 1.0, 0.9]


def test_quality_hull_hand_case() -> None:
    # front: (0,0) (1,.6) (2,.7) (3,1); chord (1,.6)-(3,1) is .8 at x=2 > .7, so (2,.7) goes;
    # chord (0,0)-(3,1) is 1/3 at x=1 < .6, so (1,.6) stays
    hc, hq = quality_hull(HC, HQ)
    assert hc.tolist() == [0.0, 1.0, 3.0] and hq.tolist() == [0.0, 0.6, 1.0]


def test_quality_hull_drops_collinear_middle_point() -> None:
    hc, _ = quality_hull([0.0, 1.0, 2.0], [0.0, 0.5, 1.0])
    assert hc.tolist() == [0.0, 2.0]


def test_aiq_hand_case_full_range() -> None:
    # hull (0,0) (1,.6) (3,1), flat at 1 after x=3
    # area [0,1] = .3, [1,3] = (.6+1)/2*2 = 1.6, [3,4] = 1.0 -> 2.9 / 4
    assert aiq(HC, HQ, 0.0, 4.0) == pytest.approx(0.725)


def test_aiq_hand_case_inner_range() -> None:
    # H(.5) = .3, H(1) = .6, H(2) = .8 (on the hull, not the dropped point .7)
    # area [.5,1] = .45*.5 = .225, [1,2] = .7 -> .925 / 1.5
    assert aiq(HC, HQ, 0.5, 2.0) == pytest.approx(0.925 / 1.5)


def test_aiq_counts_zero_left_of_cheapest_point() -> None:
    # points (1,.5) (3,.9); [0,1] has no operating point and counts as 0
    # area [1,3] = (.5+.9)/2*2 = 1.4 -> 1.4 / 3 (flat extrapolation would give 1.9 / 3)
    assert aiq([1.0, 3.0], [0.5, 0.9], 0.0, 3.0) == pytest.approx(1.4 / 3)


def test_aiq_single_point_and_range_below_it() -> None:
    # one point (2,.6) over [0,4]: area [2,4] = 1.2 -> 1.2 / 4
    assert aiq([2.0], [0.6], 0.0, 4.0) == pytest.approx(0.3)
    assert aiq([2.0], [0.6], 0.0, 1.0) == 0.0


def test_aiq_empty_is_nan_and_bad_range_raises() -> None:
    assert math.isnan(aiq([], [], 0.0, 1.0))
    with pytest.raises(ValueError, match="hi > lo"):
        aiq([1.0], [0.5], 2.0, 2.0)


# ---------------------------------------------------------------- PGR / APGR / CPT

SHARE = [0.2, 0.5, 0.4]
SQUAL = [0.7, 0.72, 0.76]  # with q_weak .6 and q_strong .8: PGR .5, .6, .8


def test_pgr_hand_case_and_degenerate_gap() -> None:
    np.testing.assert_allclose(pgr([0.6, 0.7, 0.8], 0.6, 0.8), [0.0, 0.5, 1.0])
    assert np.isnan(pgr([0.6, 0.7], 0.7, 0.7)).all()
    assert np.isnan(pgr([0.6, 0.7], 0.8, 0.6)).all()  # "strong" worse than weak: undefined


def test_apgr_hand_case_uses_monotone_envelope() -> None:
    # with endpoints, by share: (0,0) (.2,.5) (.4,.8) (.5,.6) (1,1); envelope 0 .5 .8 .8 1
    # trapezoids: .25*.2 + .65*.2 + .8*.1 + .9*.5 = .05 + .13 + .08 + .45 = .71
    # (without the envelope it would be .65)
    assert apgr(SHARE, SQUAL, 0.6, 0.8) == pytest.approx(0.71)


def test_apgr_random_router_is_half_and_endpoints_only_is_half() -> None:
    shares = np.array([0.25, 0.5, 0.75])
    assert apgr(shares, 0.6 + 0.2 * shares, 0.6, 0.8) == pytest.approx(0.5)
    assert apgr([], [], 0.6, 0.8) == pytest.approx(0.5)


@pytest.mark.parametrize("order", [[0, 1], [1, 0]])
def test_apgr_duplicate_shares_take_best_pgr(order: list[int]) -> None:
    # shares .5, .5 with PGR .2 and .8: envelope at .5 is .8 whichever comes first
    # .4*.5 + .9*.5 = .65 (using .2 on [0,.5] would give .5)
    share = np.array([0.5, 0.5])[order]
    quality = np.array([0.64, 0.76])[order]
    assert apgr(share, quality, 0.6, 0.8) == pytest.approx(0.65)


def test_apgr_degenerate_and_invalid() -> None:
    assert math.isnan(apgr(SHARE, SQUAL, 0.7, 0.7))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        apgr([1.5], [0.7], 0.6, 0.8)


@pytest.mark.parametrize(
    ("target", "expected"),
    [(0.5, 0.2), (0.6, 0.4), (0.8, 0.4), (0.0, 0.2)],  # PGR .5@.2, .6@.5, .8@.4
)
def test_cpt_hand_cases(target: float, expected: float) -> None:
    assert cpt(SHARE, SQUAL, 0.6, 0.8, target) == pytest.approx(expected)


def test_cpt_unreachable_is_nan() -> None:
    assert math.isnan(cpt(SHARE, SQUAL, 0.6, 0.8, 0.9))
    assert math.isnan(cpt(SHARE, SQUAL, 0.8, 0.8, 0.5))


# ---------------------------------------------------------------- best_single


def test_best_single_ties_go_to_cheaper() -> None:
    assert best_single([1.0, 5.0, 3.0], [0.7, 0.9, 0.9]) == 2
    assert best_single([1.0, 5.0], [0.7, 0.9]) == 1


# ---------------------------------------------------------------- bootstrap


def _noisy(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """A 2-model pool and a 5-point router mixing them at random, over n prompts."""
    rng = np.random.default_rng(seed)
    single_q = (rng.random((2, n)) < np.array([[0.5], [0.8]])).astype(float)
    single_c = np.vstack([np.full(n, 1.0), np.full(n, 4.0)])
    strong = rng.random((5, n)) < np.linspace(0, 1, 5)[:, None]
    q = np.where(strong, single_q[1], single_q[0])
    c = np.where(strong, single_c[1], single_c[0])
    return q, c, single_q, single_c, strong


def _mid_quality(r: Resample) -> float:
    return float(r.quality[2])


def _first_quality(r: Resample) -> float:
    return float(r.quality[0])


def test_bootstrap_constant_data_gives_degenerate_interval() -> None:
    # every prompt has the same values, so every resample equals the full data
    q = np.full((2, 7), 0.7)
    c = np.full((2, 7), 1.0)
    point, lo, hi = bootstrap(_first_quality, q, c, q, c, n_boot=50)
    assert (point, lo, hi) == pytest.approx((0.7, 0.7, 0.7), abs=1e-12)


def test_bootstrap_interval_contains_point_and_narrows_with_more_prompts() -> None:
    small = bootstrap(_mid_quality, *_noisy(200, 1)[:4], n_boot=400, seed=3)
    large = bootstrap(_mid_quality, *_noisy(5000, 1)[:4], n_boot=400, seed=3)
    for point, lo, hi in (small, large):
        assert lo < point < hi
    assert (large[2] - large[1]) < 0.4 * (small[2] - small[1])  # ~ sqrt(200/5000) = 0.2


def test_bootstrap_width_matches_binomial_standard_error() -> None:
    # one Bernoulli(.5) row over n=400 prompts: sd of the mean = sqrt(.25/400) = .025,
    # so the 95% interval is about 2 * 1.96 * .025 = .098 wide
    q = np.tile(np.arange(400) % 2, (1, 1)).astype(float)
    c = np.ones_like(q)
    point, lo, hi = bootstrap(_first_quality, q, c, q, c, n_boot=2000, seed=0)
    assert point == 0.5
    assert 0.085 < hi - lo < 0.11


def test_bootstrap_is_reproducible_and_seed_dependent() -> None:
    data = _noisy(300, 2)[:4]
    assert bootstrap(_mid_quality, *data, seed=5, n_boot=100) == bootstrap(
        _mid_quality, *data, seed=5, n_boot=100
    )
    assert bootstrap(_mid_quality, *data, seed=5, n_boot=100) != bootstrap(
        _mid_quality, *data, seed=6, n_boot=100
    )


def test_bootstrap_passes_share_and_single_models() -> None:
    q, c, single_q, single_c, strong = _noisy(100, 4)
    seen: list[Resample] = []

    def record(r: Resample) -> float:
        seen.append(r)
        return 0.0

    bootstrap(record, q, c, single_q, single_c, strong=strong, n_boot=3)
    full = seen[-1]  # the point estimate is computed last, on the full data
    assert full.share is not None
    np.testing.assert_allclose(full.share, strong.mean(axis=1))
    np.testing.assert_allclose(full.single_quality, single_q.mean(axis=1))
    np.testing.assert_allclose(full.single_cost, [1.0, 4.0])
    np.testing.assert_allclose(full.cost, c.mean(axis=1))
    assert seen[0].share is not None and not np.array_equal(seen[0].quality, full.quality)


def test_bootstrap_all_nan_metric_gives_nan_without_warnings() -> None:
    point, lo, hi = bootstrap(lambda r: math.nan, *_noisy(50, 0)[:4], n_boot=20)
    assert math.isnan(point) and math.isnan(lo) and math.isnan(hi)


def test_bootstrap_rejects_bad_input() -> None:
    q, c, single_q, single_c, _ = _noisy(50, 0)
    with pytest.raises(ValueError, match="need q, c"):
        bootstrap(_mid_quality, q, c[:, :10], single_q, single_c)
    with pytest.raises(ValueError, match="alpha"):
        bootstrap(_mid_quality, q, c, single_q, single_c, alpha=1.5)
    with pytest.raises(ValueError, match="finite"):
        bootstrap(_mid_quality, q * np.nan, c, single_q, single_c)


def test_bootstrap_is_fast_at_realistic_size() -> None:
    # 1000 resamples, K=300 points, n=3300 prompts, M=11 models: target < ~3 s
    rng = np.random.default_rng(0)
    k, n, m = 300, 3300, 11
    q, c = rng.random((k, n)), rng.random((k, n))
    single_q, single_c = rng.random((m, n)), rng.random((m, n))

    def metric(r: Resample) -> float:
        return aiq(r.cost, r.quality, float(r.single_cost.min()), float(r.single_cost.max()))

    start = time.perf_counter()
    bootstrap(metric, q, c, single_q, single_c, n_boot=1000)
    assert time.perf_counter() - start < 10.0  # generous for shared CI machines


# ---------------------------------------------------------------- summarize


def _pool(weak_last: float) -> tuple[np.ndarray, ...]:
    """Two models over 4 prompts and a 4-point router that escalates prompts 2 then 3.

    weak:   q [1, 1, .5, weak_last], cost 1 per prompt
    strong: q [1, 1, 1,  .8],        cost 5 per prompt
    points: all weak; prompt 2 strong; prompts 2-3 strong; all strong
    """
    weak_q = np.array([1.0, 1.0, 0.5, weak_last])
    strong_q = np.array([1.0, 1.0, 1.0, 0.8])
    flags = np.array([[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1], [1, 1, 1, 1]], dtype=bool)
    q = np.where(flags, strong_q, weak_q)
    c = np.where(flags, 5.0, 1.0)
    # strong model first: summarize must pick the weak one by cost, not by position
    return q, c, np.vstack([strong_q, weak_q]), np.vstack([np.full(4, 5.0), np.ones(4)]), flags


def test_summarize_hand_case_cost_and_quality_metrics() -> None:
    # weak_last=.7: points (cost, q) = (1, .8) (2, .925) (3, .95) (5, .95); best = strong (.95, 5)
    # cost_to_95: target .9025 -> cost 2 -> 2/5; cost_to_100: target .95 -> cost 3 -> 3/5
    # quality_at_10: budget .5 -> none; quality_at_30: budget 1.5 -> .8
    # aiq over [1, 5]: hull (1,.8) (2,.925) (3,.95), flat after 3:
    #   .8625 + .9375 + 1.9 = 3.7 -> 3.7 / 4 = .925
    out = summarize(*_pool(0.7)[:4], n_boot=20)
    assert set(out) == {"cost_to_95", "cost_to_100", "quality_at_10", "quality_at_30", "aiq"}
    assert out["cost_to_95"]["value"] == pytest.approx(0.4)
    assert out["cost_to_100"]["value"] == pytest.approx(0.6)
    assert math.isnan(out["quality_at_10"]["value"])
    assert out["quality_at_30"]["value"] == pytest.approx(0.8)
    assert out["aiq"]["value"] == pytest.approx(0.925)
    assert set(out["aiq"]) == {"value", "ci_low", "ci_high"}


def test_summarize_hand_case_two_model_metrics() -> None:
    # weak_last=.5: weak mean .75, strong .95, gap .2; router quality .75 .875 .95 .95
    # PGR 0, .625, 1, 1 at shares 0, .25, .5, 1
    # apgr: .3125*.25 + .8125*.25 + 1*.5 = .078125 + .203125 + .5 = .78125
    # cpt_50: .25 (PGR .625); cpt_80: .5 (PGR 1)
    q, c, single_q, single_c, flags = _pool(0.5)
    out = summarize(q, c, single_q, single_c, strong=flags, n_boot=20)
    assert out["apgr"]["value"] == pytest.approx(0.78125)
    assert out["cpt_50"]["value"] == pytest.approx(0.25)
    assert out["cpt_80"]["value"] == pytest.approx(0.5)


def test_summarize_two_model_metrics_need_two_models() -> None:
    q, c, single_q, single_c, flags = _pool(0.5)
    with pytest.raises(ValueError, match="exactly two"):
        summarize(
            q, c, np.vstack([single_q, single_q]), np.vstack([single_c, single_c]), strong=flags
        )


def test_summarize_intervals_bracket_values_on_larger_data() -> None:
    q, c, single_q, single_c, strong = _noisy(2000, 7)
    out = summarize(q, c, single_q, single_c, strong=strong, n_boot=200, seed=1)
    # (CPT jumps between the 5 operating points' shares, so its interval is not checked)
    for name in ("cost_to_95", "quality_at_30", "aiq", "apgr"):
        v = out[name]
        assert v["ci_low"] <= v["value"] <= v["ci_high"], name
        assert v["ci_high"] - v["ci_low"] < 0.1, name
    assert out["cost_to_95"]["value"] == 1.0  # only the all-strong point reaches .95 * .8
