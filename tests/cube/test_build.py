"""The DuckDB cube pass against a brute-force numpy cube, merge properties and bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from steward.cube import assign_bins, edges_with_thresholds, logit_edges
from steward.cube.build import CubeRequest, build_cube, replicate_weights
from steward.cube.sources import ColumnMap
from steward.cube.sql import LogitBinning, uniform_bin_sql
from steward.errors import InputError

from ._reference import Rows, assert_cubes_equal, reference_cube

GROUPS = ("sex", "site")
FULL = ColumnMap("score", "label", GROUPS, comparator="comparator", patient="patient", time="time")


def random_rows(n: int, seed: int, thresholds: tuple[float, ...] = (0.29,)) -> Rows:
    """Scores with ties, exact edges and thresholds, 0 and 1; NULL labels, groups and times."""
    rng = np.random.default_rng(seed)
    special = [0.0, 1.0, 0.29, 0.5, 0.01, 0.99, *thresholds]
    beta = rng.beta(1.5, 4.0, n)
    digits = rng.choice([2, 3, 12], n)
    rounded = np.select([digits == 2, digits == 3], [np.round(beta, 2), np.round(beta, 3)], beta)
    raw = np.where(rng.random(n) < 0.3, rng.choice(special, n), rounded)
    score = [None if rng.random() < 0.05 else float(v) for v in raw]
    label = [None if rng.random() < 0.1 else int(rng.random() < 0.3) for _ in range(n)]
    sex = [None if rng.random() < 0.05 else str(rng.choice(["F", "M"])) for _ in range(n)]
    site = [str(rng.choice(["north", "south", "east"])) for _ in range(n)]
    comparator = [
        None if rng.random() < 0.1 else float(np.clip(v + rng.normal(0, 0.1), 0, 1)) for v in raw
    ]
    start = dt.datetime(2024, 1, 1)
    time = [
        None if rng.random() < 0.05 else start + dt.timedelta(hours=int(h))
        for h in rng.integers(0, 24 * 200, n)
    ]
    patient = [f"p{int(i)}" for i in rng.integers(0, max(1, n // 3), n)]
    return Rows(score, label, {"sex": sex, "site": site}, comparator, patient, time)


def full_request(**changes: object) -> CubeRequest:
    settings_ = {
        "columns": FULL,
        "thresholds": (0.29, 0.1234),
        "fine_bins": 100,
        "coarse_bins": 20,
        "pair_bins": 16,
        "intersections": (("sex", "site"),),
        "replicates": 3,
    }
    settings_.update(changes)
    return CubeRequest(**settings_)  # type: ignore[arg-type]


def test_cube_equals_the_numpy_reference() -> None:
    rows = random_rows(1500, seed=1)
    request = full_request()
    cube = build_cube(rows.table(), request)
    assert_cubes_equal(cube, reference_cube(rows, request))
    assert cube.excluded["missing_score"] == sum(s is None for s in rows.score)
    assert cube.overall.stats[0, :, 2, 0].sum() > 0  # unlabelled rows are kept


def test_default_resolution_equals_the_reference() -> None:
    rows = random_rows(1000, seed=2)
    request = CubeRequest(FULL, thresholds=(0.29,), intersections=(("sex", "site"),))
    cube = build_cube(rows.table(), request)
    assert cube.overall.edges.size == 20_000 + 1  # 0.29 is already a uniform edge
    assert_cubes_equal(cube, reference_cube(rows, request))


@pytest.mark.slow
def test_large_multithreaded_pass_equals_the_reference() -> None:
    # big enough for DuckDB to scan with several threads and merge partial aggregates
    rows = random_rows(300_000, seed=12)
    request = CubeRequest(FULL, thresholds=(0.29, 0.1234), intersections=(("sex", "site"),))
    assert_cubes_equal(build_cube(rows.table(), request), reference_cube(rows, request))


@pytest.mark.parametrize("window", ["day", "week", "month"])
def test_time_windows_are_iso_dates_of_window_starts(window: str) -> None:
    rows = random_rows(300, seed=3)
    request = full_request(time_window=window, replicates=0)
    cube = build_cube(rows.table(), request)
    assert_cubes_equal(cube, reference_cube(rows, request))
    levels = cube.margins[("time",)].levels
    assert (None,) in levels
    first = dt.date.fromisoformat(str(levels[0][0]))
    assert first.weekday() == 0 if window == "week" else True
    assert first.day == 1 if window == "month" else True


@pytest.mark.parametrize(
    ("scale", "transform"),
    [("percent", lambda p: p * 100.0), ("logit", lambda p: np.log(p) - np.log1p(-p))],
)
def test_score_scales(scale: str, transform: object) -> None:
    rows = random_rows(800, seed=4)
    rng = np.random.default_rng(0)
    p = rng.uniform(0.001, 0.999, len(rows.score))
    values = transform(p)  # type: ignore[operator]
    rows.score = [None if s is None else float(v) for s, v in zip(rows.score, values, strict=True)]
    rows.comparator = None
    request = full_request(
        score_scale=scale, columns=ColumnMap("score", "label", GROUPS), intersections=()
    )
    request = CubeRequest(**{**request.__dict__, "replicates": 0})
    assert_cubes_equal(build_cube(rows.table(), request), reference_cube(rows, request))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scores=st.lists(
        st.one_of(
            st.floats(0.0, 1.0),
            st.sampled_from([0.0, 1.0, 0.29, 0.3, 0.1 + 0.2, 1 / 3]),
            st.none(),
        ),
        min_size=1,
        max_size=60,
    ),
    threshold=st.floats(0.001, 0.999),
    data=st.data(),
)
def test_property_cube_equals_reference(
    scores: list[float | None], threshold: float, data: st.DataObject
) -> None:
    n = len(scores)
    if all(s is None for s in scores):
        scores[0] = 0.5
    label = data.draw(st.lists(st.sampled_from([0, 1, None]), min_size=n, max_size=n))
    sex = data.draw(st.lists(st.sampled_from(["F", "M", None]), min_size=n, max_size=n))
    comparator = data.draw(
        st.lists(st.one_of(st.floats(0.0, 1.0), st.none()), min_size=n, max_size=n)
    )
    rows = Rows(scores, label, {}, comparator)
    columns = ColumnMap("score", "label", comparator="comparator")
    if len({s for s, p in zip(sex, scores, strict=True) if p is not None}) > 1:
        rows.groups = {"sex": sex}
        columns = ColumnMap("score", "label", ("sex",), comparator="comparator")
    request = CubeRequest(
        columns, thresholds=(threshold,), fine_bins=97, coarse_bins=10, pair_bins=12
    )
    assert_cubes_equal(build_cube(rows.table(), request), reference_cube(rows, request))


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), share=st.floats(0.1, 0.9))
def test_property_cubes_of_a_split_merge_into_the_cube_of_the_union(
    seed: int, share: float
) -> None:
    rows = random_rows(120, seed=seed)
    rng = np.random.default_rng(seed)
    patients = sorted(set(rows.patient or []))
    # replicates merge when the parts hold disjoint patients
    in_a = {p for p in patients if rng.random() < share}
    index_a = [i for i, p in enumerate(rows.patient or []) if p in in_a]
    index_b = [i for i, p in enumerate(rows.patient or []) if p not in in_a]
    anchors = Rows(
        [0.2, 0.7, 0.4],
        [0, 1, None],
        {"sex": ["F", "M", None], "site": ["north", "south", "east"]},
        [0.3, 0.6, None],
        ["anchor-a", "anchor-b", "anchor-c"],
        [dt.datetime(2024, 1, 1), None, dt.datetime(2024, 2, 3)],
    )
    part_a, part_b = _concat(rows.take(index_a), anchors), rows.take(index_b)
    part_b = _concat(part_b, _renamed(anchors))
    request = full_request()
    whole = build_cube(_concat(part_a, part_b).table(), request)
    merged = build_cube(part_a.table(), request).merge(build_cube(part_b.table(), request))
    assert_cubes_equal(whole, merged)


def _renamed(rows: Rows) -> Rows:
    assert rows.patient is not None
    return Rows(
        rows.score,
        rows.label,
        rows.groups,
        rows.comparator,
        [p + "-2" for p in rows.patient],
        rows.time,
    )


def _concat(a: Rows, b: Rows) -> Rows:
    def join(x: list[object] | None, y: list[object] | None) -> list[object] | None:
        return None if x is None or y is None else [*x, *y]

    return Rows(
        a.score + b.score,
        a.label + b.label,
        {k: a.groups[k] + b.groups[k] for k in a.groups},
        join(a.comparator, b.comparator),  # type: ignore[arg-type]
        join(a.patient, b.patient),  # type: ignore[arg-type]
        join(a.time, b.time),  # type: ignore[arg-type]
    )


def _edge_probes(edges: np.ndarray) -> np.ndarray:
    inner = edges[(edges > 0) & (edges < 1)]
    probes = [edges, np.nextafter(inner, 0.0), np.nextafter(inner, 1.0)]
    probes.append(np.random.default_rng(0).random(5000))
    probes.append(np.array([0.0, 1.0, 5e-324, 1 - 2**-53, 1e-12, 0.29, 0.57, 0.58]))
    return np.unique(np.clip(np.concatenate(probes), 0.0, 1.0))


def _sql_bins(values: np.ndarray, expression: str) -> np.ndarray:
    connection = duckdb.connect()
    connection.register("probes", pa.table({"i": np.arange(values.size), "p": values}))
    rows = connection.execute(f"SELECT i, {expression} FROM probes ORDER BY i").fetchall()
    return np.array([r[1] for r in rows])


@pytest.mark.parametrize(
    ("n_bins", "thresholds"), [(100, ()), (100, (0.29, 0.123)), (20_000, (0.1, 0.25)), (7, (0.5,))]
)
def test_uniform_sql_bins_equal_assign_bins_on_and_around_every_edge(
    n_bins: int, thresholds: tuple[float, ...]
) -> None:
    edges = edges_with_thresholds(n_bins, thresholds)
    probes = _edge_probes(edges)
    got = _sql_bins(probes, uniform_bin_sql("p", n_bins, thresholds))
    np.testing.assert_array_equal(got, assign_bins(probes, edges))
    assert _sql_bins(np.array([0.29]), uniform_bin_sql("p", 100, ()))[0] == 29


@pytest.mark.parametrize(("n_bins", "thresholds"), [(256, ()), (256, (0.2, 0.05)), (12, (0.3,))])
def test_logit_sql_bins_equal_assign_bins_on_and_around_every_edge(
    n_bins: int, thresholds: tuple[float, ...]
) -> None:
    binning = LogitBinning(n_bins, thresholds)
    edges = logit_edges(n_bins, thresholds)
    probes = _edge_probes(edges)
    connection = duckdb.connect()
    connection.register("probes", pa.table({"i": np.arange(probes.size), "p": probes}))
    got = connection.execute(
        f"SELECT {binning.bin_sql('p', 'e')} FROM "
        f"(SELECT i, p, {binning.estimate_sql('p')} AS e FROM probes) ORDER BY i"
    ).fetchall()
    np.testing.assert_array_equal([g[0] for g in got], assign_bins(probes, edges))


def test_replicate_weights_are_deterministic_poisson_one() -> None:
    patients = [f"patient-{i}" for i in range(2000)]
    weights = replicate_weights(patients, 50)
    np.testing.assert_array_equal(weights, replicate_weights(patients, 50))
    assert weights.mean() == pytest.approx(1.0, abs=0.02)
    assert weights.var() == pytest.approx(1.0, abs=0.04)
    assert np.mean(weights == 0) == pytest.approx(np.exp(-1), abs=0.01)
    assert np.mean(weights == 2) == pytest.approx(np.exp(-1) / 2, abs=0.01)
    # replicates are independent of each other, and neighbouring identifiers of each other
    assert np.corrcoef(weights[:, 0], weights[:, 1])[0, 1] == pytest.approx(0.0, abs=0.08)
    neighbours = np.corrcoef(weights[:-1].ravel(), weights[1:].ravel())[0, 1]
    assert neighbours == pytest.approx(0.0, abs=0.03)
    # identifiers stored as integers weigh like the same identifiers stored as text
    np.testing.assert_array_equal(
        replicate_weights(["17", "18"], 5), replicate_weights([str(17), str(18)], 5)
    )


def test_integer_patient_ids_weigh_like_text_ids() -> None:
    rows = random_rows(300, seed=5)
    request = full_request(replicates=4)
    as_text = build_cube(rows.table(), request)
    table = rows.table()
    numbers = pa.array([int(p[1:]) for p in rows.patient or []], pa.int64())
    as_int = build_cube(
        table.set_column(table.schema.get_field_index("patient"), "patient", numbers), request
    )
    renamed = Rows(
        rows.score,
        rows.label,
        rows.groups,
        rows.comparator,
        [p[1:] for p in rows.patient or []],
        rows.time,
    )
    assert_cubes_equal(as_int, build_cube(renamed.table(), request))
    assert as_text.replicates is not None


def test_progress_reports_fractions_ending_at_one(tmp_path: Path) -> None:
    rows = random_rows(2000, seed=6)
    path = tmp_path / "rows.parquet"
    pq.write_table(rows.table(), path)
    seen: list[float] = []
    build_cube(path, full_request(), progress=seen.append)
    assert seen[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in seen)
    assert seen == sorted(seen)


# --- bad input -------------------------------------------------------------------------


def _csv(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_missing_column_is_named_with_the_available_columns(tmp_path: Path) -> None:
    path = _csv(tmp_path, "risk,outcome,sex\n0.1,0,F\n0.2,1,M\n")
    with pytest.raises(InputError) as error:
        build_cube(path, CubeRequest(ColumnMap("score", "outcome", ("sex",))))
    message = str(error.value)
    assert "'score'" in message
    assert "'risk', 'outcome', 'sex'" in message


def test_scores_outside_unit_interval_name_rows_lines_and_scale_options(tmp_path: Path) -> None:
    lines = ["score,label"] + [f"{v},0" for v in [0.1, 45, 0.3, 1.5, *[70] * 12]]
    path = _csv(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(InputError) as error:
        build_cube(path, CubeRequest(ColumnMap("score", "label")))
    message = str(error.value)
    assert message.startswith("14 rows of the score column 'score'")
    assert "row 2 (line 3): '45'" in message
    assert "row 4 (line 5): '1.5'" in message
    assert "row 12 (line 13)" in message  # the tenth bad row is listed
    assert "row 13 (line 14)" not in message  # the eleventh is not
    assert "--score-scale percent" in message
    assert "--score-scale logit" in message
    assert "\n" not in message


def test_percent_scores_above_100_are_reported_as_percentages(tmp_path: Path) -> None:
    path = _csv(tmp_path, "score,label\n50,0\n150,1\n")
    with pytest.raises(InputError, match=r"1 row of the score .* outside 0 to 100.*row 2"):
        build_cube(path, CubeRequest(ColumnMap("score", "label"), score_scale="percent"))


def test_non_numeric_scores_name_rows_and_values(tmp_path: Path) -> None:
    path = _csv(tmp_path, "score,label\n0.1,0\nhigh,1\n0.3,0\n,1\nn/a,0\n0.2x,1\n")
    with pytest.raises(InputError) as error:
        build_cube(path, CubeRequest(ColumnMap("score", "label")))
    message = str(error.value)
    assert message.startswith("2 rows of the score column 'score'")
    assert "not a number" in message
    assert "row 2 (line 3): 'high'" in message
    assert "row 6 (line 7): '0.2x'" in message
    assert "row 4" not in message  # empty and n/a are missing, not wrong
    assert "decimal commas" not in message


def test_decimal_commas_get_a_hint(tmp_path: Path) -> None:
    path = _csv(tmp_path, "score;label\n0,1;0\n0,9;1\n")
    with pytest.raises(InputError, match=r"row 1 \(line 2\): '0,1'.*decimal commas"):
        build_cube(path, CubeRequest(ColumnMap("score", "label")))


def test_bad_labels_list_distinct_values_and_first_rows(tmp_path: Path) -> None:
    body = "\n".join(["0.1,1", "0.2,yes", "0.3,TRUE", "0.4,", "0.5,2", "0.6,yes", "0.7,false"])
    path = _csv(tmp_path, "score,label\n" + body + "\n")
    with pytest.raises(InputError) as error:
        build_cube(path, CubeRequest(ColumnMap("score", "label")))
    message = str(error.value)
    assert message.startswith("3 rows of the label column 'label'")
    assert "'yes' (2 rows), '2' (1 row)" in message
    assert "row 2 (line 3): 'yes'" in message
    assert "row 5 (line 6): '2'" in message


def test_labels_accept_booleans_text_and_numbers() -> None:
    scores = [0.1, 0.2, 0.3, 0.4, 0.5]
    expected = np.array([2.0, 2.0, 1.0])  # negatives, positives, unlabelled
    for labels in (
        pa.array([True, False, None, True, False]),
        pa.array(["1", "FALSE", "", "true", "0"]),
        pa.array([1.0, 0.0, float("nan"), 1.0, 0.0]),
        pa.array([1, 0, None, 1, 0], pa.int8()),
    ):
        table = pa.table({"score": scores, "label": labels})
        cube = build_cube(table, CubeRequest(ColumnMap("score", "label"), fine_bins=10))
        np.testing.assert_array_equal(cube.overall.stats[0, :, :, 0].sum(axis=0), expected)


def test_comparator_outside_unit_interval_is_reported(tmp_path: Path) -> None:
    path = _csv(tmp_path, "score,label,clinician\n0.1,0,0.2\n0.2,1,-3\n0.3,1,\n")
    with pytest.raises(InputError) as error:
        build_cube(path, CubeRequest(ColumnMap("score", "label", comparator="clinician")))
    message = str(error.value)
    assert message.startswith("1 row of the comparator column 'clinician'")
    assert "row 2 (line 3): '-3'" in message
    assert "--score-scale percent" in message


def test_single_level_group_is_named_with_its_level(tmp_path: Path) -> None:
    path = _csv(tmp_path, "score,label,site,sex\n0.1,0,A,F\n0.2,1,A,M\n0.3,1,A,F\n")
    with pytest.raises(InputError) as error:
        build_cube(path, CubeRequest(ColumnMap("score", "label", ("sex", "site"))))
    message = str(error.value)
    assert "'site'" in message
    assert "('A')" in message
    assert "'sex'" not in message


def test_header_only_csv_and_empty_parquet_have_no_data_rows(tmp_path: Path) -> None:
    path = _csv(tmp_path, "score,label\n")
    with pytest.raises(InputError, match="header row but no data rows"):
        build_cube(path, CubeRequest(ColumnMap("score", "label")))
    parquet = tmp_path / "empty.parquet"
    pq.write_table(
        pa.table({"score": pa.array([], pa.float64()), "label": pa.array([], pa.int64())}), parquet
    )
    with pytest.raises(InputError, match="no data rows"):
        build_cube(parquet, CubeRequest(ColumnMap("score", "label")))


def test_a_score_column_without_values_is_refused(tmp_path: Path) -> None:
    path = _csv(tmp_path, "score,label\n,0\nNA,1\n")
    with pytest.raises(InputError, match=r"score column 'score' of .* is empty on every row"):
        build_cube(path, CubeRequest(ColumnMap("score", "label")))


def test_bad_rows_of_parquet_and_tables_are_numbered_from_one(tmp_path: Path) -> None:
    table = pa.table({"score": [0.1, 0.2, 7.0, 0.4], "label": [0, 1, 0, 1]})
    parquet = tmp_path / "rows.parquet"
    pq.write_table(table, parquet, row_group_size=2)
    for source in (parquet, table, table.to_pandas()):
        with pytest.raises(InputError) as error:
            build_cube(source, CubeRequest(ColumnMap("score", "label")))
        assert "row 3: '7.0'" in str(error.value)
        assert "line" not in str(error.value)


def test_unreadable_times_are_reported(tmp_path: Path) -> None:
    path = _csv(tmp_path, "score,label,when\n0.1,0,2024-01-05\n0.2,1,yesterday\n0.3,0,\n")
    with pytest.raises(InputError, match=r"1 row of the time column 'when'.*'yesterday'"):
        build_cube(path, CubeRequest(ColumnMap("score", "label", time="when")))


def test_replicates_need_a_patient_on_every_scored_row(tmp_path: Path) -> None:
    path = _csv(tmp_path, "score,label,pid\n0.1,0,a\n0.2,1,\n,0,\n")
    request = CubeRequest(ColumnMap("score", "label", patient="pid"), replicates=2)
    with pytest.raises(InputError, match=r"1 row with a score has no patient id.*row 2 \(line 3\)"):
        build_cube(path, request)
    with pytest.raises(InputError, match="need a patient column"):
        CubeRequest(ColumnMap("score", "label"), replicates=2).validate()


def test_requests_that_describe_no_cube_are_refused() -> None:
    table = pa.table({"score": [0.1, 0.2], "label": [0, 1], "sex": ["F", "M"]})
    bad = [
        CubeRequest(ColumnMap("score", "label"), thresholds=(1.0,)),
        CubeRequest(ColumnMap("score", "label", ("sex",)), intersections=(("sex",),)),
        CubeRequest(ColumnMap("score", "label", ("sex",)), intersections=(("sex", "age"),)),
    ]
    for request in bad:
        with pytest.raises(InputError):
            build_cube(table, request)
