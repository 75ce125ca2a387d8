"""The DCB0160 5x5 risk matrix of a hazard log as a table: likelihood rows (highest first) by
severity columns, each cell with its risk level and the number of open hazards that sit in it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from steward.registry.hazards import Likelihood, Severity, risk_meaning
from steward.registry.policies import load_policy
from steward.registry.records import Hazard, HazardStatus


@dataclass(frozen=True)
class Cell:
    severity: str
    likelihood: str
    level: int
    count: int
    references: tuple[str, ...]


@dataclass(frozen=True)
class RiskMatrix:
    """Rows of cells (likelihood very high first), the column heads and each level's meaning."""

    severities: tuple[str, ...]
    rows: tuple[tuple[str, tuple[Cell, ...]], ...]
    levels: tuple[tuple[int, str], ...]
    open_count: int


def label(value: str) -> str:
    return value.replace("_", " ").capitalize()


def _position(hazard: Hazard) -> tuple[Severity, Likelihood]:
    """Where a hazard sits now: its residual risk once assessed, its initial risk until then."""
    if hazard.residual_severity is not None and hazard.residual_likelihood is not None:
        return hazard.residual_severity, hazard.residual_likelihood
    return hazard.initial_severity, hazard.initial_likelihood


def risk_matrix(hazards: Iterable[Hazard]) -> RiskMatrix:
    """The matrix with the open hazards of ``hazards`` counted in their current cell."""
    policy = load_policy("dcb0160-risk-matrix")
    severities = tuple(str(s) for s in policy["severities"])
    placed: dict[tuple[str, str], list[str]] = {}
    open_hazards = [h for h in hazards if h.status is HazardStatus.OPEN]
    for hazard in open_hazards:
        severity, likelihood = _position(hazard)
        placed.setdefault((severity.value, likelihood.value), []).append(hazard.reference)
    rows = []
    for likelihood in reversed(policy["likelihoods"]):
        cells = tuple(
            Cell(
                severity,
                likelihood,
                int(policy["matrix"][likelihood][column]),
                len(placed.get((severity, likelihood), [])),
                tuple(placed.get((severity, likelihood), [])),
            )
            for column, severity in enumerate(severities)
        )
        rows.append((str(likelihood), cells))
    levels = tuple((level, risk_meaning(level)) for level in sorted(policy["levels"]))
    return RiskMatrix(severities, tuple(rows), levels, len(open_hazards))
