"""The chaos experiments' quick variant (`make chaos` runs them in full): experiments 1 and 3,
scaled down, through the same code path (the experiment files, run by Chaos Toolkit's
library with their control, actions and probes) on one shared environment of our own
PostgreSQL, Redis and `serve --workers 2`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chaos.environment import EXPERIMENTS_DIR, Options
from chaos.processes import ProcessError, postgres_bin
from chaoslib.experiment import run_experiment  # type: ignore[import-untyped]
from chaoslib.loader import load_experiment  # type: ignore[import-untyped]

from chaos import environment
from tests.conftest import require_service

pytestmark = pytest.mark.slow

QUICK = {
    "TOTAL_CHAOS_DURATION": "8",
    "CHAOS_INTERVAL": "4",  # two kills
    "CHAOS_OUTAGE_SECONDS": "5",
    "CHAOS_STEADY_SECONDS": "2",
    "CHAOS_WARMUP_SECONDS": "1",
    "CHAOS_OBSERVE_SECONDS": "2",
    "CHAOS_LOAD_RATE": "10",
    # The suite shares two cores with its other workers: latency there says nothing about the
    # product, so the quick variant holds the success and write targets, not the p95 one.
    "CHAOS_SLI_P95_MS": "5000",
}


@pytest.fixture(scope="module")
def shared_environment() -> Iterator[environment.Environment]:
    if postgres_bin() is None:
        require_service("PostgreSQL server binaries", "initdb under /usr/lib/postgresql")
    if shutil.which("redis-server") is None:
        require_service("redis-server", "not on PATH")
    try:
        with environment.shared(Options(web_workers=2)) as env:
            yield env
    except (ProcessError, environment.EnvironmentError_) as error:
        pytest.fail(f"cannot start the chaos environment: {error}", pytrace=False)


def _run(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], dict[str, Any]]:
    for key, value in QUICK.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CHAOS_REPORT_DIR", str(tmp_path))
    journal = run_experiment(load_experiment(str(EXPERIMENTS_DIR / name)))
    (report,) = tmp_path.glob("*/summary.json")
    for written in ("journal.json", "report.md", "report.html", "timeline.svg"):
        assert (report.parent / written).stat().st_size > 0
    return journal, json.loads(report.read_text())


def test_web_worker_kills_lose_no_request_and_no_write(
    shared_environment: environment.Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, summary = _run("01-web-worker-kill.json", tmp_path, monkeypatch)
    assert len(summary["marks"]) == 2  # two workers killed
    assert summary["during_fault"]["success_ratio"] >= 0.9999, summary["during_fault"]
    assert summary["writes"]["acknowledged"] > 0
    assert summary["writes"]["lost"] == summary["writes"]["duplicated"] == 0
    assert summary["verdict"] == "PASS", (journal["status"], summary)


def test_a_stopped_database_is_answered_503_and_recovered_without_losing_writes(
    shared_environment: environment.Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, summary = _run("03-postgres-stopped.json", tmp_path, monkeypatch)
    during = summary["during_fault"]
    assert during["unavailable"] > 0  # the outage was seen...
    assert during["unavailable_with_retry_after"] == during["unavailable"]  # ...as 503s
    assert during["answered_ratio"] == 1.0
    assert during["hanging"] == 0
    assert summary["recovery_seconds"] is not None
    assert summary["recovery_seconds"] <= 5
    assert summary["writes"]["acknowledged"] > 0
    assert summary["writes"]["lost"] == summary["writes"]["duplicated"] == 0
    assert summary["verdict"] == "PASS", (journal["status"], summary)
