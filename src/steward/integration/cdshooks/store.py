"""The gateway's reads and writes: which service a call names, whether its tool may be called
now, the ``jti`` replay register, and the log of calls, cards and feedback.

Each step is its own short transaction on the engine, so a hook call never holds a transaction
while it waits for the supplier. Log rows are written with Core inserts (see models).
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from steward.db.base import utcnow
from steward.db.engine import READ_ONLY
from steward.integration.cdshooks.gate import GATE, LIVE_STATES
from steward.integration.cdshooks.models import CdsCall, CdsCard, CdsFeedback, CdsJwtId, CdsService
from steward.integration.cdshooks.tokens import TokenRefusedError, VerifiedToken
from steward.registry.errors import NotFoundError
from steward.registry.models import Deployment, DeploymentStatus, Organisation, Tool, ToolVersion
from steward.registry.records import FallbackPlan

_PRUNE_EVERY = 500
_calls = itertools.count()


@dataclass(frozen=True)
class Candidate:
    """A registration of the called service id for a version deployed at the site."""

    service: CdsService
    tool_id: uuid.UUID
    version_created: datetime
    version_label: str


@dataclass(frozen=True)
class Target:
    """The site and the registrations a call or feedback may concern, newest version first."""

    site_id: uuid.UUID
    candidates: list[Candidate]

    @property
    def tool_ids(self) -> set[uuid.UUID]:
        return {c.tool_id for c in self.candidates}


@dataclass(frozen=True)
class Decision:
    """Whether the call goes to a supplier, and if not which registration and plan stand in."""

    service: CdsService | None
    blocked: CdsService
    tool_name: str
    reason: str
    fallback: FallbackPlan | None = None
    deployment_id: uuid.UUID | None = None
    version_label: str = ""


_sqlite_writer = threading.Lock()


@contextmanager
def one_writer(engine: Engine) -> Iterator[None]:
    """On SQLite, the gateway's writers queue on a lock in this process rather than in
    SQLite's busy handler, which sleeps up to 100 ms between retries."""
    if engine.dialect.name != "sqlite":
        yield
        return
    with _sqlite_writer:
        yield


@contextmanager
def _write(engine: Engine) -> Iterator[Connection]:
    """A write transaction (see :func:`one_writer`)."""
    with one_writer(engine), engine.begin() as connection:
        yield connection


def _read(engine: Engine) -> Connection:
    return engine.connect().execution_options(**{READ_ONLY: True})


def _site_id(connection: Connection, site_slug: str) -> uuid.UUID:
    site_id = connection.scalar(select(Organisation.id).where(Organisation.slug == site_slug))
    if site_id is None:
        raise NotFoundError(f"no site {site_slug!r}")
    return site_id


def _candidates(connection: Connection, site_id: uuid.UUID, service_id: str) -> list[Candidate]:
    deployed_here = (
        select(Deployment.id)
        .where(Deployment.version_id == CdsService.version_id, Deployment.site_id == site_id)
        .exists()
    )
    rows = connection.execute(
        select(
            CdsService,
            ToolVersion.tool_id.label("tool_id"),
            ToolVersion.created_at.label("version_created"),
            ToolVersion.version.label("version_label"),
        )
        .join(ToolVersion, ToolVersion.id == CdsService.version_id)
        .where(CdsService.service_id == service_id, deployed_here)
        .order_by(ToolVersion.created_at.desc(), CdsService.id)
    ).all()
    return [
        Candidate(_service(row), row.tool_id, row.version_created, row.version_label)
        for row in rows
    ]


def _service(row: Any) -> CdsService:
    mapping = row._mapping
    return CdsService(**{c.key: mapping[c] for c in CdsService.__table__.columns})


class HookMismatchError(Exception):
    """The service exists at the site but answers other hooks (listed in the message)."""


def target_and_remember_jti(
    engine: Engine, site_slug: str, service_id: str, hook: str, token: VerifiedToken | None
) -> Target:
    """The call's site and registrations; stores the token's ``jti`` (refused if seen before)."""
    with _write(engine) as connection:
        site_id = _site_id(connection, site_slug)
        found = _candidates(connection, site_id, service_id)
        if not found:
            raise NotFoundError(f"no CDS service {service_id!r} at {site_slug!r}")
        candidates = [c for c in found if c.service.hook == hook]
        if not candidates:
            hooks = ", ".join(sorted({c.service.hook for c in found}))
            raise HookMismatchError(f"this service answers the hook(s) {hooks}")
        if token is not None:
            _remember(connection, token)
    return Target(site_id, candidates)


def _remember(connection: Connection, token: VerifiedToken) -> None:
    if next(_calls) % _PRUNE_EVERY == 0:
        connection.execute(delete(CdsJwtId).where(CdsJwtId.expires_at < utcnow()))
    try:
        with connection.begin_nested():
            connection.execute(
                insert(CdsJwtId).values(
                    issuer=token.issuer, jti=token.jti, expires_at=token.expires_at
                )
            )
    except IntegrityError:
        raise TokenRefusedError(f"jti {token.jti!r} of {token.issuer!r} was used before") from None


def decide(engine: Engine, target: Target, closing: bool = False) -> Decision:
    """Read the committed lifecycle state and deployment status now: call, or stand in.

    ``closing``: the tool is being taken out of live use by a transaction about to commit.
    """
    with _read(engine) as connection, connection.begin():
        ids = target.tool_ids
        tools = {t.id: t for t in connection.execute(select(Tool).where(Tool.id.in_(ids))).all()}
        versions = [c.service.version_id for c in target.candidates]
        live: dict[uuid.UUID, uuid.UUID] = {}
        for deployment_id, version_id in connection.execute(
            select(Deployment.id, Deployment.version_id)
            .where(
                Deployment.version_id.in_(versions),
                Deployment.site_id == target.site_id,
                Deployment.status == DeploymentStatus.LIVE,
            )
            .order_by(Deployment.created_at, Deployment.id)
        ):
            live.setdefault(version_id, deployment_id)
        for candidate in [] if closing else target.candidates:
            tool = tools[candidate.tool_id]
            if tool.state in LIVE_STATES and candidate.service.version_id in live:
                return Decision(
                    candidate.service,
                    candidate.service,
                    tool.name,
                    "",
                    deployment_id=live[candidate.service.version_id],
                    version_label=candidate.version_label,
                )
        newest = target.candidates[0]
        tool = tools[newest.tool_id]
        if closing:
            reason = "tool is being taken out of live use"
        elif tool.state not in LIVE_STATES:
            reason = f"tool is {tool.state.value}"
        else:
            reason = "deployment at this site is not live"
        plan = None
        if newest.service.fallback_card:
            plan = connection.execute(
                select(FallbackPlan).where(FallbackPlan.tool_id == newest.tool_id)
            ).first()
        return Decision(
            None, newest.service, tool.name, reason, FallbackPlan(**plan._mapping) if plan else None
        )


@dataclass(frozen=True)
class Admission:
    """A call past the replay check: its target, the decision, and whether slots are held."""

    target: Target
    decision: Decision
    holds_slots: bool


def admit(
    engine: Engine, site_slug: str, service_id: str, hook: str, token: VerifiedToken | None
) -> Admission:
    """Remember the ``jti``, take the tools' gate slots, then read their committed state.

    The slots are taken before the read (see :mod:`~steward.integration.cdshooks.gate`); the
    caller gives them back with ``GATE.leave`` once the supplier has answered.
    """
    target = target_and_remember_jti(engine, site_slug, service_id, hook, token)
    admitted = GATE.enter(target.tool_ids)
    try:
        decision = decide(engine, target, closing=not admitted)
    except BaseException:
        if admitted:
            GATE.leave(target.tool_ids)
        raise
    holds = admitted and decision.service is not None
    if admitted and not holds:
        GATE.leave(target.tool_ids)
    return Admission(target, decision, holds)


def discovery(engine: Engine, site_slug: str) -> list[CdsService]:
    """Registrations of live tools whose deployment at the site is live, newest version first."""
    with _read(engine) as connection, connection.begin():
        site_id = _site_id(connection, site_slug)
        rows = connection.execute(
            select(CdsService)
            .join(ToolVersion, ToolVersion.id == CdsService.version_id)
            .join(Tool, Tool.id == ToolVersion.tool_id)
            .join(Deployment, Deployment.version_id == ToolVersion.id)
            .where(
                Deployment.site_id == site_id,
                Deployment.status == DeploymentStatus.LIVE,
                Tool.state.in_(LIVE_STATES),
            )
            .order_by(ToolVersion.created_at.desc(), CdsService.service_id)
        ).all()
    seen: set[tuple[str, str]] = set()
    services = []
    for row in rows:
        service = _service(row)
        if (service.service_id, service.hook) not in seen:
            seen.add((service.service_id, service.hook))
            services.append(service)
    return services


@dataclass(frozen=True)
class LoggedCard:
    """A card passed to the EHR, with what the gateway read from it."""

    card: dict[str, Any]
    score: float | None


def log_call(
    engine: Engine,
    *,
    service: CdsService,
    site_id: uuid.UUID,
    call: dict[str, Any],
    cards: list[LoggedCard],
    context: dict[str, Any],
) -> uuid.UUID:
    """Write the call and each card (a prediction of the tool version at the site)."""
    call_id = uuid.uuid4()
    now = utcnow()
    with _write(engine) as connection:
        connection.execute(
            insert(CdsCall).values(
                id=call_id, created_at=now, service_id=service.id, site_id=site_id, **call
            )
        )
        if cards:
            connection.execute(
                insert(CdsCard),
                [
                    {
                        "id": uuid.uuid4(),
                        "created_at": now,
                        "call_id": call_id,
                        "card_uuid": str(c.card["uuid"])[:200],
                        "service_id": service.id,
                        "version_id": service.version_id,
                        "site_id": site_id,
                        "patient_id": context_id(context, "patientId"),
                        "encounter_id": context_id(context, "encounterId"),
                        "score": c.score,
                        "indicator": c.card["indicator"],
                        "card": c.card,
                    }
                    for c in cards
                ],
            )
    return call_id


def context_id(context: dict[str, Any], name: str) -> str | None:
    value = context.get(name)
    return value[:200] if isinstance(value, str) and value else None


def record_feedback(
    engine: Engine,
    site_slug: str,
    service_id: str,
    token: VerifiedToken | None,
    items: list[Any],
) -> uuid.UUID:
    """Store each feedback item against the card it names; returns the site's id."""
    now = utcnow()
    with _write(engine) as connection:
        site_id = _site_id(connection, site_slug)
        candidates = _candidates(connection, site_id, service_id)
        if not candidates:
            raise NotFoundError(f"no CDS service {service_id!r} at {site_slug!r}")
        if token is not None:
            _remember(connection, token)
        services = [c.service.id for c in candidates]
        known = dict(
            connection.execute(
                select(CdsCard.card_uuid, CdsCard.service_id).where(
                    CdsCard.card_uuid.in_({i.card for i in items}),
                    CdsCard.service_id.in_(services),
                    CdsCard.site_id == site_id,
                )
            ).all()
        )
        if items:
            connection.execute(
                insert(CdsFeedback),
                [
                    {
                        "id": uuid.uuid4(),
                        "created_at": now,
                        "service_id": known.get(i.card, services[0]),
                        "site_id": site_id,
                        "card_uuid": i.card[:200],
                        "outcome": i.outcome,
                        "accepted_suggestions": {"ids": i.accepted_suggestions},
                        "override_code": i.override_code,
                        "override_system": i.override_system,
                        "override_display": i.override_display,
                        "user_comment": i.user_comment,
                        "outcome_at": i.outcome_at,
                        "known_card": i.card in known,
                    }
                    for i in items
                ],
            )
    return site_id
