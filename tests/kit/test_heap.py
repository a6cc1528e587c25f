"""`serve` freezes each server process's startup heap (kit/heap.py); other app builders don't."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Run in a child: a frozen heap is never collected, so the test process must not freeze its own.
_STARTED_APP = """
import gc, sys
from fastapi.testclient import TestClient
from intuitivus_flow.app import create_app
from intuitivus_flow.config import Settings

settings = Settings(data_dir=sys.argv[1], gc_freeze=sys.argv[2] == "on",
                    metrics_sample_seconds=0, alert_evaluation_seconds=0, embedded_worker=False)
before = gc.get_freeze_count()
with TestClient(create_app(settings)) as client:
    assert client.get("/health").status_code == 200
    print(before, gc.get_freeze_count())
"""


def _freeze_counts(tmp_path: Path, setting: str) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", _STARTED_APP, str(tmp_path), setting],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    before, after = done.stdout.split()
    return int(before), int(after)


def test_a_started_app_freezes_its_heap_when_asked(tmp_path: Path) -> None:
    before, after = _freeze_counts(tmp_path, "on")
    assert before == 0
    assert after > 10_000  # the routes, mappers and validators built at startup


def test_an_app_built_by_default_leaves_the_collector_alone(tmp_path: Path) -> None:
    assert _freeze_counts(tmp_path, "off") == (0, 0)
