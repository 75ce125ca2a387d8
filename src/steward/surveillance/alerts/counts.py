"""How many alerts each tool has open (not yet resolved), for the portfolio."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from steward.surveillance.alerts.models import Alert, AlertStatus


def open_alert_counts(session: Session, tool_ids: Collection[uuid.UUID]) -> Mapping[uuid.UUID, int]:
    """Open and acknowledged alerts per tool; tools without any are absent."""
    rows = session.execute(
        select(Alert.tool_id, func.count())
        .where(Alert.tool_id.in_(tool_ids), Alert.status != AlertStatus.RESOLVED)
        .group_by(Alert.tool_id)
    ).all()
    return {tool_id: int(n) for tool_id, n in rows}
