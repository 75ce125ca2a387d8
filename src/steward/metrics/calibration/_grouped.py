"""Calibration over groups of bins: the grouped calibration table and the expected calibration
error, plus the choice of coarse edges (equal-width or equal-count) shared with the smoother."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from steward.cube import LevelCounts
from steward.metrics.calibration._inputs import (
    FloatArray,
    LabelledBins,
    as_result,
    check_alpha,
    labelled_bins,
    safe_divide,
    unbatched_bins,
    warn_where,
)
from steward.metrics.thresholds import wilson_interval


@dataclass(frozen=True)
class CalibrationCurve:
    """Observed against predicted risk at a set of points, with a pointwise confidence band.

    All arrays have one entry per point, ordered by ``predicted``. For a smoothed curve
    (``calibration_curve``) ``observed`` is the smoothed event rate; for grouped calibration
    (``grouped_calibration``) it is the event rate of the group.
    """

    predicted: FloatArray
    """Mean score of the rows the point represents."""
    observed: FloatArray
    """Observed (or smoothed observed) event rate."""
    ci_low: FloatArray
    """Lower limit of the pointwise confidence band."""
    ci_high: FloatArray
    """Upper limit of the pointwise confidence band."""
    n: FloatArray
    """Labelled rows the point represents."""


def grouped_calibration(
    counts: LevelCounts,
    n_groups: int = 10,
    *,
    strategy: Literal["uniform", "quantile"] = "uniform",
    alpha: float = 0.05,
) -> CalibrationCurve:
    r"""Mean predicted risk against observed event rate in groups of scores, with Wilson CIs.

    For group :math:`k` with :math:`n_k` labelled rows, :math:`O_k` events and score sum
    :math:`E_k`: ``predicted`` :math:`= E_k / n_k`, ``observed`` :math:`= O_k / n_k`, and the band
    is the Wilson score interval for :math:`O_k` of :math:`n_k`.

    Group boundaries are the cube edges nearest to ``k / n_groups`` (``strategy="uniform"``) or to
    the ``k / n_groups`` quantiles of the labelled rows' scores (``"quantile"``, resolved to whole
    bins, so groups are only as equal as the bins allow). Groups without labelled rows are left
    out.

    Parameters
    ----------
    counts : LevelCounts
        Binned statistics without batch axes. Unlabelled rows are ignored.
    n_groups : int, default 10
        Number of groups requested.
    strategy : {"uniform", "quantile"}, default "uniform"
        Equal-width or equal-count groups.
    alpha : float, default 0.05
        One minus the coverage of the Wilson intervals.

    Returns
    -------
    CalibrationCurve
        One point per non-empty group (all arrays empty when there are no labelled rows).

    References
    ----------
    .. [1] Wilson EB. Probable inference, the law of succession, and statistical inference.
       J Am Stat Assoc 1927;22:209-212.

    Examples
    --------
    >>> import numpy as np
    >>> from steward.cube import LevelCounts
    >>> stats = np.zeros((4, 3, 8))  # bins [0, .25), ..., [.75, 1]: rows and score sums
    >>> stats[:, 0, 0], stats[:, 1, 0] = [30, 20, 0, 5], [0, 10, 0, 15]
    >>> stats[:, 0, 1] = [3.0, 7.0, 0, 4.0]
    >>> stats[:, 1, 1] = [0, 3.5, 0, 12.0]
    >>> groups = grouped_calibration(LevelCounts(np.linspace(0, 1, 5), stats), n_groups=2)
    >>> groups.predicted.tolist(), groups.observed.tolist(), groups.n.tolist()
    ([0.225, 0.8], [0.16666666666666666, 0.75], [60.0, 20.0])
    """
    bins = unbatched_bins(counts, "grouped_calibration on each replicate")
    check_alpha(alpha)
    _check_n_groups(n_groups)
    if strategy == "uniform":
        coarse = uniform_group_edges(counts.edges, n_groups)
    elif strategy == "quantile":
        coarse = equal_count_edges(counts.edges, bins.rows, n_groups)
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    groups = merge_bins(bins, counts.edges, coarse)
    n = groups.rows
    keep = n > 0
    n, events, score_sum = n[keep], groups.pos[keep], groups.sum_p[keep]
    low, high = wilson_interval(events, n, alpha)
    return CalibrationCurve(
        predicted=score_sum / n, observed=events / n, ci_low=low, ci_high=high, n=n
    )


def ece(counts: LevelCounts, n_groups: int = 10) -> float | FloatArray:
    r"""Expected calibration error over equal-width score groups.

    .. math::

        \mathrm{ECE}_K = \sum_{k=1}^{K} \frac{n_k}{n}\,\bigl|\bar y_k - \bar p_k\bigr|
        = \frac{1}{n}\sum_{k=1}^{K} \bigl|O_k - E_k\bigr|,

    where group :math:`k` holds the scores in :math:`[(k-1)/K, k/K)`, :math:`O_k` is its number
    of events and :math:`E_k` its sum of scores. Group boundaries are the cube edges nearest to
    :math:`k/K`; when every :math:`k/K` is itself an edge (e.g. ``K`` divides the number of
    uniform bins) the result equals the row-level ECE exactly, otherwise it is the exact ECE of
    groups whose boundaries move by at most half a bin. Prefer ICI and the calibration slope
    (docs/methods.md section 2): ECE depends on ``K`` and ignores miscalibration within groups.

    Parameters
    ----------
    counts : LevelCounts
        Binned statistics, optionally with leading batch axes. Unlabelled rows are ignored.
    n_groups : int, default 10
        Number of equal-width groups ``K``.

    Returns
    -------
    float or ndarray of shape ``counts.batch_shape``
        In [0, 1]; ``nan`` (with ``UndefinedMetricWarning``) when there are no labelled rows.

    References
    ----------
    .. [1] Naeini MP, Cooper GF, Hauskrecht M. Obtaining well calibrated probabilities using
       Bayesian binning. Proc AAAI Conf Artif Intell 2015;29:2901-2907.
    .. [2] Guo C, Pleiss G, Sun Y, Weinberger KQ. On calibration of modern neural networks.
       Proc ICML 2017:1321-1330.

    Examples
    --------
    >>> import numpy as np
    >>> from steward.cube import LevelCounts
    >>> stats = np.zeros((4, 3, 8))
    >>> stats[:, 0, 0], stats[:, 1, 0] = [30, 20, 0, 5], [0, 10, 0, 15]
    >>> stats[:, 0, 1] = [3.0, 7.0, 0, 4.0]
    >>> stats[:, 1, 1] = [0, 3.5, 0, 12.0]
    >>> round(ece(LevelCounts(np.linspace(0, 1, 5), stats), n_groups=2), 6)  # (3.5 + 1) / 80
    0.05625
    """
    bins = labelled_bins(counts)
    _check_n_groups(n_groups)
    # only the three sums ECE reads are merged: it runs on every bootstrap replicate
    neg, pos, sum_p = _merge_sums(
        (bins.neg, bins.pos, bins.sum_p),
        counts.edges,
        uniform_group_edges(counts.edges, n_groups),
    )
    n = np.sum(neg + pos, axis=-1)
    warn_where(n == 0, "ECE is undefined without labelled rows")
    gap = np.sum(np.abs(pos - sum_p), axis=-1)
    return as_result(safe_divide(gap, n))


def merge_bins(bins: LabelledBins, edges: FloatArray, coarse: FloatArray) -> LabelledBins:
    """Sum adjacent bins into the ``coarse`` edges (a subset of ``edges``)."""
    return LabelledBins(*_merge_sums(tuple(bins), edges, coarse))


def _merge_sums(
    sums: tuple[FloatArray, ...], edges: FloatArray, coarse: FloatArray
) -> list[FloatArray]:
    starts = np.searchsorted(edges, coarse[:-1])
    return [np.add.reduceat(values, starts, axis=-1) for values in sums]


def uniform_group_edges(edges: FloatArray, n_groups: int) -> FloatArray:
    """The cube edges nearest to ``edges[0] + k (edges[-1] - edges[0]) / n_groups``."""
    targets = edges[0] + (edges[-1] - edges[0]) * np.arange(n_groups + 1) / n_groups
    return snap_to_edges(edges, targets)


def equal_count_edges(edges: FloatArray, rows: FloatArray, n_groups: int) -> FloatArray:
    """Cube edges splitting ``rows`` (per bin, no batch axes) into about equal-count groups.

    Group ``k`` ends at the first bin whose cumulative count reaches ``k / n_groups`` of the
    total, so a bin holding more rows than a group yields fewer, larger groups.
    """
    cumulative = np.cumsum(rows, dtype=np.float64)
    total = cumulative[-1] if cumulative.size else 0.0
    if total <= 0:
        return np.array([edges[0], edges[-1]])
    targets = total * np.arange(1, n_groups) / n_groups
    ends = np.searchsorted(cumulative, targets, side="left") + 1
    inner = edges[np.clip(ends, 1, edges.size - 1)]
    return np.unique(np.concatenate([[edges[0]], inner, [edges[-1]]]))


def snap_to_edges(edges: FloatArray, targets: FloatArray) -> FloatArray:
    """Sorted unique cube edges nearest to each target, always including both end edges."""
    right = np.clip(np.searchsorted(edges, targets), 1, edges.size - 1)
    left = right - 1
    nearest = np.where(targets - edges[left] <= edges[right] - targets, left, right)
    return np.unique(np.concatenate([[edges[0]], edges[nearest], [edges[-1]]]))


def _check_n_groups(n_groups: int) -> None:
    if not isinstance(n_groups, int | np.integer) or n_groups < 1:
        raise ValueError(f"n_groups must be a positive integer, got {n_groups!r}")
