"""The SQL plan of a cube pass: the request, per-row typing and binning, and the grouping sets.

:class:`CubeRequest` says what to aggregate; :func:`plan_cube` checks it against a source and
writes the one aggregation query whose result :mod:`steward.cube.build` densifies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from steward.cube.bins import COARSE_BINS, FINE_BINS, LOGIT_PAIR_BINS, edges_with_thresholds
from steward.cube.model import STATS, FloatArray
from steward.cube.replicates import PATIENT_BUCKETS, patient_bucket_sql
from steward.cube.sources import ColumnMap, DataSource, ScoreScale
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
    score_code_sql,
    time_window_sql,
    uniform_bin_sql,
    uniform_estimate_sql,
)
from steward.errors import InputError

TimeWindow = Literal["day", "week", "month"]


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
    patient_buckets : int
        Buckets patients are hashed into for the replicates (a power of two from 2 to 2**20);
        every row of a bucket gets the same weight (see :mod:`steward.cube.replicates`).
    exclude_patients : frozenset of str
        SHA-256 hex digests of patient identifiers (as text, trimmed) whose rows are left out
        of every margin and counted in ``excluded["opted_out"]`` (needs ``columns.patient``).
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
    exclude_patients: frozenset[str] = frozenset()
    patient_buckets: int = PATIENT_BUCKETS

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
        buckets = self.patient_buckets
        if not 2 <= buckets <= 1 << 20 or buckets & (buckets - 1):
            raise InputError(
                f"The number of patient buckets must be a power of two from 2 to 1,048,576; "
                f"got {buckets}."
            )
        if self.replicates and cols.patient is None:
            raise InputError(
                "Patient-clustered bootstrap replicates need a patient column: name the column "
                "holding patient identifiers, or ask for no replicates."
            )
        if self.exclude_patients and cols.patient is None:
            raise InputError(
                "Opted-out patients can only be left out when the data has a patient column: "
                "name the column holding patient identifiers."
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
#: Fine-bin code of a row of an opted-out patient (left out of every margin, counted).
OPTED_OUT = -4
#: Name of the table of opted-out patients' digests registered on the connection.
OPT_OUT_TABLE = "__opt_outs"
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
    overall, subgroup, intersection, time and patient-bucket margins (score statistics; see
    :mod:`steward.cube.replicates`), and, with a
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
    def scan_progress_share(self) -> float:
        """Estimated share of DuckDB's query progress reached when the scan of the source ends.

        DuckDB counts every consumer of the streamed per-row table (each union part, and each
        grouping set when there are several) as a pipeline as large as the scan, although they
        finish with it; measured plateaus were 0.60, 0.25, 0.10 and 0.07 for 1, 2, 6 and 7 sets
        plus a comparator, against 0.50, 0.25, 0.125 and 0.09 here (an estimate on the high
        side keeps the progress bar from filling before the scan ends).
        """
        parts = 1 if self.request.columns.comparator is None else 3
        sets = len(self.sets) if len(self.sets) > 1 else 0
        return 1.0 / (1 + parts + sets)

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
            if req.replicates:
                bucket = patient_bucket_sql(quote(cols.patient), req.patient_buckets)
                typed.append(f"{bucket} AS __pb")
        scale, thresholds = req.score_scale, req.thresholds
        fine, coarse = req.fine_bins, req.coarse_bins
        score = [
            typed,
            [f"{probability_sql('__sv', scale)} AS __sp"],
            [f"{score_code_sql('__sv', '__sm', '__sp')} AS __sc"],
            ["CASE WHEN __sc = 0 THEN __sp END AS __p"],
            [
                f"{uniform_estimate_sql('__p', fine)} AS __pkf",
                f"{uniform_estimate_sql('__p', coarse)} AS __pkc",
            ],
            [
                f"coalesce({uniform_bin_sql('__p', fine, thresholds, '__pkf')}, __sc, "
                f"{MISSING_SCORE}) AS __fb",
                f"{uniform_bin_sql('__p', coarse, thresholds, '__pkc')} AS __cb",
                f"{_clipped('__p')} AS __pk",
            ],
            [
                "ln(__pk) AS __lp",
                "ln(1.0 - __pk) AS __l1p",
                "CAST(__cb * 4 + __lab AS BIGINT) AS __ccell",
            ],
        ]
        stages = score if cols.comparator is None else self._with_comparator(score)
        last = "__pp IS NOT NULL" if cols.comparator is not None else "false"
        stages.append(
            [f"CAST((__fb * 2 + CAST({last} AS INTEGER)) * 4 + __lab AS BIGINT) AS __fcell"]
        )
        query = f"SELECT * FROM {scan}"
        for stage in stages:
            query = f"SELECT *, {', '.join(stage)} FROM ({query})"
        return self._without_opted_out(query) if req.exclude_patients else query

    def _without_opted_out(self, query: str) -> str:
        """Rows of opted-out patients keep only a fine cell that counts them; every other cell
        is emptied so they reach no margin, comparator, pair or replicate."""
        digest = f"sha256(trim(__pid)) IN (SELECT d FROM {OPT_OUT_TABLE})"
        flagged = f"SELECT *, coalesce({digest}, false) AS __opt FROM ({query})"
        cells = ["__ccell"]
        if self.request.columns.comparator is not None:
            cells += ["__cfcell", "__pcell"]
        replaced = [f"CASE WHEN __opt THEN NULL ELSE {c} END AS {c}" for c in cells]
        fine = f"CAST({OPTED_OUT * 2 * LABEL_CODES} AS BIGINT)"
        replaced.append(f"CASE WHEN __opt THEN {fine} ELSE __fcell END AS __fcell")
        return f"SELECT * REPLACE ({', '.join(replaced)}) FROM ({flagged})"

    def _with_comparator(self, score: list[list[str]]) -> list[list[str]]:
        """The per-row stages with the comparator's columns added alongside the score's."""
        req, source = self.request, self.source
        column = req.columns.comparator
        assert column is not None
        value, missing = number_sql(column, source.column_type(column))
        fine, thresholds = req.fine_bins, req.thresholds
        pairs = req.pair_binning
        comparator = [
            [f"{value} AS __cv", f"{missing} AS __cm"],
            [f"{probability_sql('__cv', req.score_scale)} AS __cp"],
            [f"{score_code_sql('__cv', '__cm', '__cp')} AS __cc"],
            ["CASE WHEN __sc = 0 AND __cc = 0 THEN __cp END AS __c"],
            [
                f"{uniform_estimate_sql('__c', fine)} AS __ckf",
                "CASE WHEN __c IS NOT NULL THEN __p END AS __pp",
            ],
            [
                f"coalesce({uniform_bin_sql('__c', fine, thresholds, '__ckf')}, "
                "CASE WHEN __cc < 0 THEN __cc END) AS __cfb",
                f"{_clipped('__c')} AS __ck",
                f"{pairs.estimate_sql('__pp')} AS __pe",
                f"{pairs.estimate_sql('__c')} AS __ce",
            ],
            [
                "ln(__ck) AS __lc",
                "ln(1.0 - __ck) AS __l1c",
                "CAST(__cfb * 4 + __lab AS BIGINT) AS __cfcell",
                f"CAST(({pairs.bin_sql('__pp', '__pe')} * {self.pair_bin_count} "
                f"+ {pairs.bin_sql('__c', '__ce')}) * 4 + __lab AS BIGINT) AS __pcell",
            ],
        ]
        return [s + c for s, c in zip(score, comparator, strict=True)]

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


_NULL_KEY = {"__t": "INTEGER", "__pb": "INTEGER", "__fcell": "BIGINT", "__ccell": "BIGINT"}


def _clipped(value: str) -> str:
    # greatest/least turn a NULL value into a bound; such rows only reach cells that are
    # dropped (invalid or missing scores), so their log sums are never read
    return f"greatest({P_CLIP!r}, least({1 - P_CLIP!r}, {value}))"


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
        sets.append(GroupingSet("patient", ("__pb", "__ccell")))
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


def part(result: pa.Table, plan: CubePlan, kind: str | int) -> pa.Table:
    """Rows of one grouping set (``kind`` of a GroupingSet, or a negative part id)."""
    import pyarrow.compute as pc  # the DuckDB pass only: the numpy pass does without

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
