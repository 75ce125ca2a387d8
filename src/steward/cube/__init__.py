"""The score cube: one aggregation pass reduces prediction rows to small, mergeable tables.

See docs/methods.md section 1. ``bins`` owns bin edges and bin assignment, ``model`` owns the
in-memory cube (margins, merge, coarsening), ``stream`` owns the numpy pass over Arrow batches
and ``build`` the entry point and the DuckDB aggregation pass.
"""

from steward.cube.bins import (
    COARSE_BINS,
    FINE_BINS,
    LOGIT_PAIR_BINS,
    assign_bins,
    edges_with_thresholds,
    logit_edges,
)
from steward.cube.build import CubeRequest, build_cube
from steward.cube.model import (
    LABEL_AXIS,
    NEGATIVE,
    POSITIVE,
    STATS,
    UNLABELLED,
    Cube,
    LevelCounts,
    Margin,
    PairedMargin,
    ReplicateMargin,
)
from steward.cube.sources import ColumnMap, DataLike, DataSource, ScoreScale, open_source

__all__ = [
    "COARSE_BINS",
    "FINE_BINS",
    "LABEL_AXIS",
    "LOGIT_PAIR_BINS",
    "NEGATIVE",
    "POSITIVE",
    "STATS",
    "UNLABELLED",
    "ColumnMap",
    "Cube",
    "CubeRequest",
    "DataLike",
    "DataSource",
    "LevelCounts",
    "Margin",
    "PairedMargin",
    "ReplicateMargin",
    "ScoreScale",
    "assign_bins",
    "build_cube",
    "edges_with_thresholds",
    "logit_edges",
    "open_source",
]
