"""The monitoring benchmark's data layout, shared by every tool's task (no tool imports here)."""

from __future__ import annotations

import os

TIME, SCORE, LABEL = "ts", "risk_score", "deteriorated"
FEATURES = tuple(f"f{i}" for i in range(1, 10))
SHIFTED = ("f8", "f9")
UNSHIFTED = tuple(f for f in FEATURES if f not in SHIFTED)
SPLIT = "2025-01-01"  # reference: the year before; analysis: 12 monthly chunks after
THRESHOLD = 0.2

# No usage telemetry from the competitors (there is no network here anyway).
os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")


def emit(**values: object) -> None:
    """Write the full results to the file named by the second argument (measure.py keeps only
    the tail of stdout) and print the compute time."""
    import json
    import sys

    with open(sys.argv[2], "w", encoding="utf-8") as out:
        json.dump(values, out, default=float)
    print(json.dumps({"compute_s": values["compute_s"]}))
