"""Plain HTML forms: what the user typed, the errors next to each field, and running a change in
a savepoint so a refused form leaves nothing half-written while the page re-renders."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from steward.errors import InputError
from steward.registry.errors import ConflictError, FieldProblem, InvalidInputError

T = TypeVar("T")


@dataclass
class Form:
    """The values a form shows and the error message under each field (by field name)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    summary: str = ""

    @classmethod
    def of(cls, data: FormData | Mapping[str, str], *names: str) -> Form:
        return cls(values={name: str(data.get(name, "")).strip() for name in names})

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def error(self, name: str) -> str:
        return self.errors.get(name, "")

    def require(self, *names: str) -> Form:
        for name in names:
            if not self.value(name):
                self.errors.setdefault(name, "Enter a value.")
        return self

    @property
    def ok(self) -> bool:
        return not self.errors and not self.summary


def attempt(
    session: Session, form: Form, action: Callable[[], T], fields: Mapping[str, str]
) -> T | None:
    """Run ``action`` in a savepoint; on a domain refusal roll it back and put the problems on
    ``form`` (``fields`` maps the domain's field paths to form field names)."""
    savepoint = session.begin_nested()
    try:
        result = action()
    except InvalidInputError as error:
        savepoint.rollback()
        _place(form, error.problems, fields)
        return None
    except (ConflictError, InputError) as error:
        savepoint.rollback()
        form.summary = str(error)
        return None
    savepoint.commit()
    return result


def _place(form: Form, problems: list[FieldProblem], fields: Mapping[str, str]) -> None:
    for problem in problems:
        name = fields.get(problem.field, problem.field)
        if name in form.values:
            form.errors.setdefault(name, problem.detail[:1].upper() + problem.detail[1:])
        else:
            form.summary = f"{problem.field}: {problem.detail}"
