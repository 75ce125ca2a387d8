"""Acceptance criteria: written before results are seen, checked against a result document.

A criterion is either structured data or a one-line expression::

    auroc.ci_low >= 0.70                    lower 95% bound of the AUROC
    abs(citl) <= 0.05                       calibration-in-the-large, either direction
    sensitivity@0.2 >= 0.6                  a threshold metric at a deployed threshold
    gap(sensitivity@0.2, ethnicity) <= 0.1  largest difference between levels of a column
    auroc_difference.ci_low >= 0            better than the comparator (score minus comparator)
"""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from steward.errors import InputError
from steward.evaluation.result import METRIC_KEYS, THRESHOLD_METRIC_KEYS

Statistic = Literal["value", "ci_low", "ci_high"]
Operator = Literal[">=", "<=", ">", "<"]

COMPARATOR_KEYS: tuple[str, ...] = ("auroc_difference", "net_benefit_difference")
ALIASES: dict[str, str] = {
    "tpr": "sensitivity",
    "tnr": "specificity",
    "c_statistic": "auroc",
    "auc": "auroc",
    "oe": "oe_ratio",
    "slope": "calibration_slope",
    "intercept": "calibration_intercept",
}
#: Threshold metrics that are derived rather than stored: name -> (stored metric, 1 - x?)
DERIVED: dict[str, tuple[str, bool]] = {"fpr": ("specificity", True)}

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_REF = rf"(?P<name>{_NAME})(?:@(?P<threshold>{_NUMBER}))?(?:\.(?P<stat>value|ci_low|ci_high))?"
_PATTERNS = (
    re.compile(
        rf"^gap\(\s*{_REF}\s*,\s*(?P<column>[^)]+?)\s*\)\s*(?P<op>>=|<=|>|<)\s*(?P<limit>{_NUMBER})$"
    ),
    re.compile(rf"^abs\(\s*{_REF}\s*\)\s*(?P<op>>=|<=|>|<)\s*(?P<limit>{_NUMBER})$"),
    re.compile(rf"^{_REF}\s*(?P<op>>=|<=|>|<)\s*(?P<limit>{_NUMBER})$"),
)
GRAMMAR_HELP = (
    "write criteria as 'METRIC[@THRESHOLD][.value|.ci_low|.ci_high] OP NUMBER', "
    "'abs(METRIC...) OP NUMBER' or 'gap(METRIC[@THRESHOLD], COLUMN) OP NUMBER', "
    "for example 'auroc.ci_low >= 0.70', 'abs(citl) <= 0.05', "
    "'gap(sensitivity@0.2, ethnicity) <= 0.10'"
)


class Criterion(BaseModel):
    """One acceptance criterion, in structured form."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    statistic: Statistic = "value"
    absolute: bool = False
    threshold: float | None = None
    gap_across: str | None = None
    op: Operator
    limit: float

    @model_validator(mode="after")
    def _check(self) -> Criterion:
        name = ALIASES.get(self.metric, self.metric)
        if name != self.metric:
            object.__setattr__(self, "metric", name)
        known = (*METRIC_KEYS, *THRESHOLD_METRIC_KEYS, *COMPARATOR_KEYS, *DERIVED)
        if name not in known:
            raise ValueError(f"unknown metric '{name}'; known metrics: {', '.join(known)}")
        needs_threshold = name in THRESHOLD_METRIC_KEYS or name in DERIVED
        if name == "net_benefit_difference":
            needs_threshold = True
        if needs_threshold and self.threshold is None:
            raise ValueError(f"'{name}' is measured at a threshold: write it as {name}@T")
        if not needs_threshold and self.threshold is not None:
            raise ValueError(f"'{name}' is not a threshold metric: remove '@{self.threshold:g}'")
        if self.gap_across is not None and name in COMPARATOR_KEYS:
            raise ValueError("a gap across subgroups cannot be taken of a comparator difference")
        if self.gap_across is not None and self.statistic != "value":
            raise ValueError("a gap compares point estimates: drop the .ci_low/.ci_high")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold {self.threshold:g} must lie strictly between 0 and 1")
        if not math.isfinite(self.limit):
            raise ValueError("the limit must be a finite number")
        return self

    @property
    def text(self) -> str:
        """The criterion in expression form (the form a committee reads)."""
        ref = self.metric + (f"@{self.threshold:g}" if self.threshold is not None else "")
        if self.gap_across is not None:
            lhs = f"gap({ref}, {self.gap_across})"
        else:
            lhs = ref + ("" if self.statistic == "value" else f".{self.statistic}")
            lhs = f"abs({lhs})" if self.absolute else lhs
        return f"{lhs} {self.op} {self.limit:g}"

    def holds(self, observed: float) -> bool:
        """Whether an observed number meets the criterion."""
        match self.op:
            case ">=":
                return observed >= self.limit
            case "<=":
                return observed <= self.limit
            case ">":
                return observed > self.limit
            case "<":
                return observed < self.limit


def parse_criterion(text: str) -> Criterion:
    """Parse the expression form of a criterion.

    Examples
    --------
    >>> parse_criterion("auroc.ci_low >= 0.70").statistic
    'ci_low'
    >>> parse_criterion("gap(tpr@0.2, sex) <= 0.1").metric
    'sensitivity'
    """
    cleaned = " ".join(text.strip().split())
    for pattern in _PATTERNS:
        match = pattern.match(cleaned)
        if match is None:
            continue
        fields = match.groupdict()
        try:
            return Criterion(
                metric=fields["name"].lower(),
                statistic=fields.get("stat") or "value",
                absolute=cleaned.lower().startswith("abs("),
                threshold=float(fields["threshold"]) if fields.get("threshold") else None,
                gap_across=fields["column"].strip() if fields.get("column") else None,
                op=fields["op"],
                limit=float(fields["limit"]),
            )
        except ValueError as exc:
            raise InputError(f"Acceptance criterion '{text}': {_first_error(exc)}.") from None
    raise InputError(f"Acceptance criterion '{text}' could not be read: {GRAMMAR_HELP}.")


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        messages = [str(e.get("msg", "")).removeprefix("Value error, ") for e in errors()]
        return "; ".join(messages)
    return str(exc)
