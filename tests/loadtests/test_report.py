"""Results on disk: the CSV history grows by one row per profile and run; the HTML report is
self-contained (inline SVG charts, nothing fetched)."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from loadtests.common.recorder import Recorder, Sample
from loadtests.gates import Thresholds, evaluate
from loadtests.report import (
    HISTORY_COLUMNS,
    ProfileResult,
    RunInfo,
    append_history,
    render_html,
)

RUN = RunInfo(finished_at="2026-12-06T23:00:00+00:00", commit="abc1234", target="t", quick=True)


def measured(p95_ms: float) -> dict[str, Any]:
    recorder = Recorder(started=0.0)
    for n in range(200):
        latency = p95_ms / 1000 if n % 10 == 0 else 0.01  # one in ten: the p95 is `p95_ms`
        at = n / 20
        recorder.add(Sample("GET /<x>", started=at, ended=at + latency, due=at, ok=True))
        recorder.check("GET /<x>: status 200", passed=True)
    recorder.users(20, at=1.0)
    return recorder.summary()


def result(profile: str, p95_ms: float) -> ProfileResult:
    summary = measured(p95_ms)
    return ProfileResult(profile, "dashboard", 20, 20.0, summary, evaluate(summary, Thresholds()))


def test_history_appends_one_row_per_profile_with_one_header(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    append_history(path, RUN, [result("stages", 10), result("headline", 900)])
    append_history(path, RUN, [result("stages", 10)])
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == HISTORY_COLUMNS
    assert [(r["profile"], r["passed"]) for r in rows] == [
        ("stages", "True"),
        ("headline", "False"),
        ("stages", "True"),
    ]
    assert rows[1]["commit"] == "abc1234"
    assert float(rows[1]["p95_ms"]) == 900.0


def test_html_report_is_self_contained_with_latency_charts() -> None:
    html = render_html(RUN, [result("stages", 10), result("headline", 900)])
    assert html.count("<svg") == 4  # latency and throughput for each profile
    assert not re.search(r"<script|<link|src=\"http|href=\"http", html)
    assert 'Load test: <span class="fail">failed</span>' in html
    assert "FAIL" in html
    assert "GET /&lt;x&gt;" in html  # endpoint names are escaped
