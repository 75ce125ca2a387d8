"""Subgroup rules, gap tests and multiplicity adjustments against statsmodels."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from steward.metrics.subgroups import (
    benjamini_hochberg,
    compare_groups,
    gap_test,
    holm,
    is_imprecise,
    is_suppressed,
    se_from_ci,
)
from steward.metrics.types import Estimate

p_value_lists = st.lists(
    st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 0.01, 0.05, 0.5, 1.0])),
    min_size=1,
    max_size=40,
)


def _holm_brute_force(p: list[float]) -> list[float]:
    # Definition, O(m^2): the largest scaled p-value among those ranked at or below this one.
    m = len(p)
    ranked = sorted(range(m), key=lambda i: p[i])
    rank = {i: r for r, i in enumerate(ranked)}
    return [
        max(min(1.0, (m - rank[j]) * p[j]) for j in range(m) if rank[j] <= rank[i])
        for i in range(m)
    ]


@settings(max_examples=100, deadline=None)
@given(p_value_lists)
def test_holm_matches_brute_force(p: list[float]) -> None:
    np.testing.assert_allclose(holm(p), _holm_brute_force(p), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("seed", range(5))
def test_holm_matches_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.round(rng.random(25) ** 3, 2)  # includes ties and zeros
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=1e-12)


@settings(max_examples=100, deadline=None)
@given(p_value_lists)
def test_benjamini_hochberg_matches_statsmodels(p: list[float]) -> None:
    expected = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(benjamini_hochberg(p), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("ours", "method"), [(holm, "holm"), (benjamini_hochberg, "fdr_bh")])
def test_adjustments_skip_missing_p_values(ours, method) -> None:  # type: ignore[no-untyped-def]
    p = np.array([0.02, np.nan, 0.001, 0.04, np.nan, 0.3])
    known = ~np.isnan(p)
    adjusted = ours(p)
    assert np.isnan(adjusted[~known]).all()
    np.testing.assert_allclose(adjusted[known], multipletests(p[known], method=method)[1])
    assert np.isnan(ours([np.nan, np.nan])).all()


def test_adjustments_reject_invalid_p_values() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.5, 1.2])
    with pytest.raises(ValueError, match="one-dimensional"):
        benjamini_hochberg([[0.1, 0.2]])


def test_gap_test_matches_statsmodels_two_sample_z_test() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.0, 1.0, 60), rng.normal(0.4, 2.0, 90)
    reference = CompareMeans(DescrStatsW(a), DescrStatsW(b))
    z, p = reference.ztest_ind(usevar="unequal")
    low, high = reference.zconfint_diff(alpha=0.1, usevar="unequal")
    test = gap_test(
        (a.mean(), a.std(ddof=1) / math.sqrt(a.size)),
        (b.mean(), b.std(ddof=1) / math.sqrt(b.size)),
        alpha=0.1,
    )
    assert test.z == pytest.approx(z)
    assert test.p_value == pytest.approx(p)
    assert (test.ci_low, test.ci_high) == pytest.approx((low, high))


def test_gap_test_reads_se_from_a_95_percent_interval() -> None:
    estimate = Estimate(0.80, 0.76, 0.84)
    assert se_from_ci(0.76, 0.84) == pytest.approx(0.04 / 1.96)
    assert gap_test(estimate, (0.70, 0.0)).se == pytest.approx(0.04 / 1.96)
    undefined = gap_test(Estimate(0.8), (0.7, 0.01))
    assert math.isnan(undefined.p_value)
    assert undefined.difference == pytest.approx(0.1)


def test_gap_test_rejects_negative_se() -> None:
    with pytest.raises(ValueError, match="negative"):
        gap_test((0.5, -0.1), (0.4, 0.1))


def test_gap_test_p_values_are_uniform_under_the_null() -> None:
    rng = np.random.default_rng(1)
    se_a, se_b = 0.03, 0.05
    p = [
        gap_test((rng.normal(0.7, se_a), se_a), (rng.normal(0.7, se_b), se_b)).p_value
        for _ in range(2000)
    ]
    assert np.mean(np.array(p) < 0.05) == pytest.approx(0.05, abs=0.015)


def test_small_group_rules_at_their_boundaries() -> None:
    assert is_imprecise(99, 1000)
    assert is_imprecise(1000, 99)
    assert not is_imprecise(100, 100)
    assert is_imprecise(150, 150, minimum=200)
    assert is_suppressed(10)
    assert is_suppressed(0)
    assert not is_suppressed(11)


def test_compare_with_reference_group_uses_holm_and_tolerance() -> None:
    values = {
        "A": (0.80, 0.010),
        "B": (0.74, 0.010),  # gap 0.06, clearly significant
        "C": (0.79, 0.010),  # gap 0.01, within tolerance
        "D": (0.70, 0.080),  # gap 0.10, too imprecise to be significant
    }
    results = {r.level: r for r in compare_groups(values, reference="A", tolerance=0.02)}
    assert set(results) == {"B", "C", "D"}
    raw = [results[k].test.p_value for k in ("B", "C", "D")]
    np.testing.assert_allclose(
        [results[k].p_adjusted for k in ("B", "C", "D")], multipletests(raw, method="holm")[1]
    )
    assert results["B"].flagged
    assert results["B"].difference == pytest.approx(-0.06)
    assert not results["C"].exceeds_tolerance
    assert not results["C"].flagged
    assert results["D"].exceeds_tolerance
    assert not results["D"].flagged


def test_compare_with_rest_values_and_pooled_fallback() -> None:
    values = {"F": (0.75, 0.02), "M": (0.70, 0.01), "X": (0.72, 0.04)}
    rest = {"F": (0.705, 0.009), "M": (0.752, 0.018), "X": (0.718, 0.008)}
    explicit = compare_groups(values, rest_values=rest)
    assert [r.reference_value for r in explicit] == [0.705, 0.752, 0.718]
    assert explicit[0].test.se == pytest.approx(math.hypot(0.02, 0.009))
    pooled = compare_groups(values)
    w = np.array([1 / 0.01**2, 1 / 0.04**2])
    assert pooled[0].reference_value == pytest.approx(w @ [0.70, 0.72] / w.sum())
    assert pooled[0].test.se == pytest.approx(math.hypot(0.02, 1 / math.sqrt(w.sum())))
    bh = compare_groups(values, rest_values=rest, adjust="bh")
    np.testing.assert_allclose(
        [r.p_adjusted for r in bh],
        multipletests([r.test.p_value for r in bh], method="fdr_bh")[1],
    )


def test_compare_groups_keeps_undefined_groups_out_of_the_adjustment() -> None:
    values = {"A": (0.80, 0.01), "B": (0.74, 0.01), "C": (math.nan, math.nan)}
    results = {r.level: r for r in compare_groups(values, reference="A")}
    assert math.isnan(results["C"].p_adjusted)
    assert not results["C"].flagged
    assert results["B"].p_adjusted == pytest.approx(results["B"].test.p_value)


def test_compare_groups_validates_arguments() -> None:
    with pytest.raises(ValueError, match="reference group"):
        compare_groups({"A": (0.1, 0.01)}, reference="Z")
    with pytest.raises(ValueError, match="rest_values"):
        compare_groups({"A": (0.1, 0.01), "B": (0.2, 0.01)}, rest_values={"A": (0.2, 0.01)})
    with pytest.raises(ValueError, match="tolerance"):
        compare_groups({"A": (0.1, 0.01)}, tolerance=-1.0)


def test_docstring_examples_run() -> None:
    from steward.metrics import subgroups as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
