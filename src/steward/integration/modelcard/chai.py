"""The CHAI Applied Model Card (schema v0.2) as XML, laid out by ``chai_v0_2.yaml``: the
registry's CHAI model facts, with the key metrics and ongoing maintenance completed from the
local evaluation and monitoring. Pure: facts in, bytes out."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import yaml

from steward.integration.modelcard.evidence import LocalEvidence, MetricResult

NOT_PROVIDED = "Not provided."
#: Card metric group -> the evidence's group.
METRIC_GROUPS = {
    "UsefulnessUsabilityEfficacy": "usefulness",
    "FairnessEquity": "fairness",
    "SafetyReliability": "safety",
}
LOCAL_GOALS = {
    "usefulness": "Local validation: discrimination and operating characteristics on local data.",
    "fairness": "Local validation: comparable performance across patient subgroups.",
    "safety": "Local validation and monitoring: calibration on local data, ongoing monitoring.",
}


@cache
def layout() -> dict[str, Any]:
    """The element tree of the schema (``chai_v0_2.yaml``)."""
    text = resources.files(__package__).joinpath("chai_v0_2.yaml").read_text("utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def _fact(facts: Mapping[str, Any], path: str) -> str:
    section, _, name = path.partition(".")
    value = facts.get(section)
    if name:
        value = value.get(name) if isinstance(value, Mapping) else None
    return value.strip() if isinstance(value, str) else ""


def _join(*parts: str) -> str:
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def chai_xml(
    facts: Mapping[str, Any], defaults: Mapping[str, str], evidence: LocalEvidence
) -> bytes:
    """The model card: ``facts`` (CHAI facts by section), ``defaults`` (element path -> text
    used when the fact is missing, e.g. the registry's tool name), ``evidence`` (local)."""
    spec = layout()
    ns = spec["namespace"]
    ET.register_namespace("", ns)
    root = ET.Element(f"{{{ns}}}{spec['root']}")
    for element in spec["elements"]:
        _add(root, element, facts, defaults, evidence, ns)
    ET.indent(root, space="\t")
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body + b"\n"


def _add(
    parent: ET.Element,
    element: Mapping[str, Any],
    facts: Mapping[str, Any],
    defaults: Mapping[str, str],
    evidence: LocalEvidence,
    ns: str,
) -> None:
    name = element["name"]
    if "children" in element:
        node = ET.SubElement(parent, f"{{{ns}}}{name}")
        for child in element["children"]:
            _add(node, child, facts, defaults, evidence, ns)
        return
    if "metric" in element:
        _metric(ET.SubElement(parent, f"{{{ns}}}{name}"), element, facts, evidence, ns)
        return
    source = element["from"]
    text = _fact(facts, source) or defaults.get(source, "")
    if element.get("local") == "monitoring":
        text = _join(text, f"Local monitoring: {evidence.monitoring}")
    elif element.get("local") == "evaluation" and evidence.evaluated:
        text = _join(text, evidence.reference)
    if element.get("optional") and not text:
        return
    node = ET.SubElement(parent, f"{{{ns}}}{name}")
    if "items" in element:
        for item in re.split(r"[\n,;]", text):
            if item.strip():
                ET.SubElement(node, f"{{{ns}}}{element['items']}").text = item.strip()
        return
    node.text = text or NOT_PROVIDED


def _metric(
    node: ET.Element,
    element: Mapping[str, Any],
    facts: Mapping[str, Any],
    evidence: LocalEvidence,
    ns: str,
) -> None:
    """One KeyMetricType: the developer's metrics of the group, then the local ones."""
    section, _, group = element["metric"].partition(".")
    declared = (
        facts.get(section, {}).get(group, []) if isinstance(facts.get(section), Mapping) else []
    )
    declared = [m for m in declared if isinstance(m, Mapping)]
    local = METRIC_GROUPS[group]

    def texts(key: str) -> list[str]:
        return [str(m[key]) for m in declared if isinstance(m.get(key), str) and m[key].strip()]

    results = [
        MetricResult(
            str(m.get("MetricGoal") or "Developer-reported result"),
            {"kind": "text", "value": str(m["Results"])},
        )
        for m in declared
        if isinstance(m.get("Results"), str) and m["Results"].strip()
    ]
    results += evidence.metrics.get(local, [])
    if not results:
        results = [MetricResult("Not reported", {"kind": "text", "value": "not reported"})]
    interpretation = {
        "usefulness": evidence.validity,
        "fairness": evidence.fairness,
        "safety": _join(evidence.validity, f"Local monitoring: {evidence.monitoring}"),
    }[local]
    values = {
        "MetricGoal": _join(*texts("MetricGoal"), LOCAL_GOALS[local]),
        "Interpretation": _join(*texts("Interpretation"), interpretation),
        "TestType": _join(
            *texts("TestType"), "Local retrospective validation" if evidence.evaluated else ""
        ),
        "TestingDataDescription": _join(*texts("TestingDataDescription"), evidence.testing_data),
        "ValidationProcessAndJustification": _join(
            *texts("ValidationProcessAndJustification"), evidence.validation_process
        ),
    }
    for child in layout()["metric_children"]:
        sub = ET.SubElement(node, f"{{{ns}}}{child}")
        if child == "Results":
            for result in results:
                item = ET.SubElement(sub, f"{{{ns}}}MetricResult")
                ET.SubElement(item, f"{{{ns}}}Label").text = result.label
                value = json.dumps(result.value, separators=(",", ":"), ensure_ascii=False)
                ET.SubElement(item, f"{{{ns}}}ValueJson").text = value
        else:
            sub.text = values[child] or NOT_PROVIDED
