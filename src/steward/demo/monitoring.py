"""Monitoring of the demo's risk scores after go-live: each deployment's configuration, and eight
weeks of synthetic predictions and outcomes ingested for the deployed deterioration score.

The rows are the synthetic data set's last eight weeks at the deployment's hospital, moved in time
so that they end an hour before seeding; the newest predictions' outcomes are not yet due, as in
real use.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from steward.db.base import utcnow
from steward.demo.scene import Scene
from steward.registry.models import Deployment
from steward.surveillance.deployments import MonitoringSettings
from steward.surveillance.ingest import ingest_outcomes, ingest_predictions
from steward.surveillance.linkage import OutcomeDefinition
from steward.surveillance.rows import OutcomeRow, PredictionRow

OUTCOME = "deterioration_24h"
SEPSIS_OUTCOME = "sepsis_deterioration_24h"
WEEKS = 8
ROWS = 150_000
SEED = 2


def monitoring(outcome: str) -> MonitoringSettings:
    """A risk score's monitoring: judged against the outcome its validation used, by subgroup."""
    return MonitoringSettings(
        thresholds=(0.1, 0.2),
        outcome=OutcomeDefinition(outcome, window_hours=24, per="encounter", lag_hours=24),
        subgroups=("sex", "age_band", "ethnicity"),
    )


def recent_rows(site: str) -> list[dict[str, Any]]:
    """The synthetic data set's last ``WEEKS`` weeks at ``site``, ending an hour ago."""
    import pyarrow.compute as pc

    from steward.synthetic import generate
    from steward.synthetic.deterioration import END

    table = generate(ROWS, seed=SEED)
    start = END - timedelta(weeks=WEEKS)
    chosen = table.filter(
        pc.and_(pc.equal(table["site"], site), pc.greater_equal(table["admitted_at"], start))
    )
    shift = (utcnow() - timedelta(hours=1)) - END
    rows: list[dict[str, Any]] = chosen.to_pylist()
    for row in rows:
        row["admitted_at"] = row["admitted_at"] + shift
    return rows


def ingest_recent(scene: Scene, deployment: Deployment, site: str) -> None:
    """Ingest predictions and the outcomes known so far, as the data scientist's feed does."""
    scene.acting("data_scientist", "riverside")
    now = utcnow()
    rows = [r for r in recent_rows(site) if r["risk_score"] is not None]
    predictions = [
        PredictionRow(
            event_id=f"pred-{r['encounter_id']}",
            patient_id=r["patient_id"],
            encounter_id=r["encounter_id"],
            time=r["admitted_at"],
            score=r["risk_score"],
            subgroups={"sex": r["sex"], "age_band": r["age_band"], "ethnicity": r["ethnicity"]},
        )
        for r in rows
    ]
    outcomes = [
        OutcomeRow(
            event_id=f"out-{r['encounter_id']}",
            patient_id=r["patient_id"],
            encounter_id=r["encounter_id"],
            outcome=OUTCOME,
            value=1,
            time=r["admitted_at"] + timedelta(hours=6),
        )
        for r in rows
        if r["deteriorated"] == 1 and r["admitted_at"] + timedelta(hours=6) <= now
    ]
    ingest_predictions(scene.session, deployment.id, predictions, now=now)
    ingest_outcomes(scene.session, deployment.id, outcomes, now=now)
