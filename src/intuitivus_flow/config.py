"""The one settings object. Every knob is a `FLOW_*` environment variable (or `.env` entry).

Secrets are `SecretStr`, so they never show up in reprs, logs or error messages.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_FILE = "secret_key"
# Values that people paste from examples; production must never run with them.
INSECURE_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "development"})
MIN_SECRET_LENGTH = 32


class Environment(StrEnum):
    local = "local"
    test = "test"
    production = "production"


class ConfigurationError(RuntimeError):
    """The settings cannot work; the message says which one and how to fix it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FLOW_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    env: Environment = Environment.local
    data_dir: Path = Path("./var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; default: SQLite file in the data dir."
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_max_overflow: int = Field(default=5, ge=0, le=200)
    redis_url: SecretStr | None = None
    secret_key: SecretStr | None = None

    cors_origins: list[str] = Field(default_factory=list)
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    web_session_hours: int = Field(default=12, ge=1, le=24 * 30)
    invitation_days: int = Field(default=7, ge=1, le=90)

    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_client: int = Field(default=20, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    register_max_per_client: int = Field(default=10, ge=1)
    trust_forwarded_for: bool = Field(
        default=False, description="Take the client address from X-Forwarded-For (behind a proxy)."
    )

    events_max_batch: int = Field(default=100, ge=1, le=10_000)
    events_max_properties_bytes: int = Field(default=4096, ge=64)

    seed_demo: bool = Field(default=True, description="Create a demo workspace in an empty DB.")
    public_url: str = "http://127.0.0.1:8000"

    @field_validator("database_url")
    @classmethod
    def _normalise_postgres_url(cls, value: str | None) -> str | None:
        # Operators paste libpq URLs; the async engine needs the asyncpg driver name.
        if value and value.startswith(("postgres://", "postgresql://")):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'flow.db').resolve()}"

    @property
    def is_production(self) -> bool:
        return self.env is Environment.production

    def resolved_secret_key(self) -> str:
        """The signing key: configured, or (outside production) generated once into the data dir."""
        configured = self.secret_key.get_secret_value() if self.secret_key else ""
        if self.is_production:
            _refuse_weak_production_secret(configured)
            return configured
        if configured:
            return configured
        return _local_secret(self.data_dir)


def _refuse_weak_production_secret(secret: str) -> None:
    if secret.strip().lower() in INSECURE_SECRETS or len(secret) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            "FLOW_SECRET_KEY must be set to a random value of at least "
            f"{MIN_SECRET_LENGTH} characters in production "
            '(generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))")'
        )


def _local_secret(data_dir: Path) -> str:
    path = data_dir / SECRET_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # Create with owner-only permissions; never overwrite a key another process just wrote.
    try:
        with path.open("x") as handle:
            handle.write(value)
        path.chmod(0o600)
    except FileExistsError:
        return path.read_text().strip()
    return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
