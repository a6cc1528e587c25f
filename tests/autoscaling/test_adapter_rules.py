"""prometheus-adapter's rules: the names the HPA asks for, over series the app exports, and
queries that compute the right values in Prometheus (promtool, on synthetic series)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from intuitivus_flow.autoscaling import manifest
from intuitivus_flow.observability.metrics import FlowMetrics
from tests.alerts.conftest import require_tool

ADAPTER = manifest.REPOSITORY / "deploy" / "k8s" / "monitoring" / "prometheus-adapter"
NAMESPACE = "intuitivus-flow"


def adapter_config() -> dict[str, Any]:
    loaded = yaml.safe_load((ADAPTER / "config.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def rule_named(section: str, name: str) -> dict[str, Any]:
    for rule in adapter_config()[section]:
        if rule["name"]["as"] == name:
            return dict(rule)
    raise AssertionError(f"no {section} rule serves {name}")


def render(query: str, *, series: str, matchers: str, group_by: str) -> str:
    """Fill the template the way the adapter does for one request."""
    return (
        query.replace("<<.Series>>", series)
        .replace("<<.LabelMatchers>>", matchers)
        .replace("<<.GroupBy>>", group_by)
    )


def series_name(rule: dict[str, Any]) -> str:
    return str(rule["seriesQuery"]).split("{", 1)[0]


def test_the_hpa_metrics_are_served_by_the_adapter() -> None:
    hpa = manifest.load_hpa()["spec"]["metrics"]
    pods = {m["pods"]["metric"]["name"] for m in hpa if m["type"] == "Pods"}
    external = {m["external"]["metric"]["name"] for m in hpa if m["type"] == "External"}
    assert pods == {rule["name"]["as"] for rule in adapter_config()["rules"]}
    assert external == {rule["name"]["as"] for rule in adapter_config()["externalRules"]}


def test_the_rules_read_series_the_app_exports() -> None:
    metrics = FlowMetrics(CollectorRegistry())
    metrics.http_responses_total.labels(status="200").inc()
    metrics.forecast_desired_replicas.set(3)
    exposed = generate_latest(metrics.registry).decode()
    for section in ("rules", "externalRules"):
        for rule in adapter_config()[section]:
            assert f"\n{series_name(rule)}{{" in exposed or f"\n{series_name(rule)} " in exposed


def promtool_test(
    tmp_path: Path, series: list[dict[str, str]], checks: list[dict[str, Any]]
) -> None:
    promtool = require_tool("promtool")
    (tmp_path / "empty.yml").write_text("groups: []\n", encoding="utf-8")
    test = {
        "rule_files": ["empty.yml"],
        "evaluation_interval": "15s",
        "tests": [{"interval": "15s", "input_series": series, "promql_expr_test": checks}],
    }
    path = tmp_path / "adapter_test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False), encoding="utf-8")
    result = subprocess.run(
        [promtool, "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_requests_per_second_per_pod(tmp_path: Path) -> None:
    rule = rule_named("rules", "flow_http_requests_per_second")
    query = render(
        rule["metricsQuery"],
        series=series_name(rule),
        matchers=f'namespace="{NAMESPACE}",pod=~"web-a|web-b"',
        group_by="pod",
    )
    counter = "flow_http_responses_total"
    series = [
        # web-a: 100 rps of 200s and 10 rps of 500s, all counted.
        {
            "series": f'{counter}{{namespace="{NAMESPACE}",pod="web-a",status="200"}}',
            "values": "0+1500x8",
        },
        {
            "series": f'{counter}{{namespace="{NAMESPACE}",pod="web-a",status="500"}}',
            "values": "0+150x8",
        },
        # web-b: 200 rps, then a burst to 300 rps for the last 45 s; the instant rate shows
        # the burst in full at once.
        {
            "series": f'{counter}{{namespace="{NAMESPACE}",pod="web-b",status="200"}}',
            "values": "0+3000x4 16500+4500x3",
        },
        # Another namespace's pod with the same name is not ours.
        {
            "series": f'{counter}{{namespace="other",pod="web-a",status="200"}}',
            "values": "0+15000x8",
        },
    ]
    checks = [
        {
            "expr": query,
            "eval_time": "2m",
            "exp_samples": [
                {"labels": '{pod="web-a"}', "value": 110},
                {"labels": '{pod="web-b"}', "value": 300},
            ],
        }
    ]
    promtool_test(tmp_path, series, checks)


def test_forecast_replicas_for_the_namespace(tmp_path: Path) -> None:
    rule = rule_named("externalRules", "flow_forecast_desired_replicas")
    query = render(
        rule["metricsQuery"],
        series=series_name(rule),
        matchers=f'namespace="{NAMESPACE}"',
        group_by="namespace",
    )
    gauge = "flow_forecast_desired_replicas"
    series = [
        {"series": f'{gauge}{{namespace="{NAMESPACE}",pod="web-a"}}', "values": "7x4"},
        # A pod that has not computed the newest value yet must not lower it.
        {"series": f'{gauge}{{namespace="{NAMESPACE}",pod="web-b"}}', "values": "6x4"},
        {"series": f'{gauge}{{namespace="other",pod="x"}}', "values": "20x4"},
    ]
    checks = [
        {
            "expr": query,
            "eval_time": "1m",
            "exp_samples": [{"labels": f'{{namespace="{NAMESPACE}"}}', "value": 7}],
        }
    ]
    promtool_test(tmp_path, series, checks)


@pytest.mark.parametrize("section", ["rules", "externalRules"])
def test_every_rule_is_complete(section: str) -> None:
    for rule in adapter_config()[section]:
        assert {"seriesQuery", "resources", "name", "metricsQuery"} <= rule.keys()
        assert "<<.LabelMatchers>>" in rule["metricsQuery"]
