"""Sections that split or pair the population: subgroups, the comparator, time windows.

Small cells are withheld (methods section 4): a suppressed level or window shows ``<11`` for its
counts and no estimates, in tables, charts and chart descriptions alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from steward.evaluation.report import charts
from steward.evaluation.report import formatting as fmt
from steward.evaluation.report.charts import Chart, Panel, Point
from steward.evaluation.report.labels import COMPARATOR_METRICS, digits, metric_name
from steward.evaluation.report.sections import Cell, metrics_of

SUPPRESSED_NOTE = "suppressed (n<11)"


@dataclass(frozen=True)
class LevelRow:
    """One level of a subgroup column."""

    level: str
    n: str
    events: str
    auroc: Cell
    oe_ratio: Cell
    slope: Cell
    sensitivity: Cell
    false_positive_rate: Cell
    ppv: Cell
    flags: list[str]
    suppressed: bool


@dataclass(frozen=True)
class SubgroupColumn:
    """A subgroup column: its forest plot and its table of levels."""

    name: str
    anchor: str
    chart: Chart | None
    levels: list[LevelRow]


@dataclass(frozen=True)
class GapRow:
    """A level compared with the rest of its column."""

    column: str
    level: str
    metric: str
    difference: Cell
    p_value: str
    p_adjusted: str
    flagged: bool
    suppressed: bool


@dataclass(frozen=True)
class SubgroupSection:
    """Performance by group, the gap tests between groups, and the outcome they rest on."""

    outcome_definition: str | None
    threshold: str | None
    columns: list[SubgroupColumn]
    gaps: list[GapRow]

    @property
    def flagged_gaps(self) -> list[GapRow]:
        """Gap tests flagged after the Holm adjustment: what a reader must see."""
        return [gap for gap in self.gaps if gap.flagged]

    @property
    def other_gaps(self) -> list[GapRow]:
        """Gap tests not flagged (or withheld), in the document's order."""
        return [gap for gap in self.gaps if not gap.flagged]


@dataclass(frozen=True)
class ComparatorRow:
    """A metric of the model and of the comparator on the same rows."""

    name: str
    model: Cell
    comparator: Cell


@dataclass(frozen=True)
class NetBenefitDifferenceRow:
    """Net benefit of the model minus that of the comparator at one threshold."""

    threshold: str
    difference: Cell


@dataclass(frozen=True)
class ComparatorSection:
    """The model against a comparator scored on the same patients."""

    column: str
    n_paired: str
    events_paired: str
    model_on_paired_rows: bool
    rows: list[ComparatorRow]
    auroc_difference: Cell
    auroc_p_value: str
    net_benefit_differences: list[NetBenefitDifferenceRow]


@dataclass(frozen=True)
class WindowRow:
    """Performance in one time window."""

    window: str
    n: str
    events: str
    auroc: Cell
    oe_ratio: Cell
    suppressed: bool


@dataclass(frozen=True)
class TimeSection:
    """Performance per time window, to show drift within the validation period."""

    column: str
    window: str
    rows: list[WindowRow]
    chart: Chart | None


def build_subgroups(result: Mapping[str, Any]) -> SubgroupSection | None:
    subgroups = fmt.as_mapping(result.get("subgroups"))
    gaps = fmt.as_list(result.get("subgroup_gaps"))
    if not subgroups and not gaps:
        return None
    first = _first_threshold(result)
    overall = metrics_of(result)
    overall_sensitivity = fmt.metric_value(_first_row(result).get("sensitivity"))
    columns = []
    for index, (column, levels) in enumerate(subgroups.items(), start=1):
        name = fmt.as_text(column) or fmt.MISSING
        level_items = [
            (fmt.as_text(k) or fmt.MISSING, fmt.as_mapping(v))
            for k, v in fmt.as_mapping(levels).items()
        ]
        rows = [_level_row(level, obj) for level, obj in level_items]
        chart = (
            _forest(
                f"chart-subgroup-{index}", name, level_items, first, overall, overall_sensitivity
            )
            if level_items
            else None
        )
        columns.append(SubgroupColumn(name, f"subgroup-{index}", chart, rows))
    return SubgroupSection(
        outcome_definition=fmt.as_text(
            fmt.as_mapping(result.get("data")).get("outcome_definition")
        ),
        threshold=None if first is None else fmt.threshold(first),
        columns=columns,
        gaps=[_gap_row(g, subgroups) for g in gaps if isinstance(g, Mapping)],
    )


def _first_row(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """The first threshold row of a result or level (the deployed threshold)."""
    rows = fmt.as_list(obj.get("thresholds"))
    return fmt.as_mapping(rows[0]) if rows else {}


def _first_threshold(result: Mapping[str, Any]) -> float | None:
    return fmt.as_float(_first_row(result).get("threshold"))


def _is_suppressed(level: Mapping[str, Any]) -> bool:
    n = fmt.as_int(level.get("n"))
    return level.get("suppressed") is True or n is None or n < fmt.SMALL_CELL_LIMIT


def _withheld_count(k: Any) -> str:
    """A count in a suppressed row: ``<11`` unless it is known to be larger."""
    value = fmt.as_int(k)
    return (
        fmt.count(value) if value is not None and value >= fmt.SMALL_CELL_LIMIT else fmt.SMALL_CELL
    )


def _level_row(level: str, obj: Mapping[str, Any]) -> LevelRow:
    if _is_suppressed(obj):
        events = fmt.as_int(obj.get("n_events"))
        nonevents = None if events is None else (fmt.as_int(obj.get("n")) or 0) - events
        # Both counts together would give away a small number of non-events.
        hide_events = events is None or nonevents is None or nonevents < fmt.SMALL_CELL_LIMIT
        blank = Cell(fmt.MISSING)
        return LevelRow(
            level=level,
            n=_withheld_count(obj.get("n")),
            events=fmt.SMALL_CELL if hide_events else _withheld_count(events),
            auroc=blank,
            oe_ratio=blank,
            slope=blank,
            sensitivity=blank,
            false_positive_rate=blank,
            ppv=blank,
            flags=["Suppressed"],
            suppressed=True,
        )
    metrics = metrics_of(obj)
    at_first = _first_row(obj)
    return LevelRow(
        level=level,
        n=fmt.count(obj.get("n")),
        events=fmt.count(obj.get("n_events")),
        auroc=Cell.of(metrics.get("auroc")),
        oe_ratio=Cell.of(metrics.get("oe_ratio")),
        slope=Cell.of(metrics.get("calibration_slope")),
        sensitivity=Cell.of(at_first.get("sensitivity")),
        false_positive_rate=Cell.of(_complement(at_first.get("specificity"))),
        ppv=Cell.of(at_first.get("ppv")),
        flags=["Imprecise"] if obj.get("imprecise") is True else [],
        suppressed=False,
    )


def _complement(metric: Any) -> dict[str, float | None]:
    """``1 - metric`` with its interval flipped (false-positive rate from specificity)."""
    obj = fmt.as_mapping(metric)

    def one_minus(key: str) -> float | None:
        value = fmt.as_float(obj.get(key))
        return None if value is None else 1.0 - value

    return {
        "value": one_minus("value"),
        "ci_low": one_minus("ci_high"),
        "ci_high": one_minus("ci_low"),
    }


def _point(level: str, metric: Any, obj: Mapping[str, Any]) -> Point:
    if _is_suppressed(obj):
        return Point(level, None, note=SUPPRESSED_NOTE)
    m = fmt.as_mapping(metric)
    return Point(
        level,
        fmt.as_float(m.get("value")),
        fmt.as_float(m.get("ci_low")),
        fmt.as_float(m.get("ci_high")),
        hollow=obj.get("imprecise") is True,
    )


def _forest(
    chart_id: str,
    column: str,
    levels: list[tuple[str, Mapping[str, Any]]],
    threshold: float | None,
    overall: Mapping[str, Any],
    overall_sensitivity: float | None,
) -> Chart | None:
    panels = [
        Panel(
            "AUROC",
            [_point(lv, metrics_of(o).get("auroc"), o) for lv, o in levels],
            reference=fmt.metric_value(overall.get("auroc")),
        ),
        Panel(
            "O/E ratio",
            [_point(lv, metrics_of(o).get("oe_ratio"), o) for lv, o in levels],
            reference=1.0,
            log_scale=True,
        ),
    ]
    if threshold is not None:
        sensitivity = [_point(lv, _first_row(o).get("sensitivity"), o) for lv, o in levels]
        if any(p.value is not None for p in sensitivity):
            title = f"Sensitivity at {fmt.threshold(threshold)}"
            panels.append(Panel(title, sensitivity, reference=overall_sensitivity))
    if not any(p.value is not None for panel in panels for p in panel.points):
        return None
    suppressed = sum(_is_suppressed(o) for _, o in levels)
    imprecise = sum(o.get("imprecise") is True and not _is_suppressed(o) for _, o in levels)
    summary = (
        f"{', '.join(p.title for p in panels)} with 95% confidence intervals for "
        f"{len(levels)} levels of {column}"
        + (f"; {suppressed} suppressed for small numbers" if suppressed else "")
        + (f"; {imprecise} imprecise (hollow markers)" if imprecise else "")
        + ". Dotted lines mark the overall value (1 for O/E). Values are in the table below."
    )
    return charts.forest_chart(chart_id, [lv for lv, _ in levels], panels, summary)


def _gap_row(gap: Mapping[str, Any], subgroups: Mapping[str, Any]) -> GapRow:
    column = fmt.as_text(gap.get("column")) or fmt.MISSING
    level = fmt.as_text(gap.get("level")) or fmt.MISSING
    key = fmt.as_text(gap.get("metric")) or ""
    metric = metric_name(key)
    t = fmt.as_float(gap.get("threshold"))
    if t is not None:
        metric = f"{metric} at {fmt.threshold(t)}"
    level_obj = fmt.as_mapping(fmt.as_mapping(subgroups.get(column)).get(level))
    suppressed = bool(level_obj) and _is_suppressed(level_obj)
    if suppressed:
        blank = fmt.MISSING
        return GapRow(column, level, metric, Cell(blank), blank, blank, False, True)
    return GapRow(
        column=column,
        level=level,
        metric=metric,
        difference=Cell.of(gap.get("difference"), digits(key)),
        p_value=fmt.p_value(gap.get("p_value")),
        p_adjusted=fmt.p_value(gap.get("p_adjusted")),
        flagged=gap.get("flagged") is True,
        suppressed=False,
    )


def build_comparator(result: Mapping[str, Any]) -> ComparatorSection | None:
    comparator = result.get("comparator")
    if not isinstance(comparator, Mapping):
        return None
    theirs = metrics_of(comparator)
    paired = isinstance(comparator.get("score_metrics"), Mapping)
    ours = fmt.as_mapping(comparator.get("score_metrics")) if paired else metrics_of(result)
    rows = [
        ComparatorRow(
            metric_name(key),
            Cell.of(ours.get(key), digits(key)),
            Cell.of(theirs.get(key), digits(key)),
        )
        for key in COMPARATOR_METRICS
        if fmt.metric_value(ours.get(key)) is not None
        or fmt.metric_value(theirs.get(key)) is not None
    ]
    difference = fmt.as_mapping(comparator.get("auroc_difference"))
    nb = [
        NetBenefitDifferenceRow(fmt.threshold(row.get("threshold")), Cell.of(row, 4))
        for row in map(fmt.as_mapping, fmt.as_list(comparator.get("net_benefit_difference")))
        if row
    ]
    return ComparatorSection(
        column=fmt.as_text(comparator.get("column")) or "Comparator",
        n_paired=fmt.count(comparator.get("n_paired")),
        events_paired=fmt.count(comparator.get("n_events_paired")),
        model_on_paired_rows=paired,
        rows=rows,
        auroc_difference=Cell.of(difference),
        auroc_p_value=fmt.p_value(difference.get("p_value")),
        net_benefit_differences=nb,
    )


def build_time_windows(result: Mapping[str, Any]) -> TimeSection | None:
    windows = result.get("time_windows")
    if not isinstance(windows, Mapping):
        return None
    levels = [lv for lv in map(fmt.as_mapping, fmt.as_list(windows.get("levels"))) if lv]
    if not levels:
        return None
    rows = []
    for level in levels:
        name = fmt.window(level.get("window"), windows.get("window"))
        if _is_suppressed(level):
            blank = Cell(fmt.MISSING)
            rows.append(
                WindowRow(name, _withheld_count(level.get("n")), fmt.SMALL_CELL, blank, blank, True)
            )
            continue
        metrics = metrics_of(level)
        rows.append(
            WindowRow(
                name,
                fmt.count(level.get("n")),
                fmt.count(level.get("n_events")),
                Cell.of(metrics.get("auroc")),
                Cell.of(metrics.get("oe_ratio")),
                False,
            )
        )
    names = [row.window for row in rows]
    panels = [
        Panel(
            "AUROC",
            [
                _point(r.window, metrics_of(lv).get("auroc"), lv)
                for r, lv in zip(rows, levels, strict=True)
            ],
            reference=fmt.metric_value(metrics_of(result).get("auroc")),
        ),
        Panel(
            "O/E ratio",
            [
                _point(r.window, metrics_of(lv).get("oe_ratio"), lv)
                for r, lv in zip(rows, levels, strict=True)
            ],
            reference=1.0,
        ),
    ]
    chart = None
    if len(rows) >= 2 and any(p.value is not None for panel in panels for p in panel.points):
        unit = fmt.as_text(windows.get("window")) or "window"
        summary = (
            f"AUROC and O/E ratio per {unit} across {len(rows)} windows, from {names[0]} to "
            f"{names[-1]}, with 95% confidence intervals; dotted lines mark the overall AUROC "
            "and an O/E of 1. Values are in the table below."
        )
        chart = charts.time_chart("chart-time", names, panels, summary)
    return TimeSection(
        column=fmt.as_text(windows.get("column")) or fmt.MISSING,
        window=fmt.as_text(windows.get("window")) or "window",
        rows=rows,
        chart=chart,
    )
