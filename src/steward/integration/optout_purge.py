"""Removing opted-out patients from monitoring data already stored: their predictions leave the
window score cells (subtracted at the label they hold) and their prediction and outcome events
are deleted, in the transaction that registers the opt-out.

Feature histograms (input drift) and clinician-feedback counts keep what they counted: they
hold no patient-level values and cannot be attributed back to a prediction once binned.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from steward.audit.context import bound_context
from steward.audit.recorder import UnattributedChangeError, append_events, lock_chain_head
from steward.surveillance.cells import ScoreBatch, epoch_days, score_deltas
from steward.surveillance.deployments import load_target
from steward.surveillance.labels import subgroup_levels
from steward.surveillance.linkage import label_code
from steward.surveillance.models import OutcomeEvent, PredictionEvent
from steward.surveillance.store import add_score_cells, among

PREDICTIONS: Table = PredictionEvent.__table__  # type: ignore[assignment]
OUTCOMES: Table = OutcomeEvent.__table__  # type: ignore[assignment]


def remove_from_monitoring(session: Session, patient_ids: Iterable[str]) -> dict[str, int]:
    """Take the stored predictions and outcomes of ``patient_ids`` out of every deployment's
    monitoring data; returns how many predictions and outcomes were removed."""
    patients = sorted(set(patient_ids))
    removed = {"predictions": 0, "outcomes": 0}
    if not patients:
        return removed
    context = bound_context(session)
    if context is None:
        raise UnattributedChangeError("refusing to remove monitoring data without an audit context")
    lock_chain_head(session)  # one writer at a time, as ingestion does
    by_deployment: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for condition in among(session, PREDICTIONS.c.patient_id, patients):
        found = session.execute(
            select(
                PREDICTIONS.c.deployment_id,
                PREDICTIONS.c.predicted_at,
                PREDICTIONS.c.score,
                PREDICTIONS.c.subgroups,
                PREDICTIONS.c.label,
            ).where(condition)
        )
        for row in found:
            by_deployment[row.deployment_id].append(row)
    changes = []
    for deployment_id, rows in by_deployment.items():
        target = load_target(session, deployment_id)
        batch = ScoreBatch(
            scores=np.array([r.score for r in rows], np.float64),
            days=epoch_days([r.predicted_at for r in rows]),
            labels=np.array([label_code(r.label) for r in rows], np.int64),
            weights=-np.ones(len(rows)),
            subgroups=subgroup_levels(target, [r.subgroups for r in rows]),
        )
        add_score_cells(session, deployment_id, score_deltas(batch, target.edges))
        changes.append(
            {
                "entity_type": "deployments",
                "entity_id": str(deployment_id),
                "action": "surveillance.opted_out_removed",
                "before": None,
                "after": {"predictions": len(rows)},
            }
        )
        removed["predictions"] += len(rows)
    for table, key in ((PREDICTIONS, "predictions"), (OUTCOMES, "outcomes")):
        for condition in among(session, table.c.patient_id, patients):
            result = session.execute(delete(table).where(condition))
            if key == "outcomes":
                removed[key] += int(getattr(result, "rowcount", 0) or 0)
    if changes or removed["outcomes"]:
        if not changes:
            changes.append(
                {
                    "entity_type": "patient_opt_outs",
                    "entity_id": "monitoring",
                    "action": "surveillance.opted_out_removed",
                    "before": None,
                    "after": dict(removed),
                }
            )
        append_events(session, context, changes)
    return removed
