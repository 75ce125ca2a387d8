"""Window score cells use 100 uniform score bins (plus the thresholds) instead of 1,000

Monitors read every daily window of a deployment's history on each run (the charts restart
from the first window); at 1,000 bins two years of daily cubes for eight subgroup levels are
about 1 GB, at 100 bins about 100 MB, and the calibration CUSUM's approximation error stays
below 1e-7 per prediction (docs/surveillance.md). Every 100-bin edge is a 1,000-bin edge, so
stored cells are merged exactly: each old bin goes to the new bin holding its midpoint.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-22 22:50:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_BINS = 1_000
NEW_BINS = 100
STATS = ("n", "sum_p", "sum_p2", "sum_logp", "sum_log1mp", "sum_z", "sum_z2", "sum_pz")
KEYS = ("deployment_id", "grain", "window_start", "dim", "level")


def _edges(n_bins: int, thresholds: Sequence[float]) -> Any:
    uniform = np.arange(n_bins + 1, dtype=np.float64) / float(n_bins)
    return np.unique(np.concatenate([uniform, np.asarray(thresholds, dtype=np.float64)]))


def _bin_map(thresholds: Sequence[float]) -> list[tuple[int, int]]:
    """(old bin, new bin) for every old bin: the new bin holding the old bin's midpoint."""
    old, new = _edges(OLD_BINS, thresholds), _edges(NEW_BINS, thresholds)
    middles = (old[:-1] + old[1:]) / 2.0
    targets = np.searchsorted(new, middles, side="right") - 1
    return list(enumerate(targets.tolist()))


def upgrade() -> None:
    bind = op.get_bind()
    configs = bind.execute(sa.text("SELECT deployment_id, thresholds FROM monitoring_configs"))
    maps = [(row[0], row[1]) for row in configs]
    if not maps:
        return
    op.execute(
        "CREATE TEMPORARY TABLE rebin (deployment_id VARCHAR(36), old_bin INTEGER, new_bin INTEGER)"
    )
    sums = ", ".join(f"SUM(c.{s}) AS {s}" for s in STATS)
    keys = ", ".join(f"c.{k}" for k in KEYS)
    for deployment_id, thresholds in maps:
        if isinstance(thresholds, str):
            thresholds = json.loads(thresholds)
        bind.execute(
            sa.text("INSERT INTO rebin VALUES (:d, :old, :new)"),
            [{"d": str(deployment_id), "old": o, "new": n} for o, n in _bin_map(thresholds)],
        )
    # deployment ids compare as text on both databases (SQLite stores them as 32 hex digits)
    same = (
        "CAST(c.deployment_id AS VARCHAR(36)) = r.deployment_id"
        if bind.dialect.name == "postgresql"
        else "c.deployment_id = REPLACE(r.deployment_id, '-', '')"
    )
    op.execute(
        f"CREATE TEMPORARY TABLE rebinned AS SELECT {keys}, r.new_bin AS bin, c.label, {sums} "
        f"FROM surveillance_score_cells AS c JOIN rebin AS r ON {same} AND r.old_bin = c.bin "
        f"GROUP BY {keys}, r.new_bin, c.label"
    )
    op.execute("DELETE FROM surveillance_score_cells")
    columns = ", ".join((*KEYS, "bin", "label", *STATS))
    op.execute(f"INSERT INTO surveillance_score_cells ({columns}) SELECT {columns} FROM rebinned")
    op.execute("DROP TABLE rebinned")
    op.execute("DROP TABLE rebin")


def downgrade() -> None:
    stored = op.get_bind().execute(sa.text("SELECT count(*) FROM surveillance_score_cells"))
    if stored.scalar():
        raise RuntimeError(
            "window score cells at 100 bins cannot be split back into 1,000 bins; "
            "empty surveillance_score_cells (and re-ingest) before downgrading past 0018"
        )
