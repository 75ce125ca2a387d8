"""Model facts (HTI-1 source attributes, CHAI Applied Model Card) checked against their field lists.

Facts may be filled in over time: unknown fields and wrong types are refused, while missing fields
are reported by :func:`missing_fields` as the card's completeness.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from steward.registry.errors import FieldProblem, InvalidInputError
from steward.registry.policies import load_policy, policy_version


class FactsStandard(StrEnum):
    """The structured model-fact standards the registry holds."""

    HTI1 = "hti1"
    CHAI = "chai"


_POLICY = {FactsStandard.HTI1: "hti1-source-attributes", FactsStandard.CHAI: "chai-model-card"}


def facts_policy_version(standard: FactsStandard) -> str:
    """The version of the field list the facts of ``standard`` are checked against."""
    return policy_version(_POLICY[standard])


def validate_facts(standard: FactsStandard, facts: Any) -> None:
    """Raise :class:`InvalidInputError` listing every field the standard refuses."""
    if not isinstance(facts, dict):
        raise InvalidInputError([FieldProblem("facts", "must be an object")])
    check = _hti1_problems if standard is FactsStandard.HTI1 else _chai_problems
    problems = check(facts)
    if problems:
        raise InvalidInputError(problems)


def missing_fields(standard: FactsStandard, facts: dict[str, Any]) -> list[str]:
    """Paths of the required fields not yet filled in, in the order of the standard."""
    if standard is FactsStandard.HTI1:
        return [path for path in _hti1_attributes() if not _filled(facts.get(path.split(".")[1]))]
    missing: list[str] = []
    for section, spec in load_policy("chai-model-card")["sections"].items():
        given = facts.get(section)
        if spec.get("text"):
            if not _filled(given):
                missing.append(section)
        elif "metric_groups" in spec:
            groups = given if isinstance(given, dict) else {}
            missing += [f"{section}.{g}" for g in spec["metric_groups"] if not groups.get(g)]
        else:
            fields = given if isinstance(given, dict) else {}
            missing += [f"{section}.{f}" for f in spec["fields"] if not _filled(fields.get(f))]
    return missing


def _filled(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _hti1_attributes() -> dict[str, Any]:
    """``group.attribute`` -> its label or spec, in the order of the regulation."""
    groups = load_policy("hti1-source-attributes")["groups"]
    return {f"{g}.{a}": spec for g, attributes in groups.items() for a, spec in attributes.items()}


def _hti1_problems(facts: dict[str, Any]) -> list[FieldProblem]:
    known = {path.split(".")[1]: spec for path, spec in _hti1_attributes().items()}
    problems: list[FieldProblem] = []
    for name, value in facts.items():
        spec = known.get(name)
        if spec is None:
            problems.append(FieldProblem(f"facts.{name}", "not an HTI-1 source attribute"))
        elif not isinstance(value, str):
            problems.append(FieldProblem(f"facts.{name}", "must be text"))
        elif isinstance(spec, dict) and value not in spec["choices"]:
            choices = ", ".join(spec["choices"])
            problems.append(FieldProblem(f"facts.{name}", f"must be one of: {choices}"))
    return problems


def _chai_problems(facts: dict[str, Any]) -> list[FieldProblem]:
    sections = load_policy("chai-model-card")["sections"]
    problems: list[FieldProblem] = []
    for section, given in facts.items():
        spec = sections.get(section)
        path = f"facts.{section}"
        if spec is None:
            problems.append(FieldProblem(path, "not a CHAI model card section"))
        elif spec.get("text"):
            if not isinstance(given, str):
                problems.append(FieldProblem(path, "must be text"))
        elif not isinstance(given, dict):
            problems.append(FieldProblem(path, "must be an object"))
        elif "metric_groups" in spec:
            problems += _metric_problems(path, spec, given)
        else:
            allowed = set(spec["fields"]) | set(spec.get("optional", []))
            problems += _text_field_problems(path, allowed, given)
    return problems


def _text_field_problems(path: str, allowed: set[str], given: dict[str, Any]) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    for name, value in given.items():
        if name not in allowed:
            problems.append(FieldProblem(f"{path}.{name}", "not a field of this section"))
        elif not isinstance(value, str):
            problems.append(FieldProblem(f"{path}.{name}", "must be text"))
    return problems


def _metric_problems(path: str, spec: dict[str, Any], given: dict[str, Any]) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    for group, metrics in given.items():
        group_path = f"{path}.{group}"
        if group not in spec["metric_groups"]:
            problems.append(FieldProblem(group_path, "not a CHAI key-metric group"))
        elif not isinstance(metrics, list) or not all(isinstance(m, dict) for m in metrics):
            problems.append(FieldProblem(group_path, "must be a list of metric objects"))
        else:
            for index, metric in enumerate(metrics):
                problems += _text_field_problems(
                    f"{group_path}[{index}]", set(spec["metric_fields"]), metric
                )
    return problems
