"""The CDS Hooks gateway end to end, with the specification's own examples as fixtures and a
real supplier service on loopback."""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import select

from steward.api.app import create_app
from steward.audit.models import AuditEvent
from steward.auth.roles import Role
from steward.db.session import unit_of_work
from steward.integration.cdshooks.models import CallOutcome, CdsCall, CdsCard, CdsFeedback
from steward.registry.models import Deployment, DeploymentStatus, Tool
from steward.registry.safety import set_fallback_plan
from steward.surveillance.models import FeedbackEvent, PredictionEvent

from ._support import (
    ACTOR,
    EHR_ISSUER,
    SPEC,
    STEWARD_BASE,
    bearer,
    ehr_token,
    live_tool,
    service_url,
    spec,
)
from .conftest import Gateway, gateway_settings

CALL = "/cds/rxa-main/cds-services/sepsis-risk"


def _call(gateway: Gateway, body: Any = None, token: str | None = None) -> Any:
    body = spec("request-patient-view.json") if body is None else body
    token = token or ehr_token(service_url())
    return gateway.client.post(CALL, json=body, headers=bearer(token))


def _calls(gateway: Gateway) -> list[CdsCall]:
    with gateway.sessions() as session:
        return list(session.scalars(select(CdsCall).order_by(CdsCall.created_at)))


def test_discovery_lists_the_live_service_in_the_specifications_shape(gateway: Gateway) -> None:
    response = gateway.client.get("/cds/rxa-main/cds-services")
    assert response.status_code == 200
    example = spec("discovery-response.json")["services"][0]
    (service,) = response.json()["services"]
    assert set(service) == set(example) - {"usageRequirements"}
    assert service == {
        "hook": "patient-view",
        "id": "sepsis-risk",
        "title": "Sepsis risk",
        "description": "Risk of sepsis in the next 12 hours",
        "prefetch": {"patientToGreet": "Patient/{{context.patientId}}"},
    }
    assert gateway.client.get("/cds/rxa-east/cds-services").json() == {"services": []}
    assert gateway.client.get("/cds/nowhere/cds-services").status_code == 404


def test_the_specifications_request_is_proxied_signed_and_logged(gateway: Gateway) -> None:
    response = _call(gateway)
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert [c["summary"] for c in cards] == [
        "Example Card",
        "Another card",
        "Sepsis risk 23% in the next 12 hours",
    ]
    assert cards[0]["uuid"] == "4e0a3a1e-3283-4575-ab82-028d55fe2719"
    assert all(c["uuid"] for c in cards)  # the supplier gave none for the last two
    (received,) = gateway.supplier.received
    assert received.body == spec("request-patient-view.json")
    supplier_token = received.headers["Authorization"].removeprefix("Bearer ")
    jwks = gateway.client.get("/.well-known/jwks.json").json()
    header = jwt.get_unverified_header(supplier_token)
    assert header["alg"] == "ES384"
    assert header["jku"] == f"{STEWARD_BASE}/.well-known/jwks.json"
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"]))
    claims = jwt.decode(
        supplier_token,
        key,
        algorithms=["ES384"],
        audience=f"{gateway.supplier.base}/cds-services/sepsis",
    )
    assert claims["iss"] == STEWARD_BASE
    assert {"exp", "iat", "jti"} <= set(claims)
    (call,) = _calls(gateway)
    assert call.outcome is CallOutcome.PROXIED
    assert call.cards_returned == 3
    with gateway.sessions() as session:
        logged = {c.card_uuid: c for c in session.scalars(select(CdsCard))}
    assert set(logged) == {c["uuid"] for c in cards}
    scores = {c.card["summary"]: c.score for c in logged.values()}
    assert scores["Sepsis risk 23% in the next 12 hours"] == pytest.approx(0.23)
    assert scores["Example Card"] is None
    assert {c.patient_id for c in logged.values()} == {"1288992"}
    assert {c.encounter_id for c in logged.values()} == {"89284"}
    assert {c.version_id for c in logged.values()} == {gateway.tool.version_id}


def test_a_score_in_the_summary_is_read_with_the_tools_pattern(gateway: Gateway) -> None:
    gateway.register(score_source="summary_regex", score_pattern=r"risk (\d+)%", score_scale=100)
    assert _call(gateway).status_code == 200
    with gateway.sessions() as session:
        scores = [c.score for c in session.scalars(select(CdsCard)) if c.score is not None]
    assert scores == [pytest.approx(0.23)]


@pytest.mark.parametrize(
    "name",
    ["feedback-accepted.json", "feedback-overridden.json", "feedback-overridden-reason.json"],
)
def test_the_specifications_feedback_is_recorded(gateway: Gateway, name: str) -> None:
    assert _call(gateway).status_code == 200
    url = f"{CALL}/feedback"
    response = gateway.client.post(
        url, json=spec(name), headers=bearer(ehr_token(STEWARD_BASE + url))
    )
    assert response.status_code == 200, response.text
    with gateway.sessions() as session:
        (row,) = session.scalars(select(CdsFeedback))
    item = spec(name)["feedback"][0]
    assert row.card_uuid == item["card"]
    assert row.outcome == item["outcome"]
    # The accepted example names the card uuid of the specification's example response.
    assert row.known_card == (name == "feedback-accepted.json")
    if name == "feedback-accepted.json":
        assert row.accepted_suggestions == {"ids": ["e56e1945-20b3-4393-8503-a1a20fd73152"]}
    if name == "feedback-overridden-reason.json":
        assert row.override_code == "d7ecf885"
        assert row.override_system == "https://example.com/cds-hooks/override-reason-system"
        assert row.user_comment == "A comment entered by the clinician."


def test_feedback_missing_required_fields_is_400(gateway: Gateway) -> None:
    url = f"{CALL}/feedback"
    body = {"feedback": [{"card": "x", "outcome": "accepted", "outcomeTimestamp": "yesterday"}]}
    response = gateway.client.post(url, json=body, headers=bearer(ehr_token(STEWARD_BASE + url)))
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"feedback[0].acceptedSuggestions", "feedback[0].outcomeTimestamp"}


def _expired(audience: str) -> str:
    return ehr_token(audience, exp=int(time.time()) - 3600, iat=int(time.time()) - 4000)


BAD_TOKENS = {
    "unsigned (alg none)": lambda aud: jwt.encode(
        {
            "iss": "https://fhir-ehr.example.com/",
            "aud": aud,
            "exp": int(time.time()) + 60,
            "iat": int(time.time()),
            "jti": "n",
        },
        None,
        algorithm="none",
        headers={"kid": "example-kid"},
    ),
    "HS256": lambda aud: jwt.encode(
        {
            "iss": "https://fhir-ehr.example.com/",
            "aud": aud,
            "exp": int(time.time()) + 60,
            "iat": int(time.time()),
            "jti": "h",
        },
        "a shared secret that CDS Hooks forbids",
        algorithm="HS256",
        headers={"kid": "example-kid"},
    ),
    "expired": _expired,
    "wrong aud": lambda aud: ehr_token("https://cds.example.org/cds-services/some-service"),
    "unknown iss": lambda aud: ehr_token(aud, iss="https://other-ehr.example.com/"),
    "jku not allowlisted": lambda aud: ehr_token(
        aud, headers={"jku": "https://fhir-ehr.example.com/jwk_uri"}
    ),
    "no jti": lambda aud: ehr_token(aud, jti=None),
    "no iat": lambda aud: ehr_token(aud, iat=None),
    "unknown kid": lambda aud: ehr_token(aud, headers={"kid": "another-kid"}),
    "not a JWT": lambda aud: "not-a-token",
    "signature of another key": lambda aud: _signed_by_another_key(aud),
    "claims altered after signing": lambda aud: _altered(ehr_token(aud)),
    "iat in the future": lambda aud: ehr_token(aud, iat=int(time.time()) + 3600),
    "nbf in the future": lambda aud: ehr_token(aud, nbf=int(time.time()) + 3600),
    "exp not a number": lambda aud: ehr_token(aud, exp="tomorrow"),
    "aud list without the service": lambda aud: ehr_token(aud, aud=["https://other.example/"]),
}


def _signed_by_another_key(audience: str) -> str:
    other = ec.generate_private_key(ec.SECP384R1())
    now = int(time.time())
    claims = {"iss": EHR_ISSUER, "aud": audience, "exp": now + 60, "iat": now, "jti": "o"}
    return jwt.encode(claims, other, algorithm="ES384", headers={"kid": "example-kid"})


def _altered(token: str) -> str:
    header, claims, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    payload["tenant"] = "another-tenant"
    altered = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{header}.{altered}.{signature}"


def test_an_aud_list_naming_the_service_is_accepted(gateway: Gateway) -> None:
    token = ehr_token(service_url(), aud=["https://other.example/", service_url()])
    assert _call(gateway, token=token).status_code == 200


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_bad_tokens_are_401_with_the_reason_only_in_the_log(
    gateway: Gateway, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = BAD_TOKENS[case](service_url())
    with caplog.at_level(logging.WARNING, logger="steward.cdshooks"):
        response = _call(gateway, token=token)
    assert response.status_code == 401
    assert response.json()["detail"] == "The bearer token was not accepted."
    assert "token refused" in caplog.text
    assert gateway.supplier.received == []
    assert _calls(gateway) == []


def test_a_replayed_jti_is_401(gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    token = ehr_token(service_url())
    assert _call(gateway, token=token).status_code == 200
    with caplog.at_level(logging.WARNING, logger="steward.cdshooks"):
        assert _call(gateway, token=token).status_code == 401
    assert "was used before" in caplog.text
    assert len(gateway.supplier.received) == 1


def test_the_specifications_own_token_verifies_but_is_refused_as_expired(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    example = (SPEC / "jwt.txt").read_text(encoding="utf-8").strip()
    key = jwt.PyJWK(spec("jwks.json")["keys"][0])
    claims = jwt.decode(
        example,
        key,
        algorithms=["ES384"],
        audience="https://cds.example.org/cds-services/some-service",
        options={"verify_exp": False},
    )
    assert claims == spec("jwt-payload.json")
    assert jwt.get_unverified_header(example) == spec("jwt-header.json")
    with caplog.at_level(logging.WARNING, logger="steward.cdshooks"):
        assert _call(gateway, token=example).status_code == 401
    assert "jku" in caplog.text  # its jku is not on this gateway's allowlist


def test_keys_from_an_allowlisted_jku_are_fetched(gateway: Gateway) -> None:
    token = ehr_token(service_url(), headers={"jku": f"{gateway.supplier.base}/jwk_uri"})
    assert _call(gateway, token=token).status_code == 200


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"hook", "hookInstance", "context"}),
        ({"hook": "patient-view", "hookInstance": "x", "context": []}, {"context"}),
        (
            {
                "hook": "patient-view",
                "hookInstance": "x",
                "context": {},
                "fhirAuthorization": {"token_type": "Bearer"},
            },
            {
                "fhirServer",
                "fhirAuthorization.access_token",
                "fhirAuthorization.scope",
                "fhirAuthorization.subject",
                "fhirAuthorization.expires_in",
            },
        ),
        ({"hook": "order-sign", "hookInstance": "x", "context": {}}, {"hook"}),
        ([1, 2], {"body"}),
    ],
)
def test_requests_missing_required_fields_are_400(
    gateway: Gateway, body: Any, fields: set[str]
) -> None:
    response = _call(gateway, body=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in response.json()["errors"]} == fields
    assert gateway.supplier.received == []


def test_prefetch_that_is_not_fhir_is_left_out_and_logged(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    body = spec("request-patient-view.json") | spec("prefetch-data-example.json")
    with caplog.at_level(logging.WARNING, logger="steward.cdshooks"):
        response = _call(gateway, body=body)
    assert response.status_code == 200
    assert len(response.json()["cards"]) == 3
    (received,) = gateway.supplier.received
    assert received.body["prefetch"] == {"user": body["prefetch"]["user"]}
    assert "'patient'" in caplog.text
    assert "'hemoglobin-a1c'" in caplog.text
    (call,) = _calls(gateway)
    assert call.prefetch_dropped == 2


def test_a_request_with_an_extension_is_passed_on(gateway: Gateway) -> None:
    body = spec("request-extension.json")
    assert _call(gateway, body=body).status_code == 200
    assert gateway.supplier.received[0].body["extension"] == body["extension"]


def _suspend(gateway: Gateway) -> None:
    response = gateway.client.post(
        f"/api/v1/tools/{gateway.tool.tool_id}/transitions",
        json={"to": "suspended", "reason": "calibration drift"},
        headers=bearer(gateway.token(Role.CLINICAL_SAFETY_OFFICER)),
    )
    assert response.status_code == 200, response.text


def test_a_suspended_tool_is_not_called_and_leaves_discovery(gateway: Gateway) -> None:
    _suspend(gateway)
    response = _call(gateway)
    assert response.status_code == 200
    assert response.json() == {"cards": []}
    assert gateway.supplier.received == []
    assert gateway.client.get("/cds/rxa-main/cds-services").json() == {"services": []}
    (call,) = _calls(gateway)
    assert call.outcome is CallOutcome.BLOCKED
    assert call.reason == "tool is suspended"


def test_a_blocked_call_returns_the_fallback_plans_card_when_asked_to(gateway: Gateway) -> None:
    gateway.register(fallback_card=True)
    with unit_of_work(gateway.sessions, ACTOR) as session:
        tool = session.get_one(Tool, gateway.tool.tool_id)
        set_fallback_plan(
            session,
            tool,
            triggers="suspension",
            clinical_fallback="Use the NEWS2 score and the sepsis screening tool.",
            communication="Ward managers are told by the safety officer.",
        )
    _suspend(gateway)
    (card,) = _call(gateway).json()["cards"]
    assert card["indicator"] == "info"
    assert card["summary"] == "Sepsis Risk is unavailable: follow the fallback plan"
    assert "NEWS2" in card["detail"]
    assert gateway.supplier.received == []


def test_a_deployment_that_is_not_live_at_the_site_is_not_called(gateway: Gateway) -> None:
    with unit_of_work(gateway.sessions, ACTOR) as session:
        session.get_one(Deployment, gateway.tool.deployment_id).status = DeploymentStatus.WITHDRAWN
    assert _call(gateway).json() == {"cards": []}
    assert gateway.supplier.received == []
    assert _calls(gateway)[0].reason == "deployment at this site is not live"
    other_site = "/cds/rxa-east/cds-services/sepsis-risk"
    token = ehr_token(service_url("rxa-east"))
    response = gateway.client.post(
        other_site, json=spec("request-patient-view.json"), headers=bearer(token)
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("mode", "delay", "outcome"),
    [
        ("cards", 4.0, CallOutcome.SUPPLIER_TIMEOUT),
        ("error", 0.0, CallOutcome.SUPPLIER_ERROR),
        ("garbage", 0.0, CallOutcome.SUPPLIER_ERROR),
    ],
)
def test_supplier_failures_give_no_card_within_the_budget(
    gateway: Gateway, mode: str, delay: float, outcome: CallOutcome
) -> None:
    gateway.supplier.mode, gateway.supplier.delay = mode, delay
    started = time.monotonic()
    response = _call(gateway)
    if outcome is CallOutcome.SUPPLIER_TIMEOUT:  # budget 1 s; the supplier would take 4 s
        assert time.monotonic() - started < 3.5
    assert response.status_code == 200
    assert response.json() == {"cards": []}
    (call,) = _calls(gateway)
    assert call.outcome is outcome
    assert gateway.client.app.state.cds_gateway.counts[outcome.value] == 1  # type: ignore[attr-defined]


def test_malformed_cards_are_dropped_logged_and_counted(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    gateway.supplier.mode = "malformed"
    with caplog.at_level(logging.WARNING, logger="steward.cdshooks"):
        cards = _call(gateway).json()["cards"]
    assert [c["summary"] for c in cards] == ["Example Card", "Sepsis risk 23% in the next 12 hours"]
    assert "indicator must be info, warning or critical" in caplog.text
    assert "summary must be shorter than 140 characters" in caplog.text
    (call,) = _calls(gateway)
    assert (call.cards_returned, call.cards_dropped) == (2, 2)


def test_unknown_services_are_404_and_bodies_that_are_not_json_400(gateway: Gateway) -> None:
    url = "/cds/rxa-main/cds-services/nope"
    response = gateway.client.post(
        url, json=spec("request-patient-view.json"), headers=bearer(ehr_token(STEWARD_BASE + url))
    )
    assert response.status_code == 404
    response = gateway.client.post(
        CALL, content=b"{not json", headers=bearer(ehr_token(service_url()))
    )
    assert response.status_code == 400


def _feedback(gateway: Gateway, body: dict[str, Any]) -> Any:
    url = f"{CALL}/feedback"
    return gateway.client.post(url, json=body, headers=bearer(ehr_token(STEWARD_BASE + url)))


def test_scored_cards_and_their_feedback_reach_surveillance(gateway: Gateway) -> None:
    cards = _call(gateway).json()["cards"]
    scored = cards[2]["uuid"]
    with gateway.sessions() as session:
        (prediction,) = session.scalars(select(PredictionEvent))
    assert prediction.card_id == scored
    assert prediction.deployment_id == gateway.tool.deployment_id
    assert (prediction.patient_id, prediction.encounter_id) == ("1288992", "89284")
    assert prediction.score == pytest.approx(0.23)
    assert prediction.tool_version == "1.0"
    body = spec("feedback-overridden-reason.json")
    body["feedback"][0]["card"] = scored
    assert _feedback(gateway, body).status_code == 200
    assert _feedback(gateway, body).status_code == 200  # sent twice: one event
    with gateway.sessions() as session:
        (event,) = session.scalars(select(FeedbackEvent))
        assert len(session.scalars(select(CdsFeedback)).all()) == 2
    assert event.prediction_event_id == prediction.event_id
    assert event.action == "overridden"
    assert event.reason == "d7ecf885 A comment entered by the clinician."


def test_without_a_monitoring_configuration_cards_are_still_logged(
    db_url: str, engine: Any, sessions: Any, supplier: Any, caplog: pytest.LogCaptureFixture
) -> None:
    tool = live_tool(sessions, "Unmonitored", monitored=False)
    app = create_app(gateway_settings(db_url, supplier), engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        unmonitored = Gateway(client, sessions, tool, supplier)
        unmonitored.register()
        with caplog.at_level(logging.INFO, logger="steward.cdshooks"):
            assert len(_call(unmonitored).json()["cards"]) == 3
    assert "no monitoring configuration" in caplog.text
    with sessions() as session:
        assert len(session.scalars(select(CdsCard)).all()) == 3
        assert session.scalars(select(PredictionEvent)).all() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"score_source": "summary_regex"}, "score_pattern"),
        ({"score_source": "summary_regex", "score_pattern": "no group"}, "score_pattern"),
        ({"score_source": "summary_regex", "score_pattern": "(unclosed"}, "score_pattern"),
        ({"supplier_url": "ftp://supplier"}, "supplier_url"),
        ({"prefetch": {"patient": " "}}, "prefetch.patient"),
        ({"score_pattern": r"(\d+)"}, "score_pattern"),
    ],
)
def test_registrations_that_cannot_work_are_422(
    gateway: Gateway, body: dict[str, Any], field: str
) -> None:
    payload = {
        "hook": "patient-view",
        "description": "Sepsis risk",
        "supplier_url": f"{gateway.supplier.base}/cds-services/sepsis",
    } | body
    response = gateway.client.put(
        f"/api/v1/tools/{gateway.tool.tool_id}/versions/1.0/cds-services/other",
        json=payload,
        headers=bearer(gateway.token(Role.IT_SECURITY)),
    )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_registrations_are_listed_and_audited(gateway: Gateway) -> None:
    listed = gateway.client.get(
        f"/api/v1/tools/{gateway.tool.tool_id}/cds-services",
        headers=bearer(gateway.token(Role.VIEWER)),
    )
    assert listed.status_code == 200
    (service,) = listed.json()
    assert (service["service_id"], service["score_source"]) == ("sepsis-risk", "risk_assessment")
    with gateway.sessions() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "cds_services"))
        assert [e.action for e in events] == ["cds_services.created"]


def test_without_a_signing_key_outside_dev_mode_nothing_is_sent(
    db_url: str, engine: Any, gateway: Gateway
) -> None:
    settings = gateway_settings(
        db_url, gateway.supplier, dev=False, secret_key="a-long-random-test-secret-0123456789"
    )
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        assert client.get("/.well-known/jwks.json").status_code == 503
        response = client.post(
            CALL, json=spec("request-patient-view.json"), headers=bearer(ehr_token(service_url()))
        )
    assert response.json() == {"cards": []}
    assert gateway.supplier.received == []
    (call,) = _calls(gateway)
    assert call.outcome is CallOutcome.SUPPLIER_ERROR
    assert "STEWARD_CDS_SIGNING_KEY_FILE" in call.reason
