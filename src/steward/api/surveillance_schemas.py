"""Request and response bodies of the deployment and ingestion endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from steward.api.schemas import Request
from steward.registry.models import DeploymentStatus


class OutcomeDefinitionIn(Request):
    name: str = Field(min_length=1, max_length=200, description="Outcome name, e.g. deterioration")
    window_hours: float = Field(
        gt=0, le=24 * 366 * 5, description="The outcome counts if it occurs this long after"
    )
    per: Literal["encounter", "patient"] = Field(
        default="encounter", description="Match outcomes by encounter or by patient"
    )
    lag_hours: float = Field(
        default=0, ge=0, le=24 * 366, description="Extra time allowed for outcome data to arrive"
    )


class DeploymentCreate(Request):
    version: str | None = Field(
        default=None, min_length=1, max_length=100, description="Default: the latest version"
    )
    site: str = Field(min_length=1, max_length=64, description="Slug of the site organisation")
    care_setting: str = Field(min_length=1, max_length=200)
    status: Literal["planned", "live"] = "planned"
    thresholds: list[float] = Field(default_factory=list, max_length=20)
    outcome: OutcomeDefinitionIn
    subgroups: list[str] = Field(
        default_factory=list, max_length=12, description="Subgroup attributes monitored per level"
    )
    features: dict[str, list[float]] | None = Field(
        default=None,
        description="Histogram cut points per input feature; others are frozen from the first "
        "feature_reference_size values (deciles)",
    )
    feature_reference_size: int = Field(default=1000, ge=10, le=1_000_000)
    monitors: dict[str, Any] | None = Field(
        default=None,
        description="Overrides of the monitors' defaults (policies/monitors.yaml), same shape, "
        'e.g. {"drift": {"alarm": 0.2}}; a threshold must be one of `thresholds`',
    )


class OutcomeDefinitionOut(BaseModel):
    name: str
    window_hours: float
    per: str
    lag_hours: float


class MonitoringOut(BaseModel):
    thresholds: list[float]
    outcome: OutcomeDefinitionOut
    subgroups: list[str]
    feature_cuts: dict[str, list[float]]
    feature_reference_size: int
    monitors: dict[str, Any] = Field(
        description="This deployment's overrides of the monitors' defaults (empty: defaults)"
    )
    monitors_policy_version: str = Field(description="Version of the defaults they override")


class DeploymentOut(BaseModel):
    id: uuid.UUID
    tool_id: uuid.UUID
    version: str
    site: str
    care_setting: str
    status: DeploymentStatus
    monitoring: MonitoringOut | None
    created_at: datetime


class RejectedRowOut(BaseModel):
    row: int = Field(description="1-based: NDJSON line, CSV record after the header, Parquet row")
    error: str


class IngestOut(BaseModel):
    accepted: int = Field(description="Events stored by this request")
    duplicates: int = Field(description="Events already stored with the same content")
    opted_out: int = Field(description="Events of patients in the opt-out register, left out")
    rejected: list[RejectedRowOut]


class PredictionIn(BaseModel):
    """One prediction (the JSON form; CSV and Parquet use feature.NAME / subgroup.NAME columns)."""

    event_id: str = Field(max_length=200, description="Client's id; unique per deployment")
    patient_id: str = Field(max_length=200, description="Pseudonymous patient id")
    encounter_id: str | None = Field(default=None, max_length=200)
    card_id: str | None = Field(default=None, max_length=200, description="CDS Hooks card")
    tool_version: str | None = Field(default=None, description="Must be the deployed version")
    time: datetime = Field(description="When the prediction was made (UTC if no offset)")
    score: float = Field(ge=0, le=1)
    features: dict[str, float | None] | None = None
    subgroups: dict[str, str | None] | None = None


class OutcomeIn(BaseModel):
    """One observed outcome."""

    event_id: str = Field(max_length=200)
    patient_id: str = Field(max_length=200)
    encounter_id: str | None = Field(default=None, max_length=200)
    outcome: str = Field(max_length=200)
    value: Literal[0, 1]
    time: datetime


class FeedbackIn(BaseModel):
    """A clinician's response to a prediction (by its event id or its card id)."""

    event_id: str = Field(max_length=200)
    prediction_event_id: str | None = Field(default=None, max_length=200)
    card_id: str | None = Field(default=None, max_length=200)
    action: Literal["accepted", "overridden"]
    reason: str = Field(default="", max_length=5000)
    time: datetime
