"""Read the autoscaling numbers from the HPA manifest, so the simulation runs what is deployed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from intuitivus_flow.autoscaling.hpa import (
    DEFAULT_SCALE_DOWN,
    DEFAULT_SCALE_UP,
    Behavior,
    PolicyType,
    ScalingPolicy,
    ScalingRules,
    SelectPolicy,
)

# deploy/ sits next to src/ in the repository (the simulation is a development tool).
REPOSITORY = Path(__file__).resolve().parents[3]
WEB_HPA = REPOSITORY / "deploy" / "k8s" / "base" / "autoscaling" / "hpa-web.yaml"
# The app's scrape interval (deploy/k8s/monitoring/servicemonitor.yaml; a test keeps them equal).
SCRAPE_SECONDS = 5
REQUESTS_METRIC = "flow_http_requests_per_second"


class ManifestError(ValueError):
    """The HPA manifest lacks a field the simulation needs."""


def load_hpa(path: Path = WEB_HPA) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or document.get("kind") != "HorizontalPodAutoscaler":
        raise ManifestError(f"{path} is not a HorizontalPodAutoscaler")
    return document


def replica_bounds(hpa: dict[str, Any]) -> tuple[int, int]:
    spec = hpa["spec"]
    return int(spec.get("minReplicas", 1)), int(spec["maxReplicas"])


def requests_target(hpa: dict[str, Any]) -> float:
    """The per-pod requests-per-second target of the Pods metric."""
    for metric in hpa["spec"].get("metrics", []):
        pods = metric.get("pods") if metric.get("type") == "Pods" else None
        if pods and pods["metric"]["name"] == REQUESTS_METRIC:
            return float(pods["target"]["averageValue"])
    raise ManifestError(f"no Pods metric {REQUESTS_METRIC} in the HPA")


def behavior(hpa: dict[str, Any]) -> Behavior:
    section = hpa["spec"].get("behavior") or {}
    return Behavior(
        scale_up=_rules(section.get("scaleUp"), DEFAULT_SCALE_UP),
        scale_down=_rules(section.get("scaleDown"), DEFAULT_SCALE_DOWN),
    )


def _rules(section: dict[str, Any] | None, default: ScalingRules) -> ScalingRules:
    # Like the API server: every field left out takes the direction's default.
    if not section:
        return default
    policies = tuple(
        ScalingPolicy(PolicyType(p["type"]), int(p["value"]), int(p["periodSeconds"]))
        for p in section.get("policies", [])
    )
    return ScalingRules(
        stabilization_window_seconds=int(
            section.get("stabilizationWindowSeconds", default.stabilization_window_seconds)
        ),
        policies=policies or default.policies,
        select_policy=SelectPolicy(section.get("selectPolicy", default.select_policy.value)),
    )
