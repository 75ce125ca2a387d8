"""The Alembic migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from typer.testing import CliRunner

from steward.cli.main import app
from steward.db import migrate
from steward.db.engine import make_engine
from steward.db.models import metadata


def _differences(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    assert _differences(empty_db_url) == []
    assert _tables(empty_db_url) == set(metadata.tables)
    migrate.downgrade(empty_db_url, "base")
    assert _tables(empty_db_url) == set()
    migrate.upgrade(empty_db_url)
    assert _differences(empty_db_url) == []


def test_steward_db_upgrade_command(empty_db_url: str, monkeypatch: object) -> None:
    runner = CliRunner()
    env = {"STEWARD_DATABASE_URL": empty_db_url}
    before = runner.invoke(app, ["db", "current"], env=env)
    assert before.exit_code == 0, before.output
    assert "empty" in before.output
    result = runner.invoke(app, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    head = migrate.current_revision(empty_db_url)
    assert head is not None
    assert f"database at revision {head}" in result.output
    assert _differences(empty_db_url) == []


def test_db_upgrade_reports_an_unreachable_database_without_a_trace() -> None:
    result = CliRunner().invoke(
        app,
        ["db", "upgrade"],
        env={"STEWARD_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
    )
    assert result.exit_code == 2
    assert "database error" in result.output
    assert "Traceback" not in result.output
