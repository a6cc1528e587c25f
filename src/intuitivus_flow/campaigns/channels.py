"""What the automation needs from contacts and conversations, behind one small protocol.

The engine selects an audience segment, sends WhatsApp templates or agent messages and asks whether
a contact replied (for branches) only through `CampaignSender`, so the job logic is tested with an
in-memory implementation and runs in production on the conversations channels. Every send
carries an idempotency key (`campaign-step:<step>:<contact>`): a step re-run after a crash
asks the channel for the same message again, and the channel sends it once.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, cast, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.config import ConfigurationError, Settings
from intuitivus_flow.jobs.worker import PermanentJobError


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


class UnconfiguredSender:
    """The sender when no messaging channel is available: every call fails permanently, so
    campaign jobs end as failed with a reason instead of retrying for nothing."""

    message = "channel not configured"

    async def select_segment(
        self, session: AsyncSession, workspace_id: uuid.UUID, *, tags: Sequence[str]
    ) -> Sequence[uuid.UUID]:
        raise ChannelNotConfigured(self.message)

    async def send_template(self, session: AsyncSession, message: TemplateMessage) -> str:
        raise ChannelNotConfigured(self.message)

    async def send_text(self, session: AsyncSession, message: TextMessage) -> str:
        raise ChannelNotConfigured(self.message)

    async def has_replied(
        self,
        session: AsyncSession,
        workspace_id: uuid.UUID,
        contact_id: uuid.UUID,
        *,
        since: datetime,
    ) -> bool:
        raise ChannelNotConfigured(self.message)


def sender_from_settings(settings: Settings) -> CampaignSender:
    """`FLOW_CAMPAIGN_SENDER` ("module:factory", a callable taking the settings) plugs in a
    connector from outside the package; otherwise the built-in channels."""
    if settings.campaign_sender:
        return _load(settings.campaign_sender, settings)
    return default_sender()


def default_sender() -> CampaignSender:
    return UnconfiguredSender()


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
