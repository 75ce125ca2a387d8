"""The ingestion service on its own: linkage rules, row checks, feature histograms, feedback
counts, and what it refuses."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from steward.audit.recorder import UnattributedChangeError
from steward.db.session import StewardSession, unit_of_work
from steward.integration import optout_register
from steward.integration.optouts import OptOut
from steward.registry.errors import InvalidInputError, NotFoundError
from steward.registry.models import ToolVersion
from steward.registry.organisations import organisation_by_slug
from steward.registry.tools import deploy
from steward.surveillance.ingest import (
    ingest_feedback,
    ingest_outcomes,
    ingest_predictions,
)
from steward.surveillance.models import MonitoringConfig, PredictionEvent
from steward.surveillance.rows import FeedbackRow, OutcomeRow, PredictionRow
from steward.surveillance.windows import feature_histograms, feedback_counts

from ._support import ACTOR, T0, make_deployment

JAN = (date(2026, 1, 1), date(2026, 2, 1))


def _labels(sessions: sessionmaker[StewardSession]) -> dict[str, int | None]:
    with sessions() as session:
        rows = session.execute(select(PredictionEvent.event_id, PredictionEvent.label))
        return {row.event_id: row.label for row in rows}


def _ingest(sessions: sessionmaker[StewardSession], service: object, *args: object, **kw: object):  # type: ignore[no-untyped-def]
    with unit_of_work(sessions, ACTOR) as session:
        return service(session, *args, **kw)  # type: ignore[operator]


def test_outcomes_link_per_encounter_or_per_patient(sessions: sessionmaker[StewardSession]) -> None:
    by_encounter = make_deployment(sessions, window_hours=24, per="encounter")
    by_patient = make_deployment(sessions, window_hours=24, per="patient")
    rows = [
        PredictionRow("same", "pt", T0, 0.3, "e1"),
        PredictionRow("other", "pt", T0, 0.3, "e2"),
        PredictionRow("too-early", "pt", T0 - timedelta(hours=30), 0.3, "e1"),
        PredictionRow("after", "pt", T0 + timedelta(hours=13), 0.3, "e1"),
    ]
    outcome = OutcomeRow("o", "pt", "deterioration", 1, T0 + timedelta(hours=12), "e1")
    now = T0 + timedelta(hours=14)
    for deployment in (by_encounter, by_patient):
        _ingest(sessions, ingest_predictions, deployment, rows, now=now)
        _ingest(sessions, ingest_outcomes, deployment, [outcome], now=now)
    with sessions() as session:
        stored = session.execute(
            select(PredictionEvent.deployment_id, PredictionEvent.event_id, PredictionEvent.label)
        ).all()
    labels = {(d, e): label for d, e, label in stored}
    assert labels[by_encounter, "same"] == 1
    assert labels[by_encounter, "other"] is None  # window open, other encounter
    assert labels[by_patient, "other"] == 1
    assert labels[by_encounter, "too-early"] == 0  # its window closed before the outcome
    assert labels[by_encounter, "after"] is None  # the outcome came before the prediction


def test_outcomes_before_predictions_and_explicit_negatives(
    sessions: sessionmaker[StewardSession], deployment: uuid.UUID
) -> None:
    later = T0 + timedelta(hours=3)
    outcomes = [
        OutcomeRow("o1", "unknown-yet", "deterioration", 1, later, "e1"),
        OutcomeRow("o2", "pt2", "deterioration", 0, later, "e2"),
        OutcomeRow("o3", "pt3", "death", 1, later, "e3"),
    ]
    report = _ingest(sessions, ingest_outcomes, deployment, outcomes, now=later)
    assert report.accepted == 3
    predictions = [
        PredictionRow("p1", "unknown-yet", T0, 0.9, "e1"),
        PredictionRow("p2", "pt2", T0, 0.1, "e2"),
        PredictionRow("p3", "pt3", T0, 0.5, "e3"),
    ]
    _ingest(sessions, ingest_predictions, deployment, predictions, now=later)
    assert _labels(sessions) == {"p1": 1, "p2": 0, "p3": None}
    # a positive outcome after an explicit negative in the same window wins
    positive = OutcomeRow("o4", "pt2", "deterioration", 1, T0 + timedelta(hours=5), "e2")
    _ingest(sessions, ingest_outcomes, deployment, [positive], now=later + timedelta(hours=3))
    assert _labels(sessions)["p2"] == 1


def test_rows_are_checked_one_by_one(
    sessions: sessionmaker[StewardSession], deployment: uuid.UUID
) -> None:
    rows = [
        PredictionRow("ok", "pt", T0, 0.5, tool_version="1.0"),
        PredictionRow("wrong-version", "pt", T0, 0.5, tool_version="2.0"),
        PredictionRow("naive", "pt", T0.replace(tzinfo=None), 0.5),
        PredictionRow("nan", "pt", T0, float("nan")),
        PredictionRow("", "pt", T0, 0.5),
        PredictionRow("bad-feature", "pt", T0, 0.5, features={"hr": float("inf")}),
        PredictionRow("ok", "pt", T0, 0.5, tool_version="1.0"),
    ]
    report = _ingest(sessions, ingest_predictions, deployment, rows, now=T0)
    assert (report.accepted, report.duplicates) == (1, 1)
    errors = {r.row: r.error for r in report.rejected}
    assert sorted(errors) == [2, 3, 4, 5, 6]
    assert "2.0" in errors[2]
    assert "time zone" in errors[3]
    assert "number" in errors[4]
    assert "event_id is empty" in errors[5]
    assert "features.hr" in errors[6]
    numbered = _ingest(
        sessions,
        ingest_predictions,
        deployment,
        [PredictionRow("x", "pt", T0, 2.0)],
        now=T0,
        row_numbers=[41],
    )
    assert numbered.rejected[0].row == 41


def test_refusals(sessions: sessionmaker[StewardSession], deployment: uuid.UUID) -> None:
    row = PredictionRow("p", "pt", T0, 0.5)
    with pytest.raises(NotFoundError):
        _ingest(sessions, ingest_predictions, uuid.uuid4(), [row], now=T0)
    with sessions() as session, session.begin(), pytest.raises(UnattributedChangeError):
        ingest_predictions(session, deployment, [row], now=T0)
    with unit_of_work(sessions, ACTOR) as session:
        version = session.scalars(select(ToolVersion)).first()
        assert version is not None
        bare = deploy(session, version, organisation_by_slug(session, "rxa-ward"), "theatres")
        bare_id = bare.id
    with pytest.raises(InvalidInputError, match="monitoring configuration"):
        _ingest(sessions, ingest_predictions, bare_id, [row], now=T0)


def test_feature_bins_frozen_from_the_first_values_and_counted_once(
    sessions: sessionmaker[StewardSession],
) -> None:
    deployment = make_deployment(
        sessions, feature_reference_size=50, feature_cuts={"given": [0.0, 10.0]}
    )
    rng = np.random.default_rng(3)
    values = rng.normal(80, 10, 120)
    rows = [
        PredictionRow(
            f"p{i}",
            f"pt{i}",
            T0 + timedelta(days=i // 40),
            0.3,
            features={"hr": float(v), "given": float(i % 20 - 5)},
        )
        for i, v in enumerate(values)
    ]
    now = T0 + timedelta(days=3)
    for start in range(0, 120, 30):  # the cuts freeze in the second batch
        _ingest(sessions, ingest_predictions, deployment, rows[start : start + 30], now=now)
    with sessions() as session:
        config = session.get_one(MonitoringConfig, deployment)
        cuts = config.feature_cuts["hr"]
        assert config.feature_reference == {}
        histograms = feature_histograms(session, deployment, "day", *JAN)
        weeks = feature_histograms(session, deployment, "month", *JAN)
    expected = np.quantile(values[:60], np.arange(1, 10) / 10)
    np.testing.assert_allclose(cuts, expected)
    days = sorted(histograms)
    assert days == [T0.date() + timedelta(days=d) for d in range(3)]
    for d, day in enumerate(days):
        chunk = values[d * 40 : (d + 1) * 40]
        counts = np.bincount(np.searchsorted(cuts, chunk, side="right"), minlength=len(cuts) + 1)
        np.testing.assert_array_equal(histograms[day]["hr"].counts, counts)
        assert histograms[day]["given"].cuts == (0.0, 10.0)
    assert weeks[date(2026, 1, 1)]["hr"].counts.sum() == 120


def test_feedback_counts_per_window_and_subgroup(
    sessions: sessionmaker[StewardSession], deployment: uuid.UUID
) -> None:
    predictions = [
        PredictionRow("p1", "pt1", T0, 0.5, card_id="card-1", subgroups={"sex": "F"}),
        PredictionRow("p2", "pt2", T0, 0.5, subgroups={"sex": "M"}),
        PredictionRow("p3", "pt3", T0, 0.5),
    ]
    _ingest(sessions, ingest_predictions, deployment, predictions, now=T0)
    later = T0 + timedelta(days=1)
    feedback = [
        FeedbackRow("f1", "overridden", later, card_id="card-1", reason="known sepsis"),
        FeedbackRow("f2", "accepted", later, prediction_event_id="p2"),
        FeedbackRow("f3", "overridden", later, prediction_event_id="p3"),
        FeedbackRow("f4", "ignored", later, prediction_event_id="p3"),
        FeedbackRow("f5", "accepted", later),
        FeedbackRow("f6", "accepted", later, card_id="card-9"),
    ]
    report = _ingest(sessions, ingest_feedback, deployment, feedback, now=later)
    assert report.accepted == 3
    assert [r.row for r in sorted(report.rejected, key=lambda r: r.row)] == [4, 5, 6]
    with sessions() as session:
        counts = feedback_counts(session, deployment, "day", *JAN)
    day = counts[later.date()]
    assert (day[()][()].n, day[()][()].overridden) == (3, 2)
    by_sex = {level: (c.n, c.overridden) for level, c in day[("sex",)].items()}
    assert by_sex == {("F",): (1, 1), ("M",): (1, 0), (None,): (1, 1)}


def test_times_far_in_the_future_are_refused(
    sessions: sessionmaker[StewardSession], deployment: uuid.UUID
) -> None:
    now = datetime(2026, 1, 5, 12, tzinfo=T0.tzinfo)
    rows = [
        PredictionRow("soon", "pt", now + timedelta(hours=23), 0.5),
        PredictionRow("far", "pt", now + timedelta(hours=25), 0.5),
    ]
    report = _ingest(sessions, ingest_predictions, deployment, rows, now=now)
    assert report.accepted == 1
    assert "future" in report.rejected[0].error


@pytest.mark.parametrize("whole_register", [True, False])
def test_opted_out_patients_are_left_out_by_either_look_up(
    sessions: sessionmaker[StewardSession],
    deployment: uuid.UUID,
    monkeypatch: pytest.MonkeyPatch,
    whole_register: bool,
) -> None:
    if not whole_register:
        monkeypatch.setattr(optout_register, "READ_WHOLE_REGISTER", 0)
    with unit_of_work(sessions, ACTOR) as session:
        optout_register.register_opt_outs(session, [OptOut("pt-out", "test")])
    rows = [PredictionRow("a", "pt-in", T0, 0.5), PredictionRow("b", "pt-out", T0, 0.5)]
    report = _ingest(sessions, ingest_predictions, deployment, rows, now=T0)
    assert (report.accepted, report.opted_out) == (1, 1)
    assert set(_labels(sessions)) == {"a"}
