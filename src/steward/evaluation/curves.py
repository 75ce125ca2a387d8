"""Curves for the report: ROC, smoothed and grouped calibration, decision curve."""

from __future__ import annotations

import numpy as np

from steward.cube import LevelCounts
from steward.evaluation.result import CalibrationBand, Curves, DecisionCurve, RocCurve
from steward.metrics.calibration import CalibrationCurve, calibration_curve, grouped_calibration
from steward.metrics.discrimination import roc_curve
from steward.metrics.thresholds import decision_curve
from steward.metrics.types import finite_or_none

#: Longest curve kept in the document (points beyond are thinned evenly).
MAX_POINTS = 400
#: Decision-curve thresholds: 1% to 50% in steps of 1% (the range where alerts are actionable).
DECISION_GRID = np.arange(1, 51) / 100.0


def build_curves(overall: LevelCounts, comparator: LevelCounts | None) -> Curves:
    fpr, tpr, _ = roc_curve(overall)
    keep = _thin(fpr.size)
    grid = _grid_edges(overall.edges)
    model_nb, treat_all = decision_curve(overall, grid)
    comparator_nb = None
    if comparator is not None:
        comparator_grid = _grid_edges(comparator.edges)
        if np.array_equal(comparator_grid, grid):
            comparator_nb = _floats(decision_curve(comparator, grid)[0])
    return Curves(
        roc=RocCurve(fpr=_floats(fpr[keep]), tpr=_floats(tpr[keep])),
        calibration=_band(calibration_curve(overall)),
        calibration_groups=_band(grouped_calibration(overall, 10)),
        decision=DecisionCurve(
            threshold=_floats(grid),
            model=_floats(model_nb),
            treat_all=_floats(treat_all),
            comparator=comparator_nb,
        ),
    )


def _grid_edges(edges: np.ndarray) -> np.ndarray:
    """The cube edges nearest the decision grid (exact thresholds, no interpolation)."""
    index = np.clip(np.searchsorted(edges, DECISION_GRID), 1, edges.size - 2)
    return np.unique(edges[index])


def _thin(n: int) -> np.ndarray:
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, MAX_POINTS).round().astype(int))


def _band(curve: CalibrationCurve) -> CalibrationBand:
    return CalibrationBand(
        predicted=_floats(curve.predicted),
        observed=_floats(curve.observed),
        ci_low=_floats(curve.ci_low),
        ci_high=_floats(curve.ci_high),
        n=_floats(curve.n),
    )


def _floats(values: np.ndarray) -> list[float | None]:
    return [finite_or_none(float(v)) for v in np.asarray(values, dtype=float)]
