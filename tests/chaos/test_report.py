"""The figures and the report of an experiment, from a recorded load (no servers)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaos.environment import Environment, Fault, Options
from chaos.load import Attempt, Operation

from chaos import analysis, report


@pytest.fixture
def env() -> Iterator[Environment]:
    environment = Environment(Options())  # not started: only its record is used
    yield environment
    environment.stop()


def _ops() -> list[Operation]:
    ok = [Operation(t / 10, 0.05, "dashboard", True, 200) for t in range(100)]  # 0-10 s
    failed = [
        Operation(5.2, 0.1, "contact", False, 503),
        Operation(7.0, 0.4, "payment", False, 503),
    ]
    return ok + failed


def test_success_p95_and_recovery_are_measured_on_the_fault_window() -> None:
    faults = [Fault("PostgreSQL stopped", 5.0, 6.5)]
    attempts = [Attempt(5.2, 0.1, "contact", 503, retry_after=True), Attempt(9.0, 9.0, "x", None)]
    during = analysis.during(faults, _ops(), attempts)
    assert during.operations == 17  # 16 reads started in [5, 6.5] and one failed write
    assert during.success_ratio == pytest.approx(16 / 17)
    assert during.unavailable == during.unavailable_with_retry_after == 1
    overall = analysis.figures(_ops(), attempts)
    assert overall.hanging == 1  # 9 s without an answer
    assert overall.answered_ratio == 0.5
    # The last failure after the fault ended at 7.4 s: 0.9 s after it.
    assert analysis.recovery_seconds(faults, _ops()) == pytest.approx(0.9)
    assert analysis.recovery_seconds([Fault("never ended", 1.0)], _ops()) is None
    assert analysis.p95([float(n) for n in range(1, 101)]) == 95.0


def test_the_report_says_fail_when_an_acknowledged_write_is_lost(
    env: Environment, tmp_path: Path
) -> None:
    env.record.faults = [Fault("web worker kills", 2.0, 8.0)]
    env.record.marks = [(2.0, "kill 1"), (6.0, "kill 2")]
    env.record.writes = {"acknowledged": 10, "lost": 1, "duplicated": 0}
    journal = {
        "status": "completed",
        "deviated": False,
        "steady_states": {
            "before": {"steady_state_met": True},
            "after": {"steady_state_met": True},
        },
    }
    experiment = {"title": "Kill <workers>", "steady-state-hypothesis": {"title": "99.99 %"}}
    summary = report.write(
        tmp_path,
        experiment=experiment,
        journal=journal,
        env=env,
        targets={"min_success_ratio": 0.9999},
        configuration={"total_chaos_duration": 60, "nested": {"ignored": True}},
    )
    assert summary["verdict"] == "FAIL"
    assert summary["configuration"] == {"total_chaos_duration": 60}
    markdown = (tmp_path / "report.md").read_text()
    assert "| Verdict | FAIL" in markdown
    assert "lost: 1" in markdown
    page = (tmp_path / "report.html").read_text()
    assert "Kill &lt;workers&gt;" in page  # escaped
    ET.fromstring((tmp_path / "timeline.svg").read_text())  # well-formed, even without load

    env.record.writes = {"acknowledged": 10, "lost": 0, "duplicated": 0}
    assert report.summarize(experiment, journal, env, {})["verdict"] == "PASS"
    assert report.summarize(experiment, {**journal, "deviated": True}, env, {})["verdict"] == "FAIL"


def test_the_timeline_chart_shows_failures_faults_and_kills() -> None:
    seconds = analysis.timeline(_ops())
    assert [s.at for s in seconds] == list(range(10))
    assert seconds[5].failed == 1
    summary = {
        "title": "t",
        "faults": [{"name": "f", "started_s": 5.0, "ended_s": 6.5}],
        "marks": [{"at_s": 5.0, "what": "kill"}],
    }
    svg = ET.fromstring(report.timeline_svg(seconds, summary))
    fills = [e.get("fill") for e in svg.iter("{http://www.w3.org/2000/svg}rect")]
    assert "#e53935" in fills  # failed operations
    assert "#f6d5d5" in fills  # the fault
    assert any(e.tag.endswith("line") for e in svg.iter())
