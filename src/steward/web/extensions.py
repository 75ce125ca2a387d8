"""Optional capabilities the pages show when they are installed (surveillance's open alerts),
looked up lazily so the web shell does not depend on them being present."""

from __future__ import annotations

import importlib

from steward.registry.portfolio import AlertCounter


def alert_counter() -> AlertCounter | None:
    """Surveillance's ``open_alert_counts(session, tool_ids)``, when that capability exists."""
    try:
        module = importlib.import_module("steward.surveillance.alerts")
    except ImportError:
        return None
    counter = getattr(module, "open_alert_counts", None)
    return counter if callable(counter) else None
