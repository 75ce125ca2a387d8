"""Control limits of the windowed risk-adjusted CUSUM, chosen by simulation for a run length.

The in-control average run length (ARL, in windows) of a CUSUM started at 0 is
ARL = E[L] / P(alarm in a cycle), where a cycle is an excursion from 0 that ends when the sum
returns to 0 or crosses h, and L its length in windows (Wald's identity over iid cycles).
E[L] is simulated directly: in-control cycles are short. P(alarm) is tiny for useful h, so it is
simulated under the alternative (odds x R_A) and reweighted: W is the log-likelihood ratio, so
P_0(alarm) = E_1[exp(-S_tau) 1{alarm}] (Siegmund 1976), an estimate whose relative error does
not grow with h. Windows are simulated from the tool's case mix: Poisson volume per window,
scores drawn from the reference distribution (grouped into ``groups`` equal-count groups at
their mean score), outcomes Bernoulli.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import gammaln

from steward.cube.model import LevelCounts, stat_index
from steward.surveillance.monitors.inputs import FloatArray

#: Steps after which a simulated cycle is abandoned (counted as ending without alarm).
MAX_STEPS = 100_000
#: Smallest control limit searched.
H_MIN = 0.05


@dataclass(frozen=True)
class CaseMix:
    """Scores of a monitored population: groups' mean score and share, and rows per window."""

    p: FloatArray
    share: FloatArray
    volume: float

    def __post_init__(self) -> None:
        p = np.asarray(self.p, dtype=np.float64)
        share = np.asarray(self.share, dtype=np.float64)
        if p.shape != share.shape or p.ndim != 1 or p.size == 0:
            raise ValueError("p and share must be 1-D arrays of the same length")
        if np.any((p <= 0) | (p >= 1)) or np.any(share < 0) or not share.sum() > 0:
            raise ValueError("p must lie in (0, 1) and shares be non-negative")
        if not self.volume > 0:
            raise ValueError("volume (rows per window) must be positive")
        object.__setattr__(self, "p", p)
        object.__setattr__(self, "share", share / share.sum())


def case_mix(counts: LevelCounts, volume: float, groups: int = 40) -> CaseMix:
    """The case mix of ``counts`` (every row, labelled or not) in ``groups`` equal-count groups."""
    stats = np.asarray(counts.stats, dtype=np.float64)
    n = stats[:, :, stat_index("n")].sum(axis=1)
    sum_p = stats[:, :, stat_index("sum_p")].sum(axis=1)
    present = n > 0
    if not np.any(present):
        raise ValueError("no rows to take the case mix from")
    n, sum_p = n[present], sum_p[present]
    cumulative = np.cumsum(n)
    group = np.minimum((groups * (cumulative - n / 2) / cumulative[-1]).astype(int), groups - 1)
    rows = np.bincount(group, weights=n, minlength=groups)
    total_p = np.bincount(group, weights=sum_p, minlength=groups)
    keep = rows > 0
    p = np.clip(total_p[keep] / rows[keep], 1e-6, 1 - 1e-6)
    return CaseMix(p, rows[keep].astype(np.float64), volume)


@dataclass(frozen=True)
class RunLength:
    """Estimated in-control ARL (windows) of one chart at limit ``h``, with its standard error."""

    h: float
    arl: float
    se: float
    mean_cycle: float
    p_alarm: float


class _Simulator:
    def __init__(self, mix: CaseMix, odds_ratio: float, seed: int) -> None:
        self.mix = mix
        self.log_r = math.log(odds_ratio)
        self.cost = np.log1p((odds_ratio - 1.0) * mix.p)  # ln(1 - p + R p) per group
        tilted = odds_ratio * mix.p / (1.0 - mix.p + odds_ratio * mix.p)
        self.p_alt = tilted
        self.seed = seed

    def increments(
        self, rng: np.random.Generator, size: int, p: FloatArray, nonempty: bool = False
    ) -> FloatArray:
        """Window sums of W; ``nonempty``: only windows with at least one prediction."""
        volume = self.volumes(rng, size) if nonempty else rng.poisson(self.mix.volume, size)
        counts = rng.multinomial(volume, self.mix.share)
        events = rng.binomial(counts, p)
        return np.asarray(events.sum(axis=1) * self.log_r - counts @ self.cost, dtype=np.float64)

    def volumes(self, rng: np.random.Generator, size: int) -> NDArray[np.int64]:
        """Poisson volumes conditioned on at least one prediction (inverse CDF when zeros are
        common, rejection when they are rare)."""
        lam = self.mix.volume
        if lam > 5.0:
            volume = rng.poisson(lam, size)
            while np.any(volume == 0):
                empty = volume == 0
                volume[empty] = rng.poisson(lam, int(empty.sum()))
            return np.asarray(volume, dtype=np.int64)
        k = np.arange(int(lam + 10.0 * math.sqrt(lam) + 20.0))
        cdf = np.cumsum(np.exp(k * math.log(lam) - lam - gammaln(k + 1.0)))
        u = rng.uniform(cdf[0], cdf[-1], size)
        return np.asarray(np.searchsorted(cdf, u, side="left"), dtype=np.int64)

    def cycles(
        self, h: float, size: int, p: FloatArray, salt: int
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Non-empty windows, end value and alarm flag of ``size`` cycles under outcomes ``p``.

        Windows without predictions leave the chart where it is, so cycles are simulated over
        non-empty windows only; the caller scales lengths by the mean windows per non-empty one.
        """
        rng = np.random.default_rng([self.seed, salt])
        total = np.zeros(size)
        length = np.zeros(size)
        alarm = np.zeros(size)
        active = np.arange(size)
        for _ in range(MAX_STEPS):
            if active.size == 0:
                break
            total[active] += self.increments(rng, active.size, p, nonempty=True)
            length[active] += 1
            crossed = total[active] > h
            alarm[active[crossed]] = 1.0
            active = active[~crossed & (total[active] > 0)]
        return length, total, alarm


def in_control_arl(
    mix: CaseMix, odds_ratio: float, h: float, simulations: int, seed: int = 0
) -> RunLength:
    """In-control ARL (windows) of the chart with R_A = ``odds_ratio`` and limit ``h``."""
    sim = _Simulator(mix, odds_ratio, seed)
    length, _, _ = sim.cycles(h, simulations, mix.p, salt=0)
    _, end, alarm = sim.cycles(h, simulations, sim.p_alt, salt=1)
    weights = alarm * np.exp(-np.minimum(end, 700.0))
    p_alarm = float(weights.mean())
    # Each non-empty window comes after a geometric number of windows: 1 / P(volume > 0).
    windows_per_step = 1.0 / -math.expm1(-mix.volume)
    length = length * windows_per_step
    mean_cycle = float(length.mean())
    if p_alarm <= 0:
        return RunLength(h, math.inf, math.inf, mean_cycle, 0.0)
    arl = mean_cycle / p_alarm
    # Delta method on the ratio of two independent means.
    rel = math.sqrt(
        float(length.var()) / simulations / mean_cycle**2
        + float(weights.var()) / simulations / p_alarm**2
    )
    return RunLength(h, arl, arl * rel, mean_cycle, p_alarm)


def control_limit(
    mix: CaseMix,
    odds_ratio: float,
    target_arl: float,
    simulations: int = 4000,
    seed: int = 0,
    tolerance: float = 0.02,
) -> RunLength:
    """The limit h whose simulated in-control ARL is ``target_arl`` windows (within ``tolerance``).

    ln ARL grows almost linearly in h with slope close to 1 (W is a log-likelihood ratio, so
    E_0[exp(W)] = 1); a secant search on ln ARL(h) with common random numbers converges in a few
    evaluations.
    """
    if not target_arl > 1:
        raise ValueError("the target run length must exceed one window")
    goal = math.log(target_arl)
    h = max(0.5, goal - 1.0)
    first = in_control_arl(mix, odds_ratio, h, simulations, seed)
    previous = (h, math.log(first.arl))
    best = first
    h = max(H_MIN, h + goal - previous[1])
    for _ in range(12):
        current = in_control_arl(mix, odds_ratio, h, simulations, seed)
        value = math.log(current.arl) if math.isfinite(current.arl) else goal + 10.0
        if abs(value - goal) < abs(math.log(best.arl) - goal):
            best = current
        if abs(value - goal) < tolerance or (h <= H_MIN and value >= goal):
            # At the floor the run length already exceeds the target: with many predictions per
            # window the in-control sum of W is so negative that any small h suffices.
            return current
        slope = (value - previous[1]) / (h - previous[0]) if h != previous[0] else 1.0
        slope = min(max(slope, 0.3), 3.0)
        previous = (h, value)
        h = max(H_MIN, h + (goal - value) / slope)
    return best


def delay_distribution(
    mix: CaseMix,
    odds_ratio: float,
    h: float,
    true_odds_ratio: float,
    simulations: int = 4000,
    seed: int = 0,
    start: float = 0.0,
) -> FloatArray:
    """Run lengths (windows) to the first alarm when the true odds are ``true_odds_ratio`` x.

    With ``true_odds_ratio`` = 1 these are in-control run lengths simulated directly (only
    practical for small ARLs: tests use it to check :func:`in_control_arl`).
    """
    sim = _Simulator(mix, odds_ratio, seed)
    p = true_odds_ratio * mix.p / (1.0 - mix.p + true_odds_ratio * mix.p)
    rng = np.random.default_rng([seed, 2])
    state = np.full(simulations, max(start, 0.0))
    length = np.zeros(simulations)
    active = np.arange(simulations)
    for _ in range(MAX_STEPS):
        if active.size == 0:
            break
        state[active] = np.maximum(0.0, state[active] + sim.increments(rng, active.size, p))
        length[active] += 1
        active = active[state[active] <= h]
    length[active] = np.inf
    return length
