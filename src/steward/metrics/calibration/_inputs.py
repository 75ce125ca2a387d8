"""Validation of calibration inputs and the labelled per-bin sums every calibration metric uses."""

from __future__ import annotations

import os
import sys
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from steward.cube import NEGATIVE, POSITIVE, STATS, LevelCounts
from steward.metrics._counts import check_counts, check_unbatched, warn_undefined
from steward.metrics.special import ndtri

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_N, _SUM_P, _SUM_P2, _SUM_LOGP, _SUM_LOG1MP, _SUM_Z, _SUM_Z2 = (
    STATS.index(name)
    for name in ("n", "sum_p", "sum_p2", "sum_logp", "sum_log1mp", "sum_z", "sum_z2")
)


class LabelledBins(NamedTuple):
    """Per-bin sums over labelled rows, each of shape ``(..., n_bins)`` in float64."""

    neg: FloatArray
    """Rows with outcome 0."""
    pos: FloatArray
    """Rows with outcome 1."""
    sum_p: FloatArray
    """Sum of scores over all labelled rows."""
    sum_p_pos: FloatArray
    """Sum of scores over rows with outcome 1."""
    sum_p2: FloatArray
    """Sum of squared scores over all labelled rows."""
    sum_logp_pos: FloatArray
    """Sum of log p over rows with outcome 1."""
    sum_log1mp_neg: FloatArray
    """Sum of log(1 - p) over rows with outcome 0."""
    sum_z: FloatArray
    """Sum of logit p over all labelled rows."""
    sum_z_pos: FloatArray
    """Sum of logit p over rows with outcome 1."""
    sum_z2: FloatArray
    """Sum of squared logit p over all labelled rows."""

    @property
    def rows(self) -> FloatArray:
        """Labelled rows."""
        return self.neg + self.pos


def labelled_bins(counts: LevelCounts) -> LabelledBins:
    """Validate ``counts`` and return its labelled per-bin sums (unlabelled rows are ignored)."""
    check_counts(counts)
    return counts.derived("labelled_bins", lambda: _labelled_bins(counts))


def _labelled_bins(counts: LevelCounts) -> LabelledBins:
    stats = np.asarray(counts.stats, dtype=np.float64)
    if stats.shape[-1] != len(STATS):
        raise ValueError(
            f"stats has {stats.shape[-1]} statistics per cell; calibration needs all "
            f"{len(STATS)}: {', '.join(STATS)}"
        )
    neg, pos = stats[..., NEGATIVE, :], stats[..., POSITIVE, :]
    return LabelledBins(
        neg=neg[..., _N],
        pos=pos[..., _N],
        sum_p=neg[..., _SUM_P] + pos[..., _SUM_P],
        sum_p_pos=pos[..., _SUM_P],
        sum_p2=neg[..., _SUM_P2] + pos[..., _SUM_P2],
        sum_logp_pos=pos[..., _SUM_LOGP],
        sum_log1mp_neg=neg[..., _SUM_LOG1MP],
        sum_z=neg[..., _SUM_Z] + pos[..., _SUM_Z],
        sum_z_pos=pos[..., _SUM_Z],
        sum_z2=neg[..., _SUM_Z2] + pos[..., _SUM_Z2],
    )


def unbatched_bins(counts: LevelCounts, batched_alternative: str) -> LabelledBins:
    """``labelled_bins`` for functions that return one estimate (no batch axes allowed)."""
    bins = labelled_bins(counts)
    check_unbatched(counts, batched_alternative)
    return bins


def labelled_totals(counts: LevelCounts) -> LabelledBins:
    """``totals(labelled_bins(counts))``, computed once per counts."""
    return counts.derived("labelled_totals", lambda: totals(labelled_bins(counts)))


def totals(bins: LabelledBins) -> LabelledBins:
    """Sums over bins: every field gets shape ``batch_shape`` (float64 accumulation)."""
    return LabelledBins(*(np.asarray(np.sum(f, axis=-1, dtype=np.float64)) for f in bins))


def warn_where(undefined: BoolArray, reason: str) -> None:
    """One warning naming how many results are ``nan`` because ``reason``, attributed to the
    first caller outside this package."""
    count = int(np.count_nonzero(undefined))
    if count == 0:
        return
    if undefined.ndim == 0:
        message = f"{reason}; returning nan"
    else:
        message = f"{reason} in {count} of {undefined.size} replicates; returning nan for those"
    warn_undefined(message, stacklevel=_frames_in_package() + 2)


def _frames_in_package() -> int:
    """Consecutive frames, from the caller of ``warn_where`` up, that run code of this package."""
    frame = sys._getframe(2)
    depth = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
        depth += 1
    return depth


def safe_divide(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    """``numerator / denominator`` with ``nan`` where the denominator is zero (no warning)."""
    den = np.asarray(denominator, dtype=np.float64)
    zero = den == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(numerator, dtype=np.float64) / np.where(zero, 1.0, den)
    return np.where(zero, np.nan, out)


def as_result(values: FloatArray) -> float | FloatArray:
    """A Python float for unbatched input, else the array of one value per batch element."""
    array = np.asarray(values, dtype=np.float64)
    return float(array) if array.ndim == 0 else array


def normal_quantile(alpha: float) -> float:
    """Two-sided standard-normal critical value ``z_{1 - alpha/2}``, e.g. 1.95996 for 0.05."""
    check_alpha(alpha)
    return float(ndtri(1.0 - alpha / 2.0))


def check_alpha(alpha: float) -> None:
    if not (isinstance(alpha, float | int) and 0.0 < alpha < 1.0):
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
