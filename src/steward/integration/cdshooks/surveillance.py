"""Cards and feedback passed on to surveillance ingestion, so monitors see live use.

A card with a score (read by the tool's mapping) and a patient id becomes a prediction of the
deployment it was served under, named by the card's uuid; feedback on a card becomes clinician
feedback on that prediction. Event ids are derived from the card, so a resent feedback is a
duplicate, not a second event. A deployment without a monitoring configuration (outcome
definition) has nothing to ingest into: the gateway's own log still holds the card, and the
reason is logged.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from steward.audit.context import AuditContext, bind
from steward.db.session import StewardSession
from steward.errors import StewardError
from steward.integration.cdshooks.documents import Feedback
from steward.integration.cdshooks.models import CdsCard
from steward.integration.cdshooks.store import one_writer
from steward.registry.models import Deployment
from steward.surveillance.ingest import ingest_feedback, ingest_predictions
from steward.surveillance.rows import FeedbackRow, IngestReport, PredictionRow

LOG = logging.getLogger("steward.cdshooks")
ACTOR = "cds-gateway"


def prediction_rows(
    cards: Sequence[tuple[str, float | None]],
    patient_id: str | None,
    encounter_id: str | None,
    version: str,
    at: datetime,
) -> list[PredictionRow]:
    """Rows for the cards (uuid, score) that carry a score, when the context names a patient."""
    if patient_id is None:
        return []
    return [
        PredictionRow(
            event_id=f"cds-card:{card_uuid}",
            patient_id=patient_id,
            time=at,
            score=score,
            encounter_id=encounter_id,
            tool_version=version,
            card_id=card_uuid,
        )
        for card_uuid, score in cards
        if score is not None
    ]


def feedback_rows(items: Sequence[Feedback]) -> list[FeedbackRow]:
    """One row per feedback item; its event id is stable under resending."""
    rows = []
    for item in items:
        reason = " ".join(
            part
            for part in (item.override_display or item.override_code, item.user_comment)
            if part
        )
        stamp = item.outcome_at.isoformat()
        rows.append(
            FeedbackRow(
                event_id=f"cds-feedback:{item.card}:{item.outcome}:{stamp}"[:200],
                action=item.outcome,
                time=item.outcome_at,
                card_id=item.card,
                reason=reason[:2000],
            )
        )
    return rows


def ingest_cards(
    engine: Engine, deployment_id: uuid.UUID, rows: list[PredictionRow], request_id: str
) -> IngestReport | None:
    """Ingest the predictions of one call; None (and a log line) when it cannot be done."""
    if not rows:
        return None
    return _run(engine, request_id, lambda s: ingest_predictions(s, deployment_id, rows))


def ingest_card_feedback(
    engine: Engine, site_id: uuid.UUID, items: Sequence[Feedback], request_id: str
) -> int:
    """Ingest feedback on cards logged at the site, per deployment; returns rows accepted."""
    rows = {r.card_id: r for r in feedback_rows(items)}
    with engine.connect() as connection:
        found = connection.execute(
            select(CdsCard.card_uuid, Deployment.id)
            .join(Deployment, Deployment.version_id == CdsCard.version_id)
            .where(CdsCard.card_uuid.in_(list(rows)), CdsCard.site_id == site_id)
            .where(Deployment.site_id == site_id)
            .order_by(Deployment.created_at, Deployment.id)
        ).all()
    by_deployment: dict[uuid.UUID, list[FeedbackRow]] = {}
    placed: set[str | None] = set()
    for card_uuid, deployment_id in found:
        if card_uuid not in placed:
            placed.add(card_uuid)
            by_deployment.setdefault(deployment_id, []).append(rows[card_uuid])
    accepted = 0
    for deployment_id, batch in by_deployment.items():
        report = _run(engine, request_id, partial(_feedback, deployment_id, batch))
        accepted += report.accepted if report else 0
    return accepted


def _feedback(
    deployment_id: uuid.UUID, rows: list[FeedbackRow], session: StewardSession
) -> IngestReport:
    return ingest_feedback(session, deployment_id, rows)


def _run(
    engine: Engine, request_id: str, work: Callable[[StewardSession], IngestReport]
) -> IngestReport | None:
    try:
        with one_writer(engine), StewardSession(bind=engine) as session, session.begin():
            bind(session, AuditContext(ACTOR, request_id))
            report: IngestReport = work(session)
    except StewardError as error:
        LOG.info("not passed to surveillance: %s", error)
        return None
    except SQLAlchemyError:
        LOG.exception("passing CDS Hooks events to surveillance failed")
        return None
    for rejected in report.rejected:
        LOG.warning("surveillance refused a CDS Hooks event: %s", rejected.error)
    return report
