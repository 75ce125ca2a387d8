"""PSI drift and CBPE estimated performance against direct row-level computations."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steward.cube import Cube, Margin, edges_with_thresholds
from steward.metrics._counts import UndefinedMetricWarning
from steward.surveillance.monitors import (
    OVERALL,
    FeatureHistogram,
    Reference,
    Window,
    WindowData,
    decile_edges,
    default_config,
    estimated_performance,
    expected_confusion,
    histogram,
    input_drift,
    psi,
    score_drift,
)
from steward.surveillance.monitors.psi import expected_psi, score_decile_edges

from ._simulate import level_counts

EDGES = edges_with_thresholds(1000, [0.2])
WINDOW = Window("month", dt.date(2025, 1, 1))


def _cube(p: np.ndarray, y: np.ndarray) -> Cube:
    counts = level_counts(p, y, EDGES)
    return Cube(margins={(): Margin((), ((),), EDGES, counts.stats[None])})


def _numpy_psi(ref: np.ndarray, cur: np.ndarray, eps: float = 1e-4) -> float:
    r = np.maximum(ref / ref.sum(), eps)
    q = np.maximum(cur / cur.sum(), eps)
    r, q = r / r.sum(), q / q.sum()
    return float(np.sum((q - r) * np.log(q / r)))


def test_psi_matches_its_formula() -> None:
    ref, cur = np.array([100.0, 200, 300, 400]), np.array([120.0, 180, 330, 370])
    r, q = ref / ref.sum(), cur / cur.sum()
    assert psi(ref, cur) == pytest.approx(float(np.sum((q - r) * np.log(q / r))), rel=1e-12)
    assert psi([5, 0], [3, 2]) == pytest.approx(_numpy_psi(np.array([5.0, 0]), np.array([3.0, 2])))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 1000), min_size=2, max_size=12).filter(lambda v: sum(v) > 0),
    st.randoms(use_true_random=False),
)
def test_psi_is_a_symmetric_divergence(counts: list[int], rnd: object) -> None:
    a = np.array(counts, dtype=float)
    b = a[::-1].copy() + 1
    assert psi(a, a) == pytest.approx(0.0, abs=1e-12)
    assert psi(a, b) >= 0
    assert psi(a, b) == pytest.approx(psi(b, a), rel=1e-9)
    assert psi(a, 3 * a) == pytest.approx(0.0, abs=1e-12)  # shares, not counts


def test_no_drift_psi_is_near_its_expectation() -> None:
    rng = np.random.default_rng(0)
    edges = decile_edges(rng.normal(size=50_000))
    ref = histogram(rng.normal(size=50_000), edges).counts
    values = [psi(ref, histogram(rng.normal(size=1000), edges).counts) for _ in range(300)]
    assert np.mean(values) == pytest.approx(expected_psi(10, 50_000, 1000), rel=0.15)


def test_score_drift_equals_row_level_psi_over_reference_deciles() -> None:
    rng = np.random.default_rng(1)
    p_ref = rng.beta(1, 10, 20_000)
    p_cur = rng.beta(1.3, 10, 3_000)
    reference = Reference(cube=_cube(p_ref, np.full(p_ref.size, np.nan)), days=365)
    data = WindowData(WINDOW, _cube(p_cur, rng.integers(0, 2, p_cur.size).astype(float)))
    finding = score_drift(data, reference, default_config().drift)
    assert finding is not None
    edges = score_decile_edges(reference.cube.overall.level(()), 10)
    # Row-level: bin each score into the same deciles with numpy, then the textbook formula.
    inner = edges[1:-1]
    ref_counts = np.bincount(np.searchsorted(inner, p_ref, side="right"), minlength=inner.size + 1)
    cur_counts = np.bincount(np.searchsorted(inner, p_cur, side="right"), minlength=inner.size + 1)
    assert finding.value == pytest.approx(_numpy_psi(ref_counts, cur_counts), rel=1e-12)
    # The snapped deciles hold close to a tenth of the reference each.
    assert np.all(np.abs(ref_counts / p_ref.size - 0.1) < 0.01)
    assert finding.status == "review"
    assert finding.value is not None
    assert 0.1 <= finding.value < 0.25
    assert finding.n == p_cur.size


def test_psi_is_not_judged_on_small_windows() -> None:
    rng = np.random.default_rng(2)
    reference = Reference(cube=_cube(rng.beta(1, 10, 5000), np.zeros(5000)), days=30)
    small = WindowData(WINDOW, _cube(rng.beta(3, 5, 499), np.zeros(499)))
    finding = score_drift(small, reference, default_config().drift)
    assert finding is not None
    assert finding.status == "insufficient"
    assert finding.value is not None
    assert finding.value > 0.25


def test_input_drift_counts_missing_values_as_a_bin() -> None:
    rng = np.random.default_rng(3)
    age_ref = rng.normal(60, 15, 10_000)
    edges = decile_edges(age_ref)
    age_cur = rng.normal(60, 15, 2_000)
    age_cur[:300] = np.nan
    reference = Reference(
        cube=_cube(np.full(10, 0.1), np.zeros(10)),
        days=30,
        features={"age": histogram(age_ref, edges), "lactate": histogram(age_ref, edges)},
    )
    data = WindowData(
        WINDOW,
        _cube(np.full(10, 0.1), np.zeros(10)),
        features={"age": histogram(age_cur, edges), "lactate": histogram(age_ref[:2000], edges)},
    )
    found = {f.metric: f for f in input_drift(data, reference, default_config().drift)}
    ref_counts = np.append(histogram(age_ref, edges).counts, 0.0)
    cur_counts = np.append(histogram(age_cur, edges).counts, 300.0)
    assert found["psi:age"].value == pytest.approx(_numpy_psi(ref_counts, cur_counts), rel=1e-12)
    assert found["psi:age"].status == "alarm"  # 15% missing against none
    assert found["psi:lactate"].status == "ok"
    mismatched = WindowData(WINDOW, data.cube, features={"age": FeatureHistogram(np.ones(3))})
    with pytest.raises(ValueError, match="different bins"):
        input_drift(mismatched, reference, default_config().drift)


def test_cbpe_expected_counts_are_row_level_sums() -> None:
    rng = np.random.default_rng(4)
    p = rng.beta(1, 8, 5000)
    y = np.full(p.size, np.nan)
    y[:1000] = rng.random(1000) < p[:1000]  # labelled rows are not part of the estimate
    expected = expected_confusion(level_counts(p, y, EDGES), 0.2)
    q = p[1000:]
    flagged = q >= 0.2
    assert expected.tp == pytest.approx(q[flagged].sum(), rel=1e-12)
    assert expected.fp == pytest.approx((1 - q[flagged]).sum(), rel=1e-12)
    assert expected.fn == pytest.approx(q[~flagged].sum(), rel=1e-12)
    assert expected.tn == pytest.approx((1 - q[~flagged]).sum(), rel=1e-12)
    assert expected.var_tp == pytest.approx((q[flagged] * (1 - q[flagged])).sum(), rel=1e-9)
    assert expected.sensitivity == pytest.approx(q[flagged].sum() / q.sum(), rel=1e-12)


def test_cbpe_flags_a_lower_estimated_sensitivity_and_marks_it_estimated() -> None:
    rng = np.random.default_rng(5)
    p_ref = rng.beta(1, 8, 50_000)
    y_ref = (rng.random(p_ref.size) < p_ref).astype(float)
    reference = Reference(cube=_cube(p_ref, y_ref), days=365)
    config = default_config().estimated_performance
    same = WindowData(WINDOW, _cube(rng.beta(1, 8, 4000), np.full(4000, np.nan)))
    # Scores squeezed towards the middle: fewer events sit above the threshold.
    squeezed = WindowData(WINDOW, _cube(rng.beta(3, 20, 4000), np.full(4000, np.nan)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedMetricWarning)
        ok = {f.metric: f for f in estimated_performance(same, reference, config, 0.2)}
        shifted = {f.metric: f for f in estimated_performance(squeezed, reference, config, 0.2)}
    assert all(f.status == "ok" for f in ok.values())
    assert ok["sensitivity"].estimated
    assert not ok["alert_rate"].estimated
    assert shifted["sensitivity"].status == "review"
    assert shifted["sensitivity"].value is not None
    assert shifted["sensitivity"].value < ok["sensitivity"].value  # type: ignore[operator]
    assert "estimated sensitivity" in shifted["sensitivity"].message
    assert all(f.subject == OVERALL for f in shifted.values())


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=80),
    st.sampled_from([0.05, 0.2, 0.5]),
)
def test_cbpe_counts_partition_the_unlabelled_rows(scores: list[float], threshold: float) -> None:
    p = np.array(scores)
    edges = edges_with_thresholds(50, [threshold])
    e = expected_confusion(level_counts(p, np.full(p.size, np.nan), edges), threshold)
    assert e.tp + e.fn == pytest.approx(p.sum(), abs=1e-9)
    assert e.tp + e.fp == pytest.approx(float((p >= threshold).sum()), abs=1e-9)
    assert e.n == pytest.approx(p.size, abs=1e-9)
    assert 0 <= e.var_tp <= e.tp + 1e-12
