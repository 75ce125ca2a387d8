"""Subgroup statistics for the equity audit: small-group rules, gap tests, multiplicity control.

See docs/methods.md section 4.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steward.metrics.special import ndtr, ndtri
from steward.metrics.types import Estimate

#: Events (and non-events) below which a group's estimates are marked imprecise.
MIN_EVENTS = 100
#: CMS small-cell rule: counts below this are suppressed in anything shared or exported.
MIN_CELL = 11
#: Two-sided 95% normal quantile used to recover a standard error from a 95% interval.
Z95 = 1.96

ValueWithSE = tuple[float, float]


@dataclass(frozen=True)
class GapTest:
    """Difference ``a - b`` of two independent estimates with its Wald interval and p-value."""

    difference: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float


@dataclass(frozen=True)
class GapResult:
    """One group compared with its reference (the rest of the population, or a named group).

    ``flagged`` is true when the absolute gap exceeds ``tolerance`` *and* the multiplicity-
    adjusted test is significant at ``alpha``: a gap must be both material and unlikely to be
    chance before the audit reports it.
    """

    level: Hashable
    value: float
    reference_value: float
    test: GapTest
    p_adjusted: float
    exceeds_tolerance: bool
    flagged: bool

    @property
    def difference(self) -> float:
        return self.test.difference


def is_imprecise(n_events: float, n_nonevents: float, minimum: int = MIN_EVENTS) -> bool:
    """Whether a group has fewer than ``minimum`` events or non-events (estimates are imprecise).

    Examples
    --------
    >>> is_imprecise(99, 5000), is_imprecise(100, 100)
    (True, False)
    """
    return bool(n_events < minimum or n_nonevents < minimum)


def is_suppressed(n: float, minimum: int = MIN_CELL) -> bool:
    """Whether a count must be suppressed in shared output (CMS small-cell rule: ``n < 11``).

    Zero is suppressed too: a published zero next to suppressed cells can let a reader recover
    them by subtraction.

    Examples
    --------
    >>> is_suppressed(10), is_suppressed(11)
    (True, False)
    """
    return bool(n < minimum)


def holm(p_values: ArrayLike) -> NDArray[np.float64]:
    r"""Holm (1979) step-down adjusted p-values, controlling the family-wise error rate.

    With the :math:`m` non-missing p-values sorted, :math:`p_{(1)} \le \dots \le p_{(m)}`,

    .. math:: \tilde p_{(i)} = \max_{j \le i} \min\{1, (m - j + 1)\, p_{(j)}\}.

    ``nan`` entries stay ``nan`` and do not count towards :math:`m`.

    Parameters
    ----------
    p_values : array-like of shape (n,)
        p-values in [0, 1] or ``nan``.

    Returns
    -------
    ndarray of shape (n,)

    References
    ----------
    .. [1] Holm S. A simple sequentially rejective multiple test procedure. Scand J Stat
       1979;6:65-70.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03, float("nan")]).round(3).tolist()
    [0.03, 0.06, 0.06, nan]
    """
    p, order, adjusted = _prepare(p_values)
    m = order.size
    if m:
        scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
        adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def benjamini_hochberg(p_values: ArrayLike) -> NDArray[np.float64]:
    r"""Benjamini-Hochberg (1995) step-up adjusted p-values, controlling the false discovery rate.

    .. math:: \tilde p_{(i)} = \min_{j \ge i} \min\{1, \tfrac{m}{j}\, p_{(j)}\}.

    ``nan`` entries stay ``nan`` and do not count towards :math:`m`.

    References
    ----------
    .. [1] Benjamini Y, Hochberg Y. Controlling the false discovery rate. J R Stat Soc B
       1995;57:289-300.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    p, order, adjusted = _prepare(p_values)
    m = order.size
    if m:
        scaled = np.minimum(1.0, m / np.arange(1, m + 1) * p[order])
        adjusted[order] = np.minimum.accumulate(scaled[::-1])[::-1]
    return adjusted


def se_from_ci(ci_low: float, ci_high: float) -> float:
    """Standard error implied by a symmetric 95% interval: ``(high - low) / (2 * 1.96)``."""
    return (ci_high - ci_low) / (2.0 * Z95)


def gap_test(
    estimate_a: Estimate | ValueWithSE,
    estimate_b: Estimate | ValueWithSE,
    alpha: float = 0.05,
) -> GapTest:
    r"""Two-sided z-test and Wald interval for the difference of two independent estimates.

    :math:`d = a - b`, :math:`SE_d = \sqrt{SE_a^2 + SE_b^2}`, :math:`z = d / SE_d`,
    :math:`p = 2\,(1 - \Phi(|z|))`, interval :math:`d \pm z_{1-\alpha/2} SE_d`. Estimates come
    from disjoint rows (a group and the rest, or two groups), hence independent. An
    :class:`Estimate` gives its SE through its 95% interval, ``(high - low) / (2 x 1.96)``, which
    assumes the interval was symmetric on the scale compared.

    Parameters
    ----------
    estimate_a, estimate_b : Estimate or (value, se)
        The two estimates.
    alpha : float, default=0.05
        One minus the confidence level of the interval on the difference.

    Returns
    -------
    GapTest
        All fields ``nan`` when either value or SE is missing, or both SEs are zero.

    Examples
    --------
    >>> t = gap_test((0.80, 0.02), (0.75, 0.01))
    >>> round(t.difference, 3), round(t.p_value, 4)
    (0.05, 0.0253)
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    value_a, se_a = _value_and_se(estimate_a)
    value_b, se_b = _value_and_se(estimate_b)
    return _gap(value_a, se_a, value_b, se_b, float(ndtri(1.0 - alpha / 2.0)))


def compare_groups(
    values: Mapping[Hashable, Estimate | ValueWithSE],
    reference: Hashable = "rest",
    tolerance: float = 0.0,
    *,
    rest_values: Mapping[Hashable, Estimate | ValueWithSE] | None = None,
    adjust: Literal["holm", "bh"] = "holm",
    alpha: float = 0.05,
) -> list[GapResult]:
    """Compare every group with a reference and flag material, significant gaps.

    Each group is tested with :func:`gap_test` against either a named reference group (which
    is not compared with itself) or ``"rest"``: the same metric on all other rows. The p-values
    are adjusted together across the groups (Holm by default, or Benjamini-Hochberg), since
    40 tests at alpha 0.05 give P(any false flag) = 0.87. A group is ``flagged`` when
    ``abs(difference) > tolerance`` **and** its adjusted p-value is below ``alpha``.

    Parameters
    ----------
    values : mapping of level to Estimate or (value, se)
        The metric per group.
    reference : level or "rest", default="rest"
        What each group is compared with.
    tolerance : float, default=0.0
        Largest gap (absolute, on the metric's scale) that is acceptable.
    rest_values : mapping of level to Estimate or (value, se), optional
        For ``reference="rest"``, the metric on the complement of each group. Cubes subtract,
        so the complement's counts are the total minus the group's. When omitted, the rest is
        approximated by the inverse-variance weighted mean of the other groups' values, which
        is exact only for metrics that are precision-weighted means of the groups.
    adjust : {"holm", "bh"}, default="holm"
        Multiplicity adjustment.
    alpha : float, default=0.05
        Significance level for flags and interval level (1 - alpha).

    Returns
    -------
    list of GapResult
        One per compared group, in the order of ``values``.
    """
    if tolerance < 0 or not math.isfinite(tolerance):
        raise ValueError(f"tolerance must be a non-negative number, got {tolerance!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    parsed = {level: _value_and_se(v) for level, v in values.items()}
    z_crit = float(ndtri(1.0 - alpha / 2.0))
    if reference == "rest" and "rest" not in parsed:
        pairs = _against_rest(parsed, rest_values)
    else:
        if reference not in parsed:
            raise ValueError(f"reference group {reference!r} is not among the groups")
        ref = parsed[reference]
        pairs = [(level, vs, ref) for level, vs in parsed.items() if level != reference]
    tests = [_gap(*own, *other, z_crit) for _, own, other in pairs]
    raw = np.array([t.p_value for t in tests], dtype=np.float64)
    adjusted = holm(raw) if adjust == "holm" else benjamini_hochberg(raw)
    results = []
    for (level, own, other), test, p_adj in zip(pairs, tests, adjusted, strict=True):
        exceeds = bool(abs(test.difference) > tolerance)
        results.append(
            GapResult(
                level=level,
                value=own[0],
                reference_value=other[0],
                test=test,
                p_adjusted=float(p_adj),
                exceeds_tolerance=exceeds,
                flagged=bool(exceeds and p_adj < alpha),
            )
        )
    return results


def _against_rest(
    parsed: Mapping[Hashable, ValueWithSE],
    rest_values: Mapping[Hashable, Estimate | ValueWithSE] | None,
) -> list[tuple[Hashable, ValueWithSE, ValueWithSE]]:
    if rest_values is not None:
        missing = [level for level in parsed if level not in rest_values]
        if missing:
            raise ValueError(f"rest_values has no entry for groups {missing!r}")
        return [(level, vs, _value_and_se(rest_values[level])) for level, vs in parsed.items()]
    pairs = []
    for level, vs in parsed.items():
        others = [other for key, other in parsed.items() if key != level]
        pairs.append((level, vs, _pooled(others)))
    return pairs


def _pooled(estimates: Sequence[ValueWithSE]) -> ValueWithSE:
    usable = [(v, s) for v, s in estimates if math.isfinite(v) and math.isfinite(s) and s > 0]
    if not usable:
        return (math.nan, math.nan)
    weights = np.array([1.0 / (s * s) for _, s in usable])
    vals = np.array([v for v, _ in usable])
    return (float(weights @ vals / weights.sum()), float(1.0 / math.sqrt(weights.sum())))


def _gap(value_a: float, se_a: float, value_b: float, se_b: float, z_crit: float) -> GapTest:
    difference = value_a - value_b
    se = math.hypot(se_a, se_b)
    if not (math.isfinite(difference) and math.isfinite(se)) or se == 0.0:
        nan = math.nan
        return GapTest(difference if math.isfinite(difference) else nan, nan, nan, nan, nan, nan)
    z = difference / se
    p = float(2.0 * ndtr(-abs(z)))
    return GapTest(difference, se, difference - z_crit * se, difference + z_crit * se, z, p)


def _value_and_se(estimate: Estimate | ValueWithSE) -> ValueWithSE:
    if isinstance(estimate, Estimate):
        if estimate.ci_low is None or estimate.ci_high is None:
            return (float(estimate.value), math.nan)
        se = se_from_ci(estimate.ci_low, estimate.ci_high)
        return (float(estimate.value), se)
    value, se = estimate
    if math.isfinite(se) and se < 0:
        raise ValueError(f"a standard error cannot be negative, got {se!r}")
    return (float(value), float(se))


def _prepare(
    p_values: ArrayLike,
) -> tuple[NDArray[np.float64], NDArray[np.intp], NDArray[np.float64]]:
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError("p_values must be one-dimensional")
    known = ~np.isnan(p)
    if np.any((p[known] < 0.0) | (p[known] > 1.0)):
        raise ValueError("p-values must lie in [0, 1] (or be nan)")
    order = np.flatnonzero(known)
    order = order[np.argsort(p[order], kind="stable")]
    return p, order, np.full(p.shape, np.nan)
