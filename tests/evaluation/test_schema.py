"""The published JSON Schema of the result document stays true to the code."""

import json
from pathlib import Path

from steward.evaluation.schema import SCHEMA_FILE, schema_text

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_published_schema_matches_the_result_model() -> None:
    committed = (SCHEMAS / SCHEMA_FILE).read_text(encoding="utf-8")
    assert committed == schema_text(), (
        "schemas/evaluation-result.schema.json is out of date: regenerate it with "
        "`uv run python -m steward.evaluation.schema`"
    )


def test_schema_names_the_interface_fields() -> None:
    schema = json.loads(schema_text())
    required = set(schema["required"])
    assert {
        "n",
        "n_events",
        "prevalence",
        "metrics",
        "thresholds",
        "subgroups",
        "comparator",
        "sample_size",
        "verdict",
        "excluded",
    } <= required
