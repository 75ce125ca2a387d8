"""Alembic environment: runs on the engine handed over by :mod:`steward.db.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from steward.db.engine import make_engine
from steward.db.models import metadata

config = context.config


def _engine() -> Engine:
    engine = config.attributes.get("engine")
    if isinstance(engine, Engine):
        return engine
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no engine or sqlalchemy.url given to the Steward migrations")
    return make_engine(url)


def run_migrations_online() -> None:
    with _engine().connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
