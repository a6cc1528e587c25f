"""The KPI pages render for a signed-in member: charts, goals, and the CLV table."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
from sqlalchemy import select

from intuitivus_flow.analytics.goals_models import KpiGoal
from intuitivus_flow.analytics.kpis import Kpi
from intuitivus_flow.campaigns.automation.models import CampaignConversion
from intuitivus_flow.campaigns.models import Campaign, Platform
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.workspaces.models import Workspace
from tests.web.browsing import Web, sign_up, text_of


async def test_kpi_and_contact_pages(web: Web, browser: httpx.AsyncClient) -> None:
    await sign_up(browser)
    sessions = web.app.state.context.sessions
    now = datetime.now(UTC)
    async with unit_of_work(sessions) as session:
        workspace = (await session.execute(select(Workspace))).scalars().one()
        campaign = Campaign(
            workspace_id=workspace.id, name="Loyalty", platform=Platform.email, currency="USD"
        )
        session.add(campaign)
        await session.flush()
        contacts = [uuid.uuid4() for _ in range(12)]
        for n, contact in enumerate(contacts):
            for k in range(1 + n % 3):
                push = Campaign(
                    workspace_id=workspace.id,
                    name=f"Push {n}-{k}",
                    platform=Platform.email,
                    currency="USD",
                )
                session.add(push)
                await session.flush()
                conversion = CampaignConversion(
                    workspace_id=workspace.id,
                    campaign_id=push.id,
                    contact_id=contact,
                    value_minor=1000 + 100 * n,
                )
                conversion.created_at = now - timedelta(days=90 - 20 * k - n)
                session.add(conversion)
        session.add(
            KpiGoal(
                workspace_id=workspace.id,
                kpi=Kpi.revenue,
                target_change_percent=20,
                baseline_start=date(now.year - 1, 1, 1),
                baseline_end=date(now.year - 1, 3, 1),
                due=date(now.year, now.month, 1),
            )
        )
    page = await browser.get("/analytics/kpis")
    assert page.status_code == 200, page.text
    text = text_of(page.text)
    assert "This workspace's marketing" in text
    assert "Revenue (campaign conversions): goal +20 %" in text
    assert page.text.count("<svg") >= 4  # three KPI charts and the goal's
    assert "The platform's business" in text  # the first workspace's owner is an operator
    contacts_page = await browser.get("/analytics/contacts?horizon=26")
    assert contacts_page.status_code == 200, contacts_page.text
    listed = text_of(contacts_page.text)
    assert "12 contacts with purchases" in listed
    assert "P(alive)" in listed
