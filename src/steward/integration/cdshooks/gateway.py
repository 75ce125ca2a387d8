"""One hook call through Steward: authenticate the EHR, read the tool's committed state, call
the supplier within the time budget with Steward's own token, check and log the cards.

Whatever goes wrong on the supplier's side, the EHR gets a valid CDS Hooks response (no card,
or the fallback plan's card) within the budget; the call is logged and counted either way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiohttp
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from steward.config import ConfigError, Settings
from steward.db.base import utcnow
from steward.integration.cdshooks import calllog, store, surveillance
from steward.integration.cdshooks.batches import GroupCommit
from steward.integration.cdshooks.documents import (
    ACTION_TYPES,
    SUMMARY_MAX,
    HookRequest,
    check_card,
    score_from_risk_assessment,
    score_from_summary,
    with_uuid,
)
from steward.integration.cdshooks.gate import GATE
from steward.integration.cdshooks.models import CallOutcome, CdsService, ScoreSource
from steward.integration.cdshooks.tokens import (
    IssuerKeys,
    StewardSigner,
    TokenRefusedError,
    VerifiedToken,
    read_header,
    verify_signed,
)

LOG = logging.getLogger("steward.cdshooks")


@dataclass(frozen=True)
class Answer:
    """The CDS Hooks response, the job that logs the call (run once the response has left),
    and how long the supplier took (None when it was not called)."""

    body: dict[str, Any]
    log: Callable[[], Awaitable[None]]
    supplier_ms: float | None


class Gateway:
    """The CDS Hooks gateway of one application: keys, HTTP client, counters."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.keys = IssuerKeys(settings)
        self.counts: Counter[str] = Counter()
        self._signer: StewardSigner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._admissions = GroupCommit(
            partial(store.admit, engine, store.SLOT_BUDGETS * settings.cds_timeout_seconds),
            discard=store.release,
        )
        # The log is written after the response has left: a call waits 10 ms for others to
        # share its transaction, which matters when calls come one at a time.
        self._log = GroupCommit(partial(calllog.write, engine), linger=0.01)
        # Seconds to pause between the state check and the supplier call: tests widen the
        # window a slow or descheduled server would open, to show the gate closes it.
        self.pause_before_supplier = (
            settings.cds_pause_before_supplier_seconds if settings.dev else 0.0
        )

    @property
    def signer(self) -> StewardSigner:
        if self._signer is None:
            self._signer = StewardSigner(self.settings)
        return self._signer

    @property
    def client(self) -> aiohttp.ClientSession:
        """One pooled keep-alive client for suppliers and ``jku`` fetches, made in the serving
        event loop (aiohttp: httpx's pool cost milliseconds of CPU per call at 200 in flight)."""
        if self._client is None:
            size = self.settings.cds_max_connections
            self._client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=size, limit_per_host=size),
                timeout=aiohttp.ClientTimeout(total=self.settings.cds_timeout_seconds),
                raise_for_status=False,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def authenticate(self, authorization: str | None, audience: str) -> VerifiedToken:
        """The EHR's verified token for a request to ``audience`` (the URL called)."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenRefusedError("no bearer token")
        unverified = read_header(token.strip(), self.settings)
        jwk = await self.keys.key(unverified.issuer, unverified.header, self.client)
        return verify_signed(unverified, jwk, audience, self.settings)

    async def call(
        self, site_slug: str, service_id: str, request: HookRequest, token: VerifiedToken | None
    ) -> Answer:
        """Answer one hook call (``request`` already checked) with a CDS Hooks response, and
        the job that logs it, which the route runs once the response is on its way."""
        started = time.perf_counter()
        hook = str(request.body["hook"])
        admission = await self._admissions.submit(store.Arrival(site_slug, service_id, hook, token))
        target, decision = admission.target, admission.decision
        for key, reason in request.dropped_prefetch.items():
            LOG.warning(
                "call %s: prefetch %r is not FHIR and was not forwarded: %s",
                request.body["hookInstance"],
                key,
                reason,
            )
        supplier_ms = None
        if decision.service is not None:
            try:
                if self.pause_before_supplier:
                    await asyncio.sleep(self.pause_before_supplier)
                asked = time.perf_counter()
                outcome, payload, reason = await self._supplier(
                    decision.service, request, admission.deadline
                )
                supplier_ms = (time.perf_counter() - asked) * 1000
            finally:
                GATE.leave(target.tool_ids)
        else:
            outcome, payload, reason = CallOutcome.BLOCKED, None, decision.reason
        service = decision.service or decision.blocked
        kept, dropped = self._cards(service, payload) if payload is not None else ([], 0)
        response: dict[str, Any] = {"cards": [c.card for c in kept]}
        if outcome is CallOutcome.BLOCKED and decision.fallback is not None:
            response["cards"] = [_fallback_card(decision.tool_name, decision.fallback)]
        actions = _system_actions(payload)
        if actions:
            response["systemActions"] = actions
        call = {
            "hook_instance": str(request.body["hookInstance"])[:200],
            "issuer": token.issuer if token else "",
            "outcome": outcome,
            "reason": reason,
            "cards_returned": len(response["cards"]),
            "cards_dropped": dropped,
            "prefetch_dropped": len(request.dropped_prefetch),
            "elapsed_ms": (time.perf_counter() - started) * 1000,
        }
        self.counts[outcome.value] += 1
        self.counts["cards_dropped"] += dropped
        if outcome is not CallOutcome.PROXIED:
            LOG.warning(
                "call %s to %s at %s: %s (%s)",
                call["hook_instance"],
                service_id,
                site_slug,
                outcome.value,
                reason,
            )
        record = calllog.CallRecord(
            service=service,
            site_id=target.site_id,
            call=call,
            cards=kept,
            context=request.context,
            deployment_id=decision.deployment_id,
            version_label=decision.version_label,
            at=utcnow(),
            slot_id=admission.slot_id,
        )

        async def log() -> None:
            try:
                await self._log.submit(record)
            except Exception:
                LOG.exception("call %s: could not be logged", call["hook_instance"])

        return Answer(response, log, supplier_ms)

    async def _supplier(
        self, service: CdsService, request: HookRequest, deadline: float
    ) -> tuple[CallOutcome, dict[str, Any] | None, str]:
        """Call the supplier within the time budget, and give up at ``deadline`` (monotonic) in
        any case: the end of the call's slot, after which a suspension no longer waits for it."""
        try:
            token = self.signer.sign(service.supplier_url, service.tenant)
        except ConfigError as error:
            return CallOutcome.SUPPLIER_ERROR, None, str(error)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        content = json.dumps(request.forwarded()).encode()
        left = min(self.settings.cds_timeout_seconds, deadline - time.monotonic())
        if left <= 0:
            return CallOutcome.SUPPLIER_TIMEOUT, None, "no answer within the time budget"
        try:
            async with asyncio.timeout(left):
                async with self.client.post(
                    service.supplier_url, data=content, headers=headers, allow_redirects=False
                ) as answer:
                    status, raw = answer.status, await answer.read()
        except TimeoutError:
            return CallOutcome.SUPPLIER_TIMEOUT, None, "no answer within the time budget"
        except aiohttp.ClientError as error:
            return CallOutcome.SUPPLIER_ERROR, None, f"{error.__class__.__name__}: {error}"
        if status != 200:
            return CallOutcome.SUPPLIER_ERROR, None, f"supplier answered HTTP {status}"
        try:
            payload = json.loads(raw)
        except ValueError:
            return CallOutcome.SUPPLIER_ERROR, None, "supplier answered with invalid JSON"
        if not isinstance(payload, dict) or not isinstance(payload.get("cards"), list):
            return CallOutcome.SUPPLIER_ERROR, None, "supplier answer has no cards array"
        return CallOutcome.PROXIED, payload, ""

    def _cards(
        self, service: CdsService, payload: dict[str, Any]
    ) -> tuple[list[calllog.LoggedCard], int]:
        kept, dropped = [], 0
        for index, card in enumerate(payload["cards"]):
            problems = check_card(card)
            if problems:
                dropped += 1
                detail = "; ".join(f"{p.field} {p.detail}" for p in problems[:5])
                LOG.warning(
                    "service %s: card %d dropped as malformed: %s",
                    service.service_id,
                    index,
                    detail,
                )
                continue
            card = with_uuid(card)
            kept.append(calllog.LoggedCard(card, _score(service, card)))
        return kept, dropped

    async def feedback(
        self, site_slug: str, service_id: str, items: list[Any], token: VerifiedToken | None
    ) -> Callable[[], None]:
        """Record clinicians' feedback; returns the job that passes it on to surveillance."""
        site_id = await run_in_threadpool(
            store.record_feedback, self.engine, site_slug, service_id, token, items
        )
        request_id = f"cds-feedback:{uuid.uuid4().hex}"

        def forward() -> None:
            surveillance.ingest_card_feedback(self.engine, site_id, items, request_id)

        return forward

    async def discovery(self, site_slug: str) -> dict[str, Any]:
        from steward.integration.cdshooks.services import discovery_entry

        services = await run_in_threadpool(store.discovery, self.engine, site_slug)
        return {"services": [discovery_entry(s) for s in services]}


def _score(service: CdsService, card: dict[str, Any]) -> float | None:
    if service.score_source is ScoreSource.RISK_ASSESSMENT:
        return score_from_risk_assessment(card)
    if service.score_source is ScoreSource.SUMMARY_REGEX and service.score_pattern:
        return score_from_summary(card, service.score_pattern, service.score_scale)
    return None


def _system_actions(payload: dict[str, Any] | None) -> list[dict[str, Any]]:
    actions = payload.get("systemActions") if payload else None
    if not isinstance(actions, list):
        return []
    return [a for a in actions if isinstance(a, dict) and a.get("type") in ACTION_TYPES]


def _fallback_card(tool_name: str, plan: Any) -> dict[str, Any]:
    summary = f"{tool_name} is unavailable: follow the fallback plan"
    if len(summary) > SUMMARY_MAX:
        summary = summary[: SUMMARY_MAX - 1] + "…"
    detail = f"{plan.clinical_fallback}\n\n{plan.communication}".strip()
    return {
        "uuid": str(uuid.uuid4()),
        "summary": summary,
        "indicator": "info",
        "detail": detail,
        "source": {"label": "Steward AI governance"},
    }
