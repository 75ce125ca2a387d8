"""The value types every metric returns."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """A point estimate with an optional confidence interval (``nan`` when undefined)."""

    value: float
    ci_low: float | None = None
    ci_high: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        """JSON-ready form; ``nan`` and infinities become ``None``."""
        return {
            "value": finite_or_none(self.value),
            "ci_low": finite_or_none(self.ci_low),
            "ci_high": finite_or_none(self.ci_high),
        }


def finite_or_none(x: float | None) -> float | None:
    """``x`` as a float, or ``None`` when it is missing, ``nan`` or infinite (JSON has neither)."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)
