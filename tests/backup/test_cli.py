"""`intuitivus-flow backup ...` as an operator runs it (in-process, the settings from the
environment, a SQLite file): every refusal is one line on stderr with exit status 2, and the
drill prints RTO and RPO. docs/operations/backup.md's commands run as a real process in the
operations doc test."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from intuitivus_flow.cli import app
from intuitivus_flow.config import Settings
from intuitivus_flow.kit import migrations
from intuitivus_flow.kit.db import create_engine
from tests.backup.conftest import seed


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


async def _seeded(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        await migrations.upgrade(engine)
    finally:
        await engine.dispose()
    await seed(settings)


def test_backup_commands_round_trip_and_refuse_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"FLOW_{name.upper()}", raising=False)
    monkeypatch.setenv("FLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FLOW_ENV", "test")
    asyncio.run(_seeded(Settings()))
    runner = CliRunner()

    created = runner.invoke(app, ["backup", "create"])
    assert created.exit_code == 0, created.output
    name = created.stdout.split(":", 1)[0]
    assert (tmp_path / "backups" / name).is_file()
    assert name in runner.invoke(app, ["backup", "list"]).stdout

    refused = runner.invoke(app, ["backup", "restore", name])
    assert refused.exit_code == 2
    assert "already holds data" in _one_error_line(refused.stderr)

    truncated = tmp_path / "truncated.flowbak"
    truncated.write_bytes((tmp_path / "backups" / name).read_bytes()[:2048])
    damaged = runner.invoke(app, ["backup", "verify", str(truncated)])
    assert damaged.exit_code == 2
    assert "truncated.flowbak is not a usable backup" in _one_error_line(damaged.stderr)

    drill = runner.invoke(app, ["backup", "drill"])
    assert drill.exit_code == 0, drill.output
    assert "RTO (restore duration):" in drill.stdout
    assert "RPO (age of the newest restored row):" in drill.stdout

    forced = runner.invoke(app, ["backup", "restore", name, "--force"])
    assert forced.exit_code == 0, forced.output
    assert forced.stdout.startswith(f"restored {name}")
