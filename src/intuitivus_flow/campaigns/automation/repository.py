"""All SQL of the automation: steps, deliveries, conversions, and what the engine reads from
the jobs, conversations and contacts tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as lite_insert

from intuitivus_flow.campaigns.automation.models import (
    CampaignConversion,
    CampaignStep,
    CampaignStepDelivery,
    DeliveryStatus,
)
from intuitivus_flow.contacts.models import Contact
from intuitivus_flow.conversations.models import Conversation, Direction, Message
from intuitivus_flow.jobs.models import Job, JobStatus
from intuitivus_flow.kit.models import utcnow
from intuitivus_flow.kit.repository import WorkspaceRepository


class CampaignStepRepository(WorkspaceRepository[CampaignStep]):
    model = CampaignStep
    not_found_message = "Step not found"

    async def ordered(self, campaign_id: uuid.UUID) -> Sequence[CampaignStep]:
        return await self.all(
            self.scoped()
            .where(CampaignStep.campaign_id == campaign_id)
            .order_by(CampaignStep.position)
        )

    async def of_campaign(self, campaign_id: uuid.UUID, step_id: uuid.UUID) -> CampaignStep | None:
        return await self.first(
            self.scoped().where(CampaignStep.campaign_id == campaign_id, CampaignStep.id == step_id)
        )

    async def at_position(self, campaign_id: uuid.UUID, position: int) -> CampaignStep | None:
        return await self.first(
            self.scoped().where(
                CampaignStep.campaign_id == campaign_id, CampaignStep.position == position
            )
        )

    async def count_in(self, campaign_id: uuid.UUID) -> int:
        found = await self.scalar(
            select(func.count()).where(
                CampaignStep.campaign_id == campaign_id,
            )
        )
        return int(found or 0)

    async def shift(self, campaign_id: uuid.UUID, first: int, last: int, *, by: int) -> None:
        """Renumber the steps at positions `first`..`last` by `by` (+1 or -1), making room for
        an insert or closing a gap. Two statements: (campaign, position) is unique and both
        engines check that row by row, so the rows pass through negative positions."""
        if first > last:
            return
        mine = (CampaignStep.campaign_id == campaign_id,)
        await self.execute(
            update(CampaignStep)
            .where(*mine, CampaignStep.position.between(first, last))
            .values(position=-(CampaignStep.position + by))
            .execution_options(synchronize_session="fetch")
        )
        await self.execute(
            update(CampaignStep)
            .where(*mine, CampaignStep.position < 0)
            .values(position=-CampaignStep.position)
            .execution_options(synchronize_session="fetch")
        )

    async def move(self, step: CampaignStep, to: int) -> None:
        """The step to position `to`, the steps in between closing up: the step waits at
        position 0 (never a step's) while they shift."""
        start = step.position
        step.position = 0
        await self.session.flush()
        if to > start:
            await self.shift(step.campaign_id, start + 1, to, by=-1)
        else:
            await self.shift(step.campaign_id, to, start - 1, by=1)
        step.position = to
        await self.session.flush()

    async def branches_to(self, step_id: uuid.UUID) -> Sequence[CampaignStep]:
        """The branches that continue at the step."""
        return await self.all(
            self.scoped()
            .where(
                or_(
                    CampaignStep.if_true_step_id == step_id,
                    CampaignStep.if_false_step_id == step_id,
                )
            )
            .order_by(CampaignStep.position)
        )

    async def remove_all(self, campaign_id: uuid.UUID) -> None:
        await self.execute(
            delete(CampaignStep).where(
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
                status=DeliveryStatus.pending,
                detail={},
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["step_id", "contact_id"])
            .returning(CampaignStepDelivery.id)
        )
        inserted = (await self.execute(statement)).scalar_one_or_none()
        return None if inserted is None else await self.get(inserted)

    async def count_by_step(self, campaign_id: uuid.UUID) -> dict[uuid.UUID, int]:
        statement = (
            select(CampaignStepDelivery.step_id, func.count())
            .where(
                CampaignStepDelivery.campaign_id == campaign_id,
            )
            .group_by(CampaignStepDelivery.step_id)
        )
        return {step: int(count) for step, count in (await self.execute(statement)).all()}

    async def exists_for_step(self, step_id: uuid.UUID) -> bool:
        found = await self.scalar(
            select(CampaignStepDelivery.id)
            .where(
                CampaignStepDelivery.step_id == step_id,
            )
            .limit(1)
        )
        return found is not None

    async def exists_for(self, campaign_id: uuid.UUID) -> bool:
        found = await self.scalar(
            select(CampaignStepDelivery.id)
            .where(
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
        count = await self.scalar(
            select(func.count())
            .select_from(Job)
            .where(
                Job.queue == queue,
                Job.status == JobStatus.failed,
            )
        )
        return int(count or 0)

    async def waiting_for_step(self, kind: str, step_id: uuid.UUID) -> bool:
        """Whether a queued or running job of `kind` is for the step (its dedupe key starts
        with `campaign-step:<step>:`)."""
        found = await self.scalar(
            select(Job.id)
            .where(
                Job.kind == kind,
                Job.status.in_([JobStatus.queued, JobStatus.running]),
                Job.dedupe_key.startswith(f"campaign-step:{step_id}:", autoescape=True),
            )
            .limit(1)
        )
        return found is not None


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
        found = await self.scalar(
            select(Message.id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(
                Conversation.contact_id == contact_id,
                Message.direction == Direction.inbound,
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
