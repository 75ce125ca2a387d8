"""The demo tools' pathways: each product proposed, assessed and moved through the real gates.

One tool per lifecycle stage: ScribeAssist (proposed), FractureFinder (in assessment, waiting for
the IG/DPO and IT security sign-offs), ChestView (silent pilot), Sepsis Sentinel (live pilot,
waiting for the CSO and finance sign-offs to deploy), Aldermoor DEWS (deployed at two sites),
Northgate's Aldermoor DEWS (suspended after a failed equity audit), FlowCast (retired) and MindMate
(rejected); Westmoor then proposes Aldermoor DEWS and finds both assessments in the region.
"""

from __future__ import annotations

from steward.auth.roles import Role
from steward.demo import catalogue as c
from steward.demo import steps as s
from steward.demo.evaluations import DemoEvaluations
from steward.demo.facts import dtac_answers
from steward.demo.monitoring import OUTCOME, SEPSIS_OUTCOME, ingest_recent, monitoring
from steward.demo.scene import Risk, Scene
from steward.registry.assessments import answer_dtac
from steward.registry.decisions import record_decision
from steward.registry.hazards import Likelihood, Severity
from steward.registry.intake import Priority
from steward.registry.models import DeploymentStatus, LifecycleState, Tool
from steward.registry.records import DecisionOutcome
from steward.registry.tools import set_deployment_status

State = LifecycleState


def seed_tools(scene: Scene, evaluations: DemoEvaluations) -> dict[str, Tool]:
    """Create every demo tool at its stage; returns them by product name (and trust)."""
    scene.suppliers()
    priorities = _priorities(scene)
    tools = {
        "Aldermoor DEWS": _dews(scene, priorities["deterioration"], evaluations),
        "Sepsis Sentinel": _sepsis(scene, priorities["sepsis"], evaluations),
        "ChestView CXR triage": _chestview(scene, priorities["chest"]),
        "FractureFinder": _fracture(scene, priorities["fracture"]),
        "ScribeAssist": _scribe(scene, priorities["letters"]),
        "FlowCast discharge predictor": _flowcast(scene),
        "MindMate triage chatbot": _mindmate(scene),
        "Aldermoor DEWS (Northgate)": _northgate_dews(scene, evaluations),
    }
    tools["Aldermoor DEWS (Westmoor)"] = _westmoor_proposal(scene)
    return tools


def _priorities(scene: Scene) -> dict[str, Priority]:
    entries = {
        "deterioration": (
            "Deteriorating patients are recognised late on medical wards",
            "Acute medicine",
            "Cut unplanned ICU admissions preceded by a missed escalation from 31 to under 15 "
            "a year",
        ),
        "sepsis": (
            "Time to antibiotics for sepsis in the emergency department",
            "Emergency department",
            "90% of patients with red-flag sepsis receive antibiotics within an hour (now 62%)",
        ),
        "fracture": (
            "Fractures missed overnight in the emergency department",
            "Emergency department",
            "Halve recalls after the next-day radiology report (now 4% of fractures)",
        ),
        "letters": (
            "Outpatient clinic letters reach GPs late",
            "Outpatients",
            "Letters sent within 7 days for 90% of clinics (median now 18 days)",
        ),
        "chest": (
            "Chest X-ray reporting backlog for GP referrals",
            "Radiology",
            "Every GP-referred chest X-ray reported within 7 days (now up to 21)",
        ),
    }
    return {
        key: scene.priority("chair", "riverside", problem, service, need)
        for key, (problem, service, need) in entries.items()
    }


def _dews(scene: Scene, priority: Priority, evaluations: DemoEvaluations) -> Tool:
    product = c.DEWS
    tool = scene.propose("clinical_lead", "riverside", product, priority=priority)
    s.facts(scene, tool, product, "data_scientist", hti1=True, chai=True)
    s.into_assessment(
        scene, tool, s.RIVERSIDE, "Answers priority: late recognition of deterioration"
    )
    s.assess(scene, tool, product, s.RIVERSIDE, s.DEWS_RISKS + s.COMMON_RISKS[1:])
    s.mdt(scene, tool)
    s.into_silent_pilot(scene, tool, s.RIVERSIDE)
    sites = (("riverside-acute-block", "Acute Medical Unit"), ("st-lukes-main", "Medical wards"))
    s.deployments(scene, tool, sites, DeploymentStatus.PLANNED, monitoring(OUTCOME))
    s.to_live_pilot(scene, tool, product, evaluations.dews_validation)
    scene.acting("clinical_lead", "riverside")
    for deployment in s.deployments_of(scene, tool):
        set_deployment_status(scene.session, deployment, DeploymentStatus.LIVE)
    for kind, key in (("business_case", "finance"), ("contract", "finance")):
        scene.evidence(tool, product, kind, key)
    scene.evidence(tool, product, "training_material", "clinical_lead")
    s.liability(scene, tool, product, "RSL-2025-0147")
    gate = State.DEPLOYED
    scene.sign(tool, gate, "chair", Role.COMMITTEE_CHAIR, "Committee approval, meeting of March")
    scene.sign(tool, gate, "clinical_lead", Role.CLINICAL_LEAD, "Live pilot met its objectives")
    scene.sign(tool, gate, "cso", Role.CLINICAL_SAFETY_OFFICER, "Safety case updated")
    scene.sign(tool, gate, "finance", Role.FINANCE, "Within the agreed budget")
    chair = scene.acting("chair", "riverside")
    record_decision(
        scene.session,
        tool,
        subject="Deploy Aldermoor DEWS 3.2 on the acute medical wards of both hospitals",
        outcome=DecisionOutcome.APPROVED,
        rationale=(
            "Local validation passed every pre-agreed criterion (AUROC lower bound above 0.70, "
            "better than clinicians' estimates, well calibrated); the live pilot raised no "
            "safety incident; alert burden acceptable to ward leaders."
        ),
        decided_by=chair,
        version=s.version_of(scene, tool),
    )
    scene.move(tool, gate, "chair")
    hospitals = {"Acute Medical Unit": "Riverside", "Medical wards": "St Luke's"}
    for deployment in s.deployments_of(scene, tool):
        ingest_recent(scene, deployment, hospitals[deployment.care_setting])
    return tool


def _sepsis(scene: Scene, priority: Priority, evaluations: DemoEvaluations) -> Tool:
    """Live pilot in the emergency department; deployment waits for the CSO and finance."""
    product = c.SEPSIS
    tool = scene.propose("clinical_lead", "riverside", product, priority=priority)
    s.facts(scene, tool, product, "data_scientist", hti1=True, chai=False)
    s.into_assessment(scene, tool, s.RIVERSIDE, "Answers priority: time to antibiotics")
    s.assess(scene, tool, product, s.RIVERSIDE, s.COMMON_RISKS + _SEPSIS_RISKS)
    s.mdt(scene, tool)
    s.into_silent_pilot(scene, tool, s.RIVERSIDE)
    sites = (("riverside-acute-block", "Emergency department"),)
    s.deployments(scene, tool, sites, DeploymentStatus.PLANNED, monitoring(SEPSIS_OUTCOME))
    chair = scene.acting("chair", "riverside")
    record_decision(
        scene.session,
        tool,
        subject="Three-month live pilot of Sepsis Sentinel in the Riverside emergency department",
        outcome=DecisionOutcome.APPROVED,
        rationale="Silent pilot and local validation met the agreed criteria; pilot limited to "
        "one department with weekly review of every alert that led to antibiotics.",
        decided_by=chair,
        version=s.version_of(scene, tool),
    )
    s.to_live_pilot(scene, tool, product, evaluations.sepsis_validation)
    scene.acting("clinical_lead", "riverside")
    for deployment in s.deployments_of(scene, tool):
        set_deployment_status(scene.session, deployment, DeploymentStatus.LIVE)
    s.liability(scene, tool, product, "RSL-2025-0212")
    gate = State.DEPLOYED
    scene.sign(tool, gate, "chair", Role.COMMITTEE_CHAIR, "Supports deployment if CSO agrees")
    scene.sign(tool, gate, "clinical_lead", Role.CLINICAL_LEAD, "Pilot reduced time to antibiotics")
    return tool


_SEPSIS_RISKS = (
    Risk(
        "Antibiotics started without sepsis (over-treatment)",
        "High-risk flag taken as a diagnosis",
        "Antimicrobial resistance, C. difficile infection",
        Severity.SIGNIFICANT,
        Likelihood.MEDIUM,
        "Sepsis screening tool must be completed before treatment",
    ),
)


def _chestview(scene: Scene, priority: Priority) -> Tool:
    """In silent pilot: output not shown to radiologists while the pilot report is prepared."""
    product = c.CHESTVIEW
    tool = scene.propose("data_scientist", "riverside", product, priority=priority)
    s.facts(scene, tool, product, "data_scientist", hti1=True, chai=False)
    s.into_assessment(scene, tool, s.RIVERSIDE, "Answers priority: chest X-ray backlog")
    risks = (
        Risk(
            "Routine study with cancer deprioritised",
            "False negative moves a study down the worklist",
            "Delayed cancer diagnosis",
            Severity.MAJOR,
            Likelihood.LOW,
            "Every study still reported within the 21-day limit",
        ),
        *s.COMMON_RISKS,
    )
    s.assess(scene, tool, product, s.RIVERSIDE, risks)
    s.mdt(scene, tool)
    s.into_silent_pilot(scene, tool, s.RIVERSIDE)
    s.deployments(
        scene, tool, (("riverside-acute-block", "Radiology reporting"),), DeploymentStatus.PLANNED
    )
    s.fallback(scene, tool, product, tested_days_ago=None)
    return tool


def _fracture(scene: Scene, priority: Priority) -> Tool:
    """In assessment; the silent pilot waits for the IG/DPO and IT security sign-offs."""
    product = c.FRACTURE
    tool = scene.propose("clinical_lead", "riverside", product, priority=priority)
    s.facts(scene, tool, product, "data_scientist", hti1=False, chai=False)
    s.into_assessment(scene, tool, s.RIVERSIDE, "Answers priority: overnight fracture misses")
    risks = (
        Risk(
            "Fracture missed by both the tool and the clinician",
            "Subtle scaphoid or buckle fracture; clinician anchors on a negative flag",
            "Delayed treatment, avascular necrosis, malunion",
            Severity.CONSIDERABLE,
            Likelihood.MEDIUM,
            "Next-day radiology report of every study; recall process",
        ),
        Risk(
            "Result attached to the wrong patient",
            "Accession number mismatch in the PACS integration",
            "Wrong treatment decision",
            Severity.MAJOR,
            Likelihood.VERY_LOW,
            "DICOM accession matching tested by the supplier",
        ),
        *s.COMMON_RISKS[1:],
    )
    s.assess(scene, tool, product, s.RIVERSIDE, risks)
    s.mdt(scene, tool)
    scene.sign(tool, State.SILENT_PILOT, "cso", Role.CLINICAL_SAFETY_OFFICER, "Hazard log reviewed")
    chair = scene.acting("chair", "riverside")
    record_decision(
        scene.session,
        tool,
        subject="Silent pilot of FractureFinder in the emergency department",
        outcome=DecisionOutcome.DEFERRED,
        rationale="Clinically supported; waiting for the DPO and IT security to sign off the "
        "PACS integration before the silent pilot starts.",
        decided_by=chair,
    )
    return tool


def _scribe(scene: Scene, priority: Priority) -> Tool:
    """Just proposed: a partial model card and the supplier's first DTAC answers."""
    product = c.SCRIBE
    tool = scene.propose("member", "riverside", product, priority=priority)
    s.facts(scene, tool, product, "data_scientist", hti1=False, chai=False)
    s.mdt(scene, tool, members=(("clinical_lead", Role.CLINICAL_LEAD),))
    scene.acting("member", "riverside")
    core = dtac_answers(product, "core")
    answer_dtac(scene.session, tool, {k: v for k, v in core.items() if k[0] in "AB"})
    return tool


def _flowcast(scene: Scene) -> Tool:
    """Retired after a silent pilot that showed no benefit, with its withdrawal steps."""
    product = c.FLOWCAST
    reason = (
        "Offered by the supplier as a free six-month pilot; bed flow is a trust-wide pressure "
        "not yet on the committee's priority list"
    )
    tool = scene.propose("member", "riverside", product, no_priority_reason=reason)
    s.facts(scene, tool, product, "data_scientist", hti1=False, chai=False)
    s.into_assessment(scene, tool, s.RIVERSIDE, "Low clinical risk; operational benefit to test")
    s.assess(scene, tool, product, s.RIVERSIDE, (_FLOWCAST_RISK, *s.COMMON_RISKS[1:]))
    s.into_silent_pilot(scene, tool, s.RIVERSIDE)
    s.deployments(
        scene, tool, (("riverside-acute-block", "Bed management"),), DeploymentStatus.PLANNED
    )
    scene.acting("clinical_lead", "riverside")
    for deployment in s.deployments_of(scene, tool):
        set_deployment_status(scene.session, deployment, DeploymentStatus.WITHDRAWN)
    chair = scene.acting("chair", "riverside")
    why = (
        "The silent pilot showed no improvement over bed managers' own estimates (mean error "
        "2.9 against 2.6 days) and the supplier ends support for version 1.x."
    )
    record_decision(
        scene.session,
        tool,
        subject="Retire FlowCast discharge predictor",
        outcome=DecisionOutcome.APPROVED,
        rationale=why,
        decided_by=chair,
    )
    scene.sign(tool, State.RETIRED, "chair", Role.COMMITTEE_CHAIR, "Retirement approved")
    scene.move(
        tool,
        State.RETIRED,
        "chair",
        reason=why,
        withdrawal={
            "clinical_fallback": "Bed managers keep using the board-round estimates; no "
            "clinical pathway depended on FlowCast",
            "communication": "Bed management team and site managers told at the operational "
            "meeting; supplier notified in writing",
            "data_retention": "Supplier deletes the pseudonymised extract within 30 days and "
            "confirms in writing; predictions kept 8 years under the records management code",
        },
    )
    return tool


_FLOWCAST_RISK = Risk(
    "Discharge date predicted wrongly",
    "Case mix unlike the training data",
    "Elective admission cancelled at short notice",
    Severity.MINOR,
    Likelihood.LOW,
    "Bed managers confirm every predicted discharge at the board round",
)


def _mindmate(scene: Scene) -> Tool:
    """Rejected at intake: an unregistered device triaging people at risk."""
    product = c.MINDMATE
    reason = "Raised by the staff wellbeing team; no committee priority covers staff services"
    tool = scene.propose("member", "riverside", product, no_priority_reason=reason)
    why = (
        "Triages people who may be at risk of self-harm yet is not registered with the MHRA as a "
        "medical device, has no DCB0129 safety case, and the supplier would not disclose its "
        "training data."
    )
    chair = scene.acting("chair", "riverside")
    record_decision(
        scene.session,
        tool,
        subject="Reject MindMate triage chatbot",
        outcome=DecisionOutcome.REJECTED,
        rationale=why,
        decided_by=chair,
    )
    scene.move(tool, State.REJECTED, "chair", reason=why)
    return tool


def _northgate_dews(scene: Scene, evaluations: DemoEvaluations) -> Tool:
    """Northgate adopts the same product; its equity audit fails and the pilot is suspended."""
    product = c.DEWS
    team = s.NORTHGATE
    reason = "Regional programme: adopt the deterioration score already live at Riverside"
    tool = scene.propose("northgate_lead", "northgate", product, no_priority_reason=reason)
    s.facts(scene, tool, product, "northgate_chair", hti1=True, chai=True)
    s.into_assessment(scene, tool, team, "Reuse Riverside's assessment where it applies")
    s.assess(scene, tool, product, team, s.DEWS_RISKS)
    s.mdt(scene, tool, team.chair, _NORTHGATE_MDT)
    s.into_silent_pilot(scene, tool, team)
    scene.acting("northgate_chair", "northgate")
    s.deployments(scene, tool, (("northgate-main", "Medical wards"),), DeploymentStatus.PLANNED)
    scene.evaluation(tool, evaluations.northgate_equity_audit, "northgate_cso")
    finding = Risk(
        "Risk under-estimated in Black patients (local equity audit)",
        "Calibration differs by ethnicity in Northgate's population",
        "Later escalation for Black patients than for White patients at the same true risk",
        Severity.MAJOR,
        Likelihood.HIGH,
        "Silent pilot only: no output shown to clinicians",
    )
    scene.hazards(tool, "northgate_cso", (finding,))
    why = (
        "The local equity audit of version 3.2 failed: observed/expected ratios differ by more "
        "than 0.15 between ethnic groups (risk under-estimated in Black patients). Suspended "
        "until the supplier recalibrates; the regional programme is informed."
    )
    scene.move(tool, State.SUSPENDED, "northgate_cso", reason=why)
    chair = scene.acting("northgate_chair", "northgate")
    record_decision(
        scene.session,
        tool,
        subject="Suspension of the Aldermoor DEWS silent pilot",
        outcome=DecisionOutcome.NOTED,
        rationale=why,
        decided_by=chair,
        version=s.version_of(scene, tool),
    )
    return tool


_NORTHGATE_MDT = (
    ("northgate_lead", Role.CLINICAL_LEAD),
    ("northgate_cso", Role.CLINICAL_SAFETY_OFFICER),
    ("dpo", Role.IG_DPO),
    ("security", Role.IT_SECURITY),
)


def _westmoor_proposal(scene: Scene) -> Tool:
    """Westmoor proposes the product two trusts of the region have already assessed."""
    priority = scene.priority(
        "westmoor_lead",
        "westmoor",
        "Late recognition of deteriorating adults on wards",
        "Acute medicine",
        "Fewer cardiac arrest calls on general wards (now 2.1 per 1,000 admissions)",
    )
    tool = scene.propose("westmoor_lead", "westmoor", c.DEWS, priority=priority)
    s.mdt(scene, tool, "westmoor_lead", (("westmoor_lead", Role.CLINICAL_LEAD),))
    return tool
