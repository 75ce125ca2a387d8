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

from steward.audit.context import bound_context
from steward.audit.recorder import UnattributedChangeError, append_events, lock_chain_head
from steward.db.base import utcnow
from steward.integration.optout_register import opted_out_among
from steward.surveillance import labels
from steward.surveillance.cells import (
    ScoreBatch,
    epoch_days,
    feedback_deltas,
    score_deltas,
)
from steward.surveillance.deployments import Target, load_target
from steward.surveillance.features import count_features
from steward.surveillance.linkage import label_code, label_of
from steward.surveillance.models import FeedbackEvent, OutcomeEvent, PredictionEvent
from steward.surveillance.rows import (
    FeedbackRow,
    IngestReport,
    OutcomeRow,
    PredictionRow,
    RejectedRow,
    check_feedback,
    check_outcome,
    check_prediction,
    clean_features,
    clean_subgroups,
    digest,
    json_text,
)
from steward.surveillance.store import (
    JSON_TEXT,
    add_feedback_cells,
    add_score_cells,
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


def _begin(session: Session, deployment_id: uuid.UUID) -> Target:
    if bound_context(session) is None:
        raise UnattributedChangeError("refusing to ingest events without an audit context")
    target = load_target(session, deployment_id)
    # one writer at a time: the check for stored event ids and the insert cannot interleave
    lock_chain_head(session)
    return target


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
            report.rejected.append(_conflict(number, record["event_id"], f"row {earlier.number}"))
    stored = stored_digests(session, table, target.deployment_id, list(candidates))
    new: list[_Candidate] = []
    for event_id, candidate in candidates.items():
        if event_id not in stored:
            new.append(candidate)
        elif stored[event_id] == candidate.record["digest"]:
            report.duplicates += 1
        else:
            report.rejected.append(_conflict(candidate.number, event_id, "an event already stored"))
    return new


def _conflict(number: int, event_id: str, other: str) -> RejectedRow:
    return RejectedRow(
        number, f"event_id {event_id!r} was already used by {other} with different content", True
    )


def _audit(session: Session, target: Target, action: str, facts: dict[str, Any]) -> None:
    context = bound_context(session)
    assert context is not None
    change = {
        "entity_type": "deployments",
        "entity_id": str(target.deployment_id),
        "action": action,
        "before": None,
        "after": facts,
    }
    append_events(session, context, [change])


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
    NotFoundError for an unknown deployment.
    """
    now = now or utcnow()
    target = _begin(session, deployment_id)
    report = IngestReport()
    received = utcnow()
    rows, row_numbers = _without_opted_out(session, rows, row_numbers, report)

    def prepare(row: PredictionRow) -> tuple[str | None, dict[str, Any]]:
        problem = check_prediction(row, now)
        if problem is None and row.tool_version not in (None, target.version):
            problem = f"tool_version {row.tool_version!r} is not the deployed {target.version!r}"
        if problem is not None:
            return problem, {}
        features, subgroups = clean_features(row.features), clean_subgroups(row.subgroups)
        features_json, subgroups_json = json_text(features), json_text(subgroups)
        content = (row.patient_id, row.encounter_id, row.card_id, row.time, float(row.score))
        return None, {
            "event_id": row.event_id,
            "tool_version": row.tool_version,
            "patient_id": row.patient_id,
            "encounter_id": row.encounter_id,
            "card_id": row.card_id,
            "predicted_at": row.time,
            "score": float(row.score),
            "features": features,
            "subgroups": subgroups,
            "label_due_at": target.outcome.due_at(row.time),
            "digest": digest(*content, row.tool_version, features_json, subgroups_json),
            "received_at": received,
            JSON_TEXT: {"features": features_json, "subgroups": subgroups_json},
        }

    new = _screen(session, PREDICTIONS, target, rows, row_numbers, prepare, report)
    moved = labels.close_due(session, target, now)
    records = [c.record for c in new]
    _label_new(session, target, records, now)
    insert_new(session, PREDICTIONS, [dict(r, deployment_id=deployment_id) for r in records])
    frozen: list[str] = []
    if records:
        days = epoch_days([r["predicted_at"] for r in records])
        batch = ScoreBatch(
            scores=np.array([r["score"] for r in records], np.float64),
            days=days,
            labels=np.array([label_code(r["label"]) for r in records], np.int64),
            weights=np.ones(len(records)),
            subgroups=labels.subgroup_levels(target, [r["subgroups"] for r in records]),
        )
        add_score_cells(session, deployment_id, score_deltas(batch, target.edges))
        frozen = count_features(session, target, days, [r["features"] for r in records])
    report.accepted = len(records)
    if records or moved:
        facts = _facts(report, records, moved)
        if frozen:
            facts["feature_bins_frozen"] = sorted(frozen)
        _audit(session, target, "surveillance.predictions_ingested", facts)
    return report


def _label_new(
    session: Session, target: Target, records: list[dict[str, Any]], now: datetime
) -> None:
    """Label new predictions from outcomes stored before them, or as due."""
    for record in records:
        record["label"] = label_of([], record["label_due_at"], now)
    if not records:
        return
    start = min(r["predicted_at"] for r in records)
    end = max(r["predicted_at"] for r in records) + target.outcome.window
    patients = {r["patient_id"] for r in records}
    outcomes = labels.outcomes_of(session, target, patients, start, end)
    if not outcomes:
        return
    for record in records:
        known = outcomes.get(record["patient_id"])
        if known:
            values = labels.linked_values(
                target,
                record["patient_id"],
                record["encounter_id"],
                record["predicted_at"],
                known,
            )
            record["label"] = label_of(values, record["label_due_at"], now)


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


def _facts(report: IngestReport, records: list[dict[str, Any]], moved: int) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "accepted": report.accepted,
        "duplicates": report.duplicates,
        "opted_out": report.opted_out,
        "rejected": len(report.rejected),
        "labels_changed": moved,
    }
    if records:
        facts["first_event_id"] = records[0]["event_id"]
        facts["last_event_id"] = records[-1]["event_id"]
    return facts


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
    target = _begin(session, deployment_id)
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
        _audit(session, target, "surveillance.outcomes_ingested", _facts(report, records, moved))
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
    target = _begin(session, deployment_id)
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
        _audit(session, target, "surveillance.feedback_ingested", _facts(report, records, 0))
    return report


def close_windows(session: Session, deployment_id: uuid.UUID, now: datetime | None = None) -> int:
    """Label negative the predictions whose outcome window has passed without an outcome, and
    move them in the cells; returns how many changed. Schedulers call it before monitors run."""
    now = now or utcnow()
    target = _begin(session, deployment_id)
    moved = labels.close_due(session, target, now)
    if moved:
        _audit(
            session,
            target,
            "surveillance.windows_closed",
            {"labels_changed": moved, "as_of": now.isoformat()},
        )
    return moved
