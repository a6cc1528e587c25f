"""The live inbox's event stream (issue 17): a change committed anywhere reaches the streams
of its workspace and no other, through Redis across app instances (as across workers); the
stream is bounded (per-member cap, heartbeat, cleanup on disconnect)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from intuitivus_flow.app import create_app
from intuitivus_flow.config import Settings
from intuitivus_flow.contacts import service as contacts
from intuitivus_flow.conversations import service as conversations
from intuitivus_flow.conversations.models import Channel
from intuitivus_flow.kit.db import unit_of_work
from intuitivus_flow.users.models import User
from tests.conftest import Database, empty_tables
from tests.web.browsing import Web, sign_up
from tests.web.sse import EventStream


async def _workspace_of(app: FastAPI, email: str) -> uuid.UUID:
    async with unit_of_work(app.state.context.sessions) as session:
        user = (await session.execute(select(User).where(User.email == email))).scalar_one()
        return user.workspace_id


async def _message_arrives(app: FastAPI, workspace_id: uuid.UUID, text: str) -> str:
    """A contact's web-chat message stored and committed through this app's unit of work."""
    async with unit_of_work(app.state.context.sessions) as session:
        contact, _ = await contacts.find_or_create_by_phone(
            session, workspace_id, phone="+5511987654321", name="Maria"
        )
        conversation = await conversations.continue_or_start(
            session, workspace_id, contact=contact, channel=Channel.webchat, visitor_id="v-123456"
        )
        await conversations.receive(session, conversation, text=text)
        return str(conversation.id)


async def _signed_in(web: Web, email: str, workspace: str) -> httpx.AsyncClient:
    browser = web.client()
    response = await sign_up(browser, email=email, workspace=workspace)
    assert response.status_code == 303, response.text
    return browser


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The embedded default: SQLite, no Redis, changes fan out in the process."""
    app = create_app(
        Settings(
            env="test",
            data_dir=tmp_path,
            database_url=f"sqlite+aiosqlite:///{tmp_path}/t.db",
            seed_demo=False,
        )
    )
    from intuitivus_flow.kit import migrations

    await migrations.upgrade(app.state.context.engine)
    app.state.context.live.heartbeat_seconds = 0.2
    yield app
    await app.state.context.close()


async def test_changes_reach_their_workspace_only_and_streams_clean_up(
    embedded: FastAPI,
) -> None:
    web = Web(embedded)
    acme = await _signed_in(web, "ana@acme.example", "Acme")
    other = await _signed_in(web, "bo@other.example", "Other")
    acme_id = await _workspace_of(embedded, "ana@acme.example")
    other_id = await _workspace_of(embedded, "bo@other.example")
    hub = embedded.state.context.live
    async with (
        EventStream(embedded, "/inbox/events", acme.cookies) as mine,
        EventStream(embedded, "/inbox/events", other.cookies) as theirs,
    ):
        assert (mine.status, mine.headers["content-type"]) == (
            200,
            "text/event-stream; charset=utf-8",
        )
        assert hub.stream_count == 2
        conversation_id = await _message_arrives(embedded, acme_id, "Hello?")
        first = await mine.next_event()
        assert first.data == {"conversation": conversation_id, "kind": first.name}
        assert first.name in {"message", "conversation"}
        # The other workspace's member gets heartbeats, never Acme's event.
        assert "event:" not in await theirs.text_until_heartbeat()
        await _message_arrives(embedded, other_id, "Their own")
        assert (await theirs.next_event()).data["conversation"] != conversation_id
    # Both browsers left: no stream, no slot, no queue is kept.
    assert hub.stream_count == 0
    assert not hub._local_slots
    for browser in (acme, other):
        await browser.aclose()


async def test_a_member_gets_a_limited_number_of_streams(embedded: FastAPI) -> None:
    web = Web(embedded)
    browser = await _signed_in(web, "ana@acme.example", "Acme")
    embedded.state.context.live.max_streams_per_member = 2
    async with (
        EventStream(embedded, "/inbox/events", browser.cookies) as one,
        EventStream(embedded, "/inbox/events", browser.cookies) as two,
    ):
        assert (one.status, two.status) == (200, 200)
        async with EventStream(embedded, "/inbox/events", browser.cookies) as three:
            assert three.status == 429
            assert b"At most 2 live inbox streams" in three.body
    async with EventStream(embedded, "/inbox/events", browser.cookies) as again:
        assert again.status == 200  # the slots were freed when the streams closed
    await browser.aclose()


async def test_signed_out_visitors_get_no_stream(embedded: FastAPI) -> None:
    async with EventStream(embedded, "/inbox/events", httpx.Cookies()) as stream:
        assert stream.status in {303, 401}
    assert embedded.state.context.live.stream_count == 0


@pytest.fixture
async def two_workers(
    database: Database, data_root: Path, redis_url: str
) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    """Two app instances over one database and one Redis, as two web workers are."""
    apps = []
    for _ in range(2):
        settings: dict[str, Any] = {
            "env": "test",
            "data_dir": data_root,
            "database_url": database.url,
            "redis_url": redis_url,
            "seed_demo": False,
        }
        app = create_app(Settings(**settings))
        app.state.context.live.heartbeat_seconds = 0.2
        apps.append(app)
    yield apps[0], apps[1]
    for app in apps:
        await app.state.context.close()
    await empty_tables(database.engine)


async def test_a_message_on_one_worker_reaches_a_stream_on_another(
    two_workers: tuple[FastAPI, FastAPI],
) -> None:
    serving, receiving = two_workers
    web = Web(serving)
    acme = await _signed_in(web, "ana@acme.example", "Acme")
    other = await _signed_in(web, "bo@other.example", "Other")
    acme_id = await _workspace_of(serving, "ana@acme.example")
    async with (
        EventStream(serving, "/inbox/events", acme.cookies) as mine,
        EventStream(serving, "/inbox/events", other.cookies) as theirs,
    ):
        conversation_id = await _message_arrives(receiving, acme_id, "From the other worker")
        seen = {(await mine.next_event()).name, (await mine.next_event()).name}
        assert seen == {"message", "conversation"}
        assert "event:" not in await theirs.text_until_heartbeat()
        assert receiving.state.context.live.stream_count == 0  # it only published
        assert conversation_id
    assert serving.state.context.live.stream_count == 0
    for browser in (acme, other):
        await browser.aclose()


async def test_the_member_cap_holds_across_workers(
    two_workers: tuple[FastAPI, FastAPI],
) -> None:
    first, second = two_workers
    browser = await _signed_in(Web(first), "ana@acme.example", "Acme")
    for app in two_workers:
        app.state.context.live.max_streams_per_member = 2
    opened = [
        EventStream(app, "/inbox/events", browser.cookies) for app in (first, second, first, second)
    ]
    results = await asyncio.gather(*(stream.__aenter__() for stream in opened))
    assert sorted(stream.status for stream in results) == [200, 200, 429, 429]
    for stream in opened:
        await stream.__aexit__(None, None, None)
    await browser.aclose()
