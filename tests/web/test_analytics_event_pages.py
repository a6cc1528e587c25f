"""The event-analysis pages render for a signed-in member from the analytics store: the
funnel's charts and table, paths, the retention heat table and the onboarding bottlenecks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from intuitivus_flow.analytics.copy import copy_to_store
from intuitivus_flow.analytics.store import open_store
from intuitivus_flow.events.models import Event
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.users.models import User
from tests.web.browsing import Web, sign_up, text_of


async def test_funnel_paths_retention_and_bottlenecks(web: Web, browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    context = web.app.state.context
    now = datetime.now(UTC)
    async with unit_of_work(context.sessions) as session:
        user = (await session.execute(select(User))).scalars().first()
        assert user is not None
        for offset, name in enumerate(["agent.created", "whatsapp_number.added"]):
            session.add(
                Event(
                    workspace_id=user.workspace_id,
                    user_id=user.id,
                    name=name,
                    occurred_at=now + timedelta(seconds=1 + offset),
                )
            )
    await copy_to_store(
        context.sessions, open_store(context.settings.resolved_analytics_url), batch_size=100
    )

    funnel = await browser.get("/analytics/funnels")
    assert funnel.status_code == 200, funnel.text
    text = text_of(funnel.text)
    assert "1. user.signed_up 1 100.0 %" in text, text[text.find("Step Persons") :]
    assert "3. whatsapp_number.added 1 100.0 %" in text
    assert funnel.text.count("<svg") >= 2  # conversion and time-to-convert charts

    refused = await browser.get("/analytics/funnels?steps=only_one")
    assert refused.status_code == 200
    assert "2 to 20 steps" in text_of(refused.text)
    assert "Value error" not in refused.text  # pydantic's wording is not for people

    paths = await browser.get("/analytics/paths?start_event=user.signed_up")
    assert paths.status_code == 200, paths.text
    assert "agent.created" in text_of(paths.text)
    # The busiest moves as bars with their figures as text (server SVG, no chart library).
    bars = paths.text.split('<svg class="bars"', 1)[1].split("</svg>", 1)[0]
    assert "<title>Top 2 transitions by sessions</title>" in bars
    assert "1. user.signed_up → agent.created: 1 session" in bars  # the <desc>, whole
    assert "2. agent.created → whatsapp_number.added: 1 session" in bars
    assert "2. agent.created → whatsapp…" in bars  # the drawn label fits a phone
    assert ">1 session</tspan>" in bars
    assert "uPlot" not in paths.text
    quiet = await browser.get("/analytics/paths?start_event=no.such_event")
    assert quiet.status_code == 200
    assert '<svg class="bars"' not in quiet.text
    assert "No sessions yet." in text_of(quiet.text)

    retention = await browser.get("/analytics/retention?start_event=user.signed_up")
    assert retention.status_code == 200, retention.text
    assert "heat-10" in retention.text  # period 0 is the whole cohort

    bottlenecks = await browser.get("/analytics/bottlenecks")
    assert bottlenecks.status_code == 200, bottlenecks.text
    assert "stop before 'First conversation answered'" in text_of(bottlenecks.text)
