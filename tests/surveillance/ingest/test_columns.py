"""The column path of bulk prediction ingestion answers and stores exactly what the row-by-row
semantics give: an oracle reads the same body with the row reader (``parsing.parse_body``),
checks each row with ``rows.check_prediction`` and tracks duplicates by content, and the API's
answer and the stored rows must match it, for NDJSON, CSV and Parquet bodies full of awkward
rows, sent twice over (duplicates and conflicts inside one body and across bodies)."""

from __future__ import annotations

import io
import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from steward.surveillance.batch import Batch, batch_of_rows, cleaned, parse_times
from steward.surveillance.bulk import read_predictions
from steward.surveillance.encode import fingerprints
from steward.surveillance.models import PredictionEvent
from steward.surveillance.parsing import CSV_TYPE, NDJSON_TYPE, PARQUET_TYPE, parse_body
from steward.surveillance.rows import (
    PredictionRow,
    check_prediction,
    clean_features,
    clean_subgroups,
)

from ._support import Api

NOW = datetime.now(UTC).replace(microsecond=0)
SCALARS = ("event_id", "patient_id", "encounter_id", "card_id", "tool_version", "time", "score")


def _t(hours: float, spelling: str = "iso") -> str:
    moment = NOW - timedelta(hours=hours)
    if spelling == "z":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if spelling == "naive":
        return moment.replace(tzinfo=None).isoformat()
    if spelling == "space":
        return moment.strftime("%Y-%m-%d %H:%M:%S+00:00")
    if spelling == "india":
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "+05:30"
    return moment.isoformat()


def _row(event: str, patient: str = "pt1", **extra: Any) -> dict[str, Any]:
    return {"event_id": event, "patient_id": patient, "time": _t(5), "score": 0.25} | extra


def first_body() -> list[dict[str, Any]]:
    long = "x" * 201
    return [
        _row(
            "a1",
            encounter_id="e1",
            card_id="card-1",
            tool_version="1.0",
            features={"heart_rate": 80.5, "resp_rate": 16.0},
            subgroups={"sex": "F", "ethnicity": "Asian"},
        ),
        _row("a2", "pt2"),
        _row("a3", score=1.3),
        _row("a4", ""),
        _row("   "),
        _row("a\x1fb"),
        _row("a5", time=(NOW + timedelta(days=3)).isoformat()),
        _row("a6", time=_t(7, "naive")),
        _row("a7", time=_t(8, "india")),
        _row("a8", time=_t(9, "z")),
        _row("a9", time="2026-02-30T10:00:00"),
        _row("a10", time=_t(10, "space")),
        _row("a11", time=_t(11)[:19] + ".123+00:00"),
        _row("a12", tool_version="2.0"),
        _row("a13", features={"heart_rate": None, "resp_rate": 12.0}),
        _row("a14", subgroups={"sex": " M ", "ethnicity": "  "}),
        _row(
            "a1",
            encounter_id="e1",
            card_id="card-1",
            tool_version="1.0",
            time=_t(5, "z"),
            features={"resp_rate": 16.0, "heart_rate": 80.5},
            subgroups={"ethnicity": "Asian", "sex": "F"},
        ),
        _row("a2", "pt2", score=0.75),
        _row(" a15", " pt15"),
        _row("a16", "pt-é", encounter_id="enc-ü"),
        _row("a17", long),
        _row("a18", subgroups={"sex": long}),
        _row("a19", time="1899-12-31T23:00:00+00:00"),
        _row("a20", score=None),
        _row("a21", encounter_id=""),
        _row("a22", score=0.0, features={"heart_rate": -1e-300, "resp_rate": 1e300}),
        _row("a23", time=_t(12)[:19] + ".1234567+00:00"),
        _row("a24", time="2026-01-05T24:00:00+00:00"),
        _row("a25", time="2026-01-05T10:00:00+24:00"),
    ]


def second_body() -> list[dict[str, Any]]:
    body = first_body()
    return [
        body[0],  # stored: a duplicate
        _row("a2", "pt2", score=0.5),  # stored with 0.25: a conflict
        _row("a6", time=_t(7)),  # the same instant spelt with its offset: a duplicate
        _row("b1", "pt3", features={"resp_rate": 20.0}),
        _row("b1", "pt3", features={"resp_rate": 20.0}),
        _row("b2", "pt4", subgroups={"sex": "M"}),
        _row("a3", score=0.3),  # refused before: now new
    ]


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


def _flat(rows: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    features = sorted({k for r in rows for k in (r.get("features") or {})})
    subgroups = sorted({k for r in rows for k in (r.get("subgroups") or {})})
    names = [*SCALARS, *(f"feature.{k}" for k in features), *(f"subgroup.{k}" for k in subgroups)]
    flat = []
    for r in rows:
        record = {k: r.get(k) for k in SCALARS}
        record |= {f"feature.{k}": (r.get("features") or {}).get(k) for k in features}
        record |= {f"subgroup.{k}": (r.get("subgroups") or {}).get(k) for k in subgroups}
        flat.append(record)
    return names, flat


def csv_body(rows: list[dict[str, Any]]) -> bytes:
    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            return '"' + value.replace('"', '""') + '"'
        return repr(value)

    names, flat = _flat(rows)
    lines = [",".join(names)] + [",".join(cell(r[n]) for n in names) for r in flat]
    return "\n".join(lines).encode()


def parquet_body(rows: list[dict[str, Any]]) -> bytes:
    names, flat = _flat(rows)
    columns = {}
    for n in names:
        kind = pa.float64() if n == "score" or n.startswith("feature.") else pa.string()
        columns[n] = pa.array([r[n] for r in flat], kind)
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


Content = tuple[Any, ...]


def content_of(row: PredictionRow) -> Content:
    features = clean_features(row.features)
    subgroups = clean_subgroups(row.subgroups)
    return (
        row.patient_id,
        row.encounter_id,
        row.card_id,
        row.tool_version,
        row.time.timestamp(),
        float(row.score),
        tuple(sorted((features or {}).items())),
        tuple(sorted((subgroups or {}).items())),
    )


@dataclass
class Oracle:
    """The row-by-row semantics: what each body should be answered, what should be stored."""

    stored: dict[str, Content] = field(default_factory=dict)

    def send(self, media: str, body: bytes, now: datetime) -> dict[str, Any]:
        parsed = parse_body("predictions", media, body)
        rejected: list[dict[str, Any]] = [{"row": r.row, "error": r.error} for r in parsed.rejected]
        accepted = duplicates = 0
        seen: dict[str, tuple[int, Content]] = {}
        for number, row in zip(parsed.numbers, parsed.rows, strict=True):
            problem = check_prediction(row, now)
            if problem is None and row.tool_version not in (None, "1.0"):
                problem = f"tool_version {row.tool_version!r} is not the deployed '1.0'"
            if problem is not None:
                rejected.append({"row": number, "error": problem})
                continue
            content = content_of(row)
            used = "event_id {!r} was already used by {} with different content"
            if row.event_id in seen:
                first, known = seen[row.event_id]
                if known == content:
                    duplicates += 1
                else:
                    rejected.append(
                        {"row": number, "error": used.format(row.event_id, f"row {first}")}
                    )
                continue
            seen[row.event_id] = (number, content)
        for event_id, (number, content) in seen.items():
            if event_id not in self.stored:
                self.stored[event_id] = content
                accepted += 1
            elif self.stored[event_id] == content:
                duplicates += 1
            else:
                other = "an event already stored"
                rejected.append({"row": number, "error": used.format(event_id, other)})
        rejected.sort(key=lambda r: r["row"])
        return {
            "accepted": accepted,
            "duplicates": duplicates,
            "opted_out": 0,
            "rejected": rejected,
        }


def stored_contents(api: Api, deployment: uuid.UUID) -> dict[str, Content]:
    with api.sessions() as session:
        events = session.scalars(
            select(PredictionEvent).where(PredictionEvent.deployment_id == deployment)
        ).all()
        return {
            e.event_id: (
                e.patient_id,
                e.encounter_id,
                e.card_id,
                e.tool_version,
                e.predicted_at.timestamp(),
                e.score,
                tuple(sorted((e.features or {}).items())),
                tuple(sorted((e.subgroups or {}).items())),
            )
            for e in events
        }


def _post(api: Api, deployment: uuid.UUID, body: bytes, media: str) -> Any:
    from steward.auth.roles import Role

    response = api.call(
        "POST",
        f"/deployments/{deployment}/predictions",
        Role.DATA_SCIENTIST,
        content=body,
        headers={"Content-Type": media},
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("media", "encode"),
    [(NDJSON_TYPE, ndjson), (CSV_TYPE, csv_body), (PARQUET_TYPE, parquet_body)],
    ids=["ndjson", "csv", "parquet"],
)
def test_the_column_path_answers_and_stores_as_row_by_row(
    api: Api, deployment: uuid.UUID, media: str, encode: Any
) -> None:
    oracle = Oracle()
    for rows in (first_body(), second_body()):
        body = encode(rows)
        assert read_predictions(media, body) is not None, "the body should take the column path"
        answer = _post(api, deployment, body, media)
        expected = oracle.send(media, body, datetime.now(UTC))
        assert answer == expected
    assert stored_contents(api, deployment) == oracle.stored
    assert len(oracle.stored) == 17


def test_bodies_the_column_reader_cannot_take_are_read_row_by_row(
    api: Api, deployment: uuid.UUID
) -> None:
    rows = [
        *first_body()[:3],
        {"event_id": 7, "patient_id": "pt7", "time": _t(1), "score": 0.5},  # a number as id
        {"event_id": "c8", "patient_id": "pt8", "time": _t(1), "score": "0.5"},
        {"event_id": "c9", "patient_id": "pt9", "time": _t(1), "score": True},
        {"event_id": "c10", "patient_id": "pt9", "time": _t(1), "score": 0.5, "colour": None},
    ]
    oracle = Oracle()
    for body in (ndjson(rows), ndjson(rows[:2]) + b"\r\n" + ndjson(rows[2:]), b"\n" + ndjson(rows)):
        assert read_predictions(NDJSON_TYPE, body) is None
        assert _post(api, deployment, body, NDJSON_TYPE) == oracle.send(
            NDJSON_TYPE, body, datetime.now(UTC)
        )
    assert stored_contents(api, deployment) == oracle.stored


TIMES = [
    "2026-01-05T10:00:00",
    "2026-01-05T10:00:00Z",
    "2026-01-05T10:00:00+01:00",
    "2026-01-05T10:00:00-09:30",
    "2026-01-05T10:00:00.5+00:00",
    "2026-01-05T10:00:00.000001",
    "2024-02-29T23:59:59.999999-23:59",
    "2023-02-29T10:00:00",
    "2026-13-01T10:00:00",
    "2026-01-05T25:00:00",
    "2026-01-05T10:60:00",
    "2026-01-05T10:00:61",
    "2026-01-05T10:00:00+24:00",
    "2026-01-05T10:00:00+05:60",
    "2026-01-05 10:00:00",
    "2026-01-05",
    "20260105T100000",
    "2026-01-05T10:00:00.1234567",
    "",
    "later",
]


@pytest.mark.parametrize("text", TIMES)
def test_times_are_read_as_fromisoformat_reads_them_or_left_to_it(text: str) -> None:
    odd = np.zeros(1, np.bool_)
    micros = parse_times(pa.array([text]), odd)
    if odd[0]:
        return  # left to the row reader
    moment = datetime.fromisoformat(text)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    assert micros[0] == (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert text in TIMES[:7]


def _batch(rows: list[PredictionRow]) -> Batch:
    return cleaned(batch_of_rows(rows, list(range(1, len(rows) + 1))))


def test_fingerprints_follow_content_not_spelling() -> None:
    at = datetime(2026, 1, 5, 10, tzinfo=UTC)
    same = [
        PredictionRow("a", "p", at, 0.5, features={"x": 1.0, "y": None}, subgroups={"s": " F "}),
        PredictionRow(
            "b", "p", at.astimezone(), 0.5, features={"x": 1}, subgroups={"s": "F", "t": ""}
        ),
    ]
    other = [
        PredictionRow("c", "p", at, 0.5, features={"x": 1.0}, subgroups={"s": "F "[:1] + "x"}),
        PredictionRow("d", "p", at, 0.5, features={"x": 1.0}),
        PredictionRow("e", "p", at, 0.5, features={"y": 1.0}, subgroups={"s": "F"}),
        PredictionRow(
            "f", "p", at, 0.5, encounter_id="", features={"x": 1.0}, subgroups={"s": "F"}
        ),
        PredictionRow(
            "g", "p", at, math.nextafter(0.5, 1), features={"x": 1.0}, subgroups={"s": "F"}
        ),
        PredictionRow(
            "h", "p", at + timedelta(microseconds=1), 0.5, features={"x": 1.0}, subgroups={"s": "F"}
        ),
        PredictionRow("i", "p", at, 0.5, features={"x": 1.0}, subgroups={"t": "F"}),
    ]
    digests = fingerprints(_batch(same + other))
    assert digests[0] == digests[1]
    assert len(set(digests[1:])) == len(digests) - 1
