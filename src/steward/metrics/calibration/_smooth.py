"""Smoothed calibration: a weighted local-linear (loess) curve over coarsened cube bins, the
integrated calibration index and its quantiles (Austin & Steyerberg 2019)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from steward.cube import LevelCounts
from steward.metrics.calibration._grouped import (
    CalibrationCurve,
    uniform_group_edges,
)
from steward.metrics.calibration._inputs import (
    FloatArray,
    LabelledBins,
    as_result,
    labelled_bins,
    normal_quantile,
    unbatched_bins,
    warn_where,
)

#: Fraction of the labelled rows in each local fit (R's ``loess`` default, used by [Austin 2019]).
DEFAULT_SPAN = 0.75
#: Coarse bins the curve is fitted on: about this many bins of equal row count ...
DEFAULT_SMOOTHING_BINS = 100
#: ... further split so that no coarse bin is wider than this on the probability scale.
_MAX_BIN_WIDTH = 0.05
#: Batch elements smoothed per vectorised chunk: small enough that the ``(chunk, C, C)`` kernel
#: (about 3 MB at 32) stays in cache, which halves the time against 64.
_CHUNK = 32


class CalibrationErrors(NamedTuple):
    """Distances between the smoothed calibration curve and the diagonal, over labelled rows.

    Each field is a float, or an array of shape ``counts.batch_shape`` for batched counts.
    """

    ici: float | FloatArray
    """Integrated calibration index: mean absolute distance."""
    e50: float | FloatArray
    """Median absolute distance."""
    e90: float | FloatArray
    """90th percentile of the absolute distance."""
    emax: float | FloatArray
    """Largest absolute distance."""


class _Smoothing(NamedTuple):
    predicted: FloatArray
    """Mean score per coarse group, ``(..., C)``, ascending."""
    observed: FloatArray
    """Event rate per coarse group, ``(..., C)``."""
    rows: FloatArray
    """Labelled rows per coarse group, ``(..., C)``; 0 marks padding, which carries no weight."""


def smoothed_calibration_errors(
    counts: LevelCounts,
    *,
    span: float = DEFAULT_SPAN,
    n_bins: int = DEFAULT_SMOOTHING_BINS,
) -> CalibrationErrors:
    r"""ICI, E50, E90 and Emax: how far the smoothed calibration curve lies from the diagonal.

    The calibration curve :math:`\hat s(p)` is the weighted local-linear (loess, tricube kernel)
    regression of the outcome on the score, on the probability scale [1]_ [2]_. It is fitted to
    coarse bins of the cube rather than to rows: the bins are merged into about ``n_bins`` groups
    of equal row count (split further so none is wider than 0.05), each group enters the fit at
    its mean score :math:`\bar p_c` with its event rate and a weight equal to its row count
    :math:`n_c`, and the local bandwidth at :math:`x_0` is the distance within which a fraction
    ``span`` of the rows lie, as in ``lowess``. Then, with
    :math:`e_c = |\hat s(\bar p_c) - \bar p_c|`,

    .. math::

        \mathrm{ICI} = \frac{\sum_c n_c e_c}{\sum_c n_c},

    E50 and E90 are the row-weighted median and 90th percentile of :math:`e_c` (inverted CDF),
    and Emax its maximum over non-empty groups. These approximate the row-level definitions
    (each row's error taken at its own score), which differ only through the spread of scores
    within a group (docs/methods.md section 1: approximate).

    Parameters
    ----------
    counts : LevelCounts
        Binned statistics, optionally with leading batch axes (bootstrap replicates); the
        coarse groups are chosen for each batch element from its own rows, so a batched result
        equals the results of the elements one at a time. Unlabelled rows are ignored.
    span : float, default 0.75
        Fraction of rows in each local fit, in (0, 1].
    n_bins : int, default 100
        Number of equal-count groups the curve is fitted on.

    Returns
    -------
    CalibrationErrors
        Each field a float, or an array of shape ``counts.batch_shape``; ``nan`` (with
        ``UndefinedMetricWarning``) when there are no labelled rows.

    References
    ----------
    .. [1] Austin PC, Steyerberg EW. The Integrated Calibration Index (ICI) and related metrics
       for quantifying the calibration of logistic regression models. Statistics in Medicine
       2019;38:4051-4065.
    .. [2] Cleveland WS. Robust locally weighted regression and smoothing scatterplots. J Am
       Stat Assoc 1979;74:829-836.

    Examples
    --------
    >>> import numpy as np
    >>> from steward.cube import LevelCounts
    >>> stats = np.zeros((10, 3, 8))  # ten bins; in bin b, 100 rows with score (b + .5) / 10
    >>> p = (np.arange(10) + 0.5) / 10
    >>> events = 100 * p  # observed rates equal the scores: perfectly calibrated
    >>> stats[:, 0, 0], stats[:, 0, 1] = 100 - events, (100 - events) * p
    >>> stats[:, 1, 0], stats[:, 1, 1] = events, events * p
    >>> errors = smoothed_calibration_errors(LevelCounts(np.linspace(0, 1, 11), stats))
    >>> [round(abs(value), 12) for value in errors]
    [0.0, 0.0, 0.0, 0.0]
    """
    bins = labelled_bins(counts)
    _check_smoothing(span, n_bins)
    smoothing = _coarse_bins(bins, counts.edges, n_bins)
    total_rows = np.sum(smoothing.rows, axis=-1)
    warn_where(total_rows == 0, "Smoothed calibration is undefined without labelled rows")
    errors = _chunked_errors(smoothing, span)
    return CalibrationErrors(*(as_result(e) for e in errors))


def ici(
    counts: LevelCounts,
    *,
    span: float = DEFAULT_SPAN,
    n_bins: int = DEFAULT_SMOOTHING_BINS,
) -> float | FloatArray:
    """Integrated calibration index (see ``smoothed_calibration_errors`` for the definition).

    Examples
    --------
    >>> import numpy as np
    >>> from steward.cube import LevelCounts
    >>> stats = np.zeros((10, 3, 8))  # every score over-predicts risk by 0.05
    >>> p = (np.arange(10) + 0.5) / 10
    >>> events = 100 * (p - 0.05)
    >>> stats[:, 0, 0], stats[:, 0, 1] = 100 - events, (100 - events) * p
    >>> stats[:, 1, 0], stats[:, 1, 1] = events, events * p
    >>> round(ici(LevelCounts(np.linspace(0, 1, 11), stats)), 6)
    0.05
    """
    return smoothed_calibration_errors(counts, span=span, n_bins=n_bins).ici


def calibration_curve(
    counts: LevelCounts,
    n_points: int = DEFAULT_SMOOTHING_BINS,
    *,
    span: float = DEFAULT_SPAN,
    alpha: float = 0.05,
) -> CalibrationCurve:
    r"""Smoothed calibration curve with a pointwise confidence band, for plots and reports.

    The same local-linear fit as ``smoothed_calibration_errors`` (``n_bins = n_points``),
    evaluated at the mean score of each coarse group: ``predicted`` is that mean score,
    ``observed`` the smoothed event rate :math:`\hat s = \sum_c \ell_c \bar y_c` and ``n`` the
    group's rows. The band is :math:`\hat s \pm z_{1-\alpha/2}\sqrt{\widehat{\mathrm{Var}}}`
    with the local regression's binomial variance

    .. math::

        \widehat{\mathrm{Var}}\,\hat s(x_0) = \sum_c \ell_c(x_0)^2\,
        \frac{\tilde s_c (1 - \tilde s_c)}{n_c},

    where :math:`\ell_c(x_0)` are the smoother's weights and :math:`\tilde s_c` the smoothed
    rate at group :math:`c` clipped to [0, 1]; the band is clipped to [0, 1]. It covers the
    smooth, not smoothing bias, so it is narrow where the curve bends sharply.

    Parameters
    ----------
    counts : LevelCounts
        Binned statistics without batch axes. Unlabelled rows are ignored.
    n_points : int, default 100
        About how many points (equal-count groups) the curve has.
    span : float, default 0.75
        Fraction of rows in each local fit, in (0, 1].
    alpha : float, default 0.05
        One minus the coverage of the pointwise band.

    Returns
    -------
    CalibrationCurve
        One point per non-empty group, ordered by predicted risk (all arrays empty when there
        are no labelled rows).

    References
    ----------
    .. [1] Austin PC, Steyerberg EW. Graphical assessment of internal and external calibration
       of logistic regression models by using loess smoothers. Statistics in Medicine
       2014;33:517-535.

    Examples
    --------
    >>> import numpy as np
    >>> from steward.cube import LevelCounts
    >>> stats = np.zeros((10, 3, 8))
    >>> p = (np.arange(10) + 0.5) / 10
    >>> events = 100 * p
    >>> stats[:, 0, 0], stats[:, 0, 1] = 100 - events, (100 - events) * p
    >>> stats[:, 1, 0], stats[:, 1, 1] = events, events * p
    >>> curve = calibration_curve(LevelCounts(np.linspace(0, 1, 11), stats), n_points=10)
    >>> np.round(curve.observed, 6).tolist() == np.round(p, 6).tolist()
    True
    >>> bool(np.all(curve.ci_low < curve.observed) and np.all(curve.observed < curve.ci_high))
    True
    """
    bins = unbatched_bins(counts, "calibration_curve on each replicate")
    z = normal_quantile(alpha)
    _check_smoothing(span, n_points)
    x, y, w = _coarse_bins(bins, counts.edges, n_points)
    present = w > 0
    x, y, w = x[present], y[present], w[present]
    if x.size == 0:
        empty = np.zeros(0)
        return CalibrationCurve(empty, empty, empty, empty, empty)
    weights = _smoother_matrix(x, w, span)
    fitted = weights @ y
    rate = np.clip(fitted, 0.0, 1.0)
    variance = np.sum(weights**2 * (rate * (1.0 - rate) / w), axis=-1)
    half_width = z * np.sqrt(variance)
    return CalibrationCurve(
        predicted=x,
        observed=fitted,
        ci_low=np.clip(fitted - half_width, 0.0, 1.0),
        ci_high=np.clip(fitted + half_width, 0.0, 1.0),
        n=w,
    )


def _check_smoothing(span: float, n_bins: int) -> None:
    if not (isinstance(span, float | int) and 0.0 < span <= 1.0):
        raise ValueError(f"span must lie in (0, 1], got {span!r}")
    if not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"the number of smoothing bins must be a positive integer, got {n_bins!r}")


def _coarse_bins(bins: LabelledBins, edges: FloatArray, n_bins: int) -> _Smoothing:
    """Merge cube bins into about ``n_bins`` equal-count groups, split further so that none is
    wider than 0.05, separately for every batch element.

    Each batch element gets its own groups (as a row-level bootstrap re-runs the whole
    procedure on each replicate), so batched results equal those of one element at a time.
    Non-empty groups come first, in score order; the rest is padding with no rows.
    """
    rows, events, score_sum = bins.rows, bins.pos, bins.sum_p
    n_fine = edges.size - 1
    # Group g of the equal-count split ends at the first bin whose cumulative count reaches
    # g / n_bins of the total, so bin b starts a new group when the count before it does.
    before = np.cumsum(rows, axis=-1) - rows
    total = np.sum(rows, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(total > 0, before / np.where(total > 0, total, 1.0), 0.0)
    count_group = np.minimum(np.floor(fraction * n_bins * (1.0 + 1e-12)), n_bins - 1)
    widths = math.ceil((edges[-1] - edges[0]) / _MAX_BIN_WIDTH)
    caps = uniform_group_edges(edges, widths)[1:-1]
    width_group = np.searchsorted(caps, edges[:-1], side="right")
    starts = np.diff(count_group, axis=-1, prepend=-1) != 0
    starts |= np.diff(width_group, prepend=-1) != 0
    group = np.cumsum(starts, axis=-1) - 1
    flat_group = group.reshape(-1, n_fine)
    offset = np.arange(flat_group.shape[0])[:, None] * n_fine
    index = (flat_group + offset).ravel()

    def grouped(values: FloatArray) -> FloatArray:
        summed = np.bincount(index, weights=values.ravel(), minlength=offset.size * n_fine)
        return np.asarray(summed, dtype=np.float64).reshape(*rows.shape[:-1], n_fine)

    group_rows, group_events, group_sum = grouped(rows), grouped(events), grouped(score_sum)
    # Move empty groups to the end (stable), then keep as many columns as the fullest element.
    width = max(1, int(np.max(np.sum(group_rows > 0, axis=-1), initial=0)))
    order = np.argsort(group_rows <= 0, axis=-1, kind="stable")[..., :width]
    # one gather per array through flat positions (cheaper than take_along_axis)
    at = (order.reshape(-1, width) + offset).reshape(order.shape)
    group_rows, group_events, group_sum = (
        a.reshape(-1)[at] for a in (group_rows, group_events, group_sum)
    )
    occupied = group_rows > 0
    safe_rows = np.where(occupied, group_rows, 1.0)
    # Padding sits at the top of the score range so scores stay sorted; it has no weight.
    predicted = np.where(occupied, group_sum / safe_rows, edges[-1])
    observed = np.where(occupied, group_events / safe_rows, 0.0)
    return _Smoothing(predicted, observed, np.where(occupied, group_rows, 0.0))


def _chunked_errors(smoothing: _Smoothing, span: float) -> tuple[FloatArray, ...]:
    """The errors of every batch element: bandwidths for all at once (``(batch, C)`` arrays),
    the ``(batch, C, C)`` kernels ``_CHUNK`` elements at a time."""
    batch_shape = smoothing.rows.shape[:-1]
    groups = smoothing.rows.shape[-1]
    flat = [array.reshape(-1, groups) for array in smoothing]
    bandwidths = _bandwidths(flat[0], _weights_with_rows(flat[2]), span)
    results = []
    for start in range(0, flat[0].shape[0], _CHUNK):
        x, y, w = (array[start : start + _CHUNK] for array in flat)
        results.append(_errors(x, y, w, span, bandwidths[start : start + _CHUNK]))
    return tuple(np.concatenate([r[i] for r in results]).reshape(batch_shape) for i in range(4))


def _weights_with_rows(w: FloatArray) -> FloatArray:
    """``w`` with every row that has no weight at all given weight 1 throughout (its errors
    are ``nan`` anyway; this keeps its fit finite)."""
    empty = np.sum(w, axis=-1) == 0
    return np.where(empty[..., None], 1.0, w)


def _errors(
    x: FloatArray, y: FloatArray, w: FloatArray, span: float, bandwidth: FloatArray
) -> list[FloatArray]:
    """ICI, E50, E90 and Emax of each row of ``(batch, C)`` arrays; ``nan`` without rows."""
    empty = np.sum(w, axis=-1) == 0
    safe_w = _weights_with_rows(w)
    error = np.abs(_local_fit(x, y, safe_w, span, bandwidth) - x)
    ici = np.sum(safe_w * error, axis=-1) / np.sum(safe_w, axis=-1)
    e50, e90 = _weighted_quantiles(error, safe_w, (0.5, 0.9))
    emax = np.max(np.where(safe_w > 0, error, -np.inf), axis=-1)
    return [np.where(empty, np.nan, values) for values in (ici, e50, e90, emax)]


def _weighted_quantiles(
    values: FloatArray, weights: FloatArray, qs: tuple[float, ...]
) -> list[FloatArray]:
    """Inverted-CDF quantiles: the smallest value whose cumulative weight reaches each ``q``
    (one sort shared by every ``q``)."""
    order = np.argsort(values, axis=-1)
    sorted_values = np.take_along_axis(values, order, axis=-1)
    cumulative = np.cumsum(np.take_along_axis(weights, order, axis=-1), axis=-1)
    quantiles = []
    for q in qs:
        target = q * cumulative[..., -1:]
        first = np.argmax(cumulative >= target * (1.0 - 1e-12), axis=-1)
        quantiles.append(np.take_along_axis(sorted_values, first[..., None], axis=-1)[..., 0])
    return quantiles


def _bandwidths(x: FloatArray, w: FloatArray, span: float) -> FloatArray:
    """Local bandwidths ``h_i`` of the fits at every ``x_i``, shape ``(..., C)``.

    ``x`` must be sorted along the last axis. ``h_i`` is the smallest radius around ``x_i``
    holding a fraction ``span`` of the total weight, as in ``lowess``: for each group ``l``, the
    first group ``r(l)`` at which the weight from ``l`` on reaches that fraction gives the radius
    ``max(x_i - x_l, x_r(l) - x_i)``; ``h_i`` is the least of them.
    """
    cumulative = np.cumsum(w, axis=-1)
    reach = _first_reaching(cumulative, cumulative - w + span * cumulative[..., -1:] * (1 - 1e-12))
    n_groups = x.shape[-1]
    reach_x = np.where(
        reach < n_groups,
        np.take_along_axis(x, np.minimum(reach, n_groups - 1), axis=-1),
        np.inf,
    )
    return np.maximum(_least_radius(x, reach_x), np.finfo(np.float64).tiny)


def _kernel(
    x: FloatArray, w: FloatArray, span: float, bandwidth: FloatArray | None = None
) -> FloatArray:
    """Tricube weights ``K[..., i, c] = w_c (1 - (|x_c - x_i| / h_i)^3)^3`` of the local fits.

    ``x`` must be sorted along the last axis; ``h_i`` is from :func:`_bandwidths` unless given.
    """
    if bandwidth is None:
        bandwidth = _bandwidths(x, w, span)
    # (1 - u^3)^3 with u = min(|x_c - x_i| / h_i, 1), in place: the (..., C, C) arrays dominate
    # the cost of the whole fit.
    kernel: FloatArray = x[..., None, :] - x[..., :, None]
    np.abs(kernel, out=kernel)
    kernel *= (1.0 / bandwidth)[..., None]
    np.minimum(kernel, 1.0, out=kernel)
    kernel *= kernel * kernel
    np.subtract(1.0, kernel, out=kernel)
    kernel *= kernel * kernel
    kernel *= w[..., None, :]
    return kernel


def _least_radius(x: FloatArray, reach_x: FloatArray) -> FloatArray:
    """``min_l max(x_i - x_l, reach_x[l] - x_i)`` for every ``i``, shape ``(..., C)``.

    With ``x`` and ``reach_x`` ascending, the first term falls and the second rises with ``l``
    (rounding keeps both monotone), so the least maximum sits where they cross: a binary search
    per ``i`` finds the same value as the full ``(C, C)`` minimum at a fraction of the cost.
    Inputs that are not ascending (possible only through rounding of non-integer weights) take
    the full minimum.
    """
    if not (_ascending(x) and _ascending(reach_x)):
        return _full_least_radius(x, reach_x)
    n = x.shape[-1]
    # Rows flattened so that each probe is one gather (take_along_axis costs more per call).
    flat_x, flat_reach = x.reshape(-1), reach_x.reshape(-1)
    row_start = (np.arange(flat_x.size) // n * n).reshape(x.shape)
    # first l with x_i - x_l <= reach_x[l] - x_i: the falling term no longer exceeds the rising one
    low = np.zeros(x.shape, dtype=np.intp)
    high = np.full(x.shape, n, dtype=np.intp)
    for _ in range(max(1, n).bit_length() + 1):
        middle = np.minimum((low + high) // 2, n - 1) + row_start
        crossed = x - flat_x[middle] <= flat_reach[middle] - x
        crossed &= low < high
        middle -= row_start
        high = np.where(crossed, middle, high)
        low = np.where(crossed | (low >= high), low, middle + 1)
    falling = np.where(high > 0, x - flat_x[np.maximum(high - 1, 0) + row_start], np.inf)
    rising = np.where(high < n, flat_reach[np.minimum(high, n - 1) + row_start] - x, np.inf)
    return np.asarray(np.minimum(falling, rising), dtype=np.float64)


def _full_least_radius(x: FloatArray, reach_x: FloatArray) -> FloatArray:
    """``_least_radius`` by the minimum over every ``l``, ``_CHUNK`` rows at a time (the
    ``(rows, C, C)`` array would otherwise grow with the batch)."""
    n = x.shape[-1]
    flat_x, flat_reach = x.reshape(-1, n), reach_x.reshape(-1, n)
    out = np.empty(flat_x.shape, dtype=np.float64)
    for start in range(0, flat_x.shape[0], _CHUNK):
        rows, reach = flat_x[start : start + _CHUNK], flat_reach[start : start + _CHUNK]
        radius = np.maximum(
            rows[:, :, None] - rows[:, None, :], reach[:, None, :] - rows[:, :, None]
        )
        out[start : start + _CHUNK] = np.min(radius, axis=-1)
    return out.reshape(x.shape)


def _ascending(values: FloatArray) -> bool:
    return bool(np.all(values[..., 1:] >= values[..., :-1]))


def _first_reaching(cumulative: FloatArray, goal: FloatArray) -> NDArray[np.intp]:
    """For each ``goal`` (same shape as ``cumulative``), the first index whose ``cumulative``
    (ascending along the last axis) in the same row is at least that goal, or the axis length
    if none: ``np.searchsorted`` row by row, which costs less than a binary search vectorised
    over every row at once for the thousand rows of a bootstrap."""
    n = cumulative.shape[-1]
    rows, goals = cumulative.reshape(-1, n), goal.reshape(-1, n)
    found = np.empty(rows.shape, dtype=np.intp)
    for row in range(rows.shape[0]):
        found[row] = np.searchsorted(rows[row], goals[row], side="left")
    return found.reshape(goal.shape)


def _local_fit(
    x: FloatArray, y: FloatArray, w: FloatArray, span: float, bandwidth: FloatArray | None = None
) -> FloatArray:
    """Weighted local-linear fit evaluated at every ``x`` (sorted), shape ``(..., C)``.

    Uses the kernel-weighted moments of ``x`` and ``y`` (one matrix product) rather than the
    smoother matrix; where a neighbourhood has a single distinct score the fit falls back to
    the local weighted mean.
    """
    kernel = _kernel(x, w, span, bandwidth)
    columns = np.stack([np.ones_like(x), x, x * x, y, x * y], axis=-1)
    s0, sx, sxx, sy, sxy = np.moveaxis(kernel @ columns, -1, 0)
    s1 = sx - x * s0
    s2 = sxx - 2.0 * x * sx + x * x * s0
    t1 = sxy - x * sy
    det = s0 * s2 - s1 * s1
    linear = det > 1e-10 * s0 * s2
    with np.errstate(invalid="ignore", divide="ignore"):
        local_linear = (s2 * sy - s1 * t1) / np.where(linear, det, 1.0)
        local_mean = sy / np.where(s0 > 0, s0, 1.0)
    fitted: FloatArray = np.where(linear, local_linear, local_mean)
    return fitted


def _smoother_matrix(x: FloatArray, w: FloatArray, span: float) -> FloatArray:
    """Weights ``L[i, c]`` with fitted value ``sum_c L[i, c] y_c`` at ``x_i`` (one group of
    rows, ``x`` sorted); the same fit as ``_local_fit``, kept explicit for its variance."""
    kernel = _kernel(x, w, span)
    dx = x[None, :] - x[:, None]
    s0 = np.sum(kernel, axis=-1, keepdims=True)
    s1 = np.sum(kernel * dx, axis=-1, keepdims=True)
    s2 = np.sum(kernel * dx * dx, axis=-1, keepdims=True)
    det = s0 * s2 - s1 * s1
    linear = det > 1e-10 * s0 * s2
    with np.errstate(invalid="ignore", divide="ignore"):
        weights: FloatArray = np.where(
            linear,
            kernel * (s2 - dx * s1) / np.where(linear, det, 1.0),
            kernel / np.where(s0 > 0, s0, 1.0),
        )
    return weights
