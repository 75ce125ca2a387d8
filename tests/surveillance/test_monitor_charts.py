"""Realised performance, EWMA and p-charts against independent computations; the full run."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score
from statsmodels.stats.multitest import multipletests

from steward.cube import Cube, Margin, edges_with_thresholds
from steward.surveillance.monitors import (
    OVERALL,
    FeedbackCounts,
    Reference,
    Subject,
    Window,
    WindowData,
    default_config,
    ewma_chart,
    monitor_config,
    override_chart,
    p_chart_limits,
    realised_performance,
    run_monitors,
    scheduled_monitors,
)
from steward.surveillance.monitors.limits import widened_sigma

from ._simulate import level_counts, reference_from, simulate, window_cubes

EDGES = edges_with_thresholds(1000, [0.2])
MONTHS = [Window("month", dt.date(2025, m, 1)) for m in range(1, 13)]


def _groups_cube(parts: dict[str, tuple[np.ndarray, np.ndarray]]) -> Cube:
    """Cube with an overall margin and one ``group`` margin from per-group rows."""
    p = np.concatenate([v[0] for v in parts.values()])
    y = np.concatenate([v[1] for v in parts.values()])
    stats = np.stack([level_counts(*parts[k], EDGES).stats for k in parts])
    return Cube(
        margins={
            (): Margin((), ((),), EDGES, level_counts(p, y, EDGES).stats[None]),
            ("group",): Margin(("group",), tuple((k,) for k in parts), EDGES, stats),
        }
    )


def _rows(rng: np.random.Generator, n: int, odds: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    z = rng.normal(-2.2, 1.1, n)
    p = 1 / (1 + np.exp(-z))
    y = (rng.random(n) < 1 / (1 + np.exp(-(z + math.log(odds))))).astype(float)
    return p, y


def test_realised_metrics_match_row_level_references_and_holm() -> None:
    rng = np.random.default_rng(0)
    ref_parts = {g: _rows(rng, 20_000) for g in ("A", "B", "C")}
    reference = Reference(cube=_groups_cube(ref_parts), days=365)
    parts = {"A": _rows(rng, 3000), "B": _rows(rng, 3000, odds=2.0), "C": _rows(rng, 60)}
    data = WindowData(MONTHS[0], _groups_cube(parts))
    subjects = [OVERALL, *(Subject(("group",), (g,)) for g in parts)]
    found = realised_performance(data, reference, default_config().realised, subjects)
    by = {(f.subject.label, f.metric): f for f in found}
    p, y = parts["A"]
    assert by[("group=A", "auroc")].value == pytest.approx(roc_auc_score(y, p), abs=2e-4)
    assert by[("group=A", "oe")].value == pytest.approx(y.sum() / p.sum(), rel=1e-12)
    assert by[("group=A", "oe")].status == "ok"
    # Odds doubled in B: O:E far above the band, significant after Holm over 3 judged subjects.
    b = by[("group=B", "oe")]
    assert b.status == "alarm"
    judged = [by[(s, "oe")] for s in ("overall", "group=A", "group=B")]
    raw = [float(f.details["p_value"] or 0.0) for f in judged]
    holm = multipletests(raw, method="holm")[1]
    assert [f.details["p_holm"] for f in judged] == pytest.approx(holm, rel=1e-9)
    # C has too few events to judge.
    assert by[("group=C", "auroc")].status == "insufficient"
    assert by[("group=C", "auroc")].value is None


def test_p_value_of_a_band_is_the_one_sided_normal_tail() -> None:
    from steward.surveillance.monitors.realised import _p_outside

    assert _p_outside(0.6, 0.1, 0.8, 1.25) == pytest.approx(norm.cdf(-2.0))
    assert _p_outside(1.45, 0.1, 0.8, 1.25) == pytest.approx(norm.sf(2.0))
    assert _p_outside(1.0, 0.1, 0.8, 1.25) == pytest.approx(norm.cdf(2.0))  # inside: no evidence
    assert _p_outside(0.7, 0.1, 0.8, None) == pytest.approx(norm.cdf(-1.0))


def test_p_chart_limits_by_hand() -> None:
    low, high = p_chart_limits(0.1, 400, 3.0)
    assert low == pytest.approx(0.1 - 3 * math.sqrt(0.1 * 0.9 / 400))
    assert high == pytest.approx(0.145)
    history = [
        WindowData(w, _groups_cube({"A": _rows(np.random.default_rng(1), 10)}), feedback=fb)
        for w, fb in zip(
            MONTHS[:3],
            [
                {OVERALL: FeedbackCounts(400, 40)},
                {OVERALL: FeedbackCounts(400, 60)},
                {OVERALL: FeedbackCounts(400, 44)},
            ],
            strict=True,
        )
    ]
    reference = Reference(
        cube=history[0].cube, days=30, feedback={OVERALL: FeedbackCounts(1000, 100)}
    )
    found = override_chart(history, reference, default_config().override, OVERALL, 3.0)
    assert [f.status for f in found] == ["ok", "alarm", "ok"]  # 0.15 > 0.145
    assert found[1].upper == pytest.approx(0.145)
    # Without a reference rate, the centre is the pooled rate of the windows before.
    no_ref = Reference(cube=history[0].cube, days=30)
    pooled = override_chart(history, no_ref, default_config().override, OVERALL, 3.0)
    assert pooled[0].status == "insufficient"
    assert pooled[2].details["centre"] == pytest.approx(100 / 800)


def test_widened_limits_keep_the_family_false_alarm_rate() -> None:
    for k in (2, 5, 30):
        assert 2 * norm.sf(widened_sigma(3.0, k)) == pytest.approx(2 * norm.sf(3.0) / k)


def test_ewma_recursion_by_hand() -> None:
    rng = np.random.default_rng(2)
    ref_p, ref_y = _rows(rng, 50_000)
    reference = Reference(cube=_groups_cube({"A": (ref_p, ref_y)}), days=365)
    rows = [_rows(rng, 2000) for _ in range(6)] + [_rows(rng, 2000, odds=1.6) for _ in range(6)]
    history = [WindowData(w, _groups_cube({"A": r})) for w, r in zip(MONTHS, rows, strict=True)]
    config = default_config().ewma
    found = ewma_chart(history, reference, config, "alert_rate", OVERALL, 0.2, 3.0)
    mu0 = float(np.mean(ref_p >= 0.2))
    z, var = mu0, 0.0
    for finding, (p, _) in zip(found, rows, strict=True):
        x = float(np.mean(p >= 0.2))
        z = 0.2 * x + 0.8 * z
        var = 0.04 * mu0 * (1 - mu0) / p.size + 0.64 * var
        assert finding.value == pytest.approx(z, rel=1e-12)
        assert finding.upper == pytest.approx(mu0 + 3 * math.sqrt(var), rel=1e-12)
    assert all(f.status == "ok" for f in found)  # the case mix did not change
    ppv = ewma_chart(history, reference, config, "ppv", OVERALL, 0.2, 3.0)
    assert [f.status for f in ppv[:6]] == ["ok"] * 6
    assert ppv[-1].status == "alarm"  # more events among the flagged: PPV rises


def test_run_monitors_on_simulated_windows() -> None:
    edges = edges_with_thresholds(100, [0.2])
    reference = reference_from(simulate(120, seed=5, volume=200), edges)
    rows = simulate(120, seed=6, volume=200)
    history = {g: window_cubes(rows, edges, g) for g in ("day", "week", "month")}
    config = monitor_config({"threshold": 0.2, "cusum": {"simulations": 200}})
    found = run_monitors(history, reference, config, since=dt.date(2024, 3, 1))
    monitors = {f.monitor for f in found}
    assert monitors == {
        "drift",
        "estimated_performance",
        "realised_performance",
        "calibration_cusum",
        "ewma",
    }
    assert all(f.window.start >= dt.date(2024, 3, 1) for f in found)
    assert not [f for f in found if f.monitor == "calibration_cusum" and f.status == "alarm"]
    keys = [f.key for f in found]
    assert len(keys) == len(set(keys))


def test_scheduled_monitors_and_running_only_some() -> None:
    config = monitor_config({"ewma": {"enabled": False}})
    assert scheduled_monitors(config) == {
        "drift": "month",
        "realised_performance": "month",
        "calibration_cusum": "day",
        "override_rate": "week",
    }  # estimated performance needs a threshold
    edges = edges_with_thresholds(100, [0.2])
    reference = reference_from(simulate(60, seed=7, volume=100), edges)
    history = {"month": window_cubes(simulate(60, seed=8, volume=100), edges, "month")}
    found = run_monitors(history, reference, config, only=["drift"])
    assert {f.monitor for f in found} == {"drift"}
    with pytest.raises(ValueError, match="unknown monitor"):
        run_monitors(history, reference, config, only=["psi"])
