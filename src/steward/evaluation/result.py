"""The evaluation result document: what `steward evaluate --json` writes, with its JSON Schema.

The schema is published at ``schemas/evaluation-result.schema.json``; a test keeps that file
identical to the one generated from these models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from steward.metrics.types import Estimate

SCHEMA_ID = "https://steward.invalid/schemas/evaluation-result.schema.json"

VerdictStatus = Literal["pass", "fail", "inconclusive", "not_assessed"]
CriterionStatus = Literal["pass", "fail", "inconclusive"]

#: Keys of every ``metrics`` object, in report order (the issue's interface plus extras).
METRIC_KEYS: tuple[str, ...] = (
    "auroc",
    "average_precision",
    "brier",
    "scaled_brier",
    "oe_ratio",
    "citl",
    "calibration_intercept",
    "calibration_slope",
    "ici",
    "e50",
    "e90",
    "emax",
    "ece",
    "log_loss",
)
#: Keys of every threshold row that hold a metric object.
THRESHOLD_METRIC_KEYS: tuple[str, ...] = (
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "alert_rate",
    "alerts_per_true_positive",
    "net_benefit",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Metric(_Model):
    """A metric value with its 95% confidence interval (either bound may be null)."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None

    @classmethod
    def of(cls, estimate: Estimate) -> Metric:
        return cls(**estimate.as_dict())


class ThresholdRow(_Model):
    """Operating characteristics at one threshold (a row is predicted positive if score >= t)."""

    threshold: float
    sensitivity: Metric
    specificity: Metric
    ppv: Metric
    npv: Metric
    alert_rate: Metric
    alerts_per_true_positive: Metric
    net_benefit: Metric
    treat_all_net_benefit: float | None
    tp: int
    fp: int
    tn: int
    fn: int


class Columns(_Model):
    score: str
    label: str
    groups: list[str] = Field(default_factory=list)
    comparator: str | None = None
    patient: str | None = None
    time: str | None = None


class DataSummary(_Model):
    source: str
    rows_read: int
    columns: Columns
    score_scale: str = "probability"
    outcome_definition: str | None = None


class RocCurve(_Model):
    fpr: list[float]
    tpr: list[float]


class CalibrationBand(_Model):
    predicted: list[float]
    observed: list[float | None]
    ci_low: list[float | None]
    ci_high: list[float | None]
    n: list[float] | None = None


class DecisionCurve(_Model):
    threshold: list[float]
    model: list[float | None]
    treat_all: list[float | None]
    comparator: list[float | None] | None = None


class Curves(_Model):
    roc: RocCurve | None = None
    calibration: CalibrationBand | None = None
    calibration_groups: CalibrationBand | None = None
    decision: DecisionCurve | None = None


class SubgroupLevel(_Model):
    """One level of a subgroup column. Counts of suppressed levels (n < 11) are withheld."""

    n: int | None
    n_events: int | None
    metrics: dict[str, Metric]
    thresholds: list[ThresholdRow]
    imprecise: bool
    suppressed: bool


class SubgroupGap(_Model):
    """A level compared with the rest of its column, with a Holm-adjusted p-value."""

    column: str
    level: str
    metric: str
    threshold: float | None = None
    difference: Metric
    p_value: float | None
    p_adjusted: float | None
    flagged: bool


class AurocDifference(_Model):
    value: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None


class NetBenefitDifference(_Model):
    threshold: float
    value: float | None
    ci_low: float | None
    ci_high: float | None


class Comparator(_Model):
    """Score and comparator on the same rows; differences are score minus comparator."""

    column: str
    n_paired: int
    n_events_paired: int
    metrics: dict[str, Metric]
    score_metrics: dict[str, Metric]
    auroc_difference: AurocDifference
    net_benefit_difference: list[NetBenefitDifference]


class SampleSizeCriterion(_Model):
    name: str
    required_n: int | None
    available_n: int
    adequate: bool | None


class SampleSize(_Model):
    adequate: bool | None
    criteria: list[SampleSizeCriterion]
    note: str


class CriterionResult(_Model):
    criterion: str
    status: CriterionStatus
    evidence: str
    observed: float | None = None
    limit: float


class Verdict(_Model):
    status: VerdictStatus
    criteria: list[CriterionResult]
    summary: str


class WindowMetrics(_Model):
    window: str
    n: int | None
    n_events: int | None
    metrics: dict[str, Metric]
    suppressed: bool


class TimeWindows(_Model):
    column: str
    window: str
    levels: list[WindowMetrics]


class OptOuts(_Model):
    """Patients who opted out: where their list came from and how many rows were left out."""

    applied: bool
    source: str | None = None
    patients: int = 0
    rows_excluded: int = 0


class EvaluationResult(_Model):
    """The result document of one local validation."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"$id": SCHEMA_ID, "title": "Steward evaluation result"},
    )

    steward_version: str
    generated_at: str
    title: str | None = None
    data: DataSummary
    n: int
    n_events: int
    prevalence: float | None
    metrics: dict[str, Metric]
    auroc_binning_bound: float | None
    thresholds: list[ThresholdRow]
    curves: Curves
    subgroups: dict[str, dict[str, SubgroupLevel]]
    subgroup_gaps: list[SubgroupGap]
    comparator: Comparator | None
    sample_size: SampleSize
    verdict: Verdict
    excluded: dict[str, int]
    opt_outs: OptOuts = Field(default_factory=lambda: OptOuts(applied=False))
    time_windows: TimeWindows | None = None
    bootstrap: dict[str, int | str | None]
    warnings: list[str]


def result_json_schema() -> dict[str, object]:
    """The published JSON Schema of the result document."""
    return EvaluationResult.model_json_schema()
