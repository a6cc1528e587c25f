"""Campaign automation over the real contacts and conversations domains: the segment comes
from contact tags, sends become outbound WhatsApp messages (once per step and contact), and
branches on "reply" read the contact's inbound messages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from intuitivus_flow.campaigns import tasks
from intuitivus_flow.campaigns.automation.senders import ConversationsSender
from intuitivus_flow.campaigns.automation.service import QUEUE
from intuitivus_flow.campaigns.models import CampaignStepDelivery
from intuitivus_flow.conversations.models import Conversation, Message
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.jobs.registry import TaskRegistry
from intuitivus_flow.jobs.worker import Worker
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.task_registry import worker_for
from tests.campaigns.test_automation import (
    FAST_RETRY,
    TEMPLATE,
    automated_campaign,
    campaign_jobs,
    drain,
    fast_forward,
    run,
    sessions_of,
)
from tests.conversations.graph_server import RunningGraph, serve_graph
from tests.helpers import Account, register


@pytest.fixture(scope="module")
def graph() -> Iterator[RunningGraph]:
    """Meta's Graph API (fake): connecting a number asks it whether the token owns it."""
    yield from serve_graph()


@pytest.fixture
def settings_overrides(graph: RunningGraph) -> dict[str, Any]:
    return {"whatsapp_graph_url": graph.url}


def real_workers(app: Any) -> list[Worker]:
    registry = TaskRegistry.of(tasks.declare(ConversationsSender()))
    return [
        worker_for(app.state.context, tasks=registry, queues=[QUEUE], retry=FAST_RETRY, name="e2e")
    ]


async def add_contact(
    client: httpx.AsyncClient, owner: Account, phone: str | None, **fields: Any
) -> str:
    # Campaign sends are marketing: only contacts who opted in get them (docs/contacts.md).
    body = {
        "name": phone or "no phone",
        "phone": phone,
        "tags": ["vip"],
        "opt_in": "opted_in",
        **fields,
    }
    response = await client.post("/api/contacts", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def connect_number(client: httpx.AsyncClient, owner: Account) -> None:
    response = await client.post(
        "/api/channels/whatsapp/numbers",
        json={
            "phone_number_id": "1234567890",
            "display_number": "+1 555 0100",
            "access_token": "EAAG-test-token",
            "verify_token": "verify-me-please",
            "app_secret": "app-secret-value",
        },
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text


async def campaign_messages(app: Any) -> list[Message]:
    async with sessions_of(app)() as session:
        statement = select(Message).where(Message.idempotency_key.like("campaign-step:%"))
        return list((await session.scalars(statement)).all())


async def test_journey_over_contacts_and_whatsapp(client: httpx.AsyncClient, app: Any) -> None:
    owner = await register(client)
    await connect_number(client, owner)
    reachable = [await add_contact(client, owner, f"+551199999000{i}") for i in range(3)]
    await add_contact(client, owner, "+5511999990009", opt_in="opted_out")  # not selected
    phoneless = await add_contact(client, owner, None)
    await add_contact(client, owner, "+5511999990010", tags=["other"])  # not in the segment
    cid = await automated_campaign(
        client,
        owner,
        [
            TEMPLATE,
            {"kind": "wait", "seconds": 60},
            {"kind": "branch", "on": "reply", "if_true": 4},
            {"kind": "send_message", "text": "Thanks for replying!"},
        ],
    )
    await run(client, owner, cid)
    pool = real_workers(app)
    await drain(app, pool)
    sent = await campaign_messages(app)
    assert len(sent) == 3
    assert {message.payload["name"] for message in sent} == {"spring_offer"}
    assert sent[0].payload["components"][0]["parameters"] == [{"type": "text", "text": "20%"}]
    async with sessions_of(app)() as session:
        skipped = await session.scalar(
            select(CampaignStepDelivery).where(CampaignStepDelivery.status == "skipped")
        )
        assert skipped is not None
        assert str(skipped.contact_id) == phoneless
        assert skipped.detail == {"reason": "The contact has no phone number"}
        deliver_jobs = await session.scalar(
            select(func.count()).select_from(Job).where(Job.kind == "conversation.deliver")
        )
        assert deliver_jobs == 3  # the channel's own outbox, one per message
    async with unit_of_work(sessions_of(app)) as session:  # the first contact answers
        conversation = await session.get(Conversation, sent[0].conversation_id)
        assert conversation is not None
        replier = str(conversation.contact_id)
        session.add(
            Message(
                workspace_id=conversation.workspace_id,
                conversation_id=conversation.id,
                direction="in",
                author="contact",
                text="Yes please",
                status="received",
            )
        )
    await fast_forward(app)
    await drain(app, pool)
    texts = [m for m in await campaign_messages(app) if m.text == "Thanks for replying!"]
    assert len(texts) == 1
    async with sessions_of(app)() as session:
        text_conversation = await session.get(Conversation, texts[0].conversation_id)
    assert text_conversation is not None
    assert str(text_conversation.contact_id) == replier
    assert replier in reachable
    await run(client, owner, cid)  # enrolling again sends nothing new
    await drain(app, pool)
    assert len(await campaign_messages(app)) == 4


async def test_without_a_whatsapp_number_the_channel_is_not_configured(
    client: httpx.AsyncClient, app: Any
) -> None:
    owner = await register(client)
    await add_contact(client, owner, "+5511999990001")
    cid = await automated_campaign(client, owner, [TEMPLATE])
    await run(client, owner, cid)
    await drain(app, real_workers(app))
    failed = [job for job in await campaign_jobs(app) if job.status == "failed"]
    assert len(failed) == 1
    assert failed[0].last_error == (
        "ChannelNotConfigured: No WhatsApp number is connected to this workspace"
    )
    assert failed[0].attempts == 1  # permanent: no retries
    status = await client.get("/api/campaigns/automation/status", headers=owner.headers)
    assert status.json()["failed"] == 1
