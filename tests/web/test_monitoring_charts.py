"""The dashboard's charts are drawn once per series: an equal series is served from the charts
kept, a changed one is drawn again."""

from __future__ import annotations

import datetime as dt

from steward.surveillance.dashboard import Point, SeriesView
from steward.surveillance.monitors import Subject
from steward.web.monitoring_charts import series_chart, small_multiples


def _series(last: float, level: str = "Black") -> SeriesView:
    start = dt.date(2026, 1, 5)
    points = tuple(
        Point(start + dt.timedelta(days=7 * i), v, 0.0, 4.0, "alarm" if v > 4 else "ok", False)
        for i, v in enumerate((0.5, 1.5, 2.5, last))
    )
    return SeriesView(
        "calibration_cusum", "upper", Subject(("ethnicity",), (level,)), "week", points
    )


def test_an_equal_series_is_not_drawn_again() -> None:
    first = series_chart("m0", _series(3.0))
    hits = series_chart.cache_info().hits
    again = series_chart("m0", _series(3.0))  # equal values, other objects
    assert again is first
    assert series_chart.cache_info().hits == hits + 1
    changed = series_chart("m0", _series(5.0))
    assert changed != first
    assert "1 window(s) past the control limit" in changed[1]


def test_small_multiples_are_kept_by_their_series() -> None:
    panels = (_series(3.0, "Black"), _series(5.0, "White"))
    first = small_multiples("g0", panels)
    assert small_multiples("g0", (_series(3.0, "Black"), _series(5.0, "White"))) is first
    assert "alarms in: ethnicity=White" in first[1]
