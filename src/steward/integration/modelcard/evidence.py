"""What a tool's latest local evaluation and its monitoring say, in the words and numbers both
model-card exports need. Pure functions of the stored evaluation result document."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NOT_VALIDATED = "Not yet validated on local data."
NOT_MONITORED = "Not yet monitored."

#: Headline metrics of a result document: key -> (label, card group).
HEADLINE = {
    "auroc": ("AUROC", "usefulness"),
    "average_precision": ("Average precision", "usefulness"),
    "oe_ratio": ("Observed/expected ratio", "safety"),
    "calibration_slope": ("Calibration slope", "safety"),
    "brier": ("Brier score", "safety"),
}
#: Threshold metrics reported per operating threshold.
AT_THRESHOLD = {"sensitivity": "Sensitivity", "specificity": "Specificity", "ppv": "PPV"}
#: Most subgroup gaps listed on a card.
MAX_GAPS = 10


@dataclass(frozen=True)
class MetricResult:
    """One CHAI MetricResult: a label and its ValueJson object."""

    label: str
    value: dict[str, Any]


@dataclass(frozen=True)
class LocalEvidence:
    """The local evaluation and monitoring, summarised."""

    evaluated: bool
    reference: str
    validity: str
    fairness: str
    testing_data: str
    validation_process: str
    monitoring: str
    metrics: dict[str, list[MetricResult]] = field(default_factory=dict)


def _estimate(entry: Any) -> tuple[float, float | None, float | None] | None:
    if not isinstance(entry, Mapping):
        return None
    value = entry.get("value")
    if not isinstance(value, int | float) or not math.isfinite(value):
        return None
    low, high = entry.get("ci_low"), entry.get("ci_high")
    low = low if isinstance(low, int | float) and math.isfinite(low) else None
    high = high if isinstance(high, int | float) and math.isfinite(high) else None
    return float(value), low, high


def _value_json(estimate: tuple[float, float | None, float | None]) -> dict[str, Any]:
    value, low, high = estimate
    if low is None or high is None:
        return {"kind": "single", "value": round(value, 4)}
    return {
        "kind": "estimate_ci",
        "estimate": round(value, 4),
        "lower": round(low, 4),
        "upper": round(high, 4),
        "level": 95,
    }


def _phrase(label: str, estimate: tuple[float, float | None, float | None]) -> str:
    value, low, high = estimate
    if low is None or high is None:
        return f"{label} {value:.3f}"
    return f"{label} {value:.3f} (95% CI {low:.3f} to {high:.3f})"


def _mapping(x: Any) -> Mapping[str, Any]:
    return x if isinstance(x, Mapping) else {}


def _int(x: Any) -> int | None:
    return int(x) if isinstance(x, int | float) and math.isfinite(x) else None


def local_evidence(
    document: Mapping[str, Any] | None,
    *,
    recorded_on: str | None = None,
    record_id: str | None = None,
    monitoring: str | None = None,
) -> LocalEvidence:
    """Summarise a ``steward evaluate`` result document (None: no local evaluation yet)."""
    monitoring_text = monitoring or NOT_MONITORED
    monitored = [MetricResult("Local monitoring", {"kind": "text", "value": monitoring_text})]
    if document is None:
        return LocalEvidence(
            evaluated=False,
            reference=NOT_VALIDATED,
            validity=NOT_VALIDATED,
            fairness=NOT_VALIDATED,
            testing_data=NOT_VALIDATED,
            validation_process=NOT_VALIDATED,
            monitoring=monitoring_text,
            metrics={"usefulness": [], "fairness": [], "safety": monitored},
        )
    metrics: dict[str, list[MetricResult]] = {"usefulness": [], "fairness": [], "safety": []}
    phrases: list[str] = []
    found = _mapping(document.get("metrics"))
    for key, (label, group) in HEADLINE.items():
        estimate = _estimate(found.get(key))
        if estimate is not None:
            metrics[group].append(MetricResult(f"Local validation: {label}", _value_json(estimate)))
            phrases.append(_phrase(label, estimate))
    for row in document.get("thresholds") or []:
        if not isinstance(row, Mapping) or not isinstance(row.get("threshold"), int | float):
            continue
        for key, label in AT_THRESHOLD.items():
            estimate = _estimate(row.get(key))
            if estimate is not None:
                name = f"{label} at threshold {row['threshold']:g}"
                metrics["usefulness"].append(
                    MetricResult(f"Local validation: {name}", _value_json(estimate))
                )
                phrases.append(_phrase(name, estimate))
    metrics["fairness"], fairness = _fairness(document)
    metrics["safety"] += monitored
    verdict = _mapping(document.get("verdict"))
    status = str(verdict.get("status", "not_assessed")).replace("_", " ")
    when = recorded_on or str(document.get("generated_at", ""))[:10] or "an unknown date"
    n, events = _int(document.get("n")), _int(document.get("n_events"))
    size = f"{n:,} labelled rows, {events:,} events" if n is not None and events is not None else ""
    reference = f"Local validation of {when}" + (
        f" (evaluation record {record_id})" if record_id else ""
    )
    validity = f"{reference}; {size}; verdict {status}: " + ("; ".join(phrases) or "no metrics")
    return LocalEvidence(
        evaluated=True,
        reference=reference,
        validity=validity + ".",
        fairness=fairness,
        testing_data=_testing_data(document, size),
        validation_process=_process(verdict, status),
        monitoring=monitoring_text,
        metrics=metrics,
    )


def _fairness(document: Mapping[str, Any]) -> tuple[list[MetricResult], str]:
    subgroups = document.get("subgroups")
    columns = sorted(subgroups) if isinstance(subgroups, Mapping) else []
    gaps = [g for g in document.get("subgroup_gaps") or [] if isinstance(g, Mapping)]
    if not columns:
        return [], "Local validation: no subgroup (equity) audit was run."
    flagged = [g for g in gaps if g.get("flagged")]

    def size(gap: Mapping[str, Any]) -> float:
        estimate = _estimate(gap.get("difference"))
        return abs(estimate[0]) if estimate else 0.0

    shown = sorted(gaps, key=lambda g: (not g.get("flagged"), -size(g)))[:MAX_GAPS]
    results = []
    phrases = []
    for gap in shown:
        estimate = _estimate(gap.get("difference"))
        if estimate is None:
            continue
        metric = str(gap.get("metric", "metric"))
        if isinstance(gap.get("threshold"), int | float):
            metric += f"@{gap['threshold']:g}"
        label = f"Gap in {metric} for {gap.get('column')} = {gap.get('level')} vs the rest"
        results.append(MetricResult(f"Local validation: {label}", _value_json(estimate)))
        if gap.get("flagged"):
            phrases.append(_phrase(label, estimate))
    text = (
        f"Local equity audit across {', '.join(columns)}: {len(flagged)} of {len(gaps)} "
        "subgroup gaps flagged after Holm adjustment"
    )
    return results, text + (": " + "; ".join(phrases) if phrases else "") + "."


def _testing_data(document: Mapping[str, Any], size: str) -> str:
    data, excluded = _mapping(document.get("data")), _mapping(document.get("excluded"))
    left_out = ", ".join(
        f"{int(v):,} {str(k).replace('_', ' ')}" for k, v in excluded.items() if _int(v)
    )
    source, rows = data.get("source", "unnamed source"), data.get("rows_read", "?")
    text = f"Local data ({source}): {rows} rows read"
    text += f", {size}" if size else ""
    text += f"; rows left out: {left_out}" if left_out else ""
    definition = data.get("outcome_definition")
    return text + (f". Outcome: {definition}" if definition else "") + "."


def _process(verdict: Mapping[str, Any], status: str) -> str:
    criteria = [c for c in verdict.get("criteria") or [] if isinstance(c, Mapping)]
    listed = "; ".join(f"{c.get('criterion')}: {c.get('status')}" for c in criteria)
    text = (
        "Retrospective local validation with steward evaluate against acceptance criteria agreed "
        f"before unblinding; verdict {status}"
    )
    return text + (f" ({listed})" if listed else "") + "."
