"""Bin edges for score cubes, the reference bin assignment every engine must reproduce, and the
numpy pass's fast row binning that reproduces it.

A bin ``b`` holds scores in ``[edges[b], edges[b + 1])``; the last bin also holds ``edges[-1]``.
Every requested threshold is an edge, so "score >= t" is a union of whole bins and threshold
metrics computed from the cube are exact.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from steward.cube.sql import LogitBinning

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

#: Uniform bins of the overall margin. Binned AUROC differs from the exact AUROC by well under
#: 1e-6 at this resolution on realistic risk scores (docs/benchmarks.md).
FINE_BINS = 20_000
#: Uniform bins of subgroup and time-window margins, and of bootstrap replicates.
COARSE_BINS = 1_000
#: Bins per score in the 2-D comparator cube, uniform in logit space (docs/methods.md section 1).
LOGIT_PAIR_BINS = 256
#: Logit range covered by the comparator cube's interior edges.
LOGIT_RANGE = 12.0


def uniform_edges(n_bins: int) -> NDArray[np.float64]:
    """Return ``k / n_bins`` for ``k = 0..n_bins``, each the correctly rounded double.

    ``np.arange(n + 1) / n`` divides exact integers, so edge ``k`` equals the SQL expression
    ``k / n`` evaluated in IEEE double precision; ``np.linspace`` does not guarantee that.
    """
    return np.arange(n_bins + 1, dtype=np.float64) / float(n_bins)


def edges_with_thresholds(n_bins: int, thresholds: Iterable[float] = ()) -> NDArray[np.float64]:
    """Uniform edges on [0, 1] with every threshold inserted as an extra edge.

    Parameters
    ----------
    n_bins : int
        Number of uniform bins before thresholds are inserted.
    thresholds : iterable of float
        Operating thresholds, each in (0, 1).

    Returns
    -------
    ndarray of float64
        Sorted, unique edges starting at 0.0 and ending at 1.0.

    Examples
    --------
    >>> edges_with_thresholds(4, [0.3]).tolist()
    [0.0, 0.25, 0.3, 0.5, 0.75, 1.0]
    """
    extra = np.asarray(list(thresholds), dtype=np.float64)
    if extra.size and (np.any(extra <= 0.0) or np.any(extra >= 1.0)):
        raise ValueError("thresholds must lie strictly between 0 and 1")
    return np.unique(np.concatenate([uniform_edges(n_bins), extra]))


def logit_edges(
    n_bins: int = LOGIT_PAIR_BINS, thresholds: Iterable[float] = ()
) -> NDArray[np.float64]:
    """Edges uniform in logit space on [-LOGIT_RANGE, LOGIT_RANGE], plus 0, 1 and thresholds."""
    z = np.linspace(-LOGIT_RANGE, LOGIT_RANGE, n_bins - 1)
    interior = 1.0 / (1.0 + np.exp(-z))
    extra = np.asarray(list(thresholds), dtype=np.float64)
    return np.unique(np.concatenate([[0.0, 1.0], interior, extra]))


def assign_bins(scores: ArrayLike, edges: NDArray[np.float64]) -> NDArray[np.intp]:
    """Bin index of each score: the reference that SQL binning is tested against.

    Examples
    --------
    >>> assign_bins([0.0, 0.29, 0.3, 1.0], edges_with_thresholds(100, [0.3]))[:3].tolist()
    [0, 29, 30]
    """
    p = np.asarray(scores, dtype=np.float64)
    idx = np.searchsorted(edges, p, side="right") - 1
    return np.clip(idx, 0, edges.size - 2)


def inserted_thresholds(thresholds: Iterable[float], existing: NDArray[np.float64]) -> list[float]:
    """Thresholds that are not already among ``existing`` edges (each inserts one extra edge)."""
    present = set(existing.tolist())
    return sorted({float(t) for t in thresholds} - present)


def uniform_bins(p: FloatArray, n_bins: int, thresholds: tuple[float, ...]) -> IntArray:
    """Bins of ``p`` (in [0, 1]) among ``edges_with_thresholds(n_bins, thresholds)``.

    Equals :func:`steward.cube.bins.assign_bins` without a binary search: ``floor(p * K)`` is
    corrected on edges by comparing ``p`` with ``k / K`` and ``(k + 1) / K`` (exact doubles, as
    in ``uniform_edges``), ``p = 1`` joins the last bin, and every inserted threshold shifts the
    bins at and above it by one. The SQL pass computes the same expression.
    """
    bins = _uniform_index(p, n_bins)
    _shift_at_thresholds(bins, p, n_bins, thresholds)
    return bins


def fine_and_coarse_bins(
    p: FloatArray, fine_bins: int, coarse_bins: int, thresholds: tuple[float, ...]
) -> tuple[IntArray, IntArray]:
    """``uniform_bins`` of ``p`` at both resolutions, sharing the work when they nest.

    When ``coarse_bins`` divides ``fine_bins`` (20,000 and 1,000 by default) the coarse uniform
    bin is the fine one divided by the ratio ``r``: coarse edge ``j / K`` and fine edge
    ``j r / (r K)`` are the same double (both are the correctly rounded value of one rational),
    so the exact comparisons of :func:`uniform_bins` put every row in the same bin.
    """
    fine = _uniform_index(p, fine_bins)
    if fine_bins % coarse_bins == 0:
        coarse = fine // (fine_bins // coarse_bins)
    else:
        coarse = _uniform_index(p, coarse_bins)
    _shift_at_thresholds(fine, p, fine_bins, thresholds)
    _shift_at_thresholds(coarse, p, coarse_bins, thresholds)
    return fine, coarse


def _uniform_index(p: FloatArray, n_bins: int) -> IntArray:
    """The bin of ``p`` among ``uniform_edges(n_bins)`` (thresholds not inserted)."""
    k = p * float(n_bins)
    np.floor(k, out=k)
    bins = k.astype(np.intp)
    edge = k / n_bins
    bins -= edge > p
    k += 1.0
    np.divide(k, n_bins, out=edge)
    bins += edge <= p
    bins -= p >= 1.0
    return bins


def _shift_at_thresholds(
    bins: IntArray, p: FloatArray, n_bins: int, thresholds: tuple[float, ...]
) -> None:
    """Shift, in place, the bins at and above each threshold that is not already an edge."""
    for t in sorted({float(t) for t in thresholds} - _uniform_edge_set(n_bins)):
        bins += p >= t


@functools.cache
def _uniform_edge_set(n_bins: int) -> frozenset[float]:
    # built once per grid: a set of 20,001 edges took longer than binning a batch's rows
    return frozenset(uniform_edges(n_bins).tolist())


def logit_bins(p: FloatArray, z: FloatArray, binning: LogitBinning) -> IntArray:
    """Bins of ``p`` among ``binning.edges`` (sigmoid edges uniform in logit, plus thresholds).

    Equals :func:`steward.cube.bins.assign_bins`: the count of sigmoid edges at or below ``p`` is
    estimated from ``z``, any approximation of ``logit(p)``, and corrected by exact comparisons
    with the edges until none fails; ``p = 1`` joins the last bin, and every inserted threshold
    shifts the bins at and above it by one.
    """
    interior = binning.interior
    m = interior.size
    step = 2.0 * LOGIT_RANGE / (m - 1)
    estimate = z + LOGIT_RANGE  # the estimate is built in place: batch-sized temporaries fault
    estimate /= step
    np.floor(estimate, out=estimate)
    estimate += 1.0
    np.clip(estimate, 0.0, float(m), out=estimate)
    count = estimate.astype(np.intp)
    padded = np.concatenate([[-np.inf], interior, [np.inf]])
    _correct_counts(count, p, padded)
    for t in binning.inserted:
        count += p >= t
    return count


def _correct_counts(count: IntArray, p: FloatArray, padded: FloatArray) -> None:
    """Move each estimated ``count`` of edges at or below ``p`` until it is exact, in place.

    ``padded[count + 1]`` is the edge just above ``count`` edges, ``padded[count]`` the last one
    below. Every row is checked once; after that only the rows that moved are checked again.
    """
    up = padded[count + 1] <= p
    down = padded[count] > p
    count += up
    count -= down
    moved = np.flatnonzero(up | down)
    while moved.size:
        counts, values = count[moved], p[moved]
        up_m = padded[counts + 1] <= values
        down_m = padded[counts] > values
        count[moved] = counts + up_m - down_m
        moved = moved[up_m | down_m]
