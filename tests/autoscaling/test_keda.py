"""The workers' KEDA ScaledObject: it scales the worker Deployment on queue gauges the app
exports, and its PromQL gives the right numbers when several web pods report the same queue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, generate_latest

from intuitivus_flow.autoscaling import manifest
from intuitivus_flow.observability.metrics import FlowMetrics
from tests.autoscaling.test_adapter_rules import promtool_test

NS = 'namespace="intuitivus-flow"'
SCALED_OBJECT = manifest.REPOSITORY / "deploy" / "k8s" / "base" / "autoscaling" / "keda-worker.yaml"


def scaled_object() -> dict[str, Any]:
    loaded = yaml.safe_load(SCALED_OBJECT.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def trigger(name: str) -> dict[str, Any]:
    (found,) = [t for t in scaled_object()["spec"]["triggers"] if t["name"] == name]
    return dict(found)


def test_targets_the_worker_with_a_short_polling_interval() -> None:
    spec = scaled_object()["spec"]
    assert spec["scaleTargetRef"]["name"] == "intuitivus-flow-worker"
    assert spec["pollingInterval"] <= 15
    assert {t["type"] for t in spec["triggers"]} == {"prometheus"}


def test_queries_read_gauges_the_app_exports() -> None:
    metrics = FlowMetrics(CollectorRegistry())
    metrics.job_queue_depth.labels(queue="default").set(1)
    metrics.job_queue_lag_seconds.labels(queue="default").set(1)
    exposed = generate_latest(metrics.registry).decode()
    for name, gauge in (
        ("queue-depth", "flow_job_queue_depth"),
        ("queue-lag", "flow_job_queue_lag_seconds"),
    ):
        assert gauge in trigger(name)["metadata"]["query"]
        assert f"\n{gauge}{{" in exposed


def test_depth_counts_each_queue_once_across_pods(tmp_path: Path) -> None:
    # Two web pods sample the same jobs table: 120 waiting in "default", 30 in "campaigns".
    series = [
        {
            "series": f'flow_job_queue_depth{{{NS},pod="{pod}",queue="{queue}"}}',
            "values": f"{depth}x4",
        }
        for pod in ("web-a", "web-b")
        for queue, depth in (("default", 120), ("campaigns", 30))
    ]
    series.append(
        {
            "series": 'flow_job_queue_depth{namespace="other",pod="x",queue="default"}',
            "values": "999x4",
        }
    )
    depth = {
        "expr": trigger("queue-depth")["metadata"]["query"],
        "eval_time": "1m",
        "exp_samples": [{"labels": "{}", "value": 150}],
    }
    promtool_test(tmp_path, series, [depth])


def test_lag_is_the_oldest_wait(tmp_path: Path) -> None:
    series = [
        {
            "series": f'flow_job_queue_lag_seconds{{{NS},pod="web-a",queue="default"}}',
            "values": "12x4",
        },
        {
            "series": f'flow_job_queue_lag_seconds{{{NS},pod="web-a",queue="campaigns"}}',
            "values": "75x4",
        },
    ]
    lag = {
        "expr": trigger("queue-lag")["metadata"]["query"],
        "eval_time": "1m",
        "exp_samples": [{"labels": "{}", "value": 75}],
    }
    promtool_test(tmp_path, series, [lag])
