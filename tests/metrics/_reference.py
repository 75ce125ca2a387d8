"""Row-level reference: builds the ``LevelCounts`` a cube would hold for given prediction rows.

Independent of any SQL engine: bins with ``steward.cube.assign_bins`` and accumulates every
statistic with ``np.add.at``, so metric tests can compare cube metrics with row-level libraries.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from steward.cube import NEGATIVE, POSITIVE, STATS, UNLABELLED, LevelCounts, assign_bins

#: Scores are clipped to [LOG_CLIP, 1 - LOG_CLIP] before log p, log(1 - p) and logit p are taken.
LOG_CLIP = 1e-15


def label_codes(labels: ArrayLike) -> NDArray[np.intp]:
    """Label-axis index of each row: 0 negative, 1 positive, 2 unlabelled (``nan`` or ``None``)."""
    y = np.asarray(labels, dtype=np.float64)
    codes = np.full(y.shape, UNLABELLED, dtype=np.intp)
    codes[y == 0.0] = NEGATIVE
    codes[y == 1.0] = POSITIVE
    known = ~np.isnan(y)
    if np.any(known & (y != 0.0) & (y != 1.0)):
        raise ValueError("labels must be 0, 1 or nan")
    return codes


def row_stats(scores: ArrayLike) -> NDArray[np.float64]:
    """Per-row statistics in ``STATS`` order: shape ``(n_rows, len(STATS))``."""
    p = np.asarray(scores, dtype=np.float64)
    q = np.clip(p, LOG_CLIP, 1.0 - LOG_CLIP)
    z = np.log(q) - np.log1p(-q)
    columns = {
        "n": np.ones_like(p),
        "sum_p": p,
        "sum_p2": p * p,
        "sum_logp": np.log(q),
        "sum_log1mp": np.log1p(-q),
        "sum_z": z,
        "sum_z2": z * z,
        "sum_pz": p * z,
    }
    return np.stack([columns[name] for name in STATS], axis=-1)


def level_counts(
    scores: ArrayLike,
    labels: ArrayLike,
    edges: NDArray[np.float64],
    weights: ArrayLike | None = None,
) -> LevelCounts:
    """The ``LevelCounts`` of prediction rows, optionally weighted.

    Parameters
    ----------
    scores : array-like of shape (n_rows,)
        Risk scores in [0, 1].
    labels : array-like of shape (n_rows,)
        0, 1, or ``nan`` for rows whose outcome is unknown.
    edges : ndarray
        Bin edges, as produced by ``steward.cube.edges_with_thresholds``.
    weights : array-like of shape (..., n_rows), optional
        Row weights; leading axes become batch axes of the result (e.g. bootstrap replicates).
    """
    p = np.asarray(scores, dtype=np.float64)
    bins = assign_bins(p, edges)
    codes = label_codes(labels)
    per_row = row_stats(p)
    w = np.ones(p.shape) if weights is None else np.asarray(weights, dtype=np.float64)
    batch_shape = w.shape[:-1]
    stats = np.zeros((*batch_shape, edges.size - 1, 3, len(STATS)), dtype=np.float64)
    flat = stats.reshape(-1, *stats.shape[-3:])
    for i, row_weights in enumerate(w.reshape(-1, p.size)):
        np.add.at(flat[i], (bins, codes), per_row * row_weights[:, None])
    return LevelCounts(edges, flat.reshape(stats.shape))
