"""Threshold metrics, Wilson intervals and decision curves from cubes.

References: scikit-learn's confusion matrix and statsmodels' Wilson interval on row data, and net
benefit written directly from Vickers & Elkin (2006).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix
from statsmodels.stats.proportion import proportion_confint

from steward.cube import LevelCounts, edges_with_thresholds
from steward.metrics._counts import UndefinedMetricWarning
from steward.metrics.thresholds import (
    alert_rate_values,
    confusion_counts,
    decision_curve,
    net_benefit_values,
    npv_values,
    ppv_values,
    sensitivity_values,
    specificity_values,
    threshold_metrics,
    treat_all_net_benefit_values,
    wilson_interval,
)

from ._reference import level_counts

THRESHOLDS = [0.05, 0.1, 0.29, 0.5]
EDGES = edges_with_thresholds(100, THRESHOLDS)


def rows(n: int = 2000, prevalence: float = 0.15, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(float)
    p = 1.0 / (1.0 + np.exp(-rng.normal(-2.0 + 1.2 * y, 1.0)))
    p[:5] = 0.29  # scores exactly on a threshold are flagged
    return p, y


def row_net_benefit(p: np.ndarray, y: np.ndarray, t: float) -> float:
    """Vickers & Elkin (2006): NB = TP/n - FP/n * t/(1-t), straight from the rows."""
    flagged = p >= t
    return float(np.mean(flagged & (y == 1)) - np.mean(flagged & (y == 0)) * t / (1 - t))


@pytest.mark.parametrize("threshold", [0.0, *THRESHOLDS, 0.99])
def test_confusion_counts_equal_sklearn(threshold: float) -> None:
    p, y = rows()
    tp, fp, tn, fn = confusion_counts(level_counts(p, y, EDGES), threshold)
    (sk_tn, sk_fp), (sk_fn, sk_tp) = confusion_matrix(y, p >= threshold, labels=[0, 1])
    assert (float(tp), float(fp), float(tn), float(fn)) == (sk_tp, sk_fp, sk_tn, sk_fn)


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_net_benefit_equals_row_formula(threshold: float) -> None:
    p, y = rows()
    counts = level_counts(p, y, EDGES)
    expected = row_net_benefit(p, y, threshold)
    assert float(net_benefit_values(counts, threshold)) == pytest.approx(expected, abs=1e-14)
    metrics = threshold_metrics(counts, threshold)
    assert metrics.net_benefit.value == pytest.approx(expected, abs=1e-14)
    assert metrics.net_benefit.ci_low is None
    prevalence = y.mean()
    treat_all = prevalence - (1 - prevalence) * threshold / (1 - threshold)
    assert metrics.treat_all_net_benefit == pytest.approx(treat_all, abs=1e-14)
    assert float(treat_all_net_benefit_values(counts, threshold)) == pytest.approx(treat_all)
    # Treating everyone is the model at threshold 0 (every row flagged).
    all_flagged = row_net_benefit(np.ones_like(p), y, threshold)
    assert metrics.treat_all_net_benefit == pytest.approx(all_flagged, abs=1e-14)


def test_threshold_metrics_match_row_level_proportions_and_wilson() -> None:
    p, y = rows(seed=1)
    t = 0.29
    m = threshold_metrics(level_counts(p, y, EDGES), t)
    flagged = p >= t
    cases = {
        "sensitivity": (flagged & (y == 1), y == 1),
        "specificity": (~flagged & (y == 0), y == 0),
        "ppv": (flagged & (y == 1), flagged),
        "npv": (~flagged & (y == 0), ~flagged),
        "alert_rate": (flagged, np.ones_like(flagged)),
    }
    for name, (hits, among) in cases.items():
        estimate = getattr(m, name)
        successes, trials = int(np.sum(hits & among)), int(np.sum(among))
        low, high = proportion_confint(successes, trials, alpha=0.05, method="wilson")
        assert estimate.value == pytest.approx(successes / trials, abs=1e-15), name
        assert estimate.ci_low == pytest.approx(low, abs=1e-12), name
        assert estimate.ci_high == pytest.approx(high, abs=1e-12), name
    assert (m.tp, m.fp) == (np.sum(flagged & (y == 1)), np.sum(flagged & (y == 0)))
    assert m.alerts_per_true_positive.value == pytest.approx(flagged.sum() / m.tp)
    assert m.alerts_per_true_positive.ci_low == pytest.approx(1 / m.ppv.ci_high)  # type: ignore[operator]
    assert m.alerts_per_true_positive.ci_high == pytest.approx(1 / m.ppv.ci_low)  # type: ignore[operator]
    assert m.threshold == t


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.sampled_from([0.01, 0.05, 0.1, 0.32]),
)
def test_wilson_equals_statsmodels(case: tuple[int, int], alpha: float) -> None:
    successes, trials = case
    if trials == 0:
        with pytest.warns(UndefinedMetricWarning):
            low, high = wilson_interval(successes, trials, alpha)
        assert np.isnan(low)
        assert np.isnan(high)
        return
    low, high = wilson_interval(successes, trials, alpha)
    expected_low, expected_high = proportion_confint(successes, trials, alpha, method="wilson")
    assert float(low) == pytest.approx(expected_low, abs=1e-12)
    assert float(high) == pytest.approx(expected_high, abs=1e-12)


def test_wilson_is_vectorised_and_validates() -> None:
    x = np.array([[0, 3, 10], [1, 5, 7]])
    n = np.array([10, 10, 10])
    low, high = wilson_interval(x, n)
    assert low.shape == high.shape == (2, 3)
    expected_low, expected_high = proportion_confint(x, n, method="wilson")
    np.testing.assert_allclose(low, expected_low, atol=1e-12)
    np.testing.assert_allclose(high, expected_high, atol=1e-12)
    assert low[0, 0] == 0.0
    assert high[0, 2] == 1.0
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="alpha"):
        wilson_interval(1, 10, alpha=0.0)


def test_decision_curve_is_net_benefit_over_thresholds() -> None:
    p, y = rows(seed=2)
    counts = level_counts(p, y, EDGES)
    grid = EDGES[1:60:7]
    model, treat_all = decision_curve(counts, grid)
    assert model.shape == treat_all.shape == grid.shape
    expected = [row_net_benefit(p, y, t) for t in grid]
    np.testing.assert_allclose(model, expected, atol=1e-14)
    prevalence = y.mean()
    np.testing.assert_allclose(treat_all, prevalence - (1 - prevalence) * grid / (1 - grid))


def test_threshold_must_be_a_bin_edge() -> None:
    counts = level_counts(*rows(), EDGES)
    with pytest.raises(ValueError, match="edges_with_thresholds"):
        threshold_metrics(counts, 0.123)
    with pytest.raises(ValueError, match="not the lower edge"):
        net_benefit_values(counts, 1.0)  # the top of the score range starts no bin
    with pytest.raises(ValueError, match="not the lower edge"):
        decision_curve(counts, [0.1, 0.2001])
    with pytest.raises(ValueError, match="batch axes"):
        threshold_metrics(LevelCounts(EDGES, np.stack([counts.stats] * 2)), 0.1)


def test_unlabelled_rows_are_ignored() -> None:
    p, y = rows(seed=3)
    extra = np.random.default_rng(3).random(300)
    counts = level_counts(np.r_[p, extra], np.r_[y, np.full(300, np.nan)], EDGES)
    assert threshold_metrics(counts, 0.1) == threshold_metrics(level_counts(p, y, EDGES), 0.1)


def test_no_alert_is_a_true_positive() -> None:
    p = np.array([0.9, 0.8, 0.1, 0.2])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    m = threshold_metrics(level_counts(p, y, EDGES), 0.5)
    assert m.ppv.value == 0.0
    assert m.alerts_per_true_positive.value == math.inf
    assert m.alerts_per_true_positive.ci_high == math.inf
    assert m.alerts_per_true_positive.ci_low == pytest.approx(1 / m.ppv.ci_high)  # type: ignore[operator]
    assert m.alerts_per_true_positive.as_dict()["value"] is None


def test_degenerate_input_warns_and_returns_nan() -> None:
    only_negatives = level_counts([0.1, 0.3, 0.7], [0, 0, 0], EDGES)
    with pytest.warns(UndefinedMetricWarning, match="Sensitivity"):
        m = threshold_metrics(only_negatives, 0.5)
    assert math.isnan(m.sensitivity.value)
    assert math.isnan(m.sensitivity.ci_low)  # type: ignore[arg-type]
    assert m.specificity.value == pytest.approx(2 / 3)
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(float(ppv_values(level_counts([0.1], [1], EDGES), 0.5)))
    empty = LevelCounts(EDGES, np.zeros((EDGES.size - 1, 3, 8)))
    with pytest.warns(UndefinedMetricWarning, match="Net benefit"):
        model, treat_all = decision_curve(empty, [0.1])
    assert np.isnan(model).all()
    assert np.isnan(treat_all).all()


BATCHED = (
    sensitivity_values,
    specificity_values,
    ppv_values,
    npv_values,
    alert_rate_values,
    net_benefit_values,
    treat_all_net_benefit_values,
)


@settings(max_examples=30, deadline=None)
@given(
    st.tuples(st.integers(1, 3), st.integers(1, 4)),
    st.integers(2, 10),
    st.integers(0, 2**32 - 1),
    st.data(),
)
def test_batched_evaluation_equals_looping(
    batch: tuple[int, int], n_bins: int, seed: int, data: st.DataObject
) -> None:
    edges = edges_with_thresholds(n_bins)
    rng = np.random.default_rng(seed)
    stats = np.zeros((*batch, n_bins, 3, 1))
    stats[..., 0] = rng.poisson(1.0, size=(*batch, n_bins, 3))
    batched = LevelCounts(edges, stats)
    threshold = float(data.draw(st.sampled_from(list(edges[:-1]))))
    grid = edges[: data.draw(st.integers(1, n_bins))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        results = {f: f(batched, threshold) for f in BATCHED}
        curve = decision_curve(batched, grid)
        assert curve[0].shape == curve[1].shape == (*batch, grid.size)
        for index in np.ndindex(*batch):
            one = LevelCounts(edges, stats[index])
            for f, values in results.items():
                assert values.shape == batch
                np.testing.assert_array_equal(values[index], f(one, threshold))
            single = decision_curve(one, grid)
            np.testing.assert_array_equal(curve[0][index], single[0])
            np.testing.assert_array_equal(curve[1][index], single[1])
            m = threshold_metrics(one, threshold)
            np.testing.assert_array_equal(m.sensitivity.value, results[sensitivity_values][index])
            np.testing.assert_array_equal(m.net_benefit.value, results[net_benefit_values][index])


def test_threshold_metrics_warn_once_per_undefined_proportion_in_order() -> None:
    # Nothing flagged at 0.5 and no events: PPV, sensitivity and the alerts' share among
    # nobody are undefined; each proportion warns once, PPV first, as one call apiece did.
    only_negatives = level_counts([0.1, 0.3], [0, 0], EDGES)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = threshold_metrics(only_negatives, 0.5)
    messages = [str(w.message).split(" is undefined")[0] for w in caught]
    assert messages == ["PPV", "Sensitivity"]
    assert all(w.filename == __file__ for w in caught)
    assert math.isnan(m.ppv.value)
    assert math.isnan(m.sensitivity.value)
    low, high = wilson_interval([2, 0, 2], [2, 2, 2])
    assert (m.specificity.ci_low, m.specificity.ci_high) == (low[0], high[0])
    assert (m.npv.ci_low, m.npv.ci_high) == (low[0], high[0])
    assert (m.alert_rate.ci_low, m.alert_rate.ci_high) == (low[1], high[1])


def test_threshold_metrics_intervals_equal_one_wilson_call_each() -> None:
    p, y = rows(seed=3)
    m = threshold_metrics(level_counts(p, y, EDGES), 0.1)
    pairs = {
        "sensitivity": (m.tp, m.tp + m.fn),
        "specificity": (m.tn, m.tn + m.fp),
        "ppv": (m.tp, m.tp + m.fp),
        "npv": (m.tn, m.tn + m.fn),
        "alert_rate": (m.tp + m.fp, m.tp + m.fp + m.tn + m.fn),
    }
    for name, (successes, trials) in pairs.items():
        low, high = wilson_interval(successes, trials)
        estimate = getattr(m, name)
        assert (estimate.value, estimate.ci_low, estimate.ci_high) == (
            successes / trials,
            float(low),
            float(high),
        ), name
