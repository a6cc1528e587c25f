"""Done when (issue 6): a metric history with a planted anomaly and a planted disk-filling
trend raises one anomaly alert and one forecast-breach alert, each through the alert lifecycle
with one notification each way and its explanation; the same on a clean series raises nothing.
Both database engines, a manual clock, local HTTP receivers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from intuitivus_flow.alerts.notifications.service import Notifier
from intuitivus_flow.alerts.rules import parse_rules
from intuitivus_flow.config import Settings
from tests.alerts_engine.receivers import HttpReceiver, http_receiver
from tests.forecasting.harness import PER_DAY, PredictiveHarness, ramp, seasonal

RULES = """
thresholds:
  - {name: HighDiskUsage, signal: disk_usage_percent, operator: ">", threshold: 90,
     for: 5m, severity: critical}
predictive:
  - {name: ResponseTimeAnomaly, kind: anomaly, signal: response_time_p95_ms,
     keep_firing_for: 10m, severity: warning, summary: p95 departs from its pattern}
  - {name: DiskFillingUp, kind: forecast_breach, signal: disk_usage_percent, operator: ">",
     threshold: 90, horizon: 6h, keep_firing_for: 10m, severity: warning,
     summary: Disk predicted to pass 90 %}
"""
DAYS = 2
N = DAYS * PER_DAY
LATENCY = "response_time_p95_ms"
DISK = "disk_usage_percent"
SPIKE_AT = 6  # tick of the planted anomaly


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver() as http:
        yield http


@pytest.fixture
def harness(app: Any, receiver: HttpReceiver, tmp_path: Path) -> PredictiveHarness:
    settings = Settings(env="test", data_dir=tmp_path, alert_webhook_urls=f"{receiver.url}/hook")
    return PredictiveHarness(
        context=app.state.context,
        rules=parse_rules(RULES, source="test"),
        notifier=Notifier.from_settings(settings),
    )


def latency(n: int, seed: int = 3) -> Any:
    return seasonal(n, level=300, amplitude=60, noise=8, seed=seed)


def notified(receiver: HttpReceiver) -> list[tuple[str, str]]:
    return [(b["status"], b["groupLabels"]["alertname"]) for b in receiver.bodies("/hook")]


def firing_annotations(receiver: HttpReceiver, name: str) -> dict[str, str]:
    body = next(
        b
        for b in receiver.bodies("/hook")
        if b["status"] == "firing" and b["groupLabels"]["alertname"] == name
    )
    (alert,) = body["alerts"]
    annotations: dict[str, str] = alert["annotations"]
    return annotations


async def test_planted_anomaly_and_disk_trend_fire_once_each_with_explanations(
    harness: PredictiveHarness, receiver: HttpReceiver
) -> None:
    # Two days of history; the disk fills at 3 %/h over its last 6 hours (62 % -> 80 %).
    disk = ramp(N, flat=62, start_rising=N - 72, per_hour=3, noise=0.05)
    await harness.history({LATENCY: latency(N), DISK: disk})
    await harness.train()
    models = await harness.models()
    assert {m.status for m in models.values()} == {"ready"}

    future = latency(N + 200)[N:]  # the same seasonal pattern, continued

    def values(i: int) -> dict[str, float]:
        spike = 400.0 if i == SPIKE_AT else 0.0
        # The disk keeps filling for 4 more steps, then a cleanup job stops the growth.
        level = float(disk[-1]) + 0.25 * min(i + 1, 4)
        return {LATENCY: float(future[i]) + spike, DISK: level}

    first = await harness.tick(values(0))
    assert ("DiskFillingUp", "inactive", "firing") in first.transitions  # for: 0s
    for i in range(1, 80):
        await harness.tick(values(i))
        if i > SPIKE_AT + 3 and (await harness.state("DiskFillingUp")) == "resolved":
            break
    assert await harness.state("ResponseTimeAnomaly") == "resolved"
    assert await harness.state("DiskFillingUp") == "resolved"
    assert await harness.state("HighDiskUsage") is None  # the disk never reached 90 %
    assert sorted(notified(receiver)) == [
        ("firing", "DiskFillingUp"),
        ("firing", "ResponseTimeAnomaly"),
        ("resolved", "DiskFillingUp"),
        ("resolved", "ResponseTimeAnomaly"),
    ]
    assert await harness.transitions("ResponseTimeAnomaly") == [
        ("inactive", "firing"),
        ("firing", "resolved"),
    ]

    anomaly = firing_annotations(receiver, "ResponseTimeAnomaly")
    assert anomaly["kind"] == "anomaly"
    assert anomaly["model"] == "default"
    observed = float(anomaly["observed"])
    low, high = (float(v) for v in anomaly["expected_band"].split(" .. "))
    assert observed > high > float(anomaly["expected"]) > low
    assert observed == pytest.approx(float(future[SPIKE_AT]) + 400, rel=1e-3)

    breach = firing_annotations(receiver, "DiskFillingUp")
    assert breach["kind"] == "forecast_breach"
    assert breach["model"].startswith("default")
    assert breach["threshold"] == "> 90"
    observed = float(breach["observed"])
    assert observed == pytest.approx(float(disk[-1]) + 0.25, abs=0.01)
    predicted = datetime.fromisoformat(breach["predicted_crossing_at"])
    earliest = datetime.fromisoformat(breach["crossing_earliest"])
    latest = datetime.fromisoformat(breach["crossing_latest"])
    assert earliest <= predicted <= latest
    # About 10 points to go at 3 %/h: some 3 h 20 min after the step the alert fired on.
    hours = (predicted - datetime.fromisoformat(breach["observed_at"])).total_seconds() / 3600
    assert hours == pytest.approx((90 - observed) / 3, abs=0.25)
    assert "from now (80 % band)" in breach["uncertainty"]
    low, high = (float(v) for v in breach["expected_band"].split(" .. "))
    assert 90 < low < float(breach["expected"]) < high  # expected 6 h ahead: past 90


async def test_a_clean_series_raises_nothing(
    harness: PredictiveHarness, receiver: HttpReceiver
) -> None:
    disk = ramp(N, flat=62, start_rising=N, per_hour=0, noise=0.05)
    await harness.history({LATENCY: latency(N), DISK: disk})
    await harness.train()
    future = latency(N + 200)[N:]
    for i in range(40):
        report = await harness.tick({LATENCY: float(future[i]), DISK: float(disk[i % 50])})
        assert report.transitions == []
    assert await harness.alerts() == []
    assert notified(receiver) == []
    assert {m.status for m in (await harness.models()).values()} == {"ready"}
