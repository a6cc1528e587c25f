"""The package's layers (issue 11) as tests: the import-linter contracts in `.importlinter`.

`make lint` runs the same check; here it runs in `make test` too, so CI refuses a change that
re-tangles the packages even when lint is skipped locally.
"""

from __future__ import annotations

import subprocess
import sys
from configparser import ConfigParser
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers_contracts_are_kept() -> None:
    # The CLI, not the Python API: it reads `.importlinter` exactly as `make lint` does.
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _ignored_imports() -> list[tuple[str, str]]:
    """The layers contract's documented exceptions: the cycle check skips exactly those."""
    config = ConfigParser()
    config.read(ROOT / ".importlinter")
    lines = config["importlinter:contract:layers"].get("ignore_imports", "").splitlines()
    pairs = [line.split("->") for line in lines if line.strip()]
    return [(importer.strip(), imported.strip()) for importer, imported in pairs]


def test_top_level_packages_form_no_cycle() -> None:
    # Independent of the contract's layer order: squash each top-level package and module to
    # one node and sort them; graphlib names the cycle if there is one.
    graph = grimp.build_graph("intuitivus_flow", cache_dir=None)
    for importer, imported in _ignored_imports():
        graph.remove_import(importer=importer, imported=imported)
    nodes = sorted(graph.find_children("intuitivus_flow"))
    imports = {
        node: {
            other
            for other in nodes
            if other != node
            and graph.direct_import_exists(importer=node, imported=other, as_packages=True)
        }
        for node in nodes
    }
    try:
        order = list(TopologicalSorter(imports).static_order())
    except CycleError as exc:
        cycle = exc.args[1]
        raise AssertionError(f"top-level packages import each other in a cycle: {cycle}") from None
    assert set(order) == set(nodes)
