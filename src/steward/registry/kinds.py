"""Kinds of organisation in the hierarchy: plain data, importable without the database layer."""

from __future__ import annotations

from enum import StrEnum


class OrganisationKind(StrEnum):
    """Levels of the hierarchy, from the widest (region) to the narrowest (site)."""

    REGION = "region"
    TRUST = "trust"
    HOSPITAL = "hospital"
    SITE = "site"

    @property
    def level(self) -> int:
        return list(OrganisationKind).index(self)
