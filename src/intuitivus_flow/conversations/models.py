from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from intuitivus_flow.contacts.models import Contact
from intuitivus_flow.kit.models import Base, IdMixin, JSONType, TimestampMixin, str_enum, utcnow


class Channel(StrEnum):
    whatsapp = "whatsapp"
    webchat = "webchat"


class ConversationState(StrEnum):
    open = "open"  # the agent answers
    escalated = "escalated"  # a human took over: no auto-replies
    closed = "closed"


class Direction(StrEnum):
    inbound = "in"
    outbound = "out"


class Author(StrEnum):
    contact = "contact"
    agent = "agent"
    human = "human"


class MessageKind(StrEnum):
    text = "text"
    template = "template"


class MessageStatus(StrEnum):
    pending = "pending"  # stored, waiting for the delivery job
    received = "received"  # inbound
    sent = "sent"
    delivered = "delivered"
    read = "read"
    failed = "failed"


class NumberStatus(StrEnum):
    """Whether a WhatsApp number works (computed, see `conversations/numbers.py`)."""

    active = "active"  # confirmed by Meta, credentials readable: webhooks are routed to it
    pending_verification = "pending_verification"  # not confirmed by Meta: receives nothing
    needs_secret = "needs_secret"  # its stored secrets cannot be read: enter them again


# Status webhooks may arrive out of order; a message never moves back down this ladder.
STATUS_RANK = {
    MessageStatus.pending: 0,
    MessageStatus.sent: 1,
    MessageStatus.delivered: 2,
    MessageStatus.read: 3,
}


class ConversationSettings(IdMixin, Base):
    """Per-workspace conversation settings: the default agent and the web-chat widget key."""

    __tablename__ = "conversation_settings"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), unique=True
    )
    default_agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), default=None
    )
    # Public by design (it sits in the web page that embeds the widget): it names the
    # workspace, it grants nothing beyond posting visitor messages.
    widget_key: Mapped[str] = mapped_column(String(64), unique=True)
    widget_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Browser origins whose pages may embed the widget (kit/origins.py, normalised); empty:
    # none, so a new widget talks to no site until its owner names one.
    widget_allowed_origins: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # When the agent cannot answer (every LLM provider failed, no active agent), a person
    # takes over and the contact is told so; off, the conversation is only marked.
    escalate_on_agent_failure: Mapped[bool] = mapped_column(Boolean, default=True)
    # A contact asking for a person ("Can I talk to a human?") or an agent that is not
    # confident hands the conversation to a person (conversations/handover.py).
    hand_over_on_request: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WhatsAppNumber(IdMixin, TimestampMixin, Base):
    """A WhatsApp Cloud API business number connected to a workspace.

    `phone_number_id` routes inbound webhooks, so it is unique across the instance. The access
    token and app secret are encrypted with the instance's SecretBox; the verify token is only
    ever compared, so it is kept as a SHA-256 digest (which also lets the handshake, which
    names no number, find the number by it).

    `active` means "routes webhooks and sends": it is set only once Meta confirmed that the
    number's access token owns it (`conversations/numbers.py`), so a number is pending
    verification, and receives nothing, until then.
    """

    __tablename__ = "whatsapp_numbers"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    phone_number_id: Mapped[str] = mapped_column(String(64), unique=True)
    display_number: Mapped[str] = mapped_column(String(32), default="")
    encrypted_access_token: Mapped[str] = mapped_column(Text)
    token_hint: Mapped[str] = mapped_column(String(16), default="")
    encrypted_app_secret: Mapped[str] = mapped_column(Text)
    verify_token_digest: Mapped[str] = mapped_column(String(64), index=True)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), default=None
    )
    active: Mapped[bool] = mapped_column(Boolean, default=False)


class Conversation(IdMixin, TimestampMixin, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_workspace_id_state", "workspace_id", "state", "last_message_at"),
        # The inbox without a state filter (newest activity first; migration dbwl_inbox_index).
        Index(
            "ix_conversations_workspace_id_last_message_at_id",
            "workspace_id",
            "last_message_at",
            "id",
        ),
        Index("ix_conversations_contact_id", "contact_id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    whatsapp_number_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("whatsapp_numbers.id", ondelete="SET NULL"), default=None
    )
    visitor_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), default=None
    )
    state: Mapped[ConversationState] = mapped_column(
        str_enum(ConversationState), default=ConversationState.open
    )
    # Denormalised so the inbox lists conversations with their last message in one query.
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_text: Mapped[str] = mapped_column(String(200), default="")
    escalated_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    # The member who looks after it (the inbox's "mine"); None: anyone. No foreign key: SQLite
    # could only add one by copying the table, whose drop would cascade into every message
    # (migration inbx_live_inbox); assignment checks the member, and an id whose member was
    # deleted reads as unassigned (`service.assignee_names`).
    assignee_user_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    # The contact's latest message: "unread" compares it with each member's last read.
    last_inbound_at: Mapped[datetime | None] = mapped_column(default=None)
    # Why a person should look (the agent failed, the contact asked for a person...), shown
    # in the inbox until a person replies or hands it back, or the agent answers again.
    attention_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    attention_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Loaded with the conversation (one join), so the inbox shows who it is with at no cost.
    contact: Mapped[Contact] = relationship(lazy="joined", innerjoin=True)


class Message(IdMixin, TimestampMixin, Base):
    __tablename__ = "conversation_messages"
    __table_args__ = (
        # A webhook delivered twice carries the same wamid: the second insert is refused.
        UniqueConstraint(
            "workspace_id", "channel_message_id", name="uq_conversation_messages_channel_id"
        ),
        # Campaign steps and agent replies: the same logical send never happens twice.
        UniqueConstraint(
            "workspace_id", "idempotency_key", name="uq_conversation_messages_idempotency_key"
        ),
        Index("ix_conversation_messages_conversation_id", "conversation_id", "created_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    direction: Mapped[Direction] = mapped_column(str_enum(Direction, length=8))
    author: Mapped[Author] = mapped_column(str_enum(Author))
    author_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    kind: Mapped[MessageKind] = mapped_column(str_enum(MessageKind), default=MessageKind.text)
    text: Mapped[str] = mapped_column(Text, default="")
    # Template name, language and components for template messages.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    channel_message_id: Mapped[str | None] = mapped_column(String(128), default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    status: Mapped[MessageStatus] = mapped_column(str_enum(MessageStatus))
    error: Mapped[str | None] = mapped_column(Text, default=None)
    status_updated_at: Mapped[datetime | None] = mapped_column(default=None)


class ConversationRead(IdMixin, Base):
    """When a member last read a conversation: a conversation is unread for them while the
    contact wrote after it (`Conversation.last_inbound_at`)."""

    __tablename__ = "conversation_reads"
    __table_args__ = (
        UniqueConstraint("conversation_id", "user_id", name="uq_conversation_reads_member"),
        Index("ix_conversation_reads_user_id", "user_id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    read_at: Mapped[datetime] = mapped_column(default=utcnow)
