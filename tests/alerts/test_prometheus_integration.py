"""A real Prometheus scrapes a running app, evaluates the exported rules and fires an alert.

The chain under test: the app's /metrics (part A) → deploy/prometheus/prometheus.yml →
the exported recording rule `flow:http_errors_per_request:ratio_rate5m` → the default
HighErrorRate alert (its `for` shortened to 2 s so the test is quick) → `firing` in
Prometheus's /api/v1/alerts, driven by 500s injected through `PUT /api/ops/faults`.
Both processes run on loopback in temporary directories and are stopped at the end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from intuitivus_flow.alerts.export.service import ALERTING_FILE, RECORDING_FILE, ExportOptions
from intuitivus_flow.alerts.export.service import export_prometheus as export
from intuitivus_flow.alerts.rules import RuleSet, default_rules

from .conftest import require_tool

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DEPLOY_CONFIG = REPO / "deploy/prometheus/prometheus.yml"
METRICS_TOKEN = "integration-test-metrics-token"
FIRING_DEADLINE_SECONDS = 90
STARTUP_DEADLINE_SECONDS = 60


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url} process exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} not up after {STARTUP_DEADLINE_SECONDS}s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def quick_high_error_rate() -> RuleSet:
    """The default HighErrorRate (same signal, operator, threshold), firing after 2 s."""
    rule = default_rules().threshold("HighErrorRate")
    quick = rule.model_copy(update={"for_": timedelta(seconds=2), "keep_firing_for": timedelta(0)})
    return RuleSet(thresholds=[quick])


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    data_dir = tmp_path / "app"
    data_dir.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLOW_", "PROMETHEUS_MULTIPROC_DIR", "OTEL_"))
    }
    env.update(
        {
            "FLOW_DATA_DIR": str(data_dir),
            "FLOW_ENV": "test",
            "FLOW_SEED_DEMO": "false",
            "FLOW_FAULT_INJECTION": "true",
            "FLOW_METRICS_TOKEN": METRICS_TOKEN,
        }
    )
    log = tmp_path / "app.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "intuitivus_flow", "serve", "--port", str(port)],
            cwd=data_dir,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/ready", process, log)
        yield url
    finally:
        stop(process)


def prometheus_config(rules_dir: Path, target: str) -> dict[str, Any]:
    """The operators' deploy file, pointed at the test app with 1 s intervals and the token."""
    config: dict[str, Any] = yaml.safe_load(DEPLOY_CONFIG.read_text())
    config["global"].update({"scrape_interval": "1s", "evaluation_interval": "1s"})
    config["rule_files"] = [str(rules_dir / RECORDING_FILE), str(rules_dir / ALERTING_FILE)]
    config.pop("alerting", None)  # no Alertmanager here; the alert state is read from Prometheus
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [target]}]
    job["authorization"] = {"type": "Bearer", "credentials": METRICS_TOKEN}
    return config


@pytest.fixture
def prometheus_url(tmp_path: Path, app_url: str) -> Iterator[str]:
    binary = require_tool("prometheus")
    rules_dir = tmp_path / "rules"
    export(quick_high_error_rate(), rules_dir, options=ExportOptions())
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(rules_dir, app_url.removeprefix("http://"))))
    port = free_port()
    log = tmp_path / "prometheus.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/-/ready", process, log)
        yield url
    finally:
        stop(process)


def alert_states(prometheus_url: str, name: str) -> list[str]:
    alerts = httpx.get(f"{prometheus_url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return [alert["state"] for alert in alerts if alert["labels"]["alertname"] == name]


def test_injected_500s_drive_high_error_rate_to_firing_in_prometheus(
    app_url: str, prometheus_url: str
) -> None:
    auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    with httpx.Client(base_url=app_url, timeout=5) as app:
        # Healthy traffic first: the alert must not fire on it.
        for _ in range(20):
            assert app.get("/health").status_code == 200
        time.sleep(3)
        assert alert_states(prometheus_url, "HighErrorRate") == []

        plan = {"error_rate": 1.0, "path_prefix": "/api/probe"}
        assert app.put("/api/ops/faults", json=plan, headers=auth).status_code == 200
        seen: list[str] = []
        deadline = time.monotonic() + FIRING_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            for _ in range(10):
                assert app.get("/api/probe").status_code == 500
            seen = alert_states(prometheus_url, "HighErrorRate")
            if "firing" in seen:
                break
            time.sleep(0.5)
        app.delete("/api/ops/faults", headers=auth)
    assert "firing" in seen, f"HighErrorRate never fired (last states {seen})"
    rules = httpx.get(f"{prometheus_url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    health = {rule["name"]: rule["health"] for group in rules for rule in group["rules"]}
    assert health["flow:http_errors_per_request:ratio_rate5m"] == "ok"
    firing = httpx.get(f"{prometheus_url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    assert [alert["labels"] for alert in firing] == [
        {"alertname": "HighErrorRate", "job": "intuitivus-flow", "severity": "critical"}
    ]


def test_deploy_config_is_valid_with_exported_rules(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    (deploy / "prometheus.yml").write_text(DEPLOY_CONFIG.read_text())
    export(default_rules(), deploy / "rules", options=ExportOptions())
    result = subprocess.run(
        [promtool, "check", "config", str(deploy / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout
