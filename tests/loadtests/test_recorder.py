"""The Locust process's measurements: exact percentiles, counts, and the per-second timeline."""

from __future__ import annotations

import pytest
from loadtests.common.recorder import Recorder, Sample, percentile


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7
    assert percentile([], 95) == 0


def test_latency_is_counted_from_the_due_time() -> None:
    recorder = Recorder(started=0.0)
    # Due at 1.0, started late at 1.3, answered at 1.4: 400 ms waited, 100 ms of service.
    recorder.add(Sample("GET /x", started=1.3, ended=1.4, due=1.0, ok=True, late=True))
    summary = recorder.summary()
    assert summary["latency_ms"]["p50"] == pytest.approx(400, abs=0.1)
    assert summary["service_latency_ms"]["p50"] == pytest.approx(100, abs=0.1)
    assert summary["late"] == 1


def test_counts_errors_drops_checks_and_keeps_sign_in_out_of_the_latency() -> None:
    recorder = Recorder(started=0.0)
    recorder.add(Sample("POST /login", started=0.0, ended=2.0, due=None, ok=True))
    for n in range(9):
        recorder.add(Sample("GET /x", started=3 + n, ended=3.05 + n, due=3 + n, ok=True))
    recorder.add(Sample("GET /x", started=12, ended=12.01, due=12, ok=False))
    recorder.drop(3, at=5.0)
    recorder.check("GET /x: status 200", passed=True)
    recorder.check("GET /x: body", passed=False)
    summary = recorder.summary()
    assert summary["requests"] == 11
    assert summary["failures"] == 1
    assert summary["error_rate"] == pytest.approx(1 / 11)
    assert summary["scheduled"] == 13  # 10 sent on the schedule + 3 dropped
    assert summary["dropped_rate"] == pytest.approx(3 / 13)
    assert summary["latency_ms"]["max"] == pytest.approx(
        50, abs=0.1
    )  # the 2 s sign-in is not in it
    assert summary["endpoints"]["POST /login"]["p50"] == pytest.approx(2000)
    assert summary["checks"] == {
        "passed": 1,
        "failed": 1,
        "failed_by_name": {"GET /x: body": 1},
    }


def test_timeline_has_a_row_per_second_with_users_carried_over() -> None:
    recorder = Recorder(started=100.0)
    recorder.users(5, at=100.2)
    recorder.add(Sample("GET /x", started=100.1, ended=100.3, due=100.1, ok=True))
    recorder.add(Sample("GET /x", started=102.0, ended=102.1, due=102.0, ok=False))
    recorder.users(0, at=102.5)
    timeline = recorder.summary()["timeline"]
    assert [row["t"] for row in timeline] == [0, 1, 2]
    assert [row["users"] for row in timeline] == [5, 5, 0]
    assert [row["rps"] for row in timeline] == [1, 0, 1]
    assert [row["failures"] for row in timeline] == [0, 0, 1]
    assert timeline[0]["p95"] == pytest.approx(200, abs=0.1)


def test_progress_window_covers_the_last_whole_seconds() -> None:
    recorder = Recorder(started=0.0)
    for n in range(10):
        recorder.add(Sample("GET /x", started=n, ended=n + 0.01 * (n + 1), due=n, ok=True))
    window = recorder.window(now=10.5, seconds=5)  # seconds 5..9
    assert window["rps"] == 1
    assert window["p95"] == pytest.approx(100, abs=0.1)
