"""Records every ORM change as an audit event inside the flush that writes it.

A ``before_flush`` hook turns new, changed and deleted rows into events and appends them to the
chain while holding the chain-head row lock (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
sessions begin ``IMMEDIATE`` and so already hold the only write lock). The lock lasts until the
transaction ends, so concurrent writers append one after another and the chain never forks.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, insert, inspect, select, update
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.orm.state import InstanceState

from steward.audit.chain import canonical_time, event_hash
from steward.audit.context import AuditContext, bound_context
from steward.audit.models import HEAD_ID, AuditChainHead, AuditEvent
from steward.db.base import utcnow
from steward.errors import StewardError

UNAUDITED = (AuditEvent, AuditChainHead)
REDACTED = "[redacted]"


class UnattributedChangeError(StewardError):
    """A change was about to be written without an actor to attribute it to."""


def install(session_class: type[Session]) -> None:
    """Audit every flush of sessions of ``session_class``."""
    if not event.contains(session_class, "before_flush", _before_flush):
        event.listen(session_class, "before_flush", _before_flush)


def _before_flush(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    changes = _collect(session)
    if not changes:
        return
    context = bound_context(session)
    if context is None:
        names = ", ".join(sorted({c["entity_type"] for c in changes}))
        raise UnattributedChangeError(f"refusing to write {names} without an audit context")
    append_events(session, context, changes)


def lock_chain_head(session: Session) -> tuple[int, str]:
    """Lock the chain-head row until the transaction ends; returns its sequence number and hash.

    A unit of work that will lock other rows (e.g. a tool being moved) calls this first, so every
    writer takes locks in the same order (chain head, then rows) and none can deadlock.
    """
    head = (
        session.connection()
        .execute(
            select(AuditChainHead.seq, AuditChainHead.hash)
            .where(AuditChainHead.id == HEAD_ID)
            .with_for_update()
        )
        .one()
    )
    return int(head.seq), str(head.hash)


def append_events(session: Session, context: AuditContext, changes: list[dict[str, Any]]) -> None:
    """Append ``changes`` (entity_type, entity_id, action, before, after) to the chain."""
    connection = session.connection()
    seq, previous_hash = lock_chain_head(session)
    occurred_at = utcnow()
    rows = []
    for change in changes:
        seq += 1
        row = {
            "seq": seq,
            "occurred_at": occurred_at,
            "actor": context.actor,
            "request_id": context.request_id,
            "organisation_id": str(context.organisation_id) if context.organisation_id else None,
            "prev_hash": previous_hash,
            **change,
        }
        row["hash"] = previous_hash = event_hash(row)
        rows.append(row)
    connection.execute(insert(AuditEvent), rows)
    connection.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == HEAD_ID)
        .values(seq=seq, hash=previous_hash)
    )


def _collect(session: Session) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    with session.no_autoflush:
        for obj in _ordered(session.new):
            _apply_python_defaults(obj)
            changes.append(_change(obj, "created", None, _snapshot(obj, "current")))
        for obj in _ordered(session.dirty):
            if session.is_modified(obj, include_collections=False):
                _apply_python_onupdate(obj)
                before, after = _snapshot(obj, "previous"), _snapshot(obj, "current")
                if before != after:
                    changes.append(_change(obj, "updated", before, after))
        for obj in _ordered(session.deleted):
            changes.append(_change(obj, "deleted", _snapshot(obj, "previous"), None))
    return changes


def _apply_python_defaults(obj: Any) -> None:
    """Fill Python-side column defaults now, so the event records what the insert will write."""
    for attribute in inspect(obj).mapper.column_attrs:
        default = attribute.columns[0].default
        if default is None or (not default.is_scalar and not default.is_callable):
            continue
        if getattr(obj, attribute.key) is None:
            value = default.arg(None) if default.is_callable else default.arg
            setattr(obj, attribute.key, value)


def _apply_python_onupdate(obj: Any) -> None:
    """Fill Python-side ``onupdate`` values now (e.g. ``updated_at``), for the same reason."""
    state: InstanceState[Any] = inspect(obj)
    for attribute in state.mapper.column_attrs:
        onupdate = attribute.columns[0].onupdate
        if onupdate is None or state.attrs[attribute.key].history.has_changes():
            continue
        if onupdate.is_callable:
            setattr(obj, attribute.key, onupdate.arg(None))
        elif onupdate.is_scalar:
            setattr(obj, attribute.key, onupdate.arg)


def _ordered(objects: Iterable[Any]) -> list[Any]:
    audited = [o for o in objects if not isinstance(o, UNAUDITED)]
    return sorted(audited, key=lambda o: (o.__tablename__, _identity(o)))


def _identity(obj: Any) -> str:
    mapper = inspect(obj).mapper
    return "/".join(str(getattr(obj, column.key)) for column in mapper.primary_key)


def _change(
    obj: Any, verb: str, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "entity_type": obj.__tablename__,
        "entity_id": _identity(obj),
        "action": f"{obj.__tablename__}.{verb}",
        "before": before,
        "after": after,
    }


def _snapshot(obj: Any, which: str) -> dict[str, Any]:
    state: InstanceState[Any] = inspect(obj)
    snapshot: dict[str, Any] = {}
    for attribute in state.mapper.column_attrs:
        column = attribute.columns[0]
        policy = column.info.get("audit")
        if policy == "omit":
            continue
        history = state.attrs[attribute.key].history
        if which == "previous" and history.has_changes():
            value = history.deleted[0] if history.deleted else None
        else:
            value = getattr(obj, attribute.key)
        snapshot[attribute.key] = REDACTED if policy == "redact" and value else _jsonable(value)
    return snapshot


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, datetime):
        return canonical_time(value)
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return repr(value)
