"""The ingestion service: store predictions, outcomes and clinician feedback of a deployment,
exactly once, and fold each batch into the window cells in the same transaction.

Every function takes already-parsed rows, checks each one, stores the good ones and reports the
rest by row number; an event id already stored with the same content is a duplicate (counted,
not stored again), with different content a conflict (reported as a rejected row with
``conflict=True``). The caller owns the transaction: nothing is visible until it commits, and a
crash before the commit stores nothing, so re-sending everything is always safe. Ingestions of
all deployments run one after another (they hold the audit chain's lock, as every write does).
The session must carry an audit context (:func:`steward.audit.context.bind`): each ingestion that
changes anything writes one audit event naming its counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from steward.db.base import utcnow
from steward.integration.optout_register import opted_out_among
from steward.surveillance import labels
from steward.surveillance.cells import (
    epoch_days,
    feedback_deltas,
)
from steward.surveillance.deployments import Target
from steward.surveillance.ingest_base import audit, begin, conflict, facts
from steward.surveillance.models import FeedbackEvent, OutcomeEvent, PredictionEvent
from steward.surveillance.predictions import ingest_rows
from steward.surveillance.rows import (
    FeedbackRow,
    IngestReport,
    OutcomeRow,
    PredictionRow,
    RejectedRow,
    check_feedback,
    check_outcome,
    digest,
)
from steward.surveillance.store import (
    add_feedback_cells,
    among,
    insert_new,
    stored_digests,
)

PREDICTIONS: Table = PredictionEvent.__table__  # type: ignore[assignment]
OUTCOMES: Table = OutcomeEvent.__table__  # type: ignore[assignment]
FEEDBACK: Table = FeedbackEvent.__table__  # type: ignore[assignment]

Row = TypeVar("Row", PredictionRow, OutcomeRow, FeedbackRow)
PatientRow = TypeVar("PatientRow", PredictionRow, OutcomeRow)


@dataclass
class _Candidate:
    number: int
    record: dict[str, Any]


def _screen(
    session: Session,
    table: Table,
    target: Target,
    rows: Sequence[Row],
    numbers: Sequence[int] | None,
    prepare: Callable[[Row], tuple[str | None, dict[str, Any]]],
    report: IngestReport,
) -> list[_Candidate]:
    """Check rows, drop duplicates (in the batch and already stored); the rest are new."""
    candidates: dict[str, _Candidate] = {}
    for number, row in zip(numbers or range(1, len(rows) + 1), rows, strict=True):
        problem, record = prepare(row)
        if problem is not None:
            report.rejected.append(RejectedRow(number, problem))
            continue
        earlier = candidates.get(record["event_id"])
        if earlier is None:
            candidates[record["event_id"]] = _Candidate(number, record)
        elif earlier.record["digest"] == record["digest"]:
            report.duplicates += 1
        else:
            report.rejected.append(conflict(number, record["event_id"], f"row {earlier.number}"))
    stored = stored_digests(session, table, target.deployment_id, list(candidates))
    new: list[_Candidate] = []
    for event_id, candidate in candidates.items():
        if event_id not in stored:
            new.append(candidate)
        elif stored[event_id] == candidate.record["digest"]:
            report.duplicates += 1
        else:
            report.rejected.append(conflict(candidate.number, event_id, "an event already stored"))
    return new


def ingest_predictions(
    session: Session,
    deployment_id: uuid.UUID,
    rows: Sequence[PredictionRow],
    *,
    now: datetime | None = None,
    row_numbers: Sequence[int] | None = None,
) -> IngestReport:
    """Store new predictions, label them from outcomes already stored, add them to the cells.

    ``row_numbers`` (default 1..n) are the numbers rejected rows are reported under. Raises
    NotFoundError for an unknown deployment. The rows are checked and stored column by column
    (``steward.surveillance.predictions``); rows a vectorised check cannot vouch for are checked
    one by one.
    """
    return ingest_rows(session, deployment_id, rows, now=now, row_numbers=row_numbers)


def _without_opted_out(
    session: Session,
    rows: Sequence[PatientRow],
    numbers: Sequence[int] | None,
    report: IngestReport,
) -> tuple[list[PatientRow], list[int]]:
    """The rows (and their numbers) of patients not in the opt-out register; the others are
    left out before anything is stored, and counted in ``report.opted_out``."""
    numbered = list(zip(numbers or range(1, len(rows) + 1), rows, strict=True))
    patients = {row.patient_id for _, row in numbered if isinstance(row.patient_id, str)}
    opted_out = opted_out_among(session, patients) if patients else set()
    kept = [(n, row) for n, row in numbered if row.patient_id not in opted_out]
    report.opted_out = len(numbered) - len(kept)
    return [row for _, row in kept], [n for n, _ in kept]


def ingest_outcomes(
    session: Session,
    deployment_id: uuid.UUID,
    rows: Sequence[OutcomeRow],
    *,
    now: datetime | None = None,
    row_numbers: Sequence[int] | None = None,
) -> IngestReport:
    """Store new outcomes and relabel the predictions they belong to (in their windows).

    Outcomes of patients with no prediction yet (or of other outcome names) are kept and linked
    when matching predictions arrive.
    """
    now = now or utcnow()
    target = begin(session, deployment_id)
    report = IngestReport()
    received = utcnow()
    rows, row_numbers = _without_opted_out(session, rows, row_numbers, report)

    def prepare(row: OutcomeRow) -> tuple[str | None, dict[str, Any]]:
        problem = check_outcome(row, now)
        if problem is not None:
            return problem, {}
        name = row.outcome.strip()
        content = (row.patient_id, row.encounter_id, name, int(row.value), row.time)
        return None, {
            "event_id": row.event_id,
            "patient_id": row.patient_id,
            "encounter_id": row.encounter_id,
            "outcome": name,
            "value": int(row.value),
            "occurred_at": row.time,
            "digest": digest(*content),
            "received_at": received,
        }

    new = _screen(session, OUTCOMES, target, rows, row_numbers, prepare, report)
    records = [c.record for c in new]
    insert_new(session, OUTCOMES, [dict(r, deployment_id=deployment_id) for r in records])
    observed = [
        labels.Observed(r["patient_id"], r["encounter_id"], r["occurred_at"], r["value"])
        for r in records
        if r["outcome"] == target.outcome.name
    ]
    moved = labels.link_outcomes(session, target, observed, now)
    moved += labels.close_due(session, target, now)
    report.accepted = len(records)
    if records or moved:
        audit(
            session,
            target,
            "surveillance.outcomes_ingested",
            facts(report, [r["event_id"] for r in records], moved),
        )
    return report


def _predictions_referred(
    session: Session, target: Target, rows: Sequence[FeedbackRow]
) -> dict[tuple[str, str], tuple[str, dict[str, Any] | None]]:
    """``("event", id)`` / ``("card", id)`` -> (prediction event id, subgroups) for known ones."""
    found: dict[tuple[str, str], tuple[str, dict[str, Any] | None]] = {}
    wanted = {
        "event": sorted(
            {r.prediction_event_id for r in rows if isinstance(r.prediction_event_id, str)}
        ),
        "card": sorted({r.card_id for r in rows if isinstance(r.card_id, str)}),
    }
    columns = {"event": PREDICTIONS.c.event_id, "card": PREDICTIONS.c.card_id}
    for kind, ids in wanted.items():
        for condition in among(session, columns[kind], ids):
            result = session.execute(
                select(
                    PREDICTIONS.c.event_id, PREDICTIONS.c.card_id, PREDICTIONS.c.subgroups
                ).where(PREDICTIONS.c.deployment_id == target.deployment_id, condition)
            )
            for event_id, card_id, subgroups in result:
                key = event_id if kind == "event" else card_id
                found[(kind, key)] = (event_id, subgroups)
    return found


def ingest_feedback(
    session: Session,
    deployment_id: uuid.UUID,
    rows: Sequence[FeedbackRow],
    *,
    now: datetime | None = None,
    row_numbers: Sequence[int] | None = None,
) -> IngestReport:
    """Store clinicians' feedback on stored predictions and count it in its windows (by the
    feedback's time, under the subgroups of the prediction it is about)."""
    now = now or utcnow()
    target = begin(session, deployment_id)
    report = IngestReport()
    received = utcnow()
    referred = _predictions_referred(session, target, rows)
    subgroups_of: dict[str, dict[str, Any] | None] = {}

    def prepare(row: FeedbackRow) -> tuple[str | None, dict[str, Any]]:
        problem = check_feedback(row, now)
        if problem is not None:
            return problem, {}
        if row.prediction_event_id is not None:
            found = referred.get(("event", row.prediction_event_id))
            missing = f"no prediction with event_id {row.prediction_event_id!r} in this deployment"
        else:
            found = referred.get(("card", str(row.card_id)))
            missing = f"no prediction with card_id {row.card_id!r} in this deployment"
        if found is None:
            return missing, {}
        prediction, subgroups = found
        subgroups_of[prediction] = subgroups
        reason = row.reason.strip()
        return None, {
            "event_id": row.event_id,
            "prediction_event_id": prediction,
            "action": row.action,
            "reason": reason,
            "occurred_at": row.time,
            "digest": digest(prediction, row.action, reason, row.time),
            "received_at": received,
        }

    new = _screen(session, FEEDBACK, target, rows, row_numbers, prepare, report)
    records = [c.record for c in new]
    insert_new(session, FEEDBACK, [dict(r, deployment_id=deployment_id) for r in records])
    if records:
        deltas = feedback_deltas(
            epoch_days([r["occurred_at"] for r in records]),
            np.array([r["action"] == "overridden" for r in records], np.float64),
            labels.subgroup_levels(
                target, [subgroups_of[r["prediction_event_id"]] for r in records]
            ),
        )
        add_feedback_cells(session, deployment_id, deltas)
    report.accepted = len(records)
    if records:
        audit(
            session,
            target,
            "surveillance.feedback_ingested",
            facts(report, [r["event_id"] for r in records], 0),
        )
    return report


def close_windows(session: Session, deployment_id: uuid.UUID, now: datetime | None = None) -> int:
    """Label negative the predictions whose outcome window has passed without an outcome, and
    move them in the cells; returns how many changed. Schedulers call it before monitors run."""
    now = now or utcnow()
    target = begin(session, deployment_id)
    moved = labels.close_due(session, target, now)
    if moved:
        audit(
            session,
            target,
            "surveillance.windows_closed",
            {"labels_changed": moved, "as_of": now.isoformat()},
        )
    return moved
