"""Build a score cube from prediction rows in one DuckDB aggregation pass (GROUPING SETS).

Rows are typed, checked and binned per row in SQL; one GROUP BY GROUPING SETS computes the
overall, subgroup, intersection, time-window, comparator and patient margins together; the small
result is densified into :class:`steward.cube.model.Cube` arrays in numpy.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from steward.cube import checks
from steward.cube.bins import (
    COARSE_BINS,
    FINE_BINS,
    LOGIT_PAIR_BINS,
    edges_with_thresholds,
)
from steward.cube.model import (
    LABEL_AXIS,
    STATS,
    Cube,
    FloatArray,
    Level,
    Margin,
    PairedMargin,
    ReplicateMargin,
    _level_sort_key,
)
from steward.cube.sources import ColumnMap, DataLike, DataSource, ScoreScale, open_source
from steward.cube.sql import (
    P_CLIP,
    LogitBinning,
    is_numeric_type,
    is_text_type,
    is_time_type,
    label_sql,
    number_sql,
    probability_sql,
    quote,
    replicate_weight_sql,
    score_code_sql,
    time_window_sql,
    uniform_bin_sql,
)
from steward.errors import InputError

#: DuckDB memory ceiling for one build; larger aggregations spill to a temporary directory.
MEMORY_LIMIT = "1GB"
#: Seconds between progress polls.
_POLL_SECONDS = 0.1

TimeWindow = Literal["day", "week", "month"]
ProgressCallback = Callable[[float], None]


@dataclass(frozen=True)
class CubeRequest:
    """What to aggregate: the columns, the thresholds that must be bin edges, the margins.

    Parameters
    ----------
    columns : ColumnMap
        Which columns hold the score, label, groups, comparator, patient and time.
    thresholds : tuple of float
        Operating thresholds in (0, 1); each becomes a bin edge of every margin.
    score_scale : {"probability", "percent", "logit"}
        How score and comparator values map to probabilities.
    fine_bins, coarse_bins, pair_bins : int
        Uniform bins of the overall margin, of the other margins and replicates, and logit bins
        per axis of the comparator cube.
    intersections : tuple of tuple of str
        Extra margins crossing two or more group columns, e.g. ``(("sex", "age_band"),)``.
    time_window : {"day", "week", "month"}
        Window of the time margin (weeks start on Monday), used when ``columns.time`` is set.
    replicates : int
        Number of patient-clustered Poisson(1) bootstrap replicate cubes (needs
        ``columns.patient``); 0 builds none.
    """

    columns: ColumnMap
    thresholds: tuple[float, ...] = ()
    score_scale: ScoreScale = "probability"
    fine_bins: int = FINE_BINS
    coarse_bins: int = COARSE_BINS
    pair_bins: int = LOGIT_PAIR_BINS
    intersections: tuple[tuple[str, ...], ...] = ()
    time_window: TimeWindow = "month"
    replicates: int = 0

    @property
    def fine_edges(self) -> FloatArray:
        return edges_with_thresholds(self.fine_bins, self.thresholds)

    @property
    def coarse_edges(self) -> FloatArray:
        return edges_with_thresholds(self.coarse_bins, self.thresholds)

    @property
    def pair_binning(self) -> LogitBinning:
        return LogitBinning(self.pair_bins, self.thresholds)

    def validate(self) -> None:
        """Raise InputError for a request that cannot describe any cube."""
        cols = self.columns
        if any(not 0.0 < t < 1.0 for t in self.thresholds):
            raise InputError(
                f"Thresholds must lie strictly between 0 and 1; got {list(self.thresholds)}."
            )
        if min(self.fine_bins, self.coarse_bins) < 1 or self.pair_bins < 3:
            raise InputError("The cube needs at least 1 uniform bin and 3 comparator bins.")
        if self.score_scale not in ("probability", "percent", "logit"):
            raise InputError(
                f"Unknown score scale {self.score_scale!r}: use probability, percent or logit."
            )
        if self.time_window not in ("day", "week", "month"):
            raise InputError(f"Unknown time window {self.time_window!r}: use day, week or month.")
        if self.replicates < 0:
            raise InputError("The number of bootstrap replicates cannot be negative.")
        if self.replicates and cols.patient is None:
            raise InputError(
                "Patient-clustered bootstrap replicates need a patient column: name the column "
                "holding patient identifiers, or ask for no replicates."
            )
        if len(set(cols.groups)) != len(cols.groups):
            raise InputError(f"A group column is named twice in {list(cols.groups)}.")
        if cols.time is not None and cols.time in cols.groups:
            raise InputError(
                f"Column {cols.time!r} is both the time column and a group column; "
                "name it only once."
            )
        for dims in self.intersections:
            unknown = [d for d in dims if d not in cols.groups]
            if len(set(dims)) < 2 or unknown:
                raise InputError(
                    f"The intersection {list(dims)} must cross two or more different group "
                    f"columns among {list(cols.groups)}."
                )


#: Codes of the cell columns: ``bin * 4 + label`` (``fine`` cells also carry the paired flag).
LABEL_CODES = 4
#: Fine-bin code of a row without a score (other invalid codes are in steward.cube.sql).
MISSING_SCORE = -3
#: ``__set`` values of the comparator and paired parts (GROUPING() values are never negative).
COMPARATOR_PART, PAIR_PART = -1, -2


@dataclass(frozen=True)
class GroupingSet:
    """One margin of the pass: the key columns it groups by, and the cube dims it becomes."""

    kind: Literal["overall", "margin", "patient"]
    keys: tuple[str, ...]
    dims: tuple[str, ...] = ()


@dataclass(frozen=True)
class CubePlan:
    """The SQL of one cube pass over one source, and how to read its result.

    The pass streams one scan of the source to three aggregations: GROUPING SETS of the
    overall, subgroup, intersection, time and patient margins (score statistics), and, with a
    comparator, a GROUP BY of the comparator's statistics and one of the 2-D paired counts.
    Cells are keyed by an integer ``bin * 4 + label`` so every grouping hashes few columns.
    """

    source: DataSource
    request: CubeRequest
    sets: tuple[GroupingSet, ...]
    key_columns: tuple[str, ...]
    text_columns: tuple[str, ...]

    def mask(self, grouping: GroupingSet) -> int:
        """The value ``GROUPING(key_columns...)`` takes on rows of ``grouping``."""
        n = len(self.key_columns)
        return sum(
            1 << (n - 1 - i) for i, key in enumerate(self.key_columns) if key not in grouping.keys
        )

    def find(self, kind: str) -> GroupingSet | None:
        return next((s for s in self.sets if s.kind == kind), None)

    @property
    def pair_bin_count(self) -> int:
        return int(self.request.pair_binning.edges.size - 1)

    def rows_sql(self, scan: str) -> str:
        """Per-row typed, checked and binned columns (``__``-prefixed) next to the source's."""
        req, cols, source = self.request, self.request.columns, self.source
        typed = []
        s_value, s_missing = number_sql(cols.score, source.column_type(cols.score))
        typed += [f"{s_value} AS __sv", f"{s_missing} AS __sm"]
        typed.append(f"{label_sql(cols.label, source.column_type(cols.label))} AS __lab")
        typed += [f"CAST({quote(g)} AS VARCHAR) AS __g{i}" for i, g in enumerate(cols.groups)]
        if cols.time is not None:
            window = time_window_sql(cols.time, source.column_type(cols.time), req.time_window)
            typed.append(f"{window} AS __t")
        if cols.patient is not None:
            typed.append(f"CAST({quote(cols.patient)} AS VARCHAR) AS __pid")
        if cols.comparator is not None:
            c_value, c_missing = number_sql(cols.comparator, source.column_type(cols.comparator))
        else:
            c_value, c_missing = "CAST(NULL AS DOUBLE)", "true"
        typed += [f"{c_value} AS __cv", f"{c_missing} AS __cm"]

        scale, thresholds = req.score_scale, req.thresholds
        fine, coarse = req.fine_bins, req.coarse_bins
        pairs = req.pair_binning
        n_pair = self.pair_bin_count
        stages = [
            ", ".join(typed),
            f"{probability_sql('__sv', scale)} AS __sp, {probability_sql('__cv', scale)} AS __cp",
            f"{score_code_sql('__sv', '__sm', '__sp')} AS __sc, "
            f"{score_code_sql('__cv', '__cm', '__cp')} AS __cc",
            "CASE WHEN __sc = 0 THEN __sp END AS __p, "
            "CASE WHEN __sc = 0 AND __cc = 0 THEN __cp END AS __c",
            f"coalesce({uniform_bin_sql('__p', fine, thresholds)}, __sc, {MISSING_SCORE})"
            " AS __fb, "
            f"{uniform_bin_sql('__p', coarse, thresholds)} AS __cb, "
            f"coalesce({uniform_bin_sql('__c', fine, thresholds)}, "
            "CASE WHEN __cc < 0 THEN __cc END) AS __cfb, "
            "CASE WHEN __c IS NOT NULL THEN __p END AS __pp, "
            f"{_clipped('__p')} AS __pk, {_clipped('__c')} AS __ck",
            "CAST((__fb * 2 + CAST(__pp IS NOT NULL AS INTEGER)) * 4 + __lab AS BIGINT)"
            " AS __fcell, "
            "CAST(__cb * 4 + __lab AS BIGINT) AS __ccell, "
            "CAST(__cfb * 4 + __lab AS BIGINT) AS __cfcell, "
            "ln(__pk) AS __lp, ln(1.0 - __pk) AS __l1p, ln(__ck) AS __lc, ln(1.0 - __ck) AS __l1c",
        ]
        if cols.comparator is not None:
            stages += [
                f"{pairs.estimate_sql('__pp')} AS __pe, {pairs.estimate_sql('__c')} AS __ce",
                f"CAST(({pairs.bin_sql('__pp', '__pe')} * {n_pair} "
                f"+ {pairs.bin_sql('__c', '__ce')}) * 4 + __lab AS BIGINT) AS __pcell",
            ]
        query = f"SELECT * FROM {scan}"
        for stage in stages:
            query = f"SELECT *, {stage} FROM ({query})"
        return query

    def query(self, scan: str) -> str:
        """The one aggregation pass over the binned rows."""
        keys = self.key_columns
        key_list = ", ".join(keys)
        sets = ", ".join("(" + ", ".join(s.keys) + ")" for s in self.sets)
        nulls = {k: _NULL_KEY.get(k, "VARCHAR") for k in keys}
        score_sums = ", ".join(_sums("__p", "__lp", "__l1p"))
        parts = [
            f"SELECT GROUPING({key_list}) AS __set, {key_list}, CAST(NULL AS BIGINT) AS __cfcell, "
            f"CAST(NULL AS BIGINT) AS __pcell, count(*) AS __n, {score_sums} "
            f"FROM __rows GROUP BY GROUPING SETS ({sets})"
        ]
        if self.request.columns.comparator is not None:
            blank = ", ".join(f"CAST(NULL AS {nulls[k]})" for k in keys)
            comparator_sums = ", ".join(_sums("__c", "__lc", "__l1c"))
            no_sums = ", ".join(["CAST(NULL AS DOUBLE)"] * (len(STATS) - 1))
            parts.append(
                f"SELECT {COMPARATOR_PART}, {blank}, __cfcell, NULL, count(*), {comparator_sums} "
                "FROM __rows WHERE __cfcell IS NOT NULL GROUP BY __cfcell"
            )
            parts.append(
                f"SELECT {PAIR_PART}, {blank}, NULL, __pcell, count(*), {no_sums} "
                "FROM __rows WHERE __pcell IS NOT NULL GROUP BY __pcell"
            )
        return f"WITH __rows AS ({self.rows_sql(scan)}) " + " UNION ALL ".join(parts)

    def replicate_query(self, table: str) -> str:
        """Expand the (patient, bin, label) cells into Poisson-weighted replicate sums."""
        patient = self.find("patient")
        assert patient is not None
        weight = replicate_weight_sql("__pid", "__r")
        stats = ["__n", *[f"__s{i}" for i in range(1, len(STATS))]]
        weighted = ", ".join(f"sum(__w * {s}) AS {s}" for s in stats)
        return (
            f"SELECT __r, __ccell, {weighted} FROM ("
            f"SELECT *, {weight} AS __w FROM {table} "
            f"CROSS JOIN (SELECT range AS __r FROM range({self.request.replicates})) "
            f"WHERE __set = {self.mask(patient)} AND __ccell IS NOT NULL"
            ") WHERE __w > 0 GROUP BY __r, __ccell"
        )


_NULL_KEY = {"__t": "INTEGER", "__fcell": "BIGINT", "__ccell": "BIGINT"}


def _clipped(value: str) -> str:
    bounded = f"greatest({P_CLIP!r}, least({1 - P_CLIP!r}, {value}))"
    return f"CASE WHEN {value} IS NOT NULL THEN {bounded} END"


def _sums(p: str, logp: str, log1mp: str) -> list[str]:
    """Sums in STATS order after ``n``: p, p^2, log p, log(1-p), z, z^2, p z with z = logit p."""
    z = f"({logp} - {log1mp})"
    terms = [p, f"{p} * {p}", logp, log1mp, z, f"{z} * {z}", f"{p} * {z}"]
    return [f"sum({term}) AS __s{i}" for i, term in enumerate(terms, start=1)]


def plan_cube(source: DataSource, request: CubeRequest) -> CubePlan:
    """Check the request against the source's columns and lay out the grouping sets."""
    request.validate()
    cols = request.columns
    source.require_columns(cols.used())
    _check_column_types(source, cols)
    group_key = {g: f"__g{i}" for i, g in enumerate(cols.groups)}
    sets = [GroupingSet("overall", ("__fcell",))]
    sets += [GroupingSet("margin", (group_key[g], "__ccell"), (g,)) for g in cols.groups]
    sets += [
        GroupingSet("margin", (*(group_key[d] for d in dims), "__ccell"), dims)
        for dims in request.intersections
    ]
    if cols.time is not None:
        sets.append(GroupingSet("margin", ("__t", "__ccell"), (cols.time,)))
    if request.replicates:
        sets.append(GroupingSet("patient", ("__pid", "__ccell")))
    key_columns = tuple(dict.fromkeys(k for s in sets for k in s.keys))
    text = [cols.score, cols.label, *cols.groups]
    text += [c for c in (cols.comparator, cols.patient) if c is not None]
    source = source.reading_as_text(tuple(text))
    return CubePlan(source, request, tuple(sets), key_columns, tuple(text))


def _check_column_types(source: DataSource, cols: ColumnMap) -> None:
    for role, column in (("score", cols.score), ("comparator", cols.comparator)):
        if column is None or source.kind == "csv":
            continue
        kind = source.column_type(column)
        if not (is_numeric_type(kind) or is_text_type(kind)):
            raise InputError(
                f"The {role} column {column!r} of {source.name} holds {kind} values, not numbers; "
                "name the column that holds the model's scores."
            )
    if cols.time is not None:
        kind = source.column_type(cols.time)
        if not (is_time_type(kind) or is_text_type(kind)):
            raise InputError(
                f"The time column {cols.time!r} of {source.name} holds {kind} values, not dates "
                "or timestamps; name a column of dates (e.g. 2024-03-31) or timestamps."
            )


def build_cube(
    source: DataSource | DataLike,
    request: CubeRequest,
    progress: ProgressCallback | None = None,
) -> Cube:
    """Aggregate prediction rows into a score cube in one pass over the data.

    Parameters
    ----------
    source : DataSource or path or table
        A CSV or Parquet path, an in-memory table, or a source from :func:`open_source`.
    request : CubeRequest
        Columns, thresholds, margins and replicates to build.
    progress : callable, optional
        Called with the fraction done (0 to 1), from a background thread, while DuckDB scans;
        finally called with 1.0.

    Returns
    -------
    Cube
        ``margins[()]`` at ``edges_with_thresholds(fine_bins, thresholds)``; one margin per
        group column, intersection and the time column at ``coarse_bins``; ``paired`` when a
        comparator is named; ``replicates`` when asked for; ``excluded["missing_score"]``.

    Raises
    ------
    InputError
        For a missing column, a file that cannot be read, no data rows, scores or comparator
        values that are not numbers in range, labels other than 0/1/true/false/empty,
        unreadable times, rows without a patient id when replicates are asked for, or a group
        column with a single level. The message names the rows and values at fault.

    Notes
    -----
    Per cell, ``stats`` holds ``n, sum p, sum p^2, sum log p, sum log(1 - p), sum z, sum z^2,
    sum p z`` with ``z = log p - log(1 - p)``; the log and logit sums use p clipped into
    ``[1e-12, 1 - 1e-12]`` so scores of exactly 0 or 1 stay finite. Rows without a score are
    excluded and counted; rows without a label are kept as unlabelled.

    Examples
    --------
    >>> import pyarrow as pa
    >>> table = pa.table({"p": [0.1, 0.8, 0.35], "y": [0, 1, None]})
    >>> cube = build_cube(table, CubeRequest(ColumnMap("p", "y"), fine_bins=10))
    >>> cube.overall.total().n_pos.sum(), cube.overall.total().n_unlabelled.sum()
    (np.float64(1.0), np.float64(1.0))
    """
    with tempfile.TemporaryDirectory(prefix="steward-cube-") as spill:
        connection = _connect(spill)
        try:
            plan = plan_cube(open_source(source, connection), request)
            cube = _run(connection, plan, progress)
        finally:
            connection.close()
    if progress is not None:
        progress(1.0)
    return cube


def _connect(spill_directory: str) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(
        config={
            "memory_limit": MEMORY_LIMIT,
            "temp_directory": spill_directory,
            "preserve_insertion_order": False,
        }
    )
    connection.execute(
        "SET TimeZone = 'UTC'; SET enable_progress_bar = true; "
        "SET enable_progress_bar_print = false"
    )
    return connection


def _run(
    connection: duckdb.DuckDBPyConnection, plan: CubePlan, progress: ProgressCallback | None
) -> Cube:
    scan = plan.source.scan_sql(connection, plan.text_columns)
    query = plan.query(scan)
    patient = plan.find("patient")
    # the replicate expansion gets the second half of the progress range
    pass_share = 0.5 if patient is not None else 1.0
    try:
        if patient is not None:
            _execute(connection, f"CREATE TEMP TABLE __cube AS {query}", progress, 0.0, pass_share)
            result = _arrow(connection, f"SELECT * FROM __cube WHERE __set <> {plan.mask(patient)}")
        else:
            result = _execute(connection, query, progress, 0.0, pass_share)
    except duckdb.Error as error:
        raise InputError(checks.read_failure(plan.source, error)) from None
    assert result is not None
    if _sum(part(result, plan, "overall"), "__n") == 0:
        raise InputError(checks.no_rows(plan.source))
    problems = checks.find_problems(connection, plan, result)
    if problems:
        raise InputError(" ".join(problems))
    cube = _assemble(plan, result)
    singles = checks.single_level_groups(plan, cube)
    if singles:
        raise InputError(" ".join(singles))
    if patient is None:
        return cube
    expanded = _execute(connection, plan.replicate_query("__cube"), progress, pass_share, 1.0)
    assert expanded is not None
    return Cube(cube.margins, cube.paired, _replicate_margin(plan.request, expanded), cube.excluded)


def _execute(
    connection: duckdb.DuckDBPyConnection,
    sql: str,
    progress: ProgressCallback | None,
    start: float,
    stop: float,
) -> pa.Table | None:
    """Run ``sql`` to an Arrow table, reporting DuckDB's progress mapped into [start, stop]."""
    if progress is None:
        return _arrow(connection, sql)
    done = threading.Event()
    callback = progress

    def poll() -> None:
        best = start
        while not done.wait(_POLL_SECONDS):
            percent = connection.query_progress()
            if percent >= 0:
                fraction = start + (stop - start) * min(percent, 100.0) / 100.0
                if fraction > best:
                    best = fraction
                    callback(min(best, 0.99))

    poller = threading.Thread(target=poll, name="cube-progress", daemon=True)
    poller.start()
    try:
        return _arrow(connection, sql)
    finally:
        done.set()
        poller.join()


def _arrow(connection: duckdb.DuckDBPyConnection, sql: str) -> pa.Table | None:
    """The result of ``sql`` as Arrow (None for a statement without a result)."""
    relation = connection.sql(sql)
    if relation is None:
        return None
    table: pa.Table = relation.to_arrow_table()
    return table


def part(result: pa.Table, plan: CubePlan, kind: str | int) -> pa.Table:
    """Rows of one grouping set (``kind`` of a GroupingSet, or a negative part id)."""
    if isinstance(kind, int):
        set_id = kind
    else:
        grouping = plan.find(kind)
        assert grouping is not None
        set_id = plan.mask(grouping)
    return result.filter(pc.equal(result["__set"], set_id))


def ints(table: pa.Table, column: str) -> NDArray[np.int64]:
    """An integer column as numpy (nulls as -1: callers drop null cells first)."""
    values: NDArray[np.int64] = (
        table[column].fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    )
    return values


def _sum(table: pa.Table, column: str) -> int:
    total = pc.sum(table[column]).as_py()
    return int(total or 0)


def _stats_matrix(table: pa.Table) -> FloatArray:
    columns = ["__n", *[f"__s{i}" for i in range(1, len(STATS))]]
    return np.column_stack(
        [table[c].fill_null(0).to_numpy(zero_copy_only=False).astype(np.float64) for c in columns]
    )


def _with_cells(table: pa.Table, cell: str) -> pa.Table:
    """Rows whose cell is a usable bin: not null and not an invalid-row code."""
    return table.filter(pc.fill_null(pc.greater_equal(table[cell], 0), False))


def _dense_margin(
    dims: tuple[str, ...],
    levels_of_rows: Sequence[Level],
    cells: NDArray[np.int64],
    stats: FloatArray,
    edges: FloatArray,
) -> Margin:
    levels = tuple(sorted(set(levels_of_rows), key=_level_sort_key))
    position = {level: i for i, level in enumerate(levels)}
    rows = np.fromiter((position[level] for level in levels_of_rows), np.intp, len(levels_of_rows))
    dense = np.zeros((len(levels), edges.size - 1, len(LABEL_AXIS), len(STATS)))
    np.add.at(dense, (rows, cells // LABEL_CODES, cells % LABEL_CODES), stats)
    return Margin(dims, levels, edges, dense)


def _level_values(table: pa.Table, key: str) -> list[str | None]:
    values: list[Any] = table[key].to_pylist()
    if key != "__t":
        return values
    epoch = dt.date(1970, 1, 1)
    return [None if v is None else (epoch + dt.timedelta(days=int(v))).isoformat() for v in values]


def _assemble(plan: CubePlan, result: pa.Table) -> Cube:
    request = plan.request
    fine, coarse = request.fine_edges, request.coarse_edges
    overall = part(result, plan, "overall")
    fine_cells = ints(overall, "__fcell")
    missing = int(overall["__n"].to_numpy()[fine_cells // (2 * LABEL_CODES) == MISSING_SCORE].sum())
    overall = _with_cells(overall, "__fcell")
    fine_cells = ints(overall, "__fcell")
    # fine cells are (bin * 2 + paired) * 4 + label; the overall margin sums both paired flags
    label = fine_cells % LABEL_CODES
    overall_cells = fine_cells // (2 * LABEL_CODES) * LABEL_CODES + label
    stats = _stats_matrix(overall)
    margins: dict[tuple[str, ...], Margin] = {}
    margins[()] = _dense_margin((), [()] * overall.num_rows, overall_cells, stats, fine)
    for grouping in plan.sets:
        if grouping.kind != "margin":
            continue
        rows = _with_cells(part(result, plan, plan.mask(grouping)), "__ccell")
        columns = [_level_values(rows, key) for key in grouping.keys[:-1]]
        levels = list(zip(*columns, strict=True))
        margins[grouping.dims] = _dense_margin(
            grouping.dims, levels, ints(rows, "__ccell"), _stats_matrix(rows), coarse
        )
    paired = None
    if request.columns.comparator is not None:
        is_paired = (fine_cells // LABEL_CODES) % 2 == 1
        score = _dense_margin(
            (), [()] * int(is_paired.sum()), overall_cells[is_paired], stats[is_paired], fine
        )
        paired = _paired_margin(plan, result, score)
    return Cube(margins, paired, None, {"missing_score": missing})


def _paired_margin(plan: CubePlan, result: pa.Table, score: Margin) -> PairedMargin:
    request = plan.request
    assert request.columns.comparator is not None
    edges = request.pair_binning.edges
    n_pair = plan.pair_bin_count
    pairs = part(result, plan, PAIR_PART)
    cells = ints(pairs, "__pcell")
    counts = np.zeros((n_pair, n_pair, len(LABEL_AXIS)))
    bins = cells // LABEL_CODES
    np.add.at(
        counts,
        (bins // n_pair, bins % n_pair, cells % LABEL_CODES),
        pairs["__n"].to_numpy(zero_copy_only=False).astype(np.float64),
    )
    compared = _with_cells(part(result, plan, COMPARATOR_PART), "__cfcell")
    comparator = _dense_margin(
        (),
        [()] * compared.num_rows,
        ints(compared, "__cfcell"),
        _stats_matrix(compared),
        request.fine_edges,
    )
    return PairedMargin(request.columns.comparator, edges, edges, counts, score, comparator)


def _replicate_margin(request: CubeRequest, table: pa.Table) -> ReplicateMargin:
    edges = request.coarse_edges
    stats = np.zeros((request.replicates, edges.size - 1, len(LABEL_AXIS), len(STATS)))
    cells = ints(table, "__ccell")
    np.add.at(
        stats,
        (ints(table, "__r"), cells // LABEL_CODES, cells % LABEL_CODES),
        _stats_matrix(table),
    )
    return ReplicateMargin(edges, stats)


def replicate_weights(patients: Sequence[str], replicates: int) -> FloatArray:
    """Poisson(1) bootstrap weights ``w[i, r]`` of patient ``patients[i]`` in replicate ``r``.

    The same DuckDB expression weights the replicate cubes of :func:`build_cube`: the weight is
    the Poisson(1) quantile at ``hash(patient, r) / 2**64``, so it depends only on the patient
    identifier (as text) and ``r``, and cubes of disjoint patients merge by addition.

    Examples
    --------
    >>> w = replicate_weights(["a", "b"], 3)
    >>> w.shape, bool((w == replicate_weights(["a", "b"], 3)).all())
    ((2, 3), True)
    """
    connection = duckdb.connect()
    try:
        ids = pa.table(
            {"__i": np.arange(len(patients)), "__pid": pa.array(list(patients), pa.string())}
        )
        connection.register("__patients", ids)
        weight = replicate_weight_sql("__pid", "__r")
        table = _arrow(
            connection,
            f"SELECT __i, __r, {weight} AS __w FROM __patients "
            f"CROSS JOIN (SELECT range AS __r FROM range({int(replicates)}))",
        )
        assert table is not None
    finally:
        connection.close()
    weights = np.zeros((len(patients), replicates))
    weights[ints(table, "__i"), ints(table, "__r")] = table["__w"].to_numpy()
    return weights


__all__ = [
    "CubePlan",
    "CubeRequest",
    "build_cube",
    "plan_cube",
    "replicate_weights",
]
