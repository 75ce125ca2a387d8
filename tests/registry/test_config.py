"""Settings: database URL defaults and the refusal of placeholder secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from steward.config import ConfigError, Settings, load_settings


def test_default_database_is_a_sqlite_file_under_steward_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("STEWARD_DATABASE_URL", raising=False)
    monkeypatch.setenv("STEWARD_HOME", str(tmp_path / "home"))
    assert load_settings().resolved_database_url == f"sqlite:///{tmp_path / 'home' / 'steward.db'}"


def test_home_defaults_to_dot_steward(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEWARD_HOME", raising=False)
    monkeypatch.delenv("STEWARD_DATABASE_URL", raising=False)
    assert load_settings().resolved_database_url.endswith("/.steward/steward.db")


def test_database_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert load_settings().resolved_database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize("value", ["", "changethis", "secret", "  ", "short-key"])
def test_placeholder_or_short_secret_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.delenv("STEWARD_DEV", raising=False)
    monkeypatch.setenv("STEWARD_SECRET_KEY", value)
    with pytest.raises(ConfigError, match="STEWARD_SECRET_KEY"):
        load_settings()


def test_missing_secret_is_refused_when_one_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEWARD_DEV", raising=False)
    monkeypatch.delenv("STEWARD_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="STEWARD_SECRET_KEY is not set"):
        load_settings().require_secret_key()


def test_dev_mode_accepts_placeholder_and_generates_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_DEV", "1")
    monkeypatch.delenv("STEWARD_SECRET_KEY", raising=False)
    key = load_settings().require_secret_key()
    assert len(key) >= 32
    assert Settings(dev=True, secret_key="changethis").require_secret_key() == "changethis"


def test_strong_secret_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEWARD_DEV", raising=False)
    monkeypatch.setenv("STEWARD_SECRET_KEY", "x" * 8 + "Yz3-91kq")
    assert load_settings().require_secret_key() == "xxxxxxxxYz3-91kq"
