"""Every mapped table, imported once so the metadata (and Alembic) sees the whole schema."""

from __future__ import annotations

from steward.db.base import Base
from steward.registry import models as registry_models
from steward.registry import records as registry_records

metadata = Base.metadata

__all__ = ["metadata", "registry_models", "registry_records"]
