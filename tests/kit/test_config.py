from __future__ import annotations

from pathlib import Path

import pytest

from intuitivus_flow.config import ConfigurationError, Settings


def test_local_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).resolved_secret_key()
    second = Settings(data_dir=tmp_path).resolved_secret_key()
    assert first == second
    assert len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("secret", [None, "changeme", "short-but-not-default"])
def test_production_refuses_weak_secrets(tmp_path: Path, secret: str | None) -> None:
    settings = Settings(env="production", data_dir=tmp_path, secret_key=secret)
    with pytest.raises(ConfigurationError, match="FLOW_SECRET_KEY"):
        settings.resolved_secret_key()


def test_production_accepts_a_strong_secret(tmp_path: Path) -> None:
    strong = "x" * 20 + "Y7!" * 10
    assert Settings(env="production", data_dir=tmp_path, secret_key=strong).resolved_secret_key()


def test_secrets_never_print(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, secret_key="s3cr3t-value-" * 3, redis_url="redis://:hunter2@localhost/0"
    )
    shown = repr(settings) + str(settings.model_dump())
    assert "s3cr3t" not in shown
    assert "hunter2" not in shown


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    url = Settings(data_dir=tmp_path).resolved_database_url
    assert url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'flow.db'}"


def test_libpq_urls_get_the_async_driver() -> None:
    settings = Settings(database_url="postgresql://u@h/db")
    assert settings.resolved_database_url == "postgresql+asyncpg://u@h/db"


def test_environment_variables_use_the_flow_prefix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FLOW_ENV", "production")
    monkeypatch.setenv("FLOW_ACCESS_TOKEN_MINUTES", "5")
    monkeypatch.setenv("FLOW_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.is_production
    assert settings.access_token_minutes == 5
