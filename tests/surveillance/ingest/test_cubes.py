"""The stored window cubes equal the cube ``steward.cube`` builds from scratch over the same rows,
whatever the order of batches and however late the outcomes come."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import sessionmaker

from steward.cube import CubeRequest, build_cube
from steward.cube.model import Cube, Margin
from steward.cube.sources import ColumnMap
from steward.db.session import StewardSession, unit_of_work
from steward.surveillance.cells import WINDOW_BINS, window_start
from steward.surveillance.ingest import close_windows, ingest_outcomes, ingest_predictions
from steward.surveillance.linkage import OutcomeDefinition, label_of
from steward.surveillance.rows import OutcomeRow, PredictionRow
from steward.surveillance.windows import window_cube, window_cubes

from ._support import ACTOR, T0, make_deployment

THRESHOLD = 0.2
DEFINITION = OutcomeDefinition("deterioration", window_hours=48, per="encounter", lag_hours=6)
SCORES = st.one_of(
    st.floats(0.0, 1.0, allow_nan=False),
    st.sampled_from([0.0, 1.0, THRESHOLD, 0.29, 0.5]),
)


#: Hours after T0: mostly within two weeks (so outcomes often fall in prediction windows),
#: sometimes up to ten weeks later (so months and weeks differ)
HOURS = st.one_of(st.integers(0, 24 * 14), st.integers(0, 24 * 14), st.integers(0, 24 * 70))


@dataclass(frozen=True)
class Events:
    predictions: list[PredictionRow]
    outcomes: list[OutcomeRow]
    batches: list[list[PredictionRow | OutcomeRow]]
    now: datetime


@st.composite
def events(draw: st.DrawFn) -> Events:
    n = draw(st.integers(1, 40))
    predictions = []
    for i in range(n):
        patient = draw(st.integers(0, 2))
        sex = draw(st.sampled_from(["F", "M", None]))
        predictions.append(
            PredictionRow(
                event_id=f"p{i}",
                patient_id=f"pt{patient}",
                encounter_id=f"e{patient}-{draw(st.integers(0, 1))}",
                time=T0 + timedelta(hours=draw(HOURS)),
                score=draw(SCORES),
                subgroups=None if sex is None else {"sex": sex},
            )
        )
    outcomes = []
    for i in range(draw(st.integers(0, 15))):
        patient = draw(st.integers(0, 2))
        outcomes.append(
            OutcomeRow(
                event_id=f"o{i}",
                patient_id=f"pt{patient}",
                encounter_id=f"e{patient}-{draw(st.integers(0, 1))}",
                outcome=draw(st.sampled_from(["deterioration", "deterioration", "death"])),
                value=draw(st.sampled_from([0, 1, 1])),
                time=T0 + timedelta(hours=draw(HOURS)),
            )
        )
    everything: list[PredictionRow | OutcomeRow] = [*predictions, *outcomes]
    order = draw(st.permutations(range(len(everything))))
    cuts = sorted(draw(st.lists(st.integers(1, len(everything)), max_size=5)))
    shuffled = [everything[i] for i in order]
    bounds = [0, *cuts, len(everything)]
    batches = [shuffled[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    latest = max(e.time for e in everything)
    now = latest + timedelta(hours=draw(st.integers(0, 24 * 5)))
    return Events(predictions, outcomes, batches, now)


def _expected_labels(data: Events) -> list[int | None]:
    labels = []
    for p in data.predictions:
        linked = [
            o.value
            for o in data.outcomes
            if DEFINITION.links(
                (p.patient_id, p.encounter_id, p.time),
                (o.patient_id, o.encounter_id, o.outcome, o.time),
            )
        ]
        labels.append(label_of(linked, DEFINITION.due_at(p.time), data.now))
    return labels


def _from_scratch(data: Events, grain: str, with_groups: bool) -> Cube:
    table = pa.table(
        {
            "score": [p.score for p in data.predictions],
            "label": pa.array(_expected_labels(data), pa.int64()),
            "sex": [(p.subgroups or {}).get("sex") for p in data.predictions],
            "time": [p.time.replace(tzinfo=None) for p in data.predictions],
        }
    )
    columns = ColumnMap("score", "label", ("sex",) if with_groups else (), time="time")
    request = CubeRequest(
        columns,
        (THRESHOLD,),
        fine_bins=WINDOW_BINS,
        coarse_bins=WINDOW_BINS,
        time_window=grain,  # type: ignore[arg-type]
    )
    return build_cube(table, request)


def _same(mine: Margin, theirs: Margin) -> None:
    assert mine.levels == theirs.levels
    np.testing.assert_array_equal(mine.edges, theirs.edges)
    np.testing.assert_array_equal(mine.stats[..., 0], theirs.stats[..., 0])
    np.testing.assert_allclose(mine.stats, theirs.stats, rtol=1e-9, atol=1e-9)


def _ingest(sessions: sessionmaker[StewardSession], data: Events, deployment: object) -> None:
    rng = random.Random(len(data.batches))
    for batch in data.batches:
        predictions = [e for e in batch if isinstance(e, PredictionRow)]
        outcomes = [e for e in batch if isinstance(e, OutcomeRow)]
        latest = max(e.time for e in batch)
        # each batch is seen at some time between its latest event and the end
        now = latest + (data.now - latest) * rng.random()
        parts = [(ingest_predictions, predictions), (ingest_outcomes, outcomes)]
        rng.shuffle(parts)
        for service, rows in parts:
            if rows:
                with unit_of_work(sessions, ACTOR) as session:
                    report = service(session, deployment, rows, now=now)  # type: ignore[operator]
                    assert report.accepted == len(rows), report
    with unit_of_work(sessions, ACTOR) as session:
        close_windows(session, deployment, data.now)  # type: ignore[arg-type]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=events(), grain=st.sampled_from(["day", "week", "month"]))
def test_incremental_window_cubes_equal_a_cube_built_from_scratch(
    sessions: sessionmaker[StewardSession], data: Events, grain: str
) -> None:
    deployment = make_deployment(
        sessions, thresholds=(THRESHOLD,), window_hours=48, lag_hours=6, subgroups=("sex",)
    )
    _ingest(sessions, data, deployment)
    sexes = {(p.subgroups or {}).get("sex") for p in data.predictions}
    expected = _from_scratch(data, grain, with_groups=len(sexes) > 1)
    with sessions() as session:
        merged = window_cube(session, deployment, grain, date(2000, 1, 1), date(2100, 1, 1))
        per_window = window_cubes(session, deployment, grain, date(2000, 1, 1), date(2100, 1, 1))
    _same(merged.overall, expected.overall)
    if len(sexes) > 1:
        _same(merged.margins[("sex",)], expected.margins[("sex",)])
    windows = expected.margins[("time",)]
    assert [(d.isoformat(),) for d in per_window] == list(windows.levels)
    for i, (start, cube) in enumerate(per_window.items()):
        assert start == window_start(start, grain)
        np.testing.assert_allclose(cube.overall.stats[0], windows.stats[i], rtol=1e-9, atol=1e-9)


def test_late_outcomes_move_predictions_in_their_own_windows(
    sessions: sessionmaker[StewardSession],
) -> None:
    deployment = make_deployment(sessions, window_hours=48, subgroups=("sex",))
    early = PredictionRow("a", "pt1", T0, 0.7, "e1", subgroups={"sex": "F"})
    later = PredictionRow("b", "pt1", T0 + timedelta(days=1), 0.4, "e1", subgroups={"sex": "F"})
    with unit_of_work(sessions, ACTOR) as session:
        ingest_predictions(session, deployment, [early, later], now=T0 + timedelta(days=1))

    def counts() -> dict[date, tuple[float, float, float]]:
        with sessions() as session:
            cubes = window_cubes(session, deployment, "day", date(2026, 1, 1), date(2026, 2, 1))
        return {
            day: tuple(float(c.overall.total().stats[:, k, 0].sum()) for k in range(3))  # type: ignore[misc]
            for day, c in cubes.items()
        }

    assert counts() == {T0.date(): (0, 0, 1), (T0 + timedelta(days=1)).date(): (0, 0, 1)}
    # the window of "a" closes (day 2 + 48 h) before the outcome arrives: negative, then positive
    with unit_of_work(sessions, ACTOR) as session:
        close_windows(session, deployment, T0 + timedelta(days=2, hours=1))
    assert counts()[T0.date()] == (1, 0, 0)
    outcome = OutcomeRow("o", "pt1", "deterioration", 1, T0 + timedelta(hours=30), "e1")
    with unit_of_work(sessions, ACTOR) as session:
        ingest_outcomes(session, deployment, [outcome], now=T0 + timedelta(days=3))
    assert counts() == {T0.date(): (0, 1, 0), (T0 + timedelta(days=1)).date(): (0, 1, 0)}
