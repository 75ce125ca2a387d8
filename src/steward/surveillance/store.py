"""Bulk database access of surveillance: chunked look-ups, multi-row inserts and additive upserts
of window cells. SQLite uses SQLAlchemy Core ``executemany`` with ``ON CONFLICT``; PostgreSQL
streams rows with ``COPY`` (into the table, or into a temporary table merged with one
``INSERT ... ON CONFLICT DO UPDATE``), which is what makes bulk ingestion fast there. Score cells
are read back for the monitors as numpy columns (``read_score_cells``)."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from numpy.typing import NDArray
from psycopg import sql as psql
from sqlalchemy import JSON, ColumnElement, String, Table, any_, bindparam, case, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from steward.cube.model import STATS
from steward.surveillance.cells import Deltas
from steward.surveillance.models import FeatureCell, FeedbackCell, ScoreCell
from steward.surveillance.rows import SEPARATOR

#: Key of an event row holding its JSON columns already encoded (``{column: text}``).
JSON_TEXT = "__json_text"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
#: Identifiers per ``IN (...)`` look-up (SQLite allows 32,766 bound parameters per statement).
CHUNK = 5_000


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def among(session: Session, column: Any, values: Sequence[str]) -> Iterator[ColumnElement[bool]]:
    """Conditions ``column IN values``, one per chunk.

    On PostgreSQL one text parameter split on the server (``= ANY(string_to_array(...))``):
    binding 20,000 separate parameters, or an array of them, costs the client more than the
    look-up costs the server. Identifiers never contain the separator (rows.check_* refuse it).
    """
    if _postgres(session):
        for part in chunks(values, 100_000):
            joined = bindparam(None, SEPARATOR.join(part), type_=String())
            yield column == any_(func.string_to_array(joined, SEPARATOR))
        return
    for part in chunks(values):
        yield column.in_(part)


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _arrow(values: Any) -> pa.Array:
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, np.ndarray) and values.dtype != object:
        return pa.array(values)
    items = values.tolist() if isinstance(values, np.ndarray) else list(values)
    if items and isinstance(items[0], uuid.UUID):
        items = [str(v) for v in items]
    if items and isinstance(items[0], datetime):
        # pyarrow converts aware datetimes one by one through their zone (slow): exact integer
        # microseconds since the epoch instead
        micros = [(t - EPOCH) // MICROSECOND for t in items]
        return pa.array(micros, pa.int64()).cast(pa.timestamp("us", "UTC"))
    return pa.array(items)


def _copy(session: Session, name: str, columns: dict[str, Any]) -> None:
    """Stream columns into table ``name`` with PostgreSQL ``COPY ... (FORMAT csv)``.

    pyarrow writes the CSV in one call (strings quoted, so an empty string stays one; a missing
    value is an unquoted empty field, which COPY reads as NULL).
    """
    table = pa.table({k: _arrow(v) for k, v in columns.items()})
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
    raw: Any = session.connection().connection.dbapi_connection
    statement = f"COPY {name} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(buffer.getvalue())


def _event_columns(table: Table, rows: list[dict[str, Any]]) -> dict[str, Any]:
    encoded = {c.name for c in table.columns if isinstance(c.type, JSON)}
    columns: dict[str, Any] = {}
    for column in table.columns:
        name = column.name
        if name in encoded and JSON_TEXT in rows[0]:
            columns[name] = [row[JSON_TEXT][name] for row in rows]
        elif name in encoded:
            columns[name] = [None if row[name] is None else json.dumps(row[name]) for row in rows]
        else:
            columns[name] = [row[name] for row in rows]
    return columns


def dialect_insert(session: Session, table: Table) -> Any:
    """The dialect's INSERT construct (with ``on_conflict_do_*``) for the session's database."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def stored_digests(
    session: Session, table: Table, deployment_id: uuid.UUID, event_ids: Sequence[str]
) -> dict[str, str]:
    """``event_id -> digest`` of the events of ``event_ids`` already stored."""
    found: dict[str, str] = {}
    for condition in among(session, table.c.event_id, list(event_ids)):
        rows = session.execute(
            select(table.c.event_id, table.c.digest).where(
                table.c.deployment_id == deployment_id, condition
            )
        )
        found.update((str(r[0]), str(r[1])) for r in rows)
    return found


def insert_new(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows known to be new; a row stored meanwhile is skipped rather than failing."""
    if not rows:
        return
    if _postgres(session):
        # the caller holds the writers' lock and has checked the event ids: all rows are new
        _copy(session, table.name, _event_columns(table, rows))
        return
    statement = dialect_insert(session, table).on_conflict_do_nothing(
        index_elements=["deployment_id", "event_id"]
    )
    session.execute(statement, [{k: v for k, v in r.items() if k != JSON_TEXT} for r in rows])


def insert_columns(session: Session, table: Table, columns: dict[str, Any]) -> None:
    """Insert rows known to be new, given as columns (Arrow arrays or numpy arrays; JSON
    columns as their encoded text)."""
    if _postgres(session):
        # the caller holds the writers' lock and has checked the event ids: all rows are new
        _copy(session, table.name, columns)
        return
    encoded = {c.name for c in table.columns if isinstance(c.type, JSON)}
    values = {name: _arrow(column).to_pylist() for name, column in columns.items()}
    for name in encoded & set(values):
        values[name] = [None if v is None else json.loads(v) for v in values[name]]
    if "deployment_id" in values:
        values["deployment_id"] = [uuid.UUID(v) for v in values["deployment_id"]]
    names = list(values)
    rows = [dict(zip(names, row, strict=True)) for row in zip(*values.values(), strict=True)]
    statement = dialect_insert(session, table).on_conflict_do_nothing(
        index_elements=["deployment_id", "event_id"]
    )
    session.execute(statement, rows)


def _add_cells(
    session: Session,
    table: Table,
    keys: Sequence[str],
    values: Sequence[str],
    deployment_id: uuid.UUID,
    deltas: Deltas,
) -> None:
    if not deltas.size:
        return
    if _postgres(session):
        _merge_postgres(session, table, keys, values, deployment_id, deltas.columns())
        return
    batch = [dict(row, deployment_id=deployment_id) for row in deltas.rows()]
    statement = dialect_insert(session, table)
    count = table.c[values[0]]
    total = count + statement.excluded[values[0]]
    # sums of a cell whose count returns to zero are reset, so rounding never leaves residue
    updates = {values[0]: total}
    updates |= {
        name: case((total == 0, 0.0), else_=table.c[name] + statement.excluded[name])
        for name in values[1:]
    }
    statement = statement.on_conflict_do_update(index_elements=list(keys), set_=updates)
    session.execute(statement, batch)


def _merge_postgres(
    session: Session,
    table: Table,
    keys: Sequence[str],
    values: Sequence[str],
    deployment_id: uuid.UUID,
    columns: dict[str, Any],
) -> None:
    """Add cell deltas: staged with a binary ``COPY`` of numbers only (text as codes into
    arrays bound once, dates as epoch days), merged with one ``INSERT ... ON CONFLICT``."""
    staging = f"staging_{uuid.uuid4().hex[:12]}"
    staged: dict[str, NDArray[Any]] = {}
    selected = ["CAST(:deployment AS uuid)"]
    params: dict[str, Any] = {"deployment": str(deployment_id)}
    for name, column in columns.items():
        if column.dtype == object:
            encoded = pa.array(column, pa.string()).dictionary_encode()
            staged[name] = np.asarray(encoded.indices, np.int64) + 1
            params[f"levels_{name}"] = encoded.dictionary.to_pylist()
            selected.append(f"(CAST(:levels_{name} AS text[]))[s.{name}]")
        elif np.issubdtype(column.dtype, np.datetime64):
            staged[name] = column.astype("datetime64[D]").astype(np.int64)
            selected.append(f"DATE '1970-01-01' + CAST(s.{name} AS integer)")
        else:
            staged[name] = column
            selected.append(f"s.{name}")
    kinds = ", ".join(
        f"{k} {'float8' if v.dtype.kind == 'f' else 'int8'}" for k, v in staged.items()
    )
    session.execute(text(f"CREATE TEMPORARY TABLE {staging} ({kinds}) ON COMMIT DROP"))
    _copy_binary(session, staging, staged)
    total = f"{table.name}.{values[0]} + EXCLUDED.{values[0]}"
    updates = [f"{values[0]} = {total}"] + [
        f"{v} = CASE WHEN {total} = 0 THEN 0 ELSE {table.name}.{v} + EXCLUDED.{v} END"
        for v in values[1:]
    ]
    session.execute(
        text(
            f"INSERT INTO {table.name} (deployment_id, {', '.join(columns)}) "
            f"SELECT {', '.join(selected)} FROM {staging} AS s "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(updates)}"
        ),
        params,
    )
    session.execute(text(f"DROP TABLE {staging}"))


#: Signature, flags and header extension of PostgreSQL's binary COPY format.
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)


def _copy_binary(session: Session, name: str, columns: dict[str, NDArray[Any]]) -> None:
    """Stream int64 / float64 columns into table ``name`` with ``COPY ... (FORMAT binary)``,
    each tuple laid out by one numpy record type (big-endian, no padding)."""
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for i, column in enumerate(columns.values()):
        fields += [(f"size{i}", ">i4"), (f"value{i}", ">f8" if column.dtype.kind == "f" else ">i8")]
    size = len(next(iter(columns.values())))
    tuples = np.empty(size, np.dtype(fields))
    tuples["count"] = len(columns)
    for i, column in enumerate(columns.values()):
        tuples[f"size{i}"] = 8
        tuples[f"value{i}"] = column
    raw: Any = session.connection().connection.dbapi_connection
    statement = f"COPY {name} ({', '.join(columns)}) FROM STDIN WITH (FORMAT binary)"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(_BINARY_HEADER + tuples.tobytes() + b"\xff\xff")


@dataclass(frozen=True)
class CellColumns:
    """Score cells as columns: window (days since 1970-01-01), group (index into ``groups``,
    the cell's subgroup dimension and level), bin, label and the STATS as ``stats[:, j]``."""

    days: NDArray[np.int64]
    group: NDArray[np.int64]
    groups: list[tuple[str, str]]
    bins: NDArray[np.int64]
    labels: NDArray[np.int64]
    stats: NDArray[np.float64]


def read_score_cells(
    session: Session, deployment_id: uuid.UUID, grain: str, start: date, end: date
) -> CellColumns:
    """The score cells of one grain's windows starting in ``[start, end)``, as columns.

    A monitor run reads every daily window of the history (hundreds of thousands of cells), so
    cells do not become Python objects one by one: PostgreSQL packs each window and level's
    cells into one bytea of 8-byte numbers, and SQLite's rows (numbers only, the dimension and
    level as the index of their pair) go from its cursor straight into one record array.
    """
    if _postgres(session):
        return _read_cells_postgres(session, deployment_id, grain, start, end)
    return _read_cells_sqlite(session, deployment_id, grain, start, end)


def _read_cells_sqlite(
    session: Session, deployment_id: uuid.UUID, grain: str, start: date, end: date
) -> CellColumns:
    raw: Any = session.connection().connection.dbapi_connection
    where = "{t}deployment_id = ? AND {t}grain = ? AND {t}window_start >= ? AND {t}window_start < ?"
    params = (deployment_id.hex, grain, start.isoformat(), end.isoformat())
    sql = f"SELECT DISTINCT dim, level FROM surveillance_score_cells WHERE {where.format(t='')}"
    groups = [(str(d), str(lv)) for d, lv in raw.execute(sql, params).fetchall()]
    if not groups:
        return _no_cells()
    # numbers only, each row straight from the cursor into one record array
    numbered = ", ".join("(?, ?, ?)" for _ in groups)
    cursor = raw.execute(
        f"WITH k(dim, level, i) AS (VALUES {numbered}) "
        "SELECT CAST(julianday(c.window_start) - 2440587.5 AS INTEGER), k.i, c.bin, c.label, "
        f"{', '.join('c.' + name for name in STATS)} FROM surveillance_score_cells AS c "
        "JOIN k ON c.dim = k.dim AND c.level = k.level WHERE " + where.format(t="c."),
        [v for i, (d, lv) in enumerate(groups) for v in (d, lv, i)] + list(params),
    )
    names = ["day", "group", "bin", "label", *STATS]
    record = np.dtype([(name, "i8" if i < 4 else "f8") for i, name in enumerate(names)])
    cells = np.fromiter(cursor, record)
    return CellColumns(
        days=cells["day"],
        group=cells["group"],
        groups=groups,
        bins=cells["bin"],
        labels=cells["label"],
        stats=np.column_stack([cells[name] for name in STATS]),
    )


def _no_cells() -> CellColumns:
    empty = np.zeros(0, np.int64)
    return CellColumns(empty, empty, [], empty, empty, np.zeros((0, len(STATS))))


def _read_cells_postgres(
    session: Session, deployment_id: uuid.UUID, grain: str, start: date, end: date
) -> CellColumns:
    # one row per window and subgroup level, its cells packed into one bytea of big-endian
    # 8-byte numbers (in the primary key's order, so the index scan feeds the grouping)
    packed = psql.SQL(" || ").join(
        [
            psql.SQL("int8send(CAST(bin AS int8))"),
            psql.SQL("int8send(CAST(label AS int8))"),
            *(psql.SQL("float8send(") + psql.Identifier(name) + psql.SQL(")") for name in STATS),
        ]
    )
    query = psql.SQL(
        "SELECT CAST(window_start - DATE '1970-01-01' AS int8), dim, level, "
        "string_agg({packed}, ''::bytea) FROM surveillance_score_cells "
        "WHERE deployment_id = {d} AND grain = {g} AND window_start >= {a} AND window_start < {b} "
        "GROUP BY window_start, dim, level"
    ).format(
        packed=packed,
        d=psql.Literal(str(deployment_id)),
        g=psql.Literal(grain),
        a=psql.Literal(start),
        b=psql.Literal(end),
    )
    raw: Any = session.connection().connection.dbapi_connection
    with raw.cursor(binary=True) as cursor:
        cursor.execute(query)
        rows = cursor.fetchall()
    if not rows:
        return _no_cells()
    names = ["bin", "label", *STATS]
    record = np.dtype([(name, ">i8" if i < 2 else ">f8") for i, name in enumerate(names)])
    codes: dict[tuple[str, str], int] = {}
    group = [codes.setdefault((str(dim), str(level)), len(codes)) for _, dim, level, _ in rows]
    sizes = [len(blob) // record.itemsize for *_, blob in rows]
    cells = np.frombuffer(b"".join(bytes(blob) for *_, blob in rows), record)
    return CellColumns(
        days=np.repeat(np.asarray([row[0] for row in rows], np.int64), sizes),
        group=np.repeat(np.asarray(group, np.int64), sizes),
        groups=list(codes),
        bins=cells["bin"].astype(np.int64),
        labels=cells["label"].astype(np.int64),
        stats=np.column_stack([cells[name].astype(np.float64) for name in STATS]),
    )


SCORE_KEYS = ("deployment_id", "grain", "window_start", "dim", "level", "bin", "label")
FEATURE_KEYS = ("deployment_id", "grain", "window_start", "feature", "bin")
FEEDBACK_KEYS = ("deployment_id", "grain", "window_start", "dim", "level")


def add_score_cells(session: Session, deployment_id: uuid.UUID, deltas: Deltas) -> None:
    """Add score-cell deltas (from :func:`steward.surveillance.cells.score_deltas`)."""
    table = ScoreCell.__table__
    assert isinstance(table, Table)
    _add_cells(session, table, SCORE_KEYS, STATS, deployment_id, deltas)


def add_feature_cells(session: Session, deployment_id: uuid.UUID, deltas: Deltas) -> None:
    table = FeatureCell.__table__
    assert isinstance(table, Table)
    _add_cells(session, table, FEATURE_KEYS, ("n",), deployment_id, deltas)


def add_feedback_cells(session: Session, deployment_id: uuid.UUID, deltas: Deltas) -> None:
    table = FeedbackCell.__table__
    assert isinstance(table, Table)
    _add_cells(session, table, FEEDBACK_KEYS, ("n", "overridden"), deployment_id, deltas)


__all__ = [
    "CellColumns",
    "add_feature_cells",
    "add_feedback_cells",
    "add_score_cells",
    "chunks",
    "insert_columns",
    "insert_new",
    "read_score_cells",
    "stored_digests",
]
