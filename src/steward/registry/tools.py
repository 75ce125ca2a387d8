"""Suppliers, tools and their versions, deployments, MDT membership and model facts."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from steward.auth.roles import MDT_ROLES, Role
from steward.registry.clearances import require_cleared_for_live_use
from steward.registry.errors import ConflictError, NotFoundError, invalid
from steward.registry.facts import FactsStandard, facts_policy_version, validate_facts
from steward.registry.kinds import OrganisationKind
from steward.registry.models import (
    Deployment,
    DeploymentStatus,
    MdtMember,
    ModelFacts,
    Organisation,
    Supplier,
    Tool,
    ToolVersion,
    User,
)
from steward.registry.organisations import is_within, require_text, roles_of


def get_tool(session: Session, tool_id: uuid.UUID) -> Tool:
    """The tool ``tool_id``."""
    tool = session.get(Tool, tool_id)
    if tool is None:
        raise NotFoundError(f"no tool with id {tool_id}")
    return tool


def create_supplier(session: Session, name: str, contact: str | None = None) -> Supplier:
    """Add a supplier; names are unique."""
    clean = require_text("name", name)
    if session.scalar(select(Supplier.id).where(Supplier.name == clean)):
        raise ConflictError(f"a supplier named {clean!r} already exists")
    supplier = Supplier(id=uuid.uuid4(), name=clean, contact=contact)
    session.add(supplier)
    session.flush()
    return supplier


def register_tool(
    session: Session,
    organisation: Organisation,
    name: str,
    description: str = "",
    supplier_id: uuid.UUID | None = None,
    proposed_by: User | None = None,
) -> Tool:
    """Add a tool to an organisation's registry, in state ``proposed``."""
    clean = require_text("name", name)
    if supplier_id is not None and session.get(Supplier, supplier_id) is None:
        raise invalid("supplier_id", f"no supplier with id {supplier_id}")
    duplicate = select(Tool.id).where(Tool.organisation_id == organisation.id, Tool.name == clean)
    if session.scalar(duplicate):
        raise ConflictError(f"{organisation.slug} already has a tool named {clean!r}")
    tool = Tool(
        id=uuid.uuid4(),
        organisation_id=organisation.id,
        supplier_id=supplier_id,
        name=clean,
        description=require_text("description", description, 10_000) if description else "",
        proposed_by_id=proposed_by.id if proposed_by else None,
    )
    session.add(tool)
    session.flush()
    return tool


def add_version(session: Session, tool: Tool, version: str, release_notes: str = "") -> ToolVersion:
    """Record a released version of ``tool``."""
    label = require_text("version", version, 100)
    duplicate = select(ToolVersion.id).where(
        ToolVersion.tool_id == tool.id, ToolVersion.version == label
    )
    if session.scalar(duplicate):
        raise ConflictError(f"tool {tool.name!r} already has version {label!r}")
    row = ToolVersion(id=uuid.uuid4(), tool_id=tool.id, version=label, release_notes=release_notes)
    session.add(row)
    session.flush()
    return row


def version_by_label(session: Session, tool: Tool, label: str) -> ToolVersion:
    """The version of ``tool`` called ``label``."""
    version = session.scalar(
        select(ToolVersion).where(ToolVersion.tool_id == tool.id, ToolVersion.version == label)
    )
    if version is None:
        raise NotFoundError(f"{tool.name} has no version {label!r}")
    return version


def latest_version(session: Session, tool: Tool) -> ToolVersion | None:
    """The most recently recorded version of ``tool`` (the one the gates consider)."""
    return session.scalar(
        select(ToolVersion)
        .where(ToolVersion.tool_id == tool.id)
        .order_by(ToolVersion.created_at.desc(), ToolVersion.id)
        .limit(1)
    )


def deploy(
    session: Session, version: ToolVersion, site: Organisation, care_setting: str
) -> Deployment:
    """Record that ``version`` runs (or will run) at ``site`` in ``care_setting``."""
    tool = get_tool(session, version.tool_id)
    if site.kind is not OrganisationKind.SITE:
        raise invalid("site", f"{site.slug} is a {site.kind.value}, not a site")
    if not is_within(session, site, tool.organisation_id):
        raise invalid("site", f"{site.slug} is not within the organisation that owns the tool")
    setting = require_text("care_setting", care_setting)
    duplicate = select(Deployment.id).where(
        Deployment.version_id == version.id,
        Deployment.site_id == site.id,
        Deployment.care_setting == setting,
    )
    if session.scalar(duplicate):
        raise ConflictError(
            f"version {version.version} is already deployed at {site.slug} ({setting})"
        )
    deployment = Deployment(
        id=uuid.uuid4(), version_id=version.id, site_id=site.id, care_setting=setting
    )
    session.add(deployment)
    session.flush()
    return deployment


def add_mdt_member(session: Session, tool: Tool, user: User, role: Role) -> MdtMember:
    """Put ``user`` on the tool's MDT in ``role``; they must hold that role in its organisation."""
    if role not in MDT_ROLES:
        raise invalid("role", f"{role.value} is not an MDT role")
    if role not in roles_of(session, user.id, tool.organisation_id):
        raise invalid("user", f"{user.email} does not hold the role {role.value} here")
    existing = session.scalar(
        select(MdtMember).where(
            MdtMember.tool_id == tool.id, MdtMember.role == role, MdtMember.user_id == user.id
        )
    )
    if existing is not None:
        return existing
    member = MdtMember(id=uuid.uuid4(), tool_id=tool.id, user_id=user.id, role=role)
    session.add(member)
    session.flush()
    return member


def set_model_facts(
    session: Session, version: ToolVersion, standard: FactsStandard, facts: Any
) -> ModelFacts:
    """Store (replace) the model facts of ``version`` under ``standard`` after checking them."""
    validate_facts(standard, facts)
    row = session.scalar(
        select(ModelFacts).where(
            ModelFacts.version_id == version.id, ModelFacts.standard == standard
        )
    )
    if row is None:
        row = ModelFacts(id=uuid.uuid4(), version_id=version.id, standard=standard)
        session.add(row)
    row.facts = dict(facts)
    row.policy_version = facts_policy_version(standard)
    session.flush()
    return row


def tool_in_scope(
    session: Session, tool_id: uuid.UUID, organisation_id: uuid.UUID, *, write: bool
) -> Tool:
    """The tool, if the caller's organisation may see it (itself or above) or change it (itself).

    A tool outside the caller's reach is reported as not found, so its existence is not revealed.
    """
    tool = session.get(Tool, tool_id)
    if tool is not None:
        owner = session.get_one(Organisation, tool.organisation_id)
        if tool.organisation_id == organisation_id or (
            not write and is_within(session, owner, organisation_id)
        ):
            return tool
    raise NotFoundError(f"no tool with id {tool_id}")


def set_deployment_status(
    session: Session, deployment: Deployment, status: DeploymentStatus
) -> Deployment:
    """Mark a deployment planned, live or withdrawn.

    It goes live only while the tool is in live_pilot or deployed and its version has itself
    passed the gate into one of them.
    """
    if status is DeploymentStatus.LIVE:
        version = session.get_one(ToolVersion, deployment.version_id)
        require_cleared_for_live_use(session, get_tool(session, version.tool_id), version)
    deployment.status = status
    session.flush()
    return deployment
