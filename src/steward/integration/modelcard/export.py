"""Model cards of a registered tool version: gathers the registry's facts, the latest local
evaluation and monitoring, and renders the CHAI XML or the HTI-1 JSON document."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from steward.db.base import utcnow
from steward.integration.modelcard.chai import chai_xml
from steward.integration.modelcard.evidence import LocalEvidence, local_evidence
from steward.integration.modelcard.formats import CardFormat
from steward.integration.modelcard.hti1 import hti1_document
from steward.registry.errors import NotFoundError
from steward.registry.facts import FactsStandard
from steward.registry.models import (
    Deployment,
    ModelFacts,
    Organisation,
    Supplier,
    Tool,
    ToolVersion,
)
from steward.registry.records import EvaluationRecord
from steward.registry.tools import get_tool, latest_version
from steward.surveillance.alerts.models import Alert, AlertStatus
from steward.surveillance.models import PredictionEvent
from steward.surveillance.scheduler.models import MonitorRun, RunStatus


@dataclass(frozen=True)
class CardSources:
    """Everything a model card of one tool version is filled from."""

    tool: Tool
    version: ToolVersion
    organisation: Organisation
    supplier: Supplier | None
    chai: dict[str, Any]
    hti1: dict[str, Any]
    evidence: LocalEvidence


def gather(session: Session, tool_id: uuid.UUID, version: str | None = None) -> CardSources:
    """The sources of the card of ``version`` (default: the latest) of the tool."""
    tool = get_tool(session, tool_id)
    if version is None:
        chosen = latest_version(session, tool)
        if chosen is None:
            raise NotFoundError(f"tool {tool.name} has no version yet; record one first")
    else:
        chosen = session.scalar(
            select(ToolVersion).where(
                ToolVersion.tool_id == tool.id, ToolVersion.version == version
            )
        )
        if chosen is None:
            raise NotFoundError(f"tool {tool.name} has no version {version!r}")
    facts = {
        row.standard: row.facts
        for row in session.scalars(select(ModelFacts).where(ModelFacts.version_id == chosen.id))
    }
    record = session.scalar(
        select(EvaluationRecord)
        .where(EvaluationRecord.version_id == chosen.id)
        .order_by(EvaluationRecord.created_at.desc(), EvaluationRecord.id)
        .limit(1)
    )
    evidence = local_evidence(
        record.document if record else None,
        recorded_on=record.created_at.date().isoformat() if record else None,
        record_id=str(record.id) if record else None,
        monitoring=monitoring_summary(session, chosen),
    )
    return CardSources(
        tool=tool,
        version=chosen,
        organisation=session.get_one(Organisation, tool.organisation_id),
        supplier=session.get(Supplier, tool.supplier_id) if tool.supplier_id else None,
        chai=dict(facts.get(FactsStandard.CHAI, {})),
        hti1=dict(facts.get(FactsStandard.HTI1, {})),
        evidence=evidence,
    )


def monitoring_summary(session: Session, version: ToolVersion) -> str | None:
    """What monitoring says about ``version`` across its deployments; None when nothing has
    been logged or run yet."""
    sites = session.execute(
        select(Deployment.id, Organisation.name)
        .join(Organisation, Organisation.id == Deployment.site_id)
        .where(Deployment.version_id == version.id)
        .order_by(Organisation.name)
    ).all()
    ids = [row.id for row in sites]
    if not ids:
        return None
    logged = session.execute(
        select(
            func.count(),
            func.count(PredictionEvent.label),
            func.min(PredictionEvent.predicted_at),
            func.max(PredictionEvent.predicted_at),
        ).where(PredictionEvent.deployment_id.in_(ids))
    ).one()
    runs = session.execute(
        select(MonitorRun.monitor, func.count(), func.max(MonitorRun.window_end))
        .where(MonitorRun.deployment_id.in_(ids), MonitorRun.status == RunStatus.DONE)
        .group_by(MonitorRun.monitor)
        .order_by(MonitorRun.monitor)
    ).all()
    if not logged[0] and not runs:
        return None
    alerts = session.execute(
        select(Alert.severity, func.count())
        .where(Alert.deployment_id.in_(ids), Alert.status != AlertStatus.RESOLVED)
        .group_by(Alert.severity)
    ).all()
    names = ", ".join(dict.fromkeys(row.name for row in sites))
    text = f"Monitored at {len(sites)} deployment(s) ({names}): {logged[0]:,} predictions logged"
    if logged[0]:
        text += f" from {logged[2]:%Y-%m-%d} to {logged[3]:%Y-%m-%d}, {logged[1]:,} with outcomes"
    if runs:
        done = sum(row[1] for row in runs)
        latest = max(row[2] for row in runs)
        monitors = ", ".join(row.monitor for row in runs)
        text += f"; {done} monitor run(s) ({monitors}), latest window ending {latest:%Y-%m-%d}"
    else:
        text += "; no monitor has run yet"
    open_alerts = ", ".join(f"{n} {severity.value}" for severity, n in sorted(alerts))
    return text + f"; unresolved alerts: {open_alerts or 'none'}."


def render(sources: CardSources, card_format: CardFormat) -> bytes:
    """The card in ``card_format``."""
    if card_format is CardFormat.CHAI_XML:
        return chai_xml(sources.chai, chai_defaults(sources), sources.evidence)
    document = hti1_document(
        sources.hti1,
        hti1_defaults(sources),
        sources.evidence,
        tool_summary(sources),
        utcnow().isoformat(timespec="seconds"),
    )
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def chai_defaults(sources: CardSources) -> dict[str, str]:
    """CHAI elements the registry itself can fill when the facts leave them empty."""
    supplier = sources.supplier
    defaults = {
        "BasicInfo.ModelName": sources.tool.name,
        "ReleaseInfo.ReleaseVersion": sources.version.version,
        "ModelSummary.Summary": sources.tool.description,
    }
    if supplier is not None:
        defaults["BasicInfo.ModelDeveloper"] = supplier.name
        defaults["BasicInfo.DeveloperContact"] = supplier.contact or ""
    return defaults


def hti1_defaults(sources: CardSources) -> dict[str, str]:
    supplier = sources.supplier
    if supplier is None:
        return {}
    contact = f" ({supplier.contact})" if supplier.contact else ""
    return {"developer": f"{supplier.name}{contact}"}


def tool_summary(sources: CardSources) -> dict[str, Any]:
    return {
        "id": str(sources.tool.id),
        "name": sources.tool.name,
        "version": sources.version.version,
        "version_id": str(sources.version.id),
        "supplier": sources.supplier.name if sources.supplier else None,
        "organisation": sources.organisation.name,
        "lifecycle_state": sources.tool.state.value,
    }
