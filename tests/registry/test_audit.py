"""The audit trail: an event with each change, tamper detection, no forks under concurrency."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from steward.audit.chain import event_hash, verify_chain
from steward.audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from steward.audit.recorder import UnattributedChangeError
from steward.audit.verify import verify_database
from steward.cli.main import app
from steward.db.session import StewardSession, unit_of_work
from steward.registry.models import Organisation
from steward.registry.organisations import create_organisation

from ._support import ACTOR


def _chain(length: int) -> list[dict[str, Any]]:
    events, previous = [], GENESIS_HASH
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for seq in range(1, length + 1):
        event: dict[str, Any] = {
            "seq": seq,
            "occurred_at": start + timedelta(seconds=seq),
            "actor": "user:ada@example.org",
            "action": "tools.updated",
            "entity_type": "tools",
            "entity_id": f"t{seq}",
            "before": {"state": "proposed"},
            "after": {"state": "in_assessment", "note": "ü"},
            "request_id": f"r{seq}",
            "organisation_id": None,
            "prev_hash": previous,
        }
        event["hash"] = previous = event_hash(event)
        events.append(event)
    return events


def _verify(events: list[dict[str, Any]], head: dict[str, Any]) -> tuple[int | None, str]:
    report = verify_chain(events, head["seq"], head["hash"], GENESIS_HASH)
    return report.broken_at, report.reason or ""


def test_pure_chain_detects_each_kind_of_tampering() -> None:
    events = _chain(5)
    head = events[-1]
    assert _verify(events, head) == (None, "")
    edited = [dict(e) for e in events]
    edited[2]["after"] = {"state": "deployed"}
    assert _verify(edited, head)[0] == 3
    assert "edited" in _verify(edited, head)[1]
    assert _verify(events[:1] + events[2:], head)[0] == 2
    swapped = [events[0], {**events[2], "seq": 2}, {**events[1], "seq": 3}, *events[3:]]
    assert _verify(swapped, head)[0] == 2
    assert _verify(events[:4], head)[0] == 5
    assert _verify([], {"seq": 0, "hash": GENESIS_HASH}) == (None, "")


def _events(sessions: sessionmaker[StewardSession]) -> list[AuditEvent]:
    with sessions() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def test_each_change_is_recorded_with_actor_entity_and_before_after(
    sessions: sessionmaker[StewardSession],
) -> None:
    with unit_of_work(sessions, ACTOR) as session:
        organisation = create_organisation(session, "rxa", "Riverside")
    with unit_of_work(sessions, ACTOR) as session:
        session.get_one(Organisation, organisation.id).name = "Riverside NHS Trust"
    with unit_of_work(sessions, ACTOR) as session:
        site = create_organisation(session, "rxa-ed", "ED", parent_slug="rxa")
    created, updated, child = _events(sessions)
    assert child.after is not None
    assert child.after["parent_id"] == str(organisation.id)
    assert child.entity_id == str(site.id)
    assert (created.seq, created.action, created.actor) == (
        1,
        "organisations.created",
        "test:pytest",
    )
    assert created.entity_id == str(organisation.id)
    assert created.before is None
    assert created.after is not None
    assert created.after["slug"] == "rxa"
    assert created.after["kind"] == "trust"
    assert created.after["created_at"].endswith("Z")
    assert updated.before is not None
    assert updated.after is not None
    assert (updated.before["name"], updated.after["name"]) == ("Riverside", "Riverside NHS Trust")
    assert updated.request_id == "test-request"
    assert updated.prev_hash == created.hash


def test_a_rolled_back_change_leaves_no_event(sessions: sessionmaker[StewardSession]) -> None:
    def failing() -> None:
        with unit_of_work(sessions, ACTOR) as session:
            create_organisation(session, "rxa", "Riverside")
            session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        failing()
    assert _events(sessions) == []
    with sessions() as session:
        assert session.get_one(AuditChainHead, 1).seq == 0


def test_unattributed_changes_are_refused(sessions: sessionmaker[StewardSession]) -> None:
    def anonymous() -> None:
        with unit_of_work(sessions) as session:
            create_organisation(session, "rxa", "Riverside")

    with pytest.raises(UnattributedChangeError, match="organisations"):
        anonymous()
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Organisation)) == 0


def _populate(sessions: sessionmaker[StewardSession]) -> None:
    with unit_of_work(sessions, ACTOR) as session:
        create_organisation(session, "north", "North", None)
        create_organisation(session, "rxa", "Riverside", parent_slug=None)
    with unit_of_work(sessions, ACTOR) as session:
        create_organisation(session, "rxb", "Brookside")
        org = session.scalar(select(Organisation).where(Organisation.slug == "rxa"))
        assert org is not None
        org.name = "Riverside NHS Trust"


def _rehash_second(engine: Engine) -> None:
    with engine.begin() as connection:
        row = dict(
            connection.execute(select(AuditEvent.__table__).where(AuditEvent.seq == 2))
            .one()
            ._mapping
        )
        row["actor"] = "mallory"
        connection.execute(
            text("UPDATE audit_events SET actor = 'mallory', hash = :h WHERE seq = 2"),
            {"h": event_hash(row)},
        )


TAMPERING: dict[str, tuple[list[str], int, str]] = {
    "edit": (["UPDATE audit_events SET actor = 'mallory' WHERE seq = 2"], 2, "edited"),
    "delete": (["DELETE FROM audit_events WHERE seq = 2"], 2, "deleted"),
    "reorder": (
        [
            "UPDATE audit_events SET seq = 100 WHERE seq = 2",
            "UPDATE audit_events SET seq = 2 WHERE seq = 3",
            "UPDATE audit_events SET seq = 3 WHERE seq = 100",
        ],
        2,
        "reordered",
    ),
    "truncate": (["DELETE FROM audit_events WHERE seq = 4"], 4, "removed from the end"),
}


@pytest.mark.parametrize("kind", [*TAMPERING, "rehash"])
def test_audit_verify_names_the_first_broken_link(
    db_url: str, engine: Engine, sessions: sessionmaker[StewardSession], kind: str
) -> None:
    _populate(sessions)
    runner = CliRunner()
    env = {"STEWARD_DATABASE_URL": db_url}
    intact = runner.invoke(app, ["audit", "verify"], env=env)
    assert intact.exit_code == 0, intact.output
    assert "audit chain intact: 4 events" in intact.output
    if kind == "rehash":
        _rehash_second(engine)
        expected_seq, expected_reason = 3, "does not link"
    else:
        statements, expected_seq, expected_reason = TAMPERING[kind]
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    broken = runner.invoke(app, ["audit", "verify"], env=env)
    assert broken.exit_code == 1, broken.output
    assert f"audit chain broken at event {expected_seq}:" in broken.output
    assert expected_reason in broken.output


def test_concurrent_writers_never_fork_the_chain(
    engine: Engine, sessions: sessionmaker[StewardSession]
) -> None:
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for n in range(5):
                with unit_of_work(sessions, ACTOR) as session:
                    create_organisation(session, f"org-{worker}-{n}", f"Org {worker} {n}")
        except BaseException as error:  # collected and re-raised by the test
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = verify_database(engine)
    assert report.intact, report.reason
    assert (report.checked, report.head_seq) == (20, 20)
    assert [e.seq for e in _events(sessions)] == list(range(1, 21))


def test_update_events_record_the_new_updated_at(sessions: sessionmaker[StewardSession]) -> None:
    from steward.registry.models import Tool
    from steward.registry.tools import register_tool

    with unit_of_work(sessions, ACTOR) as session:
        tool = register_tool(session, create_organisation(session, "rxa", "Riverside"), "Tool")
    with unit_of_work(sessions, ACTOR) as session:
        session.get_one(Tool, tool.id).description = "Sepsis early warning"
    update = _events(sessions)[-1]
    assert update.action == "tools.updated"
    assert update.before is not None
    assert update.after is not None
    assert update.after["updated_at"] > update.before["updated_at"]
    with sessions() as session:
        stored = session.get_one(Tool, tool.id).updated_at
    assert update.after["updated_at"] == stored.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_an_export_carries_the_head_and_verifies_offline(
    db_url: str, sessions: sessionmaker[StewardSession], tmp_path: Path
) -> None:
    _populate(sessions)
    runner = CliRunner()
    exported = tmp_path / "audit.jsonl"
    result = runner.invoke(
        app, ["audit", "export", "-o", str(exported)], env={"STEWARD_DATABASE_URL": db_url}
    )
    assert result.exit_code == 0, result.output
    lines = exported.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["head"]["seq"] == 4
    assert len(lines) == 5
    offline = runner.invoke(app, ["audit", "verify", "--file", str(exported)])
    assert offline.exit_code == 0, offline.output
    assert header["head"]["hash"] in offline.output
    event = json.loads(lines[2])
    event["actor"] = "mallory"
    exported.write_text("\n".join([*lines[:2], json.dumps(event), *lines[3:]]), encoding="utf-8")
    tampered = runner.invoke(app, ["audit", "verify", "--file", str(exported)])
    assert tampered.exit_code == 1
    assert "broken at event 2" in tampered.output
    exported.write_text("not json\n", encoding="utf-8")
    unreadable = runner.invoke(app, ["audit", "verify", "--file", str(exported)])
    assert unreadable.exit_code == 2
    assert "line 1" in unreadable.output
