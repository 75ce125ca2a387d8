"""The verdict: each acceptance criterion checked against the results, with its evidence.

Pass when every criterion holds on a sample large enough for the precision asked; fail when
any criterion does not hold; inconclusive when the sample is too small (Riley et al. 2021) or
a criterion cannot be computed; not assessed when no criteria were written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from steward.evaluation.criteria import DERIVED, Criterion
from steward.evaluation.result import (
    Comparator,
    CriterionResult,
    Metric,
    SampleSize,
    SubgroupLevel,
    ThresholdRow,
    Verdict,
)


@dataclass(frozen=True)
class Evidence:
    """The parts of a result that criteria can refer to."""

    metrics: Mapping[str, Metric]
    thresholds: Sequence[ThresholdRow]
    subgroups: Mapping[str, Mapping[str, SubgroupLevel]]
    comparator: Comparator | None
    sample_size: SampleSize


def reach_verdict(criteria: Sequence[Criterion], evidence: Evidence) -> Verdict:
    """Check every criterion and combine them into a verdict."""
    results = [check_criterion(c, evidence) for c in criteria]
    statuses = {r.status for r in results}
    if not results:
        return Verdict(status="not_assessed", criteria=[], summary="No acceptance criteria given.")
    if evidence.sample_size.adequate is False:
        short = [c.name for c in evidence.sample_size.criteria if c.adequate is False]
        return Verdict(
            status="inconclusive",
            criteria=results,
            summary=(
                "The data set is too small for the precision asked "
                f"({', '.join(short)}); the criteria are reported but not decisive."
            ),
        )
    if "fail" in statuses:
        failed = sum(r.status == "fail" for r in results)
        summary = f"{failed} of {len(results)} acceptance criteria not met."
        return Verdict(status="fail", criteria=results, summary=summary)
    if "inconclusive" in statuses:
        summary = "At least one criterion could not be computed from these data."
        return Verdict(status="inconclusive", criteria=results, summary=summary)
    summary = f"All {len(results)} acceptance criteria met."
    return Verdict(status="pass", criteria=results, summary=summary)


def check_criterion(criterion: Criterion, evidence: Evidence) -> CriterionResult:
    """Evaluate one criterion; never raises for missing or undefined results."""
    if criterion.gap_across is not None:
        observed, described = _gap(criterion, evidence)
    else:
        observed, described = _single(criterion, evidence)
    if observed is None or not math.isfinite(observed):
        return CriterionResult(
            criterion=criterion.text,
            status="inconclusive",
            evidence=f"{described}: cannot be computed from these data.",
            observed=None,
            limit=criterion.limit,
        )
    if criterion.absolute:
        observed = abs(observed)
    met = criterion.holds(observed)
    verb = "meets" if met else "does not meet"
    return CriterionResult(
        criterion=criterion.text,
        status="pass" if met else "fail",
        evidence=f"{described}; {_fmt(observed)} {verb} {criterion.op} {criterion.limit:g}.",
        observed=observed,
        limit=criterion.limit,
    )


def _single(criterion: Criterion, evidence: Evidence) -> tuple[float | None, str]:
    metric = _lookup(criterion.metric, criterion.threshold, evidence)
    label = criterion.metric + (f" at {criterion.threshold:g}" if criterion.threshold else "")
    if metric is None:
        return None, label
    observed = getattr(metric, criterion.statistic)
    described = (
        f"{label} {_fmt(metric.value)} (95% CI {_fmt(metric.ci_low)} to {_fmt(metric.ci_high)})"
    )
    return observed, described


def _lookup(name: str, threshold: float | None, evidence: Evidence) -> Metric | None:
    if name == "auroc_difference":
        if evidence.comparator is None:
            return None
        diff = evidence.comparator.auroc_difference
        return Metric(value=diff.value, ci_low=diff.ci_low, ci_high=diff.ci_high)
    if name == "net_benefit_difference":
        rows = evidence.comparator.net_benefit_difference if evidence.comparator else []
        for nb in rows:
            if _same(nb.threshold, threshold):
                return Metric(value=nb.value, ci_low=nb.ci_low, ci_high=nb.ci_high)
        return None
    if threshold is not None:
        return _threshold_metric(name, threshold, evidence.thresholds)
    return evidence.metrics.get(name)


def _threshold_metric(name: str, threshold: float, rows: Sequence[ThresholdRow]) -> Metric | None:
    row = next((r for r in rows if _same(r.threshold, threshold)), None)
    if row is None:
        return None
    stored, complement = DERIVED.get(name, (name, False))
    metric: Metric = getattr(row, stored)
    if not complement:
        return metric
    return Metric(
        value=_one_minus(metric.value),
        ci_low=_one_minus(metric.ci_high),
        ci_high=_one_minus(metric.ci_low),
    )


def _gap(criterion: Criterion, evidence: Evidence) -> tuple[float | None, str]:
    column = criterion.gap_across or ""
    levels = evidence.subgroups.get(column, {})
    values: dict[str, float] = {}
    suppressed = 0
    for level, result in levels.items():
        if result.suppressed:
            suppressed += 1
            continue
        metric = _level_metric(criterion, result)
        if metric is not None and metric.value is not None and math.isfinite(metric.value):
            values[level] = metric.value
    label = f"gap in {criterion.metric}" + (
        f" at {criterion.threshold:g}" if criterion.threshold else ""
    )
    label += f" across {column}"
    note = f" ({suppressed} suppressed level(s) with n < 11 left out)" if suppressed else ""
    if len(values) < 2:
        return None, f"{label}: fewer than two levels with a value{note}"
    low = min(values, key=values.__getitem__)
    high = max(values, key=values.__getitem__)
    described = (
        f"{label}: largest difference between '{high}' ({_fmt(values[high])}) and "
        f"'{low}' ({_fmt(values[low])}){note}"
    )
    return values[high] - values[low], described


def _level_metric(criterion: Criterion, level: SubgroupLevel) -> Metric | None:
    if criterion.threshold is None:
        return level.metrics.get(criterion.metric)
    return _threshold_metric(criterion.metric, criterion.threshold, level.thresholds)


def _same(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=0, abs_tol=1e-12)


def _one_minus(x: float | None) -> float | None:
    return None if x is None else 1.0 - x


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.3f}"
