"""`intuitivus-flow data export|import` against a real SQLite database: round trip, dry run,
and every failure as one readable line with exit code 2."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.dataport.support import SEEDED, jsonl, make_zip, seed
from typer.testing import CliRunner

from intuitivus_flow.auth import service as auth
from intuitivus_flow.config import Settings, get_settings
from intuitivus_flow.dataport.cli import app
from intuitivus_flow.dataport.imports import service as importer
from intuitivus_flow.kit import migrations
from intuitivus_flow.kit.db import create_engine, create_session_factory, unit_of_work


@pytest.fixture
def workspaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """(a seeded workspace, an empty one) in a migrated SQLite file the CLI is pointed at."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("FLOW_DATABASE_URL", url)
    monkeypatch.setenv("FLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FLOW_ENV", "test")
    get_settings.cache_clear()

    async def prepare() -> tuple[str, str]:
        engine = create_engine(Settings(database_url=url, data_dir=tmp_path))
        await migrations.upgrade(engine)
        sessions = create_session_factory(engine)
        ids = []
        for name in ("Source", "Target"):
            async with unit_of_work(sessions) as session:
                user = await auth.create_workspace_with_owner(
                    session,
                    email=f"{name.lower()}@example.com",
                    password="a long enough password",
                    name=name,
                    workspace_name=name,
                )
                ids.append(user.workspace_id)
        await seed(sessions, ids[0])
        await engine.dispose()
        return str(ids[0]), str(ids[1])

    yield asyncio.run(prepare())
    get_settings.cache_clear()


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_export_then_import_into_another_workspace(
    workspaces: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "WRITE_BATCH", 2)  # several batches, each reported
    source, target = workspaces
    out = tmp_path / "export.zip"
    code, stdout, stderr = invoke("export", "--workspace-id", source, "--out", str(out))
    assert code == 0, stderr
    assert stdout.startswith("exported ")
    assert "export agents" in stderr  # the progress rows
    assert not (tmp_path / ".export.zip.partial").exists()
    assert "agents.jsonl" in zipfile.ZipFile(out).namelist()
    code, stdout, stderr = invoke("import", str(out), "--workspace-id", target, "--dry-run")
    assert code == 0, stderr
    assert stdout.startswith("would create ")
    assert "validate agents" in stderr
    code, stdout, stderr = invoke("import", str(out), "--workspace-id", target)
    assert code == 0, stderr
    assert stdout.startswith("created ")
    assert f"agents {SEEDED['agents']}" in stdout
    assert "write messages" in stderr
    again = tmp_path / "again.csv"
    code, _, _ = invoke(
        "export",
        "--workspace-id",
        target,
        "--out",
        str(again),
        "--format",
        "csv",
        "--entity",
        "agents",
    )
    assert code == 0
    assert again.read_text().splitlines()[0].startswith("id,name,role")
    assert len(again.read_text().splitlines()) == 1 + SEEDED["agents"]


def test_bad_rows_are_one_line_exit_2_and_a_full_report(
    workspaces: tuple[str, str], tmp_path: Path
) -> None:
    _, target = workspaces
    bad = tmp_path / "bad.zip"
    bad.write_bytes(
        make_zip({"agents.jsonl": jsonl({"name": "ok"}, {"name": "x", "status": "sleeping"}, {})})
    )
    report = tmp_path / "report.json"
    code, stdout, stderr = invoke(
        "import", str(bad), "--workspace-id", target, "--report", str(report)
    )
    assert code == 2
    assert stdout == ""
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("error: 2 problem(s) found; nothing was imported.")
    assert "First: agents.jsonl:2 status: Input should be" in line
    problems = json.loads(report.read_text())
    assert problems["total"] == 2
    assert [(p["line"], p["field"]) for p in problems["errors"]] == [(2, "status"), (3, "name")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", "{missing}", "--workspace-id", "{target}"], "No such file or directory"),
        (["import", "{notzip}", "--workspace-id", "{target}"], "not a zip archive"),
        (["import", "{empty}", "--workspace-id", "{target}"], "holds no entity files"),
        (["import", "{notzip}", "--workspace-id", "{unknown}"], "Workspace not found"),
        (
            ["export", "--workspace-id", "{target}", "--out", "{out}", "--entity", "users"],
            "Unknown entity",
        ),
        (["export", "--workspace-id", "{target}", "--out", "{nodir}"], "No such file"),
    ],
)
def test_failures_are_one_line_with_exit_2(
    workspaces: tuple[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    _, target = workspaces
    (tmp_path / "notzip.zip").write_text("hello")
    (tmp_path / "empty.zip").write_bytes(make_zip({}))
    values = {
        "target": target,
        "unknown": str(uuid.uuid4()),
        "missing": str(tmp_path / "missing.zip"),
        "notzip": str(tmp_path / "notzip.zip"),
        "empty": str(tmp_path / "empty.zip"),
        "out": str(tmp_path / "out.csv"),
        "nodir": str(tmp_path / "no" / "such" / "dir.zip"),
    }
    code, stdout, stderr = invoke(*(arg.format(**values) for arg in args))
    assert code == 2, stdout
    lines = stderr.strip().splitlines()
    assert lines[-1].startswith("error: ")
    assert message in lines[-1]
    assert "Traceback" not in stderr


def test_size_limits_apply_to_files_too(
    workspaces: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, target = workspaces
    monkeypatch.setenv("FLOW_IMPORT_MAX_BYTES", "2048")
    get_settings.cache_clear()
    big = tmp_path / "big.zip"
    big.write_bytes(make_zip({"events.jsonl": os.urandom(4096).hex()}))
    code, _, stderr = invoke("import", str(big), "--workspace-id", target)
    assert code == 2
    assert "Imports are limited to 2048 bytes" in stderr


def test_a_real_process_prints_one_line(workspaces: tuple[str, str], tmp_path: Path) -> None:
    _, target = workspaces
    bad = tmp_path / "bad.zip"
    bad.write_bytes(make_zip({"agents.csv": "name,status\nA,sleeping\n"}))
    env = {key: value for key, value in os.environ.items() if key.startswith(("FLOW_", "PATH"))}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "intuitivus_flow",
            "data",
            "import",
            str(bad),
            "--workspace-id",
            target,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: 1 problem(s) found; nothing was imported. First: agents.csv:2 status: "
        "Input should be 'active', 'paused' or 'archived'"
    ]
