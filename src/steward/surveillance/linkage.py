"""Outcome linkage with label delay: which outcomes belong to a prediction, and its label now.

A prediction made at ``t`` is linked to the outcomes of the same patient (and, for a definition
per encounter, the same encounter) with the definition's outcome name whose event time lies in
``[t, t + window]``. Its label is 1 if any linked outcome has value 1, else 0 if any linked
outcome has value 0 or the label is due (``now >= t + window + lag``), else unknown (None):
a prediction whose window is still open is unlabelled, never negative. Pure functions only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from steward.errors import InputError

Per = Literal["encounter", "patient"]
UNLABELLED = 2


@dataclass(frozen=True)
class OutcomeDefinition:
    """Which outcome a deployment's predictions are judged against, and when.

    ``window_hours`` after the prediction the outcome counts; ``lag_hours`` more are allowed
    for outcome data to arrive before a prediction without one is labelled negative.
    """

    name: str
    window_hours: float
    per: Per = "encounter"
    lag_hours: float = 0.0

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InputError("The outcome definition needs the outcome's name.")
        if not 0 < self.window_hours <= 24 * 366 * 5:
            raise InputError("The outcome window must be more than 0 hours and at most 5 years.")
        if not 0 <= self.lag_hours <= 24 * 366:
            raise InputError("The outcome lag must be between 0 hours and a year.")
        if self.per not in ("encounter", "patient"):
            raise InputError("An outcome is counted per encounter or per patient.")

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.window_hours)

    def due_at(self, predicted_at: datetime) -> datetime:
        """When a prediction without a linked outcome becomes a negative."""
        return predicted_at + timedelta(hours=self.window_hours + self.lag_hours)

    def links(
        self,
        prediction: tuple[str, str | None, datetime],
        outcome: tuple[str, str | None, str, datetime],
    ) -> bool:
        """Whether the outcome ``(patient, encounter, name, time)`` belongs to the prediction
        ``(patient, encounter, time)``."""
        patient, encounter, predicted_at = prediction
        o_patient, o_encounter, name, occurred_at = outcome
        if name != self.name or o_patient != patient:
            return False
        if self.per == "encounter" and (encounter is None or o_encounter != encounter):
            return False
        return predicted_at <= occurred_at <= predicted_at + self.window


def label_of(linked_values: Iterable[int], due_at: datetime, now: datetime) -> int | None:
    """The label of a prediction given the values of its linked outcomes (see module doc)."""
    values = set(linked_values)
    if 1 in values:
        return 1
    if values or now >= due_at:
        return 0
    return None


def label_code(label: int | None) -> int:
    """The cube's label axis position: 0 negative, 1 positive, 2 unlabelled."""
    return UNLABELLED if label is None else int(label)
