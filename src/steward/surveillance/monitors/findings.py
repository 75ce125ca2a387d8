"""The one result type of every monitor: a :class:`Finding` per monitor, subject and window."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from steward.metrics.types import finite_or_none
from steward.surveillance.monitors.inputs import Subject, Window

#: ``ok``: within limits. ``review``: worth a look (e.g. PSI >= 0.1, a point estimate past its
#: limit). ``alarm``: a control limit crossed or a multiplicity-adjusted test rejected.
#: ``insufficient``: too few rows to judge (never alerted on; shown as a gap).
Status = Literal["ok", "review", "alarm", "insufficient"]
STATUSES: tuple[Status, ...] = ("ok", "review", "alarm", "insufficient")
_SEVERITY = {"insufficient": 0, "ok": 0, "review": 1, "alarm": 2}


def _no_details() -> Mapping[str, float | str | None]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Finding:
    """What one monitor concluded about one subject in one window.

    ``(monitor, metric, subject, window)`` identifies a finding: running a monitor twice on the
    same window gives the same key (and the same numbers). ``metric`` distinguishes the series a
    monitor keeps, e.g. ``psi:age`` for input drift or ``upper`` and ``lower`` for the two
    CUSUMs. ``lower``/``upper`` are the limits ``value`` is judged against (``None``: one-sided
    or none); ``ci_low``/``ci_high`` the confidence interval of ``value`` where it has one.
    ``estimated`` marks label-free estimates (CBPE), to be replaced by realised metrics.
    """

    monitor: str
    metric: str
    subject: Subject
    window: Window
    value: float | None
    status: Status
    message: str
    lower: float | None = None
    upper: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: float = 0.0
    estimated: bool = False
    details: Mapping[str, float | str | None] = field(default_factory=_no_details)

    @property
    def key(self) -> tuple[str, str, Subject, Window]:
        return (self.monitor, self.metric, self.subject, self.window)

    @property
    def severity(self) -> int:
        """0 (ok or insufficient), 1 (review) or 2 (alarm), for sorting and escalation."""
        return _SEVERITY[self.status]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``nan`` and infinities become ``None``)."""
        return {
            "monitor": self.monitor,
            "metric": self.metric,
            "subject": self.subject.label,
            "subject_dims": list(self.subject.dims),
            "subject_level": list(self.subject.level),
            "window": self.window.label,
            "grain": self.window.grain,
            "window_start": self.window.start.isoformat(),
            "window_end": self.window.end.isoformat(),
            "value": _number(self.value),
            "status": self.status,
            "message": self.message,
            "lower": _number(self.lower),
            "upper": _number(self.upper),
            "ci_low": _number(self.ci_low),
            "ci_high": _number(self.ci_high),
            "n": _number(self.n),
            "estimated": self.estimated,
            "details": {
                k: _number(v) if not isinstance(v, str) else v for k, v in self.details.items()
            },
        }


def _number(x: float | None) -> float | None:
    return finite_or_none(x)


def worst(statuses: list[Status]) -> Status:
    """The most severe of ``statuses`` (``ok`` beats ``insufficient`` when both occur)."""
    if not statuses:
        return "insufficient"
    return max(statuses, key=lambda s: (_SEVERITY[s], s == "ok"))


def fmt(x: float | None, digits: int = 3) -> str:
    """A number for a message: ``n/a`` when undefined."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.{digits}g}"
