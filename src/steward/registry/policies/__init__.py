"""Standards and policies as versioned data files: field lists, the risk matrix, the gates.

Each YAML file names itself (``policy``) and its ``version``; a new version of a standard is a
new file, not new code.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

POLICY_FILES = {
    "hti1-source-attributes": "hti1_source_attributes.yaml",
    "chai-model-card": "chai_model_card.yaml",
    "dcb0160-risk-matrix": "dcb0160_risk_matrix.yaml",
    "evidence-types": "evidence_types.yaml",
    "lifecycle-gates": "lifecycle_gates.yaml",
    "dtac-questions": "dtac_questions.yaml",
    "review-intervals": "review_intervals.yaml",
}


@cache
def load_policy(name: str) -> dict[str, Any]:
    """The parsed policy file called ``name`` (one of :data:`POLICY_FILES`)."""
    text = resources.files(__package__).joinpath(POLICY_FILES[name]).read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    if not isinstance(document, dict) or document.get("policy") != name:
        raise ValueError(f"policy file {POLICY_FILES[name]} does not declare policy: {name}")
    return document


def policy_version(name: str) -> str:
    """The version string of the policy file called ``name``."""
    return str(load_policy(name)["version"])
