"""Client round-trip timing and percentile summaries shared by the latency benchmarks."""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import httpx


def timed(
    client: httpx.Client, method: str, path: str, expect: int | None = None, **kw: Any
) -> float:
    """Milliseconds one request takes, client side; an error answer (or any other status than
    ``expect``) stops the benchmark."""
    started = time.perf_counter()
    response = client.request(method, path, **kw)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code >= 400 or expect not in (None, response.status_code):
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:200]}")
    return elapsed


def summary(samples: list[float]) -> dict[str, float]:
    """Count, median, nearest-rank 95th percentile and maximum of ``samples`` (milliseconds)."""
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)], 1),
        "max_ms": round(ordered[-1], 1),
    }
