"""The commands of docs/operations run as written.

The convention (docs/operations/README.md):

- a fenced block tagged `sh` runs here: this test runs it with bash (`set -euo pipefail`) from
  the repository root, with the project's virtual environment first on PATH, a fresh
  FLOW_DATA_DIR, a free PORT and no other FLOW_* setting, and expects exit status 0;
- a block tagged `sh cluster` needs a Kubernetes cluster, a registry or a database server we do
  not have here. It is not run, but what can be checked offline is: every kustomization
  directory it applies exists and renders, and every `intuitivus-flow` command it names exists.
- any other block (`text`, `yaml`, ...) is an example output or a template, never run.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import typer

from intuitivus_flow import cli

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "operations"
PAGES = (
    "deployment.md",
    "troubleshooting.md",
    "emergency.md",
    "faq.md",
    "training.md",
    "backup.md",
)
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```\s*$", re.MULTILINE | re.DOTALL)
RUNNABLE, CLUSTER = "sh", "sh cluster"
# Seconds one runnable block may take (the training blocks start the embedded server).
BLOCK_TIMEOUT = 300
PARALLEL_BLOCKS = 4
# The embedded database's file in FLOW_DATA_DIR (Settings.resolved_database_url).
DATABASE_FILE = "flow.db"


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    info: str
    body: str

    @property
    def ident(self) -> str:
        return f"{self.page}:{self.line}"


def blocks_of(page: str, text: str) -> list[Block]:
    return [
        Block(page, text.count("\n", 0, match.start()) + 1, match["info"].strip(), match["body"])
        for match in FENCE.finditer(text)
    ]


@cache
def all_blocks() -> tuple[Block, ...]:
    return tuple(block for page in PAGES for block in blocks_of(page, (DOCS / page).read_text()))


def _of(info: str) -> list[Block]:
    return [block for block in all_blocks() if block.info == info]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environment(data_dir: Path) -> dict[str, str]:
    # No FLOW_* of the caller's, and no pytest-cov hooks: a nested pytest must not write
    # coverage data into the outer run's.
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLOW_", "COV_CORE_", "PYTEST_"))
    }
    bin_dir = str(Path(sys.executable).parent)
    environment["PATH"] = f"{bin_dir}{os.pathsep}{environment.get('PATH', '')}"
    environment["FLOW_DATA_DIR"] = str(data_dir)
    environment["PORT"] = str(_free_port())
    return environment


def test_every_page_exists_and_has_commands() -> None:
    for page in PAGES:
        assert blocks_of(page, (DOCS / page).read_text()), f"{page} shows no command"
    assert _of(RUNNABLE), "no block runs here"
    assert _of(CLUSTER), "no cluster block"


def test_every_code_block_is_tagged() -> None:
    untagged = [block.ident for block in all_blocks() if not block.info]
    assert not untagged, f"tag these blocks (sh, sh cluster, text, yaml): {untagged}"


def _run_block(block: Block, data_dir: Path, template: Path) -> subprocess.CompletedProcess[str]:
    data_dir.mkdir()
    # A migrated database to start from: `db upgrade` from empty takes seconds per block.
    shutil.copy(template, data_dir / DATABASE_FILE)
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + block.body],
        cwd=REPO,
        env=_environment(data_dir),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module")
def block_results(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every runnable block's outcome. They are independent (own data dir, own port), and
    most of their time is spent starting Python and waiting for a server, so they run a few
    at a time."""
    root = tmp_path_factory.mktemp("docs")
    template_dir = root / "template"
    template_dir.mkdir()
    subprocess.run(
        [str(Path(sys.executable).with_name("intuitivus-flow")), "db", "upgrade"],
        env=_environment(template_dir),
        capture_output=True,
        check=True,
        timeout=BLOCK_TIMEOUT,
    )
    blocks = _of(RUNNABLE)
    with ThreadPoolExecutor(max_workers=PARALLEL_BLOCKS) as pool:
        futures = {
            block.ident: pool.submit(
                _run_block, block, root / f"block{index}", template_dir / DATABASE_FILE
            )
            for index, block in enumerate(blocks)
        }
        return {ident: future.result() for ident, future in futures.items()}


@pytest.mark.parametrize("block", _of(RUNNABLE), ids=lambda block: block.ident)
def test_runnable_block_runs(
    block: Block, block_results: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    completed = block_results[block.ident]
    assert completed.returncode == 0, (
        f"{block.ident} exited {completed.returncode}\n--- stdout\n{completed.stdout[-3000:]}"
        f"\n--- stderr\n{completed.stderr[-3000:]}"
    )


def _commands(body: str) -> list[list[str]]:
    """The shell words of each command line (continuations joined, comments dropped)."""
    joined = re.sub(r"\\\n\s*", " ", body)
    commands = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            for part in re.split(r"\s(?:\|\||&&|\||;)\s", stripped):
                commands.append(shlex.split(part, comments=True))
    return commands


def _kustomize_dirs(words: list[str]) -> list[str]:
    if words[:2] == ["kubectl", "kustomize"]:
        return [word for word in words[2:] if not word.startswith("-")][:1]
    return [
        words[index + 1]
        for index, word in enumerate(words[:-1])
        if word in {"-k", "--kustomize"} and words[0] == "kubectl"
    ]


def _cli_path(words: list[str]) -> list[str]:
    """`intuitivus-flow db upgrade --x` -> ["db", "upgrade"]: the words naming a command."""
    path = []
    for word in words[1:]:
        if word.startswith("-") or not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        path.append(word)
    return path


def _cli_command_exists(path: list[str]) -> bool:
    """Walk down the CLI's command groups as far as the words name sub-commands; the words
    after a leaf command are its arguments."""
    command = typer.main.get_command(cli.app)
    for word in path:
        commands = getattr(command, "commands", None)  # a group's sub-commands by name
        if commands is None:
            return True
        if word not in commands:
            return False
        command = commands[word]
    return True


@pytest.mark.parametrize("block", _of(CLUSTER), ids=lambda block: block.ident)
def test_cluster_block_names_what_exists(block: Block) -> None:
    for words in _commands(block.body):
        for directory in _kustomize_dirs(words):
            if "$" in directory:
                continue  # a variable the reader sets (an overlay of their choice)
            assert (REPO / directory / "kustomization.yaml").exists(), f"{block.ident}: {directory}"
        if words and words[0] == "intuitivus-flow":
            assert _cli_command_exists(_cli_path(words)), f"{block.ident}: {' '.join(words)}"


def test_the_cluster_check_refuses_what_does_not_exist() -> None:
    assert not _cli_command_exists(["db", "teleport"])
    assert _cli_command_exists(["db", "upgrade"])
    assert _kustomize_dirs(["kubectl", "apply", "-k", "deploy/k8s/nope"]) == ["deploy/k8s/nope"]
