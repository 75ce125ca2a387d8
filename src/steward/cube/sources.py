"""Prediction data sources for the cube: CSV and Parquet files or in-memory tables, read by DuckDB.

A source is opened once (format detected from the file's content, columns listed) and then scanned
by DuckDB without copying it into Python. The numpy pass reads Parquet files and Arrow tables
itself, so :func:`locate_source` finds the format without DuckDB, which is imported only when a
source is described or scanned.
"""

from __future__ import annotations

import codecs
import gzip
import os
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from steward.errors import InputError

if TYPE_CHECKING:
    import duckdb

#: How the values of the score (and comparator) columns map to a probability p in [0, 1]:
#: ``probability`` uses them as they are, ``percent`` divides by 100 and ``logit`` applies
#: the logistic function 1 / (1 + exp(-x)).
ScoreScale: TypeAlias = Literal["probability", "percent", "logit"]

#: A pandas DataFrame, a polars DataFrame or a pyarrow Table (or RecordBatchReader).
InMemoryTable: TypeAlias = Any
#: A path to a CSV or Parquet file, or an in-memory table.
DataLike: TypeAlias = "str | os.PathLike[str] | InMemoryTable"

SourceKind = Literal["csv", "parquet", "table"]

#: Name under which an in-memory table is registered with a DuckDB connection.
TABLE_VIEW = "steward_input"
#: Name of the 1-based data-row number column added by :meth:`DataSource.numbered_sql`.
ROW_NUMBER = "__steward_row"

_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_BYTES = 1 << 16
_OTHER_FORMATS: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one)"),
    (b"\xd0\xcf\x11\xe0", "an Excel .xls workbook or another Office document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"%PDF", "a PDF document"),
    (b"SQLite format 3", "an SQLite database"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file"),
)


@dataclass(frozen=True)
class ColumnMap:
    """Which columns of the data hold what.

    Parameters
    ----------
    score : str
        The model's risk score for each prediction.
    label : str
        The observed outcome: 0/1, true/false, or empty while it is not yet known.
    groups : tuple of str
        Subgroup columns; the cube gets one margin per column.
    comparator : str, optional
        A second score for the same predictions (clinician estimate, current model).
    patient : str, optional
        Patient identifier, for patient-clustered bootstrap replicates.
    time : str, optional
        Prediction timestamp, for time-window margins.
    """

    score: str
    label: str
    groups: tuple[str, ...] = ()
    comparator: str | None = None
    patient: str | None = None
    time: str | None = None

    def used(self) -> tuple[str, ...]:
        """Every column named, in a stable order without repeats."""
        names = [self.score, self.label, *self.groups]
        names += [c for c in (self.comparator, self.patient, self.time) if c is not None]
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class DataSource:
    """A table DuckDB can scan: a CSV or Parquet file, or a registered in-memory table.

    ``name`` is how error messages refer to the data (the path, or "the pandas DataFrame").
    ``columns`` and ``types`` are the columns DuckDB sees, with DuckDB type names; both are empty
    until the source is ``described`` (:func:`open_source` describes, :func:`locate_source` not).
    """

    kind: SourceKind
    name: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    path: Path | None = None
    compression: str | None = None
    table: InMemoryTable = field(default=None, compare=False, repr=False)
    described: bool = False

    @property
    def header_lines(self) -> int:
        """File lines before the first data row (the CSV header), for "line N" in messages."""
        return 1 if self.kind == "csv" else 0

    def column_type(self, column: str) -> str:
        return self.types[self.columns.index(column)]

    def reading_as_text(self, names: tuple[str, ...]) -> DataSource:
        """This source with ``names`` typed VARCHAR, as :meth:`scan_sql` reads them from CSV."""
        if self.kind != "csv":
            return self
        pairs = zip(self.columns, self.types, strict=True)
        types = tuple("VARCHAR" if column in names else kind for column, kind in pairs)
        return replace(self, types=types)

    def require_columns(self, names: tuple[str, ...]) -> None:
        """Raise InputError naming every missing column and listing the available ones."""
        missing = [name for name in names if name not in self.columns]
        if missing:
            listed = ", ".join(repr(c) for c in self.columns)
            what = "column" if len(missing) == 1 else "columns"
            raise InputError(
                f"{self.name} has no {what} {', '.join(repr(m) for m in missing)}; "
                f"the available columns are: {listed}. Check the column names given for the "
                "score, label, groups, comparator, patient and time (names are case-sensitive)."
            )

    def scan_sql(
        self, connection: duckdb.DuckDBPyConnection, text_columns: tuple[str, ...] = ()
    ) -> str:
        """A FROM-clause expression scanning the whole source on ``connection``.

        ``text_columns`` are read from a CSV as text, so a stray value cannot stop the scan and
        is reported by the caller instead; other sources keep their own types.
        """
        if self.kind == "table":
            connection.register(TABLE_VIEW, self.table)
            return TABLE_VIEW
        path = _sql_string(str(self.path))
        if self.kind == "parquet":
            return f"read_parquet({path})"
        options = ["header = true"]
        if self.compression:
            options.append(f"compression = {_sql_string(self.compression)}")
        present = [c for c in text_columns if c in self.columns]
        if present:
            types = ", ".join(f"{_sql_string(c)}: 'VARCHAR'" for c in present)
            options.append(f"types = {{{types}}}")
        return f"read_csv({path}, {', '.join(options)})"

    def numbered_sql(
        self, connection: duckdb.DuckDBPyConnection, text_columns: tuple[str, ...] = ()
    ) -> str:
        """A subquery of every row plus its 1-based data-row number in ``ROW_NUMBER``.

        Only used to locate bad rows after a scan found some: for CSV files and in-memory tables
        it numbers rows in a single-threaded scan that keeps the input order.
        """
        if self.kind == "parquet":
            path = _sql_string(str(self.path))
            return (
                f"(SELECT *, file_row_number + 1 AS {ROW_NUMBER} "
                f"FROM read_parquet({path}, file_row_number = true))"
            )
        connection.execute("SET threads = 1; SET preserve_insertion_order = true")
        scan = self.scan_sql(connection, text_columns)
        return f"(SELECT *, row_number() OVER () AS {ROW_NUMBER} FROM {scan})"

    def row_reference(self, row: int) -> str:
        """'row 5 (line 6)' for a CSV file, 'row 5' otherwise."""
        if self.header_lines:
            return f"row {row} (line {row + self.header_lines})"
        return f"row {row}"


def open_source(data: DataLike, connection: duckdb.DuckDBPyConnection | None = None) -> DataSource:
    """Open a CSV or Parquet file, or an in-memory table, for scanning by DuckDB.

    Files are recognised by content, not by name: Parquet by its ``PAR1`` magic bytes, otherwise
    the file must be UTF-8 CSV text with a header row (optionally gzip-compressed). In-memory
    tables (pandas, polars, pyarrow) are registered with DuckDB without copying.

    ``connection`` is the DuckDB connection used to list the columns (a fresh one if not given).

    Raises
    ------
    InputError
        If the path does not exist, is empty, or holds neither CSV nor Parquet data.

    Examples
    --------
    >>> import pyarrow as pa
    >>> open_source(pa.table({"p": [0.2], "y": [1]})).columns
    ('p', 'y')
    """
    source = locate_source(data)
    return source if source.described else _describe(source, connection)


def locate_source(data: DataLike) -> DataSource:
    """The source of ``data`` with its format found, as :func:`open_source`, without DuckDB.

    Its columns are not listed yet (``described`` is False): :func:`open_source` lists them.

    Raises
    ------
    InputError
        As :func:`open_source`, for a missing, empty or unrecognised file.
    """
    if isinstance(data, DataSource):
        return data
    if isinstance(data, str | os.PathLike):
        return _open_file(Path(os.fspath(data)).expanduser())
    return _open_table(data)


def _open_file(path: Path) -> DataSource:
    if not path.exists():
        raise InputError(f"The data file {path} does not exist; check the path and try again.")
    if not path.is_file():
        raise InputError(f"{path} is a directory, not a data file; give a CSV or Parquet file.")
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if not head:
        raise InputError(f"The data file {path} is empty: it has no header and no data rows.")
    if head.startswith(_PARQUET_MAGIC):
        return DataSource("parquet", str(path), (), (), path=path)
    compression = None
    if head.startswith(_GZIP_MAGIC):
        compression = "gzip"
        head = _gunzip_start(path)
    _check_csv_text(path, head)
    return DataSource("csv", str(path), (), (), path=path, compression=compression)


def _gunzip_start(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read(_SNIFF_BYTES)
    except (OSError, EOFError, zlib.error) as error:
        raise InputError(f"{path} is a damaged gzip file ({error}).") from None


def _check_csv_text(path: Path, head: bytes) -> None:
    for magic, description in _OTHER_FORMATS:
        if head.startswith(magic):
            raise InputError(
                f"{path} is not a CSV or Parquet file: it looks like {description}. "
                "Export the data as CSV (UTF-8, with a header row) or Parquet."
            )
    text_like = b"\x00" not in head
    if text_like:
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError:
            raise InputError(
                f"{path} is not UTF-8 text, so it cannot be read as CSV (and it is not Parquet). "
                "If it is CSV in another encoding, save it again as UTF-8."
            ) from None
    if not text_like:
        raise InputError(
            f"{path} is neither a CSV nor a Parquet file (it holds binary data). "
            "Export the data as CSV (UTF-8, with a header row) or Parquet."
        )
    if not head.strip(b"\xef\xbb\xbf \t\r\n"):
        raise InputError(f"The data file {path} is empty: it has no header and no data rows.")


def _open_table(table: InMemoryTable) -> DataSource:
    module = type(table).__module__.split(".")[0]
    if module == "polars":
        table = table.to_arrow()
        description = "the polars DataFrame"
    elif module == "pandas":
        description = "the pandas DataFrame"
    elif module == "pyarrow":
        description = f"the pyarrow {type(table).__name__}"
    else:
        raise InputError(
            f"Cannot read data of type {type(table).__name__}: give a CSV or Parquet path, or a "
            "pandas DataFrame, polars DataFrame or pyarrow Table."
        )
    return DataSource("table", description, (), (), table=table)


def _describe(
    source: DataSource, connection: duckdb.DuckDBPyConnection | None = None
) -> DataSource:
    import duckdb

    own = connection is None
    con = duckdb.connect() if connection is None else connection
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {source.scan_sql(con)}").fetchall()
    except duckdb.Error as error:
        raise InputError(read_failure(source, error)) from None
    finally:
        if own:
            con.close()
    columns = tuple(str(row[0]) for row in described)
    types = tuple(str(row[1]) for row in described)
    return DataSource(
        source.kind,
        source.name,
        columns,
        types,
        path=source.path,
        compression=source.compression,
        table=source.table,
        described=True,
    )


def read_failure(source: DataSource, error: Exception) -> str:
    """One paragraph explaining that DuckDB could not read ``source``."""
    detail = " ".join(str(error).split())
    if source.kind == "parquet":
        return f"{source.name} starts like a Parquet file but cannot be read: {detail}"
    if source.kind == "csv":
        return f"{source.name} could not be read as CSV (UTF-8 text with a header row): {detail}"
    return f"{source.name} could not be read: {detail}"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
