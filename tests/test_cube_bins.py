"""Bin edges and the reference bin assignment."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from steward.cube import assign_bins, edges_with_thresholds, logit_edges


def test_thresholds_become_edges() -> None:
    edges = edges_with_thresholds(100, [0.29, 0.125])
    assert 0.29 in edges
    assert 0.125 in edges
    assert edges[0] == 0.0
    assert edges[-1] == 1.0
    assert np.all(np.diff(edges) > 0)


def test_score_on_an_edge_falls_in_the_bin_above_it() -> None:
    # 0.29 * 100 is 28.999999999999996 in double precision: binning must not use it.
    edges = edges_with_thresholds(100, [])
    assert assign_bins([0.29], edges)[0] == 29
    assert assign_bins([1.0], edges)[0] == 99
    assert assign_bins([0.0], edges)[0] == 0


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50), st.floats(0.001, 0.999))
def test_bins_contain_their_scores(scores: list[float], threshold: float) -> None:
    edges = edges_with_thresholds(37, [threshold])
    bins = assign_bins(scores, edges)
    p = np.asarray(scores)
    assert np.all(edges[bins] <= p)
    inside = p < 1.0
    assert np.all(p[inside] < edges[bins + 1][inside])
    # the threshold rule "score >= t" is a union of whole bins
    t_bin = int(np.searchsorted(edges, threshold))
    assert np.array_equal(bins >= t_bin, p >= threshold)


def test_logit_edges_are_sorted_probabilities_with_thresholds() -> None:
    edges = logit_edges(256, [0.2])
    assert edges[0] == 0.0
    assert edges[-1] == 1.0
    assert 0.2 in edges
    assert np.all(np.diff(edges) > 0)
    assert edges.size <= 256 + 2
