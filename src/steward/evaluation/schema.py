"""Writes and checks the published JSON Schema of the evaluation result document."""

from __future__ import annotations

import json
from pathlib import Path

from steward.evaluation.result import result_json_schema

SCHEMA_FILE = "evaluation-result.schema.json"


def schema_text() -> str:
    """The schema as committed: sorted keys, two-space indent, trailing newline."""
    return json.dumps(result_json_schema(), indent=2, sort_keys=True) + "\n"


def write_schema(directory: Path) -> Path:
    path = directory / SCHEMA_FILE
    path.write_text(schema_text(), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_schema(Path(__file__).resolve().parents[3] / "schemas"))
