"""Monitoring of the demo's risk scores after go-live: each deployment's configuration, and ten
weeks of synthetic predictions and outcomes ingested for the deployed deterioration score.

The rows are the synthetic data set's last ``WEEKS`` labelled weeks at the deployment's hospital
(its final, still uncoded fortnight is left out: fed without outcomes, it would turn into false
negatives), moved in time so that they end an hour before seeding. Outcomes arrive as coded,
once a prediction's outcome window and lag have passed, so the newest predictions are not yet
labelled, as in real use.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
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
WEEKS = 10
"""History fed: the reference period (28 days by default) and six weeks monitored after it."""
ROWS = 150_000
SEED = 2
OUTCOME_AFTER = timedelta(hours=6)
"""When after admission a deterioration is recorded: inside the 24-hour outcome window."""


def definition(outcome: str) -> OutcomeDefinition:
    """The outcome a demo risk score is judged against: within 24 hours, coded a day later."""
    return OutcomeDefinition(outcome, window_hours=24, per="encounter", lag_hours=24)


def monitoring(outcome: str) -> MonitoringSettings:
    """A risk score's monitoring: judged against the outcome its validation used, by subgroup."""
    return MonitoringSettings(
        thresholds=(0.1, 0.2),
        outcome=definition(outcome),
        subgroups=("sex", "age_band", "ethnicity"),
    )


def recent_rows(site: str, now: datetime) -> list[dict[str, Any]]:
    """The synthetic data set's last ``WEEKS`` labelled weeks at ``site``, ending an hour
    before ``now``; rows without a score are left out (no prediction was made)."""
    import pyarrow.compute as pc

    from steward.synthetic import generate
    from steward.synthetic.deterioration import LABELLED_UNTIL

    table = generate(ROWS, seed=SEED)
    start = LABELLED_UNTIL - timedelta(weeks=WEEKS)
    times = table["admitted_at"]
    chosen = table.filter(
        pc.and_(
            pc.and_(pc.equal(table["site"], site), pc.greater_equal(times, start)),
            pc.and_(pc.less(times, LABELLED_UNTIL), pc.is_valid(table["risk_score"])),
        )
    )
    shift = (now - timedelta(hours=1)) - LABELLED_UNTIL
    rows: list[dict[str, Any]] = chosen.to_pylist()
    for row in rows:
        row["admitted_at"] = row["admitted_at"] + shift
    return rows


def feed(
    rows: Sequence[dict[str, Any]], outcome: OutcomeDefinition, now: datetime
) -> tuple[list[PredictionRow], list[OutcomeRow]]:
    """The predictions of ``rows`` and the outcomes coded by ``now``: a deterioration is
    known once the prediction's label is due (window and lag passed)."""
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
            outcome=outcome.name,
            value=1,
            time=r["admitted_at"] + OUTCOME_AFTER,
        )
        for r in rows
        if r["deteriorated"] == 1 and outcome.due_at(r["admitted_at"]) <= now
    ]
    return predictions, outcomes


def ingest_recent(scene: Scene, deployment: Deployment, site: str) -> None:
    """Ingest predictions and the outcomes known so far, as the data scientist's feed does."""
    scene.acting("data_scientist", "riverside")
    now = utcnow()
    predictions, outcomes = feed(recent_rows(site, now), definition(OUTCOME), now)
    ingest_predictions(scene.session, deployment.id, predictions, now=now)
    ingest_outcomes(scene.session, deployment.id, outcomes, now=now)
