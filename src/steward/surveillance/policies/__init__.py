"""Surveillance policies as versioned data files: the default monitor configuration."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

POLICY_FILES = {"monitors": "monitors.yaml"}


@cache
def _text(name: str) -> str:
    return resources.files(__package__).joinpath(POLICY_FILES[name]).read_text(encoding="utf-8")


def load_policy(name: str) -> dict[str, Any]:
    """A fresh parsed copy of the policy file called ``name`` (one of :data:`POLICY_FILES`)."""
    document = yaml.safe_load(_text(name))
    if not isinstance(document, dict) or document.get("policy") != name:
        raise ValueError(f"policy file {POLICY_FILES[name]} does not declare policy: {name}")
    return document


def policy_version(name: str) -> str:
    """The version string of the policy file called ``name``."""
    return str(load_policy(name)["version"])
