from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as lite_insert

from intuitivus_flow.campaigns.models import (
    Campaign,
    CampaignConversion,
    CampaignEvent,
    CampaignReport,
    CampaignStatus,
    CampaignStep,
    CampaignStepDelivery,
    PauseReason,
)
from intuitivus_flow.contacts.models import Contact
from intuitivus_flow.conversations.models import Conversation, Direction, Message
from intuitivus_flow.jobs.models import Job, JobStatus
from intuitivus_flow.kit.models import utcnow
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

    def listing(self, *, status: str | None, platform: str | None) -> Select[Campaign]:
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
                Campaign.status == CampaignStatus.paused.value,
                Campaign.pause_reason == PauseReason.daily_budget.value,
                Campaign.resume_at <= now,
            )
            .order_by(Campaign.resume_at, Campaign.id)
        )
        return [
            (workspace, campaign) for workspace, campaign in await self.session.execute(statement)
        ]


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
            select(CampaignReport.campaign_id, *SUMS)
            .where(
                CampaignReport.workspace_id == self.workspace_id,
                CampaignReport.campaign_id.in_(campaign_ids),
            )
            .group_by(CampaignReport.campaign_id)
        )
        rows = (await self.session.execute(statement)).all()
        return {
            campaign_id: Totals(int(a), int(b), int(c), int(d), int(e))
            for campaign_id, a, b, c, d, e in rows
        }

    async def total_for(self, campaign_id: uuid.UUID) -> Totals:
        return (await self.totals([campaign_id])).get(campaign_id, Totals())

    async def spend_on(self, campaign_id: uuid.UUID, day: date) -> int:
        spend = await self.session.scalar(
            select(CampaignReport.spend_minor).where(
                CampaignReport.workspace_id == self.workspace_id,
                CampaignReport.campaign_id == campaign_id,
                CampaignReport.report_date == day,
            )
        )
        return int(spend or 0)

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

    async def claim(
        self, *, campaign_id: uuid.UUID, step_id: uuid.UUID, contact_id: uuid.UUID
    ) -> CampaignStepDelivery | None:
        """Insert the (step, contact) row; None when it exists, i.e. the step was done.

        One INSERT ... ON CONFLICT DO NOTHING, no savepoint (pysqlite would commit a
        savepoint opened before the transaction's first write). On PostgreSQL a concurrent
        uncommitted insert of the pair makes this wait for that transaction: if it commits we
        get None, if it rolled back (its worker died) we get the row.
        """
        insert = pg_insert if self.session.get_bind().dialect.name == "postgresql" else lite_insert
        statement = (
            insert(CampaignStepDelivery)
            .values(
                id=uuid.uuid4(),
                workspace_id=self.workspace_id,
                campaign_id=campaign_id,
                step_id=step_id,
                contact_id=contact_id,
                status="pending",
                detail={},
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["step_id", "contact_id"])
            .returning(CampaignStepDelivery.id)
        )
        inserted = (await self.session.execute(statement)).scalar_one_or_none()
        return None if inserted is None else await self.get(inserted)

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

    async def recent(self, campaign_id: uuid.UUID, *, limit: int) -> Sequence[CampaignStepDelivery]:
        return await self.all(
            self.scoped()
            .where(CampaignStepDelivery.campaign_id == campaign_id)
            .order_by(CampaignStepDelivery.created_at.desc(), CampaignStepDelivery.id)
            .limit(limit)
        )

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


class ConversionRepository(WorkspaceRepository[CampaignConversion]):
    model = CampaignConversion
    not_found_message = "Conversion not found"

    async def for_contact(
        self, campaign_id: uuid.UUID, contact_id: uuid.UUID
    ) -> CampaignConversion | None:
        return await self.first(
            self.scoped().where(
                CampaignConversion.campaign_id == campaign_id,
                CampaignConversion.contact_id == contact_id,
            )
        )

    async def recent(self, campaign_id: uuid.UUID, *, limit: int) -> Sequence[CampaignConversion]:
        return await self.all(
            self.scoped()
            .where(CampaignConversion.campaign_id == campaign_id)
            .order_by(CampaignConversion.created_at.desc(), CampaignConversion.id)
            .limit(limit)
        )


class InboundMessageRepository(WorkspaceRepository[Message]):
    """Read-only: what branches on "reply" need from the conversations tables."""

    model = Message
    not_found_message = "Message not found"

    async def exists_since(self, contact_id: uuid.UUID, since: datetime) -> bool:
        found = await self.session.scalar(
            select(Message.id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(
                Message.workspace_id == self.workspace_id,
                Conversation.contact_id == contact_id,
                Message.direction == Direction.inbound.value,
                Message.created_at >= since,
            )
            .limit(1)
        )
        return found is not None


class AudienceContactRepository(WorkspaceRepository[Contact]):
    """Read-only: the contacts the campaign pages name in deliveries and conversions."""

    model = Contact
    not_found_message = "Contact not found"

    async def by_ids(self, contact_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Contact]:
        if not contact_ids:
            return {}
        found = await self.all(self.scoped().where(Contact.id.in_(set(contact_ids))))
        return {contact.id: contact for contact in found}
