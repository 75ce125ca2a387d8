"""Counts per threshold from a cube: the one routine every curve and threshold metric builds on.

Also owns input validation of ``LevelCounts`` and the warning raised for undefined metrics.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steward.cube import NEGATIVE, POSITIVE, STATS, LevelCounts

FloatArray = NDArray[np.float64]


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined for this input (e.g. no positives) and was returned as ``nan``."""


class EdgeCounts(NamedTuple):
    """Cumulative counts of labelled rows flagged by "score >= threshold", thresholds descending.

    Entry 0 is the threshold ``+inf`` (nothing flagged); entry ``i >= 1`` is the lower edge of bin
    ``n_bins - i``. Arrays have shape ``(..., n_bins + 1)``; ``thresholds`` has shape
    ``(n_bins + 1,)``.
    """

    fps: FloatArray
    tps: FloatArray
    thresholds: FloatArray


def check_counts(counts: LevelCounts) -> None:
    """Raise ``ValueError`` unless ``counts`` is a well-formed ``LevelCounts``.

    Checked once by every public metric; private helpers trust their inputs. The check of one
    ``LevelCounts`` is remembered, so metrics sharing counts check them once.
    """
    if isinstance(counts, LevelCounts):
        counts.derived("checked", lambda: _check_counts(counts))
        return
    _check_counts(counts)


def _check_counts(counts: LevelCounts) -> bool:
    if not isinstance(counts, LevelCounts):
        raise TypeError(f"expected LevelCounts, got {type(counts).__name__}")
    edges = np.asarray(counts.edges)
    if edges.ndim != 1 or edges.size < 2:
        raise ValueError("edges must be a 1-D array of at least two bin edges")
    if not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise ValueError("edges must be finite and strictly increasing")
    stats = np.asarray(counts.stats)
    n_bins = edges.size - 1
    if stats.ndim < 3 or stats.shape[-3] != n_bins or stats.shape[-2] != 3 or stats.shape[-1] < 1:
        raise ValueError(
            f"stats has shape {stats.shape}; expected (..., {n_bins}, 3, {len(STATS)}): "
            "(batch..., bin, label, stat)"
        )
    n = stats[..., (NEGATIVE, POSITIVE), 0]
    if not np.all(np.isfinite(n)) or np.any(n < 0):
        raise ValueError("row counts must be finite and non-negative")
    return True


def check_unbatched(counts: LevelCounts, batched_alternative: str) -> None:
    """Raise ``ValueError`` if ``counts`` has batch axes (scalar results need one group of rows)."""
    if counts.stats.ndim != 3:
        raise ValueError(
            f"counts have batch axes {tuple(counts.stats.shape[:-3])}; "
            f"use {batched_alternative} for batched counts"
        )


def label_counts(counts: LevelCounts) -> tuple[FloatArray, FloatArray]:
    """Negatives and positives per bin as float64, shape ``(..., n_bins)``; unlabelled ignored."""
    stats = np.asarray(counts.stats, dtype=np.float64)
    return stats[..., NEGATIVE, 0], stats[..., POSITIVE, 0]


def counts_at_edges(counts: LevelCounts) -> EdgeCounts:
    """False and true positives of "score >= edge" at every lower bin edge, descending.

    The binned analogue of scikit-learn's ``_binary_clf_curve``: bins are visited from the
    highest score down and labelled rows accumulated with float64 cumulative sums, so entry ``i``
    counts the rows of the top ``i`` bins. A bin holds ``[edges[b], edges[b + 1])``, hence "score
    >= edges[b]" is exactly the union of bins ``b..n_bins - 1``.

    Parameters
    ----------
    counts : LevelCounts
        Binned statistics with optional leading batch axes (trusted; validate before calling).

    Returns
    -------
    EdgeCounts
        ``fps`` and ``tps`` of shape ``(..., n_bins + 1)`` and ``thresholds`` of shape
        ``(n_bins + 1,)`` starting at ``+inf``; read-only, because they are computed once per
        ``LevelCounts`` and shared by every metric of those counts (AUROC, average precision,
        the threshold metrics of each threshold).

    Examples
    --------
    >>> import numpy as np
    >>> stats = np.zeros((2, 3, 1))
    >>> stats[0, 0, 0], stats[1, 0, 0], stats[1, 1, 0] = 3.0, 1.0, 2.0
    >>> fps, tps, thresholds = counts_at_edges(LevelCounts(np.array([0.0, 0.5, 1.0]), stats))
    >>> fps.tolist(), tps.tolist(), thresholds.tolist()
    ([0.0, 1.0, 4.0], [0.0, 2.0, 2.0], [inf, 0.5, 0.0])
    """
    return counts.derived("counts_at_edges", lambda: _counts_at_edges(counts))


def _counts_at_edges(counts: LevelCounts) -> EdgeCounts:
    neg, pos = label_counts(counts)
    fps = _cumsum_descending(neg)
    tps = _cumsum_descending(pos)
    thresholds = np.concatenate([[np.inf], np.asarray(counts.edges, dtype=np.float64)[-2::-1]])
    for shared in (fps, tps, thresholds):
        shared.setflags(write=False)
    return EdgeCounts(fps, tps, thresholds)


def _cumsum_descending(per_bin: FloatArray) -> FloatArray:
    reversed_bins = per_bin[..., ::-1]
    out = np.zeros((*per_bin.shape[:-1], per_bin.shape[-1] + 1), dtype=np.float64)
    np.cumsum(reversed_bins, axis=-1, dtype=np.float64, out=out[..., 1:])
    return out


def edge_position(edges: FloatArray, threshold: float) -> int:
    """Position in ``EdgeCounts`` of the lower bin edge equal to ``threshold``.

    Raises ``ValueError`` unless ``threshold`` is exactly the lower edge of a bin: only then is
    "score >= threshold" a union of whole bins, and the counts exact.
    """
    t = float(threshold)
    n_bins = edges.size - 1
    k = int(np.searchsorted(edges, t, side="left"))
    if k >= n_bins or edges[k] != t:
        raise ValueError(
            f"threshold {t!r} is not the lower edge of a bin of these counts (edges run from "
            f"{edges[0]!r} to {edges[-1]!r} in {n_bins} bins); operating thresholds must be "
            "inserted as bin edges when the cube is built (steward.cube.edges_with_thresholds)"
        )
    return n_bins - k


def edge_positions(edges: FloatArray, thresholds: ArrayLike) -> NDArray[np.intp]:
    """Vectorised ``edge_position`` for a 1-D array of thresholds."""
    t = np.asarray(thresholds, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError("thresholds must be a 1-D array")
    return np.array([edge_position(edges, float(x)) for x in t], dtype=np.intp)


def warn_undefined(message: str, stacklevel: int = 3) -> None:
    """Issue ``UndefinedMetricWarning`` (attributed ``stacklevel`` frames up from the caller)."""
    warnings.warn(message, UndefinedMetricWarning, stacklevel=stacklevel)


def ratio(numerator: FloatArray, denominator: FloatArray, what: str) -> FloatArray:
    """``numerator / denominator``, ``nan`` (with one warning) where the denominator is zero."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    empty = den == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(empty, np.nan, num / np.where(empty, 1.0, den))
    if np.any(empty):
        warn_undefined(f"{what} is undefined (zero denominator); returning nan")
    return np.asarray(out, dtype=np.float64)
