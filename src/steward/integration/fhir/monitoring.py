"""FHIR predictions and outcomes as surveillance rows of one deployment (pure mapping).

A RiskAssessment becomes a prediction whose event id is ``RiskAssessment/ID`` (so importing the
same file twice stores it once); an Observation, Condition or Encounter whose code is one of the
deployment's outcome codes becomes an outcome with the deployment's outcome name (value 0 only
for an Observation whose value is false or 0), others are not the deployment's outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from steward.integration.fhir.read import FhirBatch, Rejection
from steward.surveillance.rows import OutcomeRow, PredictionRow


@dataclass
class MonitoringRows:
    """Rows to ingest, each with the FHIR path it came from (for reporting refusals)."""

    predictions: list[PredictionRow] = field(default_factory=list)
    prediction_paths: list[str] = field(default_factory=list)
    outcomes: list[OutcomeRow] = field(default_factory=list)
    outcome_paths: list[str] = field(default_factory=list)
    not_the_outcome: int = 0
    rejected: list[Rejection] = field(default_factory=list)


def matches(code: str | None, wanted: frozenset[str]) -> bool:
    """Whether ``code`` (``system|code``) is one of ``wanted`` (``system|code`` or bare codes)."""
    if code is None:
        return False
    return code in wanted or code.rpartition("|")[2] in wanted


def monitoring_rows(
    batch: FhirBatch, outcome_name: str, outcome_codes: Iterable[str]
) -> MonitoringRows:
    """The batch's predictions and matching outcomes as ingestion rows."""
    wanted = frozenset(c.strip() for c in outcome_codes if c.strip())
    rows = MonitoringRows()
    for p in batch.predictions:
        if p.resource_id is None or p.predicted_at is None:
            missing = "id" if p.resource_id is None else "occurrenceDateTime"
            rows.rejected.append(
                Rejection(f"{p.source_path}.{missing}", f"a stored prediction needs its {missing}")
            )
            continue
        rows.predictions.append(
            PredictionRow(
                event_id=f"RiskAssessment/{p.resource_id}",
                patient_id=p.patient_id,
                time=p.predicted_at,
                score=p.score,
                encounter_id=p.encounter_id,
            )
        )
        rows.prediction_paths.append(p.source_path)
    for o in batch.outcomes:
        if not matches(o.code, wanted):
            rows.not_the_outcome += 1
            continue
        if o.resource_id is None or o.occurred_at is None:
            missing = "id" if o.resource_id is None else "time"
            rows.rejected.append(
                Rejection(o.source_path, f"a stored outcome needs its {missing}", o.resource_type)
            )
            continue
        rows.outcomes.append(
            OutcomeRow(
                event_id=f"{o.resource_type}/{o.resource_id}",
                patient_id=o.patient_id,
                outcome=outcome_name,
                value=0 if o.value == 0.0 else 1,
                time=o.occurred_at,
                encounter_id=o.encounter_id,
            )
        )
        rows.outcome_paths.append(o.source_path)
    return rows
