"""Window cell tables keep free space in each page (PostgreSQL fillfactor 50)

Every ingested batch adds its deltas to cells already stored: with free space in the page an
update stays on it (a heap-only tuple) instead of adding an entry to the seven-column primary
key index, which roughly halves the cost of merging a batch's cell deltas.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-22 19:25:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CELL_TABLES = (
    "surveillance_score_cells",
    "surveillance_feature_cells",
    "surveillance_feedback_cells",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in CELL_TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in CELL_TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
