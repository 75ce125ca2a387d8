"""Monitor settings per deployment: overrides of the versioned defaults, checked field by field,
stored, audited and used by the next monitor run."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from registry._support import Api
from steward.api.permissions import PERMISSIONS
from steward.audit.models import AuditEvent
from steward.auth.roles import Role
from steward.db.session import unit_of_work
from steward.registry.organisations import organisation_by_slug
from steward.registry.tools import add_version, register_tool
from steward.surveillance.monitors.config import override_problems
from steward.surveillance.scheduler.stored import stored_config

from ._support import ACTOR

LEAD = Role.CLINICAL_LEAD


def test_override_problems_name_each_field() -> None:
    assert override_problems(None) == []
    assert override_problems({"drift": {"alarm": 0.2}, "ewma": {"lambda": 0.1}}) == []
    assert override_problems(["drift"]) == [("", "monitor settings are a mapping of settings")]
    assert override_problems({"version": "9"}) == [
        ("version", "set by the defaults file, not per tool")
    ]
    found = dict(
        override_problems({"drift": {"alarm": -1, "colour": "red"}, "cusum": {"grain": "year"}})
    )
    assert set(found) == {"drift.alarm", "drift.colour", "cusum.grain"}
    assert "greater than 0" in found["drift.alarm"]


def _tool(api: Api) -> str:
    with unit_of_work(api.sessions, ACTOR) as session:
        tool = register_tool(session, organisation_by_slug(session, "rxa"), "Deterioration")
        add_version(session, tool, "1.0")
        return str(tool.id)


def _body(**extra: Any) -> dict[str, Any]:
    body = {
        "site": "rxa-ed",
        "care_setting": "emergency department",
        "thresholds": [0.1, 0.3],
        "outcome": {"name": "deterioration", "window_hours": 24},
    }
    return body | extra


def test_a_deployment_is_created_and_reconfigured_with_its_own_monitor_settings(api: Api) -> None:
    tool = _tool(api)
    bad = _body(monitors={"drift": {"alarm": -1}, "threshold": 0.2, "cusum": {"colour": 1}})
    refused = api.call("POST", f"/tools/{tool}/deployments", LEAD, json=bad)
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["errors"]} == {
        "monitors.drift.alarm",
        "monitors.cusum.colour",
    }
    off_edge = api.call(
        "POST", f"/tools/{tool}/deployments", LEAD, json=_body(monitors={"threshold": 0.2})
    )
    assert off_edge.status_code == 422
    assert off_edge.json()["errors"] == [
        {
            "field": "monitors.threshold",
            "detail": "0.2 is not one of the deployment's thresholds (0.1, 0.3)",
        }
    ]
    as_text = api.call(
        "POST", f"/tools/{tool}/deployments", LEAD, json=_body(monitors={"threshold": "0.25"})
    )
    assert as_text.status_code == 422
    assert as_text.json()["errors"][0]["field"] == "monitors.threshold"
    overrides = {"threshold": 0.3, "drift": {"alarm": 0.2}, "ewma": {"enabled": False}}
    created = api.call("POST", f"/tools/{tool}/deployments", LEAD, json=_body(monitors=overrides))
    assert created.status_code == 201, created.text
    deployment = uuid.UUID(created.json()["id"])
    monitoring = created.json()["monitoring"]
    assert monitoring["monitors"] == overrides
    assert monitoring["monitors_policy_version"] == "2026.1"
    with api.sessions() as session:
        config = stored_config(session, deployment)
        assert config is not None
        assert (config.threshold, config.drift.alarm, config.ewma.enabled) == (0.3, 0.2, False)
        assert config.drift.review == 0.1  # untouched fields keep the defaults

    path = f"/deployments/{deployment}/monitors"
    wrong = api.call("PUT", path, LEAD, json={"realised": {"oe_band": [1.2, 0.8]}})
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "monitors.realised.oe_band"
    assert (
        api.call("GET", f"/deployments/{deployment}", Role.VIEWER).json()["monitoring"]["monitors"]
        == overrides
    )
    changed = api.call("PUT", path, Role.DATA_SCIENTIST, json={"cusum": {"odds_ratio": 2.0}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["monitoring"]["monitors"] == {"cusum": {"odds_ratio": 2.0}}
    with api.sessions() as session:
        config = stored_config(session, deployment)
        assert config is not None
        assert (config.threshold, config.cusum.odds_ratio, config.ewma.enabled) == (0.1, 2.0, True)
        changes = session.scalars(
            select(AuditEvent).where(AuditEvent.entity_type == "monitoring_configs")
        ).all()
        assert any(
            e.after and e.after.get("monitor_overrides") == {"cusum": {"odds_ratio": 2.0}}
            for e in changes
        )
    assert api.call("PUT", path, LEAD, "rxb", json={}).status_code == 404
    for role in Role:
        response = api.call("PUT", path, role, json={})
        assert (response.status_code == 403) == (
            role not in PERMISSIONS["deployments:configure"]
        ), role
    assert api.call("PUT", path, LEAD, json={}).json()["monitoring"]["monitors"] == {}
