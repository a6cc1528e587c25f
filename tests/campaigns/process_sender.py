"""A `CampaignSender` for a real worker process (`FLOW_CAMPAIGN_SENDER=...:build`).

It plays the provider from files in `FLOW_TEST_CAMPAIGN_DIR`: `segment.json` lists the contact
ids; every call is appended to `attempts.jsonl`; a message is written to `delivered.jsonl` only
for an idempotency key not seen before (as a provider honouring idempotency keys does). With
`FLOW_TEST_SEND_BLOCK_SECONDS` set, each send blocks that long after logging its attempt, so a
test can kill the process in the middle of a step.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from intuitivus_flow.campaigns.automation.senders import TemplateMessage, TextMessage
from intuitivus_flow.config import Settings


class ProcessSender:
    def __init__(self, directory: Path, block_seconds: float) -> None:
        self.directory = directory
        self.block_seconds = block_seconds

    async def select_segment(
        self, session: AsyncSession, workspace_id: uuid.UUID, *, tags: Sequence[str]
    ) -> Sequence[uuid.UUID]:
        ids = json.loads((self.directory / "segment.json").read_text())
        return [uuid.UUID(value) for value in ids]

    async def send_template(self, session: AsyncSession, message: TemplateMessage) -> str:
        return await self._send(message.idempotency_key, str(message.contact_id))

    async def send_text(self, session: AsyncSession, message: TextMessage) -> str:
        return await self._send(message.idempotency_key, str(message.contact_id))

    async def has_replied(
        self,
        session: AsyncSession,
        workspace_id: uuid.UUID,
        contact_id: uuid.UUID,
        *,
        since: datetime,
    ) -> bool:
        return False

    async def _send(self, key: str, contact: str) -> str:
        record = {"key": key, "contact": contact, "pid": os.getpid()}
        with (self.directory / "attempts.jsonl").open("a") as attempts:
            attempts.write(json.dumps(record) + "\n")
        if self.block_seconds:
            await asyncio.sleep(self.block_seconds)
        with (self.directory / "delivered.jsonl").open("a+") as delivered:
            fcntl.flock(delivered, fcntl.LOCK_EX)  # two processes may deliver at once
            delivered.seek(0)
            keys = {json.loads(line)["key"] for line in delivered if line.strip()}
            if key not in keys:
                delivered.write(json.dumps(record) + "\n")
        return f"msg-{key}"


def build(settings: Settings) -> ProcessSender:
    return ProcessSender(
        Path(os.environ["FLOW_TEST_CAMPAIGN_DIR"]),
        float(os.environ.get("FLOW_TEST_SEND_BLOCK_SECONDS", "0")),
    )
