"""`intuitivus-flow users reset-password`: the operator's way when the instance has no e-mail.

In-process through Typer's runner (the command is the same function a real process runs; the
process start-up is tests/cli/test_cli.py's business)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from typer.testing import CliRunner

from intuitivus_flow.auth import service as auth
from intuitivus_flow.cli import app
from intuitivus_flow.config import get_settings
from intuitivus_flow.kit import migrations
from intuitivus_flow.kit.db import create_engine, create_session_factory, unit_of_work

OLD = "a long enough password"
NEW = "another long passphrase"


async def _account(email: str) -> None:
    engine = create_engine(get_settings())
    try:
        await migrations.upgrade(engine)
        async with unit_of_work(create_session_factory(engine)) as session:
            await auth.create_workspace_with_owner(
                session, email=email, password=OLD, name="Ana", workspace_name="Ana Co"
            )
    finally:
        await engine.dispose()


def test_reset_password_sets_it_and_bad_input_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FLOW_ENV", "test")
    monkeypatch.delenv("FLOW_DATABASE_URL", raising=False)
    monkeypatch.delenv("FLOW_NEW_USER_PASSWORD", raising=False)
    asyncio.run(_account("ana@example.com"))
    runner = CliRunner()

    reset = runner.invoke(
        app, ["users", "reset-password", "ANA@example.com"], input=f"{NEW}\n{NEW}\n"
    )
    assert reset.exit_code == 0, reset.output
    assert "password set for ana@example.com" in reset.output
    assert NEW not in reset.output
    with sqlite3.connect(tmp_path / "flow.db") as db:
        [(stored,)] = db.execute("SELECT password_hash FROM users").fetchall()
    assert PasswordHasher().verify(stored, NEW)

    unknown = runner.invoke(
        app,
        ["users", "reset-password", "nobody@example.com"],
        env={"FLOW_NEW_USER_PASSWORD": NEW},
    )
    assert unknown.exit_code == 2
    assert "error: No account uses nobody@example.com" in unknown.output

    short = runner.invoke(
        app, ["users", "reset-password", "ana@example.com"], env={"FLOW_NEW_USER_PASSWORD": "short"}
    )
    assert short.exit_code == 2
    assert "at least 10 characters" in short.output
