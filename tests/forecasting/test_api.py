"""`GET /api/metrics/{name}/forecast` and `GET /api/predictive/models`, on both engines.

The API reads the wall clock, so the history here ends at the current step (on PostgreSQL the
partition of the month it starts in is made sure of first)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from intuitivus_flow.alerts.rules import default_rules
from intuitivus_flow.forecasting.series import floor_step
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.metrics_history import partitions
from tests.forecasting.harness import STEP, PredictiveHarness, ramp, seasonal

TOKEN = "forecast-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
N = 400


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"metrics_token": TOKEN}


@pytest.fixture
async def trained(app: Any) -> PredictiveHarness:
    """Default rules; the disk fills at 3 %/h, the latency spikes on the newest step."""
    harness = PredictiveHarness(context=app.state.context, rules=default_rules())
    harness.clock.current = floor_step(datetime.now(UTC), STEP) - STEP * N
    if app.state.context.engine.dialect.name == "postgresql":
        async with unit_of_work(app.state.context.sessions) as session:
            await partitions.ensure_partition(session, harness.clock.current)
    latency = seasonal(N, level=300, amplitude=60, noise=8, seed=3)
    latency[-1] += 400
    disk = ramp(N, flat=62, start_rising=N - 72, per_hour=3, noise=0.05)
    await harness.history({"response_time_p95_ms": latency, "disk_usage_percent": disk})
    await harness.train()
    return harness


async def test_forecast_has_history_band_anomalies_threshold_and_model(
    client: httpx.AsyncClient, trained: PredictiveHarness
) -> None:
    response = await client.get(
        "/api/metrics/disk_usage_percent/forecast",
        params={"horizon": "6h", "range": "24h"},
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["step_seconds"] == 300
    assert len(body["history"]) == 288  # 24 h of 5-minute steps
    assert body["threshold"] == {"rule": "DiskFillingUp", "operator": ">", "value": 90.0}
    assert body["model"]["status"] == "ready"
    assert body["model"]["detector"] == "default"
    forecast = body["forecast"]
    assert forecast
    assert all(p["lower"] <= p["value"] <= p["upper"] for p in forecast)
    assert forecast[-1]["value"] > 90  # 3 %/h from ~80 for 6 h
    widths = [p["upper"] - p["lower"] for p in forecast]
    assert widths[-1] > widths[0]  # the band widens with the horizon
    breach = body["breach"]
    assert breach["earliest"] <= breach["predicted_at"]
    assert breach["slope_per_hour"] == pytest.approx(3, rel=0.05)

    latency = await client.get("/api/metrics/response_time_p95_ms/forecast", headers=AUTH)
    body = latency.json()
    assert body["threshold"]["rule"] == "HighResponseTimeP95"  # no forecast rule on it
    (anomaly,) = body["anomalies"]
    assert anomaly["time"] == body["history"][-1]["time"]
    assert anomaly["score"] >= 0.5


async def test_without_a_usable_model_only_the_history_is_returned(
    client: httpx.AsyncClient, trained: PredictiveHarness
) -> None:
    body = (await client.get("/api/metrics/cpu_usage_percent/forecast", headers=AUTH)).json()
    assert (body["model"], body["forecast"], body["anomalies"], body["breach"]) == (
        None,
        [],
        [],
        None,
    )
    assert body["threshold"]["rule"] == "HighCpuUsage"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"horizon": "soon"}, "horizon"), ({"horizon": "30d"}, "horizon"), ({"range": "0s"}, "range")],
)
async def test_bad_durations_are_422(
    client: httpx.AsyncClient, trained: PredictiveHarness, params: dict[str, str], field: str
) -> None:
    response = await client.get(
        "/api/metrics/disk_usage_percent/forecast", params=params, headers=AUTH
    )
    assert response.status_code == 422
    assert field in response.text


async def test_unknown_signal_is_422_and_anonymous_is_refused(
    client: httpx.AsyncClient, trained: PredictiveHarness
) -> None:
    assert (await client.get("/api/metrics/nope/forecast", headers=AUTH)).status_code == 422
    assert (await client.get("/api/metrics/disk_usage_percent/forecast")).status_code == 401


async def test_models_report_their_state(
    client: httpx.AsyncClient, trained: PredictiveHarness
) -> None:
    models = (await client.get("/api/predictive/models", headers=AUTH)).json()
    assert [(m["signal"], m["status"], m["train_reason"]) for m in models] == [
        ("disk_usage_percent", "ready", "initial"),
        ("response_time_p95_ms", "ready", "initial"),
    ]
    assert all(m["points_used"] == N and m["min_points"] == 288 for m in models)
    assert trained.clock.now() - timedelta(minutes=5) < datetime.now(UTC)
