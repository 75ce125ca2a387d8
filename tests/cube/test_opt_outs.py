"""Opted-out patients: the cube with them excluded equals the cube of the rows without them."""

from __future__ import annotations

import dataclasses
import hashlib

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from steward.cube.build import CubeRequest, build_cube
from steward.cube.sources import ColumnMap
from steward.errors import InputError

from ._reference import assert_cubes_equal
from .test_build import full_request, random_rows


def _digest(patient: str) -> str:
    return hashlib.sha256(patient.encode()).hexdigest()


@given(seed=st.integers(0, 10_000), share=st.floats(0.0, 0.9))
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_excluding_patients_equals_dropping_their_rows_first(seed: int, share: float) -> None:
    rows = random_rows(400, seed=seed)
    assert rows.patient is not None
    patients = sorted(set(rows.patient))
    opted = set(patients[: int(len(patients) * share)])
    table = rows.table()
    kept = table.filter(pc.invert(pc.is_in(table["patient"], pa.array(sorted(opted), pa.string()))))
    if kept.num_rows == 0 or pc.count(kept["score"]).as_py() == 0:
        return
    request = full_request(exclude_patients=frozenset(_digest(p) for p in opted))
    try:
        expected = build_cube(kept, dataclasses.replace(request, exclude_patients=frozenset()))
    except InputError:
        return  # the remaining rows are not evaluable (e.g. a group left with one level)
    cube = build_cube(table, request)
    n_opted = sum(p in opted for p in rows.patient)
    assert cube.excluded.get("opted_out", 0) == n_opted
    stripped = dataclasses.replace(
        cube, excluded={k: v for k, v in cube.excluded.items() if k != "opted_out"}
    )
    assert_cubes_equal(stripped, expected)


def test_identifiers_are_compared_as_trimmed_text() -> None:
    table = pa.table(
        {
            "score": [0.1, 0.2, 0.3, 0.4, None],
            "label": [0, 1, 0, 1, 0],
            "pid": [" 007", "007", "7", "8", "007"],
        }
    )
    request = CubeRequest(
        ColumnMap("score", "label", patient="pid"),
        fine_bins=10,
        exclude_patients=frozenset({_digest("007")}),
    )
    cube = build_cube(table, request)
    # the row without a score belongs to an opted-out patient: it counts as opted out
    assert dict(cube.excluded) == {"missing_score": 0, "opted_out": 3}
    assert cube.overall.total().n_pos.sum() + cube.overall.total().n_neg.sum() == 2


def test_exclusion_needs_a_patient_column() -> None:
    request = CubeRequest(ColumnMap("score", "label"), exclude_patients=frozenset({"x"}))
    with pytest.raises(InputError, match="patient column"):
        request.validate()


def test_no_exclusion_reports_no_opted_out_count() -> None:
    rows = random_rows(200, seed=5)
    cube = build_cube(rows.table(), full_request(replicates=0))
    assert "opted_out" not in cube.excluded
