"""A tool's response policy as data: validated document, defaults, and the actions it implies.

Pure Python: which contacts exist, when to escalate, what each severity triggers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from steward.registry.errors import FieldProblem, InvalidInputError
from steward.surveillance.alerts.models import Severity
from steward.surveillance.notify.smtp import EmailTransport
from steward.surveillance.notify.webhook import WebhookTransport

POLICY_NAME = "surveillance-response"


class Action(StrEnum):
    """What a finding of a given severity sets in motion."""

    NOTIFY = "notify"
    REQUIRE_REVIEW = "require_review"
    SUSPEND = "suspend"


ACTION_ORDER = (Action.SUSPEND, Action.REQUIRE_REVIEW, Action.NOTIFY)


class Contact(BaseModel):
    """Someone (or a system) to tell: a channel and its target."""

    model_config = ConfigDict(extra="forbid")

    channel: Literal["email", "webhook"]
    target: str = Field(min_length=3, max_length=500)
    name: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _target_fits_channel(self) -> Contact:
        transport = WebhookTransport() if self.channel == "webhook" else EmailTransport(None)
        problem = transport.check_target(self.target)
        if problem:
            raise ValueError(problem)
        return self


class ResponsePolicy(BaseModel):
    """Contacts in escalation order, the escalation timeout, and the actions per severity."""

    model_config = ConfigDict(extra="forbid")

    contacts: list[Contact] = Field(default_factory=list, max_length=20)
    escalate_after_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    actions: dict[Severity, list[Action]] = Field(default_factory=dict)

    @field_validator("actions")
    @classmethod
    def _suspend_only_when_critical(
        cls, actions: dict[Severity, list[Action]]
    ) -> dict[Severity, list[Action]]:
        for severity, chosen in actions.items():
            if Action.SUSPEND in chosen and severity is not Severity.CRITICAL:
                raise ValueError(f"suspend is allowed for critical findings only, not {severity}")
        return actions

    def actions_for(self, severity: Severity) -> list[Action]:
        """The actions a finding of ``severity`` triggers: suspension first (it protects
        patients soonest), then review, then notification (which then reports the new state)."""
        wanted = set(self.actions.get(severity, ()))
        return [a for a in ACTION_ORDER if a in wanted]

    def contact(self, level: int) -> Contact | None:
        """The contact at escalation ``level`` (0 first), or None beyond the last."""
        return self.contacts[level] if 0 <= level < len(self.contacts) else None

    def escalation_due(self, notified_at: datetime, level: int, now: datetime) -> bool:
        """Whether an alert notified at ``notified_at`` at ``level`` should go to the next one."""
        waited = now - notified_at >= timedelta(minutes=self.escalate_after_minutes)
        return waited and level + 1 < len(self.contacts)


@cache
def _default_document() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("default.yaml").read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    if not isinstance(document, dict) or document.get("policy") != POLICY_NAME:
        raise ValueError(f"response/default.yaml does not declare policy: {POLICY_NAME}")
    return document


def default_policy_version() -> str:
    """The version of the default response policy file."""
    return str(_default_document()["version"])


def default_policy() -> ResponsePolicy:
    """The response policy of a tool that has none of its own."""
    document = {k: v for k, v in _default_document().items() if k not in {"policy", "version"}}
    return ResponsePolicy.model_validate(document)


def parse_policy(document: Any) -> ResponsePolicy:
    """Validate a policy document; every problem is reported with its field path."""
    try:
        return ResponsePolicy.model_validate(document)
    except ValidationError as error:
        raise InvalidInputError(
            [
                FieldProblem(".".join(str(p) for p in e["loc"]) or "policy", e["msg"])
                for e in error.errors()
            ]
        ) from None
