"""Every mapped table, imported once so the metadata (and Alembic) sees the whole schema."""

from __future__ import annotations

from steward.db.base import Base
from steward.registry import models as registry_models

metadata = Base.metadata

__all__ = ["metadata", "registry_models"]
