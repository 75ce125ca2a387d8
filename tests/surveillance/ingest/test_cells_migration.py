"""Migration 0018 merges window score cells stored at 1,000 bins into the 100-bin layout
exactly: the merged cells equal the cells the same events give when ingested at 100 bins."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import sessionmaker

from registry._support import ACTOR
from steward.db import migrate
from steward.db.engine import make_engine
from steward.db.session import StewardSession, session_factory, unit_of_work
from steward.registry.organisations import organisation_by_slug
from steward.registry.tools import add_version, register_tool
from steward.surveillance import cells
from steward.surveillance.deployments import MonitoringSettings, create_deployment
from steward.surveillance.ingest import ingest_outcomes, ingest_predictions
from steward.surveillance.linkage import OutcomeDefinition
from steward.surveillance.models import ScoreCell
from steward.surveillance.rows import OutcomeRow, PredictionRow
from steward.surveillance.windows import window_cubes

from .._support import organisations

BEFORE, REBIN = "0017", "0018"
NOW = datetime(2026, 3, 1, tzinfo=UTC)
#: One threshold on neither grid, one on both.
THRESHOLDS = (0.1234, 0.3)


@pytest.fixture
def engine(empty_db_url: str) -> Iterator[Engine]:
    migrate.upgrade(empty_db_url, BEFORE)
    engine = make_engine(empty_db_url)
    yield engine
    engine.dispose()


def _deployment(sessions: sessionmaker[StewardSession], name: str) -> uuid.UUID:
    with unit_of_work(sessions, ACTOR) as session:
        tool = register_tool(session, organisation_by_slug(session, "rxa"), name)
        deployment, _ = create_deployment(
            session,
            add_version(session, tool, "1.0"),
            organisation_by_slug(session, "rxa-ed"),
            "ED",
            MonitoringSettings(
                thresholds=THRESHOLDS,
                outcome=OutcomeDefinition("deterioration", 48),
                subgroups=("sex",),
            ),
        )
        return deployment.id


def _ingest(sessions: sessionmaker[StewardSession], deployment_id: uuid.UUID) -> None:
    rng = np.random.default_rng(5)
    start = NOW - timedelta(days=40)
    predictions, outcomes = [], []
    for i in range(600):
        moment = start + timedelta(hours=float(rng.uniform(0, 38 * 24)))
        score = float(rng.choice([rng.beta(1.5, 8.0), *THRESHOLDS, 0.0, 1.0, 0.25]))
        predictions.append(
            PredictionRow(
                event_id=f"p{i}",
                patient_id=f"patient{i}",
                encounter_id=f"encounter{i}",
                time=moment,
                score=score,
                subgroups={"sex": "female"} if i % 3 else ({"sex": "male"} if i % 2 else None),
            )
        )
        if rng.random() < score:
            outcomes.append(
                OutcomeRow(
                    event_id=f"o{i}",
                    patient_id=f"patient{i}",
                    encounter_id=f"encounter{i}",
                    outcome="deterioration",
                    value=1,
                    time=moment + timedelta(hours=3),
                )
            )
    with unit_of_work(sessions, ACTOR) as session:
        ingest_predictions(session, deployment_id, predictions[:400], now=NOW - timedelta(days=5))
        ingest_outcomes(session, deployment_id, outcomes, now=NOW - timedelta(days=5))
        ingest_predictions(session, deployment_id, predictions[400:], now=NOW)


def test_cells_at_1000_bins_merge_into_the_100_bin_layout(
    empty_db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = session_factory(engine)
    organisations(sessions)
    before = _deployment(sessions, "Stored before")
    with monkeypatch.context() as patch:
        patch.setattr(cells, "WINDOW_BINS", 1_000)
        _ingest(sessions, before)
        with sessions() as session:
            assert session.scalar(select(func.max(ScoreCell.bin))) > 500

    migrate.upgrade(empty_db_url, REBIN)
    after = _deployment(sessions, "Stored after")
    _ingest(sessions, after)
    with sessions() as session:
        for grain in cells.GRAINS:
            merged = window_cubes(session, before, grain, NOW.date().replace(year=2000), NOW.date())
            fresh = window_cubes(session, after, grain, NOW.date().replace(year=2000), NOW.date())
            assert merged.keys() == fresh.keys()
            assert merged
            for window, cube in fresh.items():
                for dims, margin in cube.margins.items():
                    other = merged[window].margins[dims]
                    assert other.levels == margin.levels
                    np.testing.assert_array_equal(other.edges, margin.edges)
                    np.testing.assert_array_equal(other.stats[..., 0], margin.stats[..., 0])
                    np.testing.assert_allclose(other.stats, margin.stats, rtol=1e-9, atol=1e-9)


def test_downgrade_refuses_to_split_stored_cells(empty_db_url: str, engine: Engine) -> None:
    sessions = session_factory(engine)
    organisations(sessions)
    migrate.upgrade(empty_db_url, REBIN)
    _ingest(sessions, _deployment(sessions, "Stored"))
    with pytest.raises(RuntimeError, match="cannot be split back"):
        migrate.downgrade(empty_db_url, BEFORE)
