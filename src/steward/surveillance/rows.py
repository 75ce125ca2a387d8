"""The rows surveillance ingests (predictions, outcomes, feedback), their checks and digests,
and the report every ingestion returns. Pure: no database, no clock but the one passed in."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

#: How far ahead of the server's clock an event time may lie (clock skew between systems).
MAX_FUTURE = timedelta(days=1)
#: Longest identifier, feature or subgroup name and subgroup value accepted.
MAX_ID = 200
#: Longest feedback reason.
MAX_REASON = 5_000
FEEDBACK_ACTIONS = ("accepted", "overridden")
#: A control character no identifier may contain (look-ups send identifiers joined by it).
SEPARATOR = "\x1f"


@dataclass(frozen=True, slots=True)
class PredictionRow:
    """One prediction a deployed tool made, as a client (or FHIR import, CDS Hooks) reports it.

    ``features`` are numeric model inputs (for input drift); ``subgroups`` are the patient's
    attributes (e.g. sex, ethnicity) monitored per level; ``card_id`` names the CDS Hooks card
    the prediction was shown in, so feedback can refer to it.
    """

    event_id: str
    patient_id: str
    time: datetime
    score: float
    encounter_id: str | None = None
    tool_version: str | None = None
    card_id: str | None = None
    features: Mapping[str, float | None] | None = None
    subgroups: Mapping[str, str | None] | None = None


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """An observed outcome (1: happened, 0: known not to have happened) at ``time``."""

    event_id: str
    patient_id: str
    outcome: str
    value: int
    time: datetime
    encounter_id: str | None = None


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    """A clinician accepted or overrode the prediction ``prediction_event_id`` (or ``card_id``)."""

    event_id: str
    action: Literal["accepted", "overridden"] | str
    time: datetime
    prediction_event_id: str | None = None
    card_id: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row that was not stored: its 1-based number in the request and why.

    ``conflict`` marks an event id already stored with different content.
    """

    row: int
    error: str
    conflict: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "error": self.error}


@dataclass
class IngestReport:
    """What one ingestion did: rows stored, rows already stored (same content), rows of
    patients in the opt-out register (left out), rows refused."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    opted_out: int = 0

    def as_dict(self) -> dict[str, Any]:
        rejected = sorted(self.rejected, key=lambda r: r.row)
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "opted_out": self.opted_out,
            "rejected": [r.as_dict() for r in rejected],
        }


def _text_problem(name: str, value: object, *, required: bool) -> str | None:
    if value is None:
        return f"{name} is required" if required else None
    if type(value) is not str and not isinstance(value, str):
        return f"{name} must be text"
    if required and not value.strip():
        return f"{name} is empty"
    if len(value) > MAX_ID:
        return f"{name} is longer than {MAX_ID} characters"
    if "\x00" in value or SEPARATOR in value:
        return f"{name} contains a control character (NUL or unit separator)"
    return None


def _time_problem(name: str, value: object, now: datetime) -> str | None:
    if not isinstance(value, datetime):
        return f"{name} must be a timestamp"
    if value.tzinfo is None or value.utcoffset() is None:
        return f"{name} has no time zone; give UTC (e.g. 2026-01-31T08:00:00Z)"
    if value > now + MAX_FUTURE:
        return f"{name} {value.isoformat()} is more than a day in the future"
    if value.year < 1900:
        return f"{name} {value.isoformat()} is before 1900"
    return None


def _first(*problems: str | None) -> str | None:
    return next((p for p in problems if p is not None), None)


def _number(value: object) -> float | None:
    kind = type(value)
    if kind is float or kind is int:  # the common case, without isinstance's generality
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _mapping_problem(name: str, value: object, numeric: bool) -> str | None:
    if value is None:
        return None
    if type(value) is not dict and not isinstance(value, Mapping):
        return f"{name} must be an object of name: value"
    for key, item in value.items():
        if type(key) is not str or not key.strip() or len(key) > MAX_ID:
            return f"{name} has a name that is empty, not text or too long"
        if item is None:
            continue
        if numeric:
            number = _number(item)
            if number is None or not math.isfinite(number):
                return f"{name}.{key} must be a finite number"
        elif type(item) is not str or len(item) > MAX_ID or "\x00" in item:
            return f"{name}.{key} must be text of at most {MAX_ID} characters"
    return None


def check_prediction(row: PredictionRow, now: datetime) -> str | None:
    """Why ``row`` cannot be stored, or None."""
    score = _number(row.score)
    score_problem = None
    if score is None or not math.isfinite(score):
        score_problem = "score must be a number"
    elif not 0.0 <= score <= 1.0:
        score_problem = f"score {score!r} is outside [0, 1]"
    return _first(
        _text_problem("event_id", row.event_id, required=True),
        _text_problem("patient_id", row.patient_id, required=True),
        _text_problem("encounter_id", row.encounter_id, required=False),
        _text_problem("tool_version", row.tool_version, required=False),
        _text_problem("card_id", row.card_id, required=False),
        _time_problem("time", row.time, now),
        score_problem,
        _mapping_problem("features", row.features, numeric=True),
        _mapping_problem("subgroups", row.subgroups, numeric=False),
    )


def check_outcome(row: OutcomeRow, now: datetime) -> str | None:
    """Why ``row`` cannot be stored, or None."""
    value_problem = None
    if isinstance(row.value, bool) or row.value not in (0, 1):
        value_problem = f"value must be 0 or 1, not {row.value!r}"
    return _first(
        _text_problem("event_id", row.event_id, required=True),
        _text_problem("patient_id", row.patient_id, required=True),
        _text_problem("encounter_id", row.encounter_id, required=False),
        _text_problem("outcome", row.outcome, required=True),
        value_problem,
        _time_problem("time", row.time, now),
    )


def check_feedback(row: FeedbackRow, now: datetime) -> str | None:
    """Why ``row`` cannot be stored, or None."""
    reference = None
    if row.prediction_event_id is None and row.card_id is None:
        reference = "name the prediction_event_id or the card_id the feedback is about"
    action = None
    if row.action not in FEEDBACK_ACTIONS:
        action = f"action must be accepted or overridden, not {row.action!r}"
    reason = None
    if not isinstance(row.reason, str) or len(row.reason) > MAX_REASON or "\x00" in row.reason:
        reason = f"reason must be text of at most {MAX_REASON} characters"
    return _first(
        _text_problem("event_id", row.event_id, required=True),
        _text_problem("prediction_event_id", row.prediction_event_id, required=False),
        _text_problem("card_id", row.card_id, required=False),
        reference,
        action,
        reason,
        _time_problem("time", row.time, now),
    )


def clean_features(features: Mapping[str, float | None] | None) -> dict[str, float] | None:
    """Features without missing values, as floats; None when none are left."""
    if not features:
        return None
    kept = {k: float(v) for k, v in features.items() if v is not None}
    return kept or None


def clean_subgroups(subgroups: Mapping[str, str | None] | None) -> dict[str, str] | None:
    """Subgroup attributes with blank values dropped (a blank value is a missing one)."""
    if not subgroups:
        return None
    kept = {k: v.strip() for k, v in subgroups.items() if v is not None and v.strip()}
    return kept or None


def digest(*parts: Any) -> str:
    """A 128-bit fingerprint of an event's content: equal content, equal digest.

    Times count by instant (any offset), mappings by their sorted items.
    """
    text = "\x1f".join([_token(part) for part in parts])
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def _token(value: Any) -> str:
    kind = type(value)
    if kind is str or kind is float or kind is int or value is None:
        return repr(value)
    if isinstance(value, datetime):
        return f"t{value.timestamp()!r}"
    if isinstance(value, Mapping):
        return repr(sorted(value.items()))
    return repr(value)


def json_text(value: Mapping[str, Any] | None) -> str | None:
    """Canonical JSON of a mapping (sorted keys): stored as is and fingerprinted."""
    if value is None:
        return None
    return _JSON.encode(value)


# one encoder for every call: json.dumps with options builds a new encoder each time
_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
