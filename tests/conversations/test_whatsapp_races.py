"""Concurrent WhatsApp deliveries on both engines: Meta sends in parallel and retries whatever
is not a 2xx, so a valid delivery must never lose a race with a 409.

Each test fires ten requests at once (`asyncio.gather` over the in-process app: ten sessions,
ten database connections, interleaving at every database call) and then counts the rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from intuitivus_flow.contacts.models import Contact
from intuitivus_flow.conversations.models import Conversation, Message
from tests.conversations.graph_server import RunningGraph, serve_graph
from tests.conversations.support import connect, inbound_body, post_webhook
from tests.helpers import register

PARALLEL = 10


@pytest.fixture(scope="module")
def graph() -> Iterator[RunningGraph]:
    yield from serve_graph()


@pytest.fixture
def settings_overrides(graph: RunningGraph) -> dict[str, Any]:
    return {"whatsapp_graph_url": graph.url}


async def rows(app: Any, model: Any) -> int:
    async with app.state.context.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_first_messages_of_a_new_sender_in_parallel(
    client: httpx.AsyncClient, app: Any
) -> None:
    """Ten different messages from a sender nobody knows yet: one contact, one conversation,
    every message stored once, and Meta gets a 200 for each."""
    tenant = await connect(client)
    bodies = [inbound_body(tenant.phone_number_id, text=f"m{i}") for i in range(PARALLEL)]
    responses = await asyncio.gather(*(post_webhook(client, body) for body in bodies))
    assert [response.status_code for response in responses] == [200] * PARALLEL, [
        response.text for response in responses if response.status_code != 200
    ]
    assert sum(response.json()["received"] for response in responses) == PARALLEL
    assert (await rows(app, Contact), await rows(app, Conversation)) == (1, 1)
    assert await rows(app, Message) == PARALLEL


async def test_one_delivery_sent_ten_times_at_once(client: httpx.AsyncClient, app: Any) -> None:
    """Meta's retries of one message overlapping: stored once, the others are duplicates."""
    tenant = await connect(client)
    body = inbound_body(tenant.phone_number_id, wamid="wamid.HBgLNTUxMTk4NzY1NDMyMRUCABIYFA==")
    responses = await asyncio.gather(*(post_webhook(client, body) for _ in range(PARALLEL)))
    assert [response.status_code for response in responses] == [200] * PARALLEL, [
        response.text for response in responses if response.status_code != 200
    ]
    outcomes = sorted((r.json()["received"], r.json()["duplicates"]) for r in responses)
    assert outcomes == [(0, 1)] * (PARALLEL - 1) + [(1, 0)]
    assert (await rows(app, Contact), await rows(app, Conversation)) == (1, 1)
    assert await rows(app, Message) == 1


async def test_a_known_contact_without_a_live_conversation(
    client: httpx.AsyncClient, app: Any
) -> None:
    """The contact exists (its last conversation was closed): parallel messages start exactly
    one new conversation."""
    tenant = await connect(client)
    first = await post_webhook(client, inbound_body(tenant.phone_number_id, text="hello"))
    assert first.status_code == 200
    listed = await client.get("/api/conversations", headers=tenant.owner.headers)
    closed = await client.post(
        f"/api/conversations/{listed.json()['items'][0]['id']}/close",
        headers=tenant.owner.headers,
    )
    assert closed.status_code == 200
    bodies = [inbound_body(tenant.phone_number_id, text=f"again {i}") for i in range(PARALLEL)]
    responses = await asyncio.gather(*(post_webhook(client, body) for body in bodies))
    assert [response.status_code for response in responses] == [200] * PARALLEL
    async with app.state.context.sessions() as session:
        states = (await session.scalars(select(Conversation.state))).all()
    assert sorted(states) == ["closed", "open"]
    assert await rows(app, Contact) == 1


async def test_first_messages_of_a_new_web_chat_visitor_in_parallel(
    client: httpx.AsyncClient, app: Any
) -> None:
    """The same on the web-chat widget (a double submit, several tabs): one visitor contact,
    one conversation, every message."""
    owner = await register(client)
    settings = await client.get("/api/conversations/settings", headers=owner.headers)
    key = settings.json()["widget_key"]
    responses = await asyncio.gather(
        *(
            client.post(
                f"/api/webchat/{key}/messages",
                json={"visitor": "visitor-race-01", "text": f"m{i}", "name": "Vi"},
            )
            for i in range(PARALLEL)
        )
    )
    assert [response.status_code for response in responses] == [202] * PARALLEL
    assert (await rows(app, Contact), await rows(app, Conversation)) == (1, 1)
    assert await rows(app, Message) == PARALLEL
