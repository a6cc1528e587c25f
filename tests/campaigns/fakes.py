"""Test implementations of the campaigns' outbound edge (`CampaignSender`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.campaigns.automation.senders import TemplateMessage, TextMessage


@dataclass
class InMemorySender:
    """A channel that keeps what it was asked to send. Like a real provider it honours
    idempotency keys: `delivered` holds one message per key, `attempts` every call."""

    segment: list[uuid.UUID] = field(default_factory=list)
    replied: set[uuid.UUID] = field(default_factory=set)
    failures_left: int = 0  # the next N sends fail (a flaky vendor)
    gate: asyncio.Event | None = None  # when set, sends wait for it (a slow vendor)
    attempts: list[TemplateMessage | TextMessage] = field(default_factory=list)
    delivered: dict[str, TemplateMessage | TextMessage] = field(default_factory=dict)
    segment_tags: list[Sequence[str]] = field(default_factory=list)

    async def select_segment(
        self, session: AsyncSession, workspace_id: uuid.UUID, *, tags: Sequence[str]
    ) -> Sequence[uuid.UUID]:
        self.segment_tags.append(list(tags))
        return list(self.segment)

    async def send_template(self, session: AsyncSession, message: TemplateMessage) -> str:
        return await self._send(message)

    async def send_text(self, session: AsyncSession, message: TextMessage) -> str:
        return await self._send(message)

    async def has_replied(
        self,
        session: AsyncSession,
        workspace_id: uuid.UUID,
        contact_id: uuid.UUID,
        *,
        since: datetime,
    ) -> bool:
        return contact_id in self.replied

    async def _send(self, message: TemplateMessage | TextMessage) -> str:
        self.attempts.append(message)
        if self.gate is not None:
            await self.gate.wait()
        if self.failures_left > 0:
            self.failures_left -= 1
            raise ConnectionError("vendor unavailable")
        self.delivered.setdefault(message.idempotency_key, message)
        return f"msg-{message.idempotency_key}"

    def sends_to(self, contact_id: uuid.UUID) -> list[TemplateMessage | TextMessage]:
        return [m for m in self.delivered.values() if m.contact_id == contact_id]
