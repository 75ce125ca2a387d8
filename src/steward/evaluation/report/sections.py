"""Whole-population sections of the report: verdict, data, discrimination, calibration, utility."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from steward.evaluation.report import charts
from steward.evaluation.report import formatting as fmt
from steward.evaluation.report.charts import Band, Chart, Series
from steward.evaluation.report.labels import (
    CALIBRATION_METRICS,
    STATUS_LABELS,
    STATUS_MEANING,
    THRESHOLD_ROWS,
    digits,
    metric_name,
    status_label,
)


@dataclass(frozen=True)
class Cell:
    """A formatted estimate and, separately, its interval (empty when unknown)."""

    value: str
    ci: str = ""

    @classmethod
    def of(cls, metric: Any, digits: int = 3) -> Cell:
        obj = fmt.as_mapping(metric)
        value = fmt.number(obj.get("value"), digits)
        if value == fmt.MISSING:
            return cls(value)
        return cls(value, fmt.interval(obj.get("ci_low"), obj.get("ci_high"), digits))

    @classmethod
    def text(cls, value: str) -> Cell:
        return cls(value)


@dataclass(frozen=True)
class Row:
    """A labelled value, with an optional explanation."""

    label: str
    value: str
    note: str = ""


@dataclass(frozen=True)
class CriterionRow:
    """One acceptance criterion as checked."""

    criterion: str
    status: str
    status_label: str
    evidence: str


@dataclass(frozen=True)
class VerdictSection:
    """The overall verdict, its criteria and the headline numbers."""

    status: str
    status_label: str
    summary: str
    criteria: list[CriterionRow]
    highlights: list[Row]


@dataclass(frozen=True)
class DataSection:
    """Which data, how many rows, what was left out, and how the outcome was defined."""

    counts: list[Row]
    excluded: list[Row]
    outcome_definition: str | None
    columns: list[Row]
    methods: list[Row]


@dataclass(frozen=True)
class DiscriminationSection:
    """How well the score ranks patients with the outcome above those without."""

    auroc: Cell
    binning_bound: str | None
    average_precision: Cell
    prevalence: str
    chart: Chart | None


@dataclass(frozen=True)
class MetricRow:
    """A metric in a table of metrics, with its ideal value and meaning."""

    name: str
    cell: Cell
    ideal: str
    meaning: str


@dataclass(frozen=True)
class CalibrationSection:
    """Agreement between predicted and observed risk."""

    rows: list[MetricRow]
    chart: Chart | None
    shows_distribution: bool = False


@dataclass(frozen=True)
class DecisionSection:
    """Net benefit across threshold probabilities."""

    chart: Chart
    summary: str


@dataclass(frozen=True)
class ThresholdRowCells:
    """One measure across every pre-specified threshold."""

    label: str
    cells: list[Cell]


@dataclass(frozen=True)
class ThresholdSection:
    """Operating characteristics at the pre-specified thresholds (one column per threshold)."""

    thresholds: list[str]
    rows: list[ThresholdRowCells]
    counts: list[ThresholdRowCells]


@dataclass(frozen=True)
class SampleSizeRow:
    """One sample-size criterion: the n it needs and the n available."""

    name: str
    required: str
    available: str
    status: str
    status_label: str


@dataclass(frozen=True)
class SampleSizeSection:
    """Whether the local data are large enough for the precision asked (Riley et al. 2021)."""

    status: str
    status_label: str
    criteria: list[SampleSizeRow]
    note: str | None


def floats(values: Any) -> np.ndarray | None:
    """A list of numbers (``None`` allowed) as a float array, or ``None`` if there is none."""
    items = fmt.as_list(values)
    if not items:
        return None
    array = np.array([_nan(fmt.as_float(v)) for v in items], dtype=np.float64)
    return array if np.isfinite(array).any() else None


def _nan(x: float | None) -> float:
    return float("nan") if x is None else x


def _aligned(*arrays: np.ndarray | None) -> tuple[np.ndarray, ...] | None:
    """Arrays cut to a common length, or ``None`` if any is missing or too short to draw."""
    if any(a is None for a in arrays):
        return None
    present = [a for a in arrays if a is not None]
    size = min(len(a) for a in present)
    if size < 2:
        return None
    return tuple(a[:size] for a in present)


def metrics_of(obj: Any) -> Mapping[str, Any]:
    """The ``metrics`` mapping of a result, level or window."""
    return fmt.as_mapping(fmt.as_mapping(obj).get("metrics"))


def build_verdict(result: Mapping[str, Any]) -> VerdictSection:
    verdict = fmt.as_mapping(result.get("verdict"))
    status = fmt.as_text(verdict.get("status")) or "not_assessed"
    css_status = status if status in STATUS_LABELS else "not_assessed"
    criteria = [
        CriterionRow(
            criterion=fmt.as_text(item.get("criterion")) or fmt.MISSING,
            status=item_status if item_status in STATUS_LABELS else "not_assessed",
            status_label=status_label(item_status),
            evidence=fmt.as_text(item.get("evidence")) or "",
        )
        for item in map(fmt.as_mapping, fmt.as_list(verdict.get("criteria")))
        if item
        for item_status in [fmt.as_text(item.get("status")) or "not_assessed"]
    ]
    metrics = metrics_of(result)
    highlights = [
        Row("Patients analysed", fmt.count(result.get("n"))),
        Row("Outcome events", fmt.count(result.get("n_events"))),
    ]
    highlights += [
        Row(metric_name(key), fmt.metric(metrics.get(key)))
        for key in ("auroc", "oe_ratio", "calibration_slope")
        if fmt.metric_value(metrics.get(key)) is not None
    ]
    return VerdictSection(
        status=css_status,
        status_label=status_label(status),
        summary=fmt.as_text(verdict.get("summary")) or STATUS_MEANING[css_status],
        criteria=criteria,
        highlights=highlights,
    )


def _opt_out_label(opt_outs: Mapping[str, Any]) -> str:
    """The reason shown for rows of patients who opted out, naming the list applied."""
    if not opt_outs.get("applied"):
        return "Patient opted out (no opt-out list applied)"
    patients = fmt.count(opt_outs.get("patients"))
    source = fmt.as_text(opt_outs.get("source")) or "an opt-out list"
    return f"Patient opted out ({patients} patients listed, from {source})"


def build_data(result: Mapping[str, Any]) -> DataSection:
    data = fmt.as_mapping(result.get("data"))
    excluded_counts = fmt.as_mapping(result.get("excluded"))
    labels = {"opted_out": _opt_out_label(fmt.as_mapping(result.get("opt_outs")))}
    excluded = [
        Row(labels.get(str(reason)) or fmt.humanise(str(reason)), fmt.count(k))
        for reason, k in excluded_counts.items()
    ]
    total_excluded = sum(v for k in excluded_counts.values() if (v := fmt.as_int(k)) is not None)
    counts = [
        Row("Rows read", fmt.count(data.get("rows_read"))),
        Row("Rows excluded", fmt.count(total_excluded) if excluded else fmt.MISSING),
        Row("Patients analysed (n)", fmt.count(result.get("n"))),
        Row("Outcome events", fmt.count(result.get("n_events"))),
        Row("Prevalence", fmt.percent(result.get("prevalence"))),
    ]
    columns = _columns(fmt.as_mapping(data.get("columns")))
    scale = fmt.as_text(data.get("score_scale"))
    if scale:
        columns.append(Row("Score scale", scale))
    methods = [
        Row(fmt.humanise(str(key)), text)
        for key, value in fmt.as_mapping(result.get("bootstrap")).items()
        if (text := _plain(value))
    ]
    return DataSection(
        counts=counts,
        excluded=excluded,
        outcome_definition=fmt.as_text(data.get("outcome_definition")),
        columns=columns,
        methods=methods,
    )


def _plain(value: Any) -> str | None:
    """A setting as written (no thousands separators: a seed is an identifier, not a count)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return fmt.as_text(value)


def _columns(columns: Mapping[str, Any]) -> list[Row]:
    names = (
        ("score", "Score"),
        ("label", "Outcome label"),
        ("groups", "Subgroup columns"),
        ("comparator", "Comparator"),
        ("patient", "Patient identifier"),
        ("time", "Time"),
    )
    rows = []
    for key, label in names:
        value = columns.get(key)
        text = (
            ", ".join(t for v in fmt.as_list(value) if (t := fmt.as_text(v)))
            if isinstance(value, list)
            else fmt.as_text(value)
        )
        if text:
            rows.append(Row(label, text))
    return rows


def build_discrimination(result: Mapping[str, Any]) -> DiscriminationSection | None:
    metrics = metrics_of(result)
    roc = fmt.as_mapping(fmt.as_mapping(result.get("curves")).get("roc"))
    curve = _aligned(floats(roc.get("fpr")), floats(roc.get("tpr")))
    auroc, ap = metrics.get("auroc"), metrics.get("average_precision")
    if curve is None and fmt.metric_value(auroc) is None and fmt.metric_value(ap) is None:
        return None
    bound = fmt.as_float(result.get("auroc_binning_bound"))
    chart = None
    if curve is not None:
        summary = (
            f"AUROC {fmt.metric(auroc)}; the curve is compared with the diagonal of a score "
            "that does not discriminate."
        )
        chart = charts.roc_chart("chart-roc", curve[0], curve[1], summary)
    return DiscriminationSection(
        auroc=Cell.of(auroc),
        binning_bound=None if bound is None else f"±{bound:.4f}",
        average_precision=Cell.of(ap),
        prevalence=fmt.number(result.get("prevalence")),
        chart=chart,
    )


def build_calibration(result: Mapping[str, Any]) -> CalibrationSection | None:
    metrics = metrics_of(result)
    rows = [
        MetricRow(metric_name(key), Cell.of(metrics.get(key), digits(key)), ideal, meaning)
        for key, ideal, meaning in CALIBRATION_METRICS
        if fmt.metric_value(metrics.get(key)) is not None
    ]
    curves = fmt.as_mapping(result.get("curves"))
    smooth = _band(curves.get("calibration"))
    groups = _without_small_groups(_band(curves.get("calibration_groups")), curves)
    distribution = _distribution(curves)
    if not rows and smooth is None and groups is None:
        return None
    chart = None
    if smooth is not None or groups is not None:
        summary = (
            f"O/E ratio {fmt.metric(metrics.get('oe_ratio'))}, calibration slope "
            f"{fmt.metric(metrics.get('calibration_slope'))}; points on the diagonal mean "
            "predicted and observed risk agree."
        )
        chart = charts.calibration_chart("chart-calibration", smooth, groups, distribution, summary)
    return CalibrationSection(
        rows, chart, shows_distribution=chart is not None and distribution is not None
    )


def _band(obj: Any) -> Band | None:
    curve = fmt.as_mapping(obj)
    x, y = floats(curve.get("predicted")), floats(curve.get("observed"))
    aligned = _aligned(x, y)
    if aligned is None:
        return None
    size = len(aligned[0])
    low = _fit(floats(curve.get("ci_low")), size)
    high = _fit(floats(curve.get("ci_high")), size)
    return Band(aligned[0], aligned[1], low, high)


def _without_small_groups(groups: Band | None, curves: Mapping[str, Any]) -> Band | None:
    """Risk groups of fewer than 11 patients are not drawn: their observed risk gives them away."""
    if groups is None:
        return None
    n = floats(fmt.as_mapping(curves.get("calibration_groups")).get("n"))
    if n is None:
        return groups
    counts = _fit(n, len(groups.x))
    keep = ~(counts < fmt.SMALL_CELL_LIMIT)  # unknown (nan) sizes are kept
    if not keep.any():
        return None
    return Band(groups.x[keep], groups.y[keep], groups.low[keep], groups.high[keep])


def _distribution(curves: Mapping[str, Any]) -> Series | None:
    """Predicted risk against number of patients, from the finest curve that carries counts."""
    for key in ("calibration", "calibration_groups"):
        curve = fmt.as_mapping(curves.get(key))
        pair = _aligned(floats(curve.get("predicted")), floats(curve.get("n")))
        if pair is not None:
            return Series("Patients", pair[0], pair[1])
    return None


def _fit(a: np.ndarray | None, size: int) -> np.ndarray:
    """``a`` cut or padded with ``nan`` to ``size``."""
    out = np.full(size, np.nan)
    if a is not None:
        out[: min(size, len(a))] = a[:size]
    return out


def build_decision(result: Mapping[str, Any]) -> DecisionSection | None:
    decision = fmt.as_mapping(fmt.as_mapping(result.get("curves")).get("decision"))
    x = floats(decision.get("threshold"))
    curve = _aligned(x, floats(decision.get("model")))
    if curve is None:
        return None
    size = len(curve[0])
    treat_all = Series("Treat all", curve[0], _fit(floats(decision.get("treat_all")), size))
    comparator_y = floats(decision.get("comparator"))
    comparator = None
    if comparator_y is not None:
        column = fmt.as_mapping(result.get("comparator")).get("column")
        name = fmt.as_text(column) or "Comparator"
        comparator = Series(name, curve[0], _fit(comparator_y, size))
    thresholds = [
        t
        for row in fmt.as_list(result.get("thresholds"))
        if (t := fmt.as_float(fmt.as_mapping(row).get("threshold"))) is not None
    ]
    summary = _decision_summary(result)
    chart = charts.decision_chart(
        "chart-decision", Series("Model", *curve), treat_all, comparator, thresholds, summary
    )
    return DecisionSection(chart=chart, summary=summary)


def _decision_summary(result: Mapping[str, Any]) -> str:
    parts = []
    for row in map(fmt.as_mapping, fmt.as_list(result.get("thresholds"))):
        nb = fmt.metric(row.get("net_benefit"), 4)
        if nb == fmt.MISSING:
            continue
        parts.append(
            f"at threshold {fmt.threshold(row.get('threshold'))} the model's net benefit is {nb} "
            f"against {fmt.number(row.get('treat_all_net_benefit'), 4)} for treating everyone"
        )
    if not parts:
        return "Net benefit of the model compared with treating everyone and treating no one."
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def build_thresholds(result: Mapping[str, Any]) -> ThresholdSection | None:
    rows = [r for r in map(fmt.as_mapping, fmt.as_list(result.get("thresholds"))) if r]
    if not rows:
        return None
    measures = [
        ThresholdRowCells(label, [Cell.of(r.get(key), digits(key)) for r in rows])
        for key, label in THRESHOLD_ROWS
    ]
    measures.append(
        ThresholdRowCells(
            "Net benefit of treating all",
            [Cell(fmt.number(r.get("treat_all_net_benefit"), 4)) for r in rows],
        )
    )
    counts = [
        ThresholdRowCells(label, [Cell(fmt.count(r.get(key))) for r in rows])
        for key, label in (
            ("tp", "True positives"),
            ("fp", "False positives"),
            ("tn", "True negatives"),
            ("fn", "False negatives"),
        )
        if any(fmt.as_int(r.get(key)) is not None for r in rows)
    ]
    return ThresholdSection(
        thresholds=[fmt.threshold(r.get("threshold")) for r in rows],
        rows=measures,
        counts=counts,
    )


def build_sample_size(result: Mapping[str, Any]) -> SampleSizeSection | None:
    sample = result.get("sample_size")
    if not isinstance(sample, Mapping):
        return None
    criteria = [
        SampleSizeRow(
            name=fmt.capitalised(fmt.as_text(item.get("name")) or fmt.MISSING),
            required=fmt.plain_count(item.get("required_n")),
            available=fmt.plain_count(item.get("available_n")),
            status=_adequacy_status(item.get("adequate")),
            status_label=_adequacy(item.get("adequate")),
        )
        for item in map(fmt.as_mapping, fmt.as_list(sample.get("criteria")))
        if item
    ]
    adequate = sample.get("adequate")
    return SampleSizeSection(
        status=_adequacy_status(adequate),
        status_label=_adequacy(adequate),
        criteria=criteria,
        note=fmt.as_text(sample.get("note")),
    )


def _adequacy_status(flag: Any) -> str:
    if flag is True:
        return "pass"
    if flag is False:
        return "fail"
    return "inconclusive"


def _adequacy(flag: Any) -> str:
    if flag is True:
        return "Adequate"
    if flag is False:
        return "Too small"
    return "Not determined"
