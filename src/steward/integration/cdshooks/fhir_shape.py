"""Whether a prefetch value is a FHIR R4 resource in JSON form (structure, not profiles).

Checked: a known R4 ``resourceType``, a well-formed ``id``, element names that FHIR allows,
no ``null`` or empty values, and the same for every resource inside a Bundle or ``contained``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

ELEMENT_NAME = re.compile(r"^_?[A-Za-z][A-Za-z0-9_]*$")
RESOURCE_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
MAX_DEPTH = 64


@lru_cache(maxsize=1)
def r4_resource_types() -> frozenset[str]:
    """The resource types of FHIR R4, from the packaged list."""
    text = resources.files(__package__).joinpath("fhir_r4_resources.yaml").read_text("utf-8")
    return frozenset(yaml.safe_load(text)["resource_types"])


def fhir_problem(value: Any) -> str | None:
    """Why ``value`` is not a FHIR R4 resource, or None when it is one."""
    return _resource(value, "", 0)


def _resource(value: Any, path: str, depth: int) -> str | None:
    if not isinstance(value, dict):
        return f"{path or 'value'} is not a JSON object"
    kind = value.get("resourceType")
    if not isinstance(kind, str) or kind not in r4_resource_types():
        return f"{path}.resourceType {kind!r} is not a FHIR R4 resource type"
    identifier = value.get("id")
    if identifier is not None and not (
        isinstance(identifier, str) and RESOURCE_ID.match(identifier)
    ):
        return f"{path}.id is not a FHIR id (1-64 letters, digits, '-' or '.')"
    return _elements(value, path, depth)


def _elements(value: dict[str, Any], path: str, depth: int) -> str | None:
    if depth > MAX_DEPTH:
        return f"{path} is nested too deeply"
    for name, item in value.items():
        where = f"{path}.{name}"
        if name != "resourceType" and not ELEMENT_NAME.match(name):
            return f"{where} is not a FHIR element name"
        problem = _value(item, where, depth + 1, nested_resource=name in {"resource", "contained"})
        if problem:
            return problem
    return None


def _value(item: Any, where: str, depth: int, *, nested_resource: bool) -> str | None:
    if item is None or item == "" or item == [] or item == {}:
        return f"{where} is null or empty, which FHIR JSON does not allow"
    if isinstance(item, list):
        for index, element in enumerate(item):
            problem = _value(element, f"{where}[{index}]", depth, nested_resource=nested_resource)
            if problem:
                return problem
        return None
    if isinstance(item, dict):
        if nested_resource:
            return _resource(item, where, depth)
        return _elements(item, where, depth)
    return None
