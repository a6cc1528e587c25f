"""The dashboard's aggregate queries: one small query per figure, all scoped to one workspace."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select

from intuitivus_flow.agents.models import Agent, AgentTask, TaskStatus
from intuitivus_flow.billing.models import Payment, PaymentStatus
from intuitivus_flow.campaigns.models import Campaign, CampaignReport
from intuitivus_flow.conversations.models import Conversation
from intuitivus_flow.dashboard.activity import Names
from intuitivus_flow.events.models import Event
from intuitivus_flow.kit.repository import WorkspaceQueries
from intuitivus_flow.llm.models import LlmUsage
from intuitivus_flow.users.models import User


class DashboardQueries(WorkspaceQueries):
    """Each figure's query names its tables only: the base restricts them to the workspace."""

    async def agents_by_status(self) -> dict[str, int]:
        rows = await self.execute(select(Agent.status, func.count()).group_by(Agent.status))
        return {str(status): int(count) for status, count in rows.all()}

    async def tasks_since(self, since: datetime) -> dict[str, int]:
        rows = await self.execute(
            select(AgentTask.status, func.count())
            .where(AgentTask.created_at >= since)
            .group_by(AgentTask.status)
        )
        return {str(status): int(count) for status, count in rows.all()}

    async def llm_by_provider(self, since: datetime) -> list[tuple[str, int, int, int]]:
        """(provider, calls, tokens, cost in micro-USD) of successful calls."""
        rows = await self.execute(
            select(
                LlmUsage.provider,
                func.count(),
                func.coalesce(func.sum(LlmUsage.prompt_tokens + LlmUsage.completion_tokens), 0),
                func.coalesce(func.sum(LlmUsage.cost_micros), 0),
            )
            .where(
                LlmUsage.created_at >= since,
                LlmUsage.outcome == "ok",
            )
            .group_by(LlmUsage.provider)
            .order_by(LlmUsage.provider)
        )
        return [(str(p), int(c), int(t), int(cost)) for p, c, t, cost in rows.all()]

    async def conversations_by_state(self) -> dict[str, int]:
        rows = await self.execute(
            select(Conversation.state, func.count()).group_by(Conversation.state)
        )
        return {str(state): int(count) for state, count in rows.all()}

    async def campaigns_by_platform(self) -> list[tuple[str, str, int, int, int]]:
        """(platform, currency, campaigns, spend, revenue) with money in minor units."""
        totals = (
            select(
                CampaignReport.campaign_id.label("campaign_id"),
                func.sum(CampaignReport.spend_minor).label("spend"),
                func.sum(CampaignReport.revenue_minor).label("revenue"),
            )
            .group_by(CampaignReport.campaign_id)
            .subquery()
        )
        rows = await self.execute(
            select(
                Campaign.platform,
                Campaign.currency,
                func.count(),
                func.coalesce(func.sum(totals.c.spend), 0),
                func.coalesce(func.sum(totals.c.revenue), 0),
            )
            .outerjoin(totals, totals.c.campaign_id == Campaign.id)
            .group_by(Campaign.platform, Campaign.currency)
            .order_by(Campaign.platform, Campaign.currency)
        )
        return [(str(p), str(c), int(n), int(s), int(r)) for p, c, n, s, r in rows.all()]

    async def revenue_since(self, since: datetime) -> list[tuple[str, int, int]]:
        """(currency, payments, amount in minor units) of succeeded payments."""
        rows = await self.execute(
            select(Payment.currency, func.count(), func.coalesce(func.sum(Payment.amount_minor), 0))
            .where(
                Payment.status == PaymentStatus.succeeded,
                Payment.created_at >= since,
            )
            .group_by(Payment.currency)
            .order_by(Payment.currency)
        )
        return [(str(c), int(n), int(a)) for c, n, a in rows.all()]

    async def recent_events(self, limit: int) -> list[Event]:
        result = await self.execute(
            select(Event).order_by(Event.occurred_at.desc(), Event.id).limit(limit)
        )
        return list(result.scalars().all())

    async def names_for(self, events: list[Event]) -> Names:
        """Who acted and which campaigns and agents the events name (the activity sentences)."""
        users = {e.user_id for e in events if e.user_id is not None}
        campaigns = _ids(events, "campaign_id")
        agents = _ids(events, "agent_id")
        found_users: dict[str, str] = {}
        if users:
            people = await self.execute(
                select(User.id, User.name, User.email).where(User.id.in_(users))
            )
            # A member without a display name reads as the local part of their email.
            found_users = {str(i): name or email.split("@")[0] for i, name, email in people.all()}
        found_campaigns: dict[str, str] = {}
        if campaigns:
            named = await self.execute(
                select(Campaign.id, Campaign.name).where(Campaign.id.in_(campaigns))
            )
            found_campaigns = {str(i): str(name) for i, name in named.all()}
        found_agents: dict[str, str] = {}
        if agents:
            bots = await self.execute(select(Agent.id, Agent.name).where(Agent.id.in_(agents)))
            found_agents = {str(i): str(name) for i, name in bots.all()}
        return Names(users=found_users, campaigns=found_campaigns, agents=found_agents)


def _ids(events: list[Event], key: str) -> set[uuid.UUID]:
    found = set()
    for event in events:
        try:
            found.add(uuid.UUID(str(event.properties.get(key))))
        except ValueError:
            continue  # absent or not an id: the sentence says "a campaign"
    return found


FINISHED_OK = TaskStatus.succeeded
FINISHED_FAILED = TaskStatus.failed
