"""Fixtures for the alert tests: the Prometheus tools, and an export of the default rules.

The tools come from the Debian packages `prometheus` (promtool, prometheus) and
`prometheus-alertmanager` (amtool). Without them the tests that need them skip on a developer
machine and fail under CI=true, where they must be installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from intuitivus_flow.alerts.export.service import ExportOptions, export_prometheus
from intuitivus_flow.alerts.rules import default_rules

IN_CI = os.environ.get("CI", "").lower() == "true"
PACKAGES = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "amtool": "prometheus-alertmanager",
}


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install {PACKAGES.get(name, name)})"
        if IN_CI:
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message)
    return path


def run_tool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def promtool() -> str:
    return require_tool("promtool")


@pytest.fixture
def amtool() -> str:
    return require_tool("amtool")


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    """The default rules exported with the default options into a fresh directory."""
    out = tmp_path / "export"
    export_prometheus(default_rules(), out, options=ExportOptions())
    return out
