"""The evaluation spec: what data, which columns, thresholds and acceptance criteria.

Written as YAML before results are seen (docs/evaluation-spec.md shows every field). The
command line can give the same settings as options; options override the spec file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from steward.errors import InputError
from steward.evaluation.criteria import Criterion, parse_criterion

ScoreScale = Literal["probability", "percent", "logit"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(_Spec):
    source: str | None = None
    score_scale: ScoreScale = "probability"


class ColumnsSpec(_Spec):
    score: str
    label: str
    groups: tuple[str, ...] = ()
    comparator: str | None = None
    patient: str | None = None
    time: str | None = None

    @model_validator(mode="after")
    def _distinct(self) -> ColumnsSpec:
        named = [self.score, self.label, self.comparator, self.patient, self.time, *self.groups]
        present = [c for c in named if c is not None]
        repeated = sorted({c for c in present if present.count(c) > 1})
        if repeated:
            raise ValueError(f"each column may play one role only; repeated: {', '.join(repeated)}")
        return self


class OutcomeSpec(_Spec):
    definition: str | None = None


class BootstrapSpec(_Spec):
    replicates: int = Field(1000, ge=0, le=100_000)
    method: Literal["stratified", "poisson"] = "poisson"
    seed: int = 0
    patient_replicates: int = Field(200, ge=0, le=5_000)


class PrecisionSpec(_Spec):
    """Target 95% CI widths for the sample-size check (Riley et al. 2021)."""

    oe_ci_width: float = Field(0.2, gt=0)
    slope_ci_width: float = Field(0.2, gt=0)
    cstat_ci_width: float = Field(0.1, gt=0)


class EvaluationSpec(_Spec):
    """Everything needed to run one local validation and reach a verdict."""

    version: Literal[1] = 1
    title: str | None = None
    data: DataSpec = DataSpec()
    columns: ColumnsSpec
    outcome: OutcomeSpec = OutcomeSpec()
    thresholds: tuple[float, ...] = ()
    intersections: tuple[tuple[str, ...], ...] = ()
    time_window: Literal["day", "week", "month"] = "month"
    bootstrap: BootstrapSpec = BootstrapSpec()
    precision: PrecisionSpec = PrecisionSpec()
    acceptance: tuple[Criterion, ...] = ()

    @field_validator("acceptance", mode="before")
    @classmethod
    def _parse_expressions(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(parse_criterion(v) if isinstance(v, str) else v for v in value)
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds_in_range(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        for t in value:
            if not 0.0 < t < 1.0:
                raise ValueError(f"threshold {t:g} must lie strictly between 0 and 1")
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _consistent(self) -> EvaluationSpec:
        groups = set(self.columns.groups)
        for dims in self.intersections:
            unknown = [d for d in dims if d not in groups]
            if unknown or len(dims) < 2:
                raise ValueError(
                    f"intersection {list(dims)} must name two or more of the group columns "
                    f"({', '.join(sorted(groups)) or 'none given'})"
                )
        for criterion in self.acceptance:
            if criterion.gap_across is not None and criterion.gap_across not in groups:
                raise ValueError(
                    f"criterion '{criterion.text}' compares levels of '{criterion.gap_across}', "
                    "which is not one of the group columns"
                )
            if criterion.metric in ("auroc_difference", "net_benefit_difference") and (
                self.columns.comparator is None
            ):
                raise ValueError(f"criterion '{criterion.text}' needs a comparator column")
        # A criterion at a threshold implies that threshold is evaluated.
        implied = {c.threshold for c in self.acceptance if c.threshold is not None}
        if not implied <= set(self.thresholds):
            object.__setattr__(self, "thresholds", tuple(sorted(set(self.thresholds) | implied)))
        return self


def load_spec(path: str | Path) -> EvaluationSpec:
    """Read and validate a YAML spec; errors name the file and the field."""
    import yaml  # here: a run without a spec file does without the YAML parser

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"Spec file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Spec file {path} could not be read: {exc}.") from None
    except yaml.YAMLError as exc:
        raise InputError(f"Spec file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise InputError(f"Spec file {path} must hold a mapping of settings (see docs).")
    return spec_from_mapping(raw, origin=str(path))


def spec_from_mapping(raw: dict[str, Any], origin: str = "spec") -> EvaluationSpec:
    """Validate a spec given as plain data (YAML, JSON or a web form)."""
    try:
        return EvaluationSpec.model_validate(raw)
    except ValidationError as exc:
        raise InputError(f"{origin} has errors: {describe_validation_error(exc)}.") from None
    except InputError as exc:
        raise InputError(f"{origin}: {exc}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, each with its field path, e.g. ``acceptance[1]: unknown metric``."""
    problems = []
    for error in exc.errors():
        path = ""
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{path or 'spec'}: {message}")
    return "; ".join(problems)
