"""From data and a spec to the result document: one cube, then every section computed from it."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from steward import __version__
from steward.cube import Cube, LevelCounts
from steward.cube.build import CubeRequest, build_cube
from steward.cube.sources import ColumnMap, DataLike
from steward.errors import InputError
from steward.evaluation.blocks import ResamplingPlan, metric_block
from steward.evaluation.comparison import compare
from steward.evaluation.curves import build_curves
from steward.evaluation.equity import audit_subgroups, column_label, level_label
from steward.evaluation.result import (
    Columns,
    DataSummary,
    EvaluationResult,
    Metric,
    OptOuts,
    SampleSize,
    SampleSizeCriterion,
    TimeWindows,
    WindowMetrics,
)
from steward.evaluation.spec import EvaluationSpec
from steward.evaluation.verdict import Evidence, reach_verdict
from steward.integration.optouts import PatientExclusion
from steward.metrics.calibration import oe_ratio
from steward.metrics.discrimination import auroc, auroc_binning_bound
from steward.metrics.sample_size import assess_adequacy, observed_inputs, riley_sample_size
from steward.metrics.subgroups import is_suppressed
from steward.metrics.types import finite_or_none

ProgressCallback = Callable[[float], None]


def evaluate(
    data: DataLike,
    spec: EvaluationSpec,
    *,
    progress: ProgressCallback | None = None,
    opt_outs: PatientExclusion | None = None,
) -> EvaluationResult:
    """Run one local validation.

    Parameters
    ----------
    data : path or table
        A CSV or Parquet file, or a pandas, polars or Arrow table.
    spec : EvaluationSpec
        Columns, thresholds, resampling, precision targets and acceptance criteria.
    progress : callable, optional
        Called with the fraction of the data scanned.
    opt_outs : PatientExclusion, optional
        Patients who opted out: their rows are left out of every statistic and counted in
        ``excluded["opted_out"]`` and ``opt_outs`` (needs the spec's patient column).

    Raises
    ------
    InputError
        For data that cannot be evaluated (the message says what and where).
    """
    request = _cube_request(spec, opt_outs)
    cube = build_cube(data, request, progress)
    overall = cube.overall.level(()).labelled()
    _require_both_outcomes(overall, spec)
    plan = ResamplingPlan(
        replicates=spec.bootstrap.replicates,
        method=spec.bootstrap.method,
        seed=spec.bootstrap.seed,
        thresholds=tuple(spec.thresholds),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        block = metric_block(overall, spec.thresholds, plan, clustered=cube.replicates)
    notes = _dedupe(str(w.message) for w in caught)

    group_keys = [(g,) for g in spec.columns.groups] + [tuple(i) for i in spec.intersections]
    equity = audit_subgroups(cube, group_keys, spec.thresholds, plan)
    if equity.undefined:
        notes.append(
            f"{equity.undefined} subgroup metric(s) could not be computed because a level has "
            "too few events or non-events; they are shown as n/a."
        )
    if cube.replicates is not None and group_keys:
        notes.append(
            "Subgroup intervals are not clustered by patient (replicate cubes cover the overall "
            "population only)."
        )
    comparator = compare(cube.paired, spec.thresholds, plan) if cube.paired is not None else None
    n_events = round(float(overall.n_pos.sum()))
    n = n_events + round(float(overall.n_neg.sum()))
    sample = _sample_size(overall, block.metrics["auroc"], spec)
    verdict = reach_verdict(
        spec.acceptance,
        Evidence(block.metrics, block.thresholds, equity.subgroups, comparator, sample),
    )
    comparator_counts = cube.paired.comparator.level(()).labelled() if cube.paired else None
    return EvaluationResult(
        steward_version=__version__,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        title=spec.title,
        data=_data_summary(data, spec, cube),
        n=n,
        n_events=n_events,
        prevalence=n_events / n,
        metrics=block.metrics,
        auroc_binning_bound=finite_or_none(auroc_binning_bound(overall)),
        thresholds=block.thresholds,
        curves=build_curves(overall, comparator_counts),
        subgroups=equity.subgroups,
        subgroup_gaps=equity.gaps,
        comparator=comparator,
        sample_size=sample,
        verdict=verdict,
        excluded=_excluded(cube),
        opt_outs=_opt_outs(cube, opt_outs),
        time_windows=_time_windows(cube, spec),
        bootstrap={
            "replicates": cube.replicates.n_replicates if cube.replicates else plan.replicates,
            "method": "patient-clustered" if cube.replicates else plan.method,
            "seed": plan.seed,
        },
        warnings=notes,
    )


def _cube_request(spec: EvaluationSpec, opt_outs: PatientExclusion | None) -> CubeRequest:
    columns = ColumnMap(**spec.columns.model_dump())
    clustered = (
        spec.bootstrap.patient_replicates
        if spec.columns.patient and spec.bootstrap.replicates
        else 0
    )
    return CubeRequest(
        columns=columns,
        thresholds=tuple(spec.thresholds),
        score_scale=spec.data.score_scale,
        intersections=tuple(tuple(i) for i in spec.intersections),
        time_window=spec.time_window,
        replicates=clustered,
        exclude_patients=opt_outs.digests if opt_outs else frozenset(),
    )


def _opt_outs(cube: Cube, opt_outs: PatientExclusion | None) -> OptOuts:
    if opt_outs is None:
        return OptOuts(applied=False)
    return OptOuts(
        applied=True,
        source=opt_outs.source,
        patients=len(opt_outs.digests),
        rows_excluded=int(cube.excluded.get("opted_out", 0)),
    )


def _require_both_outcomes(overall: LevelCounts, spec: EvaluationSpec) -> None:
    events = float(overall.n_pos.sum())
    nonevents = float(overall.n_neg.sum())
    label = spec.columns.label
    if events + nonevents == 0:
        raise InputError(
            f"No row has a known outcome: the label column '{label}' is empty wherever a score "
            "is present, so no metric can be computed."
        )
    if events == 0 or nonevents == 0:
        kind, missing = (
            ("negative (0)", "events") if events == 0 else ("positive (1)", "non-events")
        )
        raise InputError(
            f"All {round(events + nonevents):,} labelled rows are {kind} in '{label}'. AUROC, "
            "average precision, the calibration intercept and slope, scaled Brier and the "
            f"threshold metrics compare events with non-events, and there are no {missing}; "
            "check the label column and the outcome definition."
        )


def _sample_size(overall: LevelCounts, auroc_metric: Metric, spec: EvaluationSpec) -> SampleSize:
    cstat = auroc_metric.value
    if cstat is None or not 0.5 < cstat < 1.0:
        return SampleSize(
            adequate=None,
            criteria=[],
            note="Sample size not assessed: the AUROC must lie between 0.5 and 1.",
        )
    observed = observed_inputs(overall, cstat)
    if not (math.isfinite(observed.lp_mean) and math.isfinite(observed.lp_sd)):
        return SampleSize(
            adequate=None,
            criteria=[],
            note="Sample size not assessed: the scores' logits are not finite.",
        )
    precision = spec.precision
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        required = riley_sample_size(
            observed.prevalence,
            cstat,
            observed.lp_mean,
            observed.lp_sd,
            oe_ci_width=precision.oe_ci_width,
            slope_ci_width=precision.slope_ci_width,
            cstat_ci_width=precision.cstat_ci_width,
        )
    adequacy = assess_adequacy(required, observed.n, observed.events)
    criteria = [
        SampleSizeCriterion(
            name=_CRITERION_NAMES.get(a.criterion, a.criterion),
            required_n=a.required_n,
            available_n=a.available_n,
            adequate=a.adequate,
        )
        for a in adequacy
        if a.criterion != "overall"
    ]
    return SampleSize(
        adequate=all(c.adequate for c in criteria),
        criteria=criteria,
        note=required.method,
    )


_CRITERION_NAMES = {
    "oe": "O/E ratio",
    "calibration_slope": "calibration slope",
    "c_statistic": "C-statistic",
    "net_benefit": "net benefit",
}


def _time_windows(cube: Cube, spec: EvaluationSpec) -> TimeWindows | None:
    column = spec.columns.time
    if column is None or (column,) not in cube.margins:
        return None
    margin = cube.margins[(column,)]
    levels = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for level in margin.levels:
            counts = margin.level(level).labelled()
            events = float(counts.n_pos.sum())
            n = events + float(counts.n_neg.sum())
            if n == 0:
                continue
            hidden = is_suppressed(n)
            metrics = (
                {}
                if hidden
                else {
                    "auroc": Metric.of(auroc(counts)),
                    "oe_ratio": Metric.of(oe_ratio(counts)),
                }
            )
            levels.append(
                WindowMetrics(
                    window=level_label(level),
                    n=None if hidden else round(n),
                    n_events=None if hidden else round(events),
                    metrics=metrics,
                    suppressed=hidden,
                )
            )
    return TimeWindows(column=column_label((column,)), window=spec.time_window, levels=levels)


def _data_summary(data: Any, spec: EvaluationSpec, cube: Cube) -> DataSummary:
    source = str(data) if isinstance(data, str | Path) else f"in-memory {type(data).__name__}"
    rows = round(float(cube.overall.stats[..., 0].sum())) + sum(cube.excluded.values())
    return DataSummary(
        source=source,
        rows_read=rows,
        columns=Columns.model_validate(spec.columns.model_dump()),
        score_scale=spec.data.score_scale,
        outcome_definition=spec.outcome.definition,
    )


def _excluded(cube: Cube) -> dict[str, int]:
    unlabelled = round(float(cube.overall.level(()).n_unlabelled.sum()))
    return {
        "missing_score": int(cube.excluded.get("missing_score", 0)),
        "missing_label": unlabelled,
        "opted_out": int(cube.excluded.get("opted_out", 0)),
    }


def _dedupe(messages: Any) -> list[str]:
    seen: list[str] = []
    for m in messages:
        if m not in seen:
            seen.append(m)
    return seen
