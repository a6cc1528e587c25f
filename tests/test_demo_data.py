"""The demo workspace's sample data, on both engines: what it holds, that a second run adds
nothing, that it is the same every time, that it is quick, and that every page the demo owner
opens shows it."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from intuitivus_flow.agents.models import Agent
from intuitivus_flow.analytics.copy import copy_to_store
from intuitivus_flow.analytics.models import CollectedEvent
from intuitivus_flow.analytics.store import open_store
from intuitivus_flow.auth import service as auth
from intuitivus_flow.campaigns.automation.models import CampaignConversion, CampaignStepDelivery
from intuitivus_flow.campaigns.models import Campaign, CampaignReport
from intuitivus_flow.contacts.models import Contact
from intuitivus_flow.conversations.models import Conversation, Message
from intuitivus_flow.events.models import Event
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.metrics_history.models import MetricSample
from intuitivus_flow.seed import DEMO_EMAIL, DEMO_FILE, seed_demo, seed_demo_if_empty
from intuitivus_flow.seed.demo_data import fill_demo_workspace
from tests.web.browsing import BASE_URL, csrf_from, text_of

pytestmark = pytest.mark.slow  # seeds and renders every page, on both engines

COUNTED = (
    Agent,
    Contact,
    Conversation,
    Message,
    Campaign,
    CampaignReport,
    CampaignStepDelivery,
    CampaignConversion,
    CollectedEvent,
    Event,
    MetricSample,
)
# Each page and what shows it holds the sample data (not an empty state).
PAGES = {
    "/": "Conversation message received",
    "/dashboard": "meta_ads (USD)",
    "/inbox": "Escalated",
    "/inbox?state=escalated": "Needs attention",
    "/contacts": "@example.com",
    "/campaigns": "Carnival flash sale",
    "/agents": "Campaign follow-up",
    "/analytics/kpis": "Revenue (campaign conversions) latest",
    "/analytics/funnels?steps=Page+Viewed,Product+Viewed,Order+Completed": "Order Completed",
    "/service-health": "requests",
    "/forecasts": "response",
    "/alerts": "Alert",
    "/channels": "Ava",
    "/data": "Export",
    "/settings": "Demo Owner",
}


async def counts(sessions: Any) -> dict[str, int]:
    async with sessions() as session:
        return {
            model.__name__: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in COUNTED
        }


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> None:
    token = csrf_from((await client.get("/signin")).text)
    response = await client.post(
        "/signin", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, text_of(response.text)


async def test_demo_workspace(app: Any, data_root: Path, database: Any) -> None:
    sessions = app.state.context.sessions
    started, cpu = time.perf_counter(), time.process_time()
    async with unit_of_work(sessions) as session:
        login = await seed_demo_if_empty(session, data_root)
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"demo seed on {database.kind}: {took:.2f} s, {cpu:.2f} s CPU")  # noqa: T201 - with -s
    assert login is not None
    assert login.email == DEMO_EMAIL
    assert login.password in (data_root / DEMO_FILE).read_text()
    if database.kind == "sqlite":
        # CPU time, all of it in this process on SQLite: the wall clock of a shared CI
        # machine says more about the neighbours than about the seeding.
        assert cpu < 5, cpu
    first = await counts(sessions)
    assert first["Agent"] == 3
    assert first["Contact"] == 200
    assert first["Conversation"] == 60
    assert first["Campaign"] == 3
    assert first["CampaignReport"] == 21 + 8  # the running campaign's days, the finished one's
    for name in ("Message", "CampaignStepDelivery"):
        assert first[name] > 50, name
    assert first["CampaignConversion"] >= 5
    assert first["CollectedEvent"] > 400
    assert first["MetricSample"] > 10_000
    async with sessions() as session:
        states = dict(
            (
                await session.execute(
                    select(Conversation.state, func.count()).group_by(Conversation.state)
                )
            ).all()
        )
        statuses = set(await session.scalars(select(Campaign.status)))
        oldest = await session.scalar(select(func.min(Event.occurred_at)))
    assert states["escalated"] >= 5
    assert states["closed"] >= 5
    assert states["open"] >= 20
    assert statuses == {"active", "draft", "completed"}
    assert oldest is not None

    # A second start, and the CLI's `seed demo`, add nothing.
    async with unit_of_work(sessions) as session:
        assert await seed_demo_if_empty(session, data_root) is None
        again = await seed_demo(session, data_root)
    assert (again.login, again.counts) == (None, None)
    assert await counts(sessions) == first

    # The same data every time: another workspace filled the same way holds the same people.
    async with unit_of_work(sessions) as session:
        other = await auth.create_workspace_with_owner(
            session, email="twin@example.com", password="x" * 12, name="Twin", workspace_name="T"
        )
        filled = await fill_demo_workspace(session, other.workspace_id, other.id)
        assert filled is not None
        assert filled.metric_samples == 0  # the instance's history is written once
    async with sessions() as session:
        rows = await session.execute(select(Contact.workspace_id, Contact.name, Contact.phone))
        people: dict[Any, set[tuple[str, str | None]]] = {}
        for workspace_id, name, phone in rows.all():
            people.setdefault(workspace_id, set()).add((name, phone))
    assert len(people) == 2
    twin, original = people.pop(other.workspace_id), people.popitem()[1]
    assert twin == original
    same = (filled.messages, filled.deliveries, filled.conversions, filled.website_events)
    assert same == (
        first["Message"],
        first["CampaignStepDelivery"],
        first["CampaignConversion"],
        first["CollectedEvent"],
    )

    await _pages_show_the_data(app, login.password, sessions)


async def _pages_show_the_data(app: Any, password: str, sessions: Any) -> None:
    store = open_store(app.state.context.settings.resolved_analytics_url)
    await copy_to_store(sessions, store, batch_size=5000)  # the minute job's work
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        await sign_in(client, DEMO_EMAIL, password)
        overview = (await client.get("/campaigns")).text
        campaign = re.search(r'href="(/campaigns/[0-9a-f-]{36})">Spring sale', overview)
        assert campaign, "the running campaign is listed"
        pages = dict(PAGES)
        url = campaign.group(1)
        pages |= {
            url: "USD",
            f"{url}/settings": "spring_offer",
            f"{url}/automation": "Did you see our spring offer",
            f"{url}/performance": "Spend and revenue per day",
            f"{url}/deliveries": "Recent step deliveries",
            f"{url}/history": "draft → scheduled",
        }
        missing = []
        for path, expected in pages.items():
            response = await client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            if expected not in text_of(response.text):
                missing.append(path)
                print("PAGE", path, text_of(response.text)[:1500])  # noqa: T201
        assert missing == []
