"""Metrics from score cubes: pure functions from binned counts to estimates with intervals.

No I/O, no database, no web (docs/methods.md sections 2 and 4).
"""

from steward.metrics._counts import UndefinedMetricWarning
from steward.metrics.types import Estimate

__all__ = ["Estimate", "UndefinedMetricWarning"]
