from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute

from intuitivus_flow.contacts.models import Contact
from intuitivus_flow.conversations.models import (
    Channel,
    Conversation,
    ConversationRead,
    ConversationSettings,
    ConversationState,
    Direction,
    Message,
    WhatsAppNumber,
)
from intuitivus_flow.kit.repository import Repository, WorkspaceRepository


class InboxView(StrEnum):
    """The inbox's filters beyond state, for the member looking."""

    unread = "unread"  # the contact wrote since the member last read it
    mine = "mine"  # assigned to the member
    attention = "attention"  # the agent failed or handed over, and no person answered yet


@dataclass(frozen=True, slots=True)
class InboxFilter:
    view: InboxView | None = None
    channel: Channel | None = None


@dataclass(frozen=True, slots=True)
class InboxCounts:
    """Conversations not closed unless named otherwise."""

    open: int = 0
    escalated: int = 0
    unread: int = 0
    mine: int = 0
    attention: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)


def _unread(read_at: InstrumentedAttribute[datetime]) -> ColumnElement[bool]:
    return and_(
        Conversation.last_inbound_at.is_not(None),
        or_(read_at.is_(None), read_at < Conversation.last_inbound_at),
    )


class ConversationRepository(WorkspaceRepository[Conversation]):
    model = Conversation
    not_found_message = "Conversation not found"

    def inbox(self, *, state: str | None) -> Select[Conversation]:
        """Most recent activity first."""
        statement = self.scoped().order_by(
            Conversation.last_message_at.desc(), Conversation.id.desc()
        )
        return statement.where(Conversation.state == state) if state else statement

    def narrow(
        self, statement: Select[Conversation], view: InboxFilter, *, member_id: uuid.UUID | None
    ) -> Select[Conversation]:
        if view.channel is not None:
            statement = statement.where(Conversation.channel == view.channel.value)
        if view.view is InboxView.mine:
            statement = statement.where(Conversation.assignee_user_id == member_id)
        elif view.view is InboxView.attention:
            statement = statement.where(Conversation.attention_reason.is_not(None))
        elif view.view is InboxView.unread:
            reads = ConversationRead
            statement = statement.outerjoin(
                reads,
                and_(reads.conversation_id == Conversation.id, reads.user_id == member_id),
            ).where(_unread(reads.read_at))
        return statement

    async def counts(self, *, member_id: uuid.UUID | None) -> InboxCounts:
        """Every figure of the inbox in one pass over the workspace's live conversations."""
        reads = ConversationRead
        live = Conversation.state != ConversationState.closed

        def number(condition: ColumnElement[bool]) -> ColumnElement[int]:
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        statement = (
            select(
                Conversation.channel,
                number(Conversation.state == ConversationState.open),
                number(Conversation.state == ConversationState.escalated),
                number(and_(live, _unread(reads.read_at))),
                number(and_(live, Conversation.assignee_user_id == member_id)),
                number(and_(live, Conversation.attention_reason.is_not(None))),
                number(live),
            )
            .select_from(Conversation)
            .outerjoin(
                reads, and_(reads.conversation_id == Conversation.id, reads.user_id == member_id)
            )
            .group_by(Conversation.channel)
        )
        totals = [0, 0, 0, 0, 0]
        by_channel: dict[str, int] = {}
        for channel, *figures, not_closed in (await self.execute(statement)).all():
            totals = [total + int(figure) for total, figure in zip(totals, figures, strict=True)]
            by_channel[str(channel)] = int(not_closed)
        opened, escalated, unread, mine, attention = totals
        return InboxCounts(opened, escalated, unread, mine, attention, by_channel)

    async def current(
        self,
        *,
        contact_id: uuid.UUID,
        channel: str,
        whatsapp_number_id: uuid.UUID | None = None,
        visitor_id: str | None = None,
    ) -> Conversation | None:
        """The contact's conversation on this channel that is not closed, if any."""
        statement = self.scoped().where(
            Conversation.contact_id == contact_id,
            Conversation.channel == channel,
            Conversation.state != ConversationState.closed,
        )
        if whatsapp_number_id is not None:
            statement = statement.where(Conversation.whatsapp_number_id == whatsapp_number_id)
        if visitor_id is not None:
            statement = statement.where(Conversation.visitor_id == visitor_id)
        return await self.first(statement.order_by(Conversation.created_at.desc()))

    async def lock_contact(self, contact_id: uuid.UUID) -> None:
        """Hold the contact's row until the transaction ends, so that one transaction at a
        time looks for (and maybe starts) the contact's live conversation.

        Nothing unique can say "one conversation that is not closed per contact and channel",
        so the parent row is the lock. A no-op UPDATE, because it locks on both engines: a
        row lock on PostgreSQL (the next statement's snapshot sees what the holder
        committed), the database's write lock on SQLite (whose SELECT ... FOR UPDATE is
        nothing).
        """
        await self.execute(
            update(Contact)
            .where(Contact.id == contact_id)
            .values(updated_at=Contact.updated_at)
            .execution_options(synchronize_session=False)
        )

    async def latest_for_visitor(self, visitor_id: str) -> Conversation | None:
        return await self.first(
            self.scoped()
            .where(Conversation.visitor_id == visitor_id)
            .order_by(Conversation.created_at.desc())
        )

    async def latest_for_contact(self, contact_id: uuid.UUID, channel: str) -> Conversation | None:
        return await self.first(
            self.scoped()
            .where(Conversation.contact_id == contact_id, Conversation.channel == channel)
            .order_by(Conversation.last_message_at.desc())
        )


class ConversationReadRepository(WorkspaceRepository[ConversationRead]):
    model = ConversationRead
    not_found_message = "Read mark not found"

    async def mark(self, conversation_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> None:
        """The member read the conversation at `at`. Insert-or-nothing, then move the mark
        forward only: two tabs marking at once neither collide on the unique key nor move it
        back."""
        await self.add_unless_taken(
            ConversationRead(conversation_id=conversation_id, user_id=user_id, read_at=at),
            unique=("conversation_id", "user_id"),
        )
        await self.execute(
            update(ConversationRead)
            .where(
                ConversationRead.conversation_id == conversation_id,
                ConversationRead.user_id == user_id,
                ConversationRead.read_at < at,
            )
            .values(read_at=at)
            .execution_options(synchronize_session=False)
        )

    async def read_times(
        self, user_id: uuid.UUID, conversation_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, datetime]:
        if not conversation_ids:
            return {}
        rows = await self.execute(
            select(ConversationRead.conversation_id, ConversationRead.read_at).where(
                ConversationRead.user_id == user_id,
                ConversationRead.conversation_id.in_(list(conversation_ids)),
            )
        )
        return dict(rows.tuples().all())


class MessageRepository(WorkspaceRepository[Message]):
    model = Message
    not_found_message = "Message not found"

    def thread(self, conversation_id: uuid.UUID) -> Select[Message]:
        """Oldest first, in a stable order."""
        return (
            self.scoped()
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.created_at, Message.id)
        )

    async def history(self, conversation_id: uuid.UUID, *, limit: int) -> list[Message]:
        """The last `limit` messages, oldest first (what an agent reads before replying)."""
        newest = await self.all(
            self.scoped()
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(limit)
        )
        return list(reversed(newest))

    async def after(
        self, conversation_ids: Sequence[uuid.UUID], cursor: Message | None, *, limit: int
    ) -> Sequence[Message]:
        """Messages of these conversations created after `cursor` (web-chat polling)."""
        statement = self.scoped().where(Message.conversation_id.in_(conversation_ids))
        if cursor is not None:
            statement = statement.where(
                or_(
                    Message.created_at > cursor.created_at,
                    and_(Message.created_at == cursor.created_at, Message.id > cursor.id),
                )
            )
        return await self.all(statement.order_by(Message.created_at, Message.id).limit(limit))

    async def add_unless_delivered(self, message: Message) -> Message | None:
        """The message stored, or None when one with its channel id already is (a redelivery,
        including one being stored by a concurrent request right now)."""
        return await self.add_unless_taken(message, unique=("workspace_id", "channel_message_id"))

    async def by_channel_id(self, channel_message_id: str) -> Message | None:
        return await self.first(
            self.scoped().where(Message.channel_message_id == channel_message_id)
        )

    async def by_idempotency_key(self, key: str) -> Message | None:
        return await self.first(self.scoped().where(Message.idempotency_key == key))

    async def newer_inbound_exists(self, message: Message) -> bool:
        found = await self.first(
            self.scoped().where(
                Message.conversation_id == message.conversation_id,
                Message.direction == Direction.inbound,
                Message.created_at > message.created_at,
            )
        )
        return found is not None


class WhatsAppNumberRepository(WorkspaceRepository[WhatsAppNumber]):
    model = WhatsAppNumber
    not_found_message = "WhatsApp number not found"

    def listing(self) -> Select[WhatsAppNumber]:
        return self.scoped().order_by(WhatsAppNumber.created_at, WhatsAppNumber.id)

    async def default(self) -> WhatsAppNumber | None:
        """The number business-initiated sends use when no conversation names one."""
        return await self.first(self.listing().where(WhatsAppNumber.active.is_(True)))


class ConversationSettingsRepository(WorkspaceRepository[ConversationSettings]):
    model = ConversationSettings
    not_found_message = "Conversation settings not found"

    async def current(self) -> ConversationSettings | None:
        return await self.first(self.scoped())

    async def lock(self) -> None:
        """Hold the workspace's settings row until the transaction ends (a no-op UPDATE: a row
        lock on PostgreSQL, the write lock on SQLite), so that one new web-chat visitor at a
        time is created; see `ConversationRepository.lock_contact`."""
        await self.execute(
            update(ConversationSettings)
            .values(updated_at=ConversationSettings.updated_at)
            .execution_options(synchronize_session=False)
        )


class WhatsAppRoutingRepository(Repository[WhatsAppNumber]):
    """Unscoped on purpose: a webhook names a number, not a workspace; the number is what
    routes it to one. Nothing else may use this."""

    model = WhatsAppNumber

    async def by_phone_number_ids(self, ids: Sequence[str]) -> Sequence[WhatsAppNumber]:
        return await self.all(
            select(WhatsAppNumber).where(
                WhatsAppNumber.phone_number_id.in_(list(ids)), WhatsAppNumber.active.is_(True)
            )
        )

    async def by_phone_number_id(self, phone_number_id: str) -> WhatsAppNumber | None:
        return await self.first(
            select(WhatsAppNumber).where(WhatsAppNumber.phone_number_id == phone_number_id)
        )

    async def by_verify_digest(self, digest: str) -> WhatsAppNumber | None:
        return await self.first(
            select(WhatsAppNumber).where(
                WhatsAppNumber.verify_token_digest == digest, WhatsAppNumber.active.is_(True)
            )
        )


class WidgetKeyRepository(Repository[ConversationSettings]):
    """Unscoped on purpose: the public web-chat key is what identifies the workspace."""

    model = ConversationSettings

    async def by_widget_key(self, key: str) -> ConversationSettings | None:
        return await self.first(
            select(ConversationSettings).where(ConversationSettings.widget_key == key)
        )
