"""The analytics event commands: bad input is one line and exit code 2; copy and funnel run
against a real (empty, migrated) database and store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from intuitivus_flow.cli import app

runner = CliRunner()
WORKSPACE = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"FLOW_DATA_DIR": str(tmp_path), "FLOW_ANALYTICS_URL": f"duckdb:///{tmp_path}/a.duckdb"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["funnel", "--workspace", WORKSPACE, "--steps", "a"], "2 to 20 steps"),
        (["funnel", "--workspace", "nope", "--steps", "a,b"], "is not a UUID"),
        (["copy", "--since", "2026-01-01T00:00:00"], "needs a UTC offset"),
        (
            ["retention", "--workspace", WORKSPACE, "--start-event", "a", "--period", "year"],
            "period",
        ),
    ],
)
def test_bad_input_is_one_line(env: dict[str, str], args: list[str], message: str) -> None:
    result = runner.invoke(app, ["analytics", *args], env=env)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_copy_then_funnel(env: dict[str, str]) -> None:
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    copied = runner.invoke(app, ["analytics", "copy"], env=env)
    assert copied.exit_code == 0, copied.output
    assert json.loads(copied.stdout)["copied"] == {"product": 0, "collect": 0}
    funnel = runner.invoke(
        app,
        ["analytics", "funnel", "--workspace", WORKSPACE, "--steps", "a,b", "--json"],
        env=env,
    )
    assert funnel.exit_code == 0, funnel.output
    assert [s["count"] for s in json.loads(funnel.stdout)["steps"]] == [0, 0]
