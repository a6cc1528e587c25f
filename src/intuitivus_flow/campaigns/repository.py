from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, delete, func, select

from intuitivus_flow.campaigns.models import (
    Campaign,
    CampaignEvent,
    CampaignReport,
    CampaignStatus,
    PauseReason,
    Platform,
)
from intuitivus_flow.kit.repository import Repository, WorkspaceRepository


@dataclass(frozen=True, slots=True)
class Totals:
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    spend_minor: int = 0
    revenue_minor: int = 0


SUMS = (
    func.coalesce(func.sum(CampaignReport.impressions), 0),
    func.coalesce(func.sum(CampaignReport.clicks), 0),
    func.coalesce(func.sum(CampaignReport.conversions), 0),
    func.coalesce(func.sum(CampaignReport.spend_minor), 0),
    func.coalesce(func.sum(CampaignReport.revenue_minor), 0),
)


class CampaignRepository(WorkspaceRepository[Campaign]):
    model = Campaign
    not_found_message = "Campaign not found"

    async def get_for_update(self, campaign_id: uuid.UUID) -> Campaign | None:
        """The campaign, its row locked until the transaction ends (PostgreSQL; SQLite has a
        single writer anyway): changes of its steps or of its pause happen one at a time."""
        return await self.first(self.scoped().where(Campaign.id == campaign_id).with_for_update())

    def listing(
        self, *, status: CampaignStatus | None, platform: Platform | None
    ) -> Select[Campaign]:
        statement = self.scoped().order_by(Campaign.created_at.desc(), Campaign.id)
        if status:
            statement = statement.where(Campaign.status == status)
        if platform:
            statement = statement.where(Campaign.platform == platform)
        return statement


class DailyBudgetPauseLookup(Repository[Campaign]):
    """Instance-wide, because the resume job serves every workspace at once: which campaigns'
    daily-budget pause has run out. It returns ids only; the job then loads each campaign
    through `CampaignRepository` scoped to the campaign's own workspace."""

    model = Campaign
    not_found_message = "Campaign not found"

    async def due(self, now: datetime) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(workspace id, campaign id) pairs, oldest pause first."""
        statement = (
            select(Campaign.workspace_id, Campaign.id)
            .where(
                Campaign.status == CampaignStatus.paused,
                Campaign.pause_reason == PauseReason.daily_budget,
                Campaign.resume_at <= now,
            )
            .order_by(Campaign.resume_at, Campaign.id)
        )
        return [(workspace, campaign) for workspace, campaign in await self.execute(statement)]


class CampaignReportRepository(WorkspaceRepository[CampaignReport]):
    model = CampaignReport
    not_found_message = "Report not found"

    async def replace_days(self, campaign_id: uuid.UUID, rows: Sequence[CampaignReport]) -> None:
        """Store the rows; a day reported again replaces what was stored for it."""
        await self.execute(
            delete(CampaignReport).where(
                CampaignReport.campaign_id == campaign_id,
                CampaignReport.report_date.in_([row.report_date for row in rows]),
            )
        )
        await self.add_many(rows)

    async def days(self, campaign_id: uuid.UUID) -> Sequence[CampaignReport]:
        return await self.all(
            self.scoped()
            .where(CampaignReport.campaign_id == campaign_id)
            .order_by(CampaignReport.report_date)
        )

    async def totals(self, campaign_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Totals]:
        if not campaign_ids:
            return {}
        statement = (
            select(CampaignReport.campaign_id, *SUMS)
            .where(
                CampaignReport.campaign_id.in_(campaign_ids),
            )
            .group_by(CampaignReport.campaign_id)
        )
        rows = (await self.execute(statement)).all()
        return {
            campaign_id: Totals(int(a), int(b), int(c), int(d), int(e))
            for campaign_id, a, b, c, d, e in rows
        }

    async def total_for(self, campaign_id: uuid.UUID) -> Totals:
        return (await self.totals([campaign_id])).get(campaign_id, Totals())

    async def spend_on(self, campaign_id: uuid.UUID, day: date) -> int:
        spend = await self.scalar(
            select(CampaignReport.spend_minor).where(
                CampaignReport.campaign_id == campaign_id,
                CampaignReport.report_date == day,
            )
        )
        return int(spend or 0)

    async def reported_dates(self, campaign_id: uuid.UUID) -> set[date]:
        statement = select(CampaignReport.report_date).where(
            CampaignReport.campaign_id == campaign_id,
        )
        return set((await self.execute(statement)).scalars().all())


class CampaignEventRepository(WorkspaceRepository[CampaignEvent]):
    model = CampaignEvent
    not_found_message = "Campaign event not found"

    def timeline(self, campaign_id: uuid.UUID) -> Select[CampaignEvent]:
        return (
            self.scoped()
            .where(CampaignEvent.campaign_id == campaign_id)
            .order_by(CampaignEvent.created_at.desc(), CampaignEvent.id)
        )
