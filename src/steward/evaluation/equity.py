"""The subgroup and equity audit: metrics per level, small-cell rules, gaps with Holm adjustment.

Each level is compared with the rest of its column (the cube's margin total minus the level, an
exact subtraction because cubes add). Levels with n < 11 are suppressed: their counts and
metrics are withheld from the document and they take no part in gap tests (docs/methods.md
section 4).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from steward.cube import Cube, LevelCounts
from steward.cube.model import Level
from steward.evaluation.blocks import (
    SUBGROUP_BOOTSTRAP_BINS,
    MetricBlock,
    ResamplingPlan,
    metric_block,
)
from steward.evaluation.result import Metric, SubgroupGap, SubgroupLevel
from steward.metrics.calibration import oe_ratio
from steward.metrics.discrimination import auroc
from steward.metrics.subgroups import gap_test, holm, is_imprecise, is_suppressed
from steward.metrics.thresholds import threshold_metrics
from steward.metrics.types import Estimate

MISSING_LEVEL = "(missing)"
#: A gap is flagged when it is at least this large and significant after Holm adjustment.
GAP_TOLERANCE: dict[str, float] = {
    "auroc": 0.05,
    "oe_ratio": 0.1,
    "sensitivity": 0.1,
    "specificity": 0.1,
}
ALPHA = 0.05


@dataclass(frozen=True)
class EquityAudit:
    subgroups: dict[str, dict[str, SubgroupLevel]]
    gaps: list[SubgroupGap]
    undefined: int
    """Metrics that could not be computed in some level (too few events or non-events)."""


def column_label(dims: tuple[str, ...]) -> str:
    """Name of a margin in the document: the column, or the crossed columns joined by ' x '."""
    return " x ".join(dims)


def level_label(level: Level) -> str:
    return " x ".join(MISSING_LEVEL if value is None else value for value in level)


def audit_subgroups(
    cube: Cube,
    margin_keys: Sequence[tuple[str, ...]],
    thresholds: Sequence[float],
    plan: ResamplingPlan,
) -> EquityAudit:
    """Metrics for every level of every subgroup margin, and the gap tests between them."""
    plan = replace(plan, bins=SUBGROUP_BOOTSTRAP_BINS)
    subgroups: dict[str, dict[str, SubgroupLevel]] = {}
    candidates: list[tuple[SubgroupGap, float]] = []
    undefined = 0
    for dims in margin_keys:
        margin = cube.margins[dims]
        # every level's labelled rows in one copy; the rest of a column is the labelled total
        # minus a level, whose unlabelled cells are then zero as well
        labelled = LevelCounts(margin.edges, margin.stats).labelled().stats
        labelled_total = labelled.sum(axis=0)
        column = column_label(dims)
        subgroups[column] = {}
        for index, level in enumerate(margin.levels):
            counts = LevelCounts(margin.edges, labelled[index])
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result, block = _level_result(counts, thresholds, plan)
            undefined += len(caught)
            subgroups[column][level_label(level)] = result
            if block is not None and len(dims) == 1:
                rest = LevelCounts(margin.edges, labelled_total - labelled[index])
                candidates += _gaps(column, level_label(level), block, rest, thresholds)
    return EquityAudit(subgroups, _adjust(candidates), undefined)


def _level_result(
    counts: LevelCounts, thresholds: Sequence[float], plan: ResamplingPlan
) -> tuple[SubgroupLevel, MetricBlock | None]:
    n_events = float(counts.n_pos.sum())
    n_nonevents = float(counts.n_neg.sum())
    n = n_events + n_nonevents
    if is_suppressed(n):
        hidden = SubgroupLevel(
            n=None, n_events=None, metrics={}, thresholds=[], imprecise=True, suppressed=True
        )
        return hidden, None
    block = metric_block(counts, thresholds, plan, smooth_intervals=False)
    shown = SubgroupLevel(
        n=round(n),
        n_events=round(n_events),
        metrics=block.metrics,
        thresholds=block.thresholds,
        imprecise=is_imprecise(n_events, n_nonevents),
        suppressed=False,
    )
    return shown, block


def _gaps(
    column: str,
    level: str,
    block: MetricBlock,
    rest: LevelCounts,
    thresholds: Sequence[float],
) -> list[tuple[SubgroupGap, float]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rest_estimates: dict[tuple[str, float | None], Estimate] = {
            ("auroc", None): auroc(rest),
            ("oe_ratio", None): oe_ratio(rest),
        }
        for threshold in thresholds:
            m = threshold_metrics(rest, threshold)
            rest_estimates[("sensitivity", threshold)] = m.sensitivity
            rest_estimates[("specificity", threshold)] = m.specificity
    found = []
    for (metric, t), rest_estimate in rest_estimates.items():
        own = _estimate_of(block, metric, t)
        if own is None or not (_has_interval(own) and _has_interval(rest_estimate)):
            continue
        test = gap_test(own, rest_estimate)
        if not math.isfinite(test.p_value):
            continue
        gap = SubgroupGap(
            column=column,
            level=level,
            metric=metric,
            threshold=t,
            difference=Metric(value=test.difference, ci_low=test.ci_low, ci_high=test.ci_high),
            p_value=test.p_value,
            p_adjusted=None,
            flagged=False,
        )
        found.append((gap, test.p_value))
    return found


def _estimate_of(block: MetricBlock, metric: str, t: float | None) -> Estimate | None:
    found: Metric | None
    if t is None:
        found = block.metrics.get(metric)
    else:
        row = next((r for r in block.thresholds if r.threshold == t), None)
        found = getattr(row, metric) if row is not None else None
    if found is None or found.value is None:
        return None
    return Estimate(found.value, found.ci_low, found.ci_high)


def _has_interval(estimate: Estimate) -> bool:
    parts = (estimate.value, estimate.ci_low, estimate.ci_high)
    return all(x is not None and math.isfinite(x) for x in parts)


def _adjust(candidates: list[tuple[SubgroupGap, float]]) -> list[SubgroupGap]:
    """Holm adjustment across every gap test of the audit, then the materiality flag."""
    if not candidates:
        return []
    adjusted = holm(np.array([p for _, p in candidates]))
    gaps = []
    for (gap, _), p_adj in zip(candidates, adjusted, strict=True):
        size = abs(gap.difference.value or 0.0)
        flagged = bool(p_adj < ALPHA and size >= GAP_TOLERANCE.get(gap.metric, 0.0))
        gaps.append(gap.model_copy(update={"p_adjusted": float(p_adj), "flagged": flagged}))
    return gaps
