"""``steward monitor run|status`` and ``steward worker --once`` on both databases."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from steward.cli.main import app
from steward.db.base import utcnow
from steward.db.session import StewardSession
from steward.surveillance.alerts.models import Severity
from steward.surveillance.scheduler.worker import Scheduler

from ._support import ScriptedSuite, deployed_tool


@pytest.fixture
def runner(db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("STEWARD_DATABASE_URL", db_url)
    monkeypatch.setenv("STEWARD_DEV", "1")
    return CliRunner()


def test_status_shows_last_run_and_open_alerts(
    runner: CliRunner, orgs: sessionmaker[StewardSession]
) -> None:
    empty = runner.invoke(app, ["monitor", "status"])
    assert empty.exit_code == 0, empty.output
    assert "no monitored deployments" in empty.output
    deployed = deployed_tool(orgs, created_at=utcnow() - timedelta(days=2))
    suite = ScriptedSuite(severity=Severity.CRITICAL)
    Scheduler(orgs, suite, {}, worker="w").tick()
    result = runner.invoke(app, ["monitor", "status"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert str(deployed.deployment_id) in result.output
    assert "score_psi at" in result.output
    assert "1 (1 critical)" in result.output


def test_run_now_prints_what_it_did_and_refuses_unknown_deployments(
    runner: CliRunner, orgs: sessionmaker[StewardSession]
) -> None:
    deployed = deployed_tool(orgs, created_at=utcnow() - timedelta(days=2))
    result = runner.invoke(app, ["monitor", "run", "--deployment", str(deployed.deployment_id)])
    assert result.exit_code == 0, result.output
    assert "planned 0 new run(s); ran 0" in result.output
    assert "0 new alert(s)" in result.output
    unknown = runner.invoke(app, ["monitor", "run", "--deployment", str(uuid.uuid4())])
    assert unknown.exit_code == 2
    assert "no deployment with id" in unknown.output
    once = runner.invoke(app, ["worker", "--once"])
    assert once.exit_code == 0, once.output
    assert "ran 0" in once.output
