"""Bulk bodies of predictions (NDJSON, CSV, Parquet) read as columns for the column path.

A body is read into one Arrow table; rows the vectorised check cannot vouch for are read again
one by one exactly as ``parsing`` reads every row (the NDJSON line with ``json.loads``, the CSV or
Parquet record as a dict), so their errors and values are the row path's. A body the column
reader cannot take as a whole (a line that is not a JSON object, a value of another type than
its column's, unusual line breaks...) returns None: the caller reads it row by row instead.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson

from steward.surveillance.batch import Batch, IntArray, UnsupportedColumnError, batch_of_table
from steward.surveillance.parsing import (
    CSV_TYPE,
    FEATURE,
    FIELDS,
    NDJSON_TYPE,
    PARQUET_TYPE,
    SUBGROUP,
    RowError,
    check_columns,
    checked_keys,
    nest,
    prediction_of,
    read_csv,
    read_parquet,
)
from steward.surveillance.predictions import Numbered, SlowRows
from steward.surveillance.rows import RejectedRow

#: Line breaks other than LF that ``str.splitlines`` honours: a body with any goes row by row.
_OTHER_BREAKS = (b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\xc2\x85", b"\xe2\x80\xa8")
_SCALARS = pa.schema(
    [
        pa.field("event_id", pa.string()),
        pa.field("patient_id", pa.string()),
        pa.field("encounter_id", pa.string()),
        pa.field("card_id", pa.string()),
        pa.field("tool_version", pa.string()),
        pa.field("time", pa.string()),
        pa.field("score", pa.float64()),
    ]
)


def read_predictions(media: str, body: bytes) -> tuple[Batch, SlowRows] | None:
    """The columns of a bulk body of predictions and the row-by-row reader of its rows, or None
    when the body must be read row by row. Raises InvalidInputError as ``parsing`` does for a
    CSV or Parquet body that cannot be read or has a column that is no field."""
    try:
        if media == NDJSON_TYPE:
            return _ndjson(body)
        if media in (CSV_TYPE, PARQUET_TYPE):
            table = read_csv(body) if media == CSV_TYPE else read_parquet(body)
            return _table(table)
    except (UnsupportedColumnError, pa.ArrowException, KeyError, UnicodeDecodeError):
        return None
    return None


def _table(table: pa.Table) -> tuple[Batch, SlowRows] | None:
    features, subgroups = check_columns("predictions", table)
    if len(set(table.column_names)) != len(table.column_names):
        return None
    batch = batch_of_table(
        table,
        {n[len(FEATURE) :]: n for n in features},
        {n[len(SUBGROUP) :]: n for n in subgroups},
    )

    def slow(positions: IntArray) -> tuple[list[Numbered], list[RejectedRow]]:
        records = table.take(pa.array(positions, pa.int64())).to_pylist()
        return _built(
            (p + 1, nest(r, features, subgroups))
            for p, r in zip(positions.tolist(), records, strict=True)
        )

    return batch, slow


def _ndjson(body: bytes) -> tuple[Batch, SlowRows] | None:
    body.decode("utf-8")  # a body that is not UTF-8 is refused as a whole, by the row path
    if body.startswith((b"\n", b"\xef\xbb\xbf")) or b"\n\n" in body:
        return None
    if any(mark in body for mark in (*_OTHER_BREAKS, b"\xe2\x80\xa9")):
        return None
    table = pajson.read_json(
        io.BytesIO(body),
        read_options=pajson.ReadOptions(use_threads=False, block_size=max(len(body), 1 << 20)),
        parse_options=pajson.ParseOptions(
            explicit_schema=_SCALARS, unexpected_field_behavior="infer"
        ),
    )
    lines = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
    if table.num_rows != lines or not set(table.column_names) <= set(FIELDS["predictions"]):
        return None
    columns: dict[str, Any] = {
        name: table[name] for name in table.column_names if name not in ("features", "subgroups")
    }
    features = _nested(table, "features", FEATURE, columns)
    subgroups = _nested(table, "subgroups", SUBGROUP, columns)
    batch = batch_of_table(pa.table(columns), features, subgroups)
    texts = body.split(b"\n")

    def slow(positions: IntArray) -> tuple[list[Numbered], list[RejectedRow]]:
        return _built((p + 1, _line(texts[p])) for p in positions.tolist())

    return batch, slow


def _nested(table: pa.Table, name: str, prefix: str, columns: dict[str, Any]) -> dict[str, str]:
    """Flatten the object column ``name`` into ``columns`` as ``prefix + key``; returns
    ``{key: column name}``."""
    if name not in table.column_names:
        return {}
    column = table[name].combine_chunks()
    if pa.types.is_null(column.type):
        return {}
    if not pa.types.is_struct(column.type):
        raise UnsupportedColumnError(f"{name} of type {column.type}")
    found: dict[str, str] = {}
    # flatten() folds the object's own nulls (``"features": null``) into every child
    for field, child in zip(column.type, column.flatten(), strict=True):
        found[field.name] = prefix + field.name
        columns[prefix + field.name] = child
    return found


def _line(text: bytes) -> dict[str, Any] | RowError:
    """One NDJSON line read as ``parsing`` reads it."""
    try:
        record = json.loads(text.decode("utf-8"))
    except ValueError:
        return RowError("the line is not valid JSON")
    if not isinstance(record, dict):
        return RowError("the line is not a JSON object")
    try:
        return checked_keys("predictions", record)
    except RowError as problem:
        return problem


def _built(records: Any) -> tuple[list[Numbered], list[RejectedRow]]:
    """Rows of ``(number, record)`` built as ``parsing`` builds them (position = number - 1)."""
    rows: list[Numbered] = []
    rejected: list[RejectedRow] = []
    for number, record in records:
        try:
            if isinstance(record, RowError):
                raise record
            rows.append((number - 1, number, prediction_of(record)))
        except RowError as problem:
            rejected.append(RejectedRow(number, str(problem)))
    return rows, rejected
