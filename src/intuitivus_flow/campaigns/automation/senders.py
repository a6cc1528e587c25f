"""What the automation needs from contacts and conversations, behind one small protocol.

The engine selects an audience segment, sends WhatsApp templates or agent messages and asks whether
a contact replied (for branches) only through `CampaignSender`, so the job logic is tested with an
in-memory implementation and runs in production on the conversations channels. Every send
carries an idempotency key (`campaign-step:<step>:<contact>`): a step re-run after a crash
asks the channel for the same message again, and the channel sends it once.
"""

from __future__ import annotations

import contextlib
import importlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, cast, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.billing.exceptions import PlanLimitReached
from intuitivus_flow.campaigns.automation.repository import InboundMessageRepository
from intuitivus_flow.config import ConfigurationError, Settings
from intuitivus_flow.contacts import service as contacts
from intuitivus_flow.contacts.models import ConsentChannel
from intuitivus_flow.conversations import service as conversations
from intuitivus_flow.jobs.worker import PermanentJobError
from intuitivus_flow.kit.errors import InvalidInput, NotFound


@dataclass(frozen=True, slots=True, kw_only=True)
class Outbound:
    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    step_id: uuid.UUID
    contact_id: uuid.UUID
    agent_id: uuid.UUID | None
    idempotency_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateMessage(Outbound):
    template: str
    language: str
    parameters: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True, kw_only=True)
class TextMessage(Outbound):
    text: str


@runtime_checkable
class CampaignSender(Protocol):
    async def select_segment(
        self, session: AsyncSession, workspace_id: uuid.UUID, *, tags: Sequence[str]
    ) -> Sequence[uuid.UUID]:
        """Ids of the workspace's contacts that carry every tag."""
        ...

    async def send_template(self, session: AsyncSession, message: TemplateMessage) -> str:
        """Send (once per idempotency key) and return the channel's message id."""
        ...

    async def send_text(self, session: AsyncSession, message: TextMessage) -> str:
        """Send a message as the campaign's agent (once per idempotency key)."""
        ...

    async def has_replied(
        self,
        session: AsyncSession,
        workspace_id: uuid.UUID,
        contact_id: uuid.UUID,
        *,
        since: datetime,
    ) -> bool:
        """Whether the contact sent the workspace a message since `since`."""
        ...


class ChannelNotConfigured(PermanentJobError):
    """Retrying cannot help until an operator configures a channel: fail the job at once."""


class SendSkipped(Exception):
    """The step's message is not sent to this contact: their journey ends, recorded as
    skipped with the reason (shown on the campaign page), and the rest of the audience goes
    on. Never retried."""


class ContactUnreachable(SendSkipped):
    """This contact cannot get messages (no phone, opted out, deleted)."""


class NoMarketingConsent(ContactUnreachable):
    """A campaign send is marketing: WhatsApp needs the contact's explicit opt-in, and
    `unknown` is not consent (docs/contacts.md). Checked at send time, so a contact who opts
    out while enrolled gets nothing further."""


class MessageQuotaReached(SendSkipped):
    """The workspace's plan allows no more messages this month; retrying cannot help before
    the next month or an upgrade."""


class ConversationsSender:
    """The built-in channel: WhatsApp through the conversations domain. A send stores the
    outbound message (unique on the idempotency key) in the caller's transaction and queues
    its delivery to the Graph API, so it commits or rolls back with the campaign step."""

    async def select_segment(
        self, session: AsyncSession, workspace_id: uuid.UUID, *, tags: Sequence[str]
    ) -> Sequence[uuid.UUID]:
        found = await contacts.select_segment(session, workspace_id, tags=tags)
        return [contact.id for contact in found]

    async def send_template(self, session: AsyncSession, message: TemplateMessage) -> str:
        await _require_consent(session, message)
        texts = [{"type": "text", "text": value} for value in message.parameters]
        components = [{"type": "body", "parameters": texts}] if texts else []
        with _channel_errors():
            sent = await conversations.send_whatsapp_template(
                session,
                message.workspace_id,
                contact_id=message.contact_id,
                template=message.template,
                language=message.language,
                components=components,
                idempotency_key=message.idempotency_key,
            )
        return str(sent.id)

    async def send_text(self, session: AsyncSession, message: TextMessage) -> str:
        await _require_consent(session, message)
        # The conversation answers as its assigned agent; the campaign's agent is the author.
        with _channel_errors():
            sent = await conversations.send_text(
                session,
                message.workspace_id,
                contact_id=message.contact_id,
                text=message.text,
                idempotency_key=message.idempotency_key,
            )
        return str(sent.id)

    async def has_replied(
        self,
        session: AsyncSession,
        workspace_id: uuid.UUID,
        contact_id: uuid.UUID,
        *,
        since: datetime,
    ) -> bool:
        return await InboundMessageRepository(session, workspace_id).exists_since(contact_id, since)


async def _require_consent(session: AsyncSession, message: Outbound) -> None:
    refusal = await contacts.marketing_consent_refusal(
        session, message.workspace_id, message.contact_id, ConsentChannel.whatsapp
    )
    if refusal is not None:
        raise NoMarketingConsent(refusal)


@contextlib.contextmanager
def _channel_errors() -> Iterator[None]:
    """The conversations service's refusals, as the engine understands them."""
    try:
        yield
    except PlanLimitReached as refused:
        raise MessageQuotaReached(f"monthly message quota: {refused.detail}") from None
    except NotFound:
        raise ContactUnreachable("the contact no longer exists") from None
    except InvalidInput as refused:
        if refused.extra.get("field") == "contact_id":
            raise ContactUnreachable(refused.detail) from None
        raise ChannelNotConfigured(refused.detail) from None


def sender_from_settings(settings: Settings) -> CampaignSender:
    """`FLOW_CAMPAIGN_SENDER` ("module:factory", a callable taking the settings) plugs in a
    connector from outside the package; otherwise the built-in channels."""
    if settings.campaign_sender:
        return _load(settings.campaign_sender, settings)
    return default_sender()


def default_sender() -> CampaignSender:
    return ConversationsSender()


def _load(path: str, settings: Settings) -> CampaignSender:
    module_name, _, attribute = path.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigurationError(f"FLOW_CAMPAIGN_SENDER: cannot load {path!r} ({exc})") from None
    sender = cast(Callable[[Settings], object], factory)(settings)
    if not isinstance(sender, CampaignSender):
        raise ConfigurationError(f"FLOW_CAMPAIGN_SENDER: {path!r} did not build a sender")
    return sender
