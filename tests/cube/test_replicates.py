"""Patient-bucket replicate cubes: exact sums, stable buckets, agreement with the patient-level
bootstrap, and the coverage of the clustered intervals."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from steward.cube import LevelCounts, assign_bins, edges_with_thresholds
from steward.cube.build import CubeRequest, build_cube
from steward.cube.model import STATS
from steward.cube.replicates import (
    BucketSums,
    bucket_weights,
    patient_buckets,
)
from steward.cube.sources import ColumnMap, open_source
from steward.cube.stream import stream_cube
from steward.errors import InputError
from steward.metrics.bootstrap import bootstrap, from_replicates
from steward.metrics.calibration import oe_values
from steward.metrics.discrimination import auroc_values

from ._reference import row_stats
from .test_build import random_rows

COLUMNS = ColumnMap("score", "label", patient="patient")
FloatArray = NDArray[np.float64]


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def clustered_rows(
    rng: np.random.Generator, n_patients: int
) -> tuple[FloatArray, FloatArray, NDArray[np.int64]]:
    """Scores, labels and patients with 1-6 encounters each and a patient effect on both the
    score and the outcome, so encounters of one patient are strongly correlated."""
    visits = 1 + rng.poisson(2.0, n_patients).clip(max=5)
    patient = np.repeat(np.arange(n_patients), visits)
    seen = rng.normal(0.0, 1.0, n_patients)[patient]
    hidden = rng.normal(0.0, 1.0, n_patients)[patient]
    logit = -2.0 + seen + rng.normal(0.0, 0.3, patient.size)
    y = (rng.random(patient.size) < _sigmoid(logit + hidden - 0.3)).astype(np.float64)
    return _sigmoid(logit), y, patient


def table_of(p: FloatArray, y: FloatArray, patient: NDArray[np.int64]) -> pa.Table:
    ids = pa.array([f"pt-{i}" for i in patient.tolist()], pa.string())
    return pa.table({"score": p, "label": y, "patient": ids})


def label_codes(y: FloatArray) -> NDArray[np.intp]:
    return np.where(np.isnan(y), 2, np.nan_to_num(y)).astype(np.intp)


def brute_force_cube(p: FloatArray, y: FloatArray, edges: FloatArray) -> FloatArray:
    """``[bin, label, stat]`` sums of the rows, one row at a time."""
    stats = np.zeros((edges.size - 1, 3, len(STATS)))
    np.add.at(stats, (assign_bins(p, edges), label_codes(y)), row_stats(p))
    return stats


def _statistic(counts: LevelCounts) -> dict[str, FloatArray]:
    return {"auroc": auroc_values(counts), "oe_ratio": oe_values(counts)}


# Sums over buckets and stability of buckets


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    cuts=st.lists(st.integers(1, 399), max_size=6),
    buckets=st.sampled_from([2, 16, 1024]),
)
def test_bucket_cubes_add_up_to_the_overall_cube_whatever_the_batches(
    seed: int, cuts: list[int], buckets: int
) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    p = rng.choice([0.0, 0.05, 0.1, 0.5, 1.0, *rng.random(20)], n)
    labels = rng.choice([0.0, 1.0, np.nan], n)
    ids = pa.array([f"p{i}" for i in rng.integers(0, 60, n)], pa.string())
    edges = edges_with_thresholds(10, (0.1,))
    bins = edges.size - 1
    cells = assign_bins(p, edges) * 3 + label_codes(labels)
    terms = list(row_stats(p)[:, 1:].T)
    bucket = patient_buckets(ids, buckets)
    whole = BucketSums(buckets, bins)
    whole.add(bucket, cells, terms)
    split = BucketSums(buckets, bins)
    bounds = [0, *sorted(set(cuts)), n]
    for start, stop in itertools.pairwise(bounds):
        if stop > start:
            part = patient_buckets(ids[start:stop], buckets)
            split.add(part, cells[start:stop], [t[start:stop] for t in terms])
    np.testing.assert_array_equal(whole.stats()[0], split.stats()[0])  # counts: exact
    np.testing.assert_allclose(whole.stats(), split.stats(), rtol=1e-12, atol=1e-12)
    overall = brute_force_cube(p, labels, edges)
    summed = whole.stats().sum(axis=1)  # (stat, bin, label)
    np.testing.assert_array_equal(summed[0], overall[..., 0])
    np.testing.assert_allclose(np.moveaxis(summed, 0, -1), overall, rtol=1e-12, atol=1e-9)
    # every row of a patient is in the patient's bucket
    by_patient: dict[str, set[int]] = {}
    for pid, b in zip(ids.to_pylist(), bucket.tolist(), strict=True):
        by_patient.setdefault(pid, set()).add(b)
    assert all(len(b) == 1 for b in by_patient.values())


def test_a_patient_has_one_bucket_whatever_the_storage() -> None:
    ids = [f"patient-{i}" for i in range(3000)] + ["17", "018", " 5"]
    text = pa.array(ids, pa.string())
    expected = patient_buckets(text, 1024)
    assert expected.min() >= 0
    assert expected.max() < 1024
    np.testing.assert_array_equal(patient_buckets(pa.array(ids, pa.large_string()), 1024), expected)
    np.testing.assert_array_equal(patient_buckets(text.dictionary_encode(), 1024), expected)
    chunked = pa.chunked_array([text[:1000], text[1000:1001], text[1001:]])
    np.testing.assert_array_equal(patient_buckets(chunked, 1024), expected)
    # an identifier stored as a number is read as its text
    numbers = patient_buckets(pa.array([17, 18, 5], pa.int64()), 1024)
    np.testing.assert_array_equal(numbers, patient_buckets(pa.array(["17", "18", "5"]), 1024))
    assert patient_buckets(pa.array([None, "a"], pa.string()), 1024)[0] == -1
    # sequential identifiers spread evenly (chi-square statistic per degree of freedom ~ 1)
    counts = np.bincount(expected[:3000], minlength=1024)
    expected_count = 3000 / 1024
    assert ((counts - expected_count) ** 2 / expected_count).sum() / 1023 < 1.2


def test_bucket_weights_are_poisson_one_and_fixed() -> None:
    weights = bucket_weights(400, 1024)
    np.testing.assert_array_equal(weights, bucket_weights(400, 1024))
    np.testing.assert_array_equal(weights[:50], bucket_weights(50, 1024))
    assert weights.mean() == pytest.approx(1.0, abs=0.01)
    assert weights.var() == pytest.approx(1.0, abs=0.02)
    assert np.mean(weights == 0) == pytest.approx(np.exp(-1), abs=0.005)


def test_buckets_and_weights_are_pinned_so_stored_replicates_still_merge() -> None:
    # Replicate cubes of two data sets merge by addition only if a patient lands in the same
    # bucket and a bucket gets the same weights whenever either cube was built. Both rest on
    # libraries (DuckDB's ``hash``, numpy's Poisson stream): an upgrade that changes either
    # must fail here rather than silently mix incompatible replicates.
    ids = pa.array(["P000001", "P000002", "patient-42", "17", None])
    assert patient_buckets(ids, 1024).tolist() == [952, 407, 672, 58, -1]
    assert patient_buckets(pa.array([17, 123456789]), 1024).tolist() == [58, 110]
    weights = bucket_weights(2, 1024)
    assert weights[0, :12].tolist() == [0, 2, 0, 0, 1, 0, 2, 1, 4, 1, 0, 1]
    assert weights[1, :12].tolist() == [0, 0, 2, 0, 0, 3, 2, 0, 2, 1, 0, 1]
    assert weights.sum() == 2083


def test_every_input_format_and_pass_builds_the_same_replicates(tmp_path: Path) -> None:
    rows = random_rows(3000, seed=31)
    request = CubeRequest(COLUMNS, thresholds=(0.29,), fine_bins=50, coarse_bins=20, replicates=40)
    table = rows.table().select(["score", "label", "patient"])
    reference = build_cube(table, request, engine="sql").replicates
    assert reference is not None
    parquet = tmp_path / "rows.parquet"
    pq.write_table(table, parquet, row_group_size=700)
    csv = tmp_path / "rows.csv"
    pacsv.write_csv(table, csv)
    batches = table.to_batches(max_chunksize=257)
    sources: list[object] = [table, str(parquet), str(csv), pa.Table.from_batches(batches)]
    for source in sources:
        cube = build_cube(source, request)
        assert cube.replicates is not None
        np.testing.assert_array_equal(cube.replicates.stats[..., 0], reference.stats[..., 0])
        np.testing.assert_allclose(cube.replicates.stats, reference.stats, rtol=1e-12, atol=1e-9)
    # the numpy pass took the Parquet file and the tables, DuckDB the CSV file
    assert stream_cube(open_source(str(parquet)), request) is not None
    assert stream_cube(open_source(str(csv)), request) is None


def test_bad_bucket_counts_are_refused() -> None:
    for buckets in (0, 1, 1000, 1 << 21):
        with pytest.raises(InputError, match="power of two"):
            CubeRequest(COLUMNS, replicates=2, patient_buckets=buckets).validate()


# Agreement with the patient-level bootstrap


def patient_level_replicates(
    p: FloatArray,
    y: FloatArray,
    patient: NDArray[np.int64],
    edges: FloatArray,
    replicates: int,
    seed: int,
) -> LevelCounts:
    """The patient-level Poisson bootstrap, written independently: one Poisson(1) weight per
    patient and replicate, applied to a per-patient cube."""
    n_patients = int(patient.max()) + 1
    bins = edges.size - 1
    per_patient = np.zeros((n_patients, bins, 3, len(STATS)))
    np.add.at(per_patient, (patient, assign_bins(p, edges), label_codes(y)), row_stats(p))
    weights = np.random.default_rng(seed).poisson(1.0, (replicates, n_patients))
    stats = weights @ per_patient.reshape(n_patients, -1)
    return LevelCounts(edges, stats.reshape(replicates, bins, 3, len(STATS)))


def test_bucket_replicates_give_the_patient_level_standard_errors() -> None:
    """SEs from 2,000 bucket replicates and 2,000 patient-level replicates agree within Monte
    Carlo error (each SE has a relative error of about 1.6% from its replicates and the bucket
    SE about 2.2% more from B = 1,024), while ignoring patients gives clearly smaller SEs."""
    rng = np.random.default_rng(7)
    p, y, patient = clustered_rows(rng, 8_000)
    request = CubeRequest(COLUMNS, fine_bins=200, coarse_bins=100, replicates=2_000)
    cube = build_cube(table_of(p, y, patient), request)
    assert cube.replicates is not None
    edges = request.coarse_edges
    bucketed = _statistic(LevelCounts(edges, cube.replicates.stats).labelled())
    patients = _statistic(patient_level_replicates(p, y, patient, edges, 2_000, 8).labelled())
    rows = np.arange(p.size)
    encounters = _statistic(patient_level_replicates(p, y, rows, edges, 2_000, 9).labelled())
    for name in ("auroc", "oe_ratio"):
        se_bucket = np.std(bucketed[name])
        se_patient = np.std(patients[name])
        se_rows = np.std(encounters[name])
        assert se_bucket == pytest.approx(se_patient, rel=0.1), name
        assert se_rows < 0.9 * se_patient, name  # the data set does need clustering


# Coverage


@pytest.mark.slow
def test_clustered_interval_coverage() -> None:
    """Simulated 95% coverage of the bucket-clustered percentile intervals of AUROC and O/E
    (300 data sets of 1,500 patients, about 4,300 encounters, 200 replicates, B = 1,024), next to
    the row-level Poisson bootstrap, which ignores patients and covers too rarely."""
    truth_rng = np.random.default_rng(123)
    p_big, y_big, _ = clustered_rows(truth_rng, 1_500_000)
    true_oe = y_big.sum() / p_big.sum()
    from sklearn.metrics import roc_auc_score

    true_auroc = float(roc_auc_score(y_big, p_big))
    truth = {"auroc": true_auroc, "oe_ratio": true_oe}
    rng = np.random.default_rng(20261122)
    request = CubeRequest(COLUMNS, fine_bins=1000, coarse_bins=100, replicates=200)
    n_sets = 300
    clustered = dict.fromkeys(truth, 0)
    naive = dict.fromkeys(truth, 0)
    for _ in range(n_sets):
        p, y, patient = clustered_rows(rng, 1_500)
        cube = build_cube(table_of(p, y, patient), request)
        assert cube.replicates is not None
        point = cube.overall.level(()).labelled()
        intervals = from_replicates(cube.replicates, _statistic, point)
        rows = bootstrap(point, _statistic, 200, "poisson", seed=rng)
        for name, value in truth.items():
            clustered[name] += intervals[name].ci_low <= value <= intervals[name].ci_high  # type: ignore[operator]
            naive[name] += rows[name].ci_low <= value <= rows[name].ci_high  # type: ignore[operator]
    print({name: (clustered[name] / n_sets, naive[name] / n_sets) for name in truth})
    for name in truth:
        coverage = clustered[name] / n_sets
        assert coverage == pytest.approx(0.95, abs=0.03), f"{name}: {coverage:.3f}"
        assert naive[name] / n_sets < coverage - 0.02, f"{name}: naive {naive[name] / n_sets}"
