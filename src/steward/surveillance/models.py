"""Tables of surveillance: per-deployment monitoring settings, ingested events and the
incremental window cells (score cube, feature histograms, feedback counts)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from steward.db.base import Base, CreatedMixin, utcnow

ID = 200
"""Maximum length of a client identifier (event, patient, encounter, card)."""


def _deployment_key(*, foreign: bool = False) -> Any:
    """The deployment column leading every key.

    Only the configuration carries a foreign key: events and cells are written in bulk, only by
    the ingestion service after it has loaded the deployment (deployments are never deleted),
    and a per-row foreign-key check would cost PostgreSQL more than the insert itself.
    """
    if foreign:
        return mapped_column(ForeignKey("deployments.id", ondelete="RESTRICT"), primary_key=True)
    return mapped_column(primary_key=True)


class MonitoringConfig(CreatedMixin, Base):
    """How a deployment is watched: thresholds, outcome definition, subgroups, features."""

    __tablename__ = "monitoring_configs"

    deployment_id: Mapped[uuid.UUID] = _deployment_key(foreign=True)
    thresholds: Mapped[list[float]] = mapped_column(JSON)
    outcome_name: Mapped[str] = mapped_column(String(ID))
    outcome_window_hours: Mapped[float] = mapped_column(Float)
    outcome_lag_hours: Mapped[float] = mapped_column(Float, default=0.0)
    outcome_per: Mapped[str] = mapped_column(String(16))
    subgroups: Mapped[list[str]] = mapped_column(JSON)
    feature_reference_size: Mapped[int] = mapped_column(Integer, default=1000)
    #: Frozen interior cut points of each input feature's histogram (PSI bins).
    feature_cuts: Mapped[dict[str, Any]]
    #: Values seen before a feature's cuts were frozen: ``{feature: [[iso time, value], ...]}``.
    feature_reference: Mapped[dict[str, Any]] = mapped_column(info={"audit": "omit"})
    #: Overrides of the monitors' defaults (policies/monitors.yaml), same shape, field by field.
    monitor_overrides: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PredictionEvent(Base):
    """One prediction a deployed tool made; ``label`` is its linked outcome (NULL: not yet)."""

    __tablename__ = "surveillance_predictions"
    __table_args__ = (
        Index("ix_surveillance_predictions_patient", "deployment_id", "patient_id", "predicted_at"),
        Index("ix_surveillance_predictions_card", "deployment_id", "card_id"),
        Index(
            "ix_surveillance_predictions_due",
            "deployment_id",
            "label_due_at",
            postgresql_where=text("label IS NULL"),
            sqlite_where=text("label IS NULL"),
        ),
    )

    deployment_id: Mapped[uuid.UUID] = _deployment_key()
    event_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    tool_version: Mapped[str | None] = mapped_column(String(100))
    patient_id: Mapped[str] = mapped_column(String(ID))
    encounter_id: Mapped[str | None] = mapped_column(String(ID))
    card_id: Mapped[str | None] = mapped_column(String(ID))
    predicted_at: Mapped[datetime]
    score: Mapped[float] = mapped_column(Float)
    features: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    subgroups: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    label: Mapped[int | None] = mapped_column(SmallInteger)
    label_due_at: Mapped[datetime]
    digest: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime]


class OutcomeEvent(Base):
    """An observed outcome of a patient (or one encounter), kept whether or not it matches."""

    __tablename__ = "surveillance_outcomes"
    __table_args__ = (
        Index("ix_surveillance_outcomes_patient", "deployment_id", "patient_id", "occurred_at"),
    )

    deployment_id: Mapped[uuid.UUID] = _deployment_key()
    event_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(ID))
    encounter_id: Mapped[str | None] = mapped_column(String(ID))
    outcome: Mapped[str] = mapped_column(String(ID))
    value: Mapped[int] = mapped_column(SmallInteger)
    occurred_at: Mapped[datetime]
    digest: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime]


class FeedbackEvent(Base):
    """A clinician's response to one prediction (card): accepted or overridden, and why."""

    __tablename__ = "surveillance_feedback"

    deployment_id: Mapped[uuid.UUID] = _deployment_key()
    event_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    prediction_event_id: Mapped[str] = mapped_column(String(ID))
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime]
    digest: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime]


#: Cells are updated in place by every batch: free space in each page keeps those updates off
#: the primary key index (PostgreSQL heap-only tuples; migration 0015).
CELL_TABLE_ARGS: dict[str, Any] = {"postgresql_with": {"fillfactor": 50}}


class ScoreCell(Base):
    """Sufficient statistics of one score bin and label in one window, overall or per level."""

    __tablename__ = "surveillance_score_cells"
    __table_args__ = CELL_TABLE_ARGS

    deployment_id: Mapped[uuid.UUID] = _deployment_key()
    grain: Mapped[str] = mapped_column(String(8), primary_key=True)
    window_start: Mapped[date] = mapped_column(Date, primary_key=True)
    dim: Mapped[str] = mapped_column(String(ID), primary_key=True)
    level: Mapped[str] = mapped_column(String(ID), primary_key=True)
    bin: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    n: Mapped[float] = mapped_column(Float)
    sum_p: Mapped[float] = mapped_column(Float)
    sum_p2: Mapped[float] = mapped_column(Float)
    sum_logp: Mapped[float] = mapped_column(Float)
    sum_log1mp: Mapped[float] = mapped_column(Float)
    sum_z: Mapped[float] = mapped_column(Float)
    sum_z2: Mapped[float] = mapped_column(Float)
    sum_pz: Mapped[float] = mapped_column(Float)


class FeatureCell(Base):
    """Count of one input feature's values in one histogram bin in one window."""

    __tablename__ = "surveillance_feature_cells"
    __table_args__ = CELL_TABLE_ARGS

    deployment_id: Mapped[uuid.UUID] = _deployment_key()
    grain: Mapped[str] = mapped_column(String(8), primary_key=True)
    window_start: Mapped[date] = mapped_column(Date, primary_key=True)
    feature: Mapped[str] = mapped_column(String(ID), primary_key=True)
    bin: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[float] = mapped_column(Float)


class FeedbackCell(Base):
    """Feedback received and overrides in one window, overall or for one subgroup level."""

    __tablename__ = "surveillance_feedback_cells"
    __table_args__ = CELL_TABLE_ARGS

    deployment_id: Mapped[uuid.UUID] = _deployment_key()
    grain: Mapped[str] = mapped_column(String(8), primary_key=True)
    window_start: Mapped[date] = mapped_column(Date, primary_key=True)
    dim: Mapped[str] = mapped_column(String(ID), primary_key=True)
    level: Mapped[str] = mapped_column(String(ID), primary_key=True)
    n: Mapped[float] = mapped_column(Float)
    overridden: Mapped[float] = mapped_column(Float)
