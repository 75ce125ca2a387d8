"""Surveillance policies as versioned data files: the default monitor configuration."""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

import yaml

POLICY_FILES = {"monitors": "monitors.yaml"}


@cache
def _parsed(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath(POLICY_FILES[name]).read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    if not isinstance(document, dict) or document.get("policy") != name:
        raise ValueError(f"policy file {POLICY_FILES[name]} does not declare policy: {name}")
    return document


def load_policy(name: str) -> dict[str, Any]:
    """A fresh parsed copy of the policy file called ``name`` (one of :data:`POLICY_FILES`).

    The file is parsed once per process (a monitor tick reads it for every run: 5 ms a parse)
    and each caller gets its own copy to merge overrides into.
    """
    return copy.deepcopy(_parsed(name))


def policy_version(name: str) -> str:
    """The version string of the policy file called ``name``."""
    return str(load_policy(name)["version"])
