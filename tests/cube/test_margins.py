"""Group margins of the numpy pass summed in packs of columns, against the DuckDB pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from steward.cube import margins, stream
from steward.cube.arrow_columns import column_levels
from steward.cube.build import build_cube
from steward.cube.margins import plan_packs
from steward.cube.sources import ColumnMap, open_source
from steward.cube.stream import stream_cube

from ._reference import assert_cubes_equal
from .test_build import random_rows
from .test_stream import small_request

GROUPS = ("sex", "site", "ward", "band", "late", "code")


def grouped_table(n: int, seed: int) -> pa.Table:
    """The random rows plus: a ward of 300 levels, an integer band with nulls in some rows, a
    group whose second level only appears in the last rows, and a wide-ranging integer code."""
    rng = np.random.default_rng(seed)
    table = random_rows(n, seed=seed).table()
    ward = [f"w{int(i)}" for i in rng.integers(0, 300, n)]
    band = [None if rng.random() < 0.05 else int(b) for b in rng.integers(-2, 3, n)]
    late = ["early" if i < n * 3 // 4 else str(rng.choice(["early", "late"])) for i in range(n)]
    code = (rng.integers(0, 3, n) * 1000).astype(np.int64)
    table = table.append_column("ward", pa.array(ward))
    table = table.append_column("band", pa.array(band, pa.int16()))
    table = table.append_column("late", pa.array(late).dictionary_encode())
    return table.append_column("code", pa.array(code))


def grouped_request() -> object:
    columns = ColumnMap("score", "label", GROUPS, comparator="comparator", time="time")
    return small_request(columns=columns, intersections=(("sex", "band"), ("ward", "site")))


@pytest.mark.parametrize("joint_cells", [1, 200, 20_000, 1 << 18])
def test_packed_margins_equal_the_sql_pass_batch_by_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, joint_cells: int
) -> None:
    # small batches in row groups of other sizes: levels and dictionaries differ batch by batch
    monkeypatch.setattr(stream, "BATCH_ROWS", 256)
    monkeypatch.setattr(margins, "JOINT_CELLS", joint_cells)
    table = grouped_table(2500, seed=31)
    path = tmp_path / "rows.parquet"
    pq.write_table(table, path, row_group_size=900)
    request = grouped_request()
    fast = stream_cube(open_source(str(path)), request)  # type: ignore[arg-type]
    assert fast is not None
    slow = build_cube(str(path), request, engine="sql")  # type: ignore[arg-type]
    assert_cubes_equal(fast, slow)
    assert fast.margins[("late",)].levels == (("early",), ("late",))
    assert (None,) in fast.margins[("band",)].levels
    assert len(fast.margins[("ward",)].levels) > 290  # a few wards have no scored rows


def test_packs_stay_within_the_joint_limit_and_large_columns_stand_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(margins, "JOINT_CELLS", 1000)
    sizes = [5, 2, 400, 4, 3, 10]
    packs = plan_packs(sizes, cells=10)
    assert sorted(i for pack in packs for i in pack) == list(range(len(sizes)))
    for pack in packs:
        assert len(pack) == 1 or np.prod([sizes[i] for i in pack]) * 10 <= 1000
    assert [2] in packs
    assert [1, 4, 3] in packs  # 2 * 3 * 4 levels; with 5 more they would not fit


def test_integer_levels_by_subtraction_match_dictionary_encoding() -> None:
    values = pa.array([3, -1, 3, 7, -1], pa.int8())
    codes, levels = column_levels(values, is_time=False)
    assert [levels[c] for c in codes] == [("3",), ("-1",), ("3",), ("7",), ("-1",)]
    wide = pa.array([0, 10_000, 0], pa.int64())
    codes, levels = column_levels(wide, is_time=False)
    assert levels == [("0",), ("10000",)]
    assert codes.tolist() == [0, 1, 0]
    with_null = pa.array([2, None, 2], pa.int32())
    codes, levels = column_levels(with_null, is_time=False)
    assert [levels[c] for c in codes] == [("2",), (None,), ("2",)]
