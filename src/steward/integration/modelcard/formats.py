"""The model-card formats Steward writes (a module of its own so the command line loads fast)."""

from __future__ import annotations

from enum import StrEnum


class CardFormat(StrEnum):
    """CHAI Applied Model Card XML, or the HTI-1 source-attribute document as JSON."""

    CHAI_XML = "chai-xml"
    HTI1_JSON = "hti1-json"
