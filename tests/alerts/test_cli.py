"""`intuitivus-flow alerts validate|export`, in process and mounted in the main CLI."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from intuitivus_flow.alerts.cli import app
from intuitivus_flow.cli import app as main_app

runner = CliRunner()

BAD_RULES = """\
thresholds:
  - name: HighCpu
    signal: cpu
    operator: ">"
    threshold: 80
    for: 10m
    severity: warning
"""


def test_validate_prints_ok_for_the_packaged_rules() -> None:
    path = Path(__file__).resolve().parents[2] / "src/intuitivus_flow/alerts/default_rules.yaml"
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: ")
    assert "9 threshold rules, 2 SLOs, 1 inhibitions" in result.output


def test_validate_prints_the_problem_and_exits_2(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(BAD_RULES)
    result = runner.invoke(app, ["validate", str(rules)])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: {rules}: thresholds[0] (HighCpu).signal: unknown signal 'cpu'")


def test_export_writes_the_four_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["export", "--format", "prometheus", "--out", str(out), "--webhook-url", "http://hooks/am"],
    )
    assert result.exit_code == 0, result.output
    for name in (
        "recording_rules.yml",
        "alerting_rules.yml",
        "alertmanager.yml",
        "tests/alerting_rules_test.yml",
    ):
        assert (out / name).is_file(), name
        assert f"wrote {out / name}" in result.output
    receivers = yaml.safe_load((out / "alertmanager.yml").read_text())["receivers"]
    urls = {r["name"]: r["webhook_configs"][0]["url"] for r in receivers}
    assert urls == {"page": "http://hooks/am/page", "ticket": "http://hooks/am/ticket"}


def test_export_takes_the_pool_capacity_and_runbook_base_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOW_DATABASE_POOL_SIZE", "10")
    monkeypatch.setenv("FLOW_DATABASE_MAX_OVERFLOW", "10")
    monkeypatch.setenv("FLOW_RUNBOOK_BASE_URL", "https://runbooks.example")
    result = runner.invoke(app, ["export", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    recording = (tmp_path / "recording_rules.yml").read_text()
    assert "(sum without (pid) (flow_db_pool_size) * 2)" in recording
    alerting = (tmp_path / "alerting_rules.yml").read_text()
    assert "runbook_url: https://runbooks.example/docs/runbooks/HighErrorRate.md" in alerting


def test_export_with_an_invalid_rules_file_exits_2(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(BAD_RULES)
    result = runner.invoke(app, ["export", "--out", str(tmp_path / "out"), "--rules", str(rules)])
    assert result.exit_code == 2
    assert "unknown signal 'cpu'" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_export_into_an_unwritable_directory_exits_2(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        result = runner.invoke(app, ["export", "--out", str(locked / "out")])
    finally:
        locked.chmod(stat.S_IRWXU)
    assert result.exit_code == 2
    assert result.output.strip().startswith(f"error: cannot write to {locked / 'out'}")


def test_export_where_a_file_blocks_the_directory_exits_2(tmp_path: Path) -> None:
    # Works as root too: a regular file cannot become a directory.
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    result = runner.invoke(app, ["export", "--out", str(blocker)])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: cannot write to {blocker}")


def test_main_cli_mounts_rules_commands_beside_the_predictive_ones() -> None:
    result = runner.invoke(main_app, ["alerts", "--help"])
    assert result.exit_code == 0, result.output
    for command in ("validate", "export", "evaluate"):
        assert command in result.output
    evaluate = runner.invoke(main_app, ["alerts", "evaluate", "--help"])
    assert evaluate.exit_code == 0, evaluate.output
    assert "--detector" in evaluate.output
