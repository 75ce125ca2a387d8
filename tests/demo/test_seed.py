"""The demo seed on both databases: every stage, a passed and a failed evaluation, pending
approvals, a hazard log, regional reuse, working accounts, a verified audit chain, idempotence."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from steward.audit.context import AuditContext
from steward.audit.models import AuditEvent
from steward.audit.verify import verify_database
from steward.auth.passwords import authenticate
from steward.db import migrate
from steward.db.base import utcnow
from steward.db.engine import make_engine
from steward.db.session import read_only_unit, session_factory, unit_of_work
from steward.demo.evaluations import DemoEvaluations, run_demo_evaluations
from steward.demo.people import DEMO_PASSWORD, USERS
from steward.demo.seed import DemoSeedError, seed_demo
from steward.registry.errors import InvalidInputError
from steward.registry.intake import Proposal, reuse_candidates
from steward.registry.lifecycle import TransitionRequest, lifecycle_policy, unmet_requirements
from steward.registry.models import (
    Deployment,
    DeploymentStatus,
    LifecycleState,
    Organisation,
    Tool,
    ToolVersion,
)
from steward.registry.organisations import create_organisation
from steward.registry.records import EvaluationRecord, Hazard, StateTransition
from steward.registry.tools import add_version, deploy, register_tool, set_deployment_status
from steward.registry.transitions import gate_facts
from steward.surveillance.models import MonitoringConfig, PredictionEvent, ScoreCell


@pytest.fixture(scope="module")
def evaluations() -> DemoEvaluations:
    """The demo's three evaluations, computed once for the module (they take a few seconds)."""
    return run_demo_evaluations()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    evaluations: DemoEvaluations,
) -> Iterator[Engine]:
    """A database seeded with the demo once per backend, shared by the read-only tests."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("demo") / "steward.db"
        url = f"sqlite:///{path}"
        server = None
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database("demo")
    migrate.upgrade(url)
    engine = make_engine(url)
    outcome = seed_demo(engine, evaluations)
    assert outcome.seeded
    yield engine
    engine.dispose()
    if server is not None:
        server.drop_database(url)


@pytest.fixture
def session(seeded: Engine) -> Iterator[Session]:
    with read_only_unit(session_factory(seeded)) as session:
        yield session


def _tool(session: Session, name: str, org: str = "riverside") -> Tool:
    return session.scalars(
        select(Tool)
        .join(Organisation, Organisation.id == Tool.organisation_id)
        .where(Tool.name == name, Organisation.slug == org)
    ).one()


def _unmet(session: Session, tool: Tool, target: LifecycleState) -> set[tuple[str, str]]:
    gate = lifecycle_policy().gate(tool.state, target)
    assert gate is not None
    facts = gate_facts(session, tool, target)
    return {
        (u.requirement, u.item) for u in unmet_requirements(gate, TransitionRequest(target), facts)
    }


def test_every_lifecycle_stage_has_a_tool(session: Session) -> None:
    states = {tool.state for tool in session.scalars(select(Tool))}
    assert states == set(LifecycleState)
    assert (session.scalar(select(func.count()).select_from(Tool)) or 0) >= 8


def test_tools_reached_their_stage_through_the_gates(session: Session) -> None:
    deployed = _tool(session, "Aldermoor DEWS")
    path = session.scalars(
        select(StateTransition.to_state)
        .where(StateTransition.tool_id == deployed.id)
        .order_by(StateTransition.created_at)
    ).all()
    assert path == ["in_assessment", "silent_pilot", "live_pilot", "deployed"]
    suspended = session.scalars(
        select(StateTransition).where(StateTransition.to_state == "suspended")
    ).one()
    assert "equity audit" in suspended.reason
    assert suspended.actor.startswith("user:")
    retired = session.scalars(
        select(StateTransition).where(StateTransition.to_state == "retired")
    ).one()
    steps = retired.details["withdrawal"]
    assert set(steps) == {"clinical_fallback", "communication", "data_retention"}
    assert all(text.strip() for text in steps.values())
    rejected = session.scalars(
        select(StateTransition).where(StateTransition.to_state == "rejected")
    ).one()
    assert "MHRA" in rejected.reason


def test_one_passed_and_one_failed_evaluation_are_attached(session: Session) -> None:
    rows = session.execute(
        select(Tool.name, Organisation.slug, EvaluationRecord.verdict)
        .join(ToolVersion, ToolVersion.id == EvaluationRecord.version_id)
        .join(Tool, Tool.id == ToolVersion.tool_id)
        .join(Organisation, Organisation.id == Tool.organisation_id)
    ).all()
    verdicts = {(name, slug): verdict.value for name, slug, verdict in rows}
    assert verdicts[("Aldermoor DEWS", "riverside")] == "pass"
    assert verdicts[("Aldermoor DEWS", "northgate")] == "fail"
    assert sorted(verdicts.values()).count("fail") == 1
    record = session.scalars(
        select(EvaluationRecord).where(EvaluationRecord.verdict == "fail")
    ).one()
    assert record.document["verdict"]["status"] == "fail"
    assert record.document["n"] > 10_000  # the real engine on synthetic rows, not a stub


def test_pending_approvals_wait_only_for_named_sign_offs(session: Session) -> None:
    fracture = _tool(session, "FractureFinder")
    assert fracture.state is LifecycleState.IN_ASSESSMENT
    assert _unmet(session, fracture, LifecycleState.SILENT_PILOT) == {
        ("signoff", "ig_dpo"),
        ("signoff", "it_security"),
    }
    sepsis = _tool(session, "Sepsis Sentinel")
    assert sepsis.state is LifecycleState.LIVE_PILOT
    assert _unmet(session, sepsis, LifecycleState.DEPLOYED) == {
        ("signoff", "clinical_safety_officer"),
        ("signoff", "finance"),
    }


def test_hazard_logs_span_several_risk_levels(session: Session) -> None:
    hazards = list(session.scalars(select(Hazard)))
    assert len({h.tool_id for h in hazards}) >= 5
    assert {h.current_risk for h in hazards} >= {2, 3}
    assert {h.initial_risk for h in hazards} >= {2, 3, 4}
    residual = [(h.residual_risk, h.initial_risk) for h in hazards if h.residual_risk is not None]
    assert residual
    assert all(after <= before for after, before in residual)


def test_deployed_tool_is_live_at_two_sites(session: Session) -> None:
    deployed = _tool(session, "Aldermoor DEWS")
    statuses = session.scalars(
        select(Deployment.status)
        .join(ToolVersion, ToolVersion.id == Deployment.version_id)
        .where(ToolVersion.tool_id == deployed.id)
    ).all()
    assert statuses == [DeploymentStatus.LIVE, DeploymentStatus.LIVE]


def test_westmoor_proposal_finds_the_regions_assessments(session: Session) -> None:
    westmoor = session.scalars(select(Organisation).where(Organisation.slug == "westmoor")).one()
    proposal = session.scalars(
        select(Proposal).where(Proposal.organisation_id == westmoor.id)
    ).one()
    found = {
        (c.organisation, c.state, c.latest_verdict) for c in reuse_candidates(session, proposal)
    }
    assert found == {("riverside", "deployed", "pass"), ("northgate", "suspended", "fail")}


def test_every_demo_account_signs_in_with_the_demo_password(session: Session) -> None:
    for person in USERS:
        outcome = authenticate(
            session, person.email, DEMO_PASSWORD, utcnow(), 5, timedelta(minutes=15)
        )
        assert outcome.ok, person.email


def test_audit_chain_verifies_and_names_the_people(seeded: Engine, session: Session) -> None:
    report = verify_database(seeded)
    assert report.broken_at is None
    assert report.checked > 200
    actors = set(session.scalars(select(AuditEvent.actor).distinct()))
    silent = {"patient_rep", "regional"}  # on MDTs and in the region, but they write nothing
    assert {f"user:{p.email}" for p in USERS if p.key not in silent} <= actors


def test_reseeding_does_nothing_and_says_so(seeded: Engine, evaluations: DemoEvaluations) -> None:
    before = verify_database(seeded).head_seq
    outcome = seed_demo(seeded, evaluations)
    assert not outcome.seeded
    assert "already seeded" in outcome.message
    assert outcome.tools["Aldermoor DEWS (riverside)"] == "deployed"
    assert verify_database(seeded).head_seq == before


def test_a_database_with_other_data_is_refused(engine: Engine) -> None:
    sessions = session_factory(engine)
    with unit_of_work(sessions, AuditContext("test:pytest")) as session:
        create_organisation(session, "elsewhere", "Elsewhere Trust")
    with pytest.raises(DemoSeedError, match="empty database"):
        seed_demo(engine)
    with read_only_unit(sessions) as session:
        assert session.scalar(select(func.count()).select_from(Organisation)) == 1


def test_a_deployment_goes_live_only_in_a_pilot_or_deployment(engine: Engine) -> None:
    with unit_of_work(session_factory(engine), AuditContext("test:pytest")) as session:
        trust = create_organisation(session, "rxa", "Riverside")
        create_organisation(session, "rxa-h", "Riverside General", parent_slug="rxa")
        site = create_organisation(session, "rxa-site", "Acute Block", parent_slug="rxa-h")
        tool = register_tool(session, trust, "Sepsis Alert")
        deployment = deploy(session, add_version(session, tool, "1.0"), site, "ED")
        with pytest.raises(InvalidInputError, match="live_pilot or deployed"):
            set_deployment_status(session, deployment, DeploymentStatus.LIVE)
        set_deployment_status(session, deployment, DeploymentStatus.WITHDRAWN)
        assert deployment.status is DeploymentStatus.WITHDRAWN


def test_deployed_score_is_monitored_with_recent_predictions_and_outcomes(session: Session) -> None:
    deployed = _tool(session, "Aldermoor DEWS")
    deployment_ids = session.scalars(
        select(Deployment.id)
        .join(ToolVersion, ToolVersion.id == Deployment.version_id)
        .where(ToolVersion.tool_id == deployed.id)
    ).all()
    configs = session.scalars(
        select(MonitoringConfig).where(MonitoringConfig.deployment_id.in_(deployment_ids))
    ).all()
    assert {c.outcome_name for c in configs} == {"deterioration_24h"}
    labels = dict(
        session.execute(
            select(PredictionEvent.label, func.count())
            .where(PredictionEvent.deployment_id.in_(deployment_ids))
            .group_by(PredictionEvent.label)
        ).all()
    )
    assert labels[1] > 100  # outcomes linked to their predictions
    assert labels[0] > labels[1]
    assert labels[None] > 0  # the newest predictions' outcomes are not yet due
    for deployment_id in deployment_ids:  # the stored cubes show the score calibrated overall
        weeks: dict[object, list[float]] = {}
        for start, label, n, sum_p in session.execute(
            select(ScoreCell.window_start, ScoreCell.label, ScoreCell.n, ScoreCell.sum_p).where(
                ScoreCell.deployment_id == deployment_id,
                ScoreCell.grain == "week",
                ScoreCell.dim == "",
                ScoreCell.label != 2,
            )
        ):
            observed_expected = weeks.setdefault(start, [0.0, 0.0])
            observed_expected[0] += n if label == 1 else 0.0
            observed_expected[1] += sum_p
        observed = sum(o for o, _ in weeks.values())
        expected = sum(e for _, e in weeks.values())
        assert 0.8 <= observed / expected <= 1.25
        assert all(o > 0 for o, e in weeks.values() if e > 5)  # no week of false negatives
