"""Tables of the registry: organisations, people and their roles, suppliers, tools and versions,
deployments, MDT membership and model facts."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from steward.auth.roles import Role
from steward.db.base import Base, CreatedMixin, IdMixin, enum_type, utcnow
from steward.registry.facts import FactsStandard
from steward.registry.kinds import OrganisationKind


class LifecycleState(StrEnum):
    """Where a tool is on the adoption pathway."""

    PROPOSED = "proposed"
    IN_ASSESSMENT = "in_assessment"
    SILENT_PILOT = "silent_pilot"
    LIVE_PILOT = "live_pilot"
    DEPLOYED = "deployed"
    SUSPENDED = "suspended"
    RETIRED = "retired"
    REJECTED = "rejected"


class DeploymentStatus(StrEnum):
    """Whether a deployment is planned, running, or withdrawn."""

    PLANNED = "planned"
    LIVE = "live"
    WITHDRAWN = "withdrawn"


def _fk(target: str, *, nullable: bool = False) -> Any:
    return mapped_column(ForeignKey(target, ondelete="RESTRICT"), index=True, nullable=nullable)


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


class User(IdMixin, CreatedMixin, Base):
    """A person with an account; their roles are memberships of organisations."""

    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)


class Membership(IdMixin, CreatedMixin, Base):
    """One role a user holds in one organisation."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "organisation_id", "role"),)

    user_id: Mapped[uuid.UUID] = _fk("users.id")
    organisation_id: Mapped[uuid.UUID] = _fk("organisations.id")
    role: Mapped[Role] = mapped_column(enum_type(Role, "role"))


class Supplier(IdMixin, CreatedMixin, Base):
    """A company that makes AI tools."""

    __tablename__ = "suppliers"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    contact: Mapped[str | None] = mapped_column(String(320))


class Tool(IdMixin, CreatedMixin, Base):
    """An AI tool (product) an organisation considers, runs or has retired."""

    __tablename__ = "tools"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    organisation_id: Mapped[uuid.UUID] = _fk("organisations.id")
    supplier_id: Mapped[uuid.UUID | None] = _fk("suppliers.id", nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[LifecycleState] = mapped_column(
        enum_type(LifecycleState, "state"), default=LifecycleState.PROPOSED
    )
    proposed_by_id: Mapped[uuid.UUID | None] = _fk("users.id", nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ToolVersion(IdMixin, CreatedMixin, Base):
    """One released version of a tool; evidence, evaluations and deployments attach to it."""

    __tablename__ = "tool_versions"
    __table_args__ = (UniqueConstraint("tool_id", "version"),)

    tool_id: Mapped[uuid.UUID] = _fk("tools.id")
    version: Mapped[str] = mapped_column(String(100))
    release_notes: Mapped[str] = mapped_column(Text, default="")


class Deployment(IdMixin, CreatedMixin, Base):
    """A version of a tool running at one site in one care setting."""

    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("version_id", "site_id", "care_setting"),)

    version_id: Mapped[uuid.UUID] = _fk("tool_versions.id")
    site_id: Mapped[uuid.UUID] = _fk("organisations.id")
    care_setting: Mapped[str] = mapped_column(String(200))
    status: Mapped[DeploymentStatus] = mapped_column(
        enum_type(DeploymentStatus, "status"), default=DeploymentStatus.PLANNED
    )


class MdtMember(IdMixin, CreatedMixin, Base):
    """A person holding one role on a tool's multidisciplinary team."""

    __tablename__ = "mdt_members"
    __table_args__ = (UniqueConstraint("tool_id", "role", "user_id"),)

    tool_id: Mapped[uuid.UUID] = _fk("tools.id")
    user_id: Mapped[uuid.UUID] = _fk("users.id")
    role: Mapped[Role] = mapped_column(enum_type(Role, "role"))


class ModelFacts(IdMixin, CreatedMixin, Base):
    """Structured model facts of a version under one standard, checked against its field list."""

    __tablename__ = "model_facts"
    __table_args__ = (UniqueConstraint("version_id", "standard"),)

    version_id: Mapped[uuid.UUID] = _fk("tool_versions.id")
    standard: Mapped[FactsStandard] = mapped_column(enum_type(FactsStandard, "standard"))
    policy_version: Mapped[str] = mapped_column(String(40))
    facts: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
