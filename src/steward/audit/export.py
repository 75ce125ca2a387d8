"""Export of the audit trail as JSON Lines carrying the chain head, and offline verification.

The first line is a header with the chain head (sequence number and hash); each further line is
one event. A third party who holds the head hash (published or signed separately) can check the
whole export with :func:`verify_export` and no database.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from steward.audit.chain import ChainReport, canonical_json, canonical_time, verify_chain
from steward.audit.models import GENESIS_HASH, HEAD_ID, AuditChainHead
from steward.audit.verify import events_of
from steward.db.engine import READ_ONLY
from steward.errors import InputError

FORMAT = "steward-audit-export/1"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def export_lines(engine: Engine) -> Iterator[str]:
    """The header line, then one line per event in sequence order, from one snapshot."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        head = connection.execute(
            select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.id == HEAD_ID)
        ).one()
        header = {
            "format": FORMAT,
            "genesis": GENESIS_HASH,
            "head": {"seq": head.seq, "hash": head.hash},
        }
        yield canonical_json(header)
        for event in events_of(connection):
            yield canonical_json({**event, "occurred_at": canonical_time(event["occurred_at"])})


def verify_export(lines: Iterable[str]) -> ChainReport:
    """Verify an export against the head in its header; :class:`InputError` if unreadable."""
    numbered = enumerate(lines, start=1)
    try:
        _, first = next(numbered)
        header = json.loads(first)
        if header.get("format") != FORMAT:
            raise InputError(f"line 1: not a {FORMAT} file")
        head = header["head"]
        return verify_chain(
            _events(numbered), int(head["seq"]), str(head["hash"]), header["genesis"]
        )
    except StopIteration:
        raise InputError("the export is empty") from None
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(f"line 1: unreadable header ({error})") from None


def _events(numbered: Iterator[tuple[int, str]]) -> Iterator[dict[str, Any]]:
    for number, line in numbered:
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            event["occurred_at"] = datetime.strptime(event["occurred_at"], TIME_FORMAT).replace(
                tzinfo=UTC
            )
        except (ValueError, KeyError, TypeError) as error:
            raise InputError(f"line {number}: not an audit event ({error})") from None
        yield event
