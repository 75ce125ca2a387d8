"""Deployments under surveillance: creating one with its monitoring configuration, and loading
the configuration an ingestion works with."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from steward.cube.model import FloatArray
from steward.registry.errors import FieldProblem, InvalidInputError, NotFoundError, invalid
from steward.registry.models import Deployment, DeploymentStatus, Organisation, ToolVersion
from steward.registry.tools import deploy, set_deployment_status
from steward.surveillance.cells import score_edges
from steward.surveillance.linkage import OutcomeDefinition
from steward.surveillance.models import MonitoringConfig
from steward.surveillance.monitors.config import override_problems
from steward.surveillance.rows import MAX_ID

#: At most this many subgroup attributes and input features are aggregated per deployment.
MAX_SUBGROUPS = 12
MAX_FEATURES = 200
DEFAULT_REFERENCE_SIZE = 1000


@dataclass(frozen=True)
class MonitoringSettings:
    """What a new deployment's monitoring is configured with."""

    thresholds: tuple[float, ...]
    outcome: OutcomeDefinition
    subgroups: tuple[str, ...] = ()
    feature_cuts: Mapping[str, Sequence[float]] | None = None
    feature_reference_size: int = DEFAULT_REFERENCE_SIZE
    monitor_overrides: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Target:
    """A deployment and its monitoring configuration, as one ingestion sees them."""

    deployment_id: uuid.UUID
    version: str
    outcome: OutcomeDefinition
    thresholds: tuple[float, ...]
    subgroups: tuple[str, ...]
    feature_cuts: Mapping[str, list[float]]
    feature_reference: Mapping[str, list[list[float]]]
    feature_reference_size: int

    @property
    def edges(self) -> FloatArray:
        return score_edges(self.thresholds)


def _check_settings(settings: MonitoringSettings) -> None:
    if len(settings.thresholds) > 20:
        raise invalid("thresholds", "at most 20 deployed thresholds")
    for i, threshold in enumerate(settings.thresholds):
        if not 0.0 < threshold < 1.0:
            raise invalid(f"thresholds[{i}]", "a threshold lies strictly between 0 and 1")
    if len(settings.subgroups) > MAX_SUBGROUPS or len(set(settings.subgroups)) < len(
        settings.subgroups
    ):
        raise invalid("subgroups", f"at most {MAX_SUBGROUPS} different subgroup attributes")
    for i, name in enumerate(settings.subgroups):
        if not name.strip() or len(name) > MAX_ID:
            raise invalid(f"subgroups[{i}]", f"a name of 1 to {MAX_ID} characters")
    for name, cuts in (settings.feature_cuts or {}).items():
        if not name.strip() or len(name) > MAX_ID or len(cuts) > 100:
            raise invalid(f"features.{name}", f"a name of 1 to {MAX_ID} characters, <= 100 cuts")
        if list(cuts) != sorted(set(cuts)):
            raise invalid(f"features.{name}", "cut points must increase strictly")
    if not 10 <= settings.feature_reference_size <= 1_000_000:
        raise invalid("feature_reference_size", "between 10 and 1,000,000 predictions")


def check_monitor_overrides(overrides: object, thresholds: Sequence[float]) -> dict[str, Any]:
    """``overrides`` of the monitors' defaults, checked field by field; each problem is reported
    under ``monitors.<path>``. A deployed threshold must be one of the deployment's thresholds,
    since only those are edges of its window cubes."""
    problems = [
        FieldProblem(f"monitors.{path}" if path else "monitors", message)
        for path, message in override_problems(overrides)
    ]
    if problems:
        raise InvalidInputError(problems)
    checked = dict(overrides) if isinstance(overrides, Mapping) else {}
    # the defaults' own check has accepted it, so it converts (it may arrive as text, "0.3")
    threshold = None if checked.get("threshold") is None else float(checked["threshold"])
    if threshold is not None and threshold not in {float(t) for t in thresholds}:
        listed = ", ".join(f"{t:g}" for t in thresholds) or "none"
        detail = f"{threshold:g} is not one of the deployment's thresholds ({listed})"
        raise invalid("monitors.threshold", detail)
    return checked


def set_monitor_overrides(
    session: Session, deployment_id: uuid.UUID, overrides: object
) -> MonitoringConfig:
    """Replace the deployment's overrides of the monitors' defaults (an empty mapping: defaults)."""
    config = monitoring_config(session, deployment_id)
    if config is None:
        raise NotFoundError(f"deployment {deployment_id} has no monitoring configuration")
    config.monitor_overrides = check_monitor_overrides(overrides, config.thresholds)
    session.flush()
    return config


def create_deployment(
    session: Session,
    version: ToolVersion,
    site: Organisation,
    care_setting: str,
    settings: MonitoringSettings,
    status: DeploymentStatus = DeploymentStatus.PLANNED,
) -> tuple[Deployment, MonitoringConfig]:
    """Record a deployment of ``version`` at ``site`` with its monitoring configuration."""
    _check_settings(settings)
    overrides = check_monitor_overrides(settings.monitor_overrides, settings.thresholds)
    deployment = deploy(session, version, site, care_setting)
    set_deployment_status(session, deployment, status)
    outcome = settings.outcome
    config = MonitoringConfig(
        deployment_id=deployment.id,
        thresholds=sorted(set(settings.thresholds)),
        outcome_name=outcome.name.strip(),
        outcome_window_hours=outcome.window_hours,
        outcome_lag_hours=outcome.lag_hours,
        outcome_per=outcome.per,
        subgroups=list(settings.subgroups),
        feature_reference_size=settings.feature_reference_size,
        feature_cuts={k: [float(c) for c in v] for k, v in (settings.feature_cuts or {}).items()},
        feature_reference={},
        monitor_overrides=overrides,
    )
    session.add(config)
    session.flush()
    return deployment, config


def monitoring_config(session: Session, deployment_id: uuid.UUID) -> MonitoringConfig | None:
    """The monitoring configuration of a deployment, if it has one."""
    return session.get(MonitoringConfig, deployment_id)


def load_target(session: Session, deployment_id: uuid.UUID) -> Target:
    """The deployment and configuration an ingestion needs; NotFound for an unknown id."""
    row = session.execute(
        select(ToolVersion.version, MonitoringConfig)
        .select_from(Deployment)
        .join(ToolVersion, ToolVersion.id == Deployment.version_id)
        .outerjoin(MonitoringConfig, MonitoringConfig.deployment_id == Deployment.id)
        .where(Deployment.id == deployment_id)
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"no deployment with id {deployment_id}")
    version, config = row
    if config is None:
        raise invalid(
            "deployment",
            "this deployment has no monitoring configuration (outcome definition); "
            "create it through POST /api/v1/tools/{id}/deployments",
        )
    return target_of(version, config)


def target_of(version: str, config: MonitoringConfig) -> Target:
    outcome = OutcomeDefinition(
        name=config.outcome_name,
        window_hours=config.outcome_window_hours,
        per="patient" if config.outcome_per == "patient" else "encounter",
        lag_hours=config.outcome_lag_hours,
    )
    reference: dict[str, Any] = dict(config.feature_reference or {})
    return Target(
        deployment_id=config.deployment_id,
        version=version,
        outcome=outcome,
        thresholds=tuple(float(t) for t in config.thresholds),
        subgroups=tuple(config.subgroups),
        feature_cuts=dict(config.feature_cuts or {}),
        feature_reference=reference,
        feature_reference_size=config.feature_reference_size,
    )
