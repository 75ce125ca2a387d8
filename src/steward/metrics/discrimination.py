"""Discrimination from score cubes: AUROC with DeLong intervals, ROC curve, average precision.

All exact for the binned score (ties within a bin count 1/2) except average precision, which is
its expectation under random order within each bin (docs/methods.md sections 1 and 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from steward.cube import NEGATIVE, POSITIVE, LevelCounts, PairedMargin
from steward.metrics._counts import (
    FloatArray,
    check_counts,
    check_unbatched,
    counts_at_edges,
    warn_undefined,
)
from steward.metrics.special import digamma
from steward.metrics.types import Estimate

__all__ = [
    "PairedAurocDifference",
    "auroc",
    "auroc_binning_bound",
    "auroc_values",
    "average_precision",
    "average_precision_values",
    "delong_variance_values",
    "paired_auroc_difference",
    "roc_curve",
]


class _Ranking(NamedTuple):
    """Per-bin label counts and DeLong placement values, bins in descending score order."""

    n_neg: FloatArray  # (..., bin) negatives per bin
    n_pos: FloatArray  # (..., bin) positives per bin
    total_neg: FloatArray  # (...)
    total_pos: FloatArray  # (...)
    auc: FloatArray  # (...)
    #: Placement of a positive in the bin: share of negatives it outranks, ties 1/2.
    pos_placement: FloatArray
    #: Placement of a negative in the bin: share of positives that outrank it, ties 1/2.
    neg_placement: FloatArray


def _ranking(counts: LevelCounts, what: str = "AUROC") -> _Ranking:
    fps, tps, _ = counts_at_edges(counts)
    total_neg, total_pos = fps[..., -1], tps[..., -1]
    if np.any((total_neg == 0) | (total_pos == 0)):
        warn_undefined(f"{what} is undefined without both positive and negative rows; nan", 5)
    with np.errstate(divide="ignore", invalid="ignore"):
        n0 = total_neg[..., None]
        n1 = total_pos[..., None]
        pos_placement = (n0 - 0.5 * (fps[..., 1:] + fps[..., :-1])) / n0
        neg_placement = 0.5 * (tps[..., 1:] + tps[..., :-1]) / n1
        n_pos = np.diff(tps, axis=-1)
        auc = np.sum(n_pos * pos_placement, axis=-1) / total_pos
    return _Ranking(
        np.diff(fps, axis=-1), n_pos, total_neg, total_pos, auc, pos_placement, neg_placement
    )


def _delong_components(r: _Ranking) -> tuple[FloatArray, FloatArray]:
    """DeLong's S10 and S01: sample variances of the positives' and negatives' placements."""
    with np.errstate(divide="ignore", invalid="ignore"):
        s10 = np.sum(r.n_pos * (r.pos_placement - r.auc[..., None]) ** 2, -1) / (r.total_pos - 1)
        s01 = np.sum(r.n_neg * (r.neg_placement - r.auc[..., None]) ** 2, -1) / (r.total_neg - 1)
    return s10, s01


def _delong_variance(r: _Ranking) -> FloatArray:
    too_few = (r.total_pos < 2) | (r.total_neg < 2)
    if np.any(too_few):
        warn_undefined("DeLong variance needs at least two positive and two negative rows; nan", 4)
    s10, s01 = _delong_components(r)
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = s10 / r.total_pos + s01 / r.total_neg
    return np.where(too_few, np.nan, variance)


def _check_alpha(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    return NormalDist().inv_cdf(1.0 - alpha / 2.0)


def auroc_values(counts: LevelCounts) -> FloatArray:
    r"""Binned AUROC of every batch element.

    .. math::
        \mathrm{AUC} = \frac{1}{N_1 N_0} \sum_b n_{1b}
            \Big(\sum_{c < b} n_{0c} + \tfrac{1}{2} n_{0b}\Big)

    i.e. the Mann-Whitney statistic of the binned score, ties within a bin counting 1/2 [1]_.

    Parameters
    ----------
    counts : LevelCounts
        Binned statistics, stats of shape ``(..., bin, 3, stat)``; unlabelled rows are ignored.

    Returns
    -------
    ndarray of float64, shape ``counts.batch_shape``
        ``nan`` (with ``UndefinedMetricWarning``) where there are no positives or no negatives.

    See Also
    --------
    auroc : The same for one group of rows, with a DeLong confidence interval.

    References
    ----------
    .. [1] Hanley JA, McNeil BJ. The meaning and use of the area under a receiver operating
           characteristic (ROC) curve. Radiology 1982;143:29-36.

    Examples
    --------
    >>> import numpy as np
    >>> stats = np.zeros((2, 2, 3, 1))  # two batch elements, two bins
    >>> stats[:, 0, 0, 0] = [2.0, 1.0]  # negatives in the low bin
    >>> stats[:, 1, 1, 0] = [2.0, 1.0]  # positives in the high bin
    >>> stats[1, 1, 0, 0] = 1.0  # one negative tied with the positive
    >>> auroc_values(LevelCounts(np.array([0.0, 0.5, 1.0]), stats)).tolist()
    [1.0, 0.75]
    """
    check_counts(counts)
    return _ranking(counts).auc


def delong_variance_values(counts: LevelCounts) -> FloatArray:
    r"""DeLong variance of the binned AUROC of every batch element.

    .. math::
        \widehat{\mathrm{Var}} = \frac{S_{10}}{N_1} + \frac{S_{01}}{N_0}, \quad
        S_{10} = \frac{1}{N_1 - 1} \sum_{i:\,y_i=1} (V_{10}(i) - \mathrm{AUC})^2

    where the placement value :math:`V_{10}(i)` of a positive is the share of negatives it
    outranks (ties 1/2) and :math:`V_{01}(j)` of a negative the share of positives outranking
    it [1]_. Placements are constant within a bin, so the sums run over bins and the variance is
    exact for the binned score.

    Returns
    -------
    ndarray of float64, shape ``counts.batch_shape``
        ``nan`` (with ``UndefinedMetricWarning``) with fewer than two positives or negatives.

    References
    ----------
    .. [1] DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more
           correlated receiver operating characteristic curves: a nonparametric approach.
           Biometrics 1988;44:837-845.

    Examples
    --------
    >>> import numpy as np
    >>> stats = np.zeros((2, 3, 1))
    >>> stats[0, :2, 0] = [3.0, 1.0]
    >>> stats[1, :2, 0] = [1.0, 3.0]
    >>> round(float(delong_variance_values(LevelCounts(np.array([0.0, 0.5, 1.0]), stats))), 6)
    0.03125
    """
    check_counts(counts)
    return _delong_variance(_ranking(counts))


def _logit_interval(auc: float, variance: float, z: float) -> tuple[float, float]:
    if not (math.isfinite(auc) and math.isfinite(variance)):
        return math.nan, math.nan
    if auc <= 0.0 or auc >= 1.0:
        return auc, auc
    logit = math.log(auc / (1.0 - auc))
    half_width = z * math.sqrt(variance) / (auc * (1.0 - auc))
    return _expit(logit - half_width), _expit(logit + half_width)


def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def auroc(counts: LevelCounts, *, alpha: float = 0.05) -> Estimate:
    r"""Binned AUROC of one group of rows with a DeLong confidence interval.

    The interval is built on the logit scale and transformed back,

    .. math::
        \mathrm{expit}\Big(\mathrm{logit}(\mathrm{AUC}) \pm
            z_{1-\alpha/2} \frac{\sqrt{\widehat{\mathrm{Var}}}}{\mathrm{AUC}(1-\mathrm{AUC})}\Big),

    so it always lies within [0, 1] and is asymmetric near 1, where the plain Wald interval
    undercovers and has to be truncated [2]_. When every pair is ordered (AUC of 0 or 1) the
    DeLong variance is 0 and the interval collapses to the point.

    Parameters
    ----------
    counts : LevelCounts
        Binned statistics of one group of rows, stats of shape ``(bin, 3, stat)``.
    alpha : float, default=0.05
        One minus the confidence level.

    Returns
    -------
    Estimate
        ``value`` as in :func:`auroc_values`, ``ci_low``/``ci_high`` from
        :func:`delong_variance_values`; ``nan`` where undefined.

    See Also
    --------
    auroc_binning_bound : Bound on the difference from the AUROC of the unbinned score.

    References
    ----------
    .. [1] DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more
           correlated receiver operating characteristic curves: a nonparametric approach.
           Biometrics 1988;44:837-845.
    .. [2] Qin G, Hotilovac L. Comparison of non-parametric confidence intervals for the area
           under the ROC curve of a continuous-scale diagnostic test. Stat Methods Med Res
           2008;17:207-221.

    Examples
    --------
    >>> import numpy as np
    >>> stats = np.zeros((2, 3, 1))
    >>> stats[0, :2, 0] = [3.0, 1.0]
    >>> stats[1, :2, 0] = [1.0, 3.0]
    >>> estimate = auroc(LevelCounts(np.array([0.0, 0.5, 1.0]), stats))
    >>> round(estimate.value, 4), round(estimate.ci_low, 4), round(estimate.ci_high, 4)
    (0.75, 0.321, 0.9501)
    """
    check_counts(counts)
    check_unbatched(counts, "auroc_values and delong_variance_values")
    z = _check_alpha(alpha)
    r = _ranking(counts)
    value = float(r.auc)
    variance = float(_delong_variance(r)) if math.isfinite(value) else math.nan
    low, high = _logit_interval(value, variance, z)
    return Estimate(value, low, high)


def auroc_binning_bound(counts: LevelCounts) -> float:
    r"""Largest possible difference between the binned AUROC and that of the unbinned score.

    Only positive-negative pairs within one bin can be ordered differently by the unbinned
    score; the binned AUROC counts each as 1/2, the unbinned as 0, 1/2 or 1, so

    .. math::
        |\mathrm{AUC} - \mathrm{AUC}_{\mathrm{binned}}| \le \frac{T}{2}, \quad
        T = \frac{\sum_b n_{1b} n_{0b}}{N_1 N_0}.

    Returns
    -------
    float
        ``T / 2``; ``nan`` (with ``UndefinedMetricWarning``) without positives or negatives.

    Examples
    --------
    >>> import numpy as np
    >>> stats = np.zeros((2, 3, 1))
    >>> stats[0, :2, 0] = [3.0, 1.0]
    >>> stats[1, :2, 0] = [1.0, 3.0]
    >>> auroc_binning_bound(LevelCounts(np.array([0.0, 0.5, 1.0]), stats))
    0.1875
    """
    check_counts(counts)
    check_unbatched(counts, "auroc_values")
    r = _ranking(counts, "The AUROC binning bound")
    with np.errstate(divide="ignore", invalid="ignore"):
        tied_share = np.sum(r.n_pos * r.n_neg, axis=-1) / (r.total_pos * r.total_neg)
    return float(tied_share) / 2.0


def roc_curve(
    counts: LevelCounts, *, drop_empty: bool = True
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ROC curve of the binned score, one point per bin edge.

    Parameters
    ----------
    counts : LevelCounts
        Binned statistics of one group of rows, stats of shape ``(bin, 3, stat)``.
    drop_empty : bool, default=True
        Drop the edges of bins without labelled rows; they repeat the previous point.

    Returns
    -------
    fpr : ndarray of float64
        False positive rate of "score >= thresholds[i]", increasing from 0 to 1.
    tpr : ndarray of float64
        True positive rate of "score >= thresholds[i]", increasing from 0 to 1.
    thresholds : ndarray of float64
        Decreasing thresholds: ``+inf`` (nothing flagged), then lower bin edges.

    Examples
    --------
    >>> import numpy as np
    >>> stats = np.zeros((2, 3, 1))
    >>> stats[0, :2, 0] = [3.0, 1.0]
    >>> stats[1, :2, 0] = [1.0, 3.0]
    >>> fpr, tpr, thresholds = roc_curve(LevelCounts(np.array([0.0, 0.5, 1.0]), stats))
    >>> fpr.tolist(), tpr.tolist(), thresholds.tolist()
    ([0.0, 0.25, 1.0], [0.0, 0.75, 1.0], [inf, 0.5, 0.0])
    """
    check_counts(counts)
    check_unbatched(counts, "counts_at_edges")
    fps, tps, thresholds = counts_at_edges(counts)
    if drop_empty:
        keep = np.concatenate([[True], np.diff(fps + tps) > 0])
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    if fps[-1] == 0:
        warn_undefined("No negative rows: the false positive rate is undefined; nan", 2)
    if tps[-1] == 0:
        warn_undefined("No positive rows: the true positive rate is undefined; nan", 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return fps / fps[-1], tps / tps[-1], thresholds


def average_precision_values(counts: LevelCounts) -> FloatArray:
    r"""Expected step-wise average precision when rows within a bin are in random order.

    Step-wise AP [1]_ averages, over positives, the precision of the rows ranked at or above
    each positive: :math:`\mathrm{AP} = \frac{1}{N_1} \sum_{i:\,y_i=1} \mathrm{TP}(i)/k(i)`,
    with :math:`k(i)` the rank of positive :math:`i`. The cube does not order rows within a bin,
    so this returns the expectation over uniformly random orders within each bin (docs/methods.md
    section 1: "approximate").

    Integrating precision across a bin in closed form: take a bin with :math:`p` positives
    and :math:`q` negatives (:math:`m = p + q`) below :math:`a` true and :math:`f` false
    positives (:math:`c = a + f`). Position :math:`j` holds a positive with probability
    :math:`p/m`; given that, the expected number of positives before it within the bin is
    :math:`(j-1)\beta` with :math:`\beta = (p-1)/(m-1)` (hypergeometric), so the bin adds

    .. math::
        \frac{p}{m} \sum_{j=1}^{m} \frac{a + 1 + (j - 1)\beta}{c + j}
        = \frac{p}{m}\Big(m\beta + (a + 1 - \beta(1 + c))
            \big(\psi(c + m + 1) - \psi(c + 1)\big)\Big)

    to :math:`N_1 \mathrm{AP}`, where :math:`\psi` is the digamma function
    (:math:`\beta = 0` when :math:`m = 1`). When every bin holds rows of one class only,
    this is exactly scikit-learn's ``average_precision_score`` on distinct scores.

    Returns
    -------
    ndarray of float64, shape ``counts.batch_shape``
        ``nan`` (with ``UndefinedMetricWarning``) where there are no positive rows.

    References
    ----------
    .. [1] Manning CD, Raghavan P, Schütze H. Introduction to Information Retrieval. Cambridge
           University Press, 2008, section 8.4.

    Examples
    --------
    >>> import numpy as np
    >>> stats = np.zeros((2, 3, 1))
    >>> stats[1, :2, 0] = [1.0, 1.0]  # one negative and one positive, tied in the top bin
    >>> stats[0, 1, 0] = 1.0  # one positive below them
    >>> round(float(average_precision_values(LevelCounts(np.array([0.0, 0.5, 1.0]), stats))), 6)
    0.708333
    """
    check_counts(counts)
    fps, tps, _ = counts_at_edges(counts)
    total_pos = tps[..., -1]
    if np.any(total_pos == 0):
        warn_undefined("Average precision is undefined without positive rows; nan", 2)
    p = np.diff(tps, axis=-1)
    m = p + np.diff(fps, axis=-1)
    above = tps[..., :-1]
    ranked = tps + fps  # rows above each edge: c of a bin, and c + m of the bin above it
    c = ranked[..., :-1]
    # psi(c + m + 1) of a bin is psi(c + 1) of the next (integer counts, so c + m is exact):
    # one digamma per edge instead of two per bin
    psi = np.asarray(digamma(ranked + 1.0), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.subtract(p, 1.0)
        beta /= m - 1.0
        beta[m <= 1] = 0.0
        harmonic = psi[..., 1:] - psi[..., :-1]
        # p / m * (m beta + (a + 1 - beta (1 + c)) * harmonic), zero without positives, in two
        # buffers: on 1,000 replicates the temporaries cost more than the arithmetic
        spread = np.add(c, 1.0)
        spread *= beta
        per_bin = np.add(above, 1.0)
        per_bin -= spread
        per_bin *= harmonic
        np.multiply(m, beta, out=spread)
        spread += per_bin
        np.divide(p, m, out=per_bin)
        per_bin *= spread
        per_bin[p <= 0] = 0.0
        return np.asarray(np.sum(per_bin, axis=-1) / total_pos, dtype=np.float64)


def average_precision(counts: LevelCounts) -> Estimate:
    """Expected average precision of one group of rows (no closed-form interval).

    See :func:`average_precision_values` for the definition; report it next to prevalence, its
    no-skill baseline. The interval comes from the bootstrap.

    Examples
    --------
    >>> import numpy as np
    >>> stats = np.zeros((2, 3, 1))
    >>> stats[0, 0, 0], stats[1, 1, 0] = 1.0, 1.0
    >>> average_precision(LevelCounts(np.array([0.0, 0.5, 1.0]), stats)).value
    1.0
    """
    check_counts(counts)
    check_unbatched(counts, "average_precision_values")
    return Estimate(float(average_precision_values(counts)))


@dataclass(frozen=True)
class PairedAurocDifference:
    """AUROC of the score minus AUROC of a comparator on the same rows (paired DeLong)."""

    value: float
    ci_low: float
    ci_high: float
    p_value: float
    score: Estimate
    comparator: Estimate

    @property
    def difference(self) -> Estimate:
        return Estimate(self.value, self.ci_low, self.ci_high)


def _check_paired(paired: PairedMargin) -> None:
    if not isinstance(paired, PairedMargin):
        raise TypeError(f"expected PairedMargin, got {type(paired).__name__}")
    counts = np.asarray(paired.counts)
    expected = (paired.score_edges.size - 1, paired.comparator_edges.size - 1, 3)
    if counts.shape != expected:
        raise ValueError(f"paired counts have shape {counts.shape}, expected {expected}")
    labelled = counts[..., (NEGATIVE, POSITIVE)]
    if not np.all(np.isfinite(labelled)) or np.any(labelled < 0):
        raise ValueError("paired row counts must be finite and non-negative")


def _marginal(edges: FloatArray, counts: FloatArray) -> LevelCounts:
    return LevelCounts(edges, counts[..., None])


def paired_auroc_difference(paired: PairedMargin, *, alpha: float = 0.05) -> PairedAurocDifference:
    r"""Paired DeLong comparison of the score's AUROC with the comparator's on the same rows.

    From the 2-D cube ``counts[bin_score, bin_comparator, label]``: each AUROC comes from its
    margin, and the covariance of the two from the joint counts of placement values [1]_,

    .. math::
        \widehat{\mathrm{Var}}(\hat\theta_s - \hat\theta_c) =
            \frac{S_{10}^{ss} + S_{10}^{cc} - 2 S_{10}^{sc}}{N_1}
          + \frac{S_{01}^{ss} + S_{01}^{cc} - 2 S_{01}^{sc}}{N_0},

    :math:`S_{10}^{sc} = \frac{1}{N_1 - 1}\sum_{b,c} n_{1bc}
    (V^s_{10}(b) - \hat\theta_s)(V^c_{10}(c) - \hat\theta_c)`, and likewise over negatives.
    The interval is Wald on the difference scale, clipped to [-1, 1]; the p-value is two-sided
    for :math:`z = (\hat\theta_s - \hat\theta_c) / \mathrm{SE}`. With a zero standard error the
    p-value is 1 for a zero difference and 0 otherwise. Each AUROC has the logit interval of
    :func:`auroc`.

    Parameters
    ----------
    paired : PairedMargin
        2-D cube of the score and the comparator on rows where both are present.
    alpha : float, default=0.05
        One minus the confidence level.

    Returns
    -------
    PairedAurocDifference
        Difference (score minus comparator) with interval and p-value, and both AUROCs; ``nan``
        (with ``UndefinedMetricWarning``) with fewer than two positives or negatives.

    References
    ----------
    .. [1] DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more
           correlated receiver operating characteristic curves: a nonparametric approach.
           Biometrics 1988;44:837-845.

    Examples
    --------
    >>> import numpy as np
    >>> from steward.cube import Margin
    >>> edges = np.array([0.0, 0.5, 1.0])
    >>> counts = np.zeros((2, 2, 3))
    >>> counts[0, 0, 0], counts[1, 0, 0] = 2.0, 1.0  # negatives: (score bin, comparator bin)
    >>> counts[1, 1, 1], counts[1, 0, 1] = 1.0, 2.0  # positives
    >>> unused = Margin((), ((),), edges, np.zeros((1, 2, 3, 8)))
    >>> result = paired_auroc_difference(PairedMargin("clinician", edges, edges, counts,
    ...                                               unused, unused))
    >>> round(result.value, 4), round(result.score.value, 4), round(result.comparator.value, 4)
    (0.1667, 0.8333, 0.6667)
    """
    _check_paired(paired)
    z = _check_alpha(alpha)
    counts = np.asarray(paired.counts, dtype=np.float64)
    rs = _ranking(_marginal(paired.score_edges, counts.sum(axis=-2)))
    rc = _ranking(_marginal(paired.comparator_edges, counts.sum(axis=-3)))
    var_s, var_c = float(_delong_variance(rs)), float(_delong_variance(rc))
    score = Estimate(float(rs.auc), *_logit_interval(float(rs.auc), var_s, z))
    comparator = Estimate(float(rc.auc), *_logit_interval(float(rc.auc), var_c, z))
    value = score.value - comparator.value
    variance = _paired_variance(rs, rc, counts)
    if not math.isfinite(variance):
        return PairedAurocDifference(value, math.nan, math.nan, math.nan, score, comparator)
    se = math.sqrt(variance)
    if se == 0.0:
        p_value = 1.0 if value == 0.0 else 0.0
    else:
        p_value = math.erfc(abs(value) / se / math.sqrt(2.0))
    low, high = max(-1.0, value - z * se), min(1.0, value + z * se)
    return PairedAurocDifference(value, low, high, p_value, score, comparator)


def _paired_variance(rs: _Ranking, rc: _Ranking, counts: FloatArray) -> float:
    if rs.total_pos < 2 or rs.total_neg < 2:
        return math.nan
    # Placements are stored in descending bin order; the joint counts are ascending.
    dev_pos_s = rs.pos_placement[::-1] - rs.auc
    dev_pos_c = rc.pos_placement[::-1] - rc.auc
    dev_neg_s = rs.neg_placement[::-1] - rs.auc
    dev_neg_c = rc.neg_placement[::-1] - rc.auc
    pos, neg = counts[..., POSITIVE], counts[..., NEGATIVE]
    n1, n0 = float(rs.total_pos), float(rs.total_neg)
    s10_ss, s01_ss = (float(x) for x in _delong_components(rs))
    s10_cc, s01_cc = (float(x) for x in _delong_components(rc))
    s10_sc = float(dev_pos_s @ pos @ dev_pos_c) / (n1 - 1.0)
    s01_sc = float(dev_neg_s @ neg @ dev_neg_c) / (n0 - 1.0)
    variance = (s10_ss + s10_cc - 2.0 * s10_sc) / n1 + (s01_ss + s01_cc - 2.0 * s01_sc) / n0
    return max(variance, 0.0)
