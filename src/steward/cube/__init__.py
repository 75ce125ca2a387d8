"""The score cube: one aggregation pass reduces prediction rows to small, mergeable tables.

See docs/methods.md section 1. ``bins`` owns bin edges and bin assignment, ``model`` owns the
in-memory cube (margins, merge, coarsening), ``stream`` owns the numpy pass over Arrow batches
and ``build`` the entry point and the DuckDB aggregation pass.

The names below are loaded on first use, so that importing a light submodule (the score scales
of ``sources``, say, for the command line's options) does not import numpy, Arrow and the passes.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "bins": (
        "COARSE_BINS",
        "FINE_BINS",
        "LOGIT_PAIR_BINS",
        "assign_bins",
        "edges_with_thresholds",
        "logit_edges",
    ),
    "build": ("CubeRequest", "build_cube"),
    "model": (
        "LABEL_AXIS",
        "NEGATIVE",
        "POSITIVE",
        "STATS",
        "UNLABELLED",
        "Cube",
        "LevelCounts",
        "Margin",
        "PairedMargin",
        "ReplicateMargin",
    ),
    "sources": ("ColumnMap", "DataLike", "DataSource", "ScoreScale", "open_source"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

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


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"steward.cube.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULE_OF])
