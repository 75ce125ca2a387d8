"""Small helpers shared by the registry tests."""

from __future__ import annotations

from steward.audit.context import AuditContext

ACTOR = AuditContext(actor="test:pytest", request_id="test-request")
