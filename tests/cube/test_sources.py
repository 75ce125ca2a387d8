"""Opening prediction data: every format gives the same cube; unreadable files are refused."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from steward.cube.build import CubeRequest, build_cube
from steward.cube.sources import ColumnMap, DataSource, open_source
from steward.errors import InputError

from ._reference import assert_cubes_equal, reference_cube
from .test_build import full_request, random_rows


@pytest.fixture(scope="module")
def rows_frame() -> pd.DataFrame:
    frame: pd.DataFrame = random_rows(600, seed=11).table().to_pandas()
    return frame


def test_csv_parquet_pandas_polars_and_arrow_give_identical_cubes(
    rows_frame: pd.DataFrame, tmp_path: Path
) -> None:
    request = full_request()
    csv = tmp_path / "rows.csv"
    rows_frame.to_csv(csv, index=False)
    gzipped = tmp_path / "rows.csv.gz"
    gzipped.write_bytes(gzip.compress(csv.read_bytes()))
    parquet = tmp_path / "rows.parquet"
    rows_frame.to_parquet(parquet, index=False)
    arrow = pa.Table.from_pandas(rows_frame, preserve_index=False)
    sources: list[object] = [
        csv,
        str(gzipped),
        parquet,
        rows_frame,
        pl.from_pandas(rows_frame),
        arrow,
    ]
    expected = reference_cube(random_rows(600, seed=11), request)
    for source in sources:
        assert_cubes_equal(build_cube(source, request), expected)


def test_format_is_detected_from_content_not_name(tmp_path: Path) -> None:
    table = pa.table({"score": [0.2, 0.8], "label": [0, 1]})
    disguised = tmp_path / "predictions.csv"
    pq.write_table(table, disguised)
    source = open_source(disguised)
    assert source.kind == "parquet"
    assert source.columns == ("score", "label")
    text = tmp_path / "predictions.parquet"
    text.write_text("score,label\n0.2,0\n0.8,1\n")
    assert open_source(text).kind == "csv"
    request = CubeRequest(ColumnMap("score", "label"), fine_bins=10)
    assert_cubes_equal(build_cube(disguised, request), build_cube(text, request))


def test_in_memory_tables_are_described_without_copying() -> None:
    frame = pd.DataFrame({"score": np.linspace(0, 1, 5), "label": [0, 1, 0, 1, None]})
    source = open_source(frame)
    assert source.kind == "table"
    assert source.name == "the pandas DataFrame"
    assert source.table is frame
    assert source.column_type("label") == "DOUBLE"
    assert open_source(source) is source


def test_csv_columns_with_stray_text_are_read_as_text(tmp_path: Path) -> None:
    # the sniffer samples the first rows; a bad value far down must not abort the scan
    lines = ["score,label"] + ["0.5,1"] * 30_000 + ["oops,1"]
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"row 30001 \(line 30002\): 'oops'"):
        build_cube(path, CubeRequest(ColumnMap("score", "label")))


def test_nonexistent_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "data.csv"
    with pytest.raises(InputError, match=r"data file .*nowhere/data.csv does not exist"):
        open_source(missing)
    with pytest.raises(InputError, match="is a directory"):
        open_source(tmp_path)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="is empty: it has no header and no data rows"):
        open_source(empty)
    blank = tmp_path / "blank.csv"
    blank.write_text("\n\n  \n")
    with pytest.raises(InputError, match="is empty"):
        open_source(blank)


def test_png_and_renamed_workbook_are_not_csv_or_parquet(tmp_path: Path) -> None:
    png = tmp_path / "chart.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(InputError, match="not a CSV or Parquet file: it looks like a PNG image"):
        open_source(png)
    workbook = tmp_path / "scores.csv"
    with zipfile.ZipFile(workbook, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(InputError) as error:
        build_cube(workbook, CubeRequest(ColumnMap("score", "label")))
    assert "Excel .xlsx" in str(error.value)
    assert "Export the data as CSV" in str(error.value)


def test_binary_and_non_utf8_files_are_refused(tmp_path: Path) -> None:
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"score,label\x00\x01\x02" * 10)
    with pytest.raises(InputError, match="neither a CSV nor a Parquet file"):
        open_source(binary)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("score,label,ville\n0.1,0,Li\u00e8ge\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8 text"):
        open_source(latin)


def test_damaged_parquet_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1" + b"\x00" * 64)
    with pytest.raises(InputError, match="starts like a Parquet file but cannot be read"):
        open_source(broken)


def test_unsupported_objects_are_refused() -> None:
    with pytest.raises(InputError, match="Cannot read data of type dict"):
        open_source({"score": [0.1]})


def test_missing_columns_are_all_named(tmp_path: Path) -> None:
    source = open_source(pa.table({"p": [0.1], "y": [1]}))
    assert isinstance(source, DataSource)
    with pytest.raises(InputError) as error:
        source.require_columns(("p", "label", "site"))
    message = str(error.value)
    assert "has no columns 'label', 'site'" in message
    assert "available columns are: 'p', 'y'" in message


def test_non_numeric_score_column_type_is_refused() -> None:
    table = pa.table({"score": pa.array([True, False]), "label": [0, 1]})
    with pytest.raises(InputError, match="holds BOOLEAN values, not numbers"):
        build_cube(table, CubeRequest(ColumnMap("score", "label")))
