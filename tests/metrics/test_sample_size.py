"""Riley et al. (2021) sample-size criteria against pmvalsampsize's check values and brute force."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from scipy import special

from steward.cube import edges_with_thresholds
from steward.metrics.sample_size import (
    assess_adequacy,
    calibration_slope_sample_size,
    observed_inputs,
    observed_lp_distribution,
    riley_sample_size,
)

from ._reference import level_counts


def r_rnorm(seed: int, n: int, mean: float, sd: float) -> np.ndarray:
    """``set.seed(seed); rnorm(n, mean, sd)`` of R (Mersenne-Twister, Inversion).

    R scrambles the seed with 50 steps of the LCG ``s = 69069 s + 1``, fills the 624-word state
    with the next LCG outputs (the first of 625 words is the position, reset to 624), and draws
    each normal by inversion of ``(floor(2^27 u1) + u2) / 2^27``.
    """
    s = seed & 0xFFFFFFFF
    for _ in range(50):
        s = (69069 * s + 1) & 0xFFFFFFFF
    words = []
    for _ in range(625):
        s = (69069 * s + 1) & 0xFFFFFFFF
        words.append(s)
    generator = np.random.MT19937()
    generator.state = {
        "bit_generator": "MT19937",
        "state": {"key": np.array(words[1:], dtype=np.uint32), "pos": 624},
    }
    u = generator.random_raw(2 * n).astype(np.float64) * 2.3283064365386963e-10
    big = 134217728.0
    return mean + sd * special.ndtri((np.floor(big * u[0::2]) + u[1::2]) / big)


# pmvalsampsize unit test "Test 4.1": prevalence 0.018, C 0.8, LP ~ N(-5, 2.5), O/E width 1,
# simobs 1000, seed 123456 -> O/E 905, slope 4501, C 4252 (docs/methods.md section 2).
PMVAL_EXAMPLE = {"prevalence": 0.018, "cstatistic": 0.8, "lp_mean": -5.0, "lp_sd": 2.5}


def test_pmvalsampsize_example_oe_and_cstatistic() -> None:
    result = riley_sample_size(**PMVAL_EXAMPLE, oe_ci_width=1.0)
    assert result.criterion("oe").required_n == 905
    assert result.criterion("c_statistic").required_n == 4252
    assert [c.criterion for c in result.criteria] == ["oe", "calibration_slope", "c_statistic"]


def test_pmvalsampsize_example_slope_from_its_simulated_sample() -> None:
    lp = r_rnorm(123456, 1000, -5.0, 2.5)
    assert calibration_slope_sample_size(lp, ci_width=0.2) == 4501


def test_slope_quadrature_matches_large_simulation() -> None:
    result = riley_sample_size(**PMVAL_EXAMPLE, oe_ci_width=1.0)
    quadrature = result.criterion("calibration_slope").required_n
    lp = np.random.default_rng(7).normal(-5.0, 2.5, 2_000_000)
    simulated = calibration_slope_sample_size(lp, ci_width=0.2)
    assert abs(quadrature - simulated) / simulated < 0.01
    assert result.required_n == quadrature
    assert result.binding_criterion == "calibration_slope"
    assert result.required_events == math.ceil(quadrature * 0.018)


def test_slope_weights_equal_repeated_values() -> None:
    values = np.array([-3.0, -1.0, 0.5, 2.0])
    counts = np.array([3, 1, 4, 2])
    assert calibration_slope_sample_size(values, weights=counts) == (
        calibration_slope_sample_size(np.repeat(values, counts))
    )


def _oe_grid_search(prevalence: float, oe: float, width: float) -> int:
    # pmvalsampsize's loop, written out: step SE until the O/E interval is wide enough.
    se, step = 0.0, 0
    while True:
        step += 1
        se = step * 1e-4
        if math.exp(math.log(oe) + 1.96 * se) - math.exp(math.log(oe) - 1.96 * se) >= width:
            break
    return math.ceil((1 - prevalence) / (prevalence * se**2))


def _newcombe_brute_force(prevalence: float, c: float, width: float) -> int:
    size = np.arange(1, 1_000_001, dtype=np.float64)
    half = size / 2 - 1
    var = (
        c
        * (1 - c)
        * (1 + half * (1 - c) / (2 - c) + half * c / (1 + c))
        / (size * size * prevalence * (1 - prevalence))
    )
    return int(size[np.argmax(2 * 1.96 * np.sqrt(var) <= width)])


@pytest.mark.parametrize(
    ("prevalence", "cstatistic", "oe", "oe_width", "c_width"),
    [
        (0.018, 0.8, 1.0, 1.0, 0.1),
        (0.1, 0.7, 1.0, 0.2, 0.1),
        (0.3, 0.9, 0.8, 0.3, 0.05),
        (0.5, 0.55, 1.2, 0.1, 0.08),
    ],
)
def test_oe_and_cstatistic_match_brute_force(
    prevalence: float, cstatistic: float, oe: float, oe_width: float, c_width: float
) -> None:
    result = riley_sample_size(
        prevalence, cstatistic, -2.0, 1.0, oe=oe, oe_ci_width=oe_width, cstat_ci_width=c_width
    )
    assert result.criterion("oe").required_n == _oe_grid_search(prevalence, oe, oe_width)
    assert result.criterion("c_statistic").required_n == _newcombe_brute_force(
        prevalence, cstatistic, c_width
    )


def test_net_benefit_size_gives_target_se_in_simulation() -> None:
    prevalence, sens, spec, threshold = 0.2, 0.75, 0.7, 0.15
    result = riley_sample_size(
        prevalence, 0.75, -1.5, 1.0, threshold=threshold, sensitivity=sens, specificity=spec
    )
    nb = result.criterion("net_benefit")
    odds = threshold / (1 - threshold)
    assert nb.anticipated == pytest.approx(sens - (1 - spec) * (1 - prevalence) / prevalence * odds)
    # Row-level simulation at the required N: standardised NB = (TP - FP odds) / (TP + FN).
    rng = np.random.default_rng(11)
    probs = [prevalence * sens, prevalence * (1 - sens), (1 - prevalence) * (1 - spec)]
    probs.append(1 - sum(probs))
    cells = rng.multinomial(nb.required_n, probs, size=40_000)
    snb = (cells[:, 0] - cells[:, 2] * odds) / (cells[:, 0] + cells[:, 1])
    assert snb.std() == pytest.approx(nb.target_se, rel=0.03)
    assert nb.target_se == pytest.approx(0.2 / 3.92)


def test_net_benefit_from_threshold_uses_calibrated_accuracy() -> None:
    lp_mean, lp_sd, threshold, prevalence = -1.5, 1.2, 0.2, 0.22
    rng = np.random.default_rng(3)
    z = rng.normal(lp_mean, lp_sd, 2_000_000)
    y = rng.random(z.size) < special.expit(z)
    positive = z >= special.logit(threshold)
    sens, spec = positive[y].mean(), (~positive[~y]).mean()
    from_lp = riley_sample_size(prevalence, 0.75, lp_mean, lp_sd, threshold=threshold)
    given = riley_sample_size(
        prevalence, 0.75, lp_mean, lp_sd, threshold=threshold, sensitivity=sens, specificity=spec
    )
    a, b = from_lp.criterion("net_benefit"), given.criterion("net_benefit")
    assert a.anticipated == pytest.approx(b.anticipated, abs=0.01)
    assert a.required_n == pytest.approx(b.required_n, rel=0.02)


def test_net_benefit_only_with_threshold() -> None:
    result = riley_sample_size(**PMVAL_EXAMPLE)
    with pytest.raises(KeyError):
        result.criterion("net_benefit")
    with pytest.raises(ValueError, match="threshold"):
        riley_sample_size(**PMVAL_EXAMPLE, sensitivity=0.8, specificity=0.7)
    with pytest.raises(ValueError, match="both"):
        riley_sample_size(**PMVAL_EXAMPLE, threshold=0.1, sensitivity=0.8)


@pytest.mark.parametrize(
    ("field", "value"),
    [("prevalence", 0.0), ("prevalence", 1.2), ("cstatistic", 1.0), ("lp_sd", 0.0)],
)
def test_rejects_out_of_range_inputs(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        riley_sample_size(**{**PMVAL_EXAMPLE, field: value})


def test_rejects_non_positive_width() -> None:
    with pytest.raises(ValueError, match="oe_ci_width"):
        riley_sample_size(**PMVAL_EXAMPLE, oe_ci_width=0.0)


def test_observed_inputs_match_row_level_moments() -> None:
    rng = np.random.default_rng(5)
    z = rng.normal(-2.0, 1.1, 5_000)
    p = special.expit(z)
    y = (rng.random(p.size) < p).astype(float)
    y[:300] = np.nan  # unlabelled rows are ignored
    counts = level_counts(p, y, edges_with_thresholds(100))
    inputs = observed_inputs(counts, cstatistic=0.71)
    labelled = ~np.isnan(y)
    assert inputs.n == labelled.sum()
    assert inputs.events == int(np.nansum(y))
    assert inputs.prevalence == pytest.approx(np.nanmean(y))
    assert inputs.lp_mean == pytest.approx(z[labelled].mean(), rel=1e-9)
    assert inputs.lp_sd == pytest.approx(z[labelled].std(ddof=1), rel=1e-9)
    assert inputs.cstatistic == 0.71


def test_observed_lp_distribution_drives_the_slope_and_accuracy() -> None:
    rng = np.random.default_rng(21)
    z = rng.normal(-2.5, 1.3, 200_000)
    p = special.expit(z)
    y = (rng.random(p.size) < p).astype(float)
    counts = level_counts(p, y, edges_with_thresholds(2_000, [0.1]))
    values, weights = observed_lp_distribution(counts)
    assert weights.sum() == p.size
    assert np.average(values, weights=weights) == pytest.approx(z.mean(), rel=1e-9)
    row_level = calibration_slope_sample_size(z)
    assert calibration_slope_sample_size(values, weights=weights) == pytest.approx(
        row_level, rel=0.005
    )
    args = (0.12, 0.75, -2.5, 1.3)
    normal = riley_sample_size(*args, threshold=0.1)
    observed = riley_sample_size(*args, threshold=0.1, lp_sample=(values, weights))
    for name in ("calibration_slope", "net_benefit"):
        assert observed.criterion(name).required_n == pytest.approx(
            normal.criterion(name).required_n, rel=0.03
        )
    assert "observed distribution" in observed.method
    assert "observed distribution" not in normal.method
    # A skewed linear predictor (logit of Beta(0.5, 4) risks) needs far more rows for the slope
    # than a normal one with the same mean and SD suggests.
    skewed = special.logit(rng.beta(0.5, 4.0, 200_000))
    skewed = skewed[np.isfinite(skewed)]
    moments = (0.1, 0.75, float(skewed.mean()), float(skewed.std()))
    as_normal = riley_sample_size(*moments).criterion("calibration_slope").required_n
    as_observed = riley_sample_size(*moments, lp_sample=(skewed, np.ones_like(skewed)))
    assert as_observed.criterion("calibration_slope").required_n == (
        calibration_slope_sample_size(skewed)
    )
    assert as_observed.criterion("calibration_slope").required_n > 1.3 * as_normal
    with pytest.raises(ValueError, match="weights"):
        riley_sample_size(*args, lp_sample=([0.1, 0.2], [1.0, -1.0]))


def test_observed_inputs_warn_without_events() -> None:
    counts = level_counts([0.1, 0.2, 0.3], [0.0, 0.0, 0.0], edges_with_thresholds(10))
    with pytest.warns(RuntimeWarning, match="too few"):
        inputs = observed_inputs(counts, cstatistic=0.5)
    assert math.isnan(inputs.prevalence)
    infinite = level_counts([0.1, 0.2, 0.3], [0.0, 1.0, 0.0], edges_with_thresholds(10))
    infinite.stats[0, 0, 5] = -np.inf  # a score of exactly 0 in an engine that does not clip
    with pytest.warns(RuntimeWarning, match="non-finite logits"):
        assert math.isnan(observed_inputs(infinite, cstatistic=0.5).lp_mean)


def test_assess_adequacy_needs_rows_and_events() -> None:
    result = riley_sample_size(**PMVAL_EXAMPLE, oe_ci_width=1.0)
    rows = {a.criterion: a for a in assess_adequacy(result, 4300, 80)}
    assert rows["oe"].adequate
    assert rows["c_statistic"].adequate  # 4252 rows, 77 events
    assert not rows["calibration_slope"].adequate
    assert not rows["overall"].adequate
    short_of_events = {a.criterion: a for a in assess_adequacy(result, 4300, 70)}
    assert not short_of_events["c_statistic"].adequate
    with pytest.raises(ValueError, match="events_available"):
        assess_adequacy(result, 10, 11)


def test_docstring_examples_run() -> None:
    from steward.metrics import sample_size as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize("mean", [-6.0, -3.0, -1.0, 0.0, 2.0])
@pytest.mark.parametrize("sd", [0.2, 0.8, 1.5, 4.0])
def test_information_moments_agree_with_adaptive_quadrature(mean: float, sd: float) -> None:
    from scipy import integrate, special, stats

    from steward.metrics.sample_size import _information_moments

    def moment(power: int) -> float:
        def integrand(z: float) -> float:
            weight = special.expit(z) * special.expit(-z)
            return float(z**power * weight * stats.norm.pdf(z, mean, sd))

        lo, hi = mean - 40 * sd, mean + 40 * sd
        return float(integrate.quad(integrand, lo, hi, points=[mean], epsrel=1e-13, limit=400)[0])

    expected = [moment(k) for k in range(3)]
    scale = expected[0] + expected[2]
    assert np.allclose(_information_moments(mean, sd), expected, rtol=0, atol=1e-10 * scale)
