"""Regulatory exports of an incident: the MHRA Yellow Card and FDA MedWatch 3500A field sets,
as a JSON document and as a printable HTML page. The field lists are versioned YAML files."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import yaml
from jinja2 import Environment, select_autoescape
from sqlalchemy.orm import Session

from steward.db.base import utcnow
from steward.errors import InputError
from steward.registry.models import Deployment, Organisation, Supplier, Tool, ToolVersion
from steward.registry.tools import latest_version
from steward.surveillance.incidents.models import Incident, IncidentOutcome
from steward.surveillance.incidents.service import linked_alerts, linked_hazards

FORMS = {"yellow-card": "yellow_card.yaml", "medwatch": "medwatch_3500a.yaml"}


@cache
def load_form(name: str) -> dict[str, Any]:
    """The field list of the form ``name`` (``yellow-card`` or ``medwatch``)."""
    if name not in FORMS:
        raise InputError(f"unknown form {name!r}; choose one of: {', '.join(FORMS)}")
    folder = resources.files(__package__).joinpath("forms")
    document = yaml.safe_load(folder.joinpath(FORMS[name]).read_text(encoding="utf-8"))
    if not isinstance(document, dict) or not {"form", "version", "sections"} <= document.keys():
        raise ValueError(f"form file {FORMS[name]} lacks form, version or sections")
    return document


def working_days_after(start: date, days: int) -> date:
    """The date ``days`` working days (Monday to Friday) after ``start``."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def export_context(session: Session, incident: Incident, now: datetime) -> dict[str, Any]:
    """Everything a form field can draw on, as plain values."""
    tool = session.get_one(Tool, incident.tool_id)
    deployment = session.get(Deployment, incident.deployment_id) if incident.deployment_id else None
    version = (
        session.get_one(ToolVersion, deployment.version_id)
        if deployment
        else latest_version(session, tool)
    )
    supplier = session.get(Supplier, tool.supplier_id) if tool.supplier_id else None
    organisation = session.get_one(Organisation, tool.organisation_id)
    site = session.get_one(Organisation, deployment.site_id) if deployment else None
    alerts = linked_alerts(session, incident)
    hazards = linked_hazards(session, incident)
    aware = incident.detected_at or incident.created_at
    record = {c.key: getattr(incident, c.key) for c in Incident.__table__.columns}
    record["reference"] = f"INC-{incident.id.hex[:8].upper()}"
    record["narrative"] = _narrative(incident)
    record["operator"] = "Health professional (AI output reviewed in clinical care)"
    record["death_date"] = (
        incident.occurred_at if incident.outcome is IncidentOutcome.DEATH else None
    )
    deadline = (
        working_days_after(aware.date(), 10) if incident.outcome is IncidentOutcome.DEATH else None
    )
    return {
        "incident": record,
        "tool": {"name": tool.name, "description": tool.description},
        "version": {"version": version.version if version else None},
        "supplier": {
            "name": supplier.name if supplier else None,
            "contact": supplier.contact if supplier else None,
        },
        "organisation": {"name": organisation.name, "slug": organisation.slug},
        "deployment": {
            "where": f"{site.name}, {deployment.care_setting}" if site and deployment else None
        },
        "alerts_text": "\n".join(
            f"{a.monitor}{' (' + a.subject + ')' if a.subject else ''}, {a.grain} window from "
            f"{a.window_start:%Y-%m-%d}, {a.severity.value}: {a.summary}"
            for a in alerts
        )
        or None,
        "hazards_text": "\n".join(f"{h.reference} {h.name}: {h.harm}".strip() for h in hazards)
        or None,
        "report": {
            "date": now,
            "facility_kind": "User facility",
            "type": "Initial",
            "deadline": deadline,
        },
    }


def _narrative(incident: Incident) -> str:
    parts = [incident.description]
    if incident.actions_taken:
        parts.append(f"Action taken: {incident.actions_taken}")
    parts.append(f"Patients affected: {incident.patients_affected}.")
    return "\n\n".join(parts)


def _lookup(context: dict[str, Any], path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ValueError(f"form field source {path!r} does not exist")
        value = value[part]
    return value


def _render(value: Any, field: dict[str, Any]) -> Any:
    mapping = field.get("map")
    if mapping is not None and value is not None:
        raw = str(value).lower() if isinstance(value, bool) else str(getattr(value, "value", value))
        return mapping.get(raw, mapping.get("*", raw))
    if field.get("format") == "date" and isinstance(value, datetime | date):
        moment = value.astimezone(UTC) if isinstance(value, datetime) else value
        return moment.strftime("%Y-%m-%d")
    if hasattr(value, "value"):
        return value.value
    return value


def export_incident(
    session: Session, incident: Incident, form: str, now: datetime | None = None
) -> dict[str, Any]:
    """The form's fields filled from the incident, by section, with the required ones missing."""
    definition = load_form(form)
    context = export_context(session, incident, now or utcnow())
    sections, fields, missing = [], {}, []
    for section in definition["sections"]:
        rows = []
        for field in section["fields"]:
            value = _render(_lookup(context, field["source"]), field)
            if value in (None, "") and field.get("required"):
                missing.append(field["key"])
            fields[field["key"]] = value
            rows.append({"key": field["key"], "label": field["label"], "value": value})
        sections.append({"title": section["title"], "fields": rows})
    return {
        "form": definition["form"],
        "form_version": definition["version"],
        "title": definition["title"],
        "incident_id": str(incident.id),
        "generated_at": (now or utcnow()).isoformat(),
        "complete": not missing,
        "missing_required": missing,
        "fields": fields,
        "sections": sections,
    }


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ doc.title }}</title>
<style>
body { font: 11pt/1.4 system-ui, sans-serif; margin: 2cm; color: #111; }
h1 { font-size: 16pt; } h2 { font-size: 12pt; border-bottom: 1px solid #888; margin-top: 1.4em; }
table { width: 100%; border-collapse: collapse; }
th { text-align: left; width: 38%; vertical-align: top; font-weight: 600; }
th, td { padding: 4px 6px; border-bottom: 1px solid #ddd; white-space: pre-wrap; }
.missing { color: #a00; } .meta { color: #555; font-size: 9pt; }
@media print { body { margin: 0; } h2 { break-after: avoid; } tr { break-inside: avoid; } }
</style></head><body>
<h1>{{ doc.title }}</h1>
<p class="meta">Form {{ doc.form }} version {{ doc.form_version }} &middot; incident
{{ doc.incident_id }} &middot; generated {{ doc.generated_at }}</p>
{% if doc.missing_required %}<p class="missing">Required fields still empty:
{{ doc.missing_required | join(", ") }}</p>{% endif %}
{% for section in doc.sections %}<h2>{{ section.title }}</h2><table>
{% for f in section.fields %}<tr><th>{{ f.label }}</th><td{% if f.value is none %}
 class="missing"{% endif %}>{{ "" if f.value is none else f.value }}</td></tr>
{% endfor %}</table>{% endfor %}
</body></html>
"""


def export_html(document: dict[str, Any]) -> str:
    """A printable page of an exported form (A4, one table per section)."""
    environment = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return environment.from_string(_TEMPLATE).render(doc=document)
