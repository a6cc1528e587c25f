"""`make loadtest ARGS=--quick`, the CI smoke run: the real command end to end (embedded server
started and seeded, both profiles scaled to seconds, Locust in its own process), passing the
plan's gates, with the history and report written.

Locust runs under gevent, so it is only ever started as a subprocess, never imported here.
"""

from __future__ import annotations

import csv
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def run_loadtests(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadtests", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_quick_run_passes_its_gates_and_writes_history_and_report(tmp_path: Path) -> None:
    done = run_loadtests("--quick", "--out", str(tmp_path), timeout=240)
    verdicts = [line for line in done.stdout.splitlines() if line.startswith(("  pass", "  FAIL"))]
    assert done.returncode == 0, "\n".join(verdicts) + "\n" + done.stderr[-3000:]
    assert "load test passed" in done.stdout
    with (tmp_path / "history.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["profile"], row["scenario"], row["passed"]) for row in rows] == [
        ("stages", "mix", "True"),
        ("headline", "dashboard", "True"),
    ]
    assert all(int(row["requests"]) > 0 and row["quick"] == "True" for row in rows)
    (report,) = tmp_path.glob("report-*.html")
    html = report.read_text()
    # Every request of the mix was made and answered as the checks expect: signed webhooks
    # accepted, web-chat messages taken, the export streamed as CSV.
    for name in (
        "POST /api/auth/login",
        "GET /api/dashboard",
        "GET /api/conversations",
        "GET /api/agents",
        "GET /api/campaigns/{id}/performance",
        "POST /api/channels/whatsapp/webhook",
        "POST /api/webchat/{widget}/messages",
    ):
        assert name in html
    assert html.count("<svg") == 4


def test_an_unreachable_url_is_one_readable_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    done = run_loadtests("--url", f"http://127.0.0.1:{port}", "--out", str(tmp_path), timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("error: seeding: cannot reach")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "history.csv").exists()
