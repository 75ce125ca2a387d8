"""Done-when: two years of a deployed score, a calibration drift injected in one subgroup.

The score is calibrated until day 400 (2025-02-04); from then the odds of an event among
patients recorded as ethnicity "Black" (10% of ~500 predictions a day) are 1.5 times what the
score says (observed/expected about 1.4). The tool's family of calibration CUSUMs (two charts
for overall and for each of 7 subgroup levels: K = 16) is set for one false alarm in 50 years
across the family, so each chart's in-control run length is 16 x 50 years of days, and a
drift-free two-year run raises a false alarm with probability about 1 - exp(-2/50) = 4%.

Expected delay (docs/surveillance.md): with those limits (h about 10.5 for the subgroup's chart)
and about 50 predictions a day in the subgroup, each day adds on average ~0.38 to the upper
chart under this drift, so the delay is about (h + overshoot) / 0.38 ~ 30 days; the simulated
delay distribution (``arl.delay_distribution``) is computed below and the observed delay
must not exceed its 99th percentile.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from steward.cube import edges_with_thresholds
from steward.surveillance.monitors import (
    ChartLimit,
    Finding,
    Reference,
    Subject,
    calibration_cusum,
    case_mix,
    counts_for,
    cusum_limits,
    monitor_config,
)
from steward.surveillance.monitors.arl import delay_distribution
from steward.surveillance.monitors.run import ChartKey

from ._simulate import reference_from, simulate, window_cubes

pytestmark = pytest.mark.slow

EDGES = edges_with_thresholds(100, [0.2])
DRIFT_DAY = 400
DRIFT_DATE = dt.date(2024, 1, 1) + dt.timedelta(days=DRIFT_DAY)
BLACK = Subject(("ethnicity",), ("Black",))
CONFIG = monitor_config({"threshold": 0.2, "cusum": {"family_arl_years": 50, "simulations": 3000}})


Setup = tuple[Reference, dict[ChartKey, ChartLimit]]


@pytest.fixture(scope="module")
def setup() -> Setup:
    reference = reference_from(simulate(180, seed=100), EDGES)
    return reference, cusum_limits(reference, CONFIG)


def _alarms(seed: int, drift: bool, setup: Setup) -> list[Finding]:
    _, limits = setup
    rows = simulate(730, seed=seed, drift_day=DRIFT_DAY if drift else None)
    findings = calibration_cusum(window_cubes(rows, EDGES, "day"), limits, CONFIG.cusum.odds_ratio)
    assert len({f.window for f in findings}) == 730
    return [f for f in findings if f.status == "alarm"]


def test_family_limits_follow_the_arl_scaling(setup: Setup) -> None:
    _, limits = setup
    assert len(limits) == 16
    target = 16 * 50 * 365.25
    for limit in limits.values():
        assert limit.charts_in_family == 16
        assert limit.target_windows == pytest.approx(target)
        assert limit.arl_windows == pytest.approx(target, rel=0.05)
    # Smaller subgroups see fewer predictions a day, so their limits are lower.
    assert limits[(BLACK, "upper")].h < limits[(Subject(), "upper")].h


@pytest.mark.parametrize("seed", [1, 2])
def test_drift_in_one_subgroup_raises_its_calibration_cusum_in_time(
    seed: int,
    setup: Setup,
) -> None:
    reference, limits = setup
    alarms = _alarms(seed, drift=True, setup=setup)
    assert alarms, "the injected drift was not detected"
    assert all(a.window.start >= DRIFT_DATE for a in alarms), "false alarm before the drift"
    first = alarms[0]
    assert (first.subject, first.metric) == (BLACK, "upper")
    delay = (first.window.start - DRIFT_DATE).days + 1
    # Expected delay from the same chart simulated under the injected drift.
    counts = counts_for(reference.cube, BLACK)
    assert counts is not None
    mix = case_mix(counts, float(counts.stats[..., 0].sum()) / reference.days)
    h = limits[(BLACK, "upper")].h
    delays = delay_distribution(mix, 1.5, h, 1.5, simulations=4000, seed=11)
    assert 20 < delays.mean() < 45  # the ~30 days stated above
    assert delay <= np.percentile(delays, 99), (delay, delays.mean())
    # Over-prediction charts stay quiet; the drift is in one direction only.
    assert not any(a.metric == "lower" for a in alarms)


@pytest.mark.parametrize("seed", [1, 2])
def test_no_alarm_in_a_drift_free_run_of_the_same_length(seed: int, setup: Setup) -> None:
    assert _alarms(seed, drift=False, setup=setup) == []
