"""Aggregation of a batch of events into window cell deltas (pure numpy, no database).

A batch of predictions becomes, for each grain (day, week, month), the sums of the cube's STATS
per (window, subgroup dimension and level, score bin, label); each batch is aggregated once and
its deltas are added to the stored cells. Moving a prediction from one label to another is the
same aggregation with weight -1 for the old label and +1 for the new one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from steward.cube.bins import assign_bins, edges_with_thresholds
from steward.cube.model import STATS, FloatArray
from steward.cube.sql import P_CLIP

GRAINS: tuple[str, ...] = ("day", "week", "month")
#: Dimension name of the overall margin (subgroup dimensions are their attribute names).
OVERALL = ""
#: Stored level of a row without a value for a subgroup attribute.
MISSING = ""

IntArray = NDArray[np.int64]
#: Uniform score bins of every window cube, before the thresholds are added as edges. Monitors
#: read every daily window of a deployment's history on each run, so this sets what a run reads:
#: 100 bins keep the calibration CUSUM's approximation error below 1e-7 per prediction.
WINDOW_BINS = 100


def score_edges(thresholds: Sequence[float]) -> FloatArray:
    """Bin edges of every window cube of a deployment: 100 uniform bins plus its thresholds."""
    return edges_with_thresholds(WINDOW_BINS, thresholds)


def epoch_days(times: Sequence[datetime]) -> IntArray:
    """Days since 1970-01-01 (UTC) of each time."""
    seconds = np.fromiter((t.timestamp() for t in times), np.float64, len(times))
    return np.floor(seconds / 86_400.0).astype(np.int64)


def window_starts(days: IntArray, grain: str) -> IntArray:
    """Epoch day of the first day of each day's window (weeks start on Monday, as in DuckDB)."""
    if grain == "day":
        return days
    if grain == "week":
        # 1970-01-01 was a Thursday: day + 3 is 0 on Mondays modulo 7
        return days - (days + 3) % 7
    if grain == "month":
        months = days.astype("datetime64[D]").astype("datetime64[M]")
        return months.astype("datetime64[D]").astype(np.int64)
    raise ValueError(f"unknown grain {grain!r}: use day, week or month")


def window_start(moment: datetime | date, grain: str) -> date:
    """The first day of the ``grain`` window holding ``moment``."""
    day = moment.date() if isinstance(moment, datetime) else moment
    ordinal = np.array([(day - date(1970, 1, 1)).days], dtype=np.int64)
    return as_date(int(window_starts(ordinal, grain)[0]))


def as_date(epoch_day: int) -> date:
    return date.fromordinal(date(1970, 1, 1).toordinal() + epoch_day)


def score_stats(scores: FloatArray) -> FloatArray:
    """Per-row STATS (n = 1) exactly as the cube's aggregation pass computes them."""
    clipped = np.clip(scores, P_CLIP, 1.0 - P_CLIP)
    logp = np.log(clipped)
    log1mp = np.log(1.0 - clipped)
    z = logp - log1mp
    ones = np.ones_like(scores)
    return np.column_stack([ones, scores, scores * scores, logp, log1mp, z, z * z, scores * z])


def _group(keys: Sequence[IntArray], values: FloatArray) -> tuple[NDArray[Any], FloatArray]:
    """Sum ``values`` rows by the tuple of ``keys``; returns unique key rows and their sums.

    The key columns are packed into one int64 (mixed radix over each column's range), so the
    grouping is a 1-D ``np.unique`` instead of a row-wise sort.
    """
    lows = [int(k.min()) for k in keys]
    spans = [int(k.max()) - low + 1 for k, low in zip(keys, lows, strict=True)]
    packed = np.zeros(keys[0].size, np.int64)
    for key, low, span in zip(keys, lows, spans, strict=True):
        packed = packed * span + (key - low)
    unique, inverse = np.unique(packed, return_inverse=True)
    inverse = inverse.reshape(-1)
    sums: FloatArray = np.column_stack(
        [
            np.bincount(inverse, weights=values[:, j], minlength=unique.size).astype(np.float64)
            for j in range(values.shape[1])
        ]
    )
    columns = []
    rest = unique
    for low, span in reversed(list(zip(lows, spans, strict=True))):
        columns.append(rest % span + low)
        rest = rest // span
    return np.column_stack(columns[::-1]), sums


def _codes(levels: Sequence[str]) -> tuple[list[str], IntArray]:
    names: dict[str, int] = {}
    codes = np.fromiter((names.setdefault(v, len(names)) for v in levels), np.int64, len(levels))
    return list(names), codes


#: Each row's level of one subgroup attribute: the levels, or (distinct levels, row codes).
Levels = Sequence[str] | tuple[list[str], IntArray]


@dataclass(frozen=True)
class ScoreBatch:
    """Predictions whose contributions are added (``weight`` 1) or taken away (-1)."""

    scores: FloatArray
    days: IntArray
    labels: IntArray
    weights: FloatArray
    subgroups: Mapping[str, Levels]


class Deltas:
    """Cell deltas as columns (one list or array per stored column), built part by part."""

    def __init__(self) -> None:
        self._parts: list[dict[str, Any]] = []
        self.size = 0

    def add(self, size: int, **columns: Any) -> None:
        """Append ``size`` cells; a scalar column value repeats for every cell."""
        if size:
            self._parts.append(
                {
                    k: np.full(size, v, dtype=object) if np.isscalar(v) else v
                    for k, v in columns.items()
                }
            )
            self.size += size

    def columns(self) -> dict[str, NDArray[Any]]:
        if not self._parts:
            return {}
        return {k: np.concatenate([p[k] for p in self._parts]) for k in self._parts[0]}

    def rows(self) -> list[dict[str, Any]]:
        """The cells as one dict per cell (Python scalars), for ``executemany``."""
        columns = {k: v.tolist() for k, v in self.columns().items()}
        names = list(columns)
        return [
            dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)
        ]


def _window_dates(starts: IntArray) -> NDArray[Any]:
    return starts.astype("datetime64[D]")


def _dims(subgroups: Mapping[str, Levels], size: int) -> list[tuple[str, list[str], IntArray]]:
    dims: list[tuple[str, list[str], IntArray]] = [(OVERALL, [MISSING], np.zeros(size, np.int64))]
    for dim, levels in subgroups.items():
        names, codes = levels if isinstance(levels, tuple) else _codes(levels)
        dims.append((dim, names, codes))
    return dims


def score_deltas(batch: ScoreBatch, edges: FloatArray) -> Deltas:
    """Cell deltas of ``batch`` for every grain, overall and per subgroup dimension."""
    deltas = Deltas()
    if batch.scores.size == 0:
        return deltas
    bins = assign_bins(batch.scores, edges).astype(np.int64)
    stats = score_stats(batch.scores) * batch.weights[:, None]
    for grain in GRAINS:
        starts = window_starts(batch.days, grain)
        for dim, names, codes in _dims(batch.subgroups, bins.size):
            keys, sums = _group([starts, codes, bins, batch.labels], stats)
            keep = np.any(sums != 0.0, axis=1)
            keys, sums = keys[keep], sums[keep]
            deltas.add(
                len(keys),
                grain=grain,
                window_start=_window_dates(keys[:, 0]),
                dim=dim,
                level=np.asarray(names, dtype=object)[keys[:, 1]],
                bin=keys[:, 2],
                label=keys[:, 3],
                **{name: sums[:, j] for j, name in enumerate(STATS)},
            )
    return deltas


def feature_deltas(
    days: IntArray,
    features: Mapping[str, tuple[IntArray, FloatArray]],
    cuts: Mapping[str, Sequence[float]],
) -> Deltas:
    """Histogram count deltas: ``features[name] = (row positions, values)`` binned by ``cuts``.

    Bin ``b`` of a feature holds values in ``[cuts[b-1], cuts[b])``; bin 0 everything below the
    first cut and the last bin everything from the last cut up.
    """
    deltas = Deltas()
    for name, (positions, values) in features.items():
        if positions.size == 0:
            continue
        bins = np.searchsorted(np.asarray(cuts[name], np.float64), values, side="right")
        ones = np.ones((positions.size, 1))
        for grain in GRAINS:
            starts = window_starts(days[positions], grain)
            keys, sums = _group([starts, bins.astype(np.int64)], ones)
            deltas.add(
                len(keys),
                grain=grain,
                window_start=_window_dates(keys[:, 0]),
                feature=name,
                bin=keys[:, 1],
                n=sums[:, 0],
            )
    return deltas


def feedback_deltas(
    days: IntArray, overridden: FloatArray, subgroups: Mapping[str, Levels]
) -> Deltas:
    """Feedback and override count deltas per window, overall and per subgroup level."""
    deltas = Deltas()
    if days.size == 0:
        return deltas
    values = np.column_stack([np.ones_like(overridden), overridden])
    for grain in GRAINS:
        starts = window_starts(days, grain)
        for dim, names, codes in _dims(subgroups, days.size):
            keys, sums = _group([starts, codes], values)
            deltas.add(
                len(keys),
                grain=grain,
                window_start=_window_dates(keys[:, 0]),
                dim=dim,
                level=np.asarray(names, dtype=object)[keys[:, 1]],
                n=sums[:, 0],
                overridden=sums[:, 1],
            )
    return deltas


def reference_cuts(values: Sequence[float], bins: int = 10) -> list[float]:
    """Interior cut points of a feature's histogram: the reference sample's deciles.

    Repeated quantiles (discrete features) collapse, so a feature with k distinct values gets at
    most k bins.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return []
    quantiles = np.quantile(array, np.arange(1, bins) / bins, method="linear")
    return sorted({float(q) for q in quantiles if q > array.min()})
