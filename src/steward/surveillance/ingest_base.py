"""What every ingestion shares: the writers' lock, the conflict message and the audit event."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from steward.audit.context import bound_context
from steward.audit.recorder import UnattributedChangeError, append_events, lock_chain_head
from steward.surveillance.deployments import Target, load_target
from steward.surveillance.rows import IngestReport, RejectedRow


def begin(session: Session, deployment_id: uuid.UUID) -> Target:
    """The deployment's target, with the writers' lock held for the rest of the transaction."""
    if bound_context(session) is None:
        raise UnattributedChangeError("refusing to ingest events without an audit context")
    target = load_target(session, deployment_id)
    # one writer at a time: the check for stored event ids and the insert cannot interleave
    lock_chain_head(session)
    return target


def conflict(number: int, event_id: str, other: str) -> RejectedRow:
    return RejectedRow(
        number, f"event_id {event_id!r} was already used by {other} with different content", True
    )


def audit(session: Session, target: Target, action: str, facts: dict[str, Any]) -> None:
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


def facts(report: IngestReport, event_ids: list[str], moved: int) -> dict[str, Any]:
    """The audit facts of one ingestion: counts, and the first and last new event ids."""
    found: dict[str, Any] = {
        "accepted": report.accepted,
        "duplicates": report.duplicates,
        "opted_out": report.opted_out,
        "rejected": len(report.rejected),
        "labels_changed": moved,
    }
    if event_ids:
        found["first_event_id"] = event_ids[0]
        found["last_event_id"] = event_ids[-1]
    return found
