"""Build a score cube from prediction rows in one pass: numpy over Arrow batches, or DuckDB.

Parquet files and Arrow tables of plain types with valid values are aggregated by the numpy
pass of :mod:`steward.cube.stream`. Everything else goes through DuckDB: rows are typed,
checked and binned per row in SQL; one pass computes the overall, subgroup, intersection,
time-window, comparator and patient-bucket margins together (steward.cube.plan writes it);
the small result is densified into :class:`steward.cube.model.Cube` arrays in numpy, and the
bucket margin weighted into replicate cubes (steward.cube.replicates).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from steward.cube import checks
from steward.cube.model import (
    LABEL_AXIS,
    STATS,
    Cube,
    FloatArray,
    Level,
    Margin,
    PairedMargin,
    level_sort_key,
)
from steward.cube.plan import (
    COMPARATOR_PART,
    LABEL_CODES,
    MISSING_SCORE,
    OPT_OUT_TABLE,
    OPTED_OUT,
    PAIR_PART,
    CubePlan,
    CubeRequest,
    GroupingSet,
    TimeWindow,
    ints,
    part,
    plan_cube,
)
from steward.cube.replicates import (
    PATIENT_BUCKETS,
    bucket_weights,
    patient_buckets,
    replicate_margin,
)
from steward.cube.sources import DataLike, DataSource, locate_source, open_source
from steward.cube.stream import stream_cube
from steward.errors import InputError

if TYPE_CHECKING:
    import duckdb

#: DuckDB memory ceiling for one build; larger aggregations spill to a temporary directory.
MEMORY_LIMIT = "512MB"
#: Seconds between progress polls.
_POLL_SECONDS = 0.1

ProgressCallback = Callable[[float], None]
#: Which pass builds the cube: ``auto`` tries numpy first, ``sql`` always uses DuckDB.
Engine = Literal["auto", "sql"]


def build_cube(
    source: DataSource | DataLike,
    request: CubeRequest,
    progress: ProgressCallback | None = None,
    *,
    engine: Engine = "auto",
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
    engine : {"auto", "sql"}
        ``auto`` (default) builds the cube with the numpy pass where it applies and with
        DuckDB otherwise; ``sql`` always uses DuckDB. Both give the same cube.

    Returns
    -------
    Cube
        ``margins[()]`` at ``edges_with_thresholds(fine_bins, thresholds)``; one margin per
        group column, intersection and the time column at ``coarse_bins``; ``paired`` when a
        comparator is named; ``replicates`` when asked for; ``excluded["missing_score"]`` and,
        when patients are excluded, ``excluded["opted_out"]``.

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
    >>> from steward.cube.sources import ColumnMap
    >>> table = pa.table({"p": [0.1, 0.8, 0.35], "y": [0, 1, None]})
    >>> cube = build_cube(table, CubeRequest(ColumnMap("p", "y"), fine_bins=10))
    >>> cube.overall.total().n_pos.sum(), cube.overall.total().n_unlabelled.sum()
    (np.float64(1.0), np.float64(1.0))
    """
    if engine == "auto":
        source = locate_source(source)
        cube = stream_cube(source, request, progress)
        if cube is not None:
            if progress is not None:
                progress(1.0)
            return cube
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
    import duckdb

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
    import duckdb

    scan = plan.source.scan_sql(connection, plan.text_columns)
    if plan.request.exclude_patients:
        digests = pa.table({"d": pa.array(sorted(plan.request.exclude_patients), pa.string())})
        connection.register(OPT_OUT_TABLE, digests)
    query = plan.query(scan)
    patient = plan.find("patient")
    try:
        if patient is not None:
            _execute(
                connection,
                f"CREATE TEMP TABLE __cube AS {query}",
                progress,
                0.0,
                1.0,
                plan.scan_progress_share,
            )
            result = _arrow(connection, f"SELECT * FROM __cube WHERE __set <> {plan.mask(patient)}")
        else:
            result = _execute(connection, query, progress, 0.0, 1.0, plan.scan_progress_share)
    except duckdb.Error as error:
        raise InputError(checks.read_failure(plan.source, error)) from None
    assert result is not None
    if _sum(part(result, plan, "overall"), "__n") == 0:
        raise InputError(checks.no_rows(plan.source))
    problems = checks.find_problems(connection, plan, result)
    if problems:
        raise InputError(" ".join(problems))
    cube = _assemble(plan, result)
    if cube.overall.stats[..., 0].sum() == 0:
        raise InputError(checks.no_scores(plan))
    singles = checks.single_level_groups(plan, cube)
    if singles:
        raise InputError(" ".join(singles))
    if patient is None:
        return cube
    buckets = _arrow(
        connection,
        f"SELECT * FROM __cube WHERE __set = {plan.mask(patient)} "
        "AND __pb IS NOT NULL AND __ccell >= 0",
    )
    assert buckets is not None
    replicates = replicate_margin(
        _bucket_stats(plan.request, buckets), plan.request.coarse_edges, plan.request.replicates
    )
    return Cube(cube.margins, cube.paired, replicates, cube.excluded)


def _execute(
    connection: duckdb.DuckDBPyConnection,
    sql: str,
    progress: ProgressCallback | None,
    start: float,
    stop: float,
    plateau: float = 1.0,
) -> pa.Table | None:
    """Run ``sql`` to an Arrow table, reporting DuckDB's progress mapped into [start, stop].

    ``plateau`` is the share of DuckDB's progress reached when the scan ends (see
    :attr:`CubePlan.scan_progress_share`); progress is rescaled by it so the scan, which is
    nearly all of the work, spans the range.
    """
    if progress is None:
        return _arrow(connection, sql)
    done = threading.Event()
    callback = progress

    def poll() -> None:
        best = start
        while not done.wait(_POLL_SECONDS):
            percent = connection.query_progress()
            if percent >= 0:
                done_share = min(1.0, percent / 100.0 / plateau)
                fraction = start + (stop - start) * done_share
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


def _sum(table: pa.Table, column: str) -> int:
    import pyarrow.compute as pc

    total = pc.sum(table[column]).as_py()
    return int(total or 0)


def _stats_matrix(table: pa.Table) -> FloatArray:
    columns = ["__n", *[f"__s{i}" for i in range(1, len(STATS))]]
    return np.column_stack(
        [table[c].fill_null(0).to_numpy(zero_copy_only=False).astype(np.float64) for c in columns]
    )


def _with_cells(table: pa.Table, cell: str) -> pa.Table:
    """Rows whose cell is a usable bin: not null and not an invalid-row code."""
    import pyarrow.compute as pc

    return table.filter(pc.fill_null(pc.greater_equal(table[cell], 0), False))


def _dense_margin(
    dims: tuple[str, ...],
    levels_of_rows: Sequence[Level],
    cells: NDArray[np.int64],
    stats: FloatArray,
    edges: FloatArray,
) -> Margin:
    levels = tuple(sorted(set(levels_of_rows), key=level_sort_key))
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
    fine_bins = fine_cells // (2 * LABEL_CODES)
    missing = int(overall["__n"].to_numpy()[fine_bins == MISSING_SCORE].sum())
    opted_out = int(overall["__n"].to_numpy()[fine_bins == OPTED_OUT].sum())
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
    excluded = {"missing_score": missing}
    if request.exclude_patients:
        excluded["opted_out"] = opted_out
    return Cube(margins, paired, None, excluded)


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


def _bucket_stats(request: CubeRequest, table: pa.Table) -> FloatArray:
    """``[stat, bucket, bin, label]`` sums of the (bucket, coarse cell) rows of the pass."""
    bins = request.coarse_edges.size - 1
    labels = len(LABEL_AXIS)
    cells = ints(table, "__ccell")
    # (bucket, cell) pairs are unique in a GROUP BY result, so plain assignment places them
    flat = (ints(table, "__pb") * bins + cells // LABEL_CODES) * labels + cells % LABEL_CODES
    stats = np.zeros((len(STATS), request.patient_buckets * bins * labels))
    stats[:, flat] = _stats_matrix(table).T
    return stats.reshape(len(STATS), request.patient_buckets, bins, labels)


def replicate_weights(
    patients: Sequence[str], replicates: int, buckets: int = PATIENT_BUCKETS
) -> FloatArray:
    """Poisson(1) bootstrap weights ``w[i, r]`` of patient ``patients[i]`` in replicate ``r``.

    The weights the replicate cubes of :func:`build_cube` give every row of the patient: the
    weight of the patient's bucket (``hash`` of the identifier as text, see
    :mod:`steward.cube.replicates`), so it depends only on the identifier and ``r``, and cubes
    of disjoint patients merge by addition.

    Examples
    --------
    >>> w = replicate_weights(["a", "b"], 3)
    >>> w.shape, bool((w == replicate_weights(["a", "b"], 3)).all())
    ((2, 3), True)
    """
    bucket = patient_buckets(pa.array(list(patients), pa.string()), buckets)
    return bucket_weights(replicates, buckets)[:, bucket].T.copy()


__all__ = [
    "MEMORY_LIMIT",
    "CubePlan",
    "CubeRequest",
    "Engine",
    "GroupingSet",
    "ProgressCallback",
    "TimeWindow",
    "build_cube",
    "plan_cube",
    "replicate_weights",
]
