"""Monitor inputs, the finding type and the configuration loader."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pytest

from steward.errors import InputError
from steward.surveillance.monitors import (
    OVERALL,
    FeatureHistogram,
    FeedbackCounts,
    Finding,
    Subject,
    Window,
    default_config,
    monitor_config,
    reference_from_windows,
    window_data,
)
from steward.surveillance.policies import load_policy


def test_windows_know_their_calendar() -> None:
    day = dt.date(2025, 3, 5)  # a Wednesday
    week = Window.containing("week", day)
    month = Window.containing("month", day)
    assert (week.start, week.end, week.label) == (
        dt.date(2025, 3, 3),
        dt.date(2025, 3, 10),
        "2025-W10",
    )
    assert (month.end, month.days, month.label) == (dt.date(2025, 4, 1), 31, "2025-03")
    assert Window.containing("month", dt.date(2024, 2, 10)).days == 29
    assert Window("day", day).next() == Window("day", dt.date(2025, 3, 6))
    with pytest.raises(ValueError, match="Monday"):
        Window("week", day)
    with pytest.raises(ValueError, match="first day"):
        Window("month", day)


def test_subjects_and_findings_are_labelled_for_people() -> None:
    black = Subject(("ethnicity",), ("Black",))
    assert (OVERALL.label, black.label) == ("overall", "ethnicity=Black")
    assert Subject(("sex", "site"), ("female", None)).label == "sex=female & site=(missing)"
    finding = Finding(
        "drift", "psi:score", black, Window("day", dt.date(2025, 1, 1)), float("nan"), "ok", "m"
    )
    document = finding.as_dict()
    assert document["value"] is None
    assert document["subject"] == "ethnicity=Black"
    assert finding.key == ("drift", "psi:score", black, Window("day", dt.date(2025, 1, 1)))


def test_input_types_refuse_inconsistent_counts() -> None:
    with pytest.raises(ValueError, match="edges"):
        FeatureHistogram(np.ones(3), edges=np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="overridden"):
        FeedbackCounts(n=3, overridden=4)
    a = FeatureHistogram(np.ones(2), edges=np.array([-np.inf, 0.0, np.inf]))
    assert a.same_bins(FeatureHistogram(np.zeros(2), edges=np.array([-np.inf, 0.0, np.inf])))
    assert not a.same_bins(FeatureHistogram(np.ones(2), categories=("a", "b")))


def test_defaults_come_from_the_versioned_policy_file() -> None:
    policy = load_policy("monitors")
    config = default_config()
    assert config.version == policy["version"]
    assert (config.drift.review, config.drift.alarm, config.drift.min_n) == (0.1, 0.25, 500)
    assert (config.cusum.odds_ratio, config.ewma.lam) == (1.5, 0.2)
    assert config.threshold is None


def test_each_caller_gets_its_own_copy_of_the_parsed_policy() -> None:
    first = load_policy("monitors")
    first["cusum"]["odds_ratio"] = 99.0  # a caller merging its overrides in place
    assert load_policy("monitors")["cusum"]["odds_ratio"] == 1.5
    assert default_config().cusum.odds_ratio == 1.5


def test_a_tool_overrides_single_fields() -> None:
    config = monitor_config(
        {"threshold": 0.2, "cusum": {"family_arl_years": 5}, "ewma": {"lambda": 0.1}}
    )
    assert (config.threshold, config.cusum.family_arl_years, config.ewma.lam) == (0.2, 5.0, 0.1)
    assert config.cusum.odds_ratio == 1.5  # untouched fields keep their defaults


def test_configuration_errors_name_each_field() -> None:
    with pytest.raises(InputError) as error:
        monitor_config(
            {"drift": {"grain": "year", "colour": "red"}, "realised": {"oe_band": [1.2, 0.8]}},
            origin="tool 7 monitors",
        )
    message = str(error.value)
    assert message.startswith("tool 7 monitors has errors")
    for path in ("drift.grain", "drift.colour", "realised.oe_band"):
        assert path in message
    with pytest.raises(InputError, match="version"):
        monitor_config({"version": "0"})


@dataclass(frozen=True)
class _Stored:
    cuts: tuple[float, ...]
    counts: np.ndarray


@dataclass(frozen=True)
class _Feedback:
    n: int
    overridden: int


def test_window_store_results_become_monitor_inputs() -> None:
    from steward.cube import Cube, Margin, edges_with_thresholds

    edges = edges_with_thresholds(10)
    cube = Cube(margins={(): Margin((), ((),), edges, np.zeros((1, 10, 3, 8)))})
    days = [Window("day", dt.date(2025, 1, d)) for d in (1, 2)]
    data = [
        window_data(
            w,
            cube,
            {"hr": _Stored((60.0, 100.0), np.array([1.0, 5.0, 2.0]))},
            {(): {(): _Feedback(10, 2)}, ("sex",): {("F",): _Feedback(4, 1)}},
        )
        for w in days
    ]
    hr = data[0].features["hr"]
    assert hr.edges is not None
    assert hr.edges.tolist() == [-np.inf, 60.0, 100.0, np.inf]
    assert data[0].feedback[Subject(("sex",), ("F",))] == FeedbackCounts(4, 1)
    reference = reference_from_windows(data)
    assert reference.days == 2
    assert reference.features["hr"].counts.tolist() == [2.0, 10.0, 4.0]
    assert reference.feedback[OVERALL] == FeedbackCounts(20, 4)
