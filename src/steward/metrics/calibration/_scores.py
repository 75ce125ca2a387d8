"""Calibration scores that are exact functions of the cube's sums: Brier, log loss, O/E, CITL."""

from __future__ import annotations

import math

import numpy as np

from steward.cube import LevelCounts
from steward.metrics.calibration._inputs import (
    FloatArray,
    LabelledBins,
    as_result,
    check_alpha,
    labelled_totals,
    normal_quantile,
    safe_divide,
    totals,
    unbatched_bins,
    warn_where,
)
from steward.metrics.special import gammaincinv
from steward.metrics.types import Estimate

_NO_ROWS = "{} is undefined without labelled rows"


def brier(counts: LevelCounts) -> float | FloatArray:
    r"""Brier score: mean squared difference between score and outcome.

    Exact from the cube's sums, since :math:`(p - y)^2 = p^2 - 2py + y` for :math:`y \in \{0, 1\}`:

    .. math::

        \mathrm{Brier} = \frac{1}{n}\sum_i (p_i - y_i)^2
        = \frac{\sum_i p_i^2 - 2 \sum_{i: y_i = 1} p_i + n_1}{n}.

    Parameters
    ----------
    counts : LevelCounts
        Binned statistics, optionally with leading batch axes (bootstrap replicates).
        Unlabelled rows are ignored.

    Returns
    -------
    float or ndarray of shape ``counts.batch_shape``
        Lower is better; ``nan`` (with ``UndefinedMetricWarning``) when there are no
        labelled rows.

    References
    ----------
    .. [1] Brier GW. Verification of forecasts expressed in terms of probability.
       Monthly Weather Review 1950;78:1-3.

    Examples
    --------
    >>> import numpy as np
    >>> from steward.cube import LevelCounts
    >>> stats = np.zeros((3, 3, 8))  # three bins, each holding one row (score, outcome)
    >>> for b, (p, y) in enumerate([(0.2, 0), (0.7, 1), (0.9, 0)]):
    ...     z = np.log(p / (1 - p))
    ...     stats[b, y] = [1, p, p * p, np.log(p), np.log1p(-p), z, z * z, p * z]
    >>> counts = LevelCounts(np.array([0.0, 0.5, 0.8, 1.0]), stats)
    >>> round(brier(counts), 6)  # (0.04 + 0.09 + 0.81) / 3
    0.313333
    """
    return as_result(_brier(labelled_totals(counts), warn=True))


def scaled_brier(counts: LevelCounts) -> float | FloatArray:
    r"""Scaled Brier score: the Brier score relative to that of predicting the prevalence.

    .. math::

        \mathrm{Brier}_{\mathrm{scaled}} = 1 - \frac{\mathrm{Brier}}{\bar y (1 - \bar y)},

    where :math:`\bar y = n_1 / n` is the observed event rate. 1 is perfect, 0 is no better than
    the prevalence, negative is worse.

    Parameters
    ----------
    counts : LevelCounts
        Binned statistics, optionally with leading batch axes. Unlabelled rows are ignored.

    Returns
    -------
    float or ndarray of shape ``counts.batch_shape``
        ``nan`` (with ``UndefinedMetricWarning``) when there are no events or no non-events.

    References
    ----------
    .. [1] Steyerberg EW, Vickers AJ, Cook NR, et al. Assessing the performance of prediction
       models: a framework for traditional and novel measures. Epidemiology 2010;21:128-138.

    Examples
    --------
    >>> import numpy as np
    >>> from steward.cube import LevelCounts
    >>> stats = np.zeros((3, 3, 8))
    >>> for b, (p, y) in enumerate([(0.2, 0), (0.7, 1), (0.9, 0)]):
    ...     z = np.log(p / (1 - p))
    ...     stats[b, y] = [1, p, p * p, np.log(p), np.log1p(-p), z, z * z, p * z]
    >>> counts = LevelCounts(np.array([0.0, 0.5, 0.8, 1.0]), stats)
    >>> round(scaled_brier(counts), 4)  # 1 - 0.31333 / (1/3 * 2/3)
    -0.41
    """
    total = labelled_totals(counts)
    n = total.rows
    one_class = (total.pos == 0) | (total.neg == 0)
    warn_where(n == 0, _NO_ROWS.format("Scaled Brier"))
    warn_where((n > 0) & one_class, "Scaled Brier needs both events and non-events")
    ybar = safe_divide(total.pos, n)
    reference = np.where(one_class, np.nan, ybar * (1.0 - ybar))
    return as_result(1.0 - safe_divide(_brier(total, warn=False), reference))


def log_loss(counts: LevelCounts) -> float | FloatArray:
    r"""Log loss (binary cross-entropy), exact from the cube's sums of log p and log(1 - p).

    .. math::

        \mathrm{LogLoss} = -\frac{1}{n}\Big(\sum_{i: y_i = 1} \log p_i
        + \sum_{i: y_i = 0} \log(1 - p_i)\Big).

    Scores of exactly 0 or 1 are clipped when the cube is built (as scikit-learn's ``log_loss``
    does), so a confidently wrong score gives a large but finite loss.

    Parameters
    ----------
    counts : LevelCounts
        Binned statistics, optionally with leading batch axes. Unlabelled rows are ignored.

    Returns
    -------
    float or ndarray of shape ``counts.batch_shape``
        Natural-log units; ``nan`` (with ``UndefinedMetricWarning``) when there are no
        labelled rows.

    References
    ----------
    .. [1] Good IJ. Rational decisions. J R Stat Soc B 1952;14:107-114.

    Examples
    --------
    >>> import numpy as np
    >>> from steward.cube import LevelCounts
    >>> stats = np.zeros((3, 3, 8))
    >>> for b, (p, y) in enumerate([(0.2, 0), (0.7, 1), (0.9, 0)]):
    ...     z = np.log(p / (1 - p))
    ...     stats[b, y] = [1, p, p * p, np.log(p), np.log1p(-p), z, z * z, p * z]
    >>> counts = LevelCounts(np.array([0.0, 0.5, 0.8, 1.0]), stats)
    >>> round(log_loss(counts), 6)  # -(log 0.8 + log 0.7 + log 0.1) / 3
    0.960801
    """
    total = labelled_totals(counts)
    n = total.rows
    warn_where(n == 0, _NO_ROWS.format("Log loss"))
    return as_result(safe_divide(-(total.sum_logp_pos + total.sum_log1mp_neg), n))


def oe_values(counts: LevelCounts) -> FloatArray:
    """Observed/expected ratio ``sum y / sum p`` of every batch element, shape
    ``counts.batch_shape`` (see ``oe_ratio``).

    Examples
    --------
    >>> import numpy as np
    >>> from steward.cube import LevelCounts
    >>> stats = np.zeros((2, 1, 3, 8))  # two replicates of a one-bin cube
    >>> stats[:, 0, 0, :2] = [[3, 0.6], [2, 0.4]]
    >>> stats[:, 0, 1, :2] = [[1, 0.2], [2, 0.4]]
    >>> oe_values(LevelCounts(np.array([0.0, 1.0]), stats)).tolist()
    [1.25, 2.5]
    """
    return _oe(labelled_totals(counts))


def oe_ratio(counts: LevelCounts, *, alpha: float = 0.05) -> Estimate:
    r"""Observed/expected ratio with an exact Poisson confidence interval.

    .. math::

        O/E = \frac{\sum_i y_i}{\sum_i p_i} = \frac{n_1}{\sum_i p_i}.

    The interval treats the observed count :math:`O = n_1` as Poisson and the expected count
    :math:`E` as fixed: the exact (Garwood) limits for the Poisson mean,
    :math:`\tfrac12\chi^2_{2O,\,\alpha/2}` and :math:`\tfrac12\chi^2_{2O+2,\,1-\alpha/2}`
    (lower limit 0 when :math:`O = 0`), are divided by :math:`E`.

    Parameters
    ----------
    counts : LevelCounts
        Binned statistics without batch axes (use ``oe_values`` for bootstrap replicates).
        Unlabelled rows are ignored.
    alpha : float, default 0.05
        One minus the coverage of the interval.

    Returns
    -------
    Estimate
        ``value`` 1 means as many events as predicted; > 1 the model under-predicts.
        ``nan`` (with ``UndefinedMetricWarning``) when there are no labelled rows or the
        expected count is 0.

    References
    ----------
    .. [1] Garwood F. Fiducial limits for the Poisson distribution. Biometrika 1936;28:437-442.
    .. [2] Van Calster B, McLernon DJ, van Smeden M, Wynants L, Steyerberg EW. Calibration: the
       Achilles heel of predictive analytics. BMC Medicine 2019;17:230.

    Examples
    --------
    >>> import numpy as np
    >>> from steward.cube import LevelCounts
    >>> stats = np.zeros((1, 3, 8))  # one bin: 90 non-events, 10 events, sum of scores 8.0
    >>> stats[0, 0, :2] = [90, 7.0]
    >>> stats[0, 1, :2] = [10, 1.0]
    >>> estimate = oe_ratio(LevelCounts(np.array([0.0, 1.0]), stats))
    >>> [round(x, 4) for x in (estimate.value, estimate.ci_low, estimate.ci_high)]
    [1.25, 0.5994, 2.2988]
    """
    check_alpha(alpha)
    total = totals(unbatched_bins(counts, "oe_values"))
    value = float(_oe(total))
    if math.isnan(value):
        return Estimate(math.nan, math.nan, math.nan)
    observed, expected = float(total.pos), float(total.sum_p)
    # chi2.ppf(q, 2k) / 2 is the gamma(k) quantile
    low = 0.0 if observed == 0 else float(gammaincinv(observed, alpha / 2.0))
    high = float(gammaincinv(observed + 1.0, 1.0 - alpha / 2.0))
    return Estimate(value, low / expected, high / expected)


def citl_values(counts: LevelCounts) -> FloatArray:
    """Calibration-in-the-large ``mean y - mean p`` of every batch element, shape
    ``counts.batch_shape``.

    See ``calibration_in_the_large``.

    Examples
    --------
    >>> import numpy as np
    >>> from steward.cube import LevelCounts
    >>> stats = np.zeros((1, 3, 8))
    >>> stats[0, 0, :2] = [90, 7.0]
    >>> stats[0, 1, :2] = [10, 1.0]
    >>> float(citl_values(LevelCounts(np.array([0.0, 1.0]), stats)))  # (10 - 8) / 100
    0.02
    """
    total = labelled_totals(counts)
    warn_where(total.rows == 0, _NO_ROWS.format("Calibration-in-the-large"))
    return _citl(total)


def calibration_in_the_large(counts: LevelCounts, *, alpha: float = 0.05) -> Estimate:
    r"""Calibration-in-the-large (mean calibration) with a normal confidence interval.

    .. math::

        \mathrm{CITL} = \bar y - \bar p = \frac{1}{n}\sum_i (y_i - p_i),
        \qquad
        \widehat{\mathrm{Var}} = \frac{1}{n}\Big(\frac{1}{n}\sum_i (y_i - p_i)^2
        - \mathrm{CITL}^2\Big),

    both exact from the cube's sums (:math:`\frac1n\sum_i (y_i - p_i)^2` is the Brier score).
    The interval is :math:`\mathrm{CITL} \pm z_{1-\alpha/2}\sqrt{\widehat{\mathrm{Var}}}`.

    Parameters
    ----------
    counts : LevelCounts
        Binned statistics without batch axes (use ``citl_values`` for bootstrap replicates).
        Unlabelled rows are ignored.
    alpha : float, default 0.05
        One minus the coverage of the interval.

    Returns
    -------
    Estimate
        0 is calibrated in the large; > 0 the model under-predicts on average.
        ``nan`` (with ``UndefinedMetricWarning``) when there are no labelled rows.

    References
    ----------
    .. [1] Van Calster B, McLernon DJ, van Smeden M, Wynants L, Steyerberg EW. Calibration: the
       Achilles heel of predictive analytics. BMC Medicine 2019;17:230.

    Examples
    --------
    >>> import numpy as np
    >>> from steward.cube import LevelCounts
    >>> stats = np.zeros((3, 3, 8))
    >>> for b, (p, y) in enumerate([(0.2, 0), (0.7, 1), (0.9, 0)]):
    ...     z = np.log(p / (1 - p))
    ...     stats[b, y] = [1, p, p * p, np.log(p), np.log1p(-p), z, z * z, p * z]
    >>> estimate = calibration_in_the_large(LevelCounts(np.array([0.0, 0.5, 0.8, 1.0]), stats))
    >>> [round(x, 4) for x in (estimate.value, estimate.ci_low, estimate.ci_high)]
    [-0.2667, -0.8236, 0.2903]
    """
    z = normal_quantile(alpha)
    total = totals(unbatched_bins(counts, "citl_values"))
    n = float(total.rows)
    if n == 0:
        warn_where(np.asarray(True), _NO_ROWS.format("Calibration-in-the-large"))
        return Estimate(math.nan, math.nan, math.nan)
    value = float(_citl(total))
    variance = max(float(_brier(total, warn=False)) - value * value, 0.0) / n
    half_width = z * math.sqrt(variance)
    return Estimate(value, value - half_width, value + half_width)


def _brier(total: LabelledBins, *, warn: bool) -> FloatArray:
    n = total.rows
    if warn:
        warn_where(n == 0, _NO_ROWS.format("Brier score"))
    return safe_divide(total.sum_p2 - 2.0 * total.sum_p_pos + total.pos, n)


def _oe(total: LabelledBins) -> FloatArray:
    no_rows = total.rows == 0
    warn_where(no_rows, _NO_ROWS.format("O/E"))
    warn_where(~no_rows & (total.sum_p == 0), "O/E is undefined when every score is 0")
    return safe_divide(total.pos, np.where(no_rows, 0.0, total.sum_p))


def _citl(total: LabelledBins) -> FloatArray:
    return safe_divide(total.pos - total.sum_p, total.rows)
