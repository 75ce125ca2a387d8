"""The CDS Hooks 2.0 documents the gateway reads: hook requests, cards and feedback.

Pure functions: each check returns the problems it found with the JSON path of each, so the
shell can answer 400 with field paths, drop a malformed card, or log a prefetch it removed.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from steward.integration.cdshooks.fhir_shape import fhir_problem

INDICATORS = frozenset({"info", "warning", "critical"})
SELECTION_BEHAVIOURS = frozenset({"at-most-one", "any"})
ACTION_TYPES = frozenset({"create", "update", "delete"})
LINK_TYPES = frozenset({"absolute", "smart"})
OUTCOMES = frozenset({"accepted", "overridden"})
SUMMARY_MAX = 139  # the specification: a "<140-character summary"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document: where (a JSON path) and what."""

    field: str
    detail: str


@dataclass
class HookRequest:
    """A checked hook call; ``prefetch`` holds only the values that are FHIR resources."""

    body: dict[str, Any]
    prefetch: dict[str, Any] = field(default_factory=dict)
    dropped_prefetch: dict[str, str] = field(default_factory=dict)

    @property
    def context(self) -> dict[str, Any]:
        context: dict[str, Any] = self.body["context"]
        return context

    def forwarded(self) -> dict[str, Any]:
        """The body sent on to the supplier: the request as given, minus invalid prefetch."""
        body = {k: v for k, v in self.body.items() if k != "prefetch"}
        if self.prefetch:
            body["prefetch"] = self.prefetch
        return body


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def check_hook_request(body: Any) -> tuple[HookRequest | None, list[Problem]]:
    """Check the fields every hook call needs; prefetch that is not FHIR is set aside."""
    if not isinstance(body, dict):
        return None, [Problem("body", "must be a JSON object")]
    problems: list[Problem] = []
    for name in ("hook", "hookInstance"):
        if not _text(body.get(name)):
            problems.append(Problem(name, "is required and must be a non-empty string"))
    if not isinstance(body.get("context"), dict):
        problems.append(Problem("context", "is required and must be an object"))
    if "fhirServer" in body and not _text(body["fhirServer"]):
        problems.append(Problem("fhirServer", "must be a URL"))
    if "fhirAuthorization" in body:
        problems.extend(_fhir_authorization(body))
    if "prefetch" in body and not isinstance(body["prefetch"], dict):
        problems.append(Problem("prefetch", "must be an object"))
    if problems:
        return None, problems
    request = HookRequest(body)
    for key, value in (body.get("prefetch") or {}).items():
        # A null value says the client found nothing for this template; it is passed on.
        reason = None if value is None else fhir_problem(value)
        if reason is None:
            request.prefetch[key] = value
        else:
            request.dropped_prefetch[key] = reason
    return request, []


def _fhir_authorization(body: dict[str, Any]) -> list[Problem]:
    auth = body["fhirAuthorization"]
    if not isinstance(auth, dict):
        return [Problem("fhirAuthorization", "must be an object")]
    problems = []
    if "fhirServer" not in body:
        problems.append(Problem("fhirServer", "is required when fhirAuthorization is given"))
    for name in ("access_token", "token_type", "scope", "subject"):
        if not _text(auth.get(name)):
            problems.append(Problem(f"fhirAuthorization.{name}", "is required"))
    if not isinstance(auth.get("expires_in"), int) or isinstance(auth.get("expires_in"), bool):
        problems.append(Problem("fhirAuthorization.expires_in", "must be an integer"))
    return problems


def check_card(card: Any) -> list[Problem]:
    """Problems that make ``card`` malformed under CDS Hooks 2.0 (empty when it is sound)."""
    if not isinstance(card, dict):
        return [Problem("card", "must be an object")]
    problems = []
    summary = card.get("summary")
    if not _text(summary):
        problems.append(Problem("summary", "is required"))
    elif len(str(summary)) > SUMMARY_MAX:
        problems.append(Problem("summary", "must be shorter than 140 characters"))
    if card.get("indicator") not in INDICATORS:
        problems.append(Problem("indicator", "must be info, warning or critical"))
    source = card.get("source")
    if not isinstance(source, dict) or not _text(source.get("label")):
        problems.append(Problem("source.label", "is required"))
    for name in ("uuid", "detail"):
        if name in card and not _text(card[name]):
            problems.append(Problem(name, "must be a non-empty string"))
    problems.extend(_suggestions(card))
    problems.extend(_codings(card.get("overrideReasons"), "overrideReasons", display=True))
    problems.extend(_links(card.get("links")))
    return problems


def _suggestions(card: dict[str, Any]) -> list[Problem]:
    suggestions = card.get("suggestions")
    if suggestions is None:
        return []
    if not isinstance(suggestions, list):
        return [Problem("suggestions", "must be an array")]
    problems = []
    if suggestions and card.get("selectionBehavior") not in SELECTION_BEHAVIOURS:
        problems.append(Problem("selectionBehavior", "must be at-most-one or any"))
    for i, suggestion in enumerate(suggestions):
        where = f"suggestions[{i}]"
        if not isinstance(suggestion, dict) or not _text(suggestion.get("label")):
            problems.append(Problem(f"{where}.label", "is required"))
            continue
        actions = suggestion.get("actions", [])
        if not isinstance(actions, list):
            problems.append(Problem(f"{where}.actions", "must be an array"))
            continue
        for j, action in enumerate(actions):
            if not isinstance(action, dict) or action.get("type") not in ACTION_TYPES:
                problems.append(
                    Problem(f"{where}.actions[{j}].type", "must be create|update|delete")
                )
            elif not _text(action.get("description")):
                problems.append(Problem(f"{where}.actions[{j}].description", "is required"))
    return problems


def _codings(codings: Any, where: str, *, display: bool) -> list[Problem]:
    if codings is None:
        return []
    if not isinstance(codings, list):
        return [Problem(where, "must be an array")]
    needed = ("code", "system", "display") if display else ("code", "system")
    return [
        Problem(f"{where}[{i}].{name}", "is required")
        for i, coding in enumerate(codings)
        for name in needed
        if not isinstance(coding, dict) or not _text(coding.get(name))
    ]


def _links(links: Any) -> list[Problem]:
    if links is None:
        return []
    if not isinstance(links, list):
        return [Problem("links", "must be an array")]
    problems = []
    for i, link in enumerate(links):
        if not isinstance(link, dict):
            problems.append(Problem(f"links[{i}]", "must be an object"))
            continue
        for name in ("label", "url"):
            if not _text(link.get(name)):
                problems.append(Problem(f"links[{i}].{name}", "is required"))
        if link.get("type") not in LINK_TYPES:
            problems.append(Problem(f"links[{i}].type", "must be absolute or smart"))
    return problems


def with_uuid(card: dict[str, Any]) -> dict[str, Any]:
    """The card with a ``uuid`` (a new one if the supplier gave none), so feedback can name it."""
    if _text(card.get("uuid")):
        return card
    return {"uuid": str(uuid.uuid4()), **card}


def score_from_risk_assessment(card: dict[str, Any]) -> float | None:
    """``prediction[].probabilityDecimal`` of the first RiskAssessment in the card's suggestions."""
    for suggestion in card.get("suggestions") or []:
        for action in suggestion.get("actions") or []:
            resource = action.get("resource") if isinstance(action, dict) else None
            if not isinstance(resource, dict) or resource.get("resourceType") != "RiskAssessment":
                continue
            for prediction in resource.get("prediction") or []:
                value = (
                    prediction.get("probabilityDecimal") if isinstance(prediction, dict) else None
                )
                if isinstance(value, int | float) and not isinstance(value, bool):
                    return _probability(float(value))
    return None


def score_from_summary(card: dict[str, Any], pattern: str, scale: float) -> float | None:
    """The number the pattern's first group (or group ``score``) finds in the summary, / scale."""
    match = re.search(pattern, str(card.get("summary", "")))
    if match is None:
        return None
    text = match.group("score") if "score" in match.re.groupindex else match.group(1)
    try:
        return _probability(float(text) / scale)
    except (TypeError, ValueError):
        return None


def _probability(value: float) -> float | None:
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None


@dataclass(frozen=True)
class Feedback:
    """One clinician response to a card."""

    card: str
    outcome: str
    accepted_suggestions: list[str]
    override_code: str | None
    override_system: str | None
    override_display: str | None
    user_comment: str | None
    outcome_at: datetime


def check_feedback(body: Any) -> tuple[list[Feedback], list[Problem]]:
    """Read a feedback request ``{"feedback": [...]}``; any problem refuses the whole request."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list):
        return [], [Problem("feedback", "is required and must be an array")]
    items, problems = [], []
    for i, entry in enumerate(body["feedback"]):
        item, found = _feedback_item(entry, f"feedback[{i}]")
        problems.extend(found)
        if item is not None:
            items.append(item)
    return items, problems


def _feedback_item(entry: Any, where: str) -> tuple[Feedback | None, list[Problem]]:
    if not isinstance(entry, dict):
        return None, [Problem(where, "must be an object")]
    problems = []
    if not _text(entry.get("card")):
        problems.append(Problem(f"{where}.card", "is required (the card's uuid)"))
    if entry.get("outcome") not in OUTCOMES:
        problems.append(Problem(f"{where}.outcome", "must be accepted or overridden"))
    accepted = entry.get("acceptedSuggestions")
    ids: list[str] = []
    if entry.get("outcome") == "accepted":
        if not isinstance(accepted, list) or not accepted:
            problems.append(Problem(f"{where}.acceptedSuggestions", "is required when accepted"))
        else:
            ids = [str(s["id"]) for s in accepted if isinstance(s, dict) and _text(s.get("id"))]
            if len(ids) != len(accepted):
                problems.append(Problem(f"{where}.acceptedSuggestions", "each needs an id"))
    reason = entry.get("overrideReason")
    coding: dict[str, Any] = {}
    comment = None
    if reason is not None:
        if not isinstance(reason, dict):
            problems.append(Problem(f"{where}.overrideReason", "must be an object"))
        else:
            given = reason.get("reason")
            coding = given if isinstance(given, dict) else {}
            if "reason" in reason:
                problems.extend(
                    _codings([reason["reason"]], f"{where}.overrideReason.reason", display=False)
                )
            comment = reason.get("userComment")
            if comment is not None and not isinstance(comment, str):
                problems.append(Problem(f"{where}.overrideReason.userComment", "must be a string"))
    when = parse_timestamp(entry.get("outcomeTimestamp"))
    if when is None:
        problems.append(Problem(f"{where}.outcomeTimestamp", "must be an RFC 3339 date-time"))
    if problems or when is None:
        return None, problems
    return Feedback(
        card=entry["card"],
        outcome=entry["outcome"],
        accepted_suggestions=ids,
        override_code=coding.get("code"),
        override_system=coding.get("system"),
        override_display=coding.get("display"),
        user_comment=comment,
        outcome_at=when,
    ), []


def parse_timestamp(value: Any) -> datetime | None:
    """An RFC 3339 date-time with an offset (``Z`` included), in UTC; None if it is not one."""
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None
