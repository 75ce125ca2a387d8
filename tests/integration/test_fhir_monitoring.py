"""Opted-out patients never reach monitoring; FHIR predictions and outcomes stored for a
deployment; its logged outputs exported with AI-Provenance; the model card's monitoring status."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from steward.cli.main import app
from steward.db.session import StewardSession, unit_of_work
from steward.integration.optout_register import opted_out_among, register_opt_outs
from steward.integration.optouts import OptOut
from steward.registry.models import Deployment, ToolVersion
from steward.surveillance.ingest import ingest_outcomes, ingest_predictions
from steward.surveillance.models import OutcomeEvent, PredictionEvent
from steward.surveillance.rows import OutcomeRow, PredictionRow
from surveillance.ingest._support import ACTOR, T0, make_deployment

FIXTURE = Path(__file__).parent / "fixtures" / "synthea_transaction_bundle.json"
P1 = "8f789d0b-3145-4cf2-8504-13159edaa747"
P2 = "2b0c4c5e-5c43-4d22-9b4a-6a0b1e7d1c11"
SEPSIS = "http://snomed.info/sct|91302008"
runner = CliRunner()


def _prediction(i: int, patient: str) -> PredictionRow:
    return PredictionRow(f"e{i}", patient, T0 + timedelta(hours=i), 0.1 * (i % 10), f"enc{i}")


def test_ingestion_leaves_out_opted_out_patients(sessions: sessionmaker[StewardSession]) -> None:
    deployment = make_deployment(sessions)
    with unit_of_work(sessions, ACTOR) as session:
        register_opt_outs(session, [OptOut("pt-out", "test")])
        assert opted_out_among(session, ["pt-out", "pt-in", " pt-out "]) == {"pt-out", " pt-out "}
        rows = [_prediction(1, "pt-in"), _prediction(2, "pt-out"), _prediction(3, "pt-in")]
        bad = PredictionRow("e4", "pt-in", T0, 1.5)
        report = ingest_predictions(session, deployment, [*rows, bad])
        outcome = OutcomeRow("o1", "pt-out", "deterioration", 1, T0 + timedelta(hours=3))
        outcomes = ingest_outcomes(session, deployment, [outcome])
    assert (report.accepted, report.opted_out) == (2, 1)
    assert [r.row for r in report.rejected] == [4]  # numbers still count the left-out row
    assert (outcomes.accepted, outcomes.opted_out) == (0, 1)
    with sessions() as session:
        stored = set(session.scalars(select(PredictionEvent.patient_id)))
        assert stored == {"pt-in"}
        assert session.scalar(select(OutcomeEvent.event_id)) is None


def _tool_of(sessions: sessionmaker[StewardSession], deployment: uuid.UUID) -> str:
    with sessions() as session:
        version_id = session.get_one(Deployment, deployment).version_id
        return str(session.get_one(ToolVersion, version_id).tool_id)


def test_fhir_import_for_a_deployment_then_export_and_model_card(
    db_url: str, sessions: sessionmaker[StewardSession], tmp_path: Path
) -> None:
    deployment = make_deployment(sessions)
    env = {"STEWARD_DATABASE_URL": db_url}
    args = ["fhir", "import", str(FIXTURE), "--deployment", str(deployment)]
    args += ["--outcome-code", SEPSIS]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert "stored: 2 prediction(s) for deployment" in result.output
    assert "stored: 1 outcome(s) for deployment" in result.output
    assert "not the deployment's outcome: 4 resource(s)" in result.output
    assert "left out: 1 prediction/outcome row(s) of opted-out patients" in result.output
    with sessions() as session:
        events = session.execute(
            select(PredictionEvent.event_id, PredictionEvent.patient_id, PredictionEvent.label)
        ).all()
        outcome = session.execute(select(OutcomeEvent.outcome, OutcomeEvent.value)).one()
    assert {e.patient_id for e in events} == {P1}
    assert sorted(e.event_id for e in events)[0].startswith("RiskAssessment/")
    assert tuple(outcome) == ("deterioration", 1)
    # the sepsis condition lies within 48 hours of both predictions of the same encounter
    assert {e.label for e in events} == {1}
    again = runner.invoke(app, args, env=env)
    assert "stored: 0 prediction(s)" in again.output
    assert "(2 already stored)" in again.output

    tool = _tool_of(sessions, deployment)
    out = tmp_path / "tool.json"
    exported = runner.invoke(app, ["fhir", "export", tool, "-o", str(out)], env=env)
    assert exported.exit_code == 0, exported.output
    assert "and 2 logged output(s) with provenance" in exported.output
    document = json.loads(out.read_text())
    assert json.loads(Bundle.model_validate(document).model_dump_json()) == document
    resources = [e["resource"] for e in document["entry"]]
    outputs = [r for r in resources if r["resourceType"] == "RiskAssessment"]
    provenances = [r for r in resources if r["resourceType"] == "Provenance"]
    assert [o["prediction"][0]["probabilityDecimal"] for o in outputs] == [0.31, 0.62]
    assert all(o["meta"]["security"][0]["code"] == "AIAST" for o in outputs)
    assert all(o["subject"] == {"reference": f"Patient/{P1}"} for o in outputs)
    assert [p["target"][0]["reference"] for p in provenances] == [
        f"RiskAssessment/{o['id']}" for o in outputs
    ]

    card = runner.invoke(
        app, ["export", "model-card", tool, "--format", "chai-xml"], env=env
    ).stdout
    ns = "{https://mc.chai.org/v0.2/schema.xsd}"
    maintenance = ET.fromstring(card).findtext(
        f"{ns}TrustIngredients/{ns}AISystemFacts/{ns}OngoingMaintenance"
    )
    assert maintenance is not None
    assert "Local monitoring: Monitored at 1 deployment(s) (Ward 1): 2 predictions logged" in (
        maintenance
    )
    assert "2 with outcomes; no monitor has run yet; unresolved alerts: none." in maintenance


def test_ingestion_refusals_name_the_fhir_path(
    db_url: str, sessions: sessionmaker[StewardSession], tmp_path: Path
) -> None:
    deployment = make_deployment(sessions)
    bundle: dict[str, Any] = json.loads(FIXTURE.read_text())
    bundle["entry"][7]["resource"]["occurrenceDateTime"] = "2099-01-01T00:00:00Z"
    del bundle["entry"][6]["resource"]["id"]
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle))
    args = ["fhir", "import", str(path), "--deployment", str(deployment)]
    result = runner.invoke(app, args, env={"STEWARD_DATABASE_URL": db_url})
    assert result.exit_code == 1
    assert "rejected Bundle.entry[6].resource.id: a stored prediction needs its id" in result.output
    assert "rejected Bundle.entry[7].resource: time 2099-01-01" in result.output
    assert "stored: 0 prediction(s)" in result.output


def _cells(sessions: sessionmaker[StewardSession], deployment: uuid.UUID) -> dict[Any, Any]:
    from steward.surveillance.models import ScoreCell

    with sessions() as session:
        cells = session.scalars(select(ScoreCell).where(ScoreCell.deployment_id == deployment))
        return {
            (c.grain, c.window_start, c.dim, c.level, c.bin, c.label): (c.n, round(c.sum_p, 9))
            for c in cells
            if abs(c.n) > 1e-9
        }


def test_registering_an_opt_out_removes_stored_monitoring_data(
    sessions: sessionmaker[StewardSession],
) -> None:
    from steward.audit.models import AuditEvent

    kept = [_prediction(i, f"pt{i % 3}") for i in range(1, 12)]
    leaving = [_prediction(i, "pt-out") for i in range(20, 26)]
    outcome = OutcomeRow("o1", "pt-out", "deterioration", 1, T0 + timedelta(hours=21), "enc20")
    both = make_deployment(sessions)
    only_kept = make_deployment(sessions)
    with unit_of_work(sessions, ACTOR) as session:
        ingest_predictions(session, both, [*kept, *leaving])
        ingest_outcomes(session, both, [outcome])
        ingest_predictions(session, only_kept, kept)
    assert _cells(sessions, both) != _cells(sessions, only_kept)
    with unit_of_work(sessions, ACTOR) as session:
        outcome_of_register = register_opt_outs(session, [OptOut("pt-out", "test")])
    assert outcome_of_register.removed_predictions == len(leaving)
    assert outcome_of_register.removed_outcomes == 1
    assert _cells(sessions, both) == _cells(sessions, only_kept)
    with sessions() as session:
        assert set(session.scalars(select(PredictionEvent.patient_id))) == {"pt0", "pt1", "pt2"}
        assert session.scalar(select(OutcomeEvent.event_id)) is None
        removal = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "surveillance.opted_out_removed")
        ).one()
    assert removal.entity_id == str(both)
    assert removal.after == {"predictions": len(leaving)}
