"""Loading shared by the competitor tasks: the columns a tool needs, labelled rows with a score."""

from __future__ import annotations

import json
import sys
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

SCORE = "risk_score"
LABEL = "deteriorated"
GROUPS = ("sex", "age_band", "ethnicity", "deprivation", "site")
THRESHOLDS = (0.1, 0.2)


def _labelled_table(path: str, columns: list[str]) -> Any:
    table = pq.read_table(path, columns=columns)
    keep = pc.and_(pc.is_valid(table[SCORE]), pc.is_valid(table[LABEL]))
    return table.filter(keep)


def load_arrays(path: str, columns: list[str]) -> dict[str, Any]:
    """NumPy arrays of ``columns`` for rows whose score and label are both present."""
    table = _labelled_table(path, columns)
    return {name: table[name].to_numpy() for name in columns}


def load_labelled(path: str, columns: list[str]) -> Any:
    """A pandas frame of ``columns`` for rows whose score and label are both present."""
    frame = _labelled_table(path, columns).to_pandas()
    frame[LABEL] = frame[LABEL].astype("int64")
    return frame


def report(**values: Any) -> None:
    """One JSON line on stdout: what the benchmark reads back (e.g. the AUROC)."""
    print(json.dumps(values, default=float))
    sys.stdout.flush()
