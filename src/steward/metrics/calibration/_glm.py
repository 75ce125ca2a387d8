"""Calibration intercept and slope: grouped logistic recalibration fits on the cube's cells."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.special import expit

from steward.cube import LevelCounts
from steward.metrics.calibration._inputs import (
    BoolArray,
    FloatArray,
    LabelledBins,
    as_result,
    labelled_bins,
    normal_quantile,
    unbatched_bins,
    warn_where,
)
from steward.metrics.types import Estimate

_MAX_ITER = 100
_MAX_HALVINGS = 40
_STEP_TOL = 1e-12


class _Fit(NamedTuple):
    coef: FloatArray
    """Coefficients, shape ``(..., k)``; ``nan`` where undefined."""
    cov: FloatArray
    """Inverse Fisher information, shape ``(..., k, k)``."""


class _Cells(NamedTuple):
    events: FloatArray
    trials: FloatArray
    mean_logit: FloatArray
    """Mean logit of the cell's labelled rows (0 in empty cells, which carry no weight)."""
    undefined: dict[str, BoolArray]


def calibration_intercept_slope(
    counts: LevelCounts, *, confidence_level: float = 0.95
) -> tuple[Estimate, Estimate]:
    r"""Calibration intercept and slope (logistic recalibration) with Wald confidence intervals.

    With :math:`z = \operatorname{logit} p`, the intercept :math:`a` is fitted with the slope
    fixed at 1 and the slope :math:`b` with a free intercept [1]_ [2]_:

    .. math::

        \operatorname{logit} P(y = 1) = a + \operatorname{offset}(z), \qquad
        \operatorname{logit} P(y = 1) = a' + b\,z.

    Both are fitted by Newton-Raphson (IRLS with step halving, float64) as grouped binomial
    GLMs on the cube's cells: bin :math:`c` contributes :math:`n_{1c}` successes out of
    :math:`n_{0c} + n_{1c}` trials at covariate :math:`\bar z_c`, the mean logit of its labelled
    rows. When each bin holds a single distinct score this is exactly the row-level maximum
    likelihood fit; otherwise :math:`\bar z_c` stands in for the logits of the rows in the cell,
    which is very close with narrow bins (docs/methods.md section 1: approximate). Intervals are
    :math:`\hat\theta \pm z_{1-\alpha/2}\,\mathrm{SE}`, with SE from the inverse Fisher
    information at the estimate.

    Parameters
    ----------
    counts : LevelCounts
        Binned statistics without batch axes (use ``calibration_intercept_slope_values`` for
        bootstrap replicates). Unlabelled rows are ignored.
    confidence_level : float, default 0.95
        Coverage of the Wald intervals.

    Returns
    -------
    intercept : Estimate
        0 is ideal; > 0 the model under-predicts on average. ``nan`` (with
        ``UndefinedMetricWarning``) without events or without non-events.
    slope : Estimate
        1 is ideal; < 1 predictions are too extreme, > 1 too modest. ``nan`` also when the
        outcomes are (quasi-)completely separated by the score or all scores share one bin
        logit, since the maximum likelihood estimate does not exist.

    Notes
    -----
    Scores of exactly 0 or 1 have an infinite logit; the cube clips them before summing.

    References
    ----------
    .. [1] Cox DR. Two further applications of a model for binary regression. Biometrika
       1958;45:562-565.
    .. [2] Van Calster B, McLernon DJ, van Smeden M, Wynants L, Steyerberg EW. Calibration: the
       Achilles heel of predictive analytics. BMC Medicine 2019;17:230.

    Examples
    --------
    >>> import numpy as np
    >>> from steward.cube import LevelCounts
    >>> stats = np.zeros((3, 3, 8))  # three bins, each holding rows of one score
    >>> for b, (p, neg, pos) in enumerate([(0.2, 40, 10), (0.5, 25, 25), (0.8, 10, 40)]):
    ...     z = np.log(p / (1 - p))
    ...     for label, n in ((0, neg), (1, pos)):
    ...         stats[b, label] = n * np.array([1, p, p * p, 0, 0, z, z * z, p * z])
    >>> intercept, slope = calibration_intercept_slope(
    ...     LevelCounts(np.array([0.0, 0.4, 0.6, 1.0]), stats))
    >>> round(intercept.value, 6), round(slope.value, 6)
    (0.0, 1.0)
    """
    z = normal_quantile(confidence_level)
    cells = _cells(unbatched_bins(counts, "calibration_intercept_slope_values"))
    intercept, slope = _fit_both(cells)
    return _estimate(intercept, 0, z), _estimate(slope, 1, z)


def calibration_intercept_slope_values(
    counts: LevelCounts,
) -> tuple[float | FloatArray, float | FloatArray]:
    """Calibration intercept and slope for every batch element (bootstrap replicates).

    The fits of all batch elements run together (vectorised Newton-Raphson); see
    ``calibration_intercept_slope`` for the model.

    Returns
    -------
    intercept, slope : float or ndarray of shape ``counts.batch_shape``

    Examples
    --------
    >>> import numpy as np
    >>> from steward.cube import LevelCounts
    >>> stats = np.zeros((2, 3, 3, 8))  # two replicates of three single-score bins
    >>> for b, (p, neg, pos) in enumerate([(0.2, 40, 10), (0.5, 25, 25), (0.8, 10, 40)]):
    ...     z = np.log(p / (1 - p))
    ...     for label, n in ((0, neg), (1, pos)):
    ...         stats[:, b, label] = n * np.array([1, p, p * p, 0, 0, z, z * z, p * z])
    >>> stats[1, 1] *= 2  # the second replicate draws the middle bin twice
    >>> intercept, slope = calibration_intercept_slope_values(
    ...     LevelCounts(np.array([0.0, 0.4, 0.6, 1.0]), stats))
    >>> np.round(intercept, 6).tolist(), np.round(slope, 6).tolist()
    ([0.0, 0.0], [1.0, 1.0])
    """
    cells = _cells(labelled_bins(counts))
    intercept, slope = _fit_both(cells)
    return as_result(intercept.coef[..., 0]), as_result(slope.coef[..., 1])


def _cells(bins: LabelledBins) -> _Cells:
    trials = bins.rows
    occupied = trials > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_logit = np.where(occupied, bins.sum_z / np.where(occupied, trials, 1.0), 0.0)
    n_pos = np.sum(bins.pos, axis=-1)
    n_neg = np.sum(bins.neg, axis=-1)
    no_rows = (n_pos + n_neg) == 0
    infinite = np.any(occupied & ~np.isfinite(mean_logit), axis=-1) & ~no_rows
    mean_logit = np.where(np.isfinite(mean_logit), mean_logit, 0.0)
    one_class = ~no_rows & ~infinite & ((n_pos == 0) | (n_neg == 0))
    # Quasi-complete separation with one covariate: some cut point c has every event on one
    # side (z >= c) and every non-event on the other (z <= c); then no finite MLE exists.
    event_z = _extremes(mean_logit, bins.pos > 0)
    nonevent_z = _extremes(mean_logit, bins.neg > 0)
    separated = (event_z[0] >= nonevent_z[1]) | (event_z[1] <= nonevent_z[0])
    separated &= ~no_rows & ~infinite & ~one_class
    undefined = {
        "no labelled rows": no_rows,
        "a score of exactly 0 or 1 has an infinite logit": infinite,
        "calibration intercept and slope need both events and non-events": one_class,
        "the calibration slope is undefined: the score separates events from non-events": (
            separated
        ),
    }
    return _Cells(bins.pos, trials, mean_logit, undefined)


def _extremes(values: FloatArray, present: BoolArray) -> tuple[FloatArray, FloatArray]:
    low = np.min(np.where(present, values, np.inf), axis=-1)
    high = np.max(np.where(present, values, -np.inf), axis=-1)
    return low, high


def _fit_both(cells: _Cells) -> tuple[_Fit, _Fit]:
    """Fit the intercept-only (offset) model and the intercept-and-slope model."""
    undefined = cells.undefined
    for reason, mask in undefined.items():
        warn_where(mask, reason)
    no_intercept = (
        undefined["no labelled rows"]
        | undefined["a score of exactly 0 or 1 has an infinite logit"]
        | undefined["calibration intercept and slope need both events and non-events"]
    )
    no_slope = (
        no_intercept
        | undefined[
            "the calibration slope is undefined: the score separates events from non-events"
        ]
    )
    ones = np.ones_like(cells.mean_logit)
    offset_design = ones[..., None]
    slope_design = np.stack([ones, cells.mean_logit], axis=-1)
    zeros = np.zeros_like(cells.mean_logit)
    intercept = _newton(cells, offset_design, cells.mean_logit, np.array([0.0]), no_intercept)
    slope = _newton(cells, slope_design, zeros, np.array([0.0, 1.0]), no_slope)
    return intercept, slope


def _newton(
    cells: _Cells, design: FloatArray, offset: FloatArray, start: FloatArray, skip: BoolArray
) -> _Fit:
    """Maximum likelihood of a grouped logistic model for every batch element at once.

    Newton-Raphson on the binomial log-likelihood, halving a step while it lowers the
    likelihood (a guard for starts far from the optimum). Batch elements in ``skip`` get
    ``nan``; they are given an identity ridge so the batched linear solve stays regular.
    """
    k = start.size
    batch = skip.shape
    coef = np.broadcast_to(start, (*batch, k)).astype(np.float64, copy=True)
    ridge = np.eye(k) * skip[..., None, None]
    loglik = _loglik(cells, design, offset, coef)
    converged = skip.copy()
    for _ in range(_MAX_ITER):
        gradient, information = _score_and_information(cells, design, offset, coef)
        step = np.linalg.solve(information + ridge, gradient[..., None])[..., 0]
        step = np.where(converged[..., None], 0.0, step)
        scale = np.ones(batch)
        for _ in range(_MAX_HALVINGS):
            candidate = coef + scale[..., None] * step
            candidate_loglik = _loglik(cells, design, offset, candidate)
            worse = candidate_loglik < loglik - 1e-12 * np.abs(loglik)
            if not np.any(worse):
                break
            scale = np.where(worse, scale / 2.0, scale)
        coef, loglik = candidate, candidate_loglik
        moved = np.max(np.abs(scale[..., None] * step) / (1.0 + np.abs(coef)), axis=-1)
        converged |= moved < _STEP_TOL
        if np.all(converged):
            break
    _, information = _score_and_information(cells, design, offset, coef)
    cov = np.asarray(np.linalg.inv(information + ridge), dtype=np.float64)
    failed = skip | ~converged
    warn_where(failed & ~skip, "the calibration fit did not converge")
    coef = np.where(failed[..., None], np.nan, coef)
    cov = np.where(failed[..., None, None], np.nan, cov)
    return _Fit(coef, cov)


def _linear_predictor(design: FloatArray, offset: FloatArray, coef: FloatArray) -> FloatArray:
    eta: FloatArray = np.einsum("...ck,...k->...c", design, coef) + offset
    return eta


def _loglik(cells: _Cells, design: FloatArray, offset: FloatArray, coef: FloatArray) -> FloatArray:
    eta = _linear_predictor(design, offset, coef)
    loglik: FloatArray = np.sum(cells.events * eta - cells.trials * np.logaddexp(0.0, eta), axis=-1)
    return loglik


def _score_and_information(
    cells: _Cells, design: FloatArray, offset: FloatArray, coef: FloatArray
) -> tuple[FloatArray, FloatArray]:
    mu = expit(_linear_predictor(design, offset, coef))
    residual = cells.events - cells.trials * mu
    weight = cells.trials * mu * (1.0 - mu)
    gradient = np.einsum("...ck,...c->...k", design, residual)
    information = np.einsum("...ck,...c,...cl->...kl", design, weight, design)
    return gradient, information


def _estimate(fit: _Fit, index: int, z: float) -> Estimate:
    value = float(fit.coef[index])
    if math.isnan(value):
        return Estimate(math.nan, math.nan, math.nan)
    half_width = z * math.sqrt(float(fit.cov[index, index]))
    return Estimate(value, value - half_width, value + half_width)
