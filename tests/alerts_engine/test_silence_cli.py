"""The silence commands against a real SQLite database (the CLI's own unit of work)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from intuitivus_flow.alerts.silences.cli import silence_app
from intuitivus_flow.config import Settings, get_settings
from intuitivus_flow.kit import migrations
from intuitivus_flow.kit.db import create_engine


@pytest.fixture
def database_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("FLOW_DATABASE_URL", url)
    monkeypatch.setenv("FLOW_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()

    async def migrate() -> None:
        engine = create_engine(Settings(database_url=url, data_dir=tmp_path))
        await migrations.upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    yield
    get_settings.cache_clear()


def test_add_list_and_expire(database_env: None) -> None:
    runner = CliRunner()
    added = runner.invoke(
        silence_app,
        [
            "add",
            "alertname=HighCpuUsage",
            "instance=~web-.*",
            "-c",
            "load test",
            "--duration",
            "30",
        ],
    )
    assert added.exit_code == 0, added.output
    silence_id = added.output.split()[1]
    uuid.UUID(silence_id)
    listed = runner.invoke(silence_app, ["list"])
    assert "alertname=HighCpuUsage, instance=~web-.*" in listed.output
    expired = runner.invoke(silence_app, ["expire", silence_id])
    assert expired.exit_code == 0, expired.output
    assert runner.invoke(silence_app, ["list"]).output.strip() == "no silences"
    again = runner.invoke(silence_app, ["expire", silence_id])
    assert again.exit_code == 2
    assert "already expired" in again.output


def test_bad_matchers_are_refused(database_env: None) -> None:
    result = CliRunner().invoke(silence_app, ["add", "nonsense", "-c", "x"])
    assert result.exit_code == 2
    assert "not a matcher" in result.output
