from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from intuitivus_flow.contacts.models import OptIn
from intuitivus_flow.conversations.models import (
    Author,
    Channel,
    ConversationState,
    Direction,
    MessageKind,
    MessageStatus,
    NumberStatus,
)
from intuitivus_flow.kit import origins
from intuitivus_flow.kit.pagination import PaginatedResponse

MAX_TEXT = 4096  # WhatsApp's limit for a text message body
MAX_WEBCHAT_TEXT = 2000
MAX_WIDGET_ORIGINS = 50


class ContactBrief(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    phone: str | None
    opt_in: OptIn


class ConversationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    contact_id: uuid.UUID
    channel: Channel
    whatsapp_number_id: uuid.UUID | None
    agent_id: uuid.UUID | None
    state: ConversationState
    last_message_at: datetime
    last_message_text: str
    escalated_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    assignee_user_id: uuid.UUID | None = Field(description="The member looking after it.")
    last_inbound_at: datetime | None = Field(description="The contact's latest message.")
    attention_reason: str | None = Field(
        description="Why a person should look (the agent could not reply, the contact asked "
        "for a person, the agent was not confident); cleared when a person replies or hands "
        "it back, or the agent answers again."
    )


class InboxItem(ConversationRead):
    contact: ContactBrief


class InboxPage(PaginatedResponse[InboxItem]):
    pass


class MessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    conversation_id: uuid.UUID
    direction: Direction
    author: Author
    author_user_id: uuid.UUID | None
    kind: MessageKind
    text: str
    payload: dict[str, Any]
    channel_message_id: str | None
    status: MessageStatus
    error: str | None
    created_at: datetime


class MessagePage(PaginatedResponse[MessageRead]):
    pass


class HumanReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_TEXT)


class MemberAssignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID | None = Field(description="An active member; None: unassigned.")


class AgentAssignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: uuid.UUID | None = Field(description="None: the workspace default agent answers.")


class SettingsRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    default_agent_id: uuid.UUID | None
    widget_key: str
    widget_enabled: bool
    escalate_on_agent_failure: bool = Field(
        description="When the agent cannot reply, a person takes over and the contact is "
        "told; off, the conversation is only marked in the inbox."
    )
    hand_over_on_request: bool = Field(
        description="A contact asking for a person, or an agent not confident, hands the "
        "conversation to a person."
    )
    widget_allowed_origins: list[str] = Field(
        description="Browser origins whose pages may use the web-chat widget (CORS)."
    )


class SettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_agent_id: uuid.UUID | None = None
    widget_enabled: bool | None = None
    escalate_on_agent_failure: bool | None = None
    hand_over_on_request: bool | None = None
    widget_allowed_origins: (
        list[Annotated[str, Field(max_length=origins.MAX_ORIGIN_LENGTH)]] | None
    ) = Field(
        default=None,
        max_length=MAX_WIDGET_ORIGINS,
        description="Replaces the list. Each is scheme://host[:port] (no path); "
        "`https://*.example.com` stands for every subdomain of example.com, not for "
        "example.com itself. Normalised as browsers send `Origin`; duplicates dropped.",
    )

    @field_validator("widget_allowed_origins")
    @classmethod
    def _origins(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else origins.normalise_origins(value)


class WhatsAppNumberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_number_id: str = Field(min_length=1, max_length=64, pattern=r"^\d+$")
    display_number: str = Field(default="", max_length=32)
    # The access token travels in an HTTP header, which carries printable ASCII only (a
    # non-ASCII token was a 500 when the Graph API was asked to confirm the number).
    access_token: str = Field(min_length=8, max_length=4096, pattern=r"^[\x21-\x7e]+$")
    verify_token: str = Field(min_length=8, max_length=256)
    app_secret: str = Field(min_length=8, max_length=256)
    agent_id: uuid.UUID | None = None

    @field_validator("access_token", "verify_token", "app_secret")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        # A blank secret checks nothing (an HMAC keyed with it is anyone's to compute).
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class WhatsAppNumberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    phone_number_id: str
    display_number: str
    token_hint: str
    agent_id: uuid.UUID | None
    active: bool = Field(description="Routes webhooks and sends messages.")
    status: NumberStatus = Field(
        description="active; pending_verification (Meta has not confirmed the number's "
        "access token owns it: nothing is routed to it); needs_secret (its stored access "
        "token or app secret can no longer be decrypted: its webhooks are refused until it is "
        "connected again with them)."
    )
    created_at: datetime


class WebchatPost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visitor: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    text: str = Field(min_length=1, max_length=MAX_WEBCHAT_TEXT)
    name: str = Field(default="", max_length=120)


class WebchatMessage(BaseModel):
    """What a visitor sees: no ids of people, no statuses of other channels."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    direction: Direction
    author: Author
    text: str
    created_at: datetime


class WebchatThread(BaseModel):
    state: ConversationState | None
    messages: list[WebchatMessage]


class WebhookReceipt(BaseModel):
    received: int
    duplicates: int
    statuses: int
