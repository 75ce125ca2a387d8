"""What the report template sees: typed, pre-formatted sections built from a result document.

Every section is optional except the header, the verdict and the data summary; a section is
``None`` when the document holds nothing for it. Builders never raise on missing or malformed
parts: they show what is there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from steward import __version__
from steward.evaluation.report import formatting as fmt
from steward.evaluation.report.groups import (
    ComparatorSection,
    SubgroupSection,
    TimeSection,
    build_comparator,
    build_subgroups,
    build_time_windows,
)
from steward.evaluation.report.sections import (
    CalibrationSection,
    DataSection,
    DecisionSection,
    DiscriminationSection,
    SampleSizeSection,
    ThresholdSection,
    VerdictSection,
    build_calibration,
    build_data,
    build_decision,
    build_discrimination,
    build_sample_size,
    build_thresholds,
    build_verdict,
)

DEFAULT_TITLE = "Local validation report"


@dataclass(frozen=True)
class Header:
    """Who and what the report is about, and where the numbers came from."""

    title: str
    source: str
    generated: str
    steward_version: str
    renderer_version: str


@dataclass(frozen=True)
class NavItem:
    """A table-of-contents entry pointing at a section's anchor."""

    anchor: str
    title: str


@dataclass(frozen=True)
class ReportContext:
    """Everything the HTML template renders; strings are plain text and escaped by Jinja."""

    header: Header = field(metadata={"help": "Title, data source, generation time, versions"})
    verdict: VerdictSection = field(metadata={"help": "Overall status and each criterion"})
    warnings: list[str] = field(metadata={"help": "Warnings raised while evaluating"})
    data: DataSection = field(metadata={"help": "Counts, exclusions, outcome, columns, methods"})
    discrimination: DiscriminationSection | None = field(metadata={"help": "AUROC, AP, ROC"})
    calibration: CalibrationSection | None = field(metadata={"help": "Calibration metrics, plot"})
    decision: DecisionSection | None = field(metadata={"help": "Decision curve"})
    thresholds: ThresholdSection | None = field(metadata={"help": "Operating characteristics"})
    subgroups: SubgroupSection | None = field(metadata={"help": "Per-group results and gaps"})
    comparator: ComparatorSection | None = field(metadata={"help": "Paired comparison"})
    sample_size: SampleSizeSection | None = field(metadata={"help": "Riley et al. adequacy"})
    time_windows: TimeSection | None = field(metadata={"help": "Performance per time window"})

    @property
    def page_title(self) -> str:
        """The browser tab and print header: the tool, then what the document is."""
        if self.header.title == DEFAULT_TITLE:
            return f"Steward {DEFAULT_TITLE.lower()}"
        return f"{self.header.title} — {DEFAULT_TITLE.lower()}"

    @property
    def navigation(self) -> list[NavItem]:
        """Table of contents of the sections present, in page order."""
        items = [NavItem("verdict", "Verdict")]
        if self.warnings:
            items.append(NavItem("warnings", "Warnings"))
        items.append(NavItem("data", "Data"))
        optional: list[tuple[object, str, str]] = [
            (self.sample_size, "sample-size", "Sample size"),
            (self.discrimination, "discrimination", "Discrimination"),
            (self.calibration, "calibration", "Calibration"),
            (self.decision, "decision-curve", "Decision curve"),
            (self.thresholds, "thresholds", "Thresholds"),
            (self.subgroups, "subgroups", "Subgroups"),
            (self.comparator, "comparator", "Comparator"),
            (self.time_windows, "time-windows", "Over time"),
        ]
        items += [NavItem(anchor, title) for part, anchor, title in optional if part is not None]
        return items


def build_context(result: Mapping[str, Any]) -> ReportContext:
    """The template context of a result document as saved by ``steward evaluate --json``."""
    data = fmt.as_mapping(result.get("data"))
    title = fmt.as_text(result.get("title")) or DEFAULT_TITLE
    header = Header(
        title=title,
        source=fmt.as_text(data.get("source")) or fmt.MISSING,
        generated=fmt.timestamp(result.get("generated_at")),
        steward_version=fmt.as_text(result.get("steward_version")) or fmt.MISSING,
        renderer_version=__version__,
    )
    warnings = [text for w in fmt.as_list(result.get("warnings")) if (text := fmt.as_text(w))]
    return ReportContext(
        header=header,
        verdict=build_verdict(result),
        warnings=warnings,
        data=build_data(result),
        discrimination=build_discrimination(result),
        calibration=build_calibration(result),
        decision=build_decision(result),
        thresholds=build_thresholds(result),
        subgroups=build_subgroups(result),
        comparator=build_comparator(result),
        sample_size=build_sample_size(result),
        time_windows=build_time_windows(result),
    )
