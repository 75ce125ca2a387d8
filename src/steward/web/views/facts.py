"""Model facts as a form: one text box per field of the HTI-1 and CHAI field lists, grouped by
section, with completeness (filled / required, missing fields) from :mod:`steward.registry.facts`.

Form field names are ``hti1-<attribute>``, ``chai-<Section>-<Field>``, ``chai-Bibliography`` and,
for CHAI key metrics, ``chai-KeyMetrics-<Group>-<MetricField>`` (the group's first metric; further
metrics stored through the API are kept as they are). Hyphens, not dots, so the names double as
element ids without escaping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from steward.registry.facts import FactsStandard, missing_fields
from steward.registry.policies import load_policy

STANDARD_TITLES = {
    FactsStandard.HTI1: "ONC HTI-1 source attributes",
    FactsStandard.CHAI: "CHAI Applied Model Card",
}


@dataclass(frozen=True)
class FactField:
    """One box of the facts form: its form name, label, and choices when it has a closed list."""

    name: str
    label: str
    required: bool = True
    choices: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class FactSection:
    key: str
    title: str
    fields: tuple[FactField, ...]


@dataclass(frozen=True)
class Completeness:
    """How much of one standard's card is filled in."""

    standard: FactsStandard
    title: str
    filled: int
    required: int
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


def _words(name: str) -> str:
    spaced = "".join(f" {c}" if c.isupper() and i else c for i, c in enumerate(name))
    return spaced.replace("_", " ").strip().capitalize()


def hti1_sections() -> tuple[FactSection, ...]:
    groups = load_policy("hti1-source-attributes")["groups"]
    sections = []
    for group, attributes in groups.items():
        fields = []
        for attribute, spec in attributes.items():
            label = spec["label"] if isinstance(spec, dict) else str(spec)
            listed = spec["choices"] if isinstance(spec, dict) else []
            choices = tuple((str(c), str(c).capitalize()) for c in listed)
            fields.append(FactField(f"hti1-{attribute}", label, True, choices))
        sections.append(FactSection(f"hti1-{group}", _words(group), tuple(fields)))
    return tuple(sections)


def chai_sections() -> tuple[FactSection, ...]:
    sections = []
    for section, spec in load_policy("chai-model-card")["sections"].items():
        fields: tuple[FactField, ...]
        if spec.get("text"):
            fields = (FactField(f"chai-{section}", _words(section)),)
        elif "metric_groups" in spec:
            fields = tuple(
                FactField(f"chai-{section}-{group}-{metric}", f"{_words(group)}: {_words(metric)}")
                for group in spec["metric_groups"]
                for metric in spec["metric_fields"]
            )
        else:
            fields = tuple(FactField(f"chai-{section}-{f}", _words(f)) for f in spec["fields"])
            fields += tuple(
                FactField(f"chai-{section}-{f}", _words(f), required=False)
                for f in spec.get("optional", [])
            )
        sections.append(FactSection(f"chai-{section}", _words(section), fields))
    return tuple(sections)


def field_names() -> tuple[str, ...]:
    return tuple(f.name for s in (*hti1_sections(), *chai_sections()) for f in s.fields)


def form_values(hti1: Mapping[str, Any], chai: Mapping[str, Any]) -> dict[str, str]:
    """The stored facts as form values (field name -> text)."""
    values = {f"hti1-{k}": v for k, v in hti1.items() if isinstance(v, str)}
    for section, given in chai.items():
        if isinstance(given, str):
            values[f"chai-{section}"] = given
        elif isinstance(given, dict):
            for name, value in given.items():
                if isinstance(value, str):
                    values[f"chai-{section}-{name}"] = value
                elif isinstance(value, list) and value and isinstance(value[0], dict):
                    for metric, text in value[0].items():
                        values[f"chai-{section}-{name}-{metric}"] = str(text)
    return values


def facts_from_form(
    values: Mapping[str, str], stored_chai: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The HTI-1 and CHAI documents a submitted form describes; empty boxes are left out (so they
    count as missing) and CHAI key metrics beyond the first of a group are kept."""
    hti1 = {n.split("-", 1)[1]: v for n, v in values.items() if n.startswith("hti1-") and v}
    chai: dict[str, Any] = {}
    metrics: dict[str, dict[str, dict[str, str]]] = {}
    for name, value in values.items():
        if not name.startswith("chai-") or not value:
            continue
        parts = name.split("-")[1:]
        if len(parts) == 1:
            chai[parts[0]] = value
        elif len(parts) == 2:
            chai.setdefault(parts[0], {})[parts[1]] = value
        else:
            metrics.setdefault(parts[0], {}).setdefault(parts[1], {})[parts[2]] = value
    for section, groups in metrics.items():
        kept = stored_chai.get(section) if isinstance(stored_chai.get(section), dict) else {}
        target = chai.setdefault(section, {})
        for group, metric in groups.items():
            rest = kept.get(group, []) if isinstance(kept, dict) else []
            target[group] = [metric, *(rest[1:] if isinstance(rest, list) else [])]
    return hti1, chai


def problem_field(standard: FactsStandard, path: str) -> str:
    """The form field a problem path of :func:`~steward.registry.facts.validate_facts` names."""
    inner = path.removeprefix("facts.").split("[")[0].replace(".", "-")
    return f"{standard.value}-{inner}"


def completeness(standard: FactsStandard, facts: dict[str, Any]) -> Completeness:
    required = len(missing_fields(standard, {}))
    missing = tuple(missing_fields(standard, facts))
    return Completeness(
        standard, STANDARD_TITLES[standard], required - len(missing), required, missing
    )
