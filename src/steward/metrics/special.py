"""The few special functions the metrics need: normal cdf and quantile, expit and logit,
digamma and the gamma quantile (inverse regularized incomplete gamma).

They replace ``scipy.special`` on the evaluation path because importing it costs 0.3-0.45 s
at every command's start (scipy's array-API layer clones numpy's whole namespace, importing
numpy.f2py, numpy.ma, numpy.testing and more), about as long as the rest of an evaluation of
a few million rows. The normal functions come from the standard library; the others are short
numpy or scalar implementations. tests/metrics/test_special.py checks every one against
``scipy.special`` on grids reaching into the tails and with hypothesis.
"""

from __future__ import annotations

import math
import statistics
from typing import overload

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_STANDARD_NORMAL = statistics.NormalDist()

# B_2k / 2k for k = 1..5: psi(x) ~ ln x - 1/(2x) - sum_k B_2k / (2k x^2k)
_DIGAMMA_SERIES = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132)
# Below this the recurrence psi(x) = psi(x + 1) - 1/x shifts x up; at 20 the first omitted
# series term, 691 / (32760 x^12), is 5e-18.
_DIGAMMA_SHIFT_TO = 20.0

# B_2k / (2k (2k - 1)) for k = 1..7, Stirling's series:
# ln Gamma(a + 1) = a ln a - a + ln(2 pi a) / 2 + sum_k c_k / a^(2k - 1)
_STIRLING_SERIES = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)
_STIRLING_FROM = 10.0
_EPSILON = 2.0**-53
_TINY = 1e-300
_MAX_TERMS = 1_000_000
_SERIES_BLOCK = 2048


def ndtr(x: float) -> float:
    r"""Standard normal cdf :math:`\Phi(x) = \tfrac12 \operatorname{erfc}(-x/\sqrt2)`.

    ``erfc`` keeps full relative precision in the lower tail, where ``1 + erf`` would cancel.

    Examples
    --------
    >>> round(ndtr(1.959963984540054), 12)
    0.975
    """
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def ndtri(p: float) -> float:
    """Standard normal quantile :math:`\\Phi^{-1}(p)` for ``0 < p < 1``.

    ``statistics.NormalDist.inv_cdf`` (Wichura's algorithm AS 241, about 1e-16 relative).

    Examples
    --------
    >>> round(ndtri(0.975), 6)
    1.959964
    """
    return _STANDARD_NORMAL.inv_cdf(p)


@overload
def expit(x: float) -> float: ...
@overload
def expit(x: npt.ArrayLike) -> FloatArray: ...
def expit(x: npt.ArrayLike) -> float | FloatArray:
    r"""Logistic function :math:`1 / (1 + e^{-x})`, elementwise.

    Written as :math:`r = 1/(1 + e^{-|x|})` and :math:`e^{-|x|} r` for negative :math:`x`, so
    neither tail overflows or loses relative precision. A Python float in, a float out.

    Examples
    --------
    >>> float(expit(0.0)), float(expit(-800.0)) > 0.0
    (0.5, False)
    >>> expit(np.array([-2.0, 2.0])).round(6).tolist()
    [0.119203, 0.880797]
    """
    if isinstance(x, float | int):
        e = math.exp(-abs(x))
        r = 1.0 / (1.0 + e)
        return r if x >= 0 else e * r
    z = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(z))
    r = 1.0 / (1.0 + e)
    return np.asarray(np.where(z >= 0.0, r, e * r), dtype=np.float64)


def logit(p: float) -> float:
    r"""Log-odds :math:`\ln(p / (1 - p))` of ``0 < p < 1``.

    Near :math:`p = 1/2`, where the ratio is close to 1, as
    :math:`\operatorname{log1p}((2p - 1)/(1 - p))` (scipy's form), keeping relative precision.

    Examples
    --------
    >>> logit(0.5), round(logit(0.1), 6)
    (0.0, -2.197225)
    """
    if 0.3 < p < 0.65:
        return math.log1p((2.0 * p - 1.0) / (1.0 - p))
    return math.log(p / (1.0 - p))


def digamma(x: npt.ArrayLike) -> FloatArray:
    r"""Digamma function :math:`\psi(x) = \Gamma'(x)/\Gamma(x)` of positive ``x``, elementwise.

    Values below 20 are shifted up with :math:`\psi(x) = \psi(x + 1) - 1/x`; from 20 the
    asymptotic series :math:`\psi(x) \sim \ln x - \frac{1}{2x} - \sum_{k=1}^{5}
    \frac{B_{2k}}{2k\,x^{2k}}` (Abramowitz & Stegun 6.3.18) is within 1e-18 relative. Accurate
    to a few units in the last place away from the root at 1.4616 (there to about 1e-16
    absolute); ``nan`` for ``x <= 0``, which the metrics never pass (they take counts + 1).
    About scipy's speed on the metrics' arrays, 1.5x it on large ones of big values.

    Examples
    --------
    >>> digamma([1.0, 2.0]).round(6).tolist()  # -Euler's constant, then 1 more
    [-0.577216, 0.422784]
    """
    shape = np.shape(x)
    z = np.array(x, dtype=np.float64, ndmin=1, copy=True)
    if z.size and not np.min(z) > 0.0:
        z[~(z > 0.0)] = np.nan
    shift = None
    small = np.flatnonzero(z < _DIGAMMA_SHIFT_TO)
    if small.size:
        # every x + k below 20, k = 0, 1, ..., at once: psi(x) = psi(x + n) - sum 1/(x + k)
        steps = z.flat[small][:, np.newaxis] + np.arange(_DIGAMMA_SHIFT_TO)
        below = steps < _DIGAMMA_SHIFT_TO
        shift = np.divide(1.0, steps, out=np.zeros_like(steps), where=below).sum(axis=1)
        z.flat[small] += below.sum(axis=1)
    r = 1.0 / z
    w = r * r
    series = w * _DIGAMMA_SERIES[-1]
    for coefficient in reversed(_DIGAMMA_SERIES[1:-1]):
        series += coefficient
        series *= w
    series += _DIGAMMA_SERIES[0]
    series *= r
    series += 0.5
    series *= r
    psi = np.log(z)
    psi -= series
    if shift is not None:
        psi.flat[small] -= shift
    return psi.reshape(shape)


def gammaincinv(a: float, q: float) -> float:
    r"""Gamma quantile: the :math:`x` with :math:`P(a, x) = q`, where
    :math:`P(a, x) = \gamma(a, x) / \Gamma(a)` is the regularized lower incomplete gamma.

    Halley's method on :math:`P(a, x) - q` (on :math:`Q = 1 - P` for :math:`q > 1/2`, whose
    :math:`1 - q` is then exact), started from the Wilson-Hilferty approximation
    :math:`a (1 - \frac{1}{9a} + \frac{z_q}{3\sqrt a})^3` or, deep in the lower tail, from
    :math:`P(a, x) \approx x^a / \Gamma(a + 1)`. :math:`P` is the power series for
    :math:`x < a + 1` and :math:`Q` the continued fraction (modified Lentz) otherwise
    (Numerical Recipes, 3rd ed., 6.2). Their common factor :math:`x^a e^{-x} / \Gamma(a+1)` is
    taken, for :math:`a \ge 10`, as :math:`e^{a(\ln(1+t) - t) - \epsilon(a)} / \sqrt{2\pi a}`
    with :math:`t = (x - a)/a` and Stirling's correction :math:`\epsilon(a)`, which keeps it
    accurate when :math:`a \ln x` and :math:`\ln\Gamma(a+1)` are both huge. Agrees with
    ``scipy.special.gammaincinv`` to about 1e-13 relative for ``a >= 1``.

    ``nan`` outside ``a > 0, 0 <= q <= 1``; 0 and ``inf`` at ``q`` = 0 and 1.

    Examples
    --------
    >>> round(gammaincinv(1.0, 0.5), 12) == round(math.log(2.0), 12)
    True
    """
    if not (a > 0.0 and 0.0 <= q <= 1.0):
        return math.nan
    if q == 0.0:
        return 0.0
    if q == 1.0:
        return math.inf
    upper = q > 0.5
    target = 1.0 - q if upper else q
    x = _initial_quantile(a, q)
    for _ in range(100):
        lower_p, upper_q, density = _incomplete_gamma(a, x)
        # P - q, written as (1 - q) - Q in the upper half
        f = (target - upper_q) if upper else (lower_p - target)
        if density <= 0.0:
            break
        newton = f / density
        # Halley: f''/f' = (a - 1)/x - 1 for the gamma density
        curvature = (a - 1.0) / x - 1.0
        step = newton / max(1.0 - 0.5 * newton * curvature, 0.5)
        new_x = x - step
        if new_x <= 0.0:
            new_x = 0.5 * x
        converged = abs(new_x - x) <= 1e-15 * new_x
        x = new_x
        if converged or abs(step) <= 1e-13 * x:
            break
    return x


def _initial_quantile(a: float, q: float) -> float:
    z = ndtri(q)
    root = 1.0 - 1.0 / (9.0 * a) + z / (3.0 * math.sqrt(a))
    wilson_hilferty = a * root**3 if root > 0.0 else 0.0
    # P(a, x) ~ x^a / Gamma(a + 1) for x << a
    small_x = math.exp((math.log(q) + math.lgamma(a + 1.0)) / a)
    if wilson_hilferty <= 0.0 or (small_x < a and small_x > wilson_hilferty):
        return small_x
    return wilson_hilferty


def _incomplete_gamma(a: float, x: float) -> tuple[float, float, float]:
    """P(a, x), Q(a, x) and the gamma(a) density at x."""
    factor = _power_factor(a, x)  # x^a e^-x / Gamma(a + 1)
    density = factor * a / x
    if x < a + 1.0:
        p = factor * _lower_series(a, x)
        return p, 1.0 - p, density
    upper_q = factor * a * _upper_fraction(a, x)
    return 1.0 - upper_q, upper_q, density


def _power_factor(a: float, x: float) -> float:
    if a < _STIRLING_FROM:
        return math.exp(a * math.log(x) - x - math.lgamma(a + 1.0))
    t = (x - a) / a
    return math.exp(a * _log1pmx(t) - _stirling_correction(a)) / math.sqrt(2.0 * math.pi * a)


def _log1pmx(t: float) -> float:
    """ln(1 + t) - t without cancellation for small t.

    With y = t / (2 + t), ln(1 + t) = 2 atanh(y) = 2 (y + y^3/3 + ...) and 2y - t = -t^2/(2 + t).
    """
    if abs(t) > 0.5:
        return math.log1p(t) - t
    y = t / (2.0 + t)
    y2 = y * y
    power = y * y2
    total = 0.0
    k = 3
    while True:
        term = power / k
        total += term
        if abs(term) <= _EPSILON * abs(total):
            break
        power *= y2
        k += 2
    return -t * t / (2.0 + t) + 2.0 * total


def _stirling_correction(a: float) -> float:
    w = 1.0 / (a * a)
    series = _STIRLING_SERIES[-1]
    for coefficient in reversed(_STIRLING_SERIES[:-1]):
        series = series * w + coefficient
    return series / a


def _lower_series(a: float, x: float) -> float:
    """sum_n x^n / ((a + 1) ... (a + n)), so that P(a, x) = x^a e^-x / Gamma(a + 1) times it.

    Near x = a the terms fall slowly (a few sqrt(a) of them matter), so after the first 64 they
    are formed in numpy blocks: a running product per block, then summed.
    """
    term = 1.0
    total = 1.0
    denominator = a
    for _ in range(64):
        denominator += 1.0
        term *= x / denominator
        total += term
        if term <= _EPSILON * total:
            return total
    start = denominator + 1.0
    while start - a < _MAX_TERMS:
        terms = np.cumprod(x / (start + np.arange(_SERIES_BLOCK, dtype=np.float64)))
        terms *= term
        total += float(terms.sum())
        term = float(terms[-1])
        if term <= _EPSILON * total:
            return total
        start += _SERIES_BLOCK
    raise ArithmeticError(f"incomplete gamma series did not converge for a={a}, x={x}")


def _upper_fraction(a: float, x: float) -> float:
    """Continued fraction 1/(x + 1 - a - 1 (1 - a)/(x + 3 - a - ...)) (modified Lentz), so that
    Q(a, x) = x^a e^-x / Gamma(a) times it."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_TERMS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) <= _EPSILON:
            return h
    raise ArithmeticError(f"incomplete gamma continued fraction did not converge for a={a}, x={x}")
