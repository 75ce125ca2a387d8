"""SQL text of the cube's aggregation pass: per-row typing and binning, and the GROUPING SETS query.

Every expression here is plain SQL that DuckDB runs; the bin expressions reproduce
:func:`steward.cube.bins.assign_bins` exactly (tests/cube/test_build.py checks it).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from steward.cube.bins import LOGIT_RANGE, inserted_thresholds, logit_edges, uniform_edges

#: Scores are clipped into [P_CLIP, 1 - P_CLIP] before taking logarithms, so that
#: ``sum log p``, ``sum log(1 - p)`` and the logit sums stay finite for scores of exactly 0 or 1.
P_CLIP = 1e-12

#: Text values read as "no value" in score, comparator and label columns (compared lower-cased).
MISSING_TEXT: tuple[str, ...] = ("", "na", "n/a", "nan", "null", "none")

#: Codes the pass gives rows whose score cannot be binned (a valid bin is >= 0).
OUT_OF_RANGE, NOT_NUMERIC = -1, -2
#: Label code of a value that is none of 0/1/true/false/empty.
INVALID_LABEL = 3
#: Time-window key of a time value that is not a date.
INVALID_TIME = -(2**31)

_NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
)
_TIME_TYPES = ("DATE", "TIMESTAMP")


def is_numeric_type(duckdb_type: str) -> bool:
    return duckdb_type.startswith(_NUMERIC_TYPES)


def is_text_type(duckdb_type: str) -> bool:
    return duckdb_type == "VARCHAR"


def is_time_type(duckdb_type: str) -> bool:
    return duckdb_type.startswith(_TIME_TYPES)


def quote(name: str) -> str:
    """A SQL identifier for any column name."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: float) -> str:
    """A DOUBLE literal that round-trips ``value`` exactly (``repr`` is the shortest exact form)."""
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def _text_is_missing(column: str) -> str:
    markers = ", ".join(f"'{m}'" for m in MISSING_TEXT)
    return f"({column} IS NULL OR lower(trim({column})) IN ({markers}))"


def number_sql(column: str, duckdb_type: str) -> tuple[str, str]:
    """``(value, missing)`` expressions: the column as DOUBLE (NULL if unreadable) and whether
    the row has no value at all (NULL, NaN or an empty/NA text)."""
    col = quote(column)
    if is_text_type(duckdb_type):
        value = f"TRY_CAST(trim({col}) AS DOUBLE)"
        return value, f"({_text_is_missing(col)} OR coalesce(isnan({value}), false))"
    value = f"CAST({col} AS DOUBLE)"
    return value, f"({value} IS NULL OR isnan({value}))"


def probability_sql(value: str, scale: str) -> str:
    """The score as a probability under ``scale`` (see :data:`steward.cube.sources.ScoreScale`)."""
    if scale == "percent":
        return f"({value} / 100.0)"
    if scale == "logit":
        return f"(1.0 / (1.0 + exp(-({value}))))"
    return value


def score_code_sql(value: str, missing: str, probability: str) -> str:
    """0 for a usable score, NULL for none, OUT_OF_RANGE or NOT_NUMERIC otherwise."""
    return (
        f"CASE WHEN {missing} THEN NULL WHEN {value} IS NULL THEN {NOT_NUMERIC} "
        f"WHEN {probability} >= 0.0 AND {probability} <= 1.0 THEN 0 ELSE {OUT_OF_RANGE} END"
    )


def label_sql(column: str, duckdb_type: str) -> str:
    """Label code: 0, 1, 2 (unlabelled: NULL, NaN, empty or NA text) or INVALID_LABEL."""
    col = quote(column)
    if duckdb_type == "BOOLEAN":
        return f"CASE WHEN {col} THEN 1 WHEN NOT {col} THEN 0 ELSE 2 END"
    if is_numeric_type(duckdb_type):
        value = f"CAST({col} AS DOUBLE)"
        return (
            f"CASE WHEN {value} IS NULL OR isnan({value}) THEN 2 WHEN {value} = 1 THEN 1 "
            f"WHEN {value} = 0 THEN 0 ELSE {INVALID_LABEL} END"
        )
    text = f"lower(trim(CAST({col} AS VARCHAR)))"
    number = f"TRY_CAST({text} AS DOUBLE)"
    return (
        f"CASE WHEN {_text_is_missing(col)} THEN 2 WHEN {text} = 'true' THEN 1 "
        f"WHEN {text} = 'false' THEN 0 WHEN {number} = 1 THEN 1 WHEN {number} = 0 THEN 0 "
        f"ELSE {INVALID_LABEL} END"
    )


def time_window_sql(column: str, duckdb_type: str, window: str) -> str:
    """Days since 1970-01-01 of the start of the row's time window (INVALID_TIME if unreadable)."""
    col = quote(column)
    if is_text_type(duckdb_type):
        stamp = f"TRY_CAST(trim({col}) AS TIMESTAMP)"
        bad = f"(NOT {_text_is_missing(col)} AND {stamp} IS NULL)"
    else:
        stamp, bad = col, "false"
    start = f"CAST(date_trunc('{window}', {stamp}) AS DATE)"
    return (
        f"CASE WHEN {bad} THEN {INVALID_TIME} "
        f"ELSE CAST(date_diff('day', DATE '1970-01-01', {start}) AS INTEGER) END"
    )


def _count_at_or_below(value: str, points: Sequence[float]) -> str:
    return "".join(f" + CAST({value} >= {literal(t)} AS INTEGER)" for t in points)


def uniform_estimate_sql(value: str, n_bins: int) -> str:
    """``floor(value * n_bins)``: the bin estimate :func:`uniform_bin_sql` corrects."""
    return f"floor({value} * {n_bins}.0)"


def uniform_bin_sql(
    value: str, n_bins: int, thresholds: Sequence[float], estimate: str | None = None
) -> str:
    """Bin of ``value`` (in [0, 1]) among ``edges_with_thresholds(n_bins, thresholds)``.

    ``floor(p * K)`` alone is wrong on edges (``0.29 * 100`` is ``28.999999999999996``), so the
    estimate ``k`` is corrected by comparing ``p`` with ``k / K`` and ``(k + 1) / K``, which IEEE
    division computes exactly as ``np.arange(K + 1) / K`` does; ``p = 1`` joins the last bin;
    inserted thresholds then each shift the bins at and above them by one. ``estimate`` names
    a column holding :func:`uniform_estimate_sql` (computed once, reused here). Every operation
    propagates NULL, so a missing value has no bin.
    """
    k = estimate or uniform_estimate_sql(value, n_bins)
    binned = (
        f"CAST({k} AS INTEGER) - CAST({k} / {n_bins}.0 > {value} AS INTEGER)"
        f" + CAST(({k} + 1.0) / {n_bins}.0 <= {value} AS INTEGER)"
        f" - CAST({value} >= 1.0 AS INTEGER)"
    )
    inserted = inserted_thresholds(thresholds, uniform_edges(n_bins))
    return f"({binned}{_count_at_or_below(value, inserted)})"


@dataclass(frozen=True)
class LogitBinning:
    """Bin assignment against ``logit_edges(n_bins, thresholds)`` in SQL.

    The edges are 0, 1, ``sigmoid(linspace(-R, R, m))`` and the thresholds. The number of
    sigmoid edges at or below ``p`` is estimated from ``logit(p)`` and corrected by exact
    comparisons with the edge values, passed as a list literal of their exact doubles.
    """

    n_bins: int
    thresholds: tuple[float, ...]

    @property
    def edges(self) -> NDArray[np.float64]:
        return logit_edges(self.n_bins, self.thresholds)

    @functools.cached_property
    def interior(self) -> NDArray[np.float64]:
        """The sigmoid edges: every edge but 0, 1 and the inserted thresholds."""
        return logit_edges(self.n_bins, ())[1:-1]

    @functools.cached_property
    def inserted(self) -> list[float]:
        """Thresholds that are not sigmoid edges, 0 or 1: each shifts the bins at and above it."""
        return inserted_thresholds(self.thresholds, np.concatenate([[0.0, 1.0], self.interior]))

    def estimate_sql(self, value: str) -> str:
        """Estimated count of sigmoid edges at or below ``value``: exact or off by one."""
        m = self.interior.size
        step = 2.0 * LOGIT_RANGE / (m - 1)
        logit = f"(ln({value}) - ln(1.0 - {value}))"
        return (
            f"CAST(greatest(0.0, least({m}.0, floor(({logit} + {LOGIT_RANGE!r}) / {step!r})"
            " + 1.0)) AS INTEGER)"
        )

    def bin_sql(self, value: str, estimate: str) -> str:
        """The bin of ``value``, given the column ``estimate`` of :meth:`estimate_sql`."""
        interior = self.interior
        m = interior.size
        points = "CAST([" + ", ".join(repr(float(e)) for e in interior) + "] AS DOUBLE[])"
        # list indexes are 1-based: points[c + 1] is the edge just above c edges
        count = (
            f"({estimate} + CAST({estimate} < {m} AND ({points})[{estimate} + 1] <= {value}"
            f" AS INTEGER) - CAST({estimate} > 0 AND ({points})[{estimate}] > {value} AS INTEGER))"
        )
        # p = 1 is counted among the edges at or below it but joins the last bin: the edge 1.0
        # is left out of the count, which is the same thing
        binned = f"{count}{_count_at_or_below(value, self.inserted)}"
        # the estimate is not NULL for a NULL value (greatest/least skip NULLs)
        return f"(CASE WHEN {value} IS NOT NULL THEN {binned} END)"
