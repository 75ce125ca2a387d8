"""Every mapped table, imported once so the metadata (and Alembic) sees the whole schema."""

from __future__ import annotations

from steward.audit import models as audit_models
from steward.auth import models as auth_models
from steward.db.base import Base
from steward.integration import optout_register as integration_optouts
from steward.integration.cdshooks import models as cdshooks_models
from steward.registry import assessments as registry_assessments
from steward.registry import decisions as registry_decisions
from steward.registry import intake as registry_intake
from steward.registry import models as registry_models
from steward.registry import records as registry_records
from steward.surveillance import models as surveillance_models
from steward.surveillance.alerts import models as surveillance_alerts
from steward.surveillance.incidents import models as surveillance_incidents
from steward.surveillance.notify import models as surveillance_notify
from steward.surveillance.response import models as surveillance_response
from steward.surveillance.scheduler import models as surveillance_scheduler
from steward.workbench import models as workbench_models

metadata = Base.metadata

__all__ = [
    "audit_models",
    "auth_models",
    "cdshooks_models",
    "integration_optouts",
    "metadata",
    "registry_assessments",
    "registry_decisions",
    "registry_intake",
    "registry_models",
    "registry_records",
    "surveillance_alerts",
    "surveillance_incidents",
    "surveillance_models",
    "surveillance_notify",
    "surveillance_response",
    "surveillance_scheduler",
    "workbench_models",
]
