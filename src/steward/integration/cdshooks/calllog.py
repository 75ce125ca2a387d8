"""The log of hook calls: each call and the cards passed on, written after the response has
left, many calls to a transaction, and the cards with a score passed on to surveillance.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert

from steward.db.base import utcnow
from steward.integration.cdshooks import slots, surveillance
from steward.integration.cdshooks.models import CdsCall, CdsCard, CdsService
from steward.integration.cdshooks.store import one_writer
from steward.surveillance.rows import PredictionRow


@dataclass(frozen=True)
class LoggedCard:
    """A card passed to the EHR, with what the gateway read from it."""

    card: dict[str, Any]
    score: float | None


@dataclass(frozen=True)
class CallRecord:
    """One answered call: what goes into ``cds_calls``, ``cds_cards`` and surveillance."""

    service: CdsService
    site_id: uuid.UUID
    call: dict[str, Any]
    cards: list[LoggedCard]
    context: dict[str, Any]
    deployment_id: uuid.UUID | None
    version_label: str
    at: datetime
    slot_id: uuid.UUID | None = None  # the call's slot row, deleted with its log


def write(engine: Engine, records: Sequence[CallRecord]) -> list[None]:
    """Write the calls and their cards and delete their slot rows in one transaction, then
    pass scored cards on."""
    calls, cards = [], []
    now = utcnow()
    for record in records:
        call_id = uuid.uuid4()
        calls.append(
            {
                "id": call_id,
                "created_at": now,
                "service_id": record.service.id,
                "site_id": record.site_id,
                **record.call,
            }
        )
        cards += [_card_row(record, call_id, now, card) for card in record.cards]
    with one_writer(engine), engine.begin() as connection:
        connection.execute(insert(CdsCall), calls)
        if cards:
            connection.execute(insert(CdsCard), cards)
        slots.release(connection, [r.slot_id for r in records if r.slot_id is not None])
    _to_surveillance(engine, records)
    return [None] * len(records)


def _card_row(
    record: CallRecord, call_id: uuid.UUID, now: datetime, card: LoggedCard
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "created_at": now,
        "call_id": call_id,
        "card_uuid": str(card.card["uuid"])[:200],
        "service_id": record.service.id,
        "version_id": record.service.version_id,
        "site_id": record.site_id,
        "patient_id": context_id(record.context, "patientId"),
        "encounter_id": context_id(record.context, "encounterId"),
        "score": card.score,
        "indicator": card.card["indicator"],
        "card": card.card,
    }


def _to_surveillance(engine: Engine, records: Sequence[CallRecord]) -> None:
    """Each deployment's scored cards of the batch, ingested together."""
    by_deployment: dict[uuid.UUID, tuple[list[PredictionRow], list[str]]] = {}
    for record in records:
        if record.deployment_id is None:
            continue
        rows = surveillance.prediction_rows(
            [(str(c.card["uuid"]), c.score) for c in record.cards],
            context_id(record.context, "patientId"),
            context_id(record.context, "encounterId"),
            record.version_label,
            record.at,
        )
        if rows:
            batch = by_deployment.setdefault(record.deployment_id, ([], []))
            batch[0].extend(rows)
            batch[1].append(str(record.call["hook_instance"]))
    for deployment_id, (rows, hook_instances) in by_deployment.items():
        request_id = hook_instances[0] if len(hook_instances) == 1 else _batch_id(hook_instances)
        surveillance.ingest_cards(engine, deployment_id, rows, request_id)


def _batch_id(hook_instances: list[str]) -> str:
    return f"cds-calls:{hook_instances[0]}+{len(hook_instances) - 1}"[:200]


def context_id(context: dict[str, Any], name: str) -> str | None:
    value = context.get(name)
    return value[:200] if isinstance(value, str) and value else None
