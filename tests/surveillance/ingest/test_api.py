"""The deployment and ingestion endpoints: creation, reading, bodies of every accepted type,
idempotency, bad rows and bad requests, permissions and the audit trail."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select

from steward.api.permissions import PERMISSIONS
from steward.audit.models import AuditEvent
from steward.auth.roles import Role
from steward.surveillance.models import OutcomeEvent, PredictionEvent

from ._support import Api

NOW = datetime.now(UTC).replace(microsecond=0)
WRITER = Role.DATA_SCIENTIST


def _prediction(i: int, **extra: Any) -> dict[str, Any]:
    row = {
        "event_id": f"p{i}",
        "patient_id": f"pt{i}",
        "encounter_id": f"e{i}",
        "time": (NOW - timedelta(hours=i)).isoformat(),
        "score": round(0.01 * (i % 100), 4),
        "subgroups": {"sex": "F" if i % 2 else "M"},
    }
    return row | extra


def _ndjson(rows: list[Any]) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows).encode()


def _post(api: Api, deployment: uuid.UUID, kind: str, body: bytes, media: str, **kw: Any) -> Any:
    return api.call(
        "POST",
        f"/deployments/{deployment}/{kind}",
        kw.pop("role", WRITER),
        content=body,
        headers={"Content-Type": media},
        **kw,
    )


def _create_body(**extra: Any) -> dict[str, Any]:
    body = {
        "version": "1.0",
        "site": "rxa-ward",
        "care_setting": "emergency department",
        "status": "live",
        "thresholds": [0.1, 0.3],
        "outcome": {"name": "icu_admission", "window_hours": 24, "per": "patient"},
        "subgroups": ["sex", "ethnicity"],
        "features": {"heart_rate": [60, 80, 100, 120]},
    }
    return body | extra


def test_create_and_read_a_deployment(api: Api, deployment: uuid.UUID) -> None:
    read = api.call("GET", f"/deployments/{deployment}", Role.VIEWER)
    assert read.status_code == 200, read.text
    tool = read.json()["tool_id"]
    # the tool is only proposed: its deployment may be planned, not live, and nothing is kept
    too_early = api.call(
        "POST", f"/tools/{tool}/deployments", Role.CLINICAL_LEAD, json=_create_body()
    )
    assert too_early.status_code == 422, too_early.text
    assert "goes live only in live_pilot or deployed" in too_early.text
    created = api.call(
        "POST",
        f"/tools/{tool}/deployments",
        Role.CLINICAL_LEAD,
        json=_create_body(status="planned"),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["site"] == "rxa-ward"
    assert body["status"] == "planned"
    assert body["version"] == "1.0"
    assert body["monitoring"]["outcome"] == {
        "name": "icu_admission",
        "window_hours": 24.0,
        "per": "patient",
        "lag_hours": 0.0,
    }
    assert body["monitoring"]["feature_cuts"] == {"heart_rate": [60.0, 80.0, 100.0, 120.0]}
    again = api.call("GET", f"/deployments/{body['id']}", Role.VIEWER)
    assert again.json() == body
    duplicate = api.call(
        "POST",
        f"/tools/{tool}/deployments",
        Role.CLINICAL_LEAD,
        json=_create_body(status="planned"),
    )
    assert duplicate.status_code == 409
    bad = _create_body(thresholds=[1.5], site="nowhere", care_setting="ward 2")
    refused = api.call("POST", f"/tools/{tool}/deployments", Role.CLINICAL_LEAD, json=bad)
    assert refused.status_code == 422
    other_org = api.call("GET", f"/deployments/{body['id']}", Role.VIEWER, org="rxb")
    assert other_org.status_code == 404
    region = api.call("GET", f"/deployments/{body['id']}", Role.VIEWER, org="north")
    assert region.status_code == 200


def test_single_objects_are_idempotent_and_conflicts_are_409(
    api: Api, deployment: uuid.UUID
) -> None:
    body = json.dumps(_prediction(1)).encode()
    first = _post(api, deployment, "predictions", body, "application/json")
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 1, "duplicates": 0, "opted_out": 0, "rejected": []}
    again = _post(api, deployment, "predictions", body, "application/json; charset=utf-8")
    assert again.json() == {"accepted": 0, "duplicates": 1, "opted_out": 0, "rejected": []}
    changed = json.dumps(_prediction(1, score=0.99)).encode()
    conflict = _post(api, deployment, "predictions", changed, "application/json")
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == "application/problem+json"
    assert "p1" in conflict.json()["detail"]
    out_of_range = json.dumps(_prediction(2, score=1.5)).encode()
    refused = _post(api, deployment, "predictions", out_of_range, "application/json")
    assert refused.status_code == 422
    assert "outside [0, 1]" in refused.json()["detail"]
    with api.sessions() as session:
        assert session.scalar(select(func.count()).select_from(PredictionEvent)) == 1


def test_bulk_ndjson_stores_good_rows_and_reports_bad_ones(api: Api, deployment: uuid.UUID) -> None:
    future = (NOW + timedelta(days=2)).isoformat()
    rows: list[Any] = [
        _prediction(1),
        _prediction(2, score=1.2),
        "{not json",
        _prediction(4, time=future),
        _prediction(5, surprise=1),
        _prediction(1),
        _prediction(6, features={"heart_rate": 88, "spo2": None}),
        "",
        _prediction(1, score=0.77),
    ]
    response = _post(api, deployment, "predictions", _ndjson(rows), "application/x-ndjson")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 2
    assert body["duplicates"] == 1
    rejected = {r["row"]: r["error"] for r in body["rejected"]}
    assert sorted(rejected) == [2, 3, 4, 5, 9]
    assert "outside [0, 1]" in rejected[2]
    assert "not valid JSON" in rejected[3]
    assert "future" in rejected[4]
    assert "surprise" in rejected[5]
    assert "different content" in rejected[9]


def test_csv_and_parquet_bodies(api: Api, deployment: uuid.UUID) -> None:
    csv = (
        "event_id,patient_id,encounter_id,time,score,feature.heart_rate,subgroup.sex\n"
        f"c1,pt1,e1,{NOW.isoformat()},0.25,80,F\n"
        f"c2,pt2,e2,{NOW.isoformat()},abc,90,M\n"
        f"c3,pt3,e3,{NOW.replace(tzinfo=None).isoformat()},0.5,,\n"
    ).encode()
    response = _post(api, deployment, "predictions", csv, "text/csv")
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2
    assert [r["row"] for r in response.json()["rejected"]] == [2]
    table = pa.table(
        {
            "event_id": ["q1", "q2"],
            "patient_id": ["pt1", "pt2"],
            "time": pa.array([NOW, NOW - timedelta(days=1)], pa.timestamp("us", "UTC")),
            "score": [0.1, 0.9],
            "subgroup.sex": ["F", None],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    parquet = _post(
        api, deployment, "predictions", buffer.getvalue(), "application/vnd.apache.parquet"
    )
    assert parquet.json() == {"accepted": 2, "duplicates": 0, "opted_out": 0, "rejected": []}
    unknown = _post(api, deployment, "predictions", b"event_id,colour\nx,red\n", "text/csv")
    assert unknown.status_code == 422
    assert "colour" in unknown.json()["detail"]
    broken = _post(api, deployment, "predictions", b"PAR1garbage", "application/vnd.apache.parquet")
    assert broken.status_code == 422


def test_bad_requests(api: Api, deployment: uuid.UUID) -> None:
    body = json.dumps(_prediction(1)).encode()
    unknown = _post(api, uuid.uuid4(), "predictions", body, "application/json")
    assert unknown.status_code == 404
    wrong_type = _post(api, deployment, "predictions", body, "text/plain")
    assert wrong_type.status_code == 415
    assert wrong_type.headers["content-type"] == "application/problem+json"
    huge = _ndjson([_prediction(i) for i in range(10_000)])
    assert len(huge) > 1_000_000
    too_large = _post(api, deployment, "predictions", huge, "application/x-ndjson")
    assert too_large.status_code == 413
    not_object = _post(api, deployment, "predictions", b"[1, 2]", "application/json")
    assert not_object.status_code == 422
    no_token = api.call("POST", f"/deployments/{deployment}/predictions", None, content=body)
    assert no_token.status_code == 401
    with api.sessions() as session:
        assert session.scalar(select(func.count()).select_from(PredictionEvent)) == 0


def test_outcomes_and_feedback_through_the_api(api: Api, deployment: uuid.UUID) -> None:
    _post(
        api,
        deployment,
        "predictions",
        _ndjson([_prediction(i) for i in range(1, 4)]),
        "application/x-ndjson",
    )
    outcomes = [
        {
            "event_id": "o1",
            "patient_id": "pt1",
            "encounter_id": "e1",
            "outcome": "deterioration",
            "value": 1,
            "time": NOW.isoformat(),
        },
        {
            "event_id": "o2",
            "patient_id": "unknown",
            "outcome": "deterioration",
            "value": 1,
            "time": NOW.isoformat(),
        },
        {
            "event_id": "o3",
            "patient_id": "pt2",
            "outcome": "deterioration",
            "value": 2,
            "time": NOW.isoformat(),
        },
    ]
    response = _post(api, deployment, "outcomes", _ndjson(outcomes), "application/x-ndjson")
    assert response.json()["accepted"] == 2
    assert response.json()["rejected"][0]["row"] == 3
    feedback = {
        "event_id": "f1",
        "prediction_event_id": "p1",
        "action": "overridden",
        "reason": "already on ICU",
        "time": NOW.isoformat(),
    }
    clinician = _post(
        api,
        deployment,
        "feedback",
        json.dumps(feedback).encode(),
        "application/json",
        role=Role.CLINICIAN,
    )
    assert clinician.json()["accepted"] == 1
    missing = dict(feedback, event_id="f2", prediction_event_id="nope")
    refused = _post(api, deployment, "feedback", json.dumps(missing).encode(), "application/json")
    assert refused.status_code == 422
    assert "nope" in refused.json()["detail"]
    with api.sessions() as session:
        stored = session.execute(select(PredictionEvent.event_id, PredictionEvent.label))
        labels = {row.event_id: row.label for row in stored}
        assert labels == {"p1": 1, "p2": None, "p3": None}
        assert session.scalar(select(func.count()).select_from(OutcomeEvent)) == 2
        actions = set(session.scalars(select(AuditEvent.action)))
        assert {
            "surveillance.predictions_ingested",
            "surveillance.outcomes_ingested",
            "surveillance.feedback_ingested",
        } <= actions


def test_roles_of_the_deployment_endpoints(api: Api, deployment: uuid.UUID) -> None:
    tool = api.call("GET", f"/deployments/{deployment}", Role.VIEWER).json()["tool_id"]
    body = json.dumps(_prediction(1)).encode()
    endpoints = {
        ("POST", f"/tools/{tool}/deployments"): ("deployments:create", {"json": {}}),
        ("GET", f"/deployments/{deployment}"): ("deployments:read", {}),
        ("POST", f"/deployments/{deployment}/predictions"): ("deployments:ingest", {}),
        ("POST", f"/deployments/{deployment}/outcomes"): ("deployments:ingest", {}),
        ("POST", f"/deployments/{deployment}/feedback"): ("deployments:feedback", {}),
    }
    for (method, path), (permission, kwargs) in endpoints.items():
        for role in Role:
            extra = dict(kwargs)
            if method == "POST" and "json" not in extra:
                extra |= {"content": body, "headers": {"Content-Type": "text/plain"}}
            response = api.call(method, path, role, **extra)
            denied = response.status_code == 403
            assert denied == (role not in PERMISSIONS[permission]), (path, role, response.text)
            assert response.status_code < 500
