"""Monitor configuration: the versioned defaults (policies/monitors.yaml) and per-tool overrides.

A tool's configuration is the defaults with the tool's overrides merged in, field by field, then
validated; a mistake names its field path, e.g. ``cusum.odds_ratio: must be greater than 1``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from steward.errors import InputError
from steward.surveillance.monitors.inputs import Grain
from steward.surveillance.policies import load_policy

EwmaMetric = Literal["auroc", "alert_rate", "ppv"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _band(value: tuple[float, float]) -> tuple[float, float]:
    low, high = value
    if not 0 < low < high:
        raise ValueError("a band is [low, high] with 0 < low < high")
    return value


class DriftConfig(_Model):
    enabled: bool = True
    grain: Grain = "month"
    bins: int = Field(10, ge=2, le=100)
    min_n: int = Field(500, ge=1)
    review: float = Field(0.1, gt=0)
    alarm: float = Field(0.25, gt=0)
    epsilon: float = Field(1e-4, gt=0, lt=0.01)


class EstimatedPerformanceConfig(_Model):
    enabled: bool = True
    grain: Grain = "week"
    min_n: int = Field(500, ge=1)
    sigma: float = Field(3.0, gt=0)


class RealisedConfig(_Model):
    enabled: bool = True
    grain: Grain = "month"
    alpha: float = Field(0.05, gt=0, lt=0.5)
    min_events: int = Field(10, ge=1)
    min_nonevents: int = Field(10, ge=1)
    auroc_margin: float = Field(0.05, ge=0, lt=0.5)
    oe_band: tuple[float, float] = (0.8, 1.25)
    slope_band: tuple[float, float] = (0.8, 1.25)

    _check_bands = field_validator("oe_band", "slope_band")(_band)


class CusumConfig(_Model):
    enabled: bool = True
    grain: Grain = "day"
    odds_ratio: float = Field(1.5, gt=1, le=10)
    family_arl_years: float = Field(1.0, gt=0, le=10_000)
    simulations: int = Field(4000, ge=200, le=1_000_000)
    seed: int = 0


class EwmaConfig(_Model):
    enabled: bool = True
    grain: Grain = "month"
    lam: float = Field(0.2, gt=0, le=1, alias="lambda")
    width: float = Field(3.0, gt=0)
    metrics: tuple[EwmaMetric, ...] = ("auroc", "alert_rate", "ppv")
    min_n: int = Field(100, ge=1)


class OverrideConfig(_Model):
    enabled: bool = True
    grain: Grain = "week"
    sigma: float = Field(3.0, gt=0)
    min_n: int = Field(30, ge=1)


class SubgroupConfig(_Model):
    enabled: bool = True
    attributes: tuple[str, ...] | None = None
    min_n: int = Field(100, ge=1)


class MonitorConfig(_Model):
    """Every monitor's settings for one tool (see policies/monitors.yaml for the meaning)."""

    policy: Literal["monitors"] = "monitors"
    version: str
    threshold: float | None = None
    drift: DriftConfig = DriftConfig()
    estimated_performance: EstimatedPerformanceConfig = EstimatedPerformanceConfig()
    realised: RealisedConfig = RealisedConfig()
    cusum: CusumConfig = CusumConfig()
    ewma: EwmaConfig = EwmaConfig()
    override: OverrideConfig = OverrideConfig()
    subgroups: SubgroupConfig = SubgroupConfig()

    @field_validator("threshold")
    @classmethod
    def _threshold_in_range(cls, value: float | None) -> float | None:
        if value is not None and not 0.0 < value < 1.0:
            raise ValueError(f"threshold {value:g} must lie strictly between 0 and 1")
        return value


def default_config() -> MonitorConfig:
    """The defaults of policies/monitors.yaml."""
    return monitor_config()


def monitor_config(
    overrides: Mapping[str, Any] | None = None, *, origin: str = "monitor settings"
) -> MonitorConfig:
    """The default configuration with ``overrides`` merged in (nested mappings merge per key).

    Raises ``InputError`` naming ``origin`` and each wrong field's path.
    """
    problems = override_problems(overrides)
    if problems:
        described = "; ".join(f"{path}: {msg}" if path else msg for path, msg in problems)
        raise InputError(f"{origin} has errors: {described}.")
    document = _merged(load_policy("monitors"), overrides or {})
    return MonitorConfig.model_validate(document)


def override_problems(overrides: object) -> list[tuple[str, str]]:
    """Every problem of ``overrides`` as (dotted field path, message); empty when they are valid."""
    if overrides is None:
        return []
    if not isinstance(overrides, Mapping):
        return [("", "monitor settings are a mapping of settings")]
    reserved = [k for k in ("policy", "version") if k in overrides]
    if reserved:
        return [(k, "set by the defaults file, not per tool") for k in reserved]
    try:
        MonitorConfig.model_validate(_merged(load_policy("monitors"), overrides))
    except ValidationError as exc:
        return [_problem(error) for error in exc.errors()]
    return []


def _problem(error: Any) -> tuple[str, str]:
    path = ""
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path, str(error["msg"]).removeprefix("Value error, ")


def _merged(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merged[key] = _merged(current, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
