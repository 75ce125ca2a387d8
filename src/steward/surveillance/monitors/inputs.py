"""What the monitors read: window cubes, reference-period data and feedback counts, in memory.

The monitors never touch a database. The surveillance shell (ingestion and the scheduler) hands
them one :class:`WindowData` per closed window, in time order, and one :class:`Reference` per
deployment; both are built from the incremental cubes (docs/surveillance.md, "Monitors").
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from steward.cube.model import Cube, LevelCounts

FloatArray = NDArray[np.float64]
Grain = Literal["day", "week", "month"]
GRAINS: tuple[Grain, ...] = ("day", "week", "month")
#: Mean number of windows of each grain in a year (for run lengths stated in years).
WINDOWS_PER_YEAR: Mapping[Grain, float] = MappingProxyType(
    {"day": 365.25, "week": 365.25 / 7.0, "month": 12.0}
)


@dataclass(frozen=True, order=True)
class Window:
    """A calendar window in UTC: a day, an ISO week (from Monday) or a calendar month.

    ``start`` must be the first day of the window (a Monday for weeks, the 1st for months).
    """

    grain: Grain
    start: dt.date

    def __post_init__(self) -> None:
        if self.grain not in GRAINS:
            raise ValueError(f"grain must be one of {', '.join(GRAINS)}, not {self.grain!r}")
        if self.grain == "week" and self.start.weekday() != 0:
            raise ValueError(f"a week starts on a Monday; {self.start} is not one")
        if self.grain == "month" and self.start.day != 1:
            raise ValueError(f"a month starts on its first day; {self.start} is not one")

    @classmethod
    def containing(cls, grain: Grain, day: dt.date) -> Window:
        """The window of ``grain`` that contains ``day``."""
        if grain == "week":
            return cls(grain, day - dt.timedelta(days=day.weekday()))
        if grain == "month":
            return cls(grain, day.replace(day=1))
        return cls(grain, day)

    @property
    def end(self) -> dt.date:
        """First day after the window (exclusive end)."""
        if self.grain == "day":
            return self.start + dt.timedelta(days=1)
        if self.grain == "week":
            return self.start + dt.timedelta(days=7)
        days = calendar.monthrange(self.start.year, self.start.month)[1]
        return self.start + dt.timedelta(days=days)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def next(self) -> Window:
        return Window(self.grain, self.end)

    @property
    def label(self) -> str:
        """``2025-03-04`` (day), ``2025-W10`` (ISO week) or ``2025-03`` (month)."""
        if self.grain == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        if self.grain == "month":
            return f"{self.start.year}-{self.start.month:02d}"
        return self.start.isoformat()

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True, order=True)
class Subject:
    """Whom a monitor watches: all predictions (``Subject()``) or one level of a cube margin.

    ``dims`` names the margin (``("ethnicity",)``), ``level`` the value(s) of that level
    (``("Black",)``); a missing attribute value is ``None``.
    """

    dims: tuple[str, ...] = ()
    level: tuple[str | None, ...] = ()

    def __post_init__(self) -> None:
        if len(self.dims) != len(self.level):
            raise ValueError("a subject names one value per dimension")

    @property
    def is_overall(self) -> bool:
        return not self.dims

    @property
    def label(self) -> str:
        """``overall`` or ``ethnicity=Black`` (``sex=female & age_band=85+`` for intersections)."""
        if self.is_overall:
            return "overall"
        return " & ".join(
            f"{d}={'(missing)' if v is None else v}"
            for d, v in zip(self.dims, self.level, strict=True)
        )

    def __str__(self) -> str:
        return self.label


OVERALL = Subject()


def subjects(cube: Cube) -> Iterator[Subject]:
    """Every subject a cube can answer for: overall first, then each level of each margin."""
    yield OVERALL
    for dims, margin in sorted(cube.margins.items()):
        if dims:
            for level in margin.levels:
                yield Subject(dims, level)


def counts_for(cube: Cube, subject: Subject) -> LevelCounts | None:
    """The ``LevelCounts`` of ``subject`` in ``cube``; ``None`` when the cube has no such rows."""
    margin = cube.margins.get(subject.dims)
    if margin is None or subject.level not in margin.levels:
        return None
    return margin.level(subject.level)


@dataclass(frozen=True)
class FeatureHistogram:
    """Rows of one input feature per bin, the bins frozen from the reference period.

    Numeric features: ``edges`` holds ``B + 1`` increasing edges (outermost usually ``-inf`` and
    ``+inf``; reference deciles inside, see ``monitors.psi.decile_edges``) and a value ``x`` falls
    in bin ``b`` when ``edges[b] <= x < edges[b + 1]``. Categorical features: ``categories``
    names the ``B`` bins and ``edges`` is ``None``. ``missing`` counts rows without a value.
    """

    counts: FloatArray
    edges: FloatArray | None = None
    categories: tuple[str, ...] = ()
    missing: float = 0.0

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts, dtype=np.float64)
        if counts.ndim != 1 or counts.size == 0:
            raise ValueError("counts must be a non-empty 1-D array")
        if np.any(~np.isfinite(counts)) or np.any(counts < 0) or self.missing < 0:
            raise ValueError("counts must be finite and non-negative")
        if self.edges is not None and np.asarray(self.edges).size != counts.size + 1:
            raise ValueError(f"{counts.size} bins need {counts.size + 1} edges")
        if self.edges is None and self.categories and len(self.categories) != counts.size:
            raise ValueError(f"{counts.size} bins need {counts.size} category names")
        object.__setattr__(self, "counts", counts)

    @property
    def n(self) -> float:
        """Rows counted, including those with the feature missing."""
        return float(self.counts.sum() + self.missing)

    def same_bins(self, other: FeatureHistogram) -> bool:
        """Whether both histograms use the same bins (a precondition of comparing them)."""
        if self.counts.size != other.counts.size or self.categories != other.categories:
            return False
        if self.edges is None or other.edges is None:
            return self.edges is None and other.edges is None
        return bool(np.array_equal(self.edges, other.edges))


@dataclass(frozen=True)
class FeedbackCounts:
    """Clinician feedback in a window: cards answered (``n``) and how many were overridden."""

    n: float
    overridden: float

    def __post_init__(self) -> None:
        if not (0 <= self.overridden <= self.n):
            raise ValueError("overridden must lie between 0 and the number of feedback events")

    def __add__(self, other: FeedbackCounts) -> FeedbackCounts:
        return FeedbackCounts(self.n + other.n, self.overridden + other.overridden)


def _no_features() -> Mapping[str, FeatureHistogram]:
    return MappingProxyType({})


def _no_feedback() -> Mapping[Subject, FeedbackCounts]:
    return MappingProxyType({})


@dataclass(frozen=True)
class WindowData:
    """Everything aggregated for one closed window of one deployment.

    ``cube`` holds the overall margin and one margin per subgroup attribute (bin edges include
    the deployed threshold); unlabelled rows are those whose outcome window has not closed.
    ``features`` maps feature name to its histogram over the reference bins; ``feedback`` maps
    ``OVERALL`` and each subgroup subject to its feedback counts.
    """

    window: Window
    cube: Cube
    features: Mapping[str, FeatureHistogram] = field(default_factory=_no_features)
    feedback: Mapping[Subject, FeedbackCounts] = field(default_factory=_no_feedback)


@dataclass(frozen=True)
class Reference:
    """The period the monitors compare against: the local validation or the first live months.

    ``cube`` has the same margins and bin edges as the window cubes, with outcomes (it sets the
    expected AUROC, alert rate, PPV and the case mix for the CUSUM's control limits); ``days``
    is the length of the period, from which the expected volume per window follows.
    """

    cube: Cube
    days: float
    features: Mapping[str, FeatureHistogram] = field(default_factory=_no_features)
    feedback: Mapping[Subject, FeedbackCounts] = field(default_factory=_no_feedback)

    def __post_init__(self) -> None:
        if not self.days > 0:
            raise ValueError("the reference period must last a positive number of days")


class StoredHistogram(Protocol):
    """A stored feature histogram: ``counts`` in the bins cut at ``cuts``."""

    @property
    def cuts(self) -> tuple[float, ...]: ...

    @property
    def counts(self) -> FloatArray: ...


class StoredFeedback(Protocol):
    """Stored feedback counts of one window and subject."""

    @property
    def n(self) -> int: ...

    @property
    def overridden(self) -> int: ...


def window_data(
    window: Window,
    cube: Cube,
    histograms: Mapping[str, StoredHistogram] | None = None,
    feedback: Mapping[tuple[str, ...], Mapping[tuple[str | None, ...], StoredFeedback]]
    | None = None,
) -> WindowData:
    """A :class:`WindowData` from what the window store returns (``steward.surveillance.windows``).

    ``histograms`` maps feature name to cut points and counts (the first bin below the first
    cut, the last from the last cut up); ``feedback`` maps margin dims to level to counts, with
    ``{(): {(): overall}}`` for all predictions.
    """
    features = {
        name: FeatureHistogram(
            np.asarray(h.counts, dtype=np.float64),
            edges=np.concatenate([[-np.inf], np.asarray(h.cuts, dtype=np.float64), [np.inf]]),
        )
        for name, h in (histograms or {}).items()
    }
    counts = {
        Subject(dims, level): FeedbackCounts(float(c.n), float(c.overridden))
        for dims, levels in (feedback or {}).items()
        for level, c in levels.items()
    }
    return WindowData(window, cube, features, counts)


def reference_from_windows(windows: Sequence[WindowData]) -> Reference:
    """The windows merged into one reference period (e.g. the first live months)."""
    if not windows:
        raise ValueError("a reference period needs at least one window")
    cube = windows[0].cube
    for data in windows[1:]:
        cube = cube.merge(data.cube)
    features: dict[str, FeatureHistogram] = {}
    feedback: dict[Subject, FeedbackCounts] = {}
    for data in windows:
        for name, h in data.features.items():
            old = features.get(name)
            if old is not None and not old.same_bins(h):
                raise ValueError(f"feature {name!r} changed bins within the reference period")
            features[name] = (
                h
                if old is None
                else FeatureHistogram(
                    old.counts + h.counts, old.edges, old.categories, old.missing + h.missing
                )
            )
        for subject, c in data.feedback.items():
            feedback[subject] = c if subject not in feedback else feedback[subject] + c
    days = float(sum(d.window.days for d in windows))
    return Reference(cube=cube, days=days, features=features, feedback=feedback)
