"""Multiplicity control of control charts: widen each of K charts so the family keeps its ARL.

A chart whose per-window false-alarm probability is a (two-sided, normal limits at +/- k sigma)
has an in-control run length of about 1/a windows. Giving each of K charts the probability
a / K multiplies each chart's run length by K, so the family of K charts keeps about the run
length of one chart with the base limits (docs/methods.md section 3: ARL scaling).
"""

from __future__ import annotations

from scipy.special import ndtr, ndtri


def widened_sigma(sigma: float, charts: int) -> float:
    """Limit width (in SDs) for each of ``charts`` charts, from the single chart's ``sigma``.

    Examples
    --------
    >>> round(widened_sigma(3.0, 1), 6), round(widened_sigma(3.0, 10), 3)
    (3.0, 3.586)
    """
    if charts < 1:
        raise ValueError("at least one chart")
    if charts == 1:
        return sigma
    tail = float(ndtr(-sigma)) / charts
    return float(-ndtri(tail))
