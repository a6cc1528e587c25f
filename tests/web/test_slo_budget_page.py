"""The alerts page shows an SLO's budget only when its window holds enough requests, and never
below 0 % (issue 10, item 20: a fresh install read -1150 % after a few sign-ins)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.metrics_history import service as history
from intuitivus_flow.metrics_history.models import MetricSample
from tests.web.browsing import Web, sign_up, text_of


async def _record(web: Web, latency: float, slow: float) -> None:
    at = datetime.now(UTC) - timedelta(minutes=5)
    counts = {
        "requests_total_count": latency,
        "requests_latency_count": latency,
        "requests_slow_count": slow,
    }
    async with unit_of_work(web.app.state.context.sessions) as session:
        await history.record(
            session,
            [MetricSample(name=n, time=at, instance="i", value=v) for n, v in counts.items()],
        )


@pytest.mark.parametrize(
    ("latency", "slow", "shown"),
    [
        (8, 1, "Not enough data (8 of 1000 requests)"),
        (1000, 5, "50.0 %"),
        (1000, 30, "0 % (overspent: 30 bad of 10 allowed)"),
    ],
)
async def test_latency_budget_on_the_alerts_page(
    web: Web, browser: httpx.AsyncClient, latency: float, slow: float, shown: str
) -> None:
    await sign_up(browser)
    await _record(web, latency, slow)
    page = text_of((await browser.get("/alerts")).text)
    row = page[page.index("latency (latency, 30 days)") :]
    assert row.startswith(f"latency (latency, 30 days) 99.00 % {latency} {slow} {shown}"), row
