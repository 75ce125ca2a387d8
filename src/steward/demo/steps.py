"""Steps the demo's pathways share: DTAC, assessment evidence, hazards, sign-offs, pilots.

Each step is performed by the person whose job it is (see :class:`Team`), through the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from steward.auth.roles import Role
from steward.db.base import utcnow
from steward.demo.catalogue import Product
from steward.demo.evaluations import DemoResult
from steward.demo.facts import chai_card, dtac_answers, hti1_facts
from steward.demo.scene import Risk, Scene
from steward.registry.assessments import answer_dtac
from steward.registry.decisions import set_liability_record
from steward.registry.facts import FactsStandard
from steward.registry.hazards import Likelihood, Severity
from steward.registry.models import Deployment, DeploymentStatus, LifecycleState, Tool, ToolVersion
from steward.registry.safety import set_fallback_plan
from steward.registry.tools import (
    add_mdt_member,
    deploy,
    latest_version,
    set_deployment_status,
    set_model_facts,
)
from steward.surveillance.deployments import MonitoringSettings, create_deployment

State = LifecycleState


@dataclass(frozen=True)
class Team:
    """Who does what for one trust: user keys by job (one person may do several)."""

    org: str
    chair: str
    member: str
    cso: str
    dpo: str
    security: str
    clinical_lead: str = "clinical_lead"
    finance: str = "finance"
    data_scientist: str = "data_scientist"


RIVERSIDE = Team("riverside", "chair", "member", "cso", "dpo", "security")
NORTHGATE = Team(
    "northgate", "northgate_chair", "northgate_chair", "northgate_cso", "dpo", "security"
)

COMMON_RISKS = (
    Risk(
        "Over-reliance on the tool's output",
        "Staff treat a low-risk output as reassurance and skip their own assessment",
        "Delayed recognition and treatment",
        Severity.CONSIDERABLE,
        Likelihood.MEDIUM,
        "Existing pathway unchanged; the output is advisory",
        (
            Severity.CONSIDERABLE,
            Likelihood.LOW,
            "Training; the output never replaces clinical judgement",
        ),
    ),
    Risk(
        "Tool unavailable (integration outage)",
        "Interface engine or supplier service down",
        "Loss of the additional safety net during the outage",
        Severity.SIGNIFICANT,
        Likelihood.LOW,
        "Outage alerts to the service desk; fallback plan",
    ),
)

DEWS_RISKS = (
    Risk(
        "Missed deterioration (false reassurance)",
        "Observations recorded late; chronic hypoxaemia lowers the score",
        "Delayed escalation, avoidable ICU admission or death",
        Severity.MAJOR,
        Likelihood.HIGH,
        "NEWS2 escalation remains the standard of care",
        (
            Severity.MAJOR,
            Likelihood.VERY_LOW,
            "Score shown beside NEWS2, never instead; monthly missed-case audit",
        ),
    ),
    Risk(
        "Alert fatigue from false alarms",
        "Threshold too low for the ward's case mix",
        "Alerts ignored, including true ones",
        Severity.CONSIDERABLE,
        Likelihood.HIGH,
        "Threshold agreed by the committee",
        (
            Severity.SIGNIFICANT,
            Likelihood.LOW,
            "Alert rate monitored weekly; threshold reviewed at 3 months",
        ),
    ),
    Risk(
        "Risk under-estimated in an ethnic group",
        "Training data under-represent some groups",
        "Unequal access to timely escalation",
        Severity.CONSIDERABLE,
        Likelihood.LOW,
        "Local equity audit before use and quarterly",
    ),
)


def facts(scene: Scene, tool: Tool, product: Product, key: str, hti1: bool, chai: bool) -> None:
    scene.acting(key, scene.organisation_of(tool).slug)
    version = latest_version(scene.session, tool)
    assert version is not None
    set_model_facts(scene.session, version, FactsStandard.HTI1, hti1_facts(product, complete=hti1))
    set_model_facts(scene.session, version, FactsStandard.CHAI, chai_card(product, complete=chai))


def into_assessment(scene: Scene, tool: Tool, team: Team, note: str) -> None:
    scene.sign(tool, State.IN_ASSESSMENT, team.chair, Role.COMMITTEE_CHAIR, note)
    scene.move(tool, State.IN_ASSESSMENT, team.member)


def assess(scene: Scene, tool: Tool, product: Product, team: Team, risks: tuple[Risk, ...]) -> None:
    """DTAC answered by the right people, the assessment evidence filed, hazards logged."""
    for key, section in ((team.member, "core"), (team.dpo, "data_protection")):
        scene.acting(key, team.org)
        answer_dtac(scene.session, tool, dtac_answers(product, section))
    scene.acting(team.security, team.org)
    answer_dtac(scene.session, tool, dtac_answers(product, "security"))
    scene.evidence(tool, product, "dtac", team.member)
    scene.evidence(tool, product, "dpia", team.dpo)
    scene.evidence(tool, product, "clinical_safety_case", team.cso)
    scene.evidence(tool, product, "security_review", team.security)
    scene.hazards(tool, team.cso, risks)


RIVERSIDE_MDT = (
    ("clinical_lead", Role.CLINICAL_LEAD),
    ("cso", Role.CLINICAL_SAFETY_OFFICER),
    ("dpo", Role.IG_DPO),
    ("security", Role.IT_SECURITY),
    ("finance", Role.FINANCE),
    ("patient_rep", Role.PATIENT_REPRESENTATIVE),
)


def mdt(
    scene: Scene,
    tool: Tool,
    by: str = "chair",
    members: tuple[tuple[str, Role], ...] = RIVERSIDE_MDT,
) -> None:
    """Put ``members`` (user key, role) on the tool's MDT, as user ``by``."""
    scene.acting(by, scene.organisation_of(tool).slug)
    for key, role in members:
        add_mdt_member(scene.session, tool, scene.cast.users[key], role)


def into_silent_pilot(scene: Scene, tool: Tool, team: Team) -> None:
    gate = State.SILENT_PILOT
    scene.sign(tool, gate, team.cso, Role.CLINICAL_SAFETY_OFFICER, "Hazard log reviewed")
    scene.sign(tool, gate, team.dpo, Role.IG_DPO, "DPIA approved")
    scene.sign(tool, gate, team.security, Role.IT_SECURITY, "No security objection")
    scene.move(tool, gate, team.member)


def fallback(scene: Scene, tool: Tool, product: Product, tested_days_ago: int | None) -> None:
    owner = scene.acting("clinical_lead", "riverside")
    tested = utcnow() - timedelta(days=tested_days_ago) if tested_days_ago is not None else None
    set_fallback_plan(
        scene.session,
        tool,
        triggers=(
            f"{product.name} unavailable for more than 30 minutes, a safety incident attributed "
            "to it, or drift beyond the monitoring limits"
        ),
        clinical_fallback=(
            f"{product.care_setting} returns to the standard pathway without {product.name}; "
            "nurse in charge informed by the service desk"
        ),
        communication="Service desk alert to ward leaders; bulletin on the intranet within an hour",
        owner=owner,
        last_tested_at=tested,
    )


def deployments(
    scene: Scene,
    tool: Tool,
    sites: tuple[tuple[str, str], ...],
    status: DeploymentStatus,
    monitoring: MonitoringSettings | None = None,
) -> None:
    """Deploy the current version at each (site, care setting), monitored when configured."""
    scene.acting("clinical_lead", scene.organisation_of(tool).slug)
    version = version_of(scene, tool)
    for site, setting in sites:
        organisation = scene.cast.org(site)
        if monitoring is not None:
            create_deployment(scene.session, version, organisation, setting, monitoring)
            continue
        row = deploy(scene.session, version, organisation, setting)
        if status is not DeploymentStatus.PLANNED:
            set_deployment_status(scene.session, row, status)


def liability(scene: Scene, tool: Tool, product: Product, reference: str) -> None:
    scene.acting("finance", "riverside")
    set_liability_record(
        scene.session,
        tool,
        contract_reference=reference,
        liability_allocation=(
            f"{product.supplier} liable for defects of the product and its updates; the trust "
            "liable for use outside the intended purpose"
        ),
        indemnity_provider="Supplier's professional indemnity insurer; NHS Resolution (CNST)",
        indemnity_cover="GBP 10 million per claim (product liability and professional indemnity)",
        cover_expires_at=utcnow() + timedelta(days=400),
    )


def to_live_pilot(scene: Scene, tool: Tool, product: Product, result: DemoResult) -> None:
    scene.evidence(tool, product, "silent_pilot_report", "data_scientist")
    scene.evaluation(tool, result, "data_scientist")
    fallback(scene, tool, product, tested_days_ago=21)
    gate = State.LIVE_PILOT
    scene.sign(tool, gate, "clinical_lead", Role.CLINICAL_LEAD, "Silent pilot results reviewed")
    scene.sign(tool, gate, "cso", Role.CLINICAL_SAFETY_OFFICER, "Residual risks acceptable")
    scene.move(tool, gate, "chair")


def deployments_of(scene: Scene, tool: Tool) -> list[Deployment]:
    """Every deployment of any version of ``tool``, by care setting."""
    query = (
        select(Deployment)
        .join(ToolVersion, ToolVersion.id == Deployment.version_id)
        .where(ToolVersion.tool_id == tool.id)
        .order_by(Deployment.care_setting)
    )
    return list(scene.session.scalars(query))


def version_of(scene: Scene, tool: Tool) -> ToolVersion:
    """The current version of a demo tool (every demo tool is proposed with one)."""
    version = latest_version(scene.session, tool)
    assert version is not None
    return version
