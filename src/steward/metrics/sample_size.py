"""Minimum sample size for validating a binary risk score (Riley et al. 2021), and adequacy checks.

Answers "is the local data set large enough for the precision asked for?" before any verdict
(docs/methods.md section 2).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steward.cube.model import NEGATIVE, POSITIVE, LevelCounts
from steward.metrics.special import expit, logit

#: Two-sided 95% normal quantile, rounded as in Riley et al. (2021) and pmvalsampsize.
Z95 = 1.96
#: Step of the search grid for SE(ln O/E) used by pmvalsampsize (its ``oeseincrement``).
OE_SE_STEP = 1e-4

FloatArray = NDArray[np.float64]
Criterion = Literal["oe", "calibration_slope", "c_statistic", "net_benefit"]

METHOD_NOTE = (
    "Minimum sample size for external validation of a binary risk score, criteria of Riley et al. "
    "(Stat Med 2021) as implemented in pmvalsampsize: (1) O/E, SE of ln(O/E) from the target "
    "interval width on pmvalsampsize's 1e-4 grid, N = (1 - phi) / (phi SE^2); (2) calibration "
    "slope 1 with intercept 0, information integrals over a normal linear predictor by adaptive "
    "quadrature (pmvalsampsize averages a seeded simulation instead); (3) C-statistic, Newcombe "
    "SE solved for the smallest N; (4) standardised net benefit, delta-method SE with "
    "SE = width / (2 x 1.96)."
)
EMPIRICAL_NOTE = (
    " Criterion 2 (and the calibrated accuracy in criterion 4) used the observed distribution "
    "of the linear predictor instead of a normal one."
)


@dataclass(frozen=True)
class CriterionSampleSize:
    """Sample size one criterion requires.

    Attributes
    ----------
    criterion : str
        ``"oe"``, ``"calibration_slope"``, ``"c_statistic"`` or ``"net_benefit"``.
    required_n : int
        Smallest number of labelled rows giving the target precision.
    required_events : int
        ``ceil(required_n * prevalence)``.
    anticipated : float
        Anticipated value of the measure (O/E, slope, C, standardised net benefit).
    target_se : float
        Standard error the criterion asks for (of ln O/E for the first criterion).
    target_ci_width : float
        Width of the 95% confidence interval asked for.
    """

    criterion: Criterion
    required_n: int
    required_events: int
    anticipated: float
    target_se: float
    target_ci_width: float


@dataclass(frozen=True)
class SampleSizeResult:
    """Per-criterion minimum sample sizes and the overall minimum (their maximum)."""

    prevalence: float
    criteria: tuple[CriterionSampleSize, ...]
    method: str = METHOD_NOTE

    @property
    def required_n(self) -> int:
        """Minimum sample size meeting every criterion."""
        return max(c.required_n for c in self.criteria)

    @property
    def required_events(self) -> int:
        """Events expected in the minimum sample, ``ceil(required_n * prevalence)``."""
        return math.ceil(self.required_n * self.prevalence)

    @property
    def binding_criterion(self) -> Criterion:
        """The criterion that needs the most rows."""
        return max(self.criteria, key=lambda c: c.required_n).criterion

    def criterion(self, name: Criterion) -> CriterionSampleSize:
        """The result of one criterion, by name."""
        for c in self.criteria:
            if c.criterion == name:
                return c
        raise KeyError(f"criterion {name!r} was not computed")


@dataclass(frozen=True)
class CriterionAdequacy:
    """Required versus available sample for one criterion (and for ``"overall"``)."""

    criterion: str
    required_n: int
    available_n: int
    required_events: int
    available_events: int

    @property
    def adequate(self) -> bool:
        """Both the rows and the events available reach what the criterion requires."""
        return self.available_n >= self.required_n and self.available_events >= self.required_events


@dataclass(frozen=True)
class ObservedInputs:
    """Sample-size inputs measured on a local data set (labelled rows only)."""

    n: int
    events: int
    prevalence: float
    cstatistic: float
    lp_mean: float
    lp_sd: float


def riley_sample_size(
    prevalence: float,
    cstatistic: float,
    lp_mean: float,
    lp_sd: float,
    *,
    oe: float = 1.0,
    oe_ci_width: float = 0.2,
    slope_ci_width: float = 0.2,
    cstat_ci_width: float = 0.1,
    threshold: float | None = None,
    sensitivity: float | None = None,
    specificity: float | None = None,
    nb_ci_width: float | None = None,
    lp_sample: tuple[ArrayLike, ArrayLike] | None = None,
) -> SampleSizeResult:
    r"""Minimum sample size to validate a binary risk score with the precision asked for.

    Implements the criteria of Riley et al. (2021), with the conventions of their software
    pmvalsampsize so that results agree with it.

    1. **O/E.** With anticipated O/E and target 95% interval width :math:`w` on the O/E scale,
       :math:`\mathrm{SE}(\ln O/E)` is the smallest multiple of ``1e-4`` with
       :math:`O/E\,(e^{1.96\,SE} - e^{-1.96\,SE}) \ge w`, and
       :math:`N = (1-\phi) / (\phi\,SE^2)`.
    2. **Calibration slope** (anticipated slope 1, intercept 0). With the linear predictor
       :math:`z \sim N(\mu, \sigma^2)` and :math:`v(z) = \mathrm{expit}(z)(1-\mathrm{expit}(z))`,
       :math:`I_\alpha = E[v]`, :math:`I_{\alpha\beta} = E[z v]`, :math:`I_\beta = E[z^2 v]` and
       :math:`N = I_\alpha / (SE^2 (I_\alpha I_\beta - I_{\alpha\beta}^2))` with
       :math:`SE = w / (2 \times 1.96)`. The expectations are integrated numerically
       (trapezoidal rule on a fine grid, geometrically convergent for this integrand, to about
       1e-12 relative);
       pmvalsampsize averages over a seeded simulated sample instead, which
       :func:`calibration_slope_sample_size` reproduces given the same sample.
    3. **C-statistic** (Newcombe 2006):
       :math:`SE^2 = C(1-C)\,[1 + (N/2-1)\frac{1-C}{2-C} + (N/2-1)\frac{C}{1+C}]
       / (N^2\phi(1-\phi))`;
       :math:`N` is the smallest integer with :math:`2 \times 1.96\,SE \le w`.
    4. **Standardised net benefit** at threshold :math:`t`, with
       :math:`w_t = \frac{1-\phi}{\phi}\frac{t}{1-t}`:
       :math:`N = \frac{1}{SE^2}\left[\frac{s(1-s)}{\phi} + \frac{w_t^2 c(1-c)}{1-\phi}
       + \frac{w_t^2 (1-c)^2}{\phi(1-\phi)}\right]`, :math:`SE = w / (2 \times 1.96)`, for
       sensitivity :math:`s` and specificity :math:`c`. Computed only when ``threshold`` is
       given; when sensitivity and specificity are not, they are those of a calibrated score with
       the normal linear predictor above (integrated exactly; pmvalsampsize estimates them from
       simulated outcomes and rounds them). pmvalsampsize also rounds this SE to three decimals
       (0.051 for width 0.2), which makes its sizes about 0.1% larger.

    Parameters
    ----------
    prevalence : float
        Anticipated outcome proportion :math:`\phi`, in (0, 1).
    cstatistic : float
        Anticipated C-statistic (AUROC), in (0, 1).
    lp_mean, lp_sd : float
        Mean and standard deviation of the linear predictor (logit of the score).
    oe : float, default=1.0
        Anticipated observed/expected ratio.
    oe_ci_width, slope_ci_width, cstat_ci_width : float
        Target 95% interval widths (defaults 0.2, 0.2, 0.1, as in pmvalsampsize).
    threshold : float, optional
        Decision threshold for the net benefit criterion, in (0, 1).
    sensitivity, specificity : float, optional
        Anticipated sensitivity and specificity at ``threshold`` (give both or neither).
    nb_ci_width : float, optional
        Target interval width of standardised net benefit; 0.2 when ``threshold`` is given.
    lp_sample : (values, weights), optional
        An observed linear-predictor distribution, e.g. from :func:`observed_lp_distribution`.
        When given it replaces :math:`N(\mu, \sigma^2)` in criterion 2 and in the calibrated
        sensitivity and specificity of criterion 4 (the expectations become weighted means), for
        scores whose logit is far from normal.

    Returns
    -------
    SampleSizeResult
        Per-criterion sizes; ``required_n`` is their maximum.

    References
    ----------
    .. [1] Riley RD, Debray TPA, Collins GS, et al. Minimum sample size for external validation
       of a clinical prediction model with a binary outcome. Stat Med 2021;40:4230-51.
    .. [2] Ensor J, Martin EC, Riley RD. pmvalsampsize: sample size for external validation of
       a prediction model (R package; Python port by R. Whittle).
    .. [3] Newcombe RG. Confidence intervals for an effect size measure based on the
       Mann-Whitney statistic. Part 2. Stat Med 2006;25:559-73.

    Examples
    --------
    >>> r = riley_sample_size(0.018, 0.8, -5.0, 2.5, oe_ci_width=1.0)
    >>> r.criterion("oe").required_n, r.criterion("c_statistic").required_n
    (905, 4252)
    """
    _check_open_unit("prevalence", prevalence)
    _check_open_unit("cstatistic", cstatistic)
    _check_positive("lp_sd", lp_sd)
    _check_finite("lp_mean", lp_mean)
    _check_positive("oe", oe)
    for name, width in (
        ("oe_ci_width", oe_ci_width),
        ("slope_ci_width", slope_ci_width),
        ("cstat_ci_width", cstat_ci_width),
    ):
        _check_positive(name, width)
    if (sensitivity is None) != (specificity is None):
        raise ValueError("give both sensitivity and specificity, or neither")
    if sensitivity is not None and threshold is None:
        raise ValueError("sensitivity and specificity need the threshold they were measured at")

    empirical = None if lp_sample is None else _lp_sample(*lp_sample)
    if empirical is None:
        slope = _slope_criterion(prevalence, lp_mean, lp_sd, slope_ci_width)
    else:
        se = slope_ci_width / (2.0 * Z95)
        n = _slope_n(_empirical_moments(*empirical), se)
        slope = CriterionSampleSize(
            "calibration_slope", n, math.ceil(n * prevalence), 1.0, se, slope_ci_width
        )
    criteria = [
        _oe_criterion(prevalence, oe, oe_ci_width),
        slope,
        _cstat_criterion(prevalence, cstatistic, cstat_ci_width),
    ]
    if threshold is not None:
        _check_open_unit("threshold", threshold)
        width = 0.2 if nb_ci_width is None else nb_ci_width
        _check_positive("nb_ci_width", width)
        if sensitivity is None or specificity is None:
            if empirical is None:
                sensitivity, specificity = _calibrated_accuracy(lp_mean, lp_sd, threshold)
            else:
                sensitivity, specificity = _empirical_accuracy(*empirical, threshold)
        for name, value in (("sensitivity", sensitivity), ("specificity", specificity)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
        criteria.append(_nb_criterion(prevalence, threshold, sensitivity, specificity, width))
    method = METHOD_NOTE if empirical is None else METHOD_NOTE + EMPIRICAL_NOTE
    return SampleSizeResult(prevalence=prevalence, criteria=tuple(criteria), method=method)


def calibration_slope_sample_size(
    lp: ArrayLike, ci_width: float = 0.2, weights: ArrayLike | None = None
) -> int:
    r"""Calibration-slope criterion over an empirical linear-predictor distribution.

    :math:`I_{jk}` are (weighted) sample means of :math:`z^{j+k} v(z)` over ``lp``; with the
    ``simobs`` draws pmvalsampsize simulates this gives its result exactly. Useful with the
    bin-mean logits of a cube (weights = bin counts) when the linear predictor is far from normal.

    Parameters
    ----------
    lp : array-like of shape (n,)
        Linear-predictor values (finite).
    ci_width : float, default=0.2
        Target 95% interval width of the slope.
    weights : array-like of shape (n,), optional
        Non-negative weights, e.g. rows per bin.

    Returns
    -------
    int
        Minimum number of rows.
    """
    _check_positive("ci_width", ci_width)
    z, w = _lp_sample(lp, np.ones(np.shape(lp)) if weights is None else weights)
    return _slope_n(_empirical_moments(z, w), ci_width / (2.0 * Z95))


def observed_lp_distribution(counts: LevelCounts) -> tuple[FloatArray, FloatArray]:
    """Observed linear-predictor distribution of a cube's labelled rows, for ``lp_sample``.

    Returns the mean logit ``sum_z / n`` of every occupied (bin, label) cell and its row count.
    Rows of a cell are represented by their mean, which at the cube's fine resolution changes
    the information integrals negligibly.
    """
    if counts.batch_shape:
        raise ValueError("observed_lp_distribution needs counts without batch axes")
    cells = counts.stats[:, [NEGATIVE, POSITIVE], :].reshape(-1, counts.stats.shape[-1])
    occupied = cells[:, 0] > 0
    n = cells[occupied, 0]
    return cells[occupied, 5] / n, n


def observed_inputs(counts: LevelCounts, cstatistic: float) -> ObservedInputs:
    r"""Sample-size inputs measured on a local cube: prevalence and linear-predictor moments.

    Uses labelled rows only. :math:`\hat\mu = \sum z / n`,
    :math:`\hat\sigma^2 = (\sum z^2 - n\hat\mu^2)/(n-1)` from the cube's ``sum_z`` and ``sum_z2``;
    ``cstatistic`` is the AUROC measured elsewhere (e.g. the cube's binned AUROC).

    Parameters
    ----------
    counts : LevelCounts
        Counts of one level without batch axes.
    cstatistic : float
        Observed C-statistic.

    Returns
    -------
    ObservedInputs
        With ``nan`` fields (and a warning) when there are fewer than two labelled rows or no
        events or non-events.
    """
    if counts.batch_shape:
        raise ValueError("observed_inputs needs counts without batch axes")
    labelled = counts.stats[:, [NEGATIVE, POSITIVE], :].sum(axis=(0, 1))
    n = float(labelled[0])
    events = float(counts.n_pos.sum())
    sum_z, sum_z2 = float(labelled[5]), float(labelled[6])
    if n < 2 or events == 0 or events == n or not (math.isfinite(sum_z) and math.isfinite(sum_z2)):
        warnings.warn(
            "too few labelled rows, only one outcome class, or non-finite logits: "
            "sample-size inputs cannot be estimated",
            RuntimeWarning,
            stacklevel=2,
        )
        nan = float("nan")
        return ObservedInputs(int(n), int(events), nan, cstatistic, nan, nan)
    mean = sum_z / n
    var = max(sum_z2 - n * mean * mean, 0.0) / (n - 1.0)
    return ObservedInputs(
        n=int(n),
        events=int(events),
        prevalence=events / n,
        cstatistic=cstatistic,
        lp_mean=mean,
        lp_sd=math.sqrt(var),
    )


def assess_adequacy(
    result: SampleSizeResult, n_available: int, events_available: int
) -> list[CriterionAdequacy]:
    """Compare what each criterion requires with the labelled rows and events available.

    A criterion is adequate when both the rows and the events reach its requirement; the events
    requirement guards against a local prevalence lower than the one assumed. The last entry,
    ``"overall"``, compares with the maximum over criteria.

    Examples
    --------
    >>> r = riley_sample_size(0.018, 0.8, -5.0, 2.5, oe_ci_width=1.0)
    >>> [a.adequate for a in assess_adequacy(r, n_available=4400, events_available=80)]
    [True, False, True, False]
    """
    if n_available < 0 or events_available < 0 or events_available > n_available:
        raise ValueError("need 0 <= events_available <= n_available")
    rows = [
        CriterionAdequacy(
            c.criterion, c.required_n, int(n_available), c.required_events, int(events_available)
        )
        for c in result.criteria
    ]
    rows.append(
        CriterionAdequacy(
            "overall",
            result.required_n,
            int(n_available),
            result.required_events,
            int(events_available),
        )
    )
    return rows


def _lp_sample(values: ArrayLike, weights: ArrayLike) -> tuple[FloatArray, FloatArray]:
    z = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if z.ndim != 1 or z.size == 0 or not np.all(np.isfinite(z)):
        raise ValueError(
            "the linear-predictor sample must be a non-empty 1-D array of finite values"
        )
    if w.shape != z.shape or not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
        raise ValueError("weights must be finite, non-negative, not all zero, one per lp value")
    return z, w / w.sum()


def _empirical_moments(z: FloatArray, w: FloatArray) -> tuple[float, ...]:
    v = expit(z) * expit(-z)
    return tuple(float(np.sum(w * z**k * v)) for k in range(3))


def _empirical_accuracy(z: FloatArray, w: FloatArray, threshold: float) -> tuple[float, float]:
    flagged = z >= logit(threshold)
    risk = w * expit(z)
    no_risk = w * expit(-z)
    return float(risk[flagged].sum() / risk.sum()), float(no_risk[~flagged].sum() / no_risk.sum())


def _oe_criterion(prevalence: float, oe: float, width: float) -> CriterionSampleSize:
    # First grid SE whose interval exp(ln OE +/- 1.96 SE) is at least `width` wide; the exact
    # root is asinh(width / (2 OE)) / 1.96. The grid is kept so results match pmvalsampsize.
    exact = math.asinh(width / (2.0 * oe)) / Z95
    steps = math.ceil(exact / OE_SE_STEP - 1e-9)
    se = steps * OE_SE_STEP
    n = math.ceil((1.0 - prevalence) / (prevalence * se * se))
    return CriterionSampleSize("oe", n, math.ceil(n * prevalence), oe, se, width)


def _slope_criterion(
    prevalence: float, lp_mean: float, lp_sd: float, width: float
) -> CriterionSampleSize:
    moments = _information_moments(lp_mean, lp_sd)
    se = width / (2.0 * Z95)
    n = _slope_n(moments, se)
    return CriterionSampleSize("calibration_slope", n, math.ceil(n * prevalence), 1.0, se, width)


def _information_moments(mean: float, sd: float) -> tuple[float, float, float]:
    """E[z^k v(z)] for k = 0, 1, 2, z ~ N(mean, sd^2), v = expit(z) (1 - expit(z)).

    The trapezoidal rule on a uniform grid converges geometrically for an integrand analytic in a
    strip and decaying like a Gaussian (v's poles lie at z = +/- i pi), so a step of
    min(0.05, sd / 10) over +/- 40 sd agrees with adaptive quadrature to about 1e-12 relative,
    without importing scipy.integrate (0.4 s at every command's start).
    """
    step = min(0.05, sd / 10.0)
    half = math.ceil(40.0 * sd / step)
    z = mean + step * np.arange(-half, half + 1, dtype=np.float64)
    u = (z - mean) / sd
    weight = expit(z) * expit(-z) * np.exp(-0.5 * u * u)
    weight *= step / (sd * math.sqrt(2.0 * math.pi))
    return (float(weight.sum()), float((z * weight).sum()), float((z * z * weight).sum()))


def _slope_n(moments: tuple[float, ...], se: float) -> int:
    i_a, i_ab, i_b = moments
    determinant = i_a * i_b - i_ab * i_ab
    return math.ceil(i_a / (se * se * determinant))


def _cstat_criterion(prevalence: float, c: float, width: float) -> CriterionSampleSize:
    se = width / (2.0 * Z95)
    n = _newcombe_n(prevalence, c, se)
    return CriterionSampleSize("c_statistic", n, math.ceil(n * prevalence), c, se, width)


def _newcombe_var(prevalence: float, c: float, n: float) -> float:
    half = n / 2.0 - 1.0
    inflation = 1.0 + half * (1.0 - c) / (2.0 - c) + half * c / (1.0 + c)
    return c * (1.0 - c) * inflation / (n * n * prevalence * (1.0 - prevalence))


def _newcombe_n(prevalence: float, c: float, se: float) -> int:
    # Var(N) * N^2 = a (1 - k) + a k N / 2 is linear in N, so Var(N) <= se^2 is a quadratic.
    a = c * (1.0 - c) / (prevalence * (1.0 - prevalence))
    k = (1.0 - c) / (2.0 - c) + c / (1.0 + c)
    b = a * k / 2.0
    root = (b + math.sqrt(b * b + 4.0 * se * se * a * (1.0 - k))) / (2.0 * se * se)
    n = max(1, math.ceil(root))
    # Guard the integer boundary against rounding in the root.
    while n > 1 and 2 * Z95 * math.sqrt(_newcombe_var(prevalence, c, n - 1)) <= 2 * Z95 * se:
        n -= 1
    while 2 * Z95 * math.sqrt(_newcombe_var(prevalence, c, n)) > 2 * Z95 * se:
        n += 1
    return n


def _nb_criterion(
    prevalence: float, threshold: float, sens: float, spec: float, width: float
) -> CriterionSampleSize:
    odds = threshold / (1.0 - threshold)
    w = (1.0 - prevalence) / prevalence * odds
    snb = sens - (1.0 - spec) * w
    se = width / (2.0 * Z95)
    unit_var = (
        sens * (1.0 - sens) / prevalence
        + w * w * spec * (1.0 - spec) / (1.0 - prevalence)
        + w * w * (1.0 - spec) ** 2 / (prevalence * (1.0 - prevalence))
    )
    n = max(1, math.ceil(unit_var / (se * se)))
    return CriterionSampleSize("net_benefit", n, math.ceil(n * prevalence), snb, se, width)


def _calibrated_accuracy(lp_mean: float, lp_sd: float, threshold: float) -> tuple[float, float]:
    # Sensitivity and specificity of a calibrated score whose logit is N(lp_mean, lp_sd^2).
    # Imported here: only riley_sample_size with a threshold and no accuracies reaches this,
    # never an evaluation, which keeps scipy out of every command's start.
    from scipy import integrate

    density = _normal_density(lp_mean, lp_sd)
    cut = logit(threshold)

    def part(f: Callable[[float], float], lo: float, hi: float) -> float:
        value, _ = integrate.quad(
            lambda z: f(z) * float(density(z)), lo, hi, epsabs=0.0, epsrel=1e-10, limit=200
        )
        return float(value)

    def risk(z: float) -> float:
        return expit(z)

    def no_risk(z: float) -> float:
        return expit(-z)

    tp, fn = part(risk, cut, np.inf), part(risk, -np.inf, cut)
    tn, fp = part(no_risk, -np.inf, cut), part(no_risk, cut, np.inf)
    return tp / (tp + fn), tn / (tn + fp)


def _check_open_unit(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and 0.0 < value < 1.0):
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}")


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _check_finite(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def _normal_density(mean: float, sd: float) -> Callable[[float], float]:
    """Normal pdf without importing scipy.stats (slow to import on every command)."""

    def pdf(x: float) -> float:
        u = (x - mean) / sd
        return math.exp(-0.5 * u * u) / (sd * math.sqrt(2.0 * math.pi))

    return pdf
