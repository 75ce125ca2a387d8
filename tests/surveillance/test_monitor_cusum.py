"""The cube-based risk-adjusted CUSUM against per-prediction brute force, and its control limits."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steward.cube import edges_with_thresholds
from steward.surveillance.monitors import (
    CaseMix,
    Window,
    control_limit,
    in_control_arl,
    increment,
    run_chart,
)
from steward.surveillance.monitors.arl import delay_distribution
from steward.surveillance.monitors.cusum import Increment

from ._simulate import level_counts

EDGES = edges_with_thresholds(1000, [0.2])


def _w(p: np.ndarray, y: np.ndarray, r: float) -> np.ndarray:
    """Per-prediction W_t = y ln R - ln(1 - p + R p) (Steiner et al. 2000)."""
    return y * math.log(r) - np.log(1 - p + r * p)


def _per_prediction_chart(w: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    s, out, alarms = 0.0, [], []
    for x in w:
        s = max(0.0, s + x)
        alarm = s > h
        out.append(s)
        alarms.append(alarm)
        if alarm:
            s = 0.0
    return np.array(out), np.array(alarms)


@pytest.mark.parametrize("r", [1.5, 1 / 1.5, 3.0])
@pytest.mark.parametrize("edges", [EDGES, edges_with_thresholds(20, [0.2])])
def test_cube_increment_is_the_row_sum_within_its_bound(r: float, edges: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    p = rng.beta(1, 9, 20_000)
    y = (rng.random(p.size) < p).astype(float)
    y[:500] = np.nan  # unlabelled rows do not enter the chart
    inc = increment(level_counts(p, y, edges), r)
    exact = _w(p[500:], y[500:], r).sum()
    error = abs(inc.value - exact)
    assert error <= inc.error_bound + 1e-9 * p.size
    assert inc.events == y[500:].sum()
    assert inc.n == p.size - 500
    if edges.size > 100:
        assert inc.error_bound < 1e-9 * p.size  # 1,000 bins: negligible against any h
    else:
        # 20 bins (0.05 wide): the second-order error is visible, and still under its bound
        assert error > 1e-5
        assert inc.error_bound < 0.5


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(0.001, 0.999), min_size=1, max_size=60),
    st.lists(st.booleans(), min_size=60, max_size=60),
    st.sampled_from([1.5, 1 / 1.5, 2.0]),
)
def test_increment_bound_holds_for_any_scores(p: list[float], y: list[bool], r: float) -> None:
    scores = np.array(p)
    labels = np.array(y[: scores.size], dtype=float)
    edges = edges_with_thresholds(10)
    inc = increment(level_counts(scores, labels, edges), r)
    assert abs(inc.value - _w(scores, labels, r).sum()) <= inc.error_bound + 1e-9


def _inc(value: float) -> Increment:
    return Increment(value, 0.0, 0.0, 1.0, 0.0)


def test_windowed_chart_is_the_cusum_of_window_sums() -> None:
    rng = np.random.default_rng(1)
    p = rng.beta(1, 9, 3000)
    y = (rng.random(p.size) < np.minimum(1.0, p * 1.6)).astype(float)
    w = _w(p, y, 1.5)
    days = [Window("day", dt.date(2025, 1, 1) + dt.timedelta(days=i)) for i in range(100)]
    split = np.array_split(np.arange(p.size), 100)
    incs = [increment(level_counts(p[i], y[i], EDGES), 1.5) for i in split]
    h = 4.0
    points = run_chart(days, incs, h)
    # Brute force on window sums of the per-prediction W.
    sums = np.array([w[i].sum() for i in split])
    expected, expected_alarms = _per_prediction_chart(sums, h)
    assert np.allclose([pt.statistic for pt in points], expected, atol=1e-6)
    assert [pt.alarm for pt in points] == expected_alarms.tolist()
    assert any(expected_alarms)
    # One prediction per window: exactly Steiner's per-prediction chart.
    single = [increment(level_counts(p[i : i + 1], y[i : i + 1], EDGES), 1.5) for i in range(300)]
    per_prediction, _ = _per_prediction_chart(w[:300], h)
    assert np.allclose([pt.statistic for pt in run_chart(days * 3, single, h)], per_prediction)


def test_windowed_chart_never_exceeds_the_per_prediction_chart_between_alarms() -> None:
    rng = np.random.default_rng(2)
    w = rng.normal(-0.02, 0.3, 5000)
    per_prediction, _ = _per_prediction_chart(w, math.inf)
    sums = w.reshape(250, 20).sum(axis=1)
    days = [Window("day", dt.date(2025, 1, 1))] * 250
    windowed = [pt.statistic for pt in run_chart(days, [_inc(s) for s in sums], 1e9)]
    assert np.all(np.array(windowed) <= per_prediction[19::20] + 1e-12)


def test_chart_restarts_after_an_alarm_and_continues_from_a_saved_state() -> None:
    days = [Window("day", dt.date(2025, 1, d)) for d in range(1, 6)]
    points = run_chart(days, [_inc(x) for x in (2.0, 2.5, 1.0, -0.5, 3.0)], h=4.0)
    assert [pt.statistic for pt in points] == [2.0, 4.5, 1.0, 0.5, 3.5]
    assert [pt.alarm for pt in points] == [False, True, False, False, False]
    resumed = run_chart(days[3:], [_inc(-0.5), _inc(3.0)], h=4.0, start=1.0)
    assert [pt.statistic for pt in resumed] == [0.5, 3.5]


@pytest.mark.slow
def test_simulated_run_length_matches_direct_simulation_and_the_methods_page() -> None:
    # One prediction per window at prevalence 8%: the setting of docs/methods.md section 3.
    mix = CaseMix(np.array([0.08]), np.array([1.0]), 1.0)
    estimated = in_control_arl(mix, 1.5, 2.5, simulations=20_000, seed=3)
    direct = delay_distribution(mix, 1.5, 2.5, 1.0, simulations=4000, seed=4)
    se_direct = direct.std() / math.sqrt(direct.size)
    assert abs(estimated.arl - direct.mean()) < 3 * math.hypot(estimated.se, se_direct)
    # The page: h = 4 gives about 8,900 patients, h = 5 about 26,600 (Poisson volume here).
    at4 = in_control_arl(mix, 1.5, 4.0, simulations=20_000, seed=5)
    at5 = in_control_arl(mix, 1.5, 5.0, simulations=20_000, seed=6)
    assert 0.8 * 8900 < at4.arl < 1.25 * 8900
    assert 0.8 * 26_600 < at5.arl < 1.25 * 26_600


@pytest.mark.slow
def test_control_limit_hits_its_target_run_length() -> None:
    mix = CaseMix(np.array([0.02, 0.06, 0.15, 0.4]), np.array([0.4, 0.3, 0.2, 0.1]), 30.0)
    found = control_limit(mix, 1.5, 800.0, simulations=4000, seed=7)
    direct = delay_distribution(mix, 1.5, found.h, 1.0, simulations=3000, seed=8)
    assert found.arl == pytest.approx(800.0, rel=0.03)
    assert direct.mean() == pytest.approx(800.0, rel=0.1)
    lower = control_limit(mix, 1 / 1.5, 800.0, simulations=4000, seed=9)
    assert lower.arl == pytest.approx(800.0, rel=0.03)
    assert 0 < lower.h < 10


@pytest.mark.slow
def test_run_length_counts_windows_without_predictions() -> None:
    # 0.3 predictions a window: most windows are empty and leave the chart where it is.
    mix = CaseMix(np.array([0.02, 0.08, 0.3]), np.array([0.5, 0.3, 0.2]), 0.3)
    estimated = in_control_arl(mix, 1.5, 1.5, simulations=20_000, seed=1)
    direct = delay_distribution(mix, 1.5, 1.5, 1.0, simulations=4000, seed=2)
    se_direct = direct.std() / math.sqrt(direct.size)
    assert abs(estimated.arl - direct.mean()) < 3 * math.hypot(estimated.se, se_direct)


def test_a_huge_volume_needs_only_a_small_limit() -> None:
    # 20,000 predictions a window: the in-control window sum is about -130 with SD 15, so even
    # the smallest limit searched gives far more than the target run length.
    mix = CaseMix(np.array([0.02, 0.08, 0.3]), np.array([0.5, 0.3, 0.2]), 20_000.0)
    found = control_limit(mix, 1.5, 5000.0, simulations=500, seed=3)
    assert found.h == pytest.approx(0.05)
    assert found.arl > 5000.0
