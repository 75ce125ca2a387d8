"""Metrics at operating thresholds from cubes: confusion counts, Wilson intervals, net benefit.

Exact whenever the threshold is a bin edge, which the cube guarantees for every deployed
threshold (docs/methods.md sections 1 and 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from steward.cube import LevelCounts
from steward.metrics._counts import (
    FloatArray,
    check_counts,
    check_unbatched,
    counts_at_edges,
    edge_position,
    edge_positions,
    ratio,
    warn_undefined,
)
from steward.metrics.types import Estimate

__all__ = [
    "ConfusionCounts",
    "ThresholdMetrics",
    "alert_rate_values",
    "confusion_counts",
    "decision_curve",
    "net_benefit_values",
    "npv_values",
    "ppv_values",
    "sensitivity_values",
    "specificity_values",
    "threshold_metrics",
    "treat_all_net_benefit_values",
    "wilson_interval",
]


class ConfusionCounts(NamedTuple):
    """Labelled rows by outcome and by "score >= threshold"; each of shape ``batch_shape``."""

    tp: FloatArray
    fp: FloatArray
    tn: FloatArray
    fn: FloatArray


def _confusion(counts: LevelCounts, position: int) -> ConfusionCounts:
    fps, tps, _ = counts_at_edges(counts)
    tp, fp = tps[..., position], fps[..., position]
    return ConfusionCounts(tp, fp, fps[..., -1] - fp, tps[..., -1] - tp)


def confusion_counts(counts: LevelCounts, threshold: float) -> ConfusionCounts:
    """True/false positives and negatives of "score >= threshold" among labelled rows.

    Parameters
    ----------
    counts : LevelCounts
        Binned statistics with optional leading batch axes; unlabelled rows are ignored.
    threshold : float
        Operating threshold; must be the lower edge of a bin of ``counts``.

    Returns
    -------
    ConfusionCounts
        ``tp, fp, tn, fn`` as float64 arrays of shape ``counts.batch_shape``.

    Raises
    ------
    ValueError
        If ``threshold`` is not a bin edge (then the counts would not be exact).

    Examples
    --------
    >>> import numpy as np
    >>> stats = np.zeros((2, 3, 1))
    >>> stats[:, 0, 0] = [5.0, 1.0]  # negatives per bin
    >>> stats[:, 1, 0] = [1.0, 3.0]  # positives per bin
    >>> tp, fp, tn, fn = confusion_counts(LevelCounts(np.array([0.0, 0.3, 1.0]), stats), 0.3)
    >>> float(tp), float(fp), float(tn), float(fn)
    (3.0, 1.0, 5.0, 1.0)
    """
    check_counts(counts)
    return _confusion(counts, edge_position(counts.edges, threshold))


def sensitivity_values(counts: LevelCounts, threshold: float) -> FloatArray:
    """Sensitivity (true positive rate) ``TP / (TP + FN)`` per batch element."""
    c = confusion_counts(counts, threshold)
    return ratio(c.tp, c.tp + c.fn, "Sensitivity")


def specificity_values(counts: LevelCounts, threshold: float) -> FloatArray:
    """Specificity (true negative rate) ``TN / (TN + FP)`` per batch element."""
    c = confusion_counts(counts, threshold)
    return ratio(c.tn, c.tn + c.fp, "Specificity")


def ppv_values(counts: LevelCounts, threshold: float) -> FloatArray:
    """Positive predictive value ``TP / (TP + FP)`` per batch element."""
    c = confusion_counts(counts, threshold)
    return ratio(c.tp, c.tp + c.fp, "PPV")


def npv_values(counts: LevelCounts, threshold: float) -> FloatArray:
    """Negative predictive value ``TN / (TN + FN)`` per batch element."""
    c = confusion_counts(counts, threshold)
    return ratio(c.tn, c.tn + c.fn, "NPV")


def alert_rate_values(counts: LevelCounts, threshold: float) -> FloatArray:
    """Share of labelled rows flagged, ``(TP + FP) / n``, per batch element."""
    c = confusion_counts(counts, threshold)
    return ratio(c.tp + c.fp, c.tp + c.fp + c.tn + c.fn, "Alert rate")


def _threshold_odds(threshold: ArrayLike) -> FloatArray:
    t = np.asarray(threshold, dtype=np.float64)
    return np.asarray(t / (1.0 - t), dtype=np.float64)


def net_benefit_values(counts: LevelCounts, threshold: float) -> FloatArray:
    r"""Net benefit of treating rows with "score >= threshold", per batch element.

    .. math::
        \mathrm{NB}(p_t) = \frac{\mathrm{TP}}{n} - \frac{\mathrm{FP}}{n} \frac{p_t}{1 - p_t}

    over the ``n`` labelled rows [1]_.

    Returns
    -------
    ndarray of float64, shape ``counts.batch_shape``
        ``nan`` (with ``UndefinedMetricWarning``) where there are no labelled rows.

    References
    ----------
    .. [1] Vickers AJ, Elkin EB. Decision curve analysis: a novel method for evaluating
           prediction models. Med Decis Making 2006;26:565-574.

    Examples
    --------
    >>> import numpy as np
    >>> stats = np.zeros((2, 3, 1))
    >>> stats[:, 0, 0] = [5.0, 1.0]
    >>> stats[:, 1, 0] = [1.0, 3.0]
    >>> round(float(net_benefit_values(LevelCounts(np.array([0.0, 0.2, 1.0]), stats), 0.2)), 6)
    0.275
    """
    c = confusion_counts(counts, threshold)
    n = c.tp + c.fp + c.tn + c.fn
    return ratio(c.tp - c.fp * _threshold_odds(threshold), n, "Net benefit")


def treat_all_net_benefit_values(counts: LevelCounts, threshold: float) -> FloatArray:
    r"""Net benefit of treating everyone: :math:`\pi - (1 - \pi) p_t / (1 - p_t)`.

    :math:`\pi` is the prevalence among labelled rows; ``threshold`` must be a bin edge, as for
    the model, so that both curves are read at the same points.
    """
    check_counts(counts)
    edge_position(counts.edges, threshold)
    fps, tps, _ = counts_at_edges(counts)
    n_neg, n_pos = fps[..., -1], tps[..., -1]
    return ratio(n_pos - n_neg * _threshold_odds(threshold), n_pos + n_neg, "Net benefit")


def decision_curve(counts: LevelCounts, thresholds: ArrayLike) -> tuple[FloatArray, FloatArray]:
    r"""Decision curve: net benefit of the model and of treating everyone over thresholds.

    .. math::
        \mathrm{NB}_{\mathrm{model}}(p_t) = \frac{\mathrm{TP}(p_t)}{n}
            - \frac{\mathrm{FP}(p_t)}{n} \frac{p_t}{1 - p_t}, \qquad
        \mathrm{NB}_{\mathrm{all}}(p_t) = \pi - (1 - \pi) \frac{p_t}{1 - p_t},

    and treating no one has net benefit 0 [1]_.

    Parameters
    ----------
    counts : LevelCounts
        Binned statistics with optional leading batch axes.
    thresholds : array-like of shape (n_thresholds,)
        Threshold probabilities, each the lower edge of a bin of ``counts``.

    Returns
    -------
    nb_model : ndarray of shape ``(*counts.batch_shape, n_thresholds)``
    nb_treat_all : ndarray of shape ``(*counts.batch_shape, n_thresholds)``

    References
    ----------
    .. [1] Vickers AJ, Elkin EB. Decision curve analysis: a novel method for evaluating
           prediction models. Med Decis Making 2006;26:565-574.

    Examples
    --------
    >>> import numpy as np
    >>> stats = np.zeros((4, 3, 1))
    >>> stats[:, 0, 0] = [4.0, 3.0, 2.0, 1.0]
    >>> stats[:, 1, 0] = [0.0, 1.0, 2.0, 3.0]
    >>> model, treat_all = decision_curve(
    ...     LevelCounts(np.array([0.0, 0.25, 0.5, 0.75, 1.0]), stats), [0.25, 0.5])
    >>> np.round(model, 4).tolist(), np.round(treat_all, 4).tolist()
    ([0.25, 0.125], [0.1667, -0.25])
    """
    check_counts(counts)
    positions = edge_positions(counts.edges, thresholds)
    odds = _threshold_odds(thresholds)
    fps, tps, _ = counts_at_edges(counts)
    n_neg, n_pos = fps[..., -1:], tps[..., -1:]
    n = n_neg + n_pos
    model = ratio(tps[..., positions] - fps[..., positions] * odds, n, "Net benefit")
    treat_all = ratio(n_pos - n_neg * odds, n, "Net benefit")
    return model, np.broadcast_to(treat_all, model.shape).copy()


def wilson_interval(
    successes: ArrayLike, trials: ArrayLike, alpha: float = 0.05
) -> tuple[FloatArray, FloatArray]:
    r"""Wilson score interval for a binomial proportion, vectorised.

    .. math::
        \frac{x + z^2/2}{n + z^2} \pm \frac{z}{n + z^2}
            \sqrt{\frac{x (n - x)}{n} + \frac{z^2}{4}}, \quad z = z_{1 - \alpha/2}

    It stays within [0, 1] and keeps close to nominal coverage for small ``n`` and proportions
    near 0 or 1, where the Wald interval fails [1]_ [2]_.

    Parameters
    ----------
    successes, trials : array-like
        Counts (broadcast together), ``0 <= successes <= trials``; need not be integers.
    alpha : float, default=0.05
        One minus the confidence level.

    Returns
    -------
    low, high : ndarray of float64
        ``nan`` (with ``UndefinedMetricWarning``) where ``trials`` is 0.

    References
    ----------
    .. [1] Wilson EB. Probable inference, the law of succession, and statistical inference.
           J Am Stat Assoc 1927;22:209-212.
    .. [2] Brown LD, Cai TT, DasGupta A. Interval estimation for a binomial proportion.
           Stat Sci 2001;16:101-133.

    Examples
    --------
    >>> low, high = wilson_interval([0, 8], [10, 10])
    >>> np.round(low, 4).tolist(), np.round(high, 4).tolist()
    ([0.0, 0.4902], [0.2775, 0.9433])
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    x, n = np.broadcast_arrays(
        np.asarray(successes, dtype=np.float64), np.asarray(trials, dtype=np.float64)
    )
    if np.any(~np.isfinite(n) | ~np.isfinite(x) | (x < 0) | (x > n)):
        raise ValueError("successes and trials must be finite with 0 <= successes <= trials")
    return _wilson(x, n, NormalDist().inv_cdf(1.0 - alpha / 2.0))


def _wilson(x: FloatArray, n: FloatArray, z: float) -> tuple[FloatArray, FloatArray]:
    empty = n == 0
    if np.any(empty):
        warn_undefined("A proportion with zero trials has no interval; nan", 4)
    z2 = z * z
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = (x + z2 / 2.0) / (n + z2)
        half = z / (n + z2) * np.sqrt(x * (n - x) / n + z2 / 4.0)
    # Exact at the boundaries; rounding could otherwise leave e.g. 1e-17 for x = 0.
    low = np.where(x == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(x == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


@dataclass(frozen=True)
class ThresholdMetrics:
    """Everything reported at one operating threshold ("score >= threshold" flags a row).

    Counts are of labelled rows. ``net_benefit`` has no closed-form interval here (the bootstrap
    supplies it); ``treat_all_net_benefit`` is the reference strategy at the same threshold.
    """

    threshold: float
    tp: float
    fp: float
    tn: float
    fn: float
    sensitivity: Estimate
    specificity: Estimate
    ppv: Estimate
    npv: Estimate
    alert_rate: Estimate
    alerts_per_true_positive: Estimate
    net_benefit: Estimate
    treat_all_net_benefit: float


def _proportions(pairs: dict[str, tuple[float, float]], z: float) -> dict[str, Estimate]:
    """Wilson estimates of several proportions ``successes / trials`` in one vectorised call.

    Elementwise the same arithmetic as one call per proportion; those with zero trials are
    ``nan`` (their warnings are the caller's, so that they come in its order).
    """
    successes = np.array([x for x, _ in pairs.values()])
    trials = np.array([n for _, n in pairs.values()])
    defined = trials != 0
    low, high = _wilson(successes[defined], trials[defined], z)
    bounds = iter(zip(low.tolist(), high.tolist(), strict=True))
    out = {}
    for name, (x, n) in pairs.items():
        out[name] = (
            Estimate(x / n, *next(bounds)) if n != 0 else Estimate(math.nan, math.nan, math.nan)
        )
    return out


def _reciprocal(x: float) -> float:
    if math.isnan(x):
        return math.nan
    return math.inf if x == 0.0 else 1.0 / x


def threshold_metrics(
    counts: LevelCounts, threshold: float, *, alpha: float = 0.05
) -> ThresholdMetrics:
    r"""Sensitivity, specificity, PPV, NPV, alert rate, alerts per true positive and net benefit.

    Proportions carry Wilson intervals (:func:`wilson_interval`). Alerts per true positive is
    :math:`(\mathrm{TP} + \mathrm{FP}) / \mathrm{TP} = 1 / \mathrm{PPV}` (the number needed to
    evaluate); its interval inverts PPV's Wilson bounds, so it is ``inf`` when no alert is a
    true positive. Net benefit follows :func:`net_benefit_values`.

    Parameters
    ----------
    counts : LevelCounts
        Binned statistics of one group of rows, stats of shape ``(bin, 3, stat)``.
    threshold : float
        Operating threshold; must be the lower edge of a bin of ``counts``.
    alpha : float, default=0.05
        One minus the confidence level.

    Returns
    -------
    ThresholdMetrics
        ``nan`` (with ``UndefinedMetricWarning``) for any proportion with a zero denominator.

    Raises
    ------
    ValueError
        If ``threshold`` is not a bin edge, or ``counts`` has batch axes.

    Examples
    --------
    >>> import numpy as np
    >>> stats = np.zeros((2, 3, 1))
    >>> stats[:, 0, 0] = [5.0, 1.0]
    >>> stats[:, 1, 0] = [1.0, 3.0]
    >>> m = threshold_metrics(LevelCounts(np.array([0.0, 0.3, 1.0]), stats), 0.3)
    >>> m.sensitivity.value, m.ppv.value, m.alerts_per_true_positive.value
    (0.75, 0.75, 1.3333333333333333)
    """
    check_counts(counts)
    check_unbatched(counts, "confusion_counts and the *_values functions")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    c = _confusion(counts, edge_position(counts.edges, threshold))
    tp, fp, tn, fn = (float(v) for v in c)
    n = tp + fp + tn + fn
    trials = {
        "PPV": (tp, tp + fp),
        "Sensitivity": (tp, tp + fn),
        "Specificity": (tn, tn + fp),
        "NPV": (tn, tn + fn),
        "Alert rate": (tp + fp, n),
    }
    proportions = _proportions(trials, z)
    ppv = proportions["PPV"]
    for what, (_, denominator) in trials.items():
        if denominator == 0:
            warn_undefined(f"{what} is undefined (zero denominator); nan", 3)
        # net benefit's warning comes right after PPV's, as result documents have always listed them
        if what == "PPV" and n == 0:
            warn_undefined("Net benefit is undefined without labelled rows; nan", 2)
    odds = threshold / (1.0 - threshold)
    net_benefit = (tp - fp * odds) / n if n else math.nan
    treat_all = ((tp + fn) - (tn + fp) * odds) / n if n else math.nan
    return ThresholdMetrics(
        threshold=float(threshold),
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        sensitivity=proportions["Sensitivity"],
        specificity=proportions["Specificity"],
        ppv=ppv,
        npv=proportions["NPV"],
        alert_rate=proportions["Alert rate"],
        alerts_per_true_positive=Estimate(
            _reciprocal(ppv.value),
            _reciprocal(ppv.ci_high if ppv.ci_high is not None else math.nan),
            _reciprocal(ppv.ci_low if ppv.ci_low is not None else math.nan),
        ),
        net_benefit=Estimate(net_benefit),
        treat_all_net_benefit=treat_all,
    )
