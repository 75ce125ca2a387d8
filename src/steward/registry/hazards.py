"""The DCB0160 clinical risk matrix: risk level as a lookup of likelihood and severity."""

from __future__ import annotations

from enum import StrEnum

from steward.registry.policies import load_policy, policy_version


class Severity(StrEnum):
    """Severity of the harm, per the DCB0160 matrix columns."""

    MINOR = "minor"
    SIGNIFICANT = "significant"
    CONSIDERABLE = "considerable"
    MAJOR = "major"
    CATASTROPHIC = "catastrophic"


class Likelihood(StrEnum):
    """Likelihood of the harm, per the DCB0160 matrix rows."""

    VERY_LOW = "very_low"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    VERY_HIGH = "very_high"


def risk_level(severity: Severity, likelihood: Likelihood) -> int:
    """The risk level 1 (acceptable) to 5 (unacceptable) from the versioned matrix."""
    matrix = load_policy("dcb0160-risk-matrix")
    column = matrix["severities"].index(severity.value)
    return int(matrix["matrix"][likelihood.value][column])


def risk_meaning(level: int) -> str:
    """What a risk level requires, in the words of the standard."""
    return str(load_policy("dcb0160-risk-matrix")["levels"][level])


def matrix_version() -> str:
    """The version of the risk matrix in force."""
    return policy_version("dcb0160-risk-matrix")
