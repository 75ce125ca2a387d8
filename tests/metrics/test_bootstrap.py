"""Cube bootstrap: resampling properties, equivalence with the row-level bootstrap, coverage."""

from __future__ import annotations

import doctest
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.typing import NDArray
from scipy import stats

from steward.cube import NEGATIVE, POSITIVE, STATS, LevelCounts, edges_with_thresholds
from steward.cube.model import Margin, PairedMargin, ReplicateMargin
from steward.metrics.bootstrap import (
    bootstrap,
    bootstrap_ci,
    from_replicates,
    iter_resamples,
    resample,
)
from steward.metrics.paired_bootstrap import (
    iter_paired_resamples,
    paired_bootstrap,
    paired_resample,
)

from ._reference import level_counts

Array = NDArray[np.float64]
THRESHOLD = 0.2


# Metrics written inline from the cube's sufficient statistics (one value per batch element).
def brier(counts: LevelCounts) -> Array:
    neg, pos = counts.stats[..., NEGATIVE, :], counts.stats[..., POSITIVE, :]
    n, s1, s2 = STATS.index("n"), STATS.index("sum_p"), STATS.index("sum_p2")
    loss = neg[..., s2].sum(-1) + (pos[..., n] - 2 * pos[..., s1] + pos[..., s2]).sum(-1)
    return loss / (neg[..., n].sum(-1) + pos[..., n].sum(-1))


def sensitivity(counts: LevelCounts, threshold: float = THRESHOLD) -> Array:
    at_or_above = counts.edges[:-1] >= threshold
    with np.errstate(invalid="ignore"):
        return counts.n_pos[..., at_or_above].sum(-1) / counts.n_pos.sum(-1)


def metrics(counts: LevelCounts) -> dict[str, Array]:
    return {"brier": brier(counts), "sensitivity": sensitivity(counts)}


def simulate(rng: np.random.Generator, n: int, unlabelled: int = 0) -> tuple[Array, Array]:
    p = rng.beta(1.0, 6.0, n)
    y = (rng.random(n) < p).astype(np.float64)
    y[:unlabelled] = np.nan
    return p, y


@pytest.fixture(scope="module")
def rows() -> tuple[Array, Array]:
    return simulate(np.random.default_rng(2024), 3_000, unlabelled=200)


@pytest.fixture(scope="module")
def counts(rows: tuple[Array, Array]) -> LevelCounts:
    return level_counts(*rows, edges_with_thresholds(50, [THRESHOLD]))


def test_stratified_keeps_class_totals_and_cell_means(counts: LevelCounts) -> None:
    reps = resample(counts, 200, "stratified", rng=1)
    assert reps.stats.shape == (200, *counts.stats.shape)
    totals = counts.stats[..., 0].sum(axis=0)
    np.testing.assert_array_equal(reps.stats[..., 0].sum(axis=1), np.tile(totals, (200, 1)))
    occupied = counts.stats[..., 0] > 0
    drawn = reps.stats[..., 0] > 0
    means = np.divide(
        counts.stats,
        counts.stats[..., :1],
        out=np.zeros_like(counts.stats),
        where=occupied[..., None],
    )
    rep_means = np.divide(
        reps.stats, reps.stats[..., :1], out=np.zeros_like(reps.stats), where=drawn[..., None]
    )
    np.testing.assert_allclose(rep_means[drawn], np.broadcast_to(means, reps.stats.shape)[drawn])
    assert not np.any(reps.stats[:, ~occupied])


@settings(max_examples=60, deadline=None)
@given(
    n=hnp.arrays(np.int64, st.tuples(st.integers(1, 6), st.just(3)), elements=st.integers(0, 40)),
    method=st.sampled_from(["stratified", "poisson"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_replicates_are_integer_counts_with_the_cell_means(
    n: NDArray[np.int64], method: str, seed: int
) -> None:
    means = np.random.default_rng(seed).random((*n.shape, len(STATS) - 1))
    stats = np.concatenate([n[..., None], n[..., None] * means], axis=-1).astype(np.float64)
    counts = LevelCounts(np.linspace(0.0, 1.0, n.shape[0] + 1), stats)
    reps = resample(counts, 5, method, rng=seed)  # type: ignore[arg-type]
    new_n = reps.stats[..., 0]
    assert np.all(new_n >= 0)
    np.testing.assert_array_equal(new_n, np.round(new_n))
    assert np.all(reps.stats[:, n == 0] == 0)
    np.testing.assert_allclose(reps.stats[..., 1:], new_n[..., None] * means, atol=1e-9)
    if method == "stratified":
        np.testing.assert_array_equal(new_n.sum(axis=1), np.tile(n.sum(axis=0), (5, 1)))


def test_only_poisson_replicates_vary_the_case_mix(counts: LevelCounts) -> None:
    def prevalence(c: LevelCounts) -> Array:
        return c.n_pos.sum(-1) / (c.n_pos.sum(-1) + c.n_neg.sum(-1))

    stratified = prevalence(resample(counts, 2_000, "stratified", rng=1))
    poisson = prevalence(resample(counts, 2_000, "poisson", rng=1))
    value = float(prevalence(counts))
    n = float(counts.n_pos.sum() + counts.n_neg.sum())
    assert np.all(stratified == value)
    assert poisson.var() == pytest.approx(value * (1 - value) / n, rel=0.1)


@pytest.mark.parametrize("method", ["stratified", "poisson"])
def test_resampled_counts_are_unbiased(counts: LevelCounts, method: str) -> None:
    R = 4_000
    reps = resample(counts, R, method, rng=2)  # type: ignore[arg-type]
    n = counts.stats[..., 0]
    mean = reps.stats[..., 0].mean(axis=0)
    # Each cell's mean of R draws has sd <= sqrt(n / R) under both schemes.
    z = (mean - n)[n > 0] / np.sqrt(n[n > 0] / R)
    assert np.max(np.abs(z)) < 5
    assert np.all(mean[n == 0] == 0)
    var = reps.stats[..., 0].var(axis=0)
    if method == "poisson":
        expected_var = n
    else:
        share = n / n.sum(axis=0)
        expected_var = n.sum(axis=0) * share * (1 - share)
    big = n > 30
    np.testing.assert_allclose(var[big], expected_var[big], rtol=0.15)


def test_poisson_totals_vary_and_have_poisson_variance(counts: LevelCounts) -> None:
    reps = resample(counts, 3_000, "poisson", rng=3)
    n_pos = reps.n_pos.sum(axis=-1)
    assert n_pos.var() == pytest.approx(counts.n_pos.sum(), rel=0.1)


@pytest.mark.parametrize("method", ["stratified", "poisson"])
def test_chunks_reproduce_one_draw(counts: LevelCounts, method: str) -> None:
    whole = resample(counts, 37, method, rng=np.random.default_rng(9))  # type: ignore[arg-type]
    parts = list(iter_resamples(counts, 37, method, np.random.default_rng(9), chunk=5))  # type: ignore[arg-type]
    assert [p.batch_shape[0] for p in parts] == [5] * 7 + [2]
    np.testing.assert_array_equal(np.concatenate([p.stats for p in parts]), whole.stats)
    again = resample(counts, 37, method, rng=np.random.default_rng(9))  # type: ignore[arg-type]
    np.testing.assert_array_equal(again.stats, whole.stats)
    other = resample(counts, 37, method, rng=np.random.default_rng(10))  # type: ignore[arg-type]
    assert not np.array_equal(other.stats, whole.stats)


def test_poisson_replicates_are_numpys_draws_of_every_cell(counts: LevelCounts) -> None:
    # Empty cells (every unlabelled cell of labelled counts) are not drawn; the replicates must
    # still be exactly numpy's Poisson draws of the whole cube, cell means carried along.
    labelled = counts.labelled()
    n = labelled.stats[..., 0]
    assert np.any(n == 0)
    assert np.any(n > 0)
    reps = resample(labelled, 40, "poisson", rng=np.random.default_rng(4))
    draws = np.random.default_rng(4).poisson(n, size=(40, *n.shape)).astype(np.float64)
    np.testing.assert_array_equal(reps.stats[..., 0], draws)
    # every per-bin field is stored contiguously, the layout the metrics read fastest
    assert reps.n_pos.flags.c_contiguous
    assert reps.stat("sum_p", NEGATIVE).flags.c_contiguous
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(n[..., None] > 0, labelled.stats / n[..., None], 0.0)
    np.testing.assert_allclose(reps.stats[..., 1:], (draws[..., None] * means)[..., 1:], rtol=1e-12)


@pytest.mark.parametrize("method", ["stratified", "poisson"])
def test_only_the_named_statistics_are_rescaled(counts: LevelCounts, method: str) -> None:
    labelled = counts.labelled()
    whole = resample(labelled, 30, method, rng=np.random.default_rng(5))  # type: ignore[arg-type]
    named = ("n", "sum_p", "sum_logp")
    (part,) = iter_resamples(
        labelled,
        30,
        method,  # type: ignore[arg-type]
        np.random.default_rng(5),
        chunk=30,
        stats=named,
    )
    kept = [STATS.index(name) for name in named]
    np.testing.assert_array_equal(part.stats[..., kept], whole.stats[..., kept])
    others = [i for i in range(len(STATS)) if i not in kept]
    assert not np.any(part.stats[..., others])
    assert part.n_pos.flags.c_contiguous
    with pytest.raises(ValueError, match="unknown cell statistics"):
        iter_resamples(labelled, 3, "poisson", rng=0, stats=("n", "sum_q"))


def test_metric_block_resamples_every_statistic_its_metrics_read(
    rows: tuple[Array, Array],
) -> None:
    # The evaluation resamples only RESAMPLED_STATS: its metrics must not read any other.
    from steward.evaluation.blocks import RESAMPLED_STATS, _resampled_statistic

    counts = level_counts(*rows, edges_with_thresholds(200, [0.1, THRESHOLD])).labelled()
    statistic = _resampled_statistic([0.1, THRESHOLD], smooth=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        every = bootstrap(counts, statistic, n_replicates=50, method="poisson", seed=3)
        named = bootstrap(
            counts, statistic, n_replicates=50, method="poisson", seed=3, stats=RESAMPLED_STATS
        )
    assert named == every


def test_default_chunks_fit_the_memory_budget() -> None:
    stats = np.zeros((1_000, 3, len(STATS)))
    stats[:, :2, 0] = 50.0
    stats[:, :2, 1] = 10.0
    counts = LevelCounts(edges_with_thresholds(1_000), stats)
    budget = 100 * 2**20
    sizes = [c.stats.nbytes for c in iter_resamples(counts, 1_000, "poisson", 0)]
    assert sum(s // stats.nbytes for s in sizes) == 1_000
    assert max(sizes) * 4 <= budget
    assert len(sizes) <= 10


def test_batch_axes_are_resampled_independently(counts: LevelCounts) -> None:
    batch = LevelCounts(counts.edges, np.stack([counts.stats, 2 * counts.stats]))
    reps = resample(batch, 10, "stratified", rng=4)
    assert reps.stats.shape == (10, 2, *counts.stats.shape)
    np.testing.assert_array_equal(
        reps.n_pos.sum(axis=-1), np.tile([counts.n_pos.sum(), 2 * counts.n_pos.sum()], (10, 1))
    )


def test_resample_validates_input(counts: LevelCounts) -> None:
    fractional = LevelCounts(counts.edges, counts.stats * 0.5)
    with pytest.raises(ValueError, match="integer row counts"):
        resample(fractional, 10, "stratified", rng=0)
    with pytest.raises(ValueError, match="method"):
        resample(counts, 10, "jackknife", rng=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_replicates"):
        resample(counts, 0, "poisson", rng=0)
    with pytest.raises(ValueError, match="integer row counts"):
        iter_resamples(fractional, 10, "poisson", rng=0)  # raised before iteration starts
    with pytest.raises(ValueError, match="chunk"):
        iter_resamples(counts, 10, "poisson", rng=0, chunk=0)


def test_cube_resampling_matches_row_level_bootstrap(rows: tuple[Array, Array]) -> None:
    """The cube bootstrap and the row-level stratified bootstrap give the same distribution."""
    p, y = rows
    edges = edges_with_thresholds(50, [THRESHOLD])
    counts = level_counts(p, y, edges)
    R = 1_500
    cube = brier(resample(counts, R, "stratified", rng=5))
    rng = np.random.default_rng(6)
    labelled = ~np.isnan(y)
    row_values = np.empty(R)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    for r in range(R):
        idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        row_values[r] = np.mean((p[idx] - y[idx]) ** 2)
    assert labelled.sum() == pos.size + neg.size
    assert cube.mean() == pytest.approx(row_values.mean(), abs=row_values.std() / 10)
    assert cube.std() == pytest.approx(row_values.std(), rel=0.1)


def test_bootstrap_ci_is_the_percentile_interval() -> None:
    values = np.random.default_rng(0).normal(size=(999, 3))
    low, high = bootstrap_ci(values, alpha=0.1)
    np.testing.assert_allclose(low, np.percentile(values, 5, axis=0))
    np.testing.assert_allclose(high, np.percentile(values, 95, axis=0))


def test_bootstrap_ci_drops_nan_and_warns_above_one_percent() -> None:
    values = np.arange(1_000.0)
    values[:10] = np.nan  # exactly 1%: no warning
    low, _ = bootstrap_ci(values)
    assert float(low) == pytest.approx(np.percentile(values[10:], 2.5))
    values[10] = np.nan
    with pytest.warns(RuntimeWarning, match=r"brier: 1\.1% of bootstrap replicates"):
        bootstrap_ci(values, name="brier")
    with pytest.warns(RuntimeWarning):
        low, high = bootstrap_ci(np.full(5, np.nan))
    assert math.isnan(float(low))
    assert math.isnan(float(high))
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_ci(values, alpha=1.5)


def test_bootstrap_point_and_interval(counts: LevelCounts) -> None:
    result = bootstrap(counts, metrics, n_replicates=400, method="stratified", seed=11)
    assert set(result) == {"brier", "sensitivity"}
    assert result["brier"].value == pytest.approx(float(brier(counts)))
    reps = resample(counts, 400, "stratified", rng=np.random.default_rng(11))
    low, high = bootstrap_ci(brier(reps))
    assert result["brier"].ci_low == pytest.approx(float(low))
    assert result["brier"].ci_high == pytest.approx(float(high))
    assert result == bootstrap(counts, metrics, n_replicates=400, seed=11, chunk=33)
    assert result != bootstrap(counts, metrics, n_replicates=400, seed=12)


def test_bootstrap_intervals_equal_each_statistics_own_percentile_interval(
    counts: LevelCounts,
) -> None:
    # defined statistics share one quantile call, a sometimes-undefined one goes through
    # bootstrap_ci: both must give exactly the interval of that statistic alone
    def with_gaps(c: LevelCounts) -> dict[str, Array]:
        values = metrics(c)
        gappy = np.array(values["brier"], dtype=np.float64, copy=True)
        gappy[np.asarray(c.n_pos.sum(-1)) % 7 == 0] = np.nan
        return {**values, "gappy": gappy}

    with pytest.warns(RuntimeWarning, match=r"^gappy: .* undefined"):
        result = bootstrap(counts, with_gaps, n_replicates=300, method="poisson", seed=5)
    reps = resample(counts, 300, "poisson", rng=np.random.default_rng(5))
    for name, values in with_gaps(reps).items():
        assert np.isnan(values).any() == (name == "gappy")
        low, high = bootstrap_ci(values) if name != "gappy" else _quietly(values)
        assert (result[name].ci_low, result[name].ci_high) == (float(low), float(high))


def _quietly(values: Array) -> tuple[Array, Array]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return bootstrap_ci(values)


def test_bootstrap_coarsens_replicates_but_not_the_point(rows: tuple[Array, Array]) -> None:
    fine = level_counts(*rows, edges_with_thresholds(1_000, [THRESHOLD]))
    coarse_edges = edges_with_thresholds(10, [THRESHOLD])
    seen: list[int] = []

    def spy(c: LevelCounts) -> dict[str, Array]:
        seen.append(c.n_bins)
        return {"sensitivity": sensitivity(c)}

    result = bootstrap(fine, spy, n_replicates=200, seed=1, coarsen_to=coarse_edges)
    assert seen[0] == 1_000
    assert set(seen[1:]) == {coarse_edges.size - 1}
    # Sensitivity at an edge is exact on either resolution.
    exact = bootstrap(fine.coarsen(coarse_edges), spy, n_replicates=200, seed=1)
    assert result["sensitivity"] == exact["sensitivity"]


def test_bootstrap_rejects_non_scalar_statistics(counts: LevelCounts) -> None:
    with pytest.raises(ValueError, match="one value per replicate"):
        bootstrap(counts, lambda c: {"per_bin": c.n_pos}, n_replicates=10)
    batch = LevelCounts(counts.edges, counts.stats[None])
    with pytest.raises(ValueError, match="without batch axes"):
        bootstrap(batch, metrics, n_replicates=10)


def test_from_replicates_matches_row_level_weighted_metric(rows: tuple[Array, Array]) -> None:
    p, y = rows
    edges = edges_with_thresholds(50, [THRESHOLD])
    rng = np.random.default_rng(8)
    patient = rng.integers(0, 800, p.size)  # repeated encounters per patient
    weights = rng.poisson(1.0, (300, 800))[:, patient].astype(np.float64)
    replicates = ReplicateMargin(edges, level_counts(p, y, edges, weights=weights).stats)
    point = level_counts(p, y, edges)
    result = from_replicates(replicates, metrics, point, chunk=64)
    labelled = ~np.isnan(y)
    w = weights[:, labelled]
    direct = (w * (p[labelled] - y[labelled]) ** 2).sum(axis=1) / w.sum(axis=1)
    low, high = np.percentile(direct, [2.5, 97.5])
    assert result["brier"].value == pytest.approx(np.mean((p[labelled] - y[labelled]) ** 2))
    assert result["brier"].ci_low == pytest.approx(low)
    assert result["brier"].ci_high == pytest.approx(high)


def paired_rows(rng: np.random.Generator, n: int) -> tuple[Array, Array, Array]:
    p = rng.beta(1.0, 6.0, n)
    comparator = np.clip(p + rng.normal(0, 0.08, n), 0.0, 1.0)
    y = (rng.random(n) < p).astype(np.float64)
    return p, comparator, y


def paired_margin(p: Array, comparator: Array, y: Array) -> PairedMargin:
    edges = edges_with_thresholds(20, [THRESHOLD])
    b1 = np.searchsorted(edges, p, side="right") - 1
    b2 = np.clip(np.searchsorted(edges, comparator, side="right") - 1, 0, edges.size - 2)
    counts = np.zeros((edges.size - 1, edges.size - 1, 3))
    np.add.at(counts, (b1, b2, y.astype(int)), 1.0)
    empty = Margin((), ((),), edges, np.zeros((1, edges.size - 1, 3, len(STATS))))
    return PairedMargin("clinician", edges, edges, counts, empty, empty)


def row_delta_nb(p: Array, comparator: Array, y: Array) -> float:
    odds = THRESHOLD / (1 - THRESHOLD)

    def nb(score: Array) -> float:
        flagged = score >= THRESHOLD
        return float(np.sum(flagged & (y == 1)) - np.sum(flagged & (y == 0)) * odds) / y.size

    return nb(p) - nb(comparator)


def net_benefit_difference(counts: Array) -> dict[str, Array]:
    edges = edges_with_thresholds(20, [THRESHOLD])
    flagged = edges[:-1] >= THRESHOLD
    odds = THRESHOLD / (1 - THRESHOLD)
    total = counts[..., :2].sum(axis=(-3, -2, -1))

    def nb(axis_flagged: Array, sum_axis: int) -> Array:
        by_bin = counts.sum(axis=sum_axis)  # (..., bin, label)
        tp = by_bin[..., axis_flagged, POSITIVE].sum(-1)
        fp = by_bin[..., axis_flagged, NEGATIVE].sum(-1)
        return (tp - fp * odds) / total

    return {"delta_nb": nb(flagged, -2) - nb(flagged, -3)}


def test_paired_resample_keeps_label_totals_and_chunks() -> None:
    paired = paired_margin(*paired_rows(np.random.default_rng(3), 2_000))
    reps = paired_resample(paired, 60, rng=np.random.default_rng(4))
    assert reps.shape == (60, *paired.counts.shape)
    np.testing.assert_array_equal(
        reps.sum(axis=(1, 2)), np.tile(paired.counts.sum(axis=(0, 1)), (60, 1))
    )
    assert not np.any(reps[:, paired.counts.sum(axis=-1) == 0])
    parts = list(iter_paired_resamples(paired, 60, np.random.default_rng(4), chunk=25))
    np.testing.assert_array_equal(np.concatenate(parts), reps)
    n = paired.counts
    for method in ("stratified", "poisson"):
        mean = paired_resample(paired, 3_000, rng=5, method=method).mean(axis=0)  # type: ignore[arg-type]
        assert np.max(np.abs(mean - n)[n > 0] / np.sqrt(n[n > 0] / 3_000)) < 5
    poisson = paired_resample(paired, 40, rng=6, method="poisson")
    assert not np.any(poisson[:, n.sum(axis=-1) == 0])
    assert np.ptp(poisson.sum(axis=(1, 2, 3))) > 0
    parts = list(iter_paired_resamples(paired, 40, 6, method="poisson", chunk=15))
    np.testing.assert_array_equal(np.concatenate(parts), poisson)


def test_paired_bootstrap_matches_row_level_paired_bootstrap() -> None:
    p, comparator, y = paired_rows(np.random.default_rng(12), 3_000)
    paired = paired_margin(p, comparator, y)
    result = paired_bootstrap(paired, net_benefit_difference, n_replicates=1_000, seed=1)
    estimate = result["delta_nb"]
    assert estimate.value == pytest.approx(row_delta_nb(p, comparator, y))
    cube = net_benefit_difference(paired_resample(paired, 1_000, rng=1))["delta_nb"]
    assert (estimate.ci_low, estimate.ci_high) == pytest.approx(
        tuple(np.percentile(cube, [2.5, 97.5]))
    )
    rng = np.random.default_rng(13)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    rows = []
    for _ in range(1_000):
        idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        rows.append(row_delta_nb(p[idx], comparator[idx], y[idx]))
    assert cube.std() == pytest.approx(np.std(rows), rel=0.1)


@pytest.mark.slow
def test_bootstrap_interval_coverage() -> None:
    """Simulated 95% coverage of cube bootstrap intervals (300 data sets of n = 2,000).

    Brier with the Poisson bootstrap (its value depends on the case mix, which the stratified
    scheme holds fixed) and sensitivity at an edge with the stratified bootstrap.
    """
    a, b = 1.0, 6.0
    mean_p = a / (a + b)
    mean_p2 = a * (a + 1) / ((a + b) * (a + b + 1))
    true_brier = mean_p - mean_p2  # E[(p - y)^2] = E[p (1 - p)] for a calibrated score
    # Sensitivity at t: E[p; p >= t] / E[p] = P(p' >= t) for p' ~ Beta(a + 1, b).
    true_sens = float(stats.beta(a + 1, b).sf(THRESHOLD))
    rng = np.random.default_rng(20261122)
    edges = edges_with_thresholds(40, [THRESHOLD])
    hits = {"brier": 0, "sensitivity": 0}
    n_sets = 300
    for _ in range(n_sets):
        counts = level_counts(*simulate(rng, 2_000), edges)
        b_est = bootstrap(counts, lambda c: {"brier": brier(c)}, 1_000, "poisson", seed=rng)[
            "brier"
        ]
        s_est = bootstrap(
            counts, lambda c: {"sensitivity": sensitivity(c)}, 1_000, "stratified", seed=rng
        )["sensitivity"]
        hits["brier"] += b_est.ci_low <= true_brier <= b_est.ci_high  # type: ignore[operator]
        hits["sensitivity"] += s_est.ci_low <= true_sens <= s_est.ci_high  # type: ignore[operator]
    for name, count in hits.items():
        assert count / n_sets == pytest.approx(0.95, abs=0.03), f"{name}: {count / n_sets:.3f}"


def test_docstring_examples_run() -> None:
    from steward.metrics import bootstrap as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
