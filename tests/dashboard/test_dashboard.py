from __future__ import annotations

from typing import Any

import httpx

from tests.agents.test_agents import create
from tests.agents.test_tasks import run_jobs, submit
from tests.helpers import assert_problem, register


async def dashboard(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    response = await client.get("/api/dashboard", headers=headers)
    assert response.status_code == 200, response.text
    return response


async def test_figures_reflect_the_workspace(client: httpx.AsyncClient, app: Any) -> None:
    owner = await register(client)
    first = await create(client, owner, provider=None)
    second = await create(client, owner, name="Second", provider=None)
    await client.put(
        f"/api/agents/{second['id']}/status", json={"status": "paused"}, headers=owner.headers
    )
    await submit(client, owner, first["id"])
    await submit(client, owner, first["id"])
    await run_jobs(app)
    body = (await dashboard(client, owner.headers)).json()
    assert body["agents_by_status"] == {"active": 1, "paused": 1}
    assert body["tasks_last_24h"] == {
        "total": 2,
        "succeeded": 2,
        "failed": 0,
        "in_progress": 0,
        "success_rate": 1.0,
    }
    (usage,) = body["llm_this_month"]
    assert usage["provider"] == "offline"
    assert usage["calls"] == 2
    assert body["recent_activity"][0]["name"] == "agent_task.finished"


async def test_cached_until_a_write(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    assert (await dashboard(client, owner.headers)).headers["x-cache"] == "miss"
    again = await dashboard(client, owner.headers)
    assert again.headers["x-cache"] == "hit"
    await create(client, owner)
    fresh = await dashboard(client, owner.headers)
    assert fresh.headers["x-cache"] == "miss"
    assert fresh.json()["agents_by_status"] == {"active": 1}


async def test_another_workspaces_write_keeps_the_cache(client: httpx.AsyncClient) -> None:
    owner, other = await register(client), await register(client)
    await dashboard(client, owner.headers)
    await create(client, other)
    cached = await dashboard(client, owner.headers)
    assert cached.headers["x-cache"] == "hit"
    assert cached.json()["agents_by_status"] == {}


async def test_requires_authentication(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/dashboard"), 401)


async def test_no_cache_header_recomputes(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    await dashboard(client, owner.headers)
    forced = await client.get(
        "/api/dashboard", headers={**owner.headers, "Cache-Control": "no-cache"}
    )
    assert forced.headers["x-cache"] == "miss"


async def test_conversations_campaigns_and_revenue(client: httpx.AsyncClient, app: Any) -> None:
    import uuid
    from datetime import date

    from intuitivus_flow.billing.models import Payment
    from intuitivus_flow.campaigns.models import Campaign, CampaignReport
    from intuitivus_flow.contacts.models import Contact
    from intuitivus_flow.conversations.models import Conversation
    from tests.helpers import me

    owner = await register(client)
    workspace_id = uuid.UUID((await me(client, owner.headers))["workspace"]["id"])
    await dashboard(client, owner.headers)  # cached before the writes below
    async with app.state.context.sessions() as session:
        contact = Contact(workspace_id=workspace_id, name="Ana", phone="+5511987654321")
        session.add(contact)
        await session.flush()
        for state in ("open", "open", "escalated", "closed"):
            session.add(
                Conversation(
                    workspace_id=workspace_id, contact_id=contact.id, channel="webchat", state=state
                )
            )
        campaign = Campaign(
            workspace_id=workspace_id, name="Black Friday", platform="meta_ads", currency="BRL"
        )
        session.add(campaign)
        await session.flush()
        for day, spend, revenue in ((1, 10_000, 35_000), (2, 5_000, 10_000)):
            session.add(
                CampaignReport(
                    workspace_id=workspace_id,
                    campaign_id=campaign.id,
                    report_date=date(2026, 11, day),
                    spend_minor=spend,
                    revenue_minor=revenue,
                )
            )
        session.add(
            Payment(
                workspace_id=workspace_id,
                amount_minor=2_900,
                currency="USD",
                status="succeeded",
                gateway="stripe",
            )
        )
        session.add(
            Payment(
                workspace_id=workspace_id,
                amount_minor=9_900,
                currency="USD",
                status="failed",
                gateway="stripe",
            )
        )
        await session.commit()  # not a unit of work: the version bump below stands in for it
    await app.state.context.cache.bump([workspace_id])
    body = (await dashboard(client, owner.headers)).json()
    assert body["conversations_by_state"] == {"open": 2, "escalated": 1, "closed": 1}
    assert body["campaigns_by_platform"] == [
        {
            "platform": "meta_ads",
            "currency": "BRL",
            "campaigns": 1,
            "spend_minor": 15_000,
            "revenue_minor": 45_000,
            "roas": 3.0,
        }
    ]
    assert body["revenue_this_month"] == [{"currency": "USD", "payments": 1, "amount_minor": 2_900}]
