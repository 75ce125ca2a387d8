"""The metrics of one group of rows: closed-form intervals where they exist, bootstrap elsewhere.

AUROC (DeLong), O/E (exact Poisson), CITL (normal), calibration intercept and slope (Wald) and
the threshold proportions (Wilson) have closed-form intervals. Average precision, Brier, scaled
Brier, log loss, ICI/E50/E90/Emax, ECE and net benefit get percentile intervals from resampling
the cube. With patient-clustered replicate cubes every interval comes from the replicates, since
repeated encounters make the closed forms too narrow (docs/methods.md section 2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from steward.cube import LevelCounts, ReplicateMargin
from steward.evaluation.result import METRIC_KEYS, Metric, ThresholdRow
from steward.metrics import bootstrap as resampling
from steward.metrics.calibration import (
    brier,
    calibration_in_the_large,
    calibration_intercept_slope,
    calibration_intercept_slope_values,
    citl_values,
    ece,
    log_loss,
    oe_ratio,
    oe_values,
    scaled_brier,
    smoothed_calibration_errors,
)
from steward.metrics.discrimination import auroc, auroc_values, average_precision_values
from steward.metrics.thresholds import net_benefit_values, threshold_metrics
from steward.metrics.types import Estimate, finite_or_none

FloatArray = np.ndarray
Statistic = Callable[[LevelCounts], dict[str, FloatArray]]

#: Metrics whose intervals come from resampling even without patient clustering.
RESAMPLED = (
    "average_precision",
    "brier",
    "scaled_brier",
    "log_loss",
    "ici",
    "e50",
    "e90",
    "emax",
    "ece",
)


#: The cell statistics the resampled metrics read: the others are not rescaled in replicates
#: (AP, ECE, net benefit and the smoother read rows and score sums; Brier and log loss the
#: sums of p, p squared, log p and log(1 - p)).
RESAMPLED_STATS = ("n", "sum_p", "sum_p2", "sum_logp", "sum_log1mp")

#: Bins of equal row count the bootstrap resamples (plus every threshold as an edge).
BOOTSTRAP_BINS = 200
#: The same for each subgroup level, where many levels are resampled.
SUBGROUP_BOOTSTRAP_BINS = 50
#: Edges of the ECE groups (tenths), kept so that ECE is resampled exactly.
_ECE_EDGES = np.arange(1, 10) / 10.0


@dataclass(frozen=True)
class ResamplingPlan:
    """How intervals without a closed form are obtained."""

    replicates: int
    method: Literal["stratified", "poisson"]
    seed: int
    thresholds: tuple[float, ...] = ()
    bins: int = BOOTSTRAP_BINS


def bootstrap_edges(counts: LevelCounts, thresholds: Sequence[float], n_bins: int) -> np.ndarray:
    """A subset of the cube's edges cutting the labelled rows into about equal-count bins.

    Resampling cost grows with the bins, and risk scores crowd near zero, so equal-count bins
    keep the resolution where the rows are. Thresholds stay edges, so threshold metrics are
    resampled exactly.
    """
    edges = counts.edges
    rows = counts.n_pos + counts.n_neg
    cumulative = np.concatenate([[0.0], np.cumsum(rows, dtype=np.float64)])
    total = cumulative[-1]
    if total <= 0 or edges.size - 1 <= n_bins:
        return edges
    targets = np.linspace(0.0, total, n_bins + 1)[1:-1]
    cut = np.searchsorted(cumulative, targets, side="left")
    kept = np.concatenate([np.asarray(thresholds, dtype=np.float64), _ECE_EDGES])
    at = np.searchsorted(edges, kept)
    exact = at[(at < edges.size) & (edges[np.minimum(at, edges.size - 1)] == kept)]
    chosen = np.concatenate([[0], cut, [edges.size - 1], exact])
    return np.asarray(edges[np.unique(chosen)])


@dataclass(frozen=True)
class MetricBlock:
    metrics: dict[str, Metric]
    thresholds: list[ThresholdRow]


def metric_block(
    counts: LevelCounts,
    thresholds: Sequence[float],
    plan: ResamplingPlan,
    clustered: ReplicateMargin | None = None,
    *,
    smooth_intervals: bool = True,
) -> MetricBlock:
    """Every metric of the result document for one group of rows.

    With ``smooth_intervals=False`` ICI, E50, E90 and Emax are reported without intervals:
    refitting the smoother in every replicate dominates the cost, and subgroup audits compare
    groups on the other metrics.
    """
    intercept, slope = calibration_intercept_slope(counts)
    closed = {
        "auroc": auroc(counts),
        "oe_ratio": oe_ratio(counts),
        "citl": calibration_in_the_large(counts),
        "calibration_intercept": intercept,
        "calibration_slope": slope,
    }
    resampled_statistic = _resampled_statistic(thresholds, smooth=smooth_intervals)
    if clustered is not None:
        statistic = _with_closed_forms(resampled_statistic)
        intervals = resampling.from_replicates(clustered, statistic, counts)
    else:
        statistic = resampled_statistic
        intervals = _bootstrap(counts, statistic, plan)
    metrics: dict[str, Metric] = {}
    for name, estimate in closed.items():
        metrics[name] = Metric.of(intervals.get(name, estimate) if clustered else estimate)
    if not smooth_intervals:
        intervals.update(_smoothed_errors(counts))
    for name in RESAMPLED:
        metrics[name] = Metric.of(intervals[name])
    rows = [_threshold_row(counts, t, intervals) for t in thresholds]
    return MetricBlock(metrics=_ordered(metrics), thresholds=rows)


def _bootstrap(
    counts: LevelCounts, statistic: Statistic, plan: ResamplingPlan
) -> dict[str, Estimate]:
    if plan.replicates == 0:
        return {name: Estimate(float(value)) for name, value in statistic(counts).items()}
    return resampling.bootstrap(
        counts,
        statistic,
        n_replicates=plan.replicates,
        method=plan.method,
        seed=plan.seed,
        coarsen_to=bootstrap_edges(counts, plan.thresholds, plan.bins),
        stats=RESAMPLED_STATS,
    )


def _smoothed_errors(counts: LevelCounts) -> dict[str, Estimate]:
    errors = smoothed_calibration_errors(counts)
    return {name: Estimate(float(getattr(errors, name))) for name in ("ici", "e50", "e90", "emax")}


def _resampled_statistic(thresholds: Sequence[float], *, smooth: bool) -> Statistic:
    def statistic(c: LevelCounts) -> dict[str, FloatArray]:
        values: dict[str, FloatArray] = {
            "average_precision": average_precision_values(c),
            "brier": np.asarray(brier(c)),
            "scaled_brier": np.asarray(scaled_brier(c)),
            "log_loss": np.asarray(log_loss(c)),
            "ece": np.asarray(ece(c)),
        }
        if smooth:
            errors = smoothed_calibration_errors(c)
            values.update(
                ici=np.asarray(errors.ici),
                e50=np.asarray(errors.e50),
                e90=np.asarray(errors.e90),
                emax=np.asarray(errors.emax),
            )
        for t in thresholds:
            values[_nb_key(t)] = net_benefit_values(c, t)
        return values

    return statistic


def _with_closed_forms(statistic: Statistic) -> Statistic:
    def clustered_statistic(c: LevelCounts) -> dict[str, FloatArray]:
        values = statistic(c)
        intercept, slope = calibration_intercept_slope_values(c)
        values.update(
            auroc=auroc_values(c),
            oe_ratio=np.asarray(oe_values(c)),
            citl=np.asarray(citl_values(c)),
            calibration_intercept=np.asarray(intercept),
            calibration_slope=np.asarray(slope),
        )
        return values

    return clustered_statistic


def _threshold_row(counts: LevelCounts, t: float, intervals: dict[str, Estimate]) -> ThresholdRow:
    m = threshold_metrics(counts, t)
    nb = intervals.get(_nb_key(t), m.net_benefit)
    return ThresholdRow(
        threshold=t,
        sensitivity=Metric.of(m.sensitivity),
        specificity=Metric.of(m.specificity),
        ppv=Metric.of(m.ppv),
        npv=Metric.of(m.npv),
        alert_rate=Metric.of(m.alert_rate),
        alerts_per_true_positive=Metric.of(m.alerts_per_true_positive),
        net_benefit=Metric.of(Estimate(m.net_benefit.value, nb.ci_low, nb.ci_high)),
        treat_all_net_benefit=finite_or_none(m.treat_all_net_benefit),
        tp=round(m.tp),
        fp=round(m.fp),
        tn=round(m.tn),
        fn=round(m.fn),
    )


def _nb_key(t: float) -> str:
    return f"net_benefit@{t!r}"


def _ordered(metrics: dict[str, Metric]) -> dict[str, Metric]:
    return {key: metrics[key] for key in METRIC_KEYS if key in metrics}
