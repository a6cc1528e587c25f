"""The campaigns' channel during experiments (`FLOW_CAMPAIGN_SENDER=chaos.sender:build`): a
stand-in for WhatsApp that logs every message it accepts to `<data dir>/chaos-channel.jsonl`.

Like the real channel it sends once per idempotency key (a key it already accepted returns the
first message id), so the log shows what a customer would have received: experiment 2 checks
that every contact got every step once, after the worker was killed mid-campaign. Each send
takes `SEND_SECONDS`, so a campaign of a few dozen contacts is still running when the kill
comes. Across processes (the replacement worker) the log itself is the memory of sent keys.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.campaigns.automation.senders import (
    ConversationsSender,
    Outbound,
    TemplateMessage,
    TextMessage,
)
from intuitivus_flow.config import Settings

CHANNEL_LOG = "chaos-channel.jsonl"
SEND_SECONDS = 0.1


class LoggingChannel(ConversationsSender):
    """Segments and replies as the built-in channel (the database); sends to the log."""

    def __init__(self, log: Path) -> None:
        self.log = log

    async def send_template(self, session: AsyncSession, message: TemplateMessage) -> str:
        return await self._send(message)

    async def send_text(self, session: AsyncSession, message: TextMessage) -> str:
        return await self._send(message)

    async def _send(self, message: Outbound) -> str:
        await asyncio.sleep(SEND_SECONDS)  # the network call to the channel
        return await asyncio.to_thread(self._accept, message)

    def _accept(self, message: Outbound) -> str:
        with self.log.open("a+") as log:
            # One writer at a time across processes: the check-then-append is the channel's
            # deduplication and must not interleave with another worker's.
            fcntl.flock(log, fcntl.LOCK_EX)
            log.seek(0)
            for line in log:
                entry = json.loads(line)
                if entry["key"] == message.idempotency_key:
                    return str(entry["message_id"])
            message_id = str(uuid.uuid4())
            entry = {
                "key": message.idempotency_key,
                "message_id": message_id,
                "campaign_id": str(message.campaign_id),
                "step_id": str(message.step_id),
                "contact_id": str(message.contact_id),
            }
            log.write(json.dumps(entry) + "\n")
            log.flush()
            return message_id


def build(settings: Settings) -> LoggingChannel:
    return LoggingChannel(settings.data_dir / CHANNEL_LOG)


def read_log(data_dir: Path) -> list[dict[str, str]]:
    path = data_dir / CHANNEL_LOG
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
