"""The container image, proven without a Docker engine (none runs here or in CI's test job).

- hadolint lints the Dockerfile (and refuses a bad one, so the lint is known to bite).
- The Dockerfile's own steps are replayed outside Docker: the build context is what
  .dockerignore lets through, the build stage's COPY and RUN lines build the wheel and install it
  into a clean virtual environment, and the runtime stage's ENV, WORKDIR, ENTRYPOINT, CMD and
  HEALTHCHECK run `db upgrade`, `serve` (until /health and /ready answer 200) and `worker`
  (stopped by SIGTERM) from that environment. Image paths are mapped to temporary directories:
  /opt/venv to the environment, the volumes to writable directories; the environment itself is
  checked unchanged afterwards, as it would be on a read-only root filesystem.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_service

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
# The runtime image's volumes and the virtual environment the build stage makes.
IMAGE_VENV = "/opt/venv"
DATA_VOLUME = "/var/lib/intuitivus-flow"
TMP_VOLUME = "/tmp"
# PATH of the official python images before the Dockerfile prepends the virtual environment.
BASE_IMAGE_PATH = "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


# --- a Dockerfile reader (just the syntax this Dockerfile uses) --------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        """The JSON array of ENTRYPOINT/CMD (the shell form is not used here, on purpose:
        the exec form gets SIGTERM to the process itself)."""
        value = json.loads(self.arguments)
        assert isinstance(value, list), f"{self.keyword} is not in exec form"
        return [str(item) for item in value]


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"stage {self.name} has no {keyword}"
        return found[-1]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for pair in shlex.split(instruction.arguments):
                key, _, value = pair.partition("=")
                values[key] = value
        return values


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        return next(stage for stage in self.stages if stage.name == name)


def logical_lines(text: str) -> Iterator[str]:
    """Continuation lines joined; comment lines dropped, inside continuations too (as Docker
    does)."""
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        yield pending + line
        pending = ""
    if pending:
        yield pending.strip()


def parse_dockerfile(text: str) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, arguments = line.partition(" ")
        keyword, arguments = keyword.upper(), arguments.strip()
        if keyword == "FROM":
            words = arguments.split()
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(base=words[0], name=name))
        elif keyword == "ARG" and not stages:
            key, _, value = arguments.partition("=")
            global_args[key] = value
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append(Instruction(keyword, arguments))
    return Dockerfile(global_args, stages)


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse_dockerfile(DOCKERFILE.read_text())


# --- .dockerignore: which files reach the build -------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for token in re.split(r"(\*\*/?|\*|\?)", pattern.strip("/")):
        if token in ("**", "**/"):
            parts.append(".*")
        elif token == "*":
            parts.append("[^/]*")
        elif token == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts))


def _ignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        rules.append((keep, _pattern_regex(line.removeprefix("!"))))
    return rules


def in_build_context(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path, or one of its parent directories,
    decides; a `!` pattern lets the path back in."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for keep, regex in rules:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            included = keep
    return included


def build_context_files() -> list[str]:
    rules = _ignore_rules(DOCKERIGNORE.read_text())
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(path for path in tracked if in_build_context(path, rules))


# --- the image's steps, replayed ----------------------------------------------------------------


@dataclass(frozen=True)
class ImageRoot:
    """Where the image's paths live in this test."""

    venv: Path
    data: Path
    tmp: Path

    def map_path(self, value: str) -> str:
        """Image paths replaced in one pass (the directories here may live under /tmp too)."""
        places = {IMAGE_VENV: self.venv, DATA_VOLUME: self.data, TMP_VOLUME: self.tmp}
        pattern = "|".join(re.escape(path) for path in places)
        return re.sub(rf"({pattern})(?![\w.-])", lambda m: str(places[m[1]]), value)


def copy_into(context: Path, workdir: Path, instruction: Instruction) -> None:
    """COPY from the build context (files only, which is all the build stage copies)."""
    *sources, destination = shlex.split(instruction.arguments)
    target = workdir / destination
    for source in sources:
        origin = context / source
        assert origin.exists(), f"COPY {source}: not in the build context (.dockerignore?)"
        if origin.is_dir():
            shutil.copytree(origin, target if not destination.endswith("/") else target / source)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / Path(source).name)


def run_build_stage(stage: Stage, root: ImageRoot, work: Path) -> None:
    context = work / "context"
    for relative in build_context_files():
        (context / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / relative, context / relative)
    workdir = work / "build"
    workdir.mkdir()
    wheels = work / "dist"
    env = dict(os.environ)
    env.update(stage.env())
    # The image build starts with an empty pip cache anyway; here the machine's cache makes the
    # clean environment quick to fill.
    env.pop("PIP_NO_CACHE_DIR", None)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    for instruction in stage.instructions:
        if instruction.keyword == "COPY":
            copy_into(context, workdir, instruction)
        elif instruction.keyword == "RUN":
            command = root.map_path(instruction.arguments).replace("/dist", str(wheels))
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", command],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
            )
            # pip's own words (an unreachable index, a missing file) say what went wrong.
            assert result.returncode == 0, f"RUN {command}\n{result.stderr[-4000:]}"


def runtime_env(stage: Stage, root: ImageRoot) -> dict[str, str]:
    env = {"PATH": BASE_IMAGE_PATH, "LANG": "C.UTF-8"}
    for key, value in stage.env().items():
        env[key] = root.map_path(value.replace("$PATH", BASE_IMAGE_PATH))
    # What the deployment provides (the Kubernetes Secret): production refuses weak keys.
    env["FLOW_SECRET_KEY"] = secrets.token_urlsafe(48)
    env["TMPDIR"] = str(root.tmp)
    return env


def venv_snapshot(venv: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in venv.rglob("*")
        if path.is_file()
    }


@dataclass
class Image:
    root: ImageRoot
    env: dict[str, str]
    workdir: Path
    entrypoint: list[str]
    cmd: list[str]
    healthcheck: list[str]
    snapshot: dict[str, tuple[int, int]]

    def command(self, *arguments: str) -> list[str]:
        """`docker run IMAGE ARGUMENTS...`: the entrypoint, resolved on the image's PATH."""
        executable = shutil.which(self.entrypoint[0], path=self.env["PATH"])
        assert executable, f"{self.entrypoint[0]} is not on the image's PATH"
        assert executable.startswith(str(self.root.venv)), executable
        return [executable, *self.entrypoint[1:], *arguments]

    def run(self, *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*arguments),
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *arguments: str, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen(
                self.command(*arguments),
                cwd=self.workdir,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )


def _healthcheck_command(stage: Stage) -> list[str]:
    arguments = stage.last("HEALTHCHECK").arguments
    _options, marker, command = arguments.partition("CMD ")
    assert marker, "HEALTHCHECK has no CMD"
    return Instruction("CMD", command).exec_form()


@pytest.fixture(scope="module")
def image(dockerfile: Dockerfile, tmp_path_factory: pytest.TempPathFactory) -> Image:
    work = tmp_path_factory.mktemp("image")
    root = ImageRoot(venv=work / "venv", data=work / "data", tmp=work / "tmp")
    root.data.mkdir()
    root.tmp.mkdir()
    run_build_stage(dockerfile.stage("build"), root, work)
    runtime = dockerfile.stage("runtime")
    workdir = Path(root.map_path(runtime.last("WORKDIR").arguments))
    return Image(
        root=root,
        env=runtime_env(runtime, root),
        workdir=workdir,
        entrypoint=runtime.last("ENTRYPOINT").exec_form(),
        cmd=runtime.last("CMD").exec_form(),
        healthcheck=_healthcheck_command(runtime),
        snapshot=venv_snapshot(root.venv),
    )


# --- helpers for the served process -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, what: str
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"exited ({process.returncode}) before {what}:\n{log.read_text()}")
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"no {what} within {START_TIMEOUT:.0f}s:\n{log.read_text()}")


def answers_200(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop(process: subprocess.Popen[bytes], log: Path) -> int:
    """SIGTERM, as Docker and Kubernetes stop a container; returns the exit status."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"did not stop within {STOP_TIMEOUT:.0f}s of SIGTERM:\n{log.read_text()}")


def with_port(arguments: list[str], port: int) -> list[str]:
    """The CMD on a free loopback port instead of 0.0.0.0:8000 (tests share the machine)."""
    mapped = list(arguments)
    mapped[mapped.index("--port") + 1] = str(port)
    mapped[mapped.index("--host") + 1] = "127.0.0.1"
    return mapped


def probe_port(command: list[str], port: int) -> list[str]:
    return [part.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for part in command]


# --- the tests ----------------------------------------------------------------------------------


def _hadolint() -> str:
    executable = shutil.which(
        "hadolint", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    )
    if executable is None:
        require_service("hadolint", "install the dev extras: pip install -e '.[dev]'")
    assert executable
    return executable


class TestDockerfileLint:
    def test_hadolint_passes(self) -> None:
        result = subprocess.run([_hadolint(), str(DOCKERFILE)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_hadolint_refuses_a_bad_dockerfile(self, tmp_path: Path) -> None:
        bad = tmp_path / "Dockerfile"
        bad.write_text("FROM python:latest\nRUN cd /src && pip install .\n")
        result = subprocess.run([_hadolint(), str(bad)], capture_output=True, text=True)
        assert result.returncode != 0
        assert "DL3007" in result.stdout  # `latest` is not a pin


class TestDockerfileShape:
    def test_base_is_pinned_by_tag_and_digest(self, dockerfile: Dockerfile) -> None:
        base = dockerfile.global_args["PYTHON_IMAGE"]
        assert re.fullmatch(r"python:3\.\d+-slim-\w+@sha256:[0-9a-f]{64}", base), base
        assert {stage.base for stage in dockerfile.stages} == {"${PYTHON_IMAGE}"}

    def test_runtime_runs_as_a_numeric_non_root_user(self, dockerfile: Dockerfile) -> None:
        user = dockerfile.stage("runtime").last("USER").arguments
        uid, _, gid = user.partition(":")
        assert int(uid) > 0
        assert int(gid) > 0

    def test_runtime_takes_the_environment_built_in_the_first_stage(
        self, dockerfile: Dockerfile
    ) -> None:
        runtime = dockerfile.stage("runtime")
        copies = [i.arguments for i in runtime.all("COPY")]
        assert copies == [f"--from=build {IMAGE_VENV} {IMAGE_VENV}"]
        assert runtime.env()["PATH"].startswith(f"{IMAGE_VENV}/bin:")

    def test_written_paths_are_volumes(self, dockerfile: Dockerfile) -> None:
        runtime = dockerfile.stage("runtime")
        volumes = runtime.last("VOLUME").exec_form()
        assert set(volumes) == {DATA_VOLUME, TMP_VOLUME}
        assert runtime.env()["FLOW_DATA_DIR"] == DATA_VOLUME
        assert runtime.env()["HOME"] == TMP_VOLUME

    def test_oci_labels(self, dockerfile: Dockerfile) -> None:
        labels = " ".join(i.arguments for i in dockerfile.stage("runtime").all("LABEL"))
        for key in ("title", "description", "version", "revision", "created", "source", "licenses"):
            assert f"org.opencontainers.image.{key}=" in labels

    def test_build_context_holds_the_sources_and_no_local_state(self) -> None:
        files = build_context_files()
        assert "pyproject.toml" in files
        assert "src/intuitivus_flow/app.py" in files
        assert not [f for f in files if f.startswith(("tests/", "var/", ".venv/", ".git/"))]
        assert not [f for f in files if f.endswith((".db", ".env", "secret_key"))]


class TestImageCommands:
    """The runtime stage's commands, run from the environment the build stage made."""

    def test_db_upgrade_migrates_the_embedded_database(self, image: Image) -> None:
        result = image.run("db", "upgrade")
        assert result.returncode == 0, result.stderr
        assert (image.root.data / "flow.db").is_file()
        current = image.run("db", "current")
        assert "up to date" in current.stdout, current.stdout + current.stderr

    def test_serve_answers_health_and_ready_and_the_healthcheck(
        self, image: Image, tmp_path: Path
    ) -> None:
        assert image.run("db", "upgrade").returncode == 0  # the release step before serving
        port = free_port()
        log = tmp_path / "serve.log"
        process = image.start(*with_port(image.cmd, port), log=log)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: answers_200(f"{base}/health"), process, log, "200 on /health")
            ready = httpx.get(f"{base}/ready", timeout=5)
            assert ready.status_code == 200, ready.text
            probe = subprocess.run(
                probe_port(image.healthcheck, port),
                env=image.env,
                capture_output=True,
                text=True,
                timeout=10,
            )
            assert probe.returncode == 0, probe.stderr
        finally:
            code = stop(process, log)
        # Uvicorn finishes its shutdown, then re-raises SIGTERM so the exit status says why
        # it stopped; what matters is that the shutdown ran to its end.
        assert code in (0, -signal.SIGTERM), log.read_text()
        assert "Application shutdown complete" in log.read_text()
        # Once the server is gone the same probe must fail, or it proves nothing.
        probe = subprocess.run(
            probe_port(image.healthcheck, port),
            env=image.env,
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert probe.returncode != 0

    def test_serve_with_workers_keeps_metrics_on_the_data_volume(
        self, image: Image, tmp_path: Path
    ) -> None:
        """How the Kubernetes web Deployment runs it: gunicorn, several workers, no migration;
        the Prometheus multiprocess files go to the data volume, never the image."""
        assert image.run("db", "upgrade").returncode == 0
        port = free_port()
        log = tmp_path / "serve.log"
        arguments = [*with_port(image.cmd, port), "--workers", "2", "--no-migrate"]
        process = image.start(*arguments, log=log)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: answers_200(f"{base}/ready"), process, log, "200 on /ready")
            assert httpx.get(f"{base}/health", timeout=5).status_code == 200
            metric_files = list((image.root.data / "prometheus-multiproc").glob("*.db"))
            assert metric_files, "no multiprocess metric files on the data volume"
        finally:
            code = stop(process, log)
        assert code == 0, log.read_text()

    def test_worker_starts_and_stops_cleanly_on_sigterm(self, image: Image, tmp_path: Path) -> None:
        assert image.run("db", "upgrade").returncode == 0
        log = tmp_path / "worker.log"
        process = image.start("worker", log=log)
        wait_until(lambda: "taking jobs" in log.read_text(), process, log, "a started worker")
        assert stop(process, log) == 0, log.read_text()

    def test_nothing_is_written_into_the_image_filesystem(self, image: Image) -> None:
        # Runs last in this module (pytest keeps file order): after every command above.
        assert venv_snapshot(image.root.venv) == image.snapshot
