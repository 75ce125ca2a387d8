"""Registering a supplier's CDS service for a tool version (an audited registry change)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from steward.integration.cdshooks.models import CdsService, ScoreSource
from steward.registry.errors import invalid
from steward.registry.models import ToolVersion
from steward.registry.organisations import require_text

SERVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


@dataclass(frozen=True)
class ServiceSpec:
    """What a supplier's CDS service is and how Steward reads the risk score in its cards."""

    service_id: str
    hook: str
    description: str
    supplier_url: str
    title: str = ""
    prefetch: dict[str, str] = field(default_factory=dict)
    tenant: str | None = None
    score_source: ScoreSource = ScoreSource.NONE
    score_pattern: str | None = None
    score_scale: float = 1.0
    fallback_card: bool = False


def register_service(session: Session, version: ToolVersion, spec: ServiceSpec) -> CdsService:
    """Add, or replace, the CDS service ``spec.service_id`` for ``spec.hook`` of ``version``."""
    _check(spec)
    row = session.scalar(
        select(CdsService).where(
            CdsService.version_id == version.id,
            CdsService.service_id == spec.service_id,
            CdsService.hook == spec.hook,
        )
    )
    if row is None:
        row = CdsService(id=uuid.uuid4(), version_id=version.id, service_id=spec.service_id)
        session.add(row)
    row.hook = require_text("hook", spec.hook)
    row.title = spec.title.strip()
    row.description = require_text("description", spec.description, 10_000)
    row.prefetch = dict(spec.prefetch)
    row.supplier_url = spec.supplier_url.strip()
    row.tenant = spec.tenant
    row.score_source = spec.score_source
    row.score_pattern = spec.score_pattern
    row.score_scale = spec.score_scale
    row.fallback_card = spec.fallback_card
    session.flush()
    return row


def _check(spec: ServiceSpec) -> None:
    if not SERVICE_ID.match(spec.service_id):
        raise invalid("service_id", "use letters, digits, '.', '_' and '-' (at most 200)")
    if not re.match(r"^https?://[^\s/]+", spec.supplier_url.strip()):
        raise invalid("supplier_url", "must be an absolute http(s) URL of the supplier's service")
    for key, template in spec.prefetch.items():
        if not key.strip() or not isinstance(template, str) or not template.strip():
            raise invalid(f"prefetch.{key}", "each prefetch template is a non-empty FHIR query")
    if spec.score_source is ScoreSource.SUMMARY_REGEX:
        _check_pattern(spec.score_pattern)
    elif spec.score_pattern is not None:
        raise invalid("score_pattern", "only used when score_source is summary_regex")
    if not spec.score_scale > 0:
        raise invalid("score_scale", "must be positive (e.g. 100 for a percentage)")


def _check_pattern(pattern: str | None) -> None:
    if not pattern:
        raise invalid("score_pattern", "is required when score_source is summary_regex")
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise invalid("score_pattern", f"is not a regular expression: {error}") from None
    if compiled.groups < 1:
        raise invalid("score_pattern", "needs a group capturing the number, e.g. (\\d+)%")


def discovery_entry(row: CdsService) -> dict[str, Any]:
    """The service as CDS Hooks discovery lists it (empty optional fields omitted)."""
    entry: dict[str, Any] = {"hook": row.hook, "id": row.service_id}
    if row.title:
        entry["title"] = row.title
    entry["description"] = row.description
    if row.prefetch:
        entry["prefetch"] = row.prefetch
    return entry
