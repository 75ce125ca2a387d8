"""The paired bootstrap of a 2-D comparator cube: each row keeps both its scores when redrawn.

Replicates of ``counts[bin_score, bin_comparator, label]``, drawn as in
:mod:`steward.metrics.bootstrap`, for differences between the score and the comparator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np
from numpy.typing import ArrayLike

from steward.cube.model import PairedMargin
from steward.metrics.bootstrap import (
    DEFAULT_MAX_BYTES,
    FINAL_REPLICATES,
    FloatArray,
    ResampleMethod,
    _check_method,
    _check_replicates,
    _chunk_size,
    _collect,
    _draw,
    _estimates,
    _scalars,
    _validated_counts,
)
from steward.metrics.types import Estimate

PairedStatistic = Callable[[FloatArray], Mapping[str, ArrayLike]]


def paired_resample(
    paired: PairedMargin,
    n_replicates: int,
    rng: np.random.Generator | int | None = None,
    *,
    method: ResampleMethod = "stratified",
) -> FloatArray:
    """Bootstrap replicates of a 2-D comparator cube's counts (the paired bootstrap).

    ``"stratified"``: per label, the rows are redrawn with replacement over the flattened
    ``(bin_score, bin_comparator)`` cells, multinomially with fixed label totals.
    ``"poisson"``: Poisson(n) per cell. Either way each row keeps both of its scores, so the
    correlation between score and comparator is preserved. As for :func:`resample`, prefer
    ``"poisson"`` for statistics that move with prevalence when the case mix should vary.

    Parameters
    ----------
    paired : PairedMargin
        The 2-D cube; ``counts[bin_score, bin_comparator, label]`` must hold integers.
    n_replicates : int
        Number of replicates.
    rng : numpy.random.Generator or int, optional
        Source of randomness, or a seed.
    method : {"stratified", "poisson"}, default="stratified"
        Resampling scheme.

    Returns
    -------
    ndarray of shape (n_replicates, *paired.counts.shape)
        Dense: a 257 x 257 cube takes 1.6 MB per replicate, so 1,000 replicates take 1.6 GB.
        Use :func:`iter_paired_resamples` or :func:`paired_bootstrap` to bound memory.
    """
    return np.concatenate(
        list(iter_paired_resamples(paired, n_replicates, rng, method=method, chunk=n_replicates)),
        axis=0,
    )


def iter_paired_resamples(
    paired: PairedMargin,
    n_replicates: int,
    rng: np.random.Generator | int | None = None,
    *,
    method: ResampleMethod = "stratified",
    chunk: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Iterator[FloatArray]:
    """Replicates of :func:`paired_resample` in memory-bounded chunks (same draws)."""
    counts = np.asarray(paired.counts, dtype=np.float64)
    _validated_counts(counts[..., None])
    _check_method(method)
    _check_replicates(n_replicates)
    size = _chunk_size(chunk, counts.nbytes, max_bytes)
    return _paired_chunks(counts, method, np.random.default_rng(rng), n_replicates, size)


def _paired_chunks(
    counts: FloatArray,
    method: ResampleMethod,
    generator: np.random.Generator,
    n_replicates: int,
    size: int,
) -> Iterator[FloatArray]:
    shape = counts.shape
    flat = counts.reshape(-1, shape[-1])
    # Only occupied cells can be drawn: multinomials over them are much cheaper than over
    # every cell of a sparse 2-D cube.
    occupied = np.flatnonzero(flat.sum(axis=-1) > 0)
    compact = flat[occupied]
    for start in range(0, n_replicates, size):
        count = min(size, n_replicates - start)
        draws = _draw(compact, method, generator, count)
        out = np.zeros((count, *flat.shape), dtype=np.float64)
        out[:, occupied, :] = draws
        yield out.reshape(count, *shape)


def paired_bootstrap(
    paired: PairedMargin,
    statistic: PairedStatistic,
    n_replicates: int = FINAL_REPLICATES,
    seed: int | np.random.Generator = 0,
    *,
    method: ResampleMethod = "stratified",
    alpha: float = 0.05,
    chunk: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> dict[str, Estimate]:
    """Paired bootstrap intervals for statistics of the 2-D comparator cube.

    ``statistic`` maps counts of shape ``(..., bin_score, bin_comparator, label)`` to named
    arrays with one value per leading element, e.g. the difference in net benefit between the
    score and the comparator at pre-specified thresholds. Replicates come from
    :func:`iter_paired_resamples`.
    """
    point = _scalars(statistic(np.asarray(paired.counts, dtype=np.float64)), ())
    chunks: dict[str, list[FloatArray]] = {name: [] for name in point}
    for replicates in iter_paired_resamples(
        paired,
        n_replicates,
        np.random.default_rng(seed),
        method=method,
        chunk=chunk,
        max_bytes=max_bytes,
    ):
        _collect(chunks, statistic(replicates), replicates.shape[:1])
    return _estimates(point, chunks, alpha)
