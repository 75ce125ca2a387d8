"""Runtime settings, read once from ``STEWARD_*`` environment variables.

One settings class for the whole platform; it refuses placeholder secrets outside dev mode.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from steward.errors import StewardError

PLACEHOLDER_SECRETS = frozenset({"", "changethis", "change-me", "changeme", "secret", "steward"})


class ConfigError(StewardError):
    """A setting is missing or unsafe; the message names the environment variable."""


ASYMMETRIC_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}
)


class CdsIssuer(BaseModel):
    """An EHR trusted to call the CDS Hooks gateway: its keys, inline, in a file, or by ``jku``."""

    jwks: dict[str, Any] | None = None
    jwks_file: Path | None = None
    jku: list[str] = []


class Settings(BaseSettings):
    """Every setting Steward reads from the environment (prefix ``STEWARD_``)."""

    model_config = SettingsConfigDict(env_prefix="STEWARD_", extra="ignore")

    home: Path = Path(".steward")
    database_url: str | None = None
    secret_key: SecretStr | None = None
    dev: bool = False
    evidence_max_bytes: int = 25 * 1024 * 1024
    ingest_max_bytes: int = 64 * 1024 * 1024
    upload_max_bytes: int = 2 * 1024 * 1024 * 1024
    login_max_failures: int = 5
    login_lockout_seconds: int = 15 * 60
    token_default_days: int = 90
    session_hours: int = 12
    secure_cookies: bool = False
    # surveillance: the scheduler and the notification channels
    scheduler_embedded: bool = True
    scheduler_interval_seconds: float = Field(default=60.0, gt=0)
    scheduler_lease_seconds: int = Field(default=600, ge=10)
    monitor_reference_days: int = Field(default=28, ge=7, le=3660)
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_from: str = "steward@localhost"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_attempts: int = Field(default=3, ge=1, le=10)
    cds_base_url: str | None = None
    cds_issuers: dict[str, CdsIssuer] = {}
    cds_algorithms: list[str] = ["ES384", "RS384", "ES256", "ES512", "RS256", "RS512", "PS384"]
    cds_clock_skew_seconds: int = 60
    cds_timeout_seconds: float = 2.0
    cds_max_connections: int = 256
    cds_signing_key_file: Path | None = None
    cds_signing_kid: str = "steward-cds-1"
    cds_token_lifetime_seconds: int = 300
    cds_jku_cache_seconds: int = 300
    cds_discovery_requires_jwt: bool = False
    # dev only: each hook call pauses this long between reading its tool's state and calling the
    # supplier, widening the window a busy server opens (the suspension tests use it)
    cds_pause_before_supplier_seconds: float = Field(default=0.0, ge=0, le=10)

    @field_validator("cds_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        refused = [a for a in value if a not in ASYMMETRIC_ALGORITHMS]
        if refused:
            raise ValueError(
                f"{', '.join(refused)} not allowed: CDS Hooks forbids 'none' and symmetric "
                f"algorithms; choose from {', '.join(sorted(ASYMMETRIC_ALGORITHMS))}"
            )
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Self:
        if self.secret_key is not None and not self.dev:
            value = self.secret_key.get_secret_value()
            if value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < 16:
                raise ValueError(
                    "STEWARD_SECRET_KEY is empty, a placeholder or shorter than 16 characters; "
                    "set a random value, e.g. from: "
                    'python -c "import secrets; print(secrets.token_urlsafe(32))"'
                )
        return self

    @property
    def resolved_database_url(self) -> str:
        """``STEWARD_DATABASE_URL``, or a SQLite file under ``STEWARD_HOME``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'steward.db').resolve()}"

    def require_secret_key(self) -> str:
        """The secret key for signing; in dev mode a random per-process key if none is set."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        if self.dev:
            return _dev_secret()
        raise ConfigError(
            "STEWARD_SECRET_KEY is not set; set a random value of at least 16 characters, "
            "or STEWARD_DEV=1 on a development machine"
        )


@lru_cache(maxsize=1)
def _dev_secret() -> str:
    return secrets.token_urlsafe(32)


def load_settings() -> Settings:
    """Read the settings, turning validation errors into one readable :class:`ConfigError`."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"STEWARD_{'_'.join(str(p) for p in e['loc']).upper() or 'SETTINGS'}: {e['msg']}"
            for e in error.errors()
        )
        raise ConfigError(problems) from None
