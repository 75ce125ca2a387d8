"""Read the audit trail from the database and check its hash chain end to end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, select

from steward.audit.chain import ChainReport, verify_chain
from steward.audit.models import GENESIS_HASH, HEAD_ID, AuditChainHead, AuditEvent
from steward.db.engine import READ_ONLY

BATCH = 5000


def events_of(connection: Connection) -> Iterator[dict[str, Any]]:
    """Every event as a dict, in sequence order, read in batches."""
    last = 0
    while True:
        rows = connection.execute(
            select(AuditEvent.__table__)
            .where(AuditEvent.seq > last)
            .order_by(AuditEvent.seq)
            .limit(BATCH)
        ).all()
        for row in rows:
            yield dict(row._mapping)
        if len(rows) < BATCH:
            return
        last = rows[-1].seq


def verify_database(engine: Engine) -> ChainReport:
    """Verify the whole chain in one read-only snapshot of the database."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        head = connection.execute(
            select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.id == HEAD_ID)
        ).one()
        return verify_chain(events_of(connection), head.seq, head.hash, GENESIS_HASH)
