"""Tests of the synthetic deterioration data set: determinism, shape, realism and streaming."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from steward.errors import InputError
from steward.synthetic import DEMO_COLUMNS, generate, iter_chunks, write
from steward.synthetic.deterioration import BLOCK_ROWS, MISCALIBRATED_GROUP, SCHEMA

N_ROWS = 200_000


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return generate(N_ROWS, seed=11)


@pytest.fixture(scope="module")
def labelled(table: pa.Table) -> dict[str, np.ndarray]:
    keep = pc.and_(pc.is_valid(table["deteriorated"]), pc.is_valid(table["risk_score"]))
    rows = table.filter(keep)
    return {name: rows[name].to_numpy(zero_copy_only=False) for name in rows.column_names}


def test_same_seed_same_table_and_other_seed_differs() -> None:
    first = generate(20_000, seed=3)
    assert first.equals(generate(20_000, seed=3))
    other = generate(20_000, seed=4)
    assert not first["risk_score"].equals(other["risk_score"])
    assert set(first["patient_id"].to_pylist()).isdisjoint(other["patient_id"].to_pylist())


def test_prefix_property_across_block_boundaries() -> None:
    longer = generate(3 * BLOCK_ROWS + 17, seed=5)
    shorter = generate(BLOCK_ROWS + 5, seed=5)
    assert longer.slice(0, shorter.num_rows).equals(shorter)


def test_schema_and_column_names(table: pa.Table) -> None:
    assert table.schema.equals(SCHEMA)
    assert table.column_names == [
        "patient_id",
        "encounter_id",
        "site",
        "sex",
        "age_band",
        "ethnicity",
        "deprivation",
        "admitted_at",
        "risk_score",
        "clinician_estimate",
        "deteriorated",
    ]
    assert table.num_rows == N_ROWS
    roles = [DEMO_COLUMNS[k] for k in ("score", "label", "comparator", "patient", "time")]
    assert set(roles) | set(DEMO_COLUMNS["groups"]) <= set(table.column_names)


def test_values_in_domain(table: pa.Table) -> None:
    for name in ("risk_score", "clinician_estimate"):
        values = table[name].drop_null().to_numpy()
        assert values.min() >= 0.0
        assert values.max() <= 1.0
    assert set(table["deteriorated"].drop_null().to_pylist()) == {0, 1}
    assert set(table["deprivation"].to_pylist()) == {1, 2, 3, 4, 5}
    assert 3 <= len(pc.unique(table["site"])) <= 5
    assert len(pc.unique(table["ethnicity"])) == 5
    times = table["admitted_at"]
    assert pc.min(times).as_py().isoformat() >= "2024-01-01"
    assert pc.max(times).as_py().isoformat() < "2026-01-01"


def test_ids_unique_and_encounters_per_patient(table: pa.Table) -> None:
    assert len(pc.unique(table["encounter_id"])) == N_ROWS
    counts = pc.value_counts(table["patient_id"]).field("counts").to_numpy()
    assert counts.min() >= 1
    assert counts.max() <= 6
    assert 1.6 < counts.mean() < 3.0
    assert (counts > 1).mean() > 0.3


def test_smallest_ethnic_group_is_small_but_present(table: pa.Table) -> None:
    shares = pc.value_counts(table["ethnicity"]).to_pylist()
    smallest = min(item["counts"] for item in shares) / N_ROWS
    assert 0.005 < smallest < 0.03


def test_missingness(table: pa.Table) -> None:
    n = table.num_rows
    assert 0.015 < table["deteriorated"].null_count / n < 0.025
    assert 0 < table["risk_score"].null_count / n < 0.005
    assert 0.05 < table["clinician_estimate"].null_count / n < 0.2
    unlabelled = table.filter(pc.is_null(table["deteriorated"]))
    labelled_rows = table.filter(pc.is_valid(table["deteriorated"]))
    # Missing labels are the most recent rows: their outcome window has not closed.
    assert pc.min(unlabelled["admitted_at"]).as_py() >= pc.max(labelled_rows["admitted_at"]).as_py()


def test_prevalence_discrimination_and_calibration(labelled: dict[str, np.ndarray]) -> None:
    y, p = labelled["deteriorated"], labelled["risk_score"]
    assert 0.06 <= y.mean() <= 0.08
    assert 0.76 <= roc_auc_score(y, p) <= 0.80
    assert 0.96 < y.sum() / p.sum() < 1.05
    has_estimate = ~np.isnan(labelled["clinician_estimate"])
    clinician_auc = roc_auc_score(y[has_estimate], labelled["clinician_estimate"][has_estimate])
    assert 0.67 <= clinician_auc <= 0.73
    assert clinician_auc < roc_auc_score(y[has_estimate], p[has_estimate]) - 0.04


def test_miscalibrated_subgroup_detectable(labelled: dict[str, np.ndarray]) -> None:
    column, value = MISCALIBRATED_GROUP
    y, p = labelled["deteriorated"], labelled["risk_score"]
    group = labelled[column] == value
    ratio_group = y[group].sum() / p[group].sum()
    ratio_rest = y[~group].sum() / p[~group].sum()
    # Poisson standard error of observed/expected in the group.
    standard_error = np.sqrt(y[group].sum()) / p[group].sum()
    assert ratio_group - 3 * standard_error > 1.05
    assert 0.95 < ratio_rest < 1.04
    for other in set(labelled[column]) - {value}:
        members = labelled[column] == other
        assert y[members].sum() / p[members].sum() < ratio_group - 0.1


def test_outcomes_cluster_within_patient(table: pa.Table) -> None:
    rows = table.filter(pc.is_valid(table["deteriorated"])).select(["patient_id", "deteriorated"])
    frame = rows.to_pandas()
    frame["first"] = ~frame.duplicated("patient_id")
    frame["previous"] = frame.groupby("patient_id")["deteriorated"].shift()
    repeat = frame.dropna(subset=["previous"])
    after_event = repeat.loc[repeat["previous"] == 1, "deteriorated"].mean()
    after_none = repeat.loc[repeat["previous"] == 0, "deteriorated"].mean()
    assert after_event > 1.5 * after_none


@pytest.mark.parametrize("chunk_rows", [1, 7_001, BLOCK_ROWS, 50_000])
def test_chunks_concatenate_to_one_shot_generation(chunk_rows: int) -> None:
    n_rows = 2 * BLOCK_ROWS + 123 if chunk_rows > 1 else 40
    chunks = list(iter_chunks(n_rows, seed=9, chunk_rows=chunk_rows))
    assert all(chunk.num_rows == chunk_rows for chunk in chunks[:-1])
    assert 0 < chunks[-1].num_rows <= chunk_rows
    assert pa.concat_tables(chunks).equals(generate(n_rows, seed=9))


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_write_equals_generate(tmp_path: Path, suffix: str) -> None:
    n_rows = BLOCK_ROWS + 999
    progress: list[int] = []
    path = write(
        tmp_path / f"data{suffix}", n_rows, seed=2, chunk_rows=5_000, progress=progress.append
    )
    assert progress == [*range(5_000, n_rows, 5_000), n_rows]
    expected = generate(n_rows, seed=2)
    if suffix == ".parquet":
        read = pq.read_table(path)
        assert read.equals(expected)
        assert pq.ParquetFile(path).metadata.num_row_groups == 4
    else:
        options = pa_csv.ConvertOptions(column_types=SCHEMA)
        read = pa_csv.read_csv(path, convert_options=options).cast(SCHEMA)
        exact = [name for name in SCHEMA.names if name != "risk_score"]
        assert read.select(exact).equals(expected.select(exact))
        np.testing.assert_allclose(
            read["risk_score"].to_numpy(zero_copy_only=False),
            expected["risk_score"].to_numpy(zero_copy_only=False),
            rtol=1e-15,
        )
    assert list(tmp_path.iterdir()) == [path]


def test_written_file_has_ordinary_permissions(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    reference.write_text("")
    path = write(tmp_path / "data.csv", 10)
    assert path.stat().st_mode & 0o777 == reference.stat().st_mode & 0o777


def test_format_argument_overrides_suffix(tmp_path: Path) -> None:
    path = write(tmp_path / "data.out", 100, format="parquet")
    assert pq.read_table(path).num_rows == 100


def test_bad_arguments_are_clear_and_leave_no_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"suffix '\.txt'"):
        write(tmp_path / "data.txt", 10)
    with pytest.raises(InputError, match="n_rows must be an integer >= 0"):
        write(tmp_path / "data.csv", -1)
    with pytest.raises(InputError, match="chunk_rows must be an integer >= 1"):
        write(tmp_path / "data.csv", 10, chunk_rows=0)
    with pytest.raises(InputError, match="does not exist"):
        write(tmp_path / "missing" / "data.csv", 10)
    assert list(tmp_path.iterdir()) == []
    assert generate(0).num_rows == 0


def test_interrupted_write_leaves_nothing(tmp_path: Path) -> None:
    def stop(rows: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write(tmp_path / "data.parquet", 30_000, chunk_rows=10_000, progress=stop)
    assert list(tmp_path.iterdir()) == []


def test_streaming_write_memory_is_bounded(tmp_path: Path) -> None:
    # Arrow's allocator peak in a fresh process: writing 16x more rows must not grow it.
    script = textwrap.dedent(
        """
        import sys
        import pyarrow as pa
        from steward.synthetic import write
        write(sys.argv[1], int(sys.argv[2]), chunk_rows=20_000)
        print(pa.default_memory_pool().max_memory())
        """
    )

    def peak(n_rows: int) -> int:
        result = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / f"{n_rows}.parquet"), str(n_rows)],
            check=True,
            capture_output=True,
            text=True,
        )
        return int(result.stdout.strip())

    small, large = peak(40_000), peak(640_000)
    one_shot_bytes = generate(64_000).nbytes * 10
    assert large < 2 * small + 8_000_000
    assert large < one_shot_bytes / 5
