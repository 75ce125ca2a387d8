"""Engine and units of work on both databases: commit, rollback, foreign keys, SQLite pragmas."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from steward.db.engine import make_engine
from steward.db.session import StewardSession, unit_of_work
from steward.registry.kinds import OrganisationKind
from steward.registry.models import Organisation

from ._support import ACTOR


def _count(sessions: sessionmaker[StewardSession]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Organisation)) or 0


def test_unit_of_work_commits_on_success(sessions: sessionmaker[StewardSession]) -> None:
    with unit_of_work(sessions, ACTOR) as session:
        session.add(Organisation(slug="nhs-a", name="Trust A", kind=OrganisationKind.TRUST))
    assert _count(sessions) == 1


def test_unit_of_work_rolls_back_everything_on_error(
    sessions: sessionmaker[StewardSession],
) -> None:
    def failing_unit() -> None:
        with unit_of_work(sessions, ACTOR) as session:
            session.add(Organisation(slug="nhs-a", name="Trust A", kind=OrganisationKind.TRUST))
            session.flush()
            raise RuntimeError("later step failed")

    with pytest.raises(RuntimeError):
        failing_unit()
    assert _count(sessions) == 0


def test_foreign_keys_are_enforced(sessions: sessionmaker[StewardSession]) -> None:
    with pytest.raises(IntegrityError), unit_of_work(sessions, ACTOR) as session:
        session.add(
            Organisation(
                slug="orphan", name="Orphan", kind=OrganisationKind.SITE, parent_id=uuid.uuid4()
            )
        )
    assert _count(sessions) == 0


def test_kind_is_checked_by_the_database(engine: Engine) -> None:
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO organisations (id, slug, name, kind, created_at) "
                "VALUES (:id, 'x', 'X', 'galaxy', CURRENT_TIMESTAMP)"
            ),
            {"id": uuid.uuid4().hex},
        )


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "steward.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_a_read_only_unit_does_not_hold_up_a_writer(
    engine: Engine, sessions: sessionmaker[StewardSession]
) -> None:
    import threading

    from steward.db.session import read_only_unit

    written = threading.Event()

    def writer() -> None:
        with unit_of_work(sessions, ACTOR) as session:
            session.add(Organisation(slug="nhs-b", name="Trust B", kind=OrganisationKind.TRUST))
        written.set()

    with read_only_unit(sessions) as reader:
        assert reader.scalar(select(func.count()).select_from(Organisation)) == 0
        thread = threading.Thread(target=writer)
        thread.start()
        # The writer commits while the read transaction is still open.
        assert written.wait(timeout=10)
        thread.join()
    assert _count(sessions) == 1
