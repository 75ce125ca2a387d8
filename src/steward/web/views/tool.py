"""Everything a tool's page shows, read in a fixed number of queries: header, model facts with
completeness, lifecycle timeline and the gates ahead, evidence, hazard log and risk matrix,
evaluations, deployments, decisions and the tool's audit history."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session, defer, load_only

from steward.audit.models import AuditEvent
from steward.audit.search import visible_to
from steward.registry.assessments import Assessment
from steward.registry.evidence import evidence_types
from steward.registry.facts import FactsStandard
from steward.registry.kinds import OrganisationKind
from steward.registry.lifecycle import lifecycle_policy
from steward.registry.models import (
    Deployment,
    ModelFacts,
    Organisation,
    Supplier,
    Tool,
    ToolVersion,
    User,
)
from steward.registry.records import (
    Decision,
    EvaluationRecord,
    EvidenceDocument,
    FallbackPlan,
    Hazard,
    SignOff,
    StateTransition,
    VersionClearance,
)
from steward.web.views.facts import Completeness, completeness, form_values
from steward.web.views.gates import GateStatus, Snapshot, gate_status, next_clearance, snapshots
from steward.web.views.risk import RiskMatrix, risk_matrix

AUDIT_LIMIT = 25
Row = TypeVar("Row")


@dataclass(frozen=True)
class TimelineEntry:
    """One move of the tool, with the sign-offs and evidence its gate stood on."""

    transition: StateTransition
    signoffs: tuple[SignOff, ...]
    evidence: tuple[EvidenceDocument, ...]


@dataclass(frozen=True)
class DeploymentRow:
    deployment: Deployment
    version: str
    site: str


@dataclass(frozen=True)
class EvaluationRow:
    record: EvaluationRecord
    version: str


@dataclass(frozen=True)
class VersionRow:
    """A version with the gates into pilots and deployment it has passed, in pathway order."""

    version: ToolVersion
    cleared_for: tuple[str, ...]


@dataclass(frozen=True)
class ToolView:
    """What the tool page shows (forms are added by the page)."""

    tool: Tool
    organisation: str
    supplier: str | None
    versions: tuple[ToolVersion, ...]
    version: ToolVersion | None
    version_rows: tuple[VersionRow, ...]
    clearance: GateStatus | None
    facts: dict[str, str]
    stored_chai: dict[str, object]
    completeness: tuple[Completeness, ...]
    timeline: tuple[TimelineEntry, ...]
    gates: tuple[GateStatus, ...]
    evidence: tuple[EvidenceDocument, ...]
    evidence_labels: dict[str, str]
    hazards: tuple[Hazard, ...]
    matrix: RiskMatrix
    evaluations: tuple[EvaluationRow, ...]
    deployments: tuple[DeploymentRow, ...]
    sites: tuple[tuple[str, str], ...]
    decisions: tuple[Decision, ...]
    audit: tuple[AuditEvent, ...]
    names: dict[uuid.UUID, str]

    def name_of(self, user_id: uuid.UUID | None) -> str:
        return self.names.get(user_id, "—") if user_id else "—"


@dataclass(frozen=True)
class _Records:
    """The rows of a tool's governance file, each read once."""

    versions: tuple[ToolVersion, ...]
    evidence: tuple[EvidenceDocument, ...]
    signoffs: tuple[SignOff, ...]
    transitions: tuple[StateTransition, ...]
    hazards: tuple[Hazard, ...]
    evaluations: tuple[EvaluationRecord, ...]
    deployments: tuple[Deployment, ...]
    decisions: tuple[Decision, ...]
    clearances: tuple[VersionClearance, ...]

    def ids(self) -> dict[str, list[str]]:
        """Record ids by table name, as the audit trail names them."""
        groups: list[Sequence[Any]] = [
            self.versions,
            self.evidence,
            self.signoffs,
            self.transitions,
            self.hazards,
            self.evaluations,
            self.deployments,
            self.decisions,
            self.clearances,
        ]
        return {rows[0].__tablename__: [str(r.id) for r in rows] for rows in groups if rows}


def _load(session: Session, tool: Tool) -> _Records:
    versions = tuple(
        session.scalars(
            select(ToolVersion)
            .where(ToolVersion.tool_id == tool.id)
            .order_by(ToolVersion.created_at)
        )
    )
    version_ids = [v.id for v in versions]
    return _Records(
        versions=versions,
        evidence=_all(
            session,
            select(EvidenceDocument)
            .where(EvidenceDocument.tool_id == tool.id)
            .order_by(EvidenceDocument.created_at.desc()),
        ),
        signoffs=_all(
            session, select(SignOff).where(SignOff.tool_id == tool.id).order_by(SignOff.created_at)
        ),
        transitions=_all(
            session,
            select(StateTransition)
            .where(StateTransition.tool_id == tool.id)
            .order_by(StateTransition.created_at),
        ),
        hazards=_all(
            session, select(Hazard).where(Hazard.tool_id == tool.id).order_by(Hazard.reference)
        ),
        evaluations=_all(
            session,
            select(EvaluationRecord)
            # the result document can be large; the page shows the verdict and links the report
            .options(defer(EvaluationRecord.document))
            .where(EvaluationRecord.version_id.in_(version_ids))
            .order_by(EvaluationRecord.created_at.desc()),
        ),
        deployments=_all(
            session,
            select(Deployment)
            .where(Deployment.version_id.in_(version_ids))
            .order_by(Deployment.created_at),
        ),
        decisions=_all(
            session,
            select(Decision)
            .where(Decision.tool_id == tool.id)
            .order_by(Decision.created_at.desc()),
        ),
        clearances=_all(
            session,
            select(VersionClearance)
            .where(VersionClearance.tool_id == tool.id)
            .order_by(VersionClearance.created_at),
        ),
    )


def _all(session: Session, query: Select[Row]) -> tuple[Row, ...]:
    return tuple(session.scalars(query))


def _model_facts(
    session: Session, version: ToolVersion | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    if version is None:
        return {}, {}
    rows = {
        f.standard: dict(f.facts)
        for f in session.scalars(select(ModelFacts).where(ModelFacts.version_id == version.id))
    }
    return rows.get(FactsStandard.HTI1, {}), rows.get(FactsStandard.CHAI, {})


def tool_view(session: Session, tool: Tool, viewer_organisation: uuid.UUID) -> ToolView:
    """Gather the page of ``tool`` as seen from ``viewer_organisation`` (for the audit history)."""
    labels = evidence_types()
    snapshot = snapshots(session, [tool])[tool.id]
    records = _load(session, tool)
    by_version = {v.id: v.version for v in records.versions}
    hti1, chai = _model_facts(session, snapshot.version)
    organisations = {o.id: o for o in session.scalars(select(Organisation))}
    users = [s.user_id for s in records.signoffs] + [d.uploaded_by_id for d in records.evidence]
    users += [d.decided_by_id for d in records.decisions] + [h.owner_id for h in records.hazards]
    supplier = session.get(Supplier, tool.supplier_id) if tool.supplier_id else None
    return ToolView(
        tool=tool,
        organisation=organisations[tool.organisation_id].name,
        supplier=supplier.name if supplier else None,
        versions=records.versions,
        version=snapshot.version,
        version_rows=_version_rows(records),
        clearance=next_clearance(snapshot, labels),
        facts=form_values(hti1, chai),
        stored_chai=chai,
        completeness=(
            completeness(FactsStandard.HTI1, hti1),
            completeness(FactsStandard.CHAI, chai),
        ),
        timeline=_timeline(records.transitions, records.signoffs, records.evidence),
        gates=_gates(snapshot, labels),
        evidence=records.evidence,
        evidence_labels=labels,
        hazards=records.hazards,
        matrix=risk_matrix(records.hazards),
        evaluations=tuple(EvaluationRow(e, by_version[e.version_id]) for e in records.evaluations),
        deployments=tuple(
            DeploymentRow(d, by_version[d.version_id], organisations[d.site_id].name)
            for d in records.deployments
        ),
        sites=tuple(
            (o.slug, o.name)
            for o in organisations.values()
            if o.kind is OrganisationKind.SITE and _under(o, tool.organisation_id, organisations)
        ),
        decisions=records.decisions,
        audit=_audit(session, viewer_organisation, _record_ids(session, tool, records)),
        names=_names(session, users),
    )


def _version_rows(records: _Records) -> tuple[VersionRow, ...]:
    pathway = lifecycle_policy().pathway
    passed: dict[uuid.UUID, set[str]] = {}
    for row in records.clearances:
        passed.setdefault(row.version_id, set()).add(row.state)
    return tuple(
        VersionRow(v, tuple(s.value for s in pathway if s.value in passed.get(v.id, set())))
        for v in records.versions
    )


def _under(org: Organisation, root: uuid.UUID, all_orgs: dict[uuid.UUID, Organisation]) -> bool:
    current: Organisation | None = org
    while current is not None:
        if current.id == root:
            return True
        current = all_orgs.get(current.parent_id) if current.parent_id else None
    return False


def _gates(snapshot: Snapshot, labels: dict[str, str]) -> tuple[GateStatus, ...]:
    policy = lifecycle_policy()
    gates = (policy.gate(snapshot.tool.state, t) for t in policy.targets(snapshot.tool.state))
    return tuple(gate_status(g, snapshot, labels) for g in gates if g is not None)


def _timeline(
    transitions: Iterable[StateTransition],
    signoffs: tuple[SignOff, ...],
    evidence: tuple[EvidenceDocument, ...],
) -> tuple[TimelineEntry, ...]:
    policy = lifecycle_policy()
    entries = []
    for move in transitions:
        gate = next((g for g in policy.gates if g.target.value == move.to_state), None)
        needed = gate.evidence if gate else ()
        entries.append(
            TimelineEntry(
                transition=move,
                signoffs=tuple(
                    s
                    for s in signoffs
                    if s.gate == move.to_state
                    and s.version_id == move.version_id
                    and s.created_at <= move.created_at
                ),
                evidence=tuple(
                    d
                    for d in evidence
                    if d.evidence_type in needed
                    and d.version_id in (None, move.version_id)
                    and d.created_at <= move.created_at
                ),
            )
        )
    return tuple(entries)


def _record_ids(session: Session, tool: Tool, records: _Records) -> dict[str, list[str]]:
    """Ids of the tool and every record of its file, by table, as the audit trail names them."""
    version_ids = [v.id for v in records.versions]
    ids = {Tool.__tablename__: [str(tool.id)], **records.ids()}
    extra = (
        (ModelFacts, select(ModelFacts.id).where(ModelFacts.version_id.in_(version_ids))),
        (Assessment, select(Assessment.id).where(Assessment.tool_id == tool.id)),
        (FallbackPlan, select(FallbackPlan.id).where(FallbackPlan.tool_id == tool.id)),
    )
    for model, query in extra:
        found = [str(i) for i in session.scalars(query)]
        if found:
            ids[model.__tablename__] = found
    return ids


def _audit(
    session: Session, organisation_id: uuid.UUID, ids: dict[str, list[str]]
) -> tuple[AuditEvent, ...]:
    """The latest events about the tool's records; matching on (entity_type, entity_id) uses the
    trail's entity index, and the large before/after documents are not read."""
    about = or_(
        *(
            and_(AuditEvent.entity_type == table, AuditEvent.entity_id.in_(entity_ids))
            for table, entity_ids in ids.items()
        )
    )
    columns = (AuditEvent.seq, AuditEvent.occurred_at, AuditEvent.actor, AuditEvent.action)
    return tuple(
        session.scalars(
            select(AuditEvent)
            .options(load_only(*columns))
            .where(about, visible_to(session, organisation_id))
            .order_by(AuditEvent.seq.desc())
            .limit(AUDIT_LIMIT)
        )
    )


def _names(session: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(User.id, User.display_name, User.email).where(User.id.in_(wanted))
    )
    return {uid: name or email for uid, name, email in rows}
