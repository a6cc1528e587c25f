"""The command line, run as a user runs it: a real process, real database files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

PYTHON = [sys.executable, "-m", "intuitivus_flow"]


def run_cli(
    *args: str, data_dir: Path, extra_env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOW_")}
    env.update({"FLOW_DATA_DIR": str(data_dir), "FLOW_ENV": "test", **(extra_env or {})})
    return subprocess.run(
        [*PYTHON, *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=120,
        check=False,
    )


def test_db_upgrade_current_downgrade(tmp_path: Path) -> None:
    assert "empty" in run_cli("db", "current", data_dir=tmp_path).stdout
    assert run_cli("db", "upgrade", data_dir=tmp_path).returncode == 0
    assert "up to date" in run_cli("db", "current", data_dir=tmp_path).stdout
    assert run_cli("db", "downgrade", "base", data_dir=tmp_path).returncode == 0
    assert "empty" in run_cli("db", "current", data_dir=tmp_path).stdout


def test_downgrade_one_step_and_a_wrong_revision(tmp_path: Path) -> None:
    """`db downgrade -- -1` is what the emergency and training drills run: one way down from
    the newest revision (a merge there makes it ambiguous); a wrong revision is one line."""
    assert run_cli("db", "upgrade", data_dir=tmp_path).returncode == 0
    one_down = run_cli("db", "downgrade", "--", "-1", data_dir=tmp_path)
    assert one_down.returncode == 0, one_down.stderr
    assert "behind" in run_cli("db", "current", data_dir=tmp_path).stdout
    wrong = run_cli("db", "downgrade", "no-such-revision", data_dir=tmp_path)
    assert wrong.returncode == 2
    assert wrong.stderr.strip().splitlines() == [
        "error: migrations: Can't locate revision identified by 'no-such-revision'"
    ]


def test_create_user_then_duplicate_is_one_line(tmp_path: Path) -> None:
    run_cli("db", "upgrade", data_dir=tmp_path)
    env = {"FLOW_NEW_USER_PASSWORD": "a long enough password"}
    created = run_cli(
        "create-user", "Ana@Example.com", "--workspace", "Ana Co", data_dir=tmp_path, extra_env=env
    )
    assert created.returncode == 0, created.stderr
    assert "owner of workspace 'Ana Co'" in created.stdout
    again = run_cli("create-user", "ana@example.com", data_dir=tmp_path, extra_env=env)
    assert again.returncode == 2
    assert again.stderr.strip() == "error: An account with this email already exists"


def test_create_user_validates_input(tmp_path: Path) -> None:
    bad = run_cli(
        "create-user",
        "not-an-email",
        data_dir=tmp_path,
        extra_env={"FLOW_NEW_USER_PASSWORD": "a long enough password"},
    )
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "email" in bad.stderr


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result = run_cli(
        "db",
        "upgrade",
        data_dir=tmp_path,
        extra_env={"FLOW_DATABASE_URL": "postgresql://x:pw@127.0.0.1:1/none"},
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: database unavailable")
    assert "Traceback" not in result.stderr


def test_production_refuses_to_serve_with_default_secret(tmp_path: Path) -> None:
    result = run_cli(
        "serve",
        data_dir=tmp_path,
        extra_env={"FLOW_ENV": "production", "FLOW_SECRET_KEY": "changeme"},
    )
    assert result.returncode == 2
    assert "FLOW_SECRET_KEY" in result.stderr
    assert "changeme" not in result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(data_dir: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOW_")}
    env.update({"FLOW_DATA_DIR": str(data_dir), "FLOW_ENV": "local"})
    log = data_dir / f"serve-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*PYTHON, "serve", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(base, process, log)
            yield base, log
        finally:
            process.terminate()
            process.wait(timeout=20)


def _wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited: {log.read_text()}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    pytest.fail("server did not become healthy in 60 s")


def test_serve_migrates_seeds_demo_and_never_overwrites(tmp_path: Path) -> None:
    """The `make run` path: empty data dir -> migrated SQLite, demo login printed once."""
    for base, log in _serve(tmp_path):
        assert httpx.get(f"{base}/ready").status_code == 200
        printed = log.read_text()
        assert "demo@intuitivus.local" in printed
        password = printed.split("password:", 1)[1].split()[0]
        login = httpx.post(
            f"{base}/api/auth/login", json={"email": "demo@intuitivus.local", "password": password}
        )
        assert login.status_code == 200
        token = login.json()["access_token"]
        renamed = httpx.patch(
            f"{base}/api/workspace",
            json={"name": "Kept"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert renamed.status_code == 200
    assert (tmp_path / "flow.db").exists()
    for base, log in _serve(tmp_path):  # a second start keeps everything
        assert "A demo workspace was created" not in log.read_text()
        login = httpx.post(
            f"{base}/api/auth/login", json={"email": "demo@intuitivus.local", "password": password}
        )
        token = login.json()["access_token"]
        workspace = httpx.get(
            f"{base}/api/workspace", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert workspace["name"] == "Kept"
