"""FHIR R4 import: a Synthea-style transaction bundle, bad resources reported by path, the CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from steward.cli.main import app
from steward.errors import InputError
from steward.integration.fhir.read import read_fhir, read_fhir_file

FIXTURE = Path(__file__).parent / "fixtures" / "synthea_transaction_bundle.json"
P1 = "8f789d0b-3145-4cf2-8504-13159edaa747"
P2 = "2b0c4c5e-5c43-4d22-9b4a-6a0b1e7d1c11"
runner = CliRunner()


def _bundle() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(FIXTURE.read_text())
    return document


def test_synthea_bundle_maps_to_rows() -> None:
    batch = read_fhir_file(FIXTURE)
    assert batch.rejected == []
    assert dict(batch.skipped) == {"Patient": 2, "Organization": 1, "Practitioner": 1, "Claim": 1}
    scores = [(p.patient_id, p.score, p.predicted_at.isoformat()) for p in batch.predictions]
    assert scores == [
        (P1, 0.31, "2025-02-03T12:00:00+00:00"),
        (P1, 0.62, "2025-02-04T12:00:00+00:00"),
        (P2, 0.07, "2025-03-12T00:00:00+00:00"),
    ]
    first = batch.predictions[0]
    assert first.model == "Deterioration Score 2.1"
    assert first.outcome == "http://snomed.info/sct|91302008"
    assert first.encounter_id == "e88bfc7c-1f4b-4b7a-9f3e-2f5a6d6e0a01"
    kinds = [(o.resource_type, o.patient_id, o.code) for o in batch.outcomes]
    assert ("Condition", P1, "http://snomed.info/sct|91302008") in kinds
    assert ("Observation", P2, "http://loinc.org|8310-5") in kinds
    assert ("Encounter", P1, "http://snomed.info/sct|183452005") in kinds
    sepsis = next(o for o in batch.outcomes if o.resource_type == "Condition")
    assert sepsis.encounter_id == first.encounter_id
    assert sepsis.occurred_at is not None
    assert sepsis.occurred_at.isoformat().startswith("2025-02-05")
    assert [(o.patient_id, str(o.opted_out_at)) for o in batch.opt_outs] == [
        (P2, "2025-01-20 09:00:00+00:00")
    ]


def test_bad_resources_are_reported_with_paths_and_the_rest_imported() -> None:
    bundle = _bundle()
    entries = bundle["entry"]
    entries[6]["resource"]["prediction"][0]["probabilityDecimal"] = 1.7
    entries[7]["resource"]["occurrenceDateTime"] = "yesterday"
    entries[10]["resource"]["subject"] = {"reference": "Practitioner/x"}
    del entries[11]["resource"]["status"]
    entries.append({"fullUrl": "urn:uuid:0"})
    entries.append({"resource": {"resourceType": "NotAResource", "id": "n"}})
    batch = read_fhir(bundle, "bad.json")
    paths = {r.path: r.reason for r in batch.rejected}
    assert "Bundle.entry[6].resource.prediction[0].probabilityDecimal" in paths
    assert (
        "1.7 is not between 0 and 1"
        in paths["Bundle.entry[6].resource.prediction[0].probabilityDecimal"]
    )
    assert "Bundle.entry[7].resource.occurrenceDateTime" in paths
    assert "does not name a Patient" in paths["Bundle.entry[10].resource.subject"]
    assert "Bundle.entry[11].resource.status" in paths
    assert "Bundle.entry[14].resource" in paths
    assert "Bundle.entry[15].resource" in paths
    assert [p.score for p in batch.predictions] == [0.07]
    assert len(batch.outcomes) == 3
    assert len(batch.opt_outs) == 1


def test_single_resources_and_nested_bundles() -> None:
    risk = copy.deepcopy(_bundle()["entry"][8]["resource"])
    risk["subject"] = {"reference": "Patient/abc"}
    batch = read_fhir(risk)
    assert [(p.patient_id, p.score) for p in batch.predictions] == [("abc", 0.07)]
    outer = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {**_bundle(), "type": "collection"}}],
    }
    batch = read_fhir(outer)
    assert len(batch.predictions) == 3
    del outer["entry"][0]["resource"]["entry"][6]["resource"]["status"]
    batch = read_fhir(outer)
    assert [r.path for r in batch.rejected] == ["Bundle.entry[0].resource.entry[6].resource.status"]


def test_files_that_are_not_fhir_are_input_errors(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{not json")
    with pytest.raises(InputError, match=r"a.json is not JSON: .* line 1"):
        read_fhir_file(tmp_path / "a.json")
    (tmp_path / "b.json").write_text('{"hello": 1}')
    with pytest.raises(InputError, match="has no resourceType"):
        read_fhir_file(tmp_path / "b.json")
    with pytest.raises(InputError, match="no such file"):
        read_fhir_file(tmp_path / "missing.json")


def test_import_command_stores_opt_outs_and_leaves_out_their_rows(
    db_url: str, tmp_path: Path
) -> None:
    env = {"STEWARD_DATABASE_URL": db_url}
    result = runner.invoke(app, ["fhir", "import", str(FIXTURE)], env=env)
    assert result.exit_code == 0, result.output
    assert "stored: 1 opt-out(s) registered (0 already registered)" in result.output
    # the opted-out patient's prediction and two outcomes (encounter, temperature)
    assert "left out: 3 prediction/outcome row(s) of opted-out patients" in result.output
    assert "skipped (not used by Steward): 1 Claim, 1 Organization" in result.output
    assert runner.invoke(app, ["optouts", "count"], env=env).output.startswith("1 ")
    bundle = _bundle()
    bundle["entry"][6]["resource"]["prediction"][0]["probabilityDecimal"] = 1.7
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bundle))
    result = runner.invoke(app, ["fhir", "import", str(bad)], env=env)
    assert result.exit_code == 1
    assert "rejected Bundle.entry[6].resource.prediction[0].probabilityDecimal" in result.output
    assert "(1 already registered)" in result.output
    (tmp_path / "c.json").write_text("[]")
    result = runner.invoke(app, ["fhir", "import", str(tmp_path / "c.json")], env=env)
    assert result.exit_code == 2
    assert "not a FHIR resource" in result.output
