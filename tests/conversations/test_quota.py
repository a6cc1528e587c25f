"""The plan's monthly message quota on every outbound message: agent replies (web chat and
WhatsApp) and people's replies count; at the quota a person gets a 402 problem and an agent's
reply is not sent, with the reason shown on the contact's message. Both engines."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from intuitivus_flow.billing import service as billing
from intuitivus_flow.billing.plans import PLANS, PlanId
from intuitivus_flow.billing.repository import MessageUsageRepository
from intuitivus_flow.conversations.models import Message
from intuitivus_flow.jobs.models import Job
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.task_registry import worker_for
from tests.conversations.graph_server import RunningGraph, serve_graph
from tests.conversations.support import (
    connect,
    create_agent,
    inbound_body,
    inbox,
    post_webhook,
    run_jobs,
    thread,
)
from tests.helpers import Account, assert_problem, login, me, register
from tests.web.browsing import Web, sign_up, submit, text_of
from tests.web.conftest import browser, web

__all__ = ["browser", "web"]  # the web fixtures, for the inbox page test

ALLOWED = PLANS[PlanId.free].max_monthly_messages
NOT_SENT = "The agent's reply was not sent"


@pytest.fixture
def graph() -> Iterator[RunningGraph]:
    yield from serve_graph()


@pytest.fixture
def settings_overrides(graph: RunningGraph) -> dict[str, Any]:
    return {"whatsapp_graph_url": graph.url}


async def workspace_of(client: httpx.AsyncClient, account: Account) -> uuid.UUID:
    return uuid.UUID((await me(client, account.headers))["workspace"]["id"])


async def use_quota_but(app: Any, workspace_id: uuid.UUID, left: int) -> None:
    """Count messages as sent this month until only `left` remain."""
    async with unit_of_work(app.state.context.sessions) as session:
        used = await MessageUsageRepository(session, workspace_id).used(billing.month_period())
        await billing.use_message_quota(session, workspace_id, count=ALLOWED - used - left)


async def messages_used(client: httpx.AsyncClient, account: Account) -> int:
    usage = (await client.get("/api/billing/usage", headers=account.headers)).json()
    used: int = next(i["used"] for i in usage["limits"] if i["limit"] == "monthly_messages")
    return used


async def webchat(client: httpx.AsyncClient) -> tuple[Account, str]:
    """A workspace with an agent and its web-chat widget key."""
    owner = await register(client)
    return owner, await webchat_of(client, owner)


async def webchat_of(client: httpx.AsyncClient, owner: Account) -> str:
    await create_agent(client, owner)
    settings = await client.get("/api/conversations/settings", headers=owner.headers)
    return str(settings.json()["widget_key"])


async def visit(client: httpx.AsyncClient, key: str, visitor: str, text: str = "Hi") -> None:
    sent = await client.post(
        f"/api/webchat/{key}/messages", json={"visitor": visitor, "text": text, "name": "Vi"}
    )
    assert sent.status_code == 202, sent.text


async def human_reply(
    client: httpx.AsyncClient, account: Account, conversation_id: str, text: str = "Hello"
) -> httpx.Response:
    return await client.post(
        f"/api/conversations/{conversation_id}/messages",
        json={"text": text},
        headers=account.headers,
    )


async def outbound_count(app: Any) -> int:
    async with app.state.context.sessions() as session:
        total = await session.scalar(
            select(func.count()).select_from(Message).where(Message.direction == "out")
        )
    return int(total or 0)


async def reply_jobs(app: Any) -> list[Job]:
    async with app.state.context.sessions() as session:
        found = await session.scalars(select(Job).where(Job.kind == "conversation.reply"))
        return list(found.all())


class TestCounting:
    async def test_agent_and_person_replies_count_inbound_messages_do_not(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner, key = await webchat(client)
        await visit(client, key, "visitor-0001")
        assert await messages_used(client, owner) == 0  # the visitor's message is free
        await run_jobs(app)  # the agent answers on web chat: one message
        conversation = (await inbox(client, owner))["items"][0]
        assert (await human_reply(client, owner, conversation["id"])).status_code == 202
        assert await messages_used(client, owner) == 2
        assert await outbound_count(app) == 2


class TestPeople:
    async def test_a_person_over_the_quota_gets_402_and_nothing_is_sent(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner, key = await webchat(client)
        await visit(client, key, "visitor-0001")
        conversation = (await inbox(client, owner))["items"][0]
        await use_quota_but(app, await workspace_of(client, owner), left=1)
        assert (await human_reply(client, owner, conversation["id"], "last one")).status_code == 202
        refused = await human_reply(client, owner, conversation["id"], "one too many")
        body = assert_problem(refused, 402, "plan-limit")
        assert (body["limit"], body["allowed"], body["used"]) == (
            "monthly_messages",
            ALLOWED,
            ALLOWED,
        )
        texts = [m["text"] for m in await thread(client, owner, conversation["id"])]
        assert texts == ["Hi", "last one"]
        assert await messages_used(client, owner) == ALLOWED

    async def test_parallel_replies_stop_exactly_at_the_quota(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner, key = await webchat(client)
        await visit(client, key, "visitor-0001")
        conversation = (await inbox(client, owner))["items"][0]
        await use_quota_but(app, await workspace_of(client, owner), left=5)
        responses = await asyncio.gather(
            *(human_reply(client, owner, conversation["id"], f"r{i}") for i in range(15))
        )
        codes = sorted(response.status_code for response in responses)
        assert codes == [202] * 5 + [402] * 10
        for response in responses:
            if response.status_code == 402:
                assert_problem(response, 402, "plan-limit")
        assert await outbound_count(app) == 5
        assert await messages_used(client, owner) == ALLOWED


class TestAgents:
    async def test_over_the_quota_the_reply_is_not_sent_and_the_inbox_says_why(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner, key = await webchat(client)
        await use_quota_but(app, await workspace_of(client, owner), left=0)
        await visit(client, key, "visitor-0001", "Opening hours?")
        await run_jobs(app)
        conversation = (await inbox(client, owner))["items"][0]
        [inbound] = await thread(client, owner, conversation["id"])
        assert inbound["text"] == "Opening hours?"
        assert inbound["error"].startswith(NOT_SENT)
        assert "1000 monthly messages" in inbound["error"]
        # The job ends there (no retries), and the visitor never sees the billing reason.
        [job] = await reply_jobs(app)
        assert (job.status, job.attempts, job.result) == (
            "succeeded",
            1,
            {"skipped": "message quota"},
        )
        polled = await client.get(
            f"/api/webchat/{key}/messages", params={"visitor": "visitor-0001"}
        )
        assert [set(m) for m in polled.json()["messages"]] == [
            {"id", "direction", "author", "text", "created_at"}
        ]

    async def test_quota_taken_during_the_completion_is_caught_at_the_send(
        self, client: httpx.AsyncClient, app: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The early look passed, then parallel sends took the last message: the reply is
        refused when it is counted, and marked like any reply over the quota."""
        owner, key = await webchat(client)
        await use_quota_but(app, await workspace_of(client, owner), left=0)

        async def stale_look(*_: object, **__: object) -> None:
            return None

        monkeypatch.setattr(billing, "check_message_quota", stale_look)
        await visit(client, key, "visitor-0001")
        await run_jobs(app)
        conversation = (await inbox(client, owner))["items"][0]
        [inbound] = await thread(client, owner, conversation["id"])
        assert inbound["error"].startswith(NOT_SENT)
        assert [job.status for job in await reply_jobs(app)] == ["succeeded"]
        assert await outbound_count(app) == 0

    async def test_parallel_workers_answer_exactly_what_the_quota_leaves(
        self, client: httpx.AsyncClient, app: Any
    ) -> None:
        owner, key = await webchat(client)
        await use_quota_but(app, await workspace_of(client, owner), left=3)
        for index in range(9):
            await visit(client, key, f"visitor-{index:04d}")
        workers = [worker_for(app.state.context, name=f"w{i}") for i in range(3)]
        await asyncio.gather(*(worker.run_until_idle() for worker in workers))
        assert await outbound_count(app) == 3
        assert await messages_used(client, owner) == ALLOWED
        conversations = (await inbox(client, owner))["items"]
        marked = 0
        for conversation in conversations:
            inbound = (await thread(client, owner, conversation["id"]))[0]
            marked += bool(inbound["error"])
        assert marked == 6
        assert {job.status for job in await reply_jobs(app)} == {"succeeded"}

    async def test_whatsapp_reply_over_the_quota_never_reaches_the_graph_api(
        self, client: httpx.AsyncClient, app: Any, graph: RunningGraph
    ) -> None:
        tenant = await connect(client)
        await use_quota_but(app, await workspace_of(client, tenant.owner), left=1)
        await post_webhook(client, inbound_body(tenant.phone_number_id, text="First"))
        await run_jobs(app)
        await post_webhook(client, inbound_body(tenant.phone_number_id, text="Second"))
        await run_jobs(app)
        assert len(graph.state.bodies("text")) == 1
        conversation = (await inbox(client, tenant.owner))["items"][0]
        messages = await thread(client, tenant.owner, conversation["id"])
        assert [(m["direction"], m["text"][:5], bool(m["error"])) for m in messages] == [
            ("in", "First", False),
            ("out", "[offl", False),
            ("in", "Secon", True),
        ]


async def test_the_pages_show_the_count_and_both_refusals(
    web: Web, browser: httpx.AsyncClient
) -> None:
    """The web pages (SQLite, the web fixtures' own database): the Billing page counts the
    messages sent; at the quota the contact's message says the agent's reply was not sent,
    and a person's reply is refused with the plan's reason."""
    await sign_up(browser)
    async with web.client() as api:
        owner = await login(api, "owner@example.com")
        key = await webchat_of(api, owner)
        await visit(api, key, "visitor-0001", "Hello?")
        await run_jobs(web.app)  # the agent's reply: one message
        conversation_id = (await inbox(api, owner))["items"][0]["id"]
    page_url = f"/inbox/{conversation_id}"
    sent = await submit(browser, page_url, f"{page_url}/reply", {"text": "Hi, I am Olivia"})
    assert sent.status_code == 303
    assert "2 of 1,000" in text_of((await browser.get("/billing")).text)

    async with web.client() as api:
        await use_quota_but(web.app, await workspace_of(api, owner), left=0)
        await visit(api, key, "visitor-0001", "Opening hours?")
        await run_jobs(web.app)
    page = text_of((await browser.get(page_url)).text)
    assert "Opening hours?" in page
    assert NOT_SENT in page
    refused = await submit(browser, page_url, f"{page_url}/reply", {"text": "We open at 9"})
    assert refused.status_code == 402
    assert "The Free plan allows 1000 monthly messages" in text_of(refused.text)
    assert "We open at 9" in refused.text  # kept in the form, not lost
    assert "1,000 of 1,000" in text_of((await browser.get("/billing")).text)
