"""Storing what a FHIR document holds: opt-outs in the register, then (for a deployment)
predictions and outcomes through the surveillance ingestion service, in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from steward.integration.fhir.monitoring import monitoring_rows
from steward.integration.fhir.read import FhirBatch, Rejection, without_opted_out
from steward.integration.optout_register import opted_out_digests, register_opt_outs
from steward.surveillance.deployments import load_target
from steward.surveillance.ingest import ingest_outcomes, ingest_predictions
from steward.surveillance.rows import IngestReport


@dataclass
class ImportResult:
    """What an import stored, left out and refused."""

    opt_outs_added: int = 0
    opt_outs_known: int = 0
    opted_out_rows: int = 0
    deployment: uuid.UUID | None = None
    predictions: IngestReport | None = None
    outcomes: IngestReport | None = None
    not_the_outcome: int = 0
    unstored_predictions: int = 0
    unstored_outcomes: int = 0
    rejected: list[Rejection] = field(default_factory=list)


def store_batch(
    session: Session,
    batch: FhirBatch,
    deployment: uuid.UUID | None = None,
    outcome_codes: Iterable[str] = (),
) -> ImportResult:
    """Register the batch's opt-outs; with a deployment, ingest its predictions and outcomes.

    Rows of opted-out patients (including those just registered) are left out and counted.
    Every refusal keeps the FHIR path of its resource.
    """
    registered = register_opt_outs(session, batch.opt_outs)
    result = ImportResult(registered.added, registered.already_registered, deployment=deployment)
    result.rejected = list(batch.rejected)
    if deployment is None:
        result.opted_out_rows = without_opted_out(batch, opted_out_digests(session))
        result.unstored_predictions = len(batch.predictions)
        result.unstored_outcomes = len(batch.outcomes)
        return result
    target = load_target(session, deployment)
    rows = monitoring_rows(batch, target.outcome.name, outcome_codes)
    result.not_the_outcome = rows.not_the_outcome
    result.rejected += rows.rejected
    result.predictions = ingest_predictions(session, deployment, rows.predictions)
    result.outcomes = ingest_outcomes(session, deployment, rows.outcomes)
    for report, paths in (
        (result.predictions, rows.prediction_paths),
        (result.outcomes, rows.outcome_paths),
    ):
        result.opted_out_rows += report.opted_out
        result.rejected += [Rejection(paths[r.row - 1], r.error) for r in report.rejected]
    return result
