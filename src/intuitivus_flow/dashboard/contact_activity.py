"""One contact's activity across the domains, for the contact page: their conversations, the
campaign steps done for them, and the events that name them or their conversations.

It lives here, above campaigns and conversations, for the same reason as the workspace
overview: contacts sit below both and cannot read their tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.campaigns.models import Campaign, CampaignStep, CampaignStepDelivery
from intuitivus_flow.contacts import service as contacts
from intuitivus_flow.conversations.models import Conversation
from intuitivus_flow.events.models import Event
from intuitivus_flow.identity.principal import Principal
from intuitivus_flow.identity.scopes import Scope
from intuitivus_flow.kit.repository import WorkspaceQueries

CONVERSATIONS = 20
DELIVERIES = 50
EVENTS = 50


@dataclass(frozen=True, slots=True)
class DeliveryLine:
    campaign_id: uuid.UUID
    campaign_name: str
    step_position: int
    step_kind: str
    status: str
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ContactActivity:
    conversations: Sequence[Conversation]
    deliveries: Sequence[DeliveryLine]
    events: Sequence[Event]


class ContactActivityQueries(WorkspaceQueries):
    """Each query names its tables only: the base restricts them to the workspace."""

    async def conversations(self, contact_id: uuid.UUID) -> Sequence[Conversation]:
        result = await self.execute(
            select(Conversation)
            .where(Conversation.contact_id == contact_id)
            .order_by(Conversation.last_message_at.desc(), Conversation.id)
            .limit(CONVERSATIONS)
        )
        return result.scalars().all()

    async def deliveries(self, contact_id: uuid.UUID) -> list[DeliveryLine]:
        rows = await self.execute(
            select(CampaignStepDelivery, Campaign.name, CampaignStep.position, CampaignStep.kind)
            .join(Campaign, Campaign.id == CampaignStepDelivery.campaign_id)
            .join(CampaignStep, CampaignStep.id == CampaignStepDelivery.step_id)
            .where(CampaignStepDelivery.contact_id == contact_id)
            .order_by(CampaignStepDelivery.created_at.desc(), CampaignStepDelivery.id)
            .limit(DELIVERIES)
        )
        return [
            DeliveryLine(
                campaign_id=delivery.campaign_id,
                campaign_name=name,
                step_position=position,
                step_kind=str(kind),
                status=str(delivery.status),
                reason=_reason(delivery.detail),
                at=delivery.created_at,
            )
            for delivery, name, position, kind in rows.all()
        ]

    async def events(
        self, contact_id: uuid.UUID, conversation_ids: Sequence[uuid.UUID]
    ) -> Sequence[Event]:
        about = [Event.properties["contact_id"].as_string() == str(contact_id)]
        if conversation_ids:
            named = [str(identifier) for identifier in conversation_ids]
            about.append(Event.properties["conversation_id"].as_string().in_(named))
        result = await self.execute(
            select(Event)
            .where(or_(*about))
            .order_by(Event.occurred_at.desc(), Event.id)
            .limit(EVENTS)
        )
        return result.scalars().all()


async def contact_activity(
    session: AsyncSession, principal: Principal, contact_id: uuid.UUID
) -> ContactActivity:
    """The contact's latest conversations, campaign deliveries and events (404 for a contact
    of another workspace)."""
    await contacts.get(session, principal, contact_id)
    queries = ContactActivityQueries(session, principal.workspace_id)
    # Each part needs the scope its own API needs: a key without campaigns:read sees none.
    conversations: Sequence[Conversation] = []
    if Scope.conversations_read in principal.scopes:
        conversations = await queries.conversations(contact_id)
    deliveries: list[DeliveryLine] = []
    if Scope.campaigns_read in principal.scopes:
        deliveries = await queries.deliveries(contact_id)
    events: Sequence[Event] = []
    if Scope.events_read in principal.scopes:
        events = await queries.events(contact_id, [c.id for c in conversations])
    return ContactActivity(conversations=conversations, deliveries=deliveries, events=events)


def _reason(detail: dict[str, object]) -> str | None:
    reason = detail.get("reason")
    return reason if isinstance(reason, str) else None
