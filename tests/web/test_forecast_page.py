"""The Forecasts page: a chart per watched signal with history, forecast band, anomaly markers
and threshold line, drawn as inline SVG without inline styles, and the models' states."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import numpy as np

from intuitivus_flow.alerts.rules import default_rules
from intuitivus_flow.forecasting import service
from intuitivus_flow.forecasting.options import ForecastOptions
from intuitivus_flow.forecasting.series import floor_step
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.metrics_history import service as history
from intuitivus_flow.metrics_history.models import MetricSample
from tests.web.browsing import Web, sign_up, text_of

N = 400


async def test_forecast_page_draws_history_band_anomalies_and_threshold(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    options = ForecastOptions()
    now = datetime.now(UTC)
    first = floor_step(now, options.step) - options.step * N
    rng = np.random.default_rng(1)
    latency = 300 + rng.normal(0, 8, N)
    latency[-1] += 400
    disk = 62 + 3 * np.maximum(np.arange(N) - (N - 72), 0) / 12
    samples = [
        MetricSample(name=name, time=first + options.step * i, instance="i", value=float(v))
        for name, values in (("response_time_p95_ms", latency), ("disk_usage_percent", disk))
        for i, v in enumerate(values)
    ]
    sessions = web.app.state.context.sessions
    async with unit_of_work(sessions) as session:
        await history.record(session, samples)
        jobs = await service.plan_training(session, default_rules(), now=now, options=options)
    for job in jobs:
        async with unit_of_work(sessions) as session:
            await service.train(session, job, now=now, options=options)

    page = await browser.get("/forecasts?range=24h")
    assert page.status_code == 200
    html = page.text
    assert html.count('<svg class="chart forecast-chart"') == 2  # disk and latency
    for part in ("history", "forecast", "band", "threshold", "anomaly"):
        assert f'class="forecast-chart__{part}"' in html, part
    assert "style=" not in html  # the CSP forbids inline styles
    words = text_of(html)
    assert "Predicted to cross at" in words  # the disk reaches 90 % within 6 h
    assert "anomalies: 1" in words
    assert "ready" in words
    assert 'href="/forecasts"' in html  # in the navigation for an owner
    assert (await browser.get("/forecasts?range=7d")).status_code == 200
