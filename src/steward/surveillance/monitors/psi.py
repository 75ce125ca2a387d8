"""Score and input drift: the population stability index over reference-decile bins.

PSI = sum_b (q_b - r_b) ln(q_b / r_b), with r the reference shares and q the window's shares
(docs/methods.md section 3). Judged only on windows with at least ``min_n`` rows: under no
drift E[PSI] ~ (B - 1)(1/n_ref + 1/n_cur), so a small window exceeds 0.1 by chance alone.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from steward.cube.model import LevelCounts
from steward.surveillance.monitors.config import DriftConfig
from steward.surveillance.monitors.findings import Finding, Status, fmt
from steward.surveillance.monitors.inputs import (
    OVERALL,
    FeatureHistogram,
    FloatArray,
    Reference,
    Subject,
    WindowData,
    counts_for,
)

MONITOR = "drift"


def psi(reference: ArrayLike, current: ArrayLike, *, epsilon: float = 1e-4) -> float:
    """Population stability index of two count (or share) vectors over the same bins.

    Shares are floored at ``epsilon`` (and renormalised) so that a bin empty on one side adds a
    large but finite term; this is the convention of NannyML and Evidently.

    Examples
    --------
    >>> round(psi([50, 50], [40, 60]), 6)
    0.040547
    """
    r = _shares(np.asarray(reference, dtype=np.float64), epsilon)
    q = _shares(np.asarray(current, dtype=np.float64), epsilon)
    if r.shape != q.shape:
        raise ValueError(f"reference has {r.size} bins, current {q.size}")
    return float(np.sum((q - r) * np.log(q / r)))


def _shares(counts: FloatArray, epsilon: float) -> FloatArray:
    total = counts.sum()
    if counts.ndim != 1 or not total > 0:
        raise ValueError("PSI needs a 1-D vector of counts with a positive total")
    shares = np.maximum(counts / total, epsilon)
    return np.asarray(shares / shares.sum(), dtype=np.float64)


def expected_psi(n_bins: int, n_reference: float, n_current: float) -> float:
    """Approximate mean PSI under no drift: (B - 1)(1/n_ref + 1/n_cur) (chi-square moments)."""
    return (n_bins - 1) * (1.0 / n_reference + 1.0 / n_current)


def decile_edges(values: ArrayLike, n_bins: int = 10) -> FloatArray:
    """Reference quantile edges for a numeric feature, outermost ``-inf`` and ``+inf``.

    Ties collapse duplicate edges, so a feature with few distinct values gets fewer bins.
    Missing values (``nan``) are ignored; they are counted separately.

    Examples
    --------
    >>> decile_edges(range(100), 4).tolist()
    [-inf, 24.75, 49.5, 74.25, inf]
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    if x.size == 0:
        raise ValueError("no values to take quantiles of")
    inner = np.unique(np.quantile(x, np.arange(1, n_bins) / n_bins))
    return np.concatenate([[-np.inf], inner, [np.inf]])


def histogram(values: ArrayLike, edges: FloatArray) -> FeatureHistogram:
    """Counts of ``values`` in ``edges`` (left-closed bins), missing values counted apart."""
    x = np.asarray(values, dtype=np.float64)
    missing = np.isnan(x)
    index = np.searchsorted(edges, x[~missing], side="right") - 1
    counts = np.bincount(np.clip(index, 0, edges.size - 2), minlength=edges.size - 1)
    return FeatureHistogram(counts.astype(np.float64), edges=edges, missing=float(missing.sum()))


def score_decile_edges(reference: LevelCounts, n_bins: int = 10) -> FloatArray:
    """Edges of about ``n_bins`` equal-count groups of the reference scores, snapped to cube edges.

    Every row (labelled or not) counts. The edges are a subset of the cube's, so coarsening
    window cubes to them is exact.
    """
    rows = np.asarray(reference.stats[..., 0], dtype=np.float64).sum(axis=-1)
    cumulative = np.cumsum(rows)
    if cumulative[-1] <= 0:
        raise ValueError("the reference period has no predictions")
    targets = cumulative[-1] * np.arange(1, n_bins) / n_bins
    # Bin b ends at edges[b + 1]: the first bin whose cumulative count reaches each target.
    cut = np.searchsorted(cumulative, targets, side="left") + 1
    cut = cut[cut < reference.edges.size - 1]
    inner = reference.edges[np.unique(cut)]
    return np.unique(np.concatenate([reference.edges[:1], inner, reference.edges[-1:]]))


def _status(value: float, n: float, config: DriftConfig) -> Status:
    if n < config.min_n:
        return "insufficient"
    if value >= config.alarm:
        return "alarm"
    return "review" if value >= config.review else "ok"


def _finding(
    metric: str,
    subject: Subject,
    data: WindowData,
    value: float,
    n: float,
    n_reference: float,
    n_bins: int,
    config: DriftConfig,
) -> Finding:
    status = _status(value, n, config)
    what = "score" if metric == "psi:score" else f"input {metric.removeprefix('psi:')}"
    if status == "insufficient":
        message = f"{what}: {n:.0f} rows, fewer than the {config.min_n} PSI needs; not judged"
    else:
        verdict = {"ok": "stable", "review": "shifted: review", "alarm": "shifted: investigate"}
        message = f"{what} PSI {fmt(value)} vs reference ({verdict[status]})"
    return Finding(
        monitor=MONITOR,
        metric=metric,
        subject=subject,
        window=data.window,
        value=value,
        status=status,
        message=message,
        upper=config.review,
        n=n,
        details={
            "alarm": config.alarm,
            "bins": float(n_bins),
            "expected_under_no_drift": expected_psi(n_bins, n_reference, max(n, 1.0)),
        },
    )


def score_drift(
    data: WindowData,
    reference: Reference,
    config: DriftConfig,
    subject: Subject = OVERALL,
) -> Finding | None:
    """PSI of the score distribution of ``subject`` (all rows, labelled or not) vs the reference.

    ``None`` when neither the window nor the reference has rows of ``subject``.
    """
    ref = counts_for(reference.cube, subject)
    cur = counts_for(data.cube, subject)
    if ref is None or cur is None:
        return None
    ref_rows = ref.stats[..., 0].sum(axis=-1)
    if not ref_rows.sum() > 0:
        return None
    edges = score_decile_edges(ref, config.bins)
    if not np.array_equal(ref.edges, cur.edges):
        raise ValueError("window and reference cubes must share bin edges")
    r = ref.coarsen(edges).stats[..., 0].sum(axis=-1)
    q = cur.coarsen(edges).stats[..., 0].sum(axis=-1)
    n = float(q.sum())
    value = psi(r, q, epsilon=config.epsilon) if n > 0 else math.nan
    return _finding("psi:score", subject, data, value, n, float(r.sum()), edges.size - 1, config)


def input_drift(data: WindowData, reference: Reference, config: DriftConfig) -> list[Finding]:
    """PSI of each input feature present in both the window and the reference (missing as a bin)."""
    findings = []
    for name in sorted(set(data.features) & set(reference.features)):
        ref, cur = reference.features[name], data.features[name]
        if not ref.same_bins(cur):
            raise ValueError(f"feature {name!r}: window and reference use different bins")
        r = np.append(ref.counts, ref.missing)
        q = np.append(cur.counts, cur.missing)
        if r[-1] == 0 and q[-1] == 0:
            r, q = r[:-1], q[:-1]
        if not r.sum() > 0:
            continue
        value = psi(r, q, epsilon=config.epsilon) if q.sum() > 0 else math.nan
        findings.append(_finding(f"psi:{name}", OVERALL, data, value, cur.n, ref.n, r.size, config))
    return findings
