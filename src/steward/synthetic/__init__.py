"""Realistic synthetic data sets for demonstrations, tests and benchmarks (no real patients)."""

from __future__ import annotations

from steward.synthetic.deterioration import DEMO_COLUMNS, generate, iter_chunks, write

__all__ = ["DEMO_COLUMNS", "generate", "iter_chunks", "write"]
