"""Errors the registry's domain rules raise; the API maps each to one HTTP status."""

from __future__ import annotations

from dataclasses import dataclass

from steward.errors import InputError, StewardError


@dataclass(frozen=True)
class FieldProblem:
    """One invalid value: a dotted path to the field and what is wrong with it."""

    field: str
    detail: str


class InvalidInputError(InputError):
    """Input that breaks a domain rule; carries every problem found, each with its field."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.detail}" for p in problems))


def invalid(field: str, detail: str) -> InvalidInputError:
    """An :class:`InvalidInputError` with a single problem."""
    return InvalidInputError([FieldProblem(field, detail)])


class NotFoundError(StewardError):
    """The named record does not exist (or is outside the caller's organisations)."""


class ConflictError(StewardError):
    """The request clashes with the current state: a duplicate, or a refused transition."""


class ForbiddenError(StewardError):
    """The caller's role does not allow the action."""
