"""Labels of stored predictions: linking outcomes as they arrive, closing windows as they fall
due, and moving each changed prediction's contribution between the label cells of its windows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from steward.surveillance.cells import MISSING, ScoreBatch, epoch_days, score_deltas
from steward.surveillance.deployments import Target
from steward.surveillance.linkage import label_code, label_of
from steward.surveillance.models import OutcomeEvent, PredictionEvent
from steward.surveillance.store import add_score_cells, among

PREDICTIONS: Table = PredictionEvent.__table__  # type: ignore[assignment]
OUTCOMES: Table = OutcomeEvent.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Stored:
    """A stored prediction as linkage sees it."""

    event_id: str
    patient_id: str
    encounter_id: str | None
    predicted_at: datetime
    score: float
    subgroups: dict[str, Any] | None
    label: int | None
    due_at: datetime


@dataclass(frozen=True)
class Observed:
    """An outcome of the deployment's outcome name, as linkage sees it."""

    patient_id: str
    encounter_id: str | None
    occurred_at: datetime
    value: int


def subgroup_levels(
    target: Target, subgroups: Sequence[dict[str, Any] | None]
) -> dict[str, list[str]]:
    """The level of each declared subgroup attribute for each row (MISSING when absent)."""
    return {
        dim: [str((s or {}).get(dim) or MISSING) for s in subgroups] for dim in target.subgroups
    }


def outcomes_of(
    session: Session, target: Target, patients: set[str], start: datetime, end: datetime
) -> dict[str, list[Observed]]:
    """Stored outcomes of ``patients`` (the deployment's outcome) with times in [start, end]."""
    found: dict[str, list[Observed]] = defaultdict(list)
    for condition in among(session, OUTCOMES.c.patient_id, sorted(patients)):
        rows = session.execute(
            select(
                OUTCOMES.c.patient_id,
                OUTCOMES.c.encounter_id,
                OUTCOMES.c.occurred_at,
                OUTCOMES.c.value,
            ).where(
                OUTCOMES.c.deployment_id == target.deployment_id,
                OUTCOMES.c.outcome == target.outcome.name,
                condition,
                OUTCOMES.c.occurred_at >= start,
                OUTCOMES.c.occurred_at <= end,
            )
        )
        for row in rows:
            found[row[0]].append(Observed(row[0], row[1], row[2], int(row[3])))
    return found


def linked_values(
    target: Target, patient: str, encounter: str | None, at: datetime, outcomes: list[Observed]
) -> list[int]:
    """Values of the outcomes among ``outcomes`` that belong to the prediction."""
    definition = target.outcome
    return [
        o.value
        for o in outcomes
        if definition.links(
            (patient, encounter, at), (o.patient_id, o.encounter_id, definition.name, o.occurred_at)
        )
    ]


def _stored(row: Any) -> Stored:
    return Stored(
        event_id=row.event_id,
        patient_id=row.patient_id,
        encounter_id=row.encounter_id,
        predicted_at=row.predicted_at,
        score=float(row.score),
        subgroups=row.subgroups,
        label=row.label,
        due_at=row.label_due_at,
    )


_STORED_COLUMNS = (
    PREDICTIONS.c.event_id,
    PREDICTIONS.c.patient_id,
    PREDICTIONS.c.encounter_id,
    PREDICTIONS.c.predicted_at,
    PREDICTIONS.c.score,
    PREDICTIONS.c.subgroups,
    PREDICTIONS.c.label,
    PREDICTIONS.c.label_due_at,
)


def predictions_of(
    session: Session, target: Target, patients: set[str], start: datetime, end: datetime
) -> list[Stored]:
    """Stored predictions of ``patients`` made in [start, end]."""
    found: list[Stored] = []
    for condition in among(session, PREDICTIONS.c.patient_id, sorted(patients)):
        rows = session.execute(
            select(*_STORED_COLUMNS).where(
                PREDICTIONS.c.deployment_id == target.deployment_id,
                condition,
                PREDICTIONS.c.predicted_at >= start,
                PREDICTIONS.c.predicted_at <= end,
            )
        )
        found.extend(_stored(row) for row in rows)
    return found


def move(session: Session, target: Target, moves: Sequence[tuple[Stored, int | None]]) -> None:
    """Store each prediction's new label and move its contribution to the new label's cells."""
    moves = [(p, new) for p, new in moves if new != p.label]
    if not moves:
        return
    session.execute(
        update(PREDICTIONS)
        .where(
            PREDICTIONS.c.deployment_id == target.deployment_id,
            PREDICTIONS.c.event_id == bindparam("b_event_id"),
        )
        .values(label=bindparam("b_label")),
        [{"b_event_id": p.event_id, "b_label": new} for p, new in moves],
    )
    predictions = [p for p, _ in moves] * 2
    labels = [label_code(p.label) for p, _ in moves] + [label_code(new) for _, new in moves]
    weights = np.concatenate([-np.ones(len(moves)), np.ones(len(moves))])
    batch = ScoreBatch(
        scores=np.array([p.score for p in predictions], np.float64),
        days=epoch_days([p.predicted_at for p in predictions]),
        labels=np.array(labels, np.int64),
        weights=weights,
        subgroups=subgroup_levels(target, [p.subgroups for p in predictions]),
    )
    add_score_cells(session, target.deployment_id, score_deltas(batch, target.edges))


def link_outcomes(
    session: Session, target: Target, outcomes: Sequence[Observed], now: datetime
) -> int:
    """Relabel the stored predictions that newly stored ``outcomes`` belong to; returns moves."""
    if not outcomes:
        return 0
    by_patient: dict[str, list[Observed]] = defaultdict(list)
    for outcome in outcomes:
        by_patient[outcome.patient_id].append(outcome)
    start = min(o.occurred_at for o in outcomes) - target.outcome.window
    end = max(o.occurred_at for o in outcomes)
    moves: list[tuple[Stored, int | None]] = []
    for prediction in predictions_of(session, target, set(by_patient), start, end):
        values = linked_values(
            target,
            prediction.patient_id,
            prediction.encounter_id,
            prediction.predicted_at,
            by_patient[prediction.patient_id],
        )
        if not values:
            continue
        # labels only ever move unlabelled -> negative -> positive, so the stored label
        # stands for the outcomes linked before
        known = [] if prediction.label is None else [prediction.label]
        moves.append((prediction, label_of([*known, *values], prediction.due_at, now)))
    move(session, target, moves)
    return len([1 for p, new in moves if new != p.label])


def close_due(session: Session, target: Target, now: datetime) -> int:
    """Label negative every unlabelled prediction whose window (and lag) has passed."""
    rows = session.execute(
        select(*_STORED_COLUMNS).where(
            PREDICTIONS.c.deployment_id == target.deployment_id,
            PREDICTIONS.c.label.is_(None),
            PREDICTIONS.c.label_due_at <= now,
        )
    ).all()
    moves: list[tuple[Stored, int | None]] = [(_stored(row), 0) for row in rows]
    move(session, target, moves)
    return len(moves)
