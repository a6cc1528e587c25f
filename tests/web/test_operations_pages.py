"""The service-health and alerts pages: charts from the history, silences from a form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from intuitivus_flow.identity.roles import Role
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.metrics_history import service as history
from intuitivus_flow.metrics_history.models import MetricSample
from intuitivus_flow.users.models import User
from tests.web.browsing import Web, sign_up, submit, text_of


async def test_service_health_draws_charts_from_the_history(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    now = datetime.now(UTC)
    samples = [
        MetricSample(
            name="response_time_p95_ms", time=now - timedelta(minutes=m), instance="i", value=v
        )
        for m, v in ((30, 120.0), (20, 480.0), (10, 250.0))
    ]
    async with unit_of_work(web.app.state.context.sessions) as session:
        await history.record(session, samples)
    page = await browser.get("/service-health?range=1h")
    assert page.status_code == 200
    # Latency, rps, errors, CPU, memory, disk, pool; only latency has samples to draw.
    assert page.text.count('<figure class="flow-chart"') == 7
    assert page.text.count('<p class="empty flow-chart__empty">No data yet in this period') == 6
    assert page.text.count("<svg") == 1
    assert 'class="chart__line chart__line--1"' in page.text  # the p95 line is drawn
    assert "p95 250" in text_of(page.text)  # the latest value, readable as text
    assert "style=" not in page.text  # the CSP forbids inline styles
    assert 'href="/alerts"' in page.text  # in the navigation for an owner
    assert (await browser.get("/service-health?range=7d")).status_code == 200


async def test_alerts_page_creates_and_expires_a_silence(
    web: Web, browser: httpx.AsyncClient
) -> None:
    await sign_up(browser)
    page = await browser.get("/alerts")
    assert page.status_code == 200
    assert "Nothing is firing." in text_of(page.text)
    # Firing and pending follow the evaluator: flow.js fetches these sections again.
    for section in ("alerts-firing", "alerts-pending"):
        assert re.search(rf'<section[^>]*id="{section}"[^>]*data-live="15"', page.text), section
    created = await submit(
        browser,
        "/alerts",
        "/alerts/silences",
        {
            "matchers": "alertname=HighCpuUsage, instance=~web-.*",
            "duration_minutes": "30",
            "comment": "load test",
        },
    )
    assert created.status_code == 303
    listed = text_of((await browser.get(created.headers["location"])).text)
    assert "The silence was created." in listed
    assert "alertname=HighCpuUsage" in listed
    assert "instance=~web-.*" in listed

    bad = await submit(
        browser,
        "/alerts",
        "/alerts/silences",
        {"matchers": "", "duration_minutes": "30", "comment": "x"},
    )
    assert bad.status_code == 422

    silences = await browser.get("/alerts")
    action = silences.text.split('action="/alerts/silences/')[1].split('"')[0]
    expired = await submit(browser, "/alerts", f"/alerts/silences/{action}", {})
    assert expired.status_code == 303
    assert "No active silences." in text_of((await browser.get("/alerts?done=expired")).text)


async def test_members_do_not_see_operations(web: Web, browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    settings = await browser.get("/settings")
    assert 'href="/service-health"' in settings.text
    async with unit_of_work(web.app.state.context.sessions) as session:
        owner = (await session.execute(select(User))).scalars().one()
        owner.role = Role.member  # demote: the same person, now without operator rights
    page = await browser.get("/service-health")
    assert page.status_code == 403
    assert 'href="/service-health"' not in page.text
    assert (await browser.get("/alerts")).status_code == 403
