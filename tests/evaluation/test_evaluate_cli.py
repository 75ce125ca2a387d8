"""`steward evaluate` end to end: real files in, a schema-valid document checked against sklearn."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score
from typer.testing import CliRunner

from steward.cli.main import app
from steward.evaluation.schema import schema_text
from steward.synthetic import DEMO_COLUMNS, generate

runner = CliRunner()
ROWS = 30_000


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate(ROWS, seed=11).to_pandas()


@pytest.fixture(scope="module")
def parquet_file(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("data") / "predictions.parquet"
    pq.write_table(generate(ROWS, seed=11), path)
    return path


def _run(*args: str) -> Any:
    return runner.invoke(app, ["evaluate", *args], catch_exceptions=False)


def _full_args(data: Path, out: Path) -> list[str]:
    c = DEMO_COLUMNS
    args = [str(data), "--score", c["score"], "--label", c["label"]]
    for group in ("sex", "ethnicity", "site"):
        args += ["--group", group]
    args += ["--comparator", c["comparator"], "--time", c["time"]]
    args += ["--threshold", "0.1", "--threshold", "0.2", "--bootstrap", "200", "--quiet"]
    args += ["--criterion", "auroc.ci_low >= 0.70", "--criterion", "abs(citl) <= 0.05"]
    args += ["--json", str(out / "result.json"), "--html", str(out / "report.html")]
    return args


@pytest.fixture(scope="module")
def document(parquet_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("out")
    result = _run(*_full_args(parquet_file, out))
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads((out / "result.json").read_text())
    doc["_html"] = (out / "report.html").read_text()
    return doc


def test_document_follows_the_published_schema(document: dict[str, Any]) -> None:
    body = {k: v for k, v in document.items() if not k.startswith("_")}
    jsonschema.validate(body, json.loads(schema_text()))


def test_counts_and_exclusions_match_the_rows(
    document: dict[str, Any], frame: pd.DataFrame
) -> None:
    scored = frame[frame["risk_score"].notna()]
    labelled = scored[scored["deteriorated"].notna()]
    assert document["n"] == len(labelled)
    assert document["n_events"] == int(labelled["deteriorated"].sum())
    assert document["excluded"]["missing_score"] == int(frame["risk_score"].isna().sum())
    assert document["excluded"]["missing_label"] == int(scored["deteriorated"].isna().sum())


def test_headline_metrics_agree_with_scikit_learn(
    document: dict[str, Any], frame: pd.DataFrame
) -> None:
    rows = frame.dropna(subset=["risk_score", "deteriorated"])
    y, p = rows["deteriorated"].to_numpy(), rows["risk_score"].to_numpy()
    auroc = document["metrics"]["auroc"]
    assert abs(auroc["value"] - roc_auc_score(y, p)) <= document["auroc_binning_bound"] + 1e-12
    assert auroc["ci_low"] < auroc["value"] < auroc["ci_high"]
    assert document["metrics"]["brier"]["value"] == pytest.approx(brier_score_loss(y, p), rel=1e-9)
    assert document["metrics"]["oe_ratio"]["value"] == pytest.approx(y.sum() / p.sum(), rel=1e-9)
    for row in document["thresholds"]:
        flagged = p >= row["threshold"]
        assert row["tp"] == int((flagged & (y == 1)).sum())
        assert row["sensitivity"]["value"] == pytest.approx((flagged & (y == 1)).sum() / y.sum())
        assert row["net_benefit"]["ci_low"] is not None  # bootstrap interval present


def test_subgroups_comparator_and_time(document: dict[str, Any], frame: pd.DataFrame) -> None:
    assert set(document["subgroups"]) == {"sex", "ethnicity", "site"}
    assert set(document["subgroups"]["sex"]) == set(frame["sex"].unique())
    rows = frame.dropna(subset=["risk_score", "deteriorated", "clinician_estimate"])
    comparator = document["comparator"]
    assert comparator["n_paired"] == len(rows)
    y = rows["deteriorated"].to_numpy()
    expected = roc_auc_score(y, rows["risk_score"]) - roc_auc_score(y, rows["clinician_estimate"])
    difference = comparator["auroc_difference"]
    assert difference["value"] == pytest.approx(expected, abs=5e-3)  # 256 logit bins per score
    assert difference["ci_low"] < difference["value"] < difference["ci_high"]
    assert len(comparator["net_benefit_difference"]) == 2
    assert document["time_windows"]["levels"]
    assert any(g["column"] == "ethnicity" for g in document["subgroup_gaps"])


def test_verdict_and_report(document: dict[str, Any]) -> None:
    verdict = document["verdict"]
    assert verdict["status"] in {"pass", "fail", "inconclusive"}
    assert [c["criterion"] for c in verdict["criteria"]] == [
        "auroc.ci_low >= 0.7",
        "abs(citl) <= 0.05",
    ]
    assert all(c["evidence"] for c in verdict["criteria"])
    html = document["_html"]
    assert "<svg" in html
    assert "https://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_csv_and_parquet_give_the_same_metrics(parquet_file: Path, tmp_path: Path) -> None:
    csv = tmp_path / "predictions.csv"
    pq.read_table(parquet_file).to_pandas().to_csv(csv, index=False)
    documents = []
    for data in (parquet_file, csv):
        out = tmp_path / data.suffix.strip(".")
        args = [str(data), "--score", "risk_score", "--label", "deteriorated", "--bootstrap", "0"]
        result = _run(*args, "--quiet", "--json", str(out / "r.json"))
        assert result.exit_code == 0, result.output
        documents.append(json.loads((out / "r.json").read_text()))
    assert documents[0]["metrics"] == documents[1]["metrics"]


def _bad(tmp_path: Path, frame: pd.DataFrame, change: Any, *args: str) -> str:
    data = tmp_path / "bad.csv"
    changed = change(frame.head(500).copy())
    if changed is not None:
        changed.to_csv(data, index=False)
    result = _run(str(data), "--score", "risk_score", "--label", "deteriorated", "--quiet", *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


def test_bad_input_is_reported_clearly(tmp_path: Path, frame: pd.DataFrame) -> None:
    def percent(df: pd.DataFrame) -> pd.DataFrame:
        df["risk_score"] = df["risk_score"] * 100
        return df

    message = _bad(tmp_path, frame, percent)
    assert "--score-scale" in message
    assert "row" in message

    def bad_label(df: pd.DataFrame) -> pd.DataFrame:
        df["deteriorated"] = df["deteriorated"].astype("string")
        df.loc[3, "deteriorated"] = "maybe"
        return df

    assert "maybe" in _bad(tmp_path, frame, bad_label)

    def all_positive(df: pd.DataFrame) -> pd.DataFrame:
        df["deteriorated"] = 1
        return df

    assert "no non-events" in _bad(tmp_path, frame, all_positive)

    message = _bad(tmp_path, frame, lambda df: df, "--group", "sexx")
    assert "sexx" in message
    assert "ethnicity" in message  # the available columns are listed

    def one_level(df: pd.DataFrame) -> pd.DataFrame:
        df["site"] = "Northgate"
        return df

    assert "site" in _bad(tmp_path, frame, one_level, "--group", "site")


def test_unreadable_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    picture = tmp_path / "scores.parquet"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    for path in (empty, picture, tmp_path / "missing.csv"):
        result = _run(str(path), "--score", "p", "--label", "y", "--quiet")
        assert result.exit_code == 2, result.output
        assert str(path.name) in result.output


def test_bad_criterion_and_missing_columns_options(parquet_file: Path) -> None:
    result = _run(
        str(parquet_file),
        "--score",
        "risk_score",
        "--label",
        "deteriorated",
        "--criterion",
        "auroc is good",
        "--quiet",
    )
    assert result.exit_code == 2
    assert "could not be read" in result.output
    result = _run(str(parquet_file), "--quiet")
    assert result.exit_code == 2
    assert "--score" in result.output


def test_exit_codes_from_a_real_process(parquet_file: Path, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "steward", "evaluate", str(parquet_file)]
    ok = subprocess.run(
        [*command, "--score", "risk_score", "--label", "deteriorated", "--bootstrap", "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "Verdict" in ok.stdout
    bad = subprocess.run(
        [*command, "--score", "nope", "--label", "deteriorated"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "nope" in bad.stderr
    assert "Traceback" not in bad.stderr
