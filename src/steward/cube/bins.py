"""Bin edges for score cubes, and the reference bin assignment every engine must reproduce.

A bin ``b`` holds scores in ``[edges[b], edges[b + 1])``; the last bin also holds ``edges[-1]``.
Every requested threshold is an edge, so "score >= t" is a union of whole bins and threshold
metrics computed from the cube are exact.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike, NDArray

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
