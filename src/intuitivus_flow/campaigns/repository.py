from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError

from intuitivus_flow.campaigns.models import (
    Campaign,
    CampaignEvent,
    CampaignReport,
    CampaignStep,
    CampaignStepDelivery,
)
from intuitivus_flow.jobs.models import Job, JobStatus
from intuitivus_flow.kit.repository import WorkspaceRepository


@dataclass(frozen=True, slots=True)
class Totals:
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    spend_minor: int = 0
    revenue_minor: int = 0


def _sums() -> tuple[object, ...]:
    return tuple(
        func.coalesce(func.sum(column), 0)
        for column in (
            CampaignReport.impressions,
            CampaignReport.clicks,
            CampaignReport.conversions,
            CampaignReport.spend_minor,
            CampaignReport.revenue_minor,
        )
    )


class CampaignRepository(WorkspaceRepository[Campaign]):
    model = Campaign
    not_found_message = "Campaign not found"

    def listing(self, *, status: str | None, platform: str | None) -> Select[Campaign]:
        statement = self.scoped().order_by(Campaign.created_at.desc(), Campaign.id)
        if status:
            statement = statement.where(Campaign.status == status)
        if platform:
            statement = statement.where(Campaign.platform == platform)
        return statement


class CampaignReportRepository(WorkspaceRepository[CampaignReport]):
    model = CampaignReport
    not_found_message = "Report not found"

    async def replace_days(self, campaign_id: uuid.UUID, rows: Sequence[CampaignReport]) -> None:
        """Store the rows; a day reported again replaces what was stored for it."""
        await self.session.execute(
            delete(CampaignReport).where(
                CampaignReport.workspace_id == self.workspace_id,
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
            select(CampaignReport.campaign_id, *_sums())  # type: ignore[call-overload]
            .where(
                CampaignReport.workspace_id == self.workspace_id,
                CampaignReport.campaign_id.in_(campaign_ids),
            )
            .group_by(CampaignReport.campaign_id)
        )
        rows = (await self.session.execute(statement)).all()
        return {row[0]: Totals(*(int(value) for value in row[1:])) for row in rows}

    async def total_for(self, campaign_id: uuid.UUID) -> Totals:
        return (await self.totals([campaign_id])).get(campaign_id, Totals())

    async def reported_dates(self, campaign_id: uuid.UUID) -> set[date]:
        statement = select(CampaignReport.report_date).where(
            CampaignReport.workspace_id == self.workspace_id,
            CampaignReport.campaign_id == campaign_id,
        )
        return set((await self.session.execute(statement)).scalars().all())


class CampaignEventRepository(WorkspaceRepository[CampaignEvent]):
    model = CampaignEvent
    not_found_message = "Campaign event not found"

    def timeline(self, campaign_id: uuid.UUID) -> Select[CampaignEvent]:
        return (
            self.scoped()
            .where(CampaignEvent.campaign_id == campaign_id)
            .order_by(CampaignEvent.created_at.desc(), CampaignEvent.id)
        )


class CampaignStepRepository(WorkspaceRepository[CampaignStep]):
    model = CampaignStep
    not_found_message = "Step not found"

    async def ordered(self, campaign_id: uuid.UUID) -> Sequence[CampaignStep]:
        return await self.all(
            self.scoped()
            .where(CampaignStep.campaign_id == campaign_id)
            .order_by(CampaignStep.position)
        )

    async def at_position(self, campaign_id: uuid.UUID, position: int) -> CampaignStep | None:
        return await self.first(
            self.scoped().where(
                CampaignStep.campaign_id == campaign_id, CampaignStep.position == position
            )
        )

    async def remove_all(self, campaign_id: uuid.UUID) -> None:
        await self.session.execute(
            delete(CampaignStep).where(
                CampaignStep.workspace_id == self.workspace_id,
                CampaignStep.campaign_id == campaign_id,
            )
        )


class DeliveryRepository(WorkspaceRepository[CampaignStepDelivery]):
    model = CampaignStepDelivery
    not_found_message = "Delivery not found"

    async def claim(self, delivery: CampaignStepDelivery) -> bool:
        """Insert the (step, contact) row; False when it exists, i.e. the step was done.

        On PostgreSQL a concurrent uncommitted insert of the same pair makes this wait for
        that transaction: if it commits we get False, if its worker died we get the row.
        """
        try:
            async with self.session.begin_nested():
                await self.add(delivery)
        except IntegrityError:
            return False
        return True

    async def count_by_step(self, campaign_id: uuid.UUID) -> dict[uuid.UUID, int]:
        statement = (
            select(CampaignStepDelivery.step_id, func.count())
            .where(
                CampaignStepDelivery.workspace_id == self.workspace_id,
                CampaignStepDelivery.campaign_id == campaign_id,
            )
            .group_by(CampaignStepDelivery.step_id)
        )
        return {step: int(count) for step, count in (await self.session.execute(statement)).all()}

    async def exists_for(self, campaign_id: uuid.UUID) -> bool:
        found = await self.session.scalar(
            select(CampaignStepDelivery.id)
            .where(
                CampaignStepDelivery.workspace_id == self.workspace_id,
                CampaignStepDelivery.campaign_id == campaign_id,
            )
            .limit(1)
        )
        return found is not None

    async def first_for_contact(
        self, campaign_id: uuid.UUID, contact_id: uuid.UUID
    ) -> CampaignStepDelivery | None:
        return await self.first(
            self.scoped()
            .where(
                CampaignStepDelivery.campaign_id == campaign_id,
                CampaignStepDelivery.contact_id == contact_id,
            )
            .order_by(CampaignStepDelivery.created_at)
        )


# Jobs may be instance-wide (no workspace); the scoped filter leaves those out.
class CampaignJobRepository(WorkspaceRepository[Job]):  # type: ignore[type-var]
    """The workspace's own jobs on the campaigns queue."""

    model = Job
    not_found_message = "Job not found"

    async def failed(self, queue: str) -> int:
        count = await self.session.scalar(
            select(func.count())
            .select_from(Job)
            .where(
                Job.workspace_id == self.workspace_id,
                Job.queue == queue,
                Job.status == JobStatus.failed.value,
            )
        )
        return int(count or 0)
