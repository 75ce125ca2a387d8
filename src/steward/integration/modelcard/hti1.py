"""The ONC HTI-1 source-attribute document (45 CFR 170.315(b)(11)(iv)(B)) as JSON: the 31
attributes in 9 groups of the versioned field list, each with its value and where it came from.
Quantitative performance on external data and the ongoing-maintenance group are completed from
the local evaluation and monitoring (a deploying site's data are external to the developer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from steward.integration.modelcard.evidence import LocalEvidence
from steward.registry.policies import load_policy, policy_version

POLICY = "hti1-source-attributes"
FACTS, REGISTRY, EVALUATION, MONITORING = (
    "model facts",
    "registry",
    "local evaluation",
    "local monitoring",
)


def _local(evidence: LocalEvidence) -> dict[str, tuple[str, str]]:
    """Attribute -> (text, source) the local evaluation and monitoring add."""
    monitoring = f"Local monitoring: {evidence.monitoring}"
    added = {
        "validity_monitoring": (monitoring, MONITORING),
        "fairness_monitoring": (monitoring, MONITORING),
    }
    if evidence.evaluated:
        added |= {
            "validity_external": (evidence.validity, EVALUATION),
            "fairness_external": (evidence.fairness, EVALUATION),
            "validity_local": (evidence.validity, EVALUATION),
            "fairness_local": (evidence.fairness, EVALUATION),
        }
    return added


def hti1_document(
    facts: Mapping[str, Any],
    defaults: Mapping[str, str],
    evidence: LocalEvidence,
    tool: Mapping[str, Any],
    generated_at: str,
) -> dict[str, Any]:
    """The source-attribute document of one tool version."""
    local = _local(evidence)
    groups = []
    missing = []
    for group, attributes in load_policy(POLICY)["groups"].items():
        entries = []
        for name, spec in attributes.items():
            label = spec["label"] if isinstance(spec, Mapping) else str(spec)
            given = facts.get(name)
            text = given.strip() if isinstance(given, str) else ""
            sources = [FACTS] if text else []
            if not text and defaults.get(name):
                text, sources = defaults[name], [REGISTRY]
            if name in local:
                addition, source = local[name]
                text = "\n\n".join(t for t in (text, addition) if t)
                sources.append(source)
            if not text:
                missing.append(f"{group}.{name}")
            entries.append(
                {"attribute": name, "label": label, "value": text or None, "sources": sources}
            )
        groups.append({"group": group, "attributes": entries})
    return {
        "document": "ONC HTI-1 predictive decision support intervention source attributes",
        "regulation": "45 CFR 170.315(b)(11)(iv)(B)",
        "field_list_version": policy_version(POLICY),
        "generated_at": generated_at,
        "tool": dict(tool),
        "complete": not missing,
        "missing": missing,
        "groups": groups,
    }
