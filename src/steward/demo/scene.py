"""Acting out the demo: each step is done by a named person, through the registry's services.

Every change is bound to the acting user (``user:EMAIL``) and the organisation they act for, so
the audit trail of the demo reads like real use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from steward.audit.context import AuditContext, bind
from steward.auth.roles import Role
from steward.demo.catalogue import SUPPLIERS, Product
from steward.demo.documents import evidence_text
from steward.demo.evaluations import DemoResult
from steward.demo.people import USERS, Cast
from steward.registry.evidence import evidence_types, file_evidence, record_evaluation
from steward.registry.hazards import Likelihood, Severity
from steward.registry.intake import Priority, ProposalInput, create_priority, propose_tool
from steward.registry.models import LifecycleState, Organisation, Tool, User
from steward.registry.organisations import roles_of
from steward.registry.records import Hazard
from steward.registry.safety import HazardEntry, assess_residual_risk, log_hazard
from steward.registry.tools import create_supplier, latest_version
from steward.registry.transitions import sign_off, transition

EVIDENCE_LIMIT = 25 * 1024 * 1024
_JOBS = {person.key: person.job for person in USERS}


@dataclass(frozen=True)
class Risk:
    """A hazard as logged, and (optionally) its residual risk after additional controls."""

    name: str
    cause: str
    harm: str
    severity: Severity
    likelihood: Likelihood
    controls: str
    residual: tuple[Severity, Likelihood, str] | None = None


class Scene:
    """The session, the cast, and the acts the demo's people perform."""

    def __init__(self, session: Session, cast: Cast) -> None:
        self.session = session
        self.cast = cast

    def acting(self, key: str, org: str) -> User:
        """Attribute the following changes to user ``key`` acting for organisation ``org``."""
        user = self.cast.users[key]
        organisation = self.cast.org(org)
        bind(self.session, AuditContext(f"user:{user.email}", organisation_id=organisation.id))
        return user

    def suppliers(self) -> None:
        """Register every supplier of the catalogue (done by the administrator)."""
        self.acting("admin", "riverside")
        for name, contact in SUPPLIERS.items():
            create_supplier(self.session, name, contact)

    def priority(self, key: str, org: str, problem: str, service: str, need: str) -> Priority:
        user = self.acting(key, org)
        return create_priority(self.session, self.cast.org(org), problem, service, need, user)

    def propose(
        self,
        key: str,
        org: str,
        product: Product,
        *,
        priority: Priority | None = None,
        no_priority_reason: str | None = None,
    ) -> Tool:
        """A member of staff proposes ``product``; it enters the registry as a proposed tool."""
        user = self.acting(key, org)
        entry = ProposalInput(
            title=f"{product.name} for {product.care_setting.lower()}",
            problem=product.problem,
            product_name=product.name,
            supplier_name=product.supplier,
            version=product.version,
            priority_id=priority.id if priority else None,
            no_priority_reason=no_priority_reason,
        )
        _, tool = propose_tool(self.session, self.cast.org(org), entry, user)
        return tool

    def organisation_of(self, tool: Tool) -> Organisation:
        return self.session.get_one(Organisation, tool.organisation_id)

    def evidence(self, tool: Tool, product: Product, kind: str, key: str) -> None:
        """File a Markdown evidence document of type ``kind`` against the current version."""
        organisation = self.organisation_of(tool)
        user = self.acting(key, organisation.slug)
        author = f"{user.display_name}, {_JOBS[key]}"
        file_evidence(
            self.session,
            tool,
            evidence_type=kind,
            title=f"{evidence_types()[kind]}: {product.name} {product.version}",
            filename=f"{kind.replace('_', '-')}-{product.name.split()[0].lower()}.md",
            media_type="text/markdown",
            content=evidence_text(kind, product, organisation.name, author),
            max_bytes=EVIDENCE_LIMIT,
            version=latest_version(self.session, tool),
            uploaded_by=user,
        )

    def evaluation(self, tool: Tool, result: DemoResult, key: str) -> None:
        """Attach a result to the current version and file its report as validation evidence,
        as the evaluation workbench does."""
        organisation = self.organisation_of(tool)
        user = self.acting(key, organisation.slug)
        version = latest_version(self.session, tool)
        assert version is not None  # every demo tool is proposed with a version
        record = record_evaluation(self.session, version, result.document, user)
        title = str(result.document.get("title") or "Local validation")
        file_evidence(
            self.session,
            tool,
            evidence_type="local_validation_report",
            title=f"{title} ({record.verdict.value})",
            filename=f"local-validation-{tool.name.split()[0].lower()}-{version.version}.html",
            media_type="text/html",
            content=result.report_html.encode("utf-8"),
            max_bytes=EVIDENCE_LIMIT,
            version=version,
            uploaded_by=user,
        )

    def hazards(self, tool: Tool, key: str, risks: tuple[Risk, ...]) -> list[Hazard]:
        """Log each risk in the tool's hazard log, with its residual risk where assessed."""
        user = self.acting(key, self.organisation_of(tool).slug)
        logged = []
        for risk in risks:
            entry = HazardEntry(
                name=risk.name,
                initial_severity=risk.severity,
                initial_likelihood=risk.likelihood,
                causes=risk.cause,
                harm=risk.harm,
                existing_controls=risk.controls,
            )
            hazard = log_hazard(self.session, tool, entry, owner=user)
            if risk.residual is not None:
                severity, likelihood, controls = risk.residual
                assess_residual_risk(self.session, hazard, severity, likelihood, controls)
            logged.append(hazard)
        return logged

    def sign(self, tool: Tool, gate: LifecycleState, key: str, role: Role, note: str) -> None:
        user = self.acting(key, self.organisation_of(tool).slug)
        sign_off(self.session, tool, gate, role, user, note)

    def move(
        self,
        tool: Tool,
        target: LifecycleState,
        key: str,
        reason: str = "",
        withdrawal: Mapping[str, str] | None = None,
    ) -> None:
        """Ask for the transition as user ``key``, in the roles they hold in the tool's trust."""
        user = self.acting(key, self.organisation_of(tool).slug)
        roles = frozenset(roles_of(self.session, user.id, tool.organisation_id))
        transition(
            self.session,
            tool.id,
            target,
            actor=f"user:{user.email}",
            actor_roles=roles,
            reason=reason,
            withdrawal=withdrawal,
        )
