"""AUROC, DeLong variance, ROC curve, average precision and paired DeLong from cubes.

References: scikit-learn on row data, and brute-force O(n^2) DeLong written from the paper.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.metrics import roc_curve as sklearn_roc_curve

from steward.cube import LevelCounts, Margin, PairedMargin, assign_bins, edges_with_thresholds
from steward.metrics._counts import UndefinedMetricWarning, counts_at_edges
from steward.metrics.discrimination import (
    auroc,
    auroc_binning_bound,
    auroc_values,
    average_precision,
    average_precision_values,
    delong_variance_values,
    paired_auroc_difference,
    roc_curve,
)

from ._reference import level_counts

EDGES = edges_with_thresholds(200, [0.123, 0.5])


def midpoints(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each score replaced by the midpoint of its bin: the binned score as a row-level score."""
    b = assign_bins(scores, edges)
    return (edges[b] + edges[b + 1]) / 2.0


def sample(n: int, prevalence: float, seed: int, separation: float = 1.0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(float)
    if y.sum() == 0:
        y[0] = 1.0
    if y.sum() == n:
        y[0] = 0.0
    z = rng.normal(-2.0 + separation * y, 1.0)
    return 1.0 / (1.0 + np.exp(-z)), y


SCENARIOS = {
    "typical": sample(3000, 0.1, 1),
    "rare events": sample(20000, 0.005, 2),
    "tiny group": (np.array([0.1, 0.4, 0.35, 0.8, 0.62]), np.array([0.0, 0.0, 1.0, 1.0, 0.0])),
    "heavy ties": (
        np.round(sample(500, 0.3, 3)[0], 1),
        sample(500, 0.3, 3)[1],
    ),
    "constant score": (np.full(50, 0.3), (np.arange(50) % 3 == 0).astype(float)),
    "perfect": (np.r_[np.full(5, 0.2), np.full(7, 0.9)], np.r_[np.zeros(5), np.ones(7)]),
}


def brute_force_delong(x_pos: np.ndarray, y_neg: np.ndarray):
    """Placement values straight from DeLong, DeLong & Clarke-Pearson (1988), section 2."""
    psi = (x_pos[:, None] > y_neg[None, :]) + 0.5 * (x_pos[:, None] == y_neg[None, :])
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)
    return psi.mean(), v10, v01


def brute_force_variance(scores: np.ndarray, labels: np.ndarray) -> float:
    theta, v10, v01 = brute_force_delong(scores[labels == 1], scores[labels == 0])
    s10 = np.sum((v10 - theta) ** 2) / (v10.size - 1)
    s01 = np.sum((v01 - theta) ** 2) / (v01.size - 1)
    return s10 / v10.size + s01 / v01.size


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_auroc_equals_sklearn_on_binned_scores(name: str) -> None:
    p, y = SCENARIOS[name]
    counts = level_counts(p, y, EDGES)
    expected = roc_auc_score(y, midpoints(p, EDGES))
    assert abs(auroc(counts).value - expected) <= 1e-12
    assert abs(float(auroc_values(counts)) - expected) <= 1e-12


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_auroc_of_continuous_score_within_binning_bound(name: str) -> None:
    p, y = SCENARIOS[name]
    counts = level_counts(p, y, EDGES)
    exact = roc_auc_score(y, p)
    bound = auroc_binning_bound(counts)
    assert abs(auroc(counts).value - exact) <= bound + 1e-15


def test_binning_bound_is_attained_and_shrinks_with_finer_bins() -> None:
    # All positives just above all negatives inside one bin: binned AUC 1/2, exact AUC 1.
    p = np.r_[np.full(4, 0.501), np.full(6, 0.502)]
    y = np.r_[np.zeros(4), np.ones(6)]
    coarse = level_counts(p, y, edges_with_thresholds(10))
    assert auroc_binning_bound(coarse) == 0.5
    assert auroc(coarse).value == 0.5
    p2, y2 = SCENARIOS["typical"]
    bounds = [
        auroc_binning_bound(level_counts(p2, y2, edges_with_thresholds(k))) for k in (50, 500)
    ]
    assert bounds[1] < bounds[0] / 5


@pytest.mark.parametrize("name", ["typical", "tiny group", "heavy ties", "perfect", "rare events"])
def test_delong_variance_equals_brute_force(name: str) -> None:
    p, y = SCENARIOS[name]
    if name == "rare events":
        p, y = p[:4000], y[:4000]
    counts = level_counts(p, y, EDGES)
    expected = brute_force_variance(midpoints(p, EDGES), y)
    assert float(delong_variance_values(counts)) == pytest.approx(expected, rel=1e-10, abs=1e-15)


def test_delong_interval_is_on_the_logit_scale_and_within_unit_interval() -> None:
    p, y = SCENARIOS["typical"]
    counts = level_counts(p, y, EDGES)
    estimate = auroc(counts)
    se = math.sqrt(brute_force_variance(midpoints(p, EDGES), y))
    logit = math.log(estimate.value / (1 - estimate.value))
    half = 1.959963984540054 * se / (estimate.value * (1 - estimate.value))
    assert estimate.ci_low == pytest.approx(1 / (1 + math.exp(-(logit - half))), rel=1e-12)
    assert estimate.ci_high == pytest.approx(1 / (1 + math.exp(-(logit + half))), rel=1e-12)
    tiny = auroc(level_counts(*SCENARIOS["tiny group"], EDGES))
    assert tiny.ci_low is not None
    assert tiny.ci_high is not None
    assert 0.0 <= tiny.ci_low < tiny.value < tiny.ci_high <= 1.0
    perfect = auroc(level_counts(*SCENARIOS["perfect"], EDGES))
    assert (perfect.value, perfect.ci_low, perfect.ci_high) == (1.0, 1.0, 1.0)
    wider = auroc(counts, alpha=0.01)
    assert wider.ci_low is not None
    assert wider.ci_low < estimate.ci_low  # type: ignore[operator]


def test_unlabelled_rows_are_ignored() -> None:
    p, y = SCENARIOS["typical"]
    rng = np.random.default_rng(9)
    extra = rng.random(500)
    with_unlabelled = level_counts(np.r_[p, extra], np.r_[y, np.full(500, np.nan)], EDGES)
    labelled_only = level_counts(p, y, EDGES)
    assert auroc(with_unlabelled) == auroc(labelled_only)
    assert average_precision(with_unlabelled) == average_precision(labelled_only)


@pytest.mark.parametrize("name", ["typical", "tiny group", "heavy ties", "constant score"])
def test_roc_curve_equals_sklearn_on_binned_scores(name: str) -> None:
    p, y = SCENARIOS[name]
    fpr, tpr, thresholds = roc_curve(level_counts(p, y, EDGES))
    sk_fpr, sk_tpr, sk_thresholds = sklearn_roc_curve(
        y, midpoints(p, EDGES), drop_intermediate=False
    )
    np.testing.assert_allclose(fpr, sk_fpr, rtol=0, atol=1e-15)
    np.testing.assert_allclose(tpr, sk_tpr, rtol=0, atol=1e-15)
    assert thresholds[0] == np.inf
    # Each threshold is the lower edge of the bin whose midpoint sklearn used.
    np.testing.assert_array_equal(thresholds[1:], EDGES[assign_bins(sk_thresholds[1:], EDGES)])


def test_roc_curve_keeps_empty_bins_on_request() -> None:
    fpr, tpr, thresholds = roc_curve(
        level_counts(*SCENARIOS["tiny group"], EDGES), drop_empty=False
    )
    assert fpr.size == tpr.size == thresholds.size == EDGES.size
    np.testing.assert_array_equal(thresholds[1:], EDGES[-2::-1])
    assert np.all(np.diff(fpr) >= 0)
    assert np.all(np.diff(tpr) >= 0)


@pytest.mark.parametrize("name", ["typical", "rare events"])
def test_average_precision_close_to_sklearn_on_continuous_scores(name: str) -> None:
    p, y = SCENARIOS[name]
    fine = edges_with_thresholds(5000)
    value = average_precision(level_counts(p, y, fine)).value
    assert value == pytest.approx(average_precision_score(y, p), abs=2e-3)


def test_average_precision_is_exact_when_each_bin_holds_one_class() -> None:
    rng = np.random.default_rng(4)
    edges = edges_with_thresholds(60)
    positive_bin = rng.random(60) < 0.3
    p = rng.random(400)
    y = positive_bin[assign_bins(p, edges)].astype(float)
    value = float(average_precision_values(level_counts(p, y, edges)))
    assert value == pytest.approx(average_precision_score(y, p), rel=1e-10)


def stepwise_ap(ranked_labels: np.ndarray) -> np.ndarray:
    """AP of labels listed best-ranked first (last axis): mean precision at each positive."""
    precision = np.cumsum(ranked_labels, axis=-1) / np.arange(1, ranked_labels.shape[-1] + 1)
    return np.sum(precision * ranked_labels, axis=-1) / np.sum(ranked_labels, axis=-1)


def test_stepwise_reference_equals_sklearn() -> None:
    rng = np.random.default_rng(3)
    labels = (rng.random((5, 30)) < 0.3).astype(float)
    labels[:, 0] = 1.0
    for row in labels:
        assert stepwise_ap(row) == pytest.approx(
            average_precision_score(row, -np.arange(30.0)), rel=1e-12
        )


def expected_ap_by_enumeration(bins: list[tuple[int, int]]) -> float:
    """Mean AP over every distinct within-bin order of (positives, negatives), top bin first."""
    per_bin_orders = [
        sorted(set(itertools.permutations([1] * pos + [0] * neg))) for pos, neg in bins
    ]
    sequences = np.array(
        [
            [label for order in orders for label in order]
            for orders in itertools.product(*per_bin_orders)
        ],
        dtype=float,
    )
    return float(np.mean(stepwise_ap(sequences)))


def cube_of_bins(bins: list[tuple[int, int]]) -> LevelCounts:
    """Counts with ``bins[0]`` the highest-score bin; each entry is (positives, negatives)."""
    edges = edges_with_thresholds(len(bins))
    stats = np.zeros((len(bins), 3, 1))
    for i, (pos, neg) in enumerate(bins):
        stats[len(bins) - 1 - i, 1, 0] = pos
        stats[len(bins) - 1 - i, 0, 0] = neg
    return LevelCounts(edges, stats)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=4))
def test_average_precision_is_the_expectation_over_within_bin_orders(
    bins: list[tuple[int, int]],
) -> None:
    if sum(pos for pos, _ in bins) == 0:
        bins = [*bins, (1, 0)]
    expected = expected_ap_by_enumeration(bins)
    assert float(average_precision_values(cube_of_bins(bins))) == pytest.approx(expected, rel=1e-12)


def test_average_precision_of_a_single_mixed_bin_is_its_expectation() -> None:
    # Regression check on a larger bin than enumeration allows: 10 positives, 30 negatives.
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(10), np.zeros(30)]
    draws = stepwise_ap(rng.permuted(np.tile(labels, (20000, 1)), axis=1))
    value = float(average_precision_values(cube_of_bins([(10, 30)])))
    assert value == pytest.approx(np.mean(draws), abs=4 * np.std(draws) / math.sqrt(draws.size))
    assert value != pytest.approx(stepwise_ap(labels), abs=0.1)  # not the best-case order


def random_stats(shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    stats = np.zeros((*shape, 3, 1))
    stats[..., :, 0] = rng.poisson(0.7, size=(*shape, 3))
    return stats


@settings(max_examples=30, deadline=None)
@given(
    st.tuples(st.integers(1, 3), st.integers(1, 3)),
    st.integers(2, 12),
    st.integers(0, 2**32 - 1),
)
def test_batched_evaluation_equals_looping(batch: tuple[int, int], n_bins: int, seed: int) -> None:
    edges = edges_with_thresholds(n_bins)
    batched = LevelCounts(edges, random_stats((*batch, n_bins), seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        results = {
            f: f(batched) for f in (auroc_values, delong_variance_values, average_precision_values)
        }
        for index in np.ndindex(*batch):
            one = LevelCounts(edges, batched.stats[index])
            for f, values in results.items():
                assert values.shape == batch
                np.testing.assert_array_equal(values[index], f(one))


# Row counts are whole numbers (also in bootstrap and replicate cubes); denormal floats such as
# 5e-324 underflow in the products and are not counts.
@given(arrays(np.float64, (3, 5), elements=st.integers(0, 50).map(float)))
def test_auroc_is_a_probability_and_symmetric_under_reversal(pos_neg: np.ndarray) -> None:
    stats = np.zeros((5, 3, 1))
    stats[:, 0, 0], stats[:, 1, 0] = pos_neg[0], pos_neg[1]
    counts = LevelCounts(edges_with_thresholds(5), stats)
    reversed_counts = LevelCounts(counts.edges, stats[::-1].copy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        value, flipped = float(auroc_values(counts)), float(auroc_values(reversed_counts))
    if pos_neg[0].sum() > 0 and pos_neg[1].sum() > 0:
        assert 0.0 <= value <= 1.0
        assert value + flipped == pytest.approx(1.0, abs=1e-12)
    else:
        assert math.isnan(value)


def test_degenerate_input_warns_and_returns_nan() -> None:
    only_negatives = level_counts([0.1, 0.4, 0.9], [0, 0, 0], EDGES)
    with pytest.warns(UndefinedMetricWarning):
        estimate = auroc(only_negatives)
    assert math.isnan(estimate.value)
    assert estimate.ci_low is not None
    assert math.isnan(estimate.ci_low)
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(average_precision(only_negatives).value)
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(auroc_binning_bound(only_negatives))
    one_positive = level_counts([0.1, 0.4, 0.9], [0, 1, 0], EDGES)
    with pytest.warns(UndefinedMetricWarning, match="DeLong"):
        estimate = auroc(one_positive)
    assert estimate.value == 0.5
    assert math.isnan(estimate.ci_high)  # type: ignore[arg-type]


def test_invalid_counts_are_rejected() -> None:
    counts = level_counts(*SCENARIOS["tiny group"], EDGES)
    batched = LevelCounts(EDGES, np.stack([counts.stats, counts.stats]))
    with pytest.raises(ValueError, match="auroc_values"):
        auroc(batched)
    with pytest.raises(ValueError, match="shape"):
        auroc_values(LevelCounts(EDGES, counts.stats[:-1]))
    negative = counts.stats.copy()
    negative[0, 0, 0] = -1.0
    with pytest.raises(ValueError, match="non-negative"):
        auroc_values(LevelCounts(EDGES, negative))
    with pytest.raises(ValueError, match="alpha"):
        auroc(counts, alpha=1.5)


# --- paired DeLong ---------------------------------------------------------------------------


def paired_cube(score: np.ndarray, comparator: np.ndarray, labels: np.ndarray, edges: np.ndarray):
    counts = np.zeros((edges.size - 1, edges.size - 1, 3))
    code = np.where(np.isnan(labels), 2, np.nan_to_num(labels)).astype(int)
    np.add.at(counts, (assign_bins(score, edges), assign_bins(comparator, edges), code), 1.0)
    margins = [
        Margin((), ((),), edges, level_counts(s, labels, edges).stats[None])
        for s in (score, comparator)
    ]
    return PairedMargin("comparator", edges, edges, counts, margins[0], margins[1])


def brute_force_paired(score: np.ndarray, comparator: np.ndarray, labels: np.ndarray):
    """Paired DeLong from the paper's definitions: (difference, variance of the difference)."""
    pos, neg = labels == 1, labels == 0
    ts, v10s, v01s = brute_force_delong(score[pos], score[neg])
    tc, v10c, v01c = brute_force_delong(comparator[pos], comparator[neg])
    s10 = np.cov(np.vstack([v10s, v10c]))
    s01 = np.cov(np.vstack([v01s, v01c]))
    contrast = np.array([1.0, -1.0])
    variance = contrast @ (s10 / pos.sum() + s01 / neg.sum()) @ contrast
    return ts - tc, variance


@pytest.mark.parametrize(("n", "prevalence", "seed"), [(60, 0.3, 0), (200, 0.1, 1), (12, 0.5, 2)])
def test_paired_delong_equals_brute_force(n: int, prevalence: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    edges = edges_with_thresholds(16)
    score, y = sample(n, prevalence, seed, separation=1.5)
    comparator = np.clip(score + rng.normal(0, 0.15, n), 0, 1)
    score, comparator = midpoints(score, edges), midpoints(comparator, edges)
    result = paired_auroc_difference(paired_cube(score, comparator, y, edges))
    difference, variance = brute_force_paired(score, comparator, y)
    assert result.value == pytest.approx(difference, abs=1e-12)
    assert result.score.value == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert result.comparator.value == pytest.approx(roc_auc_score(y, comparator), abs=1e-12)
    se = math.sqrt(variance)
    assert result.ci_low == pytest.approx(max(-1, difference - 1.959963984540054 * se), rel=1e-9)
    assert result.ci_high == pytest.approx(min(1, difference + 1.959963984540054 * se), rel=1e-9)
    assert result.p_value == pytest.approx(math.erfc(abs(difference) / se / math.sqrt(2)), rel=1e-9)
    assert result.difference.value == result.value
    alone = auroc(level_counts(score, y, edges))
    assert result.score == alone


def test_paired_delong_of_identical_scores_is_zero_with_p_one() -> None:
    score, y = sample(100, 0.3, 5)
    result = paired_auroc_difference(paired_cube(score, score, y, edges_with_thresholds(32)))
    assert result.value == 0.0
    assert result.p_value == 1.0
    assert result.ci_low == result.ci_high == 0.0


def test_paired_delong_ignores_unlabelled_rows_and_checks_shape() -> None:
    score, y = sample(100, 0.3, 6)
    comparator = score[::-1].copy()
    edges = edges_with_thresholds(32)
    base = paired_auroc_difference(paired_cube(score, comparator, y, edges))
    y_extra = np.r_[y, np.full(20, np.nan)]
    extended = paired_cube(np.r_[score, score[:20]], np.r_[comparator, score[:20]], y_extra, edges)
    assert paired_auroc_difference(extended) == base
    bad = PairedMargin("c", edges, edges, np.zeros((3, 3, 3)), extended.score, extended.comparator)
    with pytest.raises(ValueError, match="shape"):
        paired_auroc_difference(bad)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 7), st.integers(0, 7), st.booleans()), min_size=4, max_size=40
    )
)
def test_paired_delong_equals_brute_force_with_ties(rows: list[tuple[int, int, bool]]) -> None:
    labels = np.array([float(r[2]) for r in rows])
    if labels.sum() < 2 or (1 - labels).sum() < 2:
        return
    edges = edges_with_thresholds(8)
    score = (np.array([r[0] for r in rows]) + 0.5) / 8
    comparator = (np.array([r[1] for r in rows]) + 0.5) / 8
    result = paired_auroc_difference(paired_cube(score, comparator, labels, edges))
    difference, variance = brute_force_paired(score, comparator, labels)
    assert result.value == pytest.approx(difference, abs=1e-12)
    if variance > 1e-12:
        z = abs(difference) / math.sqrt(variance)
        assert result.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-8, abs=1e-300)


@pytest.mark.slow
def test_delong_interval_covers_the_binned_auroc_at_the_nominal_rate() -> None:
    # Binormal scores, n = 2,000, prevalence 10%; truth from one very large sample on the same
    # bins (the binned score's AUROC), so only the interval's own error is measured.
    edges = edges_with_thresholds(1000)
    truth = auroc(level_counts(*sample(2_000_000, 0.1, 99), edges)).value
    covered = 0
    replications = 1000
    for seed in range(replications):
        estimate = auroc(level_counts(*sample(2000, 0.1, 10_000 + seed), edges))
        covered += estimate.ci_low <= truth <= estimate.ci_high  # type: ignore[operator]
    assert 0.93 <= covered / replications <= 0.97


def test_edge_counts_are_computed_once_per_counts_and_cannot_be_changed() -> None:
    rng = np.random.default_rng(3)
    p = rng.random(500)
    counts = level_counts(p, (rng.random(500) < p).astype(float), EDGES)
    shared = counts_at_edges(counts)
    assert counts_at_edges(counts) is shared
    for values in shared:
        with pytest.raises(ValueError, match="read-only"):
            values[0] = 1.0
    # metrics reading them leave them as they were
    before = [v.copy() for v in shared]
    auroc(counts), average_precision(counts), roc_curve(counts)
    assert all(np.array_equal(a, b) for a, b in zip(before, shared, strict=True))
