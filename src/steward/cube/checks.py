"""Input checks of the cube pass: turn the pass's invalid-row counts into one-paragraph messages.

The aggregation pass counts bad rows as it goes (special bin and label codes), so valid data is
scanned once; only when something is wrong do these functions scan again to name the rows.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pyarrow as pa

from steward.cube.plan import COMPARATOR_PART, LABEL_CODES, CubePlan, ints, part
from steward.cube.sources import ROW_NUMBER, DataSource, read_failure
from steward.cube.sql import INVALID_LABEL, INVALID_TIME, NOT_NUMERIC, OUT_OF_RANGE, quote

if TYPE_CHECKING:
    import duckdb

    from steward.cube.model import Cube

#: Rows (and distinct values) named in a message.
SHOWN = 10
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d*,\d+\s*$")

__all__ = ["find_problems", "no_rows", "no_scores", "read_failure", "single_level_groups"]


def no_rows(source: DataSource) -> str:
    if source.kind == "csv":
        return f"{source.name} has a header row but no data rows: there is nothing to evaluate."
    return f"{source.name} has no data rows: there is nothing to evaluate."


def no_scores(plan: CubePlan) -> str:
    column = plan.request.columns.score
    return (
        f"The score column {column!r} of {plan.source.name} is empty on every row: there is "
        "nothing to evaluate. Check that the right column is named as the score."
    )


def find_problems(
    connection: duckdb.DuckDBPyConnection, plan: CubePlan, result: pa.Table
) -> list[str]:
    """Messages for every kind of bad value the pass counted (empty if the data is valid)."""
    cols = plan.request.columns
    overall = part(result, plan, "overall")
    n = overall["__n"].to_numpy()
    cells = ints(overall, "__fcell")
    fine_bin = cells // (2 * LABEL_CODES)
    counts = {
        "score_text": int(n[fine_bin == NOT_NUMERIC].sum()),
        "score_range": int(n[fine_bin == OUT_OF_RANGE].sum()),
        "label": int(n[cells % LABEL_CODES == INVALID_LABEL].sum()),
    }
    if cols.comparator is not None:
        compared = part(result, plan, COMPARATOR_PART)
        comparator_bin = ints(compared, "__cfcell") // LABEL_CODES
        n_compared = compared["__n"].to_numpy()
        counts["comparator_text"] = int(n_compared[comparator_bin == NOT_NUMERIC].sum())
        counts["comparator_range"] = int(n_compared[comparator_bin == OUT_OF_RANGE].sum())
    if cols.time is not None:
        times = next(s for s in plan.sets if s.dims == (cols.time,))
        rows = part(result, plan, plan.mask(times))
        import pyarrow.compute as pc

        bad = pc.fill_null(pc.equal(rows["__t"], INVALID_TIME), False)
        counts["time"] = _sum_n(rows.filter(bad))
    if plan.request.replicates:
        counts["patient"] = _missing_patients(connection, plan)
    if not any(counts.values()):
        return []
    locator = _Locator(connection, plan)
    return [locator.describe(kind, n) for kind, n in counts.items() if n]


def single_level_groups(plan: CubePlan, cube: Cube) -> list[str]:
    """Messages for group columns whose rows all share one level."""
    messages = []
    for column in plan.request.columns.groups:
        levels = cube.margins[(column,)].levels
        if len(levels) == 1:
            value = levels[0][0]
            shown = "empty" if value is None else repr(value)
            messages.append(
                f"Group column {column!r} of {plan.source.name} has a single value ({shown}) "
                "on every row with a score, so it defines no subgroups to compare; remove it "
                "from the group columns or check that the right column is named."
            )
    return messages


def _sum_n(table: pa.Table) -> int:
    import pyarrow.compute as pc

    total = pc.sum(table["__n"]).as_py()
    return int(total or 0)


def _missing_patients(connection: duckdb.DuckDBPyConnection, plan: CubePlan) -> int:
    grouping = plan.find("patient")
    assert grouping is not None
    rows = connection.execute(
        f"SELECT sum(__n) FROM __cube WHERE __set = {plan.mask(grouping)} "
        "AND __pb IS NULL AND __ccell IS NOT NULL"
    ).fetchall()
    return int(rows[0][0] or 0)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


class _Locator:
    """Finds the first bad rows with a second, numbered scan (only when there are any)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, plan: CubePlan) -> None:
        self.connection = connection
        self.plan = plan
        self.source = plan.source
        scan = plan.source.numbered_sql(connection, plan.text_columns)
        self.rows_sql = plan.rows_sql(scan)

    def _first(self, column: str, condition: str) -> list[tuple[int, str | None]]:
        rows = self.connection.execute(
            f"SELECT {ROW_NUMBER}, CAST({quote(column)} AS VARCHAR) FROM ({self.rows_sql}) "
            f"WHERE {condition} ORDER BY {ROW_NUMBER} LIMIT {SHOWN}"
        ).fetchall()
        return [(int(r[0]), r[1]) for r in rows]

    def _listing(self, rows: list[tuple[int, str | None]]) -> str:
        return "; ".join(f"{self.source.row_reference(row)}: {value!r}" for row, value in rows)

    def describe(self, kind: str, n: int) -> str:
        cols = self.plan.request.columns
        if kind in ("score_text", "score_range"):
            return self._score(cols.score, "score", kind == "score_text", n)
        if kind in ("comparator_text", "comparator_range"):
            assert cols.comparator is not None
            return self._score(cols.comparator, "comparator", kind == "comparator_text", n)
        if kind == "label":
            return self._label(cols.label, n)
        if kind == "time":
            assert cols.time is not None
            return self._time(cols.time, n)
        assert cols.patient is not None
        return self._patient(cols.patient, n)

    def _score(self, column: str, role: str, not_numeric: bool, n: int) -> str:
        code = "__sc" if role == "score" else "__cc"
        rows = self._first(column, f"{code} = {NOT_NUMERIC if not_numeric else OUT_OF_RANGE}")
        first = self._listing(rows)
        where = f"column {column!r} of {self.source.name}"
        if not_numeric:
            comma = any(_DECIMAL_COMMA.match(value or "") for _, value in rows)
            hint = " They use decimal commas: write numbers with a decimal point." if comma else ""
            return (
                f"{_plural(n, 'row')} of the {role} {where} {'is' if n == 1 else 'are'} not a "
                f"number: {first}. Every {role} must be a number (leave the cell empty if "
                f"there is none).{hint}"
            )
        scale = self.plan.request.score_scale
        if scale == "percent":
            return (
                f"{_plural(n, 'row')} of the {role} {where} {'is' if n == 1 else 'are'} outside "
                f"0 to 100, the range of percentages: {first}. Check the values, or use "
                "`--score-scale probability` if they are probabilities."
            )
        return (
            f"{_plural(n, 'row')} of the {role} {where} {'is' if n == 1 else 'are'} outside "
            f"[0, 1]: {first}. Scores must be probabilities between 0 and 1; if the column "
            "holds percentages use `--score-scale percent`, if it holds log-odds use "
            "`--score-scale logit`."
        )

    def _label(self, column: str, n: int) -> str:
        values = self.connection.execute(
            f"SELECT CAST({quote(column)} AS VARCHAR) AS v, count(*) FROM ({self.rows_sql}) "
            f"WHERE __lab = {INVALID_LABEL} GROUP BY v ORDER BY min({ROW_NUMBER}) LIMIT {SHOWN}"
        ).fetchall()
        shown = ", ".join(f"{v!r} ({_plural(int(c), 'row')})" for v, c in values)
        first = self._listing(self._first(column, f"__lab = {INVALID_LABEL}"))
        return (
            f"{_plural(n, 'row')} of the label column {column!r} of {self.source.name} "
            f"{'has' if n == 1 else 'have'} a value other than 0/1, true/false or empty: "
            f"{shown}; first at {first}. Use 1 for the event, 0 for no event, and leave the "
            "cell empty while the outcome is not known."
        )

    def _time(self, column: str, n: int) -> str:
        first = self._listing(self._first(column, f"__t = {INVALID_TIME}"))
        return (
            f"{_plural(n, 'row')} of the time column {column!r} of {self.source.name} "
            f"{'is' if n == 1 else 'are'} not a date or timestamp: {first}. Write times as "
            "ISO dates or timestamps (2024-03-31 or 2024-03-31 14:05:00)."
        )

    def _patient(self, column: str, n: int) -> str:
        first = self._listing(self._first(column, "__pid IS NULL AND __p IS NOT NULL"))
        return (
            f"{_plural(n, 'row')} with a score {'has' if n == 1 else 'have'} no patient id in "
            f"column {column!r} of {self.source.name}: {first}. Patient-clustered bootstrap "
            "replicates need the patient on every row; fill it in or ask for no replicates."
        )
