"""The hash chain: canonical JSON of an event, its hash, and verification of a sequence of events.

``hash = SHA-256(canonical JSON of the event's fields including seq and prev_hash)``; canonical JSON
has sorted keys, no spaces, UTF-8, and timestamps as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``. Pure code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

HASHED_FIELDS = (
    "seq",
    "occurred_at",
    "actor",
    "action",
    "entity_type",
    "entity_id",
    "before",
    "after",
    "request_id",
    "organisation_id",
    "prev_hash",
)


def canonical_time(moment: datetime) -> str:
    """A UTC timestamp in the one textual form the chain hashes."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text: the same bytes for the same content."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(event: Mapping[str, Any]) -> str:
    """The hash of an event given its :data:`HASHED_FIELDS`."""
    content: dict[str, Any] = {name: event.get(name) for name in HASHED_FIELDS}
    if content["organisation_id"] is None:
        # Events written before the column existed were hashed without it.
        del content["organisation_id"]
    content["occurred_at"] = canonical_time(content["occurred_at"])
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """The outcome of a verification: events checked and, when broken, where and why."""

    checked: int
    head_seq: int
    head_hash: str
    broken_at: int | None = None
    reason: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify_chain(
    events: Iterable[Mapping[str, Any]], head_seq: int, head_hash: str, genesis: str
) -> ChainReport:
    """Check events in ascending ``seq`` order against each other and the recorded head.

    Reports the first broken link: a missing or extra sequence number (deletion, insertion or
    reordering), a ``prev_hash`` that is not the previous event's hash, or a hash that does not
    match the event's content (an edit); finally the last event must be the recorded head.
    """
    expected_seq, previous_hash, checked = 1, genesis, 0
    for event in events:
        seq = int(event["seq"])
        if seq != expected_seq:
            return _broken(checked, head_seq, head_hash, expected_seq, _gap(expected_seq, seq))
        if event["prev_hash"] != previous_hash:
            reason = "does not link to the previous event (an event was removed or reordered)"
            return _broken(checked, head_seq, head_hash, seq, reason)
        if event_hash(event) != event["hash"]:
            reason = "content does not match its hash (the event was edited)"
            return _broken(checked, head_seq, head_hash, seq, reason)
        previous_hash, expected_seq, checked = event["hash"], seq + 1, checked + 1
    if checked != head_seq or previous_hash != head_hash:
        reason = (
            f"the chain head records {head_seq} events ending in {head_hash[:12]}, but the log "
            f"ends at event {checked} (events were removed from the end)"
        )
        return _broken(checked, head_seq, head_hash, checked + 1, reason)
    return ChainReport(checked=checked, head_seq=head_seq, head_hash=head_hash)


def _gap(expected: int, found: int) -> str:
    if found > expected:
        return f"is missing; the next event is {found} (an event was deleted)"
    return f"is missing; found event {found} out of order (events were reordered)"


def _broken(checked: int, head_seq: int, head_hash: str, at: int, reason: str) -> ChainReport:
    return ChainReport(checked, head_seq, head_hash, broken_at=at, reason=reason)
