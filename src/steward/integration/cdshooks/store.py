"""The gateway's reads and writes: which service a call names, whether its tool may be called
now, the ``jti`` replay register, and feedback (the log of calls is in :mod:`.calllog`).

Each step is its own short transaction on the engine, so a hook call never holds a transaction
while it waits for the supplier; calls admitted at the same moment share one (see
:mod:`.batches`), which also takes their slots (see :mod:`.slots`). Rows are written with
Core inserts (see models).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from steward.db.base import utcnow
from steward.db.engine import READ_ONLY
from steward.integration.cdshooks import slots
from steward.integration.cdshooks.gate import GATE, LIVE_STATES
from steward.integration.cdshooks.models import CdsCard, CdsFeedback, CdsJwtId, CdsService
from steward.integration.cdshooks.tokens import TokenRefusedError, VerifiedToken
from steward.registry.errors import NotFoundError
from steward.registry.models import Deployment, DeploymentStatus, Organisation, Tool, ToolVersion
from steward.registry.records import FallbackPlan

_PRUNE_EVERY = 500
_since_prune = _PRUNE_EVERY  # jti values past their expiry are deleted every 500 calls


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


# The statements a hook call runs are built once: building one costs more than running it.
_SITE_ID = select(Organisation.id).where(Organisation.slug == bindparam("slug"))
_CANDIDATES = (
    select(
        CdsService,
        ToolVersion.tool_id.label("tool_id"),
        ToolVersion.created_at.label("version_created"),
        ToolVersion.version.label("version_label"),
    )
    .join(ToolVersion, ToolVersion.id == CdsService.version_id)
    .where(
        CdsService.service_id == bindparam("service_id"),
        select(Deployment.id)
        .where(
            Deployment.version_id == CdsService.version_id,
            Deployment.site_id == bindparam("site_id"),
        )
        .exists(),
    )
    .order_by(ToolVersion.created_at.desc(), CdsService.id)
)
_TOOL_STATES = select(Tool.id, Tool.name, Tool.state).where(
    Tool.id.in_(bindparam("tool_ids", expanding=True))
)
_LIVE_DEPLOYMENTS = (
    select(Deployment.id, Deployment.version_id, Deployment.site_id)
    .where(
        Deployment.version_id.in_(bindparam("version_ids", expanding=True)),
        Deployment.site_id.in_(bindparam("site_ids", expanding=True)),
        Deployment.status == DeploymentStatus.LIVE,
    )
    .order_by(Deployment.created_at, Deployment.id)
)


def _site_id(connection: Connection, site_slug: str) -> uuid.UUID:
    site_id = connection.scalar(_SITE_ID, {"slug": site_slug})
    if site_id is None:
        raise NotFoundError(f"no site {site_slug!r}")
    return site_id


def _candidates(connection: Connection, site_id: uuid.UUID, service_id: str) -> list[Candidate]:
    rows = connection.execute(_CANDIDATES, {"service_id": service_id, "site_id": site_id}).all()
    return [
        Candidate(_service(row), row.tool_id, row.version_created, row.version_label)
        for row in rows
    ]


def _service(row: Any) -> CdsService:
    mapping = row._mapping
    return CdsService(**{c.key: mapping[c] for c in CdsService.__table__.columns})


class HookMismatchError(Exception):
    """The service exists at the site but answers other hooks (listed in the message)."""


@dataclass(frozen=True)
class Arrival:
    """A hook call past its token check, waiting to be admitted."""

    site_slug: str
    service_id: str
    hook: str
    token: VerifiedToken | None


@dataclass(frozen=True)
class Admission:
    """A call past the replay check: its target, the decision, the slot it holds (None when
    it does not go to a supplier) and the monotonic time its slot ends."""

    target: Target
    decision: Decision
    slot_id: uuid.UUID | None
    deadline: float

    @property
    def holds_slots(self) -> bool:
        return self.slot_id is not None


SLOT_BUDGETS = 2
"""A call's slot lasts this many time budgets from its admission: its supplier call takes at most
one, and the rest covers a server slowed between admission and that call."""


def admit(
    engine: Engine, slot_seconds: float, arrivals: Sequence[Arrival]
) -> list[Admission | Exception]:
    """Admit calls in one transaction: remember each ``jti`` (a replay is refused), lock and
    take the tools' slots, then read their committed state; one result per arrival, in order.

    The slots are taken before the read (see :mod:`~steward.integration.cdshooks.gate`); a
    call that goes on gives its in-process slot back with ``GATE.leave`` once the supplier has
    answered, and its slot row (:mod:`.slots`) is deleted with the call's log, or expires
    ``slot_seconds`` from now, when the call gives up on the supplier at the latest.
    """
    deadline = time.monotonic() + slot_seconds
    expires_at = utcnow() + timedelta(seconds=slot_seconds)
    results: list[Admission | Exception | None] = [None] * len(arrivals)
    entered: list[set[uuid.UUID]] = []
    try:
        with _write(engine) as connection:
            targets = _targets(connection, arrivals, results)
            _remember(connection, arrivals, results)
            going = {i: t for i, t in targets.items() if results[i] is None}
            slots.share(connection, {tool for t in going.values() for tool in t.tool_ids})
            admitted: dict[int, bool] = {}
            for index, target in going.items():
                admitted[index] = GATE.enter(target.tool_ids)
                if admitted[index]:
                    entered.append(target.tool_ids)
            states = _states(connection, [targets[i] for i in admitted])
            holding: list[tuple[uuid.UUID, set[uuid.UUID]]] = []
            for index, ok in admitted.items():
                decision = _decide(connection, states, targets[index], closing=not ok)
                slot_id = None
                if ok and decision.service is not None:
                    slot_id = uuid.uuid4()
                    holding.append((slot_id, targets[index].tool_ids))
                elif ok:
                    GATE.leave(targets[index].tool_ids)
                    entered.remove(targets[index].tool_ids)
                results[index] = Admission(targets[index], decision, slot_id, deadline)
            slots.take(connection, holding, expires_at)
    except BaseException:
        for tool_ids in entered:
            GATE.leave(tool_ids)
        raise
    return [r if r is not None else RuntimeError("not admitted") for r in results]


def release(admission: Admission) -> None:
    """Give back the in-process slots of an admission whose call will not go on (its slot row
    expires with the budget)."""
    if admission.holds_slots:
        GATE.leave(admission.target.tool_ids)


def _targets(
    connection: Connection, arrivals: Sequence[Arrival], results: list[Admission | Exception | None]
) -> dict[int, Target]:
    """Each arrival's site and registrations (looked up once per site and service)."""
    found: dict[tuple[str, str], tuple[uuid.UUID, list[Candidate]] | Exception] = {}
    targets: dict[int, Target] = {}
    for index, arrival in enumerate(arrivals):
        key = (arrival.site_slug, arrival.service_id)
        if key not in found:
            try:
                site_id = _site_id(connection, arrival.site_slug)
                found[key] = (site_id, _candidates(connection, site_id, arrival.service_id))
            except NotFoundError as error:
                found[key] = error
        looked_up = found[key]
        if isinstance(looked_up, Exception):
            results[index] = looked_up
            continue
        site_id, candidates = looked_up
        if not candidates:
            results[index] = NotFoundError(
                f"no CDS service {arrival.service_id!r} at {arrival.site_slug!r}"
            )
            continue
        answering = [c for c in candidates if c.service.hook == arrival.hook]
        if not answering:
            hooks = ", ".join(sorted({c.service.hook for c in candidates}))
            results[index] = HookMismatchError(f"this service answers the hook(s) {hooks}")
            continue
        targets[index] = Target(site_id, answering)
    return targets


def _remember(
    connection: Connection, arrivals: Sequence[Arrival], results: list[Admission | Exception | None]
) -> None:
    """Store the ``jti`` of every token still in the running; refuse those seen before."""
    global _since_prune
    _since_prune += len(arrivals)
    if _since_prune >= _PRUNE_EVERY:
        _since_prune = 0
        connection.execute(delete(CdsJwtId).where(CdsJwtId.expires_at < utcnow()))
        slots.prune(connection)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for index, arrival in enumerate(arrivals):
        token = arrival.token
        if token is None or results[index] is not None:
            continue
        key = (token.issuer, token.jti)
        if key in rows:  # the same token twice in one batch
            results[index] = _replayed(token)
            continue
        rows[key] = {"issuer": token.issuer, "jti": token.jti, "expires_at": token.expires_at}
    if not rows:
        return
    # executemany form: one compiled statement whatever the batch size (SQLAlchemy sends the
    # rows as multi-row INSERTs and gathers what RETURNING gives back).
    inserted = connection.execute(
        _insert_new(connection, CdsJwtId).returning(CdsJwtId.issuer, CdsJwtId.jti),
        list(rows.values()),
    )
    stored = {(issuer, jti) for issuer, jti in inserted}
    for index, arrival in enumerate(arrivals):
        token = arrival.token
        if token is not None and results[index] is None and (token.issuer, token.jti) not in stored:
            results[index] = _replayed(token)


def _insert_new(connection: Connection, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING, in the connection's dialect."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def _replayed(token: VerifiedToken) -> TokenRefusedError:
    return TokenRefusedError(f"jti {token.jti!r} of {token.issuer!r} was used before")


@dataclass(frozen=True)
class _States:
    """The committed state of the tools and the live deployments of the versions concerned."""

    tools: dict[uuid.UUID, Any]
    live: dict[tuple[uuid.UUID, uuid.UUID], uuid.UUID]  # (version, site) -> first live deployment


def _states(connection: Connection, targets: Sequence[Target]) -> _States:
    tool_ids = {t for target in targets for t in target.tool_ids}
    versions = {c.service.version_id for target in targets for c in target.candidates}
    sites = {target.site_id for target in targets}
    if not tool_ids:
        return _States({}, {})
    tools = {row.id: row for row in connection.execute(_TOOL_STATES, {"tool_ids": list(tool_ids)})}
    live: dict[tuple[uuid.UUID, uuid.UUID], uuid.UUID] = {}
    for deployment_id, version_id, site_id in connection.execute(
        _LIVE_DEPLOYMENTS, {"version_ids": list(versions), "site_ids": list(sites)}
    ):
        live.setdefault((version_id, site_id), deployment_id)
    return _States(tools, live)


def _decide(connection: Connection, states: _States, target: Target, *, closing: bool) -> Decision:
    """Call, or stand in, from the committed state read for the batch.

    ``closing``: the tool is being taken out of live use by a transaction about to commit.
    """
    for candidate in [] if closing else target.candidates:
        tool = states.tools[candidate.tool_id]
        deployment_id = states.live.get((candidate.service.version_id, target.site_id))
        if tool.state in LIVE_STATES and deployment_id is not None:
            return Decision(
                candidate.service,
                candidate.service,
                tool.name,
                "",
                deployment_id=deployment_id,
                version_label=candidate.version_label,
            )
    newest = target.candidates[0]
    tool = states.tools[newest.tool_id]
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
            refused: list[Admission | Exception | None] = [None]
            _remember(connection, [Arrival(site_slug, service_id, "", token)], refused)
            if isinstance(refused[0], Exception):
                raise refused[0]
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
