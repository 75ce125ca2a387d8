"""Tables of the registry: the organisation hierarchy."""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from steward.db.base import Base, CreatedMixin, IdMixin, enum_type


class OrganisationKind(StrEnum):
    """Levels of the hierarchy, from the widest (region) to the narrowest (site)."""

    REGION = "region"
    TRUST = "trust"
    HOSPITAL = "hospital"
    SITE = "site"

    @property
    def level(self) -> int:
        return list(OrganisationKind).index(self)


class Organisation(IdMixin, CreatedMixin, Base):
    """A region or health system, trust, hospital or site; each may sit under a wider one."""

    __tablename__ = "organisations"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[OrganisationKind] = mapped_column(enum_type(OrganisationKind, "kind"))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    parent: Mapped[Organisation | None] = relationship(remote_side="Organisation.id")
