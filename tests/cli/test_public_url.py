"""FLOW_PUBLIC_URL follows `serve --host/--port` unless it was set (issue 17)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from intuitivus_flow import cli
from intuitivus_flow.config import Settings, get_settings


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[Settings]]:
    """Run `serve` up to the point where the server would start; record what it would serve."""
    for key in [key for key in os.environ if key.startswith("FLOW_")]:
        monkeypatch.delenv(key)
    # `serve` writes FLOW_PUBLIC_URL into os.environ: recorded here, so teardown removes it.
    monkeypatch.setenv("FLOW_PUBLIC_URL", "")
    monkeypatch.delenv("FLOW_PUBLIC_URL")
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    monkeypatch.setenv("FLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FLOW_ENV", "test")
    monkeypatch.setenv("FLOW_SEED_DEMO", "false")
    started: list[Settings] = []

    def start(settings: Settings, *, host: str, port: int, reload: bool) -> None:
        # The server process builds its app from the environment: read it as it will.
        started.append(Settings())
        assert settings.public_url == started[-1].public_url

    monkeypatch.setattr(cli, "_serve_one_process", start)
    get_settings.cache_clear()
    yield started
    get_settings.cache_clear()  # the next test reads its own environment


def _serve(*args: str) -> None:
    result = CliRunner().invoke(cli.app, ["serve", "--no-migrate", *args])
    assert result.exit_code == 0, result.output


def test_public_url_follows_the_port(served: list[Settings]) -> None:
    _serve("--port", "8100")
    assert served[-1].public_url == "http://127.0.0.1:8100"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("0.0.0.0", "http://127.0.0.1:8200"),
        ("localhost", "http://localhost:8200"),
        ("::", "http://[::1]:8200"),
        ("::1", "http://[::1]:8200"),
    ],
)
def test_public_url_follows_the_host(served: list[Settings], host: str, expected: str) -> None:
    _serve("--host", host, "--port", "8200")
    assert served[-1].public_url == expected


def test_a_set_public_url_is_kept(served: list[Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOW_PUBLIC_URL", "https://flow.example.com")
    _serve("--port", "8100")
    assert served[-1].public_url == "https://flow.example.com"


def test_a_public_url_from_the_env_file_is_kept(served: list[Settings], tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FLOW_PUBLIC_URL=https://from-dotenv.example.com\n")
    _serve("--port", "8100")
    assert served[-1].public_url == "https://from-dotenv.example.com"
