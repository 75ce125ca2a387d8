"""The opt-out register: files of ids, FHIR Consents, the command line, the API and the audit trail;
and every evaluation leaving out the opted-out patients' rows."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from registry._support import ACTOR, Api
from steward.audit.models import AuditEvent
from steward.auth.roles import Role
from steward.cli.main import app
from steward.db.session import StewardSession, unit_of_work
from steward.errors import InputError
from steward.evaluation.run import evaluate
from steward.evaluation.spec import spec_from_mapping
from steward.integration.optout_register import (
    PatientOptOut,
    opted_out_digests,
    register_opt_outs,
)
from steward.integration.optouts import (
    OptOut,
    PatientExclusion,
    digests_of,
    parse_id_lines,
    patient_digest,
)
from steward.synthetic import DEMO_COLUMNS, generate

runner = CliRunner()


def test_id_lists_plain_csv_and_errors_with_line_numbers() -> None:
    assert [o.patient_id for o in parse_id_lines("a\n\n b \n", "ids.txt")] == ["a", "b"]
    csv_text = "site,patient_id\nnorth,p1\nsouth,p2\n"
    assert [o.patient_id for o in parse_id_lines(csv_text, "ids.csv")] == ["p1", "p2"]
    with pytest.raises(InputError, match=r"ids.csv line 3: .*identifier column is missing"):
        parse_id_lines("site,patient_id\nnorth,p1\nsouth\n", "ids.csv")
    with pytest.raises(InputError, match="line 1: a file with several columns needs a header"):
        parse_id_lines("p1,north\n", "ids.csv")
    with pytest.raises(InputError, match="line 2: the patient identifier is empty"):
        parse_id_lines("patient_id,site\n ,north\n", "ids.csv")
    with pytest.raises(InputError, match="holds no patient identifiers"):
        parse_id_lines("patient_id\n", "ids.csv")


def test_digest_is_sha256_of_the_trimmed_identifier() -> None:
    assert patient_digest(" p1 ") == hashlib.sha256(b"p1").hexdigest()


def test_register_keeps_digests_only_and_audits_them(
    sessions: sessionmaker[StewardSession],
) -> None:
    with unit_of_work(sessions, ACTOR) as session:
        first = register_opt_outs(session, [OptOut("p1", "test"), OptOut("p2", "test")])
    with unit_of_work(sessions, ACTOR) as session:
        again = register_opt_outs(session, [OptOut("p2", "test"), OptOut(" p3", "test")])
    assert (first.added, first.already_registered) == (2, 0)
    assert (again.added, again.already_registered) == (1, 1)
    with sessions() as session:
        assert opted_out_digests(session) == digests_of(["p1", "p2", "p3"])
        events = list(
            session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "patient_opt_outs"))
        )
        rows = list(session.scalars(select(PatientOptOut)))
    assert len(events) == 3
    assert all(e.action == "patient_opt_outs.created" and e.actor == ACTOR.actor for e in events)
    stored = json.dumps([e.after for e in events]) + " ".join(r.digest for r in rows)
    assert "p1" not in stored.replace(patient_digest("p1"), "")
    assert patient_digest("p1") in stored


def _consent(consent_id: str, patient: str, kind: str = "deny", status: str = "active") -> Any:
    return {
        "resourceType": "Consent",
        "id": consent_id,
        "status": status,
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient}"},
        "dateTime": "2026-03-01T09:30:00Z",
        "provision": {"type": kind},
    }


def test_command_line_imports_files_and_fhir_consents(db_url: str, tmp_path: Path) -> None:
    env = {"STEWARD_DATABASE_URL": db_url}
    ids = tmp_path / "opt-outs.csv"
    ids.write_text("patient_id\np1\np2\n")
    result = runner.invoke(app, ["optouts", "import", str(ids)], env=env)
    assert result.exit_code == 0, result.output
    assert "registered 2 opted-out patient(s)" in result.output
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": _consent("c1", "p2")},
            {"resource": _consent("c2", "p9")},
            {"resource": _consent("c3", "p10", kind="permit")},
            {"resource": _consent("c4", "p11", status="inactive")},
        ],
    }
    consents = tmp_path / "consents.json"
    consents.write_text(json.dumps(bundle))
    result = runner.invoke(app, ["optouts", "import", str(consents)], env=env)
    assert result.exit_code == 0, result.output
    assert "registered 1 opted-out patient(s)" in result.output
    assert "(1 already registered); the register holds 3" in result.output
    bundle["entry"].append({"resource": {**_consent("c5", "p12"), "dateTime": "March"}})
    consents.write_text(json.dumps(bundle))
    result = runner.invoke(app, ["optouts", "import", str(consents)], env=env)
    assert result.exit_code == 2
    assert "Bundle.entry[4].resource.dateTime" in result.output
    count = runner.invoke(app, ["optouts", "count"], env=env)
    assert count.output.strip() == "3 opted-out patient(s) registered"


def test_api_registers_with_permission_and_field_paths(api: Api) -> None:
    body = {"patient_ids": ["p1", "p2", "p1"], "source": "ward request"}
    response = api.call("POST", "/opt-outs", Role.IG_DPO, json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "added": 2,
        "already_registered": 1,
        "registered": 2,
        "removed_predictions": 0,
        "removed_outcomes": 0,
    }
    bad = api.call("POST", "/opt-outs", Role.IG_DPO, json={"patient_ids": ["ok", "  "]})
    assert bad.status_code == 422
    assert "patient_ids[1]" in bad.text
    assert api.call("POST", "/opt-outs", Role.CLINICIAN, json=body).status_code == 403
    listed = api.call("GET", "/opt-outs", Role.CLINICIAN)
    assert listed.json() == {"registered": 2}
    with api.sessions() as session:
        sources = list(session.scalars(select(PatientOptOut.source)))
    assert all(s.startswith("ward request (token:") for s in sources)


@pytest.fixture(scope="module")
def predictions() -> pd.DataFrame:
    return generate(6_000, seed=3).to_pandas()


def _spec() -> Any:
    c = DEMO_COLUMNS
    return spec_from_mapping(
        {
            "columns": {
                "score": c["score"],
                "label": c["label"],
                "patient": c["patient"],
                "groups": ["sex"],
            },
            "thresholds": [0.2],
            "bootstrap": {"replicates": 0},
        },
        origin="test",
    )


def test_evaluation_leaves_out_opted_out_patients(predictions: pd.DataFrame) -> None:
    patient = DEMO_COLUMNS["patient"]
    opted = sorted(predictions[patient].astype(str).unique())[:40]
    exclusion = PatientExclusion("a test list", digests_of(opted))
    result = evaluate(predictions, _spec(), opt_outs=exclusion)
    kept = predictions[~predictions[patient].astype(str).isin(opted)].reset_index(drop=True)
    expected = evaluate(kept, _spec())
    n_opted = int(predictions[patient].astype(str).isin(opted).sum())
    assert n_opted > 0
    assert result.excluded["opted_out"] == n_opted
    assert result.opt_outs.model_dump() == {
        "applied": True,
        "source": "a test list",
        "patients": 40,
        "rows_excluded": n_opted,
    }
    assert result.data.rows_read == len(predictions)
    assert result.n == expected.n
    assert result.metrics == expected.metrics
    assert result.subgroups == expected.subgroups
    plain = evaluate(predictions, _spec())
    assert plain.opt_outs.applied is False
    assert plain.excluded["opted_out"] == 0


def test_evaluate_command_applies_the_register(
    db_url: str, tmp_path: Path, predictions: pd.DataFrame
) -> None:
    data = tmp_path / "predictions.csv"
    predictions.to_csv(data, index=False)
    patient = DEMO_COLUMNS["patient"]
    opted = sorted(predictions[patient].astype(str).unique())[:25]
    (tmp_path / "ids.txt").write_text("\n".join(opted) + "\n")
    env = {"STEWARD_DATABASE_URL": db_url}
    assert (
        runner.invoke(app, ["optouts", "import", str(tmp_path / "ids.txt")], env=env).exit_code == 0
    )
    c = DEMO_COLUMNS
    args = ["evaluate", str(data), "--score", c["score"], "--label", c["label"]]
    args += ["--patient", patient, "--bootstrap", "0", "--opt-outs", "register"]
    args += ["--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html")]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "r.json").read_text())
    n_opted = int(predictions[patient].astype(str).isin(opted).sum())
    assert document["excluded"]["opted_out"] == n_opted
    assert document["opt_outs"]["source"] == "the opt-out register"
    html = (tmp_path / "r.html").read_text()
    assert "Patient opted out (25 patients listed, from the opt-out register)" in html
    assert f"{n_opted:,}" in html
    assert "opted out" in result.output


def test_evaluate_opt_outs_need_a_patient_column(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("p,y\n0.1,0\n0.9,1\n")
    (tmp_path / "ids.txt").write_text("p1\n")
    args = ["evaluate", str(data), "--score", "p", "--label", "y", "--quiet"]
    result = runner.invoke(app, [*args, "--opt-outs", str(tmp_path / "ids.txt")])
    assert result.exit_code == 2
    assert "patient column" in result.output


def test_workbench_runs_apply_the_register(
    sessions: sessionmaker[StewardSession], tmp_path: Path, predictions: pd.DataFrame
) -> None:
    from steward.registry.kinds import OrganisationKind
    from steward.registry.organisations import create_organisation
    from steward.workbench.models import EvaluationRun
    from steward.workbench.runs import execute, request_run
    from steward.workbench.uploads import store_upload

    patient = DEMO_COLUMNS["patient"]
    opted = sorted(predictions[patient].astype(str).unique())[:30]
    data = tmp_path / "scores.csv"
    predictions.to_csv(data, index=False)
    spec = {
        "columns": {"score": DEMO_COLUMNS["score"], "label": DEMO_COLUMNS["label"]},
        "bootstrap": {"replicates": 0},
    }
    with unit_of_work(sessions, ACTOR) as session:
        register_opt_outs(session, [OptOut(p, "test") for p in opted])
        organisation = create_organisation(session, "rxa", "Riverside", OrganisationKind.TRUST)
        with data.open("rb") as stream:
            upload = store_upload(session, tmp_path, organisation, "scores.csv", stream, 10**8)
        with_patient = request_run(
            session,
            upload,
            {**spec, "columns": {**spec["columns"], "patient": patient}},
            None,
            None,
        )
        without = request_run(session, upload, spec, None, None)
    for run in (with_patient, without):
        execute(sessions, tmp_path, run.id, ACTOR)
    with sessions() as session:
        applied = session.get_one(EvaluationRun, with_patient.id).result
        plain = session.get_one(EvaluationRun, without.id).result
    n_opted = int(predictions[patient].astype(str).isin(opted).sum())
    assert applied["opt_outs"] == {
        "applied": True,
        "source": "the opt-out register",
        "patients": 30,
        "rows_excluded": n_opted,
    }
    assert applied["excluded"]["opted_out"] == n_opted
    assert plain["opt_outs"]["applied"] is False
