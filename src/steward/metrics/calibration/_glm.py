"""Calibration intercept and slope: grouped logistic recalibration fits on the cube's cells."""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np

from steward.cube import LevelCounts
from steward.metrics.calibration._inputs import (
    BoolArray,
    FloatArray,
    LabelledBins,
    labelled_bins,
    normal_quantile,
    unbatched_bins,
    warn_where,
)
from steward.metrics.special import expit
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
    event_logit_sum: FloatArray
    """Sum of the logits of the cell's events."""
    spread: FloatArray
    """Sum of squared deviations of the cell's logits from their mean."""
    undefined: dict[str, BoolArray]


def calibration_intercept_slope(
    counts: LevelCounts, *, alpha: float = 0.05
) -> tuple[Estimate, Estimate]:
    r"""Calibration intercept and slope (logistic recalibration) with Wald confidence intervals.

    With :math:`z = \operatorname{logit} p`, the intercept :math:`a` is fitted with the slope
    fixed at 1 and the slope :math:`b` with a free intercept [1]_ [2]_:

    .. math::

        \operatorname{logit} P(y = 1) = a + \operatorname{offset}(z), \qquad
        \operatorname{logit} P(y = 1) = a' + b\,z.

    Both are maximum likelihood fits computed from the cube's cells (bins) rather than rows.
    The row-level log-likelihood :math:`\sum_i y_i \eta_i - \log(1 + e^{\eta_i})` with
    :math:`\eta_i = a + b z_i` splits into a linear part, exact from the cells' sums
    (:math:`a n_1 + b \sum_{y_i = 1} z_i`), and a convex part, expanded to second order around
    each cell's mean logit :math:`\bar z_c` using its spread :math:`S_c = \sum_{i \in c}(z_i -
    \bar z_c)^2` (from the sums of :math:`z` and :math:`z^2`):

    .. math::

        \ell(a, b) = a n_1 + b \sum_{i: y_i = 1} z_i - \sum_c \Big[ m_c \log\big(1 +
        e^{\bar\eta_c}\big) + \tfrac12 b^2 \bar\mu_c (1 - \bar\mu_c) S_c \Big],
        \qquad \bar\eta_c = a + b \bar z_c,\ \bar\mu_c = \operatorname{expit} \bar\eta_c,

    with :math:`m_c` the labelled rows of cell :math:`c`. When each cell holds one distinct
    score (:math:`S_c = 0`) this is exactly the row-level likelihood, i.e. the grouped binomial
    GLM with :math:`n_{1c}` successes of :math:`m_c` trials at covariate :math:`\bar z_c`;
    otherwise its error is of third order in the within-cell spread of the logits, far below
    that of the plain grouped fit (docs/methods.md section 1: approximate). It is maximised by
    Newton-Raphson in float64 with step halving, and the intervals are
    :math:`\hat\theta \pm z_{1-\alpha/2}\,\mathrm{SE}` with SE from the inverse of the
    observed information :math:`-\nabla^2 \ell` at the estimate.

    Parameters
    ----------
    counts : LevelCounts
        Binned statistics without batch axes (use ``calibration_intercept_slope_values`` for
        bootstrap replicates). Unlabelled rows are ignored.
    alpha : float, default 0.05
        One minus the coverage of the Wald intervals.

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
    Scores of exactly 0 or 1 have an infinite logit; the cube clips them before summing. The
    expansion is accurate while each cell's logits are narrow; uniform bins on [0, 1] are wide
    on the logit scale only in the extreme tails (the bin [0, 0.001) spans every logit below
    -6.9). If many scores sit there, e.g. scores of exactly 0 or 1 next to other tiny ones, the
    error can reach several standard errors; edges spaced on the logit scale in the tails
    (``expit(-34), ..., expit(-7)`` and their mirror images) make it negligible again.

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
    z = normal_quantile(alpha)
    cells = _cells(unbatched_bins(counts, "calibration_intercept_slope_values"))
    intercept, slope = _fit_both(cells)
    return _estimate(intercept, 0, z), _estimate(slope, 1, z)


def calibration_intercept_slope_values(counts: LevelCounts) -> tuple[FloatArray, FloatArray]:
    """Calibration intercept and slope for every batch element (bootstrap replicates).

    The fits of all batch elements run together (vectorised Newton-Raphson); see
    ``calibration_intercept_slope`` for the model.

    Returns
    -------
    intercept, slope : ndarray of float64, shape ``counts.batch_shape``
        ``nan`` (with ``UndefinedMetricWarning``) where undefined, as in
        ``calibration_intercept_slope``.

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
    return intercept.coef[..., 0], slope.coef[..., 1]


def _cells(bins: LabelledBins) -> _Cells:
    trials = bins.rows
    occupied = trials > 0
    safe_trials = np.where(occupied, trials, 1.0)
    with np.errstate(invalid="ignore"):
        mean_logit = np.where(occupied, bins.sum_z / safe_trials, 0.0)
        spread = np.where(occupied, bins.sum_z2 - bins.sum_z * mean_logit, 0.0)
    n_pos = np.sum(bins.pos, axis=-1)
    n_neg = np.sum(bins.neg, axis=-1)
    no_rows = (n_pos + n_neg) == 0
    finite = np.isfinite(mean_logit) & np.isfinite(spread) & np.isfinite(bins.sum_z_pos)
    infinite = np.any(~finite, axis=-1) & ~no_rows
    mean_logit = np.where(finite, mean_logit, 0.0)
    # Rounding can leave a tiny negative sum of squares when a cell's logits are all equal.
    spread = np.where(finite, np.maximum(spread, 0.0), 0.0)
    event_logit_sum = np.where(finite, bins.sum_z_pos, 0.0)
    one_class = ~no_rows & ~infinite & ((n_pos == 0) | (n_neg == 0))
    # Quasi-complete separation with one covariate: some cut point c has every event on one
    # side (z >= c) and every non-event on the other (z <= c); then no finite MLE exists.
    event_z = _extremes(mean_logit, bins.pos > 0)
    nonevent_z = _extremes(mean_logit, bins.neg > 0)
    separated = (event_z[0] >= nonevent_z[1]) | (event_z[1] <= nonevent_z[0])
    separated &= ~no_rows & ~infinite & ~one_class
    undefined = {
        "Calibration intercept and slope are undefined without labelled rows": no_rows,
        "Calibration intercept and slope are undefined when a score of exactly 0 or 1 gives "
        "an infinite logit": infinite,
        "Calibration intercept and slope need both events and non-events": one_class,
        "Calibration slope is undefined: the score separates events from non-events": separated,
    }
    # Cells empty in every batch element carry no weight anywhere: drop them.
    used = np.any(trials.reshape(-1, trials.shape[-1]) > 0, axis=0)
    return _Cells(
        bins.pos[..., used],
        trials[..., used],
        mean_logit[..., used],
        event_logit_sum[..., used],
        spread[..., used],
        undefined,
    )


def _extremes(values: FloatArray, present: BoolArray) -> tuple[FloatArray, FloatArray]:
    low = np.min(np.where(present, values, np.inf), axis=-1)
    high = np.max(np.where(present, values, -np.inf), axis=-1)
    return low, high


def _fit_both(cells: _Cells) -> tuple[_Fit, _Fit]:
    """Fit the intercept-only (offset) model and the intercept-and-slope model."""
    undefined = cells.undefined
    for reason, mask in undefined.items():
        warn_where(mask, reason)
    reasons = list(undefined.values())
    no_intercept = reasons[0] | reasons[1] | reasons[2]
    no_slope = no_intercept | reasons[3]
    intercept_start, slope_start = _pooled_starts(cells)
    intercept = _newton(cells, intercept_start, skip=no_intercept)
    slope = _newton(cells, slope_start, skip=no_slope)
    return intercept, slope


def _pooled_starts(cells: _Cells) -> tuple[FloatArray, FloatArray]:
    """Starting values: ideal calibration (0, 1) for one group of rows; for a batch, the fit
    of all batch elements pooled, which lies close to each replicate's estimate."""
    ideal = np.array([0.0]), np.array([0.0, 1.0])
    if cells.trials.ndim == 1:
        return ideal
    flat = [field.reshape(-1, field.shape[-1]) for field in cells[:5]]
    events, trials, mean_logit, event_logit_sum, spread = flat
    pooled_trials = np.sum(trials, axis=0)
    pooled = _Cells(
        np.sum(events, axis=0),
        pooled_trials,
        np.sum(trials * mean_logit, axis=0) / np.maximum(pooled_trials, 1.0),
        np.sum(event_logit_sum, axis=0),
        np.sum(spread, axis=0),
        {},
    )
    fits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for start in ideal:
            coef = _newton(pooled, start, skip=np.asarray(False)).coef
            fits.append(coef if np.all(np.isfinite(coef)) else start)
    return fits[0], fits[1]


def _newton(cells: _Cells, start: FloatArray, *, skip: BoolArray) -> _Fit:
    """Maximise the cell log-likelihood for every batch element at once.

    Newton-Raphson, halving a step while it lowers the likelihood (a guard for starts far from
    the optimum); where the observed information is not positive definite the step uses the
    grouped GLM's Fisher information instead. Batch elements in ``skip`` get ``nan``; an
    identity ridge keeps their linear solves regular.
    """
    k = start.size
    free_slope = k == 2
    coef = np.broadcast_to(start, (*skip.shape, k)).astype(np.float64, copy=True)
    ridge = np.eye(k) * skip[..., None, None]
    loglik, gradient, observed, fisher = _derivatives(cells, coef, free_slope)
    converged = skip.copy()
    for _ in range(_MAX_ITER):
        curvature = np.where(_positive_definite(observed)[..., None, None], observed, fisher)
        step = np.linalg.solve(curvature + ridge, gradient[..., None])[..., 0]
        step = np.where(converged[..., None], 0.0, step)
        scale = np.ones(skip.shape)
        for _ in range(_MAX_HALVINGS):
            candidate = coef + scale[..., None] * step
            derivatives = _derivatives(cells, candidate, free_slope)
            worse = derivatives[0] < loglik - 1e-12 * np.abs(loglik)
            if not np.any(worse):
                break
            scale = np.where(worse, scale / 2.0, scale)
        coef = candidate
        loglik, gradient, observed, fisher = derivatives
        moved = np.max(np.abs(scale[..., None] * step) / (1.0 + np.abs(coef)), axis=-1)
        converged |= moved < _STEP_TOL
        if np.all(converged):
            break
    definite = _positive_definite(observed)
    failed = skip | ~converged | ~definite
    warn_where(~skip & ~converged, "The calibration intercept or slope fit did not converge")
    warn_where(
        ~skip & converged & ~definite, "The calibration intercept or slope has no finite variance"
    )
    cov = np.linalg.inv(np.where(failed[..., None, None], np.eye(k), observed))
    coef = np.where(failed[..., None], np.nan, coef)
    cov = np.where(failed[..., None, None], np.nan, cov)
    return _Fit(coef, np.asarray(cov, dtype=np.float64))


def _derivatives(
    cells: _Cells, coef: FloatArray, free_slope: bool
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Log-likelihood, gradient, observed information and the grouped GLM's Fisher
    information of the cell likelihood at ``coef`` (intercept, and slope if free)."""
    x, m, spread = cells.mean_logit, cells.trials, cells.spread
    a = coef[..., 0:1]
    b = coef[..., 1:2] if free_slope else np.ones_like(a)
    eta = a + b * x
    mu = expit(eta)
    v = mu * (1.0 - mu)
    dv = v * (1.0 - 2.0 * mu)
    d2v = v * (1.0 - 6.0 * v)
    correction = 0.5 * b * b * spread
    linear = a[..., 0] * np.sum(cells.events, axis=-1) + b[..., 0] * np.sum(
        cells.event_logit_sum, axis=-1
    )
    loglik = linear - np.sum(m * np.logaddexp(0.0, eta) + correction * v, axis=-1)
    grad_a = np.sum(cells.events - m * mu - correction * dv, axis=-1)
    info_aa = np.sum(m * v + correction * d2v, axis=-1)
    fisher_aa = np.sum(m * v, axis=-1)
    if not free_slope:
        return loglik, grad_a[..., None], info_aa[..., None, None], fisher_aa[..., None, None]
    grad_b = np.sum(
        cells.event_logit_sum - m * mu * x - b * v * spread - correction * dv * x, axis=-1
    )
    info_ab = np.sum(m * v * x + b * dv * spread + correction * d2v * x, axis=-1)
    info_bb = np.sum(
        m * v * x * x + v * spread + 2.0 * b * dv * x * spread + correction * d2v * x * x,
        axis=-1,
    )
    fisher_ab = np.sum(m * v * x, axis=-1)
    fisher_bb = np.sum(m * v * x * x, axis=-1)
    gradient = np.stack([grad_a, grad_b], axis=-1)
    observed = np.stack(
        [np.stack([info_aa, info_ab], axis=-1), np.stack([info_ab, info_bb], axis=-1)], axis=-2
    )
    fisher = np.stack(
        [np.stack([fisher_aa, fisher_ab], axis=-1), np.stack([fisher_ab, fisher_bb], axis=-1)],
        axis=-2,
    )
    return loglik, gradient, observed, fisher


def _positive_definite(matrix: FloatArray) -> BoolArray:
    """Whether each 1x1 or 2x2 symmetric matrix is positive definite (Sylvester's criterion)."""
    if matrix.shape[-1] == 1:
        return np.asarray(matrix[..., 0, 0] > 0)
    det = matrix[..., 0, 0] * matrix[..., 1, 1] - matrix[..., 0, 1] ** 2
    return np.asarray((matrix[..., 0, 0] > 0) & (det > 0))


def _estimate(fit: _Fit, index: int, z: float) -> Estimate:
    value = float(fit.coef[index])
    if math.isnan(value):
        return Estimate(math.nan, math.nan, math.nan)
    half_width = z * math.sqrt(float(fit.cov[index, index]))
    return Estimate(value, value - half_width, value + half_width)
