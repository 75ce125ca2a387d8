"""Request bodies of the ingestion endpoints turned into rows: one JSON object, or NDJSON, CSV
or Parquet in bulk. A row that cannot be read is reported with its number and the reason; the
others go on to the ingestion service.

Row numbers count from 1: the line of an NDJSON body, the record (after the header) of a CSV
file, the row of a Parquet file. In CSV and Parquet, input features and subgroup attributes are
columns named ``feature.NAME`` and ``subgroup.NAME``; in JSON they are the objects ``features``
and ``subgroups``. Times are ISO 8601; a time without an offset is taken as UTC.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from steward.registry.errors import invalid
from steward.surveillance.rows import FeedbackRow, OutcomeRow, PredictionRow, RejectedRow

Kind = Literal["predictions", "outcomes", "feedback"]
JSON_TYPE = "application/json"
NDJSON_TYPE = "application/x-ndjson"
CSV_TYPE = "text/csv"
PARQUET_TYPE = "application/vnd.apache.parquet"
MEDIA_TYPES = (JSON_TYPE, NDJSON_TYPE, CSV_TYPE, PARQUET_TYPE)
FEATURE, SUBGROUP = "feature.", "subgroup."

FIELDS: dict[str, tuple[str, ...]] = {
    "predictions": (
        "event_id",
        "patient_id",
        "encounter_id",
        "card_id",
        "tool_version",
        "time",
        "score",
        "features",
        "subgroups",
    ),
    "outcomes": ("event_id", "patient_id", "encounter_id", "outcome", "value", "time"),
    "feedback": ("event_id", "prediction_event_id", "card_id", "action", "reason", "time"),
}


class RowError(ValueError):
    """A field of one row cannot be read."""


@dataclass
class Parsed:
    """Rows read from a body, their numbers, and the rows that could not be read."""

    single: bool
    rows: list[Any] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)


def media_type(content_type: str | None) -> str | None:
    """The bare media type of a Content-Type header (parameters dropped), if it is accepted."""
    bare = (content_type or "").split(";", 1)[0].strip().lower()
    if bare in ("application/parquet", "application/x-parquet"):
        return PARQUET_TYPE
    return bare if bare in MEDIA_TYPES else None


def parse_body(kind: Kind, media: str, body: bytes) -> Parsed:
    """Read ``body`` (of accepted ``media`` type) into rows of ``kind``.

    Raises InvalidInputError when the body as a whole cannot be read (not JSON, a CSV with a
    column that is no field, an unreadable Parquet file).
    """
    build = _BUILDERS[kind]
    if media == JSON_TYPE:
        return _single(kind, build, body)
    parsed = Parsed(single=False)
    for number, record in _records(kind, media, body):
        try:
            if isinstance(record, RowError):
                raise record
            parsed.rows.append(build(record))
            parsed.numbers.append(number)
        except RowError as problem:
            parsed.rejected.append(RejectedRow(number, str(problem)))
    return parsed


def _single(kind: Kind, build: Callable[[dict[str, Any]], Any], body: bytes) -> Parsed:
    try:
        record = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise invalid("body", "the body is not valid JSON") from None
    if not isinstance(record, dict):
        raise invalid(
            "body", f"send one JSON object, or many as {NDJSON_TYPE}, {CSV_TYPE} or {PARQUET_TYPE}"
        )
    parsed = Parsed(single=True)
    try:
        parsed.rows.append(build(checked_keys(kind, record)))
        parsed.numbers.append(1)
    except RowError as problem:
        parsed.rejected.append(RejectedRow(1, str(problem)))
    return parsed


def checked_keys(kind: Kind, record: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(record) - set(FIELDS[kind]))
    if unknown:
        raise RowError(f"unknown field {unknown[0]!r}; the fields are {', '.join(FIELDS[kind])}")
    return record


def _records(kind: Kind, media: str, body: bytes) -> Iterator[tuple[int, Any]]:
    if media == NDJSON_TYPE:
        yield from _ndjson(kind, body)
    elif media == CSV_TYPE:
        yield from _table(kind, read_csv(body))
    else:
        yield from _table(kind, read_parquet(body))


def _ndjson(kind: Kind, body: bytes) -> Iterator[tuple[int, Any]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("body", "the NDJSON body is not UTF-8 text") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            yield number, RowError("the line is not valid JSON")
            continue
        if not isinstance(record, dict):
            yield number, RowError("the line is not a JSON object")
            continue
        try:
            yield number, checked_keys(kind, record)
        except RowError as problem:
            yield number, problem


def read_csv(body: bytes) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        header = next(iter(body.splitlines()), b"").decode("utf-8-sig")
        names = next(iter(csv.reader([header])), [])
        table = pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(use_threads=False),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        raise invalid("body", f"the CSV body cannot be read: {error}") from None
    return table


def read_parquet(body: bytes) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(pa.BufferReader(body))
    except (pa.ArrowException, OSError) as error:
        raise invalid("body", f"the Parquet body cannot be read: {error}") from None


def check_columns(kind: Kind, table: Any) -> tuple[list[str], list[str]]:
    """The feature.* and subgroup.* columns of a CSV or Parquet table; InvalidInputError for a
    column that is no field."""
    fields = set(FIELDS[kind]) - {"features", "subgroups"}
    nested = kind == "predictions"
    for name in table.column_names:
        if name in fields or (nested and name.startswith((FEATURE, SUBGROUP))):
            continue
        extra = " (or feature.NAME, subgroup.NAME)" if nested else ""
        raise invalid(
            "body", f"column {name!r} is not a field; the fields are {', '.join(fields)}{extra}"
        )
    features = [n for n in table.column_names if n.startswith(FEATURE)] if nested else []
    subgroups = [n for n in table.column_names if n.startswith(SUBGROUP)] if nested else []
    return features, subgroups


def nest(record: dict[str, Any], features: list[str], subgroups: list[str]) -> dict[str, Any]:
    """A table record with its feature.* and subgroup.* columns as ``features``/``subgroups``."""
    record["features"] = {n[len(FEATURE) :]: record.pop(n) for n in features} or None
    record["subgroups"] = {n[len(SUBGROUP) :]: record.pop(n) for n in subgroups} or None
    return record


def _table(kind: Kind, table: Any) -> Iterator[tuple[int, Any]]:
    """Records of a CSV or Parquet table, with feature.* / subgroup.* columns nested."""
    features, subgroups = check_columns(kind, table)
    for number, record in enumerate(table.to_pylist(), start=1):
        if kind == "predictions":
            record = nest(record, features, subgroups)
        yield number, record


def _text(record: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = record.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RowError(f"{name} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowError(f"{name} must be text")
    return str(value)


def _float(name: str, value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise RowError(f"{name} must be a number, not true/false")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise RowError(f"{name} must be a number, not {value[:40]!r}") from None
    else:
        raise RowError(f"{name} must be a number")
    if not math.isfinite(number):
        raise RowError(f"{name} must be a finite number")
    return number


def _time(record: dict[str, Any]) -> datetime:
    value = record.get("time")
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise RowError(f"time {value[:40]!r} is not an ISO 8601 timestamp") from None
    elif isinstance(value, date):
        raise RowError("time must be a timestamp, not a date")
    else:
        raise RowError("time is required")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _mapping(record: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RowError(f"{name} must be an object of name: value")
    return value


def prediction_of(record: dict[str, Any]) -> PredictionRow:
    score = _float("score", record.get("score"))
    if score is None:
        raise RowError("score is required")
    features = _mapping(record, "features")
    subgroups = _mapping(record, "subgroups")
    return PredictionRow(
        event_id=str(_text(record, "event_id")),
        patient_id=str(_text(record, "patient_id")),
        time=_time(record),
        score=score,
        encounter_id=_text(record, "encounter_id", required=False),
        tool_version=_text(record, "tool_version", required=False),
        card_id=_text(record, "card_id", required=False),
        features=None
        if features is None
        else {k: _float(f"features.{k}", v) for k, v in features.items()},
        subgroups=None
        if subgroups is None
        else {k: None if v is None else _subgroup(k, v) for k, v in subgroups.items()},
    )


def _subgroup(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowError(f"subgroups.{name} must be text")
    return str(value)


def outcome_of(record: dict[str, Any]) -> OutcomeRow:
    value = _float("value", record.get("value"))
    if value is None:
        raise RowError("value is required")
    if value not in (0.0, 1.0):
        raise RowError(f"value must be 0 or 1, not {value!r}")
    return OutcomeRow(
        event_id=str(_text(record, "event_id")),
        patient_id=str(_text(record, "patient_id")),
        outcome=str(_text(record, "outcome")),
        value=int(value),
        time=_time(record),
        encounter_id=_text(record, "encounter_id", required=False),
    )


def feedback_of(record: dict[str, Any]) -> FeedbackRow:
    return FeedbackRow(
        event_id=str(_text(record, "event_id")),
        action=str(_text(record, "action")).strip().lower(),
        time=_time(record),
        prediction_event_id=_text(record, "prediction_event_id", required=False),
        card_id=_text(record, "card_id", required=False),
        reason=_text(record, "reason", required=False) or "",
    )


_BUILDERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "predictions": prediction_of,
    "outcomes": outcome_of,
    "feedback": feedback_of,
}
