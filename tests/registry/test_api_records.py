"""Reading a tool's governance records through the API: lists, newest first, paginated, and
only within the caller's organisations."""

from __future__ import annotations

from steward.auth.roles import Role

from ._support import CHAIR, Api, new_tool

CSO = Role.CLINICAL_SAFETY_OFFICER


def _hazard(api: Api, tool: str, name: str) -> None:
    body = {"name": name, "initial_severity": "major", "initial_likelihood": "low"}
    response = api.call("POST", f"/tools/{tool}/hazards", CSO, json=body)
    assert response.status_code == 201, response.text


def test_hazards_are_listed_newest_first_and_paginated(api: Api) -> None:
    tool = new_tool(api)
    for name in ("Missed deterioration", "Alert fatigue", "Wrong patient"):
        _hazard(api, tool, name)
    first = api.call("GET", f"/tools/{tool}/hazards?limit=2", Role.VIEWER).json()
    assert first["total"] == 3
    assert [h["name"] for h in first["items"]] == ["Wrong patient", "Alert fatigue"]
    rest = api.call("GET", f"/tools/{tool}/hazards?limit=2&offset=2", Role.VIEWER).json()
    assert [h["name"] for h in rest["items"]] == ["Missed deterioration"]


def test_transitions_are_listed_with_who_and_why(api: Api) -> None:
    tool = new_tool(api)
    body = {"to": "rejected", "reason": "Duplicates a tool already deployed"}
    moved = api.call("POST", f"/tools/{tool}/transitions", CHAIR, json=body)
    assert moved.status_code == 200, moved.text
    [transition] = api.call("GET", f"/tools/{tool}/transitions", CHAIR).json()["items"]
    assert (transition["from_state"], transition["to_state"]) == ("proposed", "rejected")
    assert transition["reason"] == "Duplicates a tool already deployed"
    assert api.call("GET", f"/tools/{tool}/signoffs", CHAIR).json()["items"] == []


def test_another_organisations_records_are_not_found(api: Api) -> None:
    tool = new_tool(api)
    for kind in ("evidence", "evaluations", "hazards", "signoffs", "decisions", "transitions"):
        response = api.call("GET", f"/tools/{tool}/{kind}", Role.ADMIN, org="rxb")
        assert response.status_code == 404, kind
        assert api.call("GET", f"/tools/{tool}/{kind}?limit=0", CHAIR).status_code == 422
