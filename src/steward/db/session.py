"""Units of work: one session, one transaction, committed only when the block succeeds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from steward.audit import recorder
from steward.audit.context import AuditContext, bind
from steward.db.engine import READ_ONLY
from steward.integration.cdshooks import gate


class StewardSession(Session):
    """The session class every unit of work uses; each flush is written to the audit trail, and
    taking a tool out of live use waits for the hook calls in flight (in every process)."""


recorder.install(StewardSession)
gate.install(StewardSession)


def session_factory(engine: Engine) -> sessionmaker[StewardSession]:
    """A factory of sessions bound to ``engine``; objects stay readable after commit."""
    return sessionmaker(bind=engine, class_=StewardSession, expire_on_commit=False)


@contextmanager
def read_only_unit(factory: sessionmaker[StewardSession]) -> Iterator[StewardSession]:
    """A transaction that only reads: on SQLite it does not take the write lock."""
    with factory() as session, session.begin():
        session.connection(execution_options={READ_ONLY: True})
        yield session


@contextmanager
def unit_of_work(
    factory: sessionmaker[StewardSession], context: AuditContext | None = None
) -> Iterator[StewardSession]:
    """Open a session and a transaction; commit on success, roll back on any exception.

    Changes are attributed to ``context``; a unit of work without one can only read.
    """
    with factory() as session, session.begin():
        if context is not None:
            bind(session, context)
        yield session
