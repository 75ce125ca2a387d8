"""Score against comparator on the same rows: paired DeLong and paired net-benefit differences.

Differences are score minus comparator. The AUROC difference uses the 2-D cube's paired DeLong
variance; net-benefit differences at each threshold get percentile intervals from resampling
the 2-D cube, which keeps the pairing (docs/methods.md section 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from steward.cube import NEGATIVE, POSITIVE, PairedMargin
from steward.evaluation.blocks import ResamplingPlan, metric_block
from steward.evaluation.result import AurocDifference, Comparator, NetBenefitDifference
from steward.metrics.discrimination import paired_auroc_difference
from steward.metrics.paired_bootstrap import paired_bootstrap
from steward.metrics.types import Estimate, finite_or_none

FloatArray = np.ndarray


def compare(paired: PairedMargin, thresholds: Sequence[float], plan: ResamplingPlan) -> Comparator:
    """The comparator section of the result document."""
    score_counts = paired.score.level(()).labelled()
    comparator_counts = paired.comparator.level(()).labelled()
    score_block = metric_block(score_counts, thresholds, plan, smooth_intervals=False)
    comparator_block = metric_block(comparator_counts, thresholds, plan, smooth_intervals=False)
    difference = paired_auroc_difference(paired)
    labelled = paired.counts[..., [NEGATIVE, POSITIVE]]
    return Comparator(
        column=paired.column,
        n_paired=round(float(labelled.sum())),
        n_events_paired=round(float(paired.counts[..., POSITIVE].sum())),
        metrics=comparator_block.metrics,
        score_metrics=score_block.metrics,
        auroc_difference=AurocDifference(
            value=finite_or_none(difference.value),
            ci_low=finite_or_none(difference.ci_low),
            ci_high=finite_or_none(difference.ci_high),
            p_value=finite_or_none(difference.p_value),
        ),
        net_benefit_difference=_net_benefit_differences(paired, thresholds, plan),
    )


def net_benefit_difference_values(
    counts: FloatArray, score_edges: FloatArray, comparator_edges: FloatArray, threshold: float
) -> FloatArray:
    """NB(score) - NB(comparator) at ``threshold`` from 2-D counts ``(..., b1, b2, label)``.

    NB(t) = TP/n - FP/n * t/(1 - t) (Vickers & Elkin 2006), with n the labelled paired rows.
    """
    i = int(np.searchsorted(score_edges, threshold))
    j = int(np.searchsorted(comparator_edges, threshold))
    odds = threshold / (1.0 - threshold)
    n = counts[..., NEGATIVE].sum(axis=(-1, -2)) + counts[..., POSITIVE].sum(axis=(-1, -2))
    score_tp = counts[..., i:, :, POSITIVE].sum(axis=(-1, -2))
    score_fp = counts[..., i:, :, NEGATIVE].sum(axis=(-1, -2))
    comp_tp = counts[..., :, j:, POSITIVE].sum(axis=(-1, -2))
    comp_fp = counts[..., :, j:, NEGATIVE].sum(axis=(-1, -2))
    with np.errstate(invalid="ignore", divide="ignore"):
        result: FloatArray = ((score_tp - comp_tp) - (score_fp - comp_fp) * odds) / n
    return result


def _net_benefit_differences(
    paired: PairedMargin, thresholds: Sequence[float], plan: ResamplingPlan
) -> list[NetBenefitDifference]:
    rows = []
    for t in thresholds:
        # Net benefit at t depends only on which side of t each score falls, so resampling the
        # four quadrants per label is the paired bootstrap of the whole 2-D cube for this metric.
        quadrants = _quadrants(paired, t)
        edges = quadrants.score_edges, quadrants.comparator_edges

        def statistic(
            counts: FloatArray, edges: tuple[FloatArray, FloatArray] = edges, t: float = t
        ) -> dict[str, FloatArray]:
            return {"difference": net_benefit_difference_values(counts, *edges, t)}

        if plan.replicates:
            estimate = paired_bootstrap(
                quadrants,
                statistic,
                n_replicates=plan.replicates,
                seed=plan.seed,
                method=plan.method,
            )["difference"]
        else:
            estimate = Estimate(float(statistic(quadrants.counts)["difference"]))
        rows.append(
            NetBenefitDifference(
                threshold=t,
                value=finite_or_none(estimate.value),
                ci_low=finite_or_none(estimate.ci_low),
                ci_high=finite_or_none(estimate.ci_high),
            )
        )
    return rows


def _quadrants(paired: PairedMargin, t: float) -> PairedMargin:
    """The 2-D cube collapsed to score < t or >= t by comparator < t or >= t."""
    i = int(np.searchsorted(paired.score_edges, t))
    j = int(np.searchsorted(paired.comparator_edges, t))
    c = paired.counts
    counts = np.stack(
        [
            np.stack([c[:i, :j].sum(axis=(0, 1)), c[:i, j:].sum(axis=(0, 1))]),
            np.stack([c[i:, :j].sum(axis=(0, 1)), c[i:, j:].sum(axis=(0, 1))]),
        ]
    )
    edges = np.array([0.0, t, 1.0])
    return replace(paired, score_edges=edges, comparator_edges=edges, counts=counts)
